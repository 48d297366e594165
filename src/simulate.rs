//! Planted-grammar simulator: sequences with known motif sites, known single-motif
//! effects, cooperative pairs (effect only when both sites sit in a spacing window and
//! orientation), decoy pairs (planted together, no interaction) and long-range pairs.
//!
//! Every later claim about heads and interactions is checked against this ground
//! truth. Each sequence draws from its own ChaCha8 stream (seed, index), so the
//! output is the same bytes whatever the number of threads.

use std::{collections::HashMap, io::Write, path::Path};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::io::output::write_file;
use crate::motif::Motif;
pub use crate::seq::Orientation;
use crate::{Error, Result};

/// The default grammar shipped in `data/grammar.toml`.
pub const DEFAULT_GRAMMAR: &str = include_str!("../data/grammar.toml");

/// The default motif set (`data/motifs/sim_motifs.meme`: 12 distinct JASPAR motifs).
pub const DEFAULT_MOTIFS: &str = include_str!("../data/motifs/sim_motifs.meme");

/// Parses [`DEFAULT_MOTIFS`].
pub fn default_motifs() -> Result<Vec<Motif>> {
    Ok(crate::motif::parse_str(DEFAULT_MOTIFS, "data/motifs/sim_motifs.meme", None)?.motifs)
}

/// A planted regulatory grammar (TOML; see `data/grammar.toml` for a documented example).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grammar {
    /// Names of the activity outputs ("cell types"); effects may be given per output.
    #[serde(default = "default_outputs")]
    pub outputs: Vec<String>,
    /// Sequence length in bp.
    #[serde(default = "default_length")]
    pub length: usize,
    /// GC fraction of the i.i.d. background (ignored with a learnt Markov background).
    #[serde(default = "default_gc")]
    pub gc: f64,
    /// Standard deviation of the Gaussian noise added to the noise-free activity.
    #[serde(default)]
    pub noise_sd: f64,
    /// When set, labels are 1 for the sequences whose observed activity ranks above this
    /// quantile (ties broken by sequence order), else 0.
    #[serde(default)]
    pub binary_quantile: Option<f64>,
    /// Single-motif additive effects.
    #[serde(default)]
    pub single: Vec<Single>,
    /// Pairs: cooperative, long-range or decoy.
    #[serde(default)]
    pub pair: Vec<Pair>,
}

fn default_outputs() -> Vec<String> {
    vec!["activity".into()]
}
fn default_length() -> usize {
    200
}
fn default_gc() -> f64 {
    0.5
}

/// A motif planted alone at `rate`, adding `effect` when present.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Single {
    pub motif: String,
    pub rate: f64,
    #[serde(default)]
    pub effect: Effect,
}

/// What a pair does to activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Adds its effect only when both sites are in the window and orientation.
    Cooperative,
    /// A cooperative pair whose window lies far apart (> 100 bp).
    LongRange,
    /// Planted together but with no interaction effect.
    Decoy,
}

impl PairKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PairKind::Cooperative => "cooperative",
            PairKind::LongRange => "long_range",
            PairKind::Decoy => "decoy",
        }
    }

    /// Whether the pair carries an interaction effect.
    pub fn interacts(self) -> bool {
        self != PairKind::Decoy
    }
}

/// A pair of motifs planted together at `rate`, `min_gap..=max_gap` bp apart.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub kind: PairKind,
    pub a: String,
    pub b: String,
    pub rate: f64,
    pub min_gap: usize,
    pub max_gap: usize,
    #[serde(default = "any_orientation")]
    pub orientation: Orientation,
    /// Interaction effect (must be absent or zero for decoys).
    #[serde(default)]
    pub effect: Effect,
    /// Rate at which the two motifs are also planted together *outside* the window
    /// (same orientation rule, any other gap the length allows), where they add no
    /// pair effect. Without it the data rarely show both partners at a wrong
    /// distance, so a model can learn co-occurrence and never spacing.
    #[serde(default)]
    pub off_window_rate: f64,
}

fn any_orientation() -> Orientation {
    Orientation::Any
}

/// An effect size: one number for every output, or one per output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Effect {
    All(f64),
    PerOutput(Vec<f64>),
}

impl Default for Effect {
    fn default() -> Self {
        Effect::All(0.0)
    }
}

impl Effect {
    fn for_output(&self, o: usize) -> f64 {
        match self {
            Effect::All(x) => *x,
            Effect::PerOutput(v) => v[o],
        }
    }

    fn is_zero(&self) -> bool {
        match self {
            Effect::All(x) => *x == 0.0,
            Effect::PerOutput(v) => v.iter().all(|x| *x == 0.0),
        }
    }
}

impl Grammar {
    /// Parses a grammar from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let g: Grammar = toml::from_str(text).map_err(|e| Error::toml(origin, text, &e))?;
        g.check(origin)?;
        Ok(g)
    }

    fn check(&self, origin: &str) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(format!("{origin}: {msg}")));
        if self.outputs.is_empty() {
            return bad("grammar needs at least one output".into());
        }
        if !(0.0..=1.0).contains(&self.gc) {
            return bad(format!("gc must be in [0, 1], got {}", self.gc));
        }
        if !(self.noise_sd >= 0.0 && self.noise_sd.is_finite()) {
            return bad(format!("noise_sd must be >= 0, got {}", self.noise_sd));
        }
        if let Some(q) = self.binary_quantile
            && !(q > 0.0 && q < 1.0)
        {
            return bad(format!("binary_quantile must be in (0, 1), got {q}"));
        }
        let check_effect = |e: &Effect, what: &str| -> Result<()> {
            match e {
                Effect::PerOutput(v) if v.len() != self.outputs.len() => bad(format!(
                    "{what}: {} effects given for {} outputs",
                    v.len(),
                    self.outputs.len()
                )),
                _ => Ok(()),
            }
        };
        for s in &self.single {
            if !(0.0..=1.0).contains(&s.rate) {
                return bad(format!("single {}: rate must be in [0, 1]", s.motif));
            }
            check_effect(&s.effect, &format!("single {}", s.motif))?;
        }
        for p in &self.pair {
            let what = format!("{} pair {}-{}", p.kind.as_str(), p.a, p.b);
            if !(0.0..=1.0).contains(&p.rate) {
                return bad(format!("{what}: rate must be in [0, 1]"));
            }
            if !(0.0..=1.0).contains(&p.off_window_rate) {
                return bad(format!("{what}: off_window_rate must be in [0, 1]"));
            }
            if p.min_gap > p.max_gap {
                return bad(format!("{what}: min_gap > max_gap"));
            }
            if p.kind == PairKind::Decoy && !p.effect.is_zero() {
                return bad(format!("{what}: a decoy pair cannot have an effect"));
            }
            check_effect(&p.effect, &what)?;
        }
        Ok(())
    }
}

impl Default for Grammar {
    fn default() -> Self {
        Grammar::from_toml(DEFAULT_GRAMMAR, "data/grammar.toml")
            .expect("the embedded default grammar is valid")
    }
}

impl Grammar {
    /// The same grammar with every interaction set to zero: the same motifs, pairs,
    /// spacings, rates and single effects, each pair planted as a decoy. Data from it
    /// hold no interaction at all, so every pair an analysis calls on it is a false call.
    pub fn without_interactions(mut self) -> Grammar {
        for p in &mut self.pair {
            p.kind = PairKind::Decoy;
            p.effect = Effect::All(0.0);
        }
        self
    }

    /// A built-in grammar by name: `default` (data/grammar.toml) or `null` (the default
    /// without interactions, see [`without_interactions`](Self::without_interactions)).
    pub fn builtin(name: &str) -> Option<Grammar> {
        match name {
            "default" => Some(Grammar::default()),
            "null" => Some(Grammar::default().without_interactions()),
            _ => None,
        }
    }
}

/// Background sequence model.
#[derive(Clone, Debug)]
pub enum Background {
    /// Independent bases at a GC fraction.
    Iid { gc: f64 },
    /// A Markov chain of order k learnt from real sequence.
    Markov(MarkovChain),
}

/// An order-k Markov chain over ACGT, with cumulative tables for fast sampling.
#[derive(Clone, Debug)]
pub struct MarkovChain {
    order: usize,
    /// Cumulative distribution over the 4^k starting k-mers.
    start: Vec<f64>,
    /// For each k-mer context, the cumulative distribution of the next base.
    next: Vec<[f64; 4]>,
}

impl MarkovChain {
    /// Learns transition counts (+1 pseudocount) from sequences; non-ACGT bases reset the context.
    pub fn learn<'a>(seqs: impl IntoIterator<Item = &'a [u8]>, order: usize) -> Result<Self> {
        if order > 8 {
            return Err(Error::Invalid(format!(
                "Markov order must be at most 8, got {order}"
            )));
        }
        let n_ctx = 1usize << (2 * order);
        let mask = n_ctx - 1;
        let mut counts = vec![[1.0f64; 4]; n_ctx];
        let mut start = vec![1.0f64; n_ctx];
        let mut total = 0u64;
        for seq in seqs {
            let (mut ctx, mut valid) = (0usize, 0usize);
            for &b in seq {
                let Some(c) = crate::seq::base_index(b) else {
                    valid = 0;
                    ctx = 0;
                    continue;
                };
                if valid >= order {
                    counts[ctx][c] += 1.0;
                    total += 1;
                }
                ctx = if order == 0 {
                    0
                } else {
                    ((ctx << 2) | c) & mask
                };
                valid += 1;
                if valid >= order {
                    start[ctx] += 1.0;
                }
            }
        }
        if total == 0 {
            return Err(Error::Invalid(
                "no ACGT sequence to learn a background from".into(),
            ));
        }
        Ok(Self {
            order,
            start: cumulative(&start),
            next: counts
                .iter()
                .map(|row| {
                    let c = cumulative(row);
                    [c[0], c[1], c[2], c[3]]
                })
                .collect(),
        })
    }

    fn sample(&self, rng: &mut ChaCha8Rng, len: usize, out: &mut Vec<u8>) {
        let mask = (1usize << (2 * self.order)) - 1;
        let mut ctx = pick(&self.start, rng.random::<f64>());
        for i in (0..self.order.min(len)).rev() {
            out.push(b"ACGT"[(ctx >> (2 * i)) & 3]);
        }
        while out.len() < len {
            let c = pick(&self.next[ctx], rng.random::<f64>());
            out.push(b"ACGT"[c]);
            ctx = if self.order == 0 {
                0
            } else {
                ((ctx << 2) | c) & mask
            };
        }
    }
}

fn cumulative(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    w.iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect()
}

/// Index of the first cumulative weight above `u` (the last one on rounding).
fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

impl Background {
    fn sample(&self, rng: &mut ChaCha8Rng, len: usize, out: &mut Vec<u8>) {
        match self {
            Background::Iid { gc } => out.extend((0..len).map(|_| {
                let u = rng.random::<f64>();
                if u < gc / 2.0 {
                    b'G'
                } else if u < *gc {
                    b'C'
                } else if u < gc + (1.0 - gc) / 2.0 {
                    b'A'
                } else {
                    b'T'
                }
            })),
            Background::Markov(m) => m.sample(rng, len, out),
        }
    }
}

/// One planted motif instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlantedSite {
    /// Index into the motif list given to [`Simulator::new`].
    pub motif: usize,
    /// 0-based start in the sequence.
    pub start: usize,
    /// 0-based exclusive end.
    pub end: usize,
    /// `true` for the motif's own orientation, `false` for its reverse complement.
    pub plus: bool,
    /// Which grammar element planted it: `None` for a single, `Some(i)` for pair `i`.
    pub pair: Option<usize>,
    /// Planted by pair `pair`'s off-window draw (`off_window_rate`).
    pub off_window: bool,
}

/// One simulated sequence with its ground truth.
#[derive(Clone, Debug)]
pub struct SimSequence {
    pub id: String,
    pub seq: Vec<u8>,
    pub sites: Vec<PlantedSite>,
    /// Noise-free activity per output.
    pub noise_free: Vec<f64>,
    /// Observed activity per output (noise added; 0/1 with `binary_quantile`).
    pub observed: Vec<f64>,
}

/// Decides whether a sampled motif instance is strong enough to plant (in the
/// motif's own orientation). The CLI passes the scanner's p-value test, so every
/// planted site is a hit.
pub type SiteFilter<'a> = dyn Fn(usize, &[u8]) -> bool + Sync + 'a;

/// Resolved grammar, ready to generate sequences.
pub struct Simulator<'a> {
    grammar: Grammar,
    motifs: &'a [Motif],
    background: Background,
    /// Motif index of each single.
    singles: Vec<usize>,
    /// Motif indices (a, b) of each pair.
    pairs: Vec<(usize, usize)>,
    filter: &'a SiteFilter<'a>,
}

/// How many times a placement or an instance draw is retried before giving up on it.
const MAX_TRIES: usize = 200;

impl<'a> Simulator<'a> {
    /// Resolves motif names in `grammar` against `motifs` (by ID or name).
    pub fn new(
        grammar: Grammar,
        motifs: &'a [Motif],
        background: Background,
        filter: &'a SiteFilter<'a>,
    ) -> Result<Self> {
        let find = |key: &str| -> Result<usize> {
            motifs
                .iter()
                .position(|m| m.id == key)
                .or_else(|| motifs.iter().position(|m| m.name == key))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "grammar names motif '{key}', which is not in the motif file"
                    ))
                })
        };
        let singles = grammar
            .single
            .iter()
            .map(|s| find(&s.motif))
            .collect::<Result<Vec<_>>>()?;
        let pairs = grammar
            .pair
            .iter()
            .map(|p| Ok((find(&p.a)?, find(&p.b)?)))
            .collect::<Result<Vec<_>>>()?;
        for (p, &(a, b)) in grammar.pair.iter().zip(&pairs) {
            let span = motifs[a].width() + motifs[b].width() + p.min_gap;
            if span > grammar.length {
                return Err(Error::Invalid(format!(
                    "pair {}-{} needs at least {span} bp but sequences are {} bp",
                    p.a, p.b, grammar.length
                )));
            }
        }
        for &m in singles.iter().chain(pairs.iter().flat_map(|(a, b)| [a, b])) {
            if motifs[m].width() > grammar.length {
                return Err(Error::Invalid(format!(
                    "motif {} ({} bp) is longer than the sequences ({} bp)",
                    motifs[m].id,
                    motifs[m].width(),
                    grammar.length
                )));
            }
        }
        Ok(Self {
            grammar,
            motifs,
            background,
            singles,
            pairs,
            filter,
        })
    }

    pub fn grammar(&self) -> &Grammar {
        &self.grammar
    }

    /// Motif indices of pair `i` of the grammar.
    pub fn pair_motifs(&self, i: usize) -> (usize, usize) {
        self.pairs[i]
    }

    /// Motif index of single `i` of the grammar.
    pub fn single_motif(&self, i: usize) -> usize {
        self.singles[i]
    }

    /// Generates `n` sequences from `seed` (in parallel; identical whatever the thread count).
    pub fn generate(&self, n: usize, seed: u64) -> Result<Vec<SimSequence>> {
        let width = n.max(1).to_string().len().max(6);
        let mut seqs = (0..n)
            .into_par_iter()
            .map(|i| self.one(i, seed, width))
            .collect::<Result<Vec<_>>>()?;
        if let Some(q) = self.grammar.binary_quantile {
            // By rank, not by value: without noise many activities tie, and a value
            // threshold would then label (almost) everything 1. Ties go by index.
            let positives = ((1.0 - q) * seqs.len() as f64).round() as usize;
            for o in 0..self.grammar.outputs.len() {
                let mut order: Vec<usize> = (0..seqs.len()).collect();
                order.sort_by(|&a, &b| {
                    seqs[b].observed[o]
                        .total_cmp(&seqs[a].observed[o])
                        .then(a.cmp(&b))
                });
                for (rank, &i) in order.iter().enumerate() {
                    seqs[i].observed[o] = if rank < positives { 1.0 } else { 0.0 };
                }
            }
        }
        Ok(seqs)
    }

    fn one(&self, i: usize, seed: u64, width: usize) -> Result<SimSequence> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(i as u64);
        let len = self.grammar.length;
        let mut seq = Vec::with_capacity(len);
        self.background.sample(&mut rng, len, &mut seq);
        let mut sites: Vec<PlantedSite> = Vec::new();

        for (pi, p) in self.grammar.pair.iter().enumerate() {
            // The off-window draw is only made when asked for, so grammars without it
            // keep their bytes.
            if rng.random::<f64>() < p.rate {
                self.plant_pair(pi, false, &mut rng, &mut seq, &mut sites)?;
            }
            if p.off_window_rate > 0.0 && rng.random::<f64>() < p.off_window_rate {
                self.plant_pair(pi, true, &mut rng, &mut seq, &mut sites)?;
            }
        }

        for (si, s) in self.grammar.single.iter().enumerate() {
            if rng.random::<f64>() >= s.rate {
                continue;
            }
            let m = self.singles[si];
            let w = self.motifs[m].width();
            for _ in 0..MAX_TRIES {
                let start = rng.random_range(0..=len - w);
                if overlaps(&sites, start, start + w) {
                    continue;
                }
                let inst = self.instance(m, &mut rng)?;
                let plus = rng.random_bool(0.5);
                plant(&mut seq, start, &inst, plus);
                sites.push(PlantedSite {
                    motif: m,
                    start,
                    end: start + w,
                    plus,
                    pair: None,
                    off_window: false,
                });
                break;
            }
        }
        sites.sort_by_key(|s| (s.start, s.motif));

        let noise_free: Vec<f64> = (0..self.grammar.outputs.len())
            .map(|o| self.activity(&sites, o))
            .collect();
        let observed = if self.grammar.noise_sd > 0.0 {
            let normal = Normal::new(0.0, self.grammar.noise_sd)
                .map_err(|e| Error::Invalid(format!("noise_sd: {e}")))?;
            noise_free
                .iter()
                .map(|f| f + normal.sample(&mut rng))
                .collect()
        } else {
            noise_free.clone()
        };
        Ok(SimSequence {
            id: format!("sim{:0width$}", i + 1),
            seq,
            sites,
            noise_free,
            observed,
        })
    }

    /// Plants pair `pi`'s two motifs, in a random order and an orientation its rule
    /// admits, at a gap inside its window, or (with `off_window`) at any other gap.
    fn plant_pair(
        &self,
        pi: usize,
        off_window: bool,
        rng: &mut ChaCha8Rng,
        seq: &mut [u8],
        sites: &mut Vec<PlantedSite>,
    ) -> Result<()> {
        let p = &self.grammar.pair[pi];
        let len = self.grammar.length;
        let (a, b) = self.pairs[pi];
        let (left, right) = if rng.random_bool(0.5) { (a, b) } else { (b, a) };
        let orient = match p.orientation {
            Orientation::Any => [
                Orientation::Tandem,
                Orientation::Convergent,
                Orientation::Divergent,
            ][rng.random_range(0..3usize)],
            o => o,
        };
        let (lp, rp) = match orient {
            Orientation::Tandem => {
                let s = rng.random_bool(0.5);
                (s, s)
            }
            Orientation::Convergent => (true, false),
            Orientation::Divergent => (false, true),
            Orientation::Any => unreachable!("resolved above"),
        };
        let (wl, wr) = (self.motifs[left].width(), self.motifs[right].width());
        // Gaps outside the window that fit: 0..min_gap and max_gap+1..=len-wl-wr.
        let widest = len.saturating_sub(wl + wr);
        let below = p.min_gap.min(widest + 1);
        let above = widest.saturating_sub(p.max_gap);
        if off_window && below + above == 0 {
            return Ok(());
        }
        for _ in 0..MAX_TRIES {
            let gap = if off_window {
                let r = rng.random_range(0..below + above);
                if r < below {
                    r
                } else {
                    p.max_gap + 1 + (r - below)
                }
            } else {
                rng.random_range(p.min_gap..=p.max_gap)
            };
            let span = wl + gap + wr;
            if span > len {
                continue;
            }
            let start = rng.random_range(0..=len - span);
            let r_start = start + wl + gap;
            if overlaps(sites, start, start + wl) || overlaps(sites, r_start, r_start + wr) {
                continue;
            }
            let l_site = self.instance(left, rng)?;
            let r_site = self.instance(right, rng)?;
            plant(seq, start, &l_site, lp);
            plant(seq, r_start, &r_site, rp);
            for (motif, start, end, plus) in [
                (left, start, start + wl, lp),
                (right, r_start, r_start + wr, rp),
            ] {
                sites.push(PlantedSite {
                    motif,
                    start,
                    end,
                    plus,
                    pair: Some(pi),
                    off_window,
                });
            }
            break;
        }
        Ok(())
    }

    /// Samples an instance from the motif's columns until the filter accepts it.
    fn instance(&self, m: usize, rng: &mut ChaCha8Rng) -> Result<Vec<u8>> {
        let motif = &self.motifs[m];
        let mut inst = Vec::with_capacity(motif.width());
        for _ in 0..MAX_TRIES * 50 {
            inst.clear();
            for row in &motif.probs {
                let u = rng.random::<f64>();
                let mut acc = 0.0;
                let mut base = b'T';
                for (k, p) in row.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        base = b"ACGT"[k];
                        break;
                    }
                }
                inst.push(base);
            }
            if (self.filter)(m, &inst) {
                return Ok(inst);
            }
        }
        Err(Error::Invalid(format!(
            "motif {}: could not sample an instance that passes the site threshold",
            motif.id
        )))
    }

    /// Noise-free activity of output `o` given the planted sites: single effects for
    /// every motif present, plus each interacting pair whose sites (any two planted
    /// sites of its motifs, whoever planted them) satisfy its window and orientation.
    pub fn activity(&self, sites: &[PlantedSite], o: usize) -> f64 {
        let mut f = 0.0;
        for (si, s) in self.grammar.single.iter().enumerate() {
            let m = self.singles[si];
            if sites.iter().any(|x| x.motif == m) {
                f += s.effect.for_output(o);
            }
        }
        for (pi, p) in self.grammar.pair.iter().enumerate() {
            if p.kind.interacts() && self.pair_satisfied(pi, sites) {
                f += p.effect.for_output(o);
            }
        }
        f
    }

    /// Whether two planted sites of pair `pi`'s motifs sit in its window and orientation.
    pub fn pair_satisfied(&self, pi: usize, sites: &[PlantedSite]) -> bool {
        let p = &self.grammar.pair[pi];
        let (a, b) = self.pairs[pi];
        sites.iter().enumerate().any(|(i, x)| {
            sites.iter().enumerate().any(|(j, y)| {
                if i == j || x.start > y.start {
                    return false;
                }
                let motifs_match = (x.motif == a && y.motif == b) || (x.motif == b && y.motif == a);
                if !motifs_match || y.start < x.end {
                    return false;
                }
                let gap = y.start - x.end;
                (p.min_gap..=p.max_gap).contains(&gap)
                    && p.orientation.admits(Orientation::of(x.plus, y.plus))
            })
        })
    }
}

fn overlaps(sites: &[PlantedSite], start: usize, end: usize) -> bool {
    sites.iter().any(|s| start < s.end && s.start < end)
}

fn plant(seq: &mut [u8], start: usize, inst: &[u8], plus: bool) {
    let dst = &mut seq[start..start + inst.len()];
    dst.copy_from_slice(inst);
    if !plus {
        crate::seq::reverse_complement_in_place(dst);
    }
}

/// Pearson r between observed and noise-free activity of output `o`: the best a
/// model can reach on this data.
pub fn noise_ceiling(seqs: &[SimSequence], o: usize) -> f64 {
    let obs: Vec<f64> = seqs.iter().map(|s| s.observed[o]).collect();
    let free: Vec<f64> = seqs.iter().map(|s| s.noise_free[o]).collect();
    crate::stats::pearson(&obs, &free)
}

/// Counts, for each motif index, how often each grammar element was planted.
pub fn planted_counts(seqs: &[SimSequence]) -> HashMap<Option<usize>, usize> {
    let mut counts = HashMap::new();
    for s in seqs {
        let mut seen: Vec<Option<usize>> = s.sites.iter().map(|x| x.pair).collect();
        seen.sort();
        seen.dedup();
        for k in seen {
            *counts.entry(k).or_insert(0) += 1;
        }
    }
    counts
}

/// Every file `simulate` writes into its output folder.
pub const DATASET_FILES: [&str; 7] = [
    "seqs.fa",
    "labels.tsv",
    "noise_free.tsv",
    "sites.bed",
    "truth.tsv",
    "summary.json",
    "motifs.meme",
];

/// Writes the data set files of `simulate` into `dir` (which must exist):
/// `seqs.fa`, `labels.tsv`, `noise_free.tsv`, `sites.bed`, `truth.tsv`.
pub fn write_dataset(dir: &Path, sim: &Simulator, seqs: &[SimSequence]) -> Result<()> {
    let g = sim.grammar();
    let header = std::iter::once("id")
        .chain(g.outputs.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\t");

    write_file(&dir.join("seqs.fa"), |w| {
        for s in seqs {
            writeln!(w, ">{}", s.id)?;
            w.write_all(&s.seq)?;
            writeln!(w)?;
        }
        Ok(())
    })?;
    for (name, pick) in [
        (
            "labels.tsv",
            (|s: &SimSequence| &s.observed) as fn(&SimSequence) -> &Vec<f64>,
        ),
        ("noise_free.tsv", |s: &SimSequence| &s.noise_free),
    ] {
        let binary = name == "labels.tsv" && g.binary_quantile.is_some();
        write_file(&dir.join(name), |w| {
            writeln!(w, "{header}")?;
            for s in seqs {
                w.write_all(s.id.as_bytes())?;
                for v in pick(s) {
                    if binary {
                        write!(w, "\t{v}")?;
                    } else {
                        write!(w, "\t{v:.6}")?;
                    }
                }
                writeln!(w)?;
            }
            Ok(())
        })?;
    }
    write_file(&dir.join("sites.bed"), |w| {
        for s in seqs {
            for site in &s.sites {
                let element = match site.pair {
                    None => "single".to_string(),
                    Some(p) => {
                        let pair = &g.pair[p];
                        let off = if site.off_window { "off_window:" } else { "" };
                        format!("{off}{}:{}-{}", pair.kind.as_str(), pair.a, pair.b)
                    }
                };
                writeln!(
                    w,
                    "{}\t{}\t{}\t{}\t0\t{}\t{}",
                    s.id,
                    site.start,
                    site.end,
                    sim.motifs[site.motif].id,
                    if site.plus { '+' } else { '-' },
                    element
                )?;
            }
        }
        Ok(())
    })?;
    write_file(&dir.join("truth.tsv"), |w| {
        writeln!(w, "{}", crate::io::tables::TRUTH.header())?;
        for (si, s) in g.single.iter().enumerate() {
            let m = &sim.motifs[sim.singles[si]];
            for (o, out) in g.outputs.iter().enumerate() {
                writeln!(
                    w,
                    "single\t{}\t.\t{}\t.\t{out}\t{}\t{}\t.\t.\t.",
                    m.id,
                    m.name,
                    s.effect.for_output(o),
                    s.rate
                )?;
            }
        }
        for (pi, p) in g.pair.iter().enumerate() {
            let (a, b) = sim.pairs[pi];
            let (ma, mb) = (&sim.motifs[a], &sim.motifs[b]);
            for (o, out) in g.outputs.iter().enumerate() {
                writeln!(
                    w,
                    "{}\t{}\t{}\t{}\t{}\t{out}\t{}\t{}\t{}\t{}\t{}",
                    p.kind.as_str(),
                    ma.id,
                    mb.id,
                    ma.name,
                    mb.name,
                    p.effect.for_output(o),
                    p.rate,
                    p.min_gap,
                    p.max_gap,
                    p.orientation.as_str()
                )?;
            }
        }
        Ok(())
    })
}

/// Writes `summary.json`: what a user needs to judge a model trained on the data set
/// (the noise ceiling per output) and how often each grammar element was planted.
pub fn write_summary(dir: &Path, sim: &Simulator, seqs: &[SimSequence], seed: u64) -> Result<()> {
    let g = sim.grammar();
    let outputs: Vec<_> = g
        .outputs
        .iter()
        .enumerate()
        .map(|(o, name)| serde_json::json!({"name": name, "noise_ceiling": noise_ceiling(seqs, o)}))
        .collect();
    let pairs: Vec<_> = g
        .pair
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let planted_by = |off: bool| {
                seqs.iter()
                    .filter(|s| {
                        s.sites
                            .iter()
                            .any(|site| site.pair == Some(i) && site.off_window == off)
                    })
                    .count()
            };
            let (planted, off_window) = (planted_by(false), planted_by(true));
            let satisfied = seqs
                .iter()
                .filter(|s| sim.pair_satisfied(i, &s.sites))
                .count();
            serde_json::json!({
                "kind": p.kind.as_str(), "a": p.a, "b": p.b,
                "sequences_planted": planted, "sequences_in_window": satisfied,
                "sequences_planted_off_window": off_window,
            })
        })
        .collect();
    let summary = serde_json::json!({
        "n": seqs.len(),
        "length": g.length,
        "seed": seed,
        "outputs": outputs,
        "pairs": pairs,
    });
    write_file(&dir.join("summary.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        writeln!(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motif(id: &str, consensus: &[u8]) -> Motif {
        Motif {
            id: id.into(),
            name: id.to_lowercase(),
            probs: consensus
                .iter()
                .map(|b| {
                    let mut row = [0.01; 4];
                    row[crate::seq::base_index(*b).unwrap()] = 0.97;
                    row
                })
                .collect(),
            nsites: 100.0,
            url: None,
        }
    }

    fn toy() -> (Grammar, Vec<Motif>) {
        let g = Grammar::from_toml(
            r#"
            length = 100
            noise_sd = 0.3
            [[single]]
            motif = "A1"
            rate = 0.3
            effect = 1.0
            [[pair]]
            kind = "cooperative"
            a = "A1"
            b = "B1"
            rate = 0.4
            min_gap = 3
            max_gap = 10
            orientation = "convergent"
            effect = 2.0
            [[pair]]
            kind = "decoy"
            a = "C1"
            b = "D1"
            rate = 0.5
            min_gap = 0
            max_gap = 20
            "#,
            "toy.toml",
        )
        .unwrap();
        let motifs = vec![
            motif("A1", b"TGACGTCA"),
            motif("B1", b"GGGGCCCC"),
            motif("C1", b"AAAATTTT"),
            motif("D1", b"CACGTGCA"),
        ];
        (g, motifs)
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let (g, m) = toy();
        let accept = |_: usize, _: &[u8]| true;
        let sim = Simulator::new(g, &m, Background::Iid { gc: 0.4 }, &accept).unwrap();
        let a = sim.generate(50, 7).unwrap();
        let b = sim.generate(50, 7).unwrap();
        let c = sim.generate(50, 8).unwrap();
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.seq == y.seq && x.observed == y.observed)
        );
        assert!(a.iter().zip(&c).any(|(x, y)| x.seq != y.seq));
    }

    #[test]
    fn decoys_cooccur_without_effect_and_cooperation_needs_window() {
        let (g, m) = toy();
        let accept = |_: usize, _: &[u8]| true;
        let sim = Simulator::new(g, &m, Background::Iid { gc: 0.5 }, &accept).unwrap();
        let seqs = sim.generate(2000, 1).unwrap();
        let counts = planted_counts(&seqs);
        let decoy_rate = counts[&Some(1)] as f64 / seqs.len() as f64;
        assert!((decoy_rate - 0.5).abs() < 0.05, "decoy rate {decoy_rate}");
        for s in &seqs {
            let a1 = s.sites.iter().any(|x| x.motif == 0);
            let expect = if a1 { 1.0 } else { 0.0 }
                + if sim.pair_satisfied(0, &s.sites) {
                    2.0
                } else {
                    0.0
                };
            assert_eq!(s.noise_free[0], expect);
        }
        // Moving B1 out of the window removes the interaction.
        let mut s = seqs
            .iter()
            .find(|s| sim.pair_satisfied(0, &s.sites))
            .unwrap()
            .sites
            .clone();
        let bi = s.iter().position(|x| x.motif == 1).unwrap();
        s[bi].start += 50;
        s[bi].end += 50;
        assert!(!sim.pair_satisfied(0, &s));
    }

    #[test]
    fn off_window_partners_sit_outside_the_window_and_add_nothing() {
        let (mut g, m) = toy();
        g.pair[0].rate = 0.0;
        g.pair[0].off_window_rate = 1.0;
        g.single[0].rate = 0.0; // a single A1 could fall in the window by chance
        let accept = |_: usize, _: &[u8]| true;
        let sim = Simulator::new(g, &m, Background::Iid { gc: 0.5 }, &accept).unwrap();
        let seqs = sim.generate(300, 3).unwrap();
        let mut gaps = Vec::new();
        for s in &seqs {
            let own: Vec<_> = s.sites.iter().filter(|x| x.pair == Some(0)).collect();
            assert_eq!(own.len(), 2, "{}", s.id);
            assert!(own.iter().all(|x| x.off_window));
            let gap = own[1].start - own[0].end;
            assert!(!(3..=10).contains(&gap), "gap {gap} inside the window");
            assert_eq!(
                Orientation::of(own[0].plus, own[1].plus),
                Orientation::Convergent
            );
            assert!(!sim.pair_satisfied(0, &s.sites));
            gaps.push(gap);
        }
        // Both sides of the window are drawn.
        assert!(gaps.iter().any(|&g| g < 3) && gaps.iter().any(|&g| g > 10));
    }

    #[test]
    fn planted_sites_carry_the_instance() {
        let (g, m) = toy();
        let accept = |_: usize, inst: &[u8]| inst.iter().all(|b| b"ACGT".contains(b));
        let sim = Simulator::new(g, &m, Background::Iid { gc: 0.5 }, &accept).unwrap();
        for s in sim.generate(200, 3).unwrap() {
            for site in &s.sites {
                let mut bases = s.seq[site.start..site.end].to_vec();
                if !site.plus {
                    crate::seq::reverse_complement_in_place(&mut bases);
                }
                let matches = bases
                    .iter()
                    .zip(&m[site.motif].probs)
                    .filter(|(b, row)| row[crate::seq::base_index(**b).unwrap()] > 0.5)
                    .count();
                assert!(matches >= 4, "site does not resemble its motif");
            }
        }
    }

    #[test]
    fn markov_background_learns_composition() {
        let at_rich = b"ATATATATTTAAATATAT".repeat(50);
        let chain = MarkovChain::learn([&at_rich[..]], 2).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = vec![];
        chain.sample(&mut rng, 5000, &mut out);
        let gc = out.iter().filter(|b| matches!(b, b'G' | b'C')).count() as f64 / 5000.0;
        assert!(gc < 0.05, "gc {gc}");
        assert!(MarkovChain::learn([&b"NNNN"[..]], 2).is_err());
    }

    #[test]
    fn grammar_errors_are_clear() {
        let e = Grammar::from_toml("length = 100\nbogus = 1\n", "g.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.toml:2:"), "{e}");
        let e = Grammar::from_toml(
            "[[pair]]\nkind='decoy'\na='x'\nb='y'\nrate=0.1\nmin_gap=1\nmax_gap=2\neffect=1.0\n",
            "g.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("decoy pair cannot have an effect"), "{e}");
        let e = Grammar::from_toml(
            "[[pair]]\nkind='decoy'\na='x'\nb='y'\nrate=0.1\nmin_gap=1\nmax_gap=2\noff_window_rate=2\n",
            "g.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("decoy pair x-y: off_window_rate must be in [0, 1]"),
            "{e}"
        );
        let (g, m) = toy();
        let accept = |_: usize, _: &[u8]| true;
        let mut g2 = g.clone();
        g2.single[0].motif = "nope".into();
        let e = Simulator::new(g2, &m, Background::Iid { gc: 0.5 }, &accept)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'nope'"), "{e}");
    }

    /// f(AB) − f(A) − f(B) + f(∅) of pair `pi`'s motifs, the rest of `context` kept.
    fn double_difference(sim: &Simulator, pi: usize, context: &[PlantedSite]) -> f64 {
        let (a, b) = sim.pair_motifs(pi);
        let p = &sim.grammar().pair[pi];
        let site = |motif, start, plus| PlantedSite {
            motif,
            start,
            end: start + 10,
            plus,
            pair: None,
            off_window: false,
        };
        // A at 20, B in the window (and orientation) of the pair's rule.
        let (pa, pb) = match p.orientation {
            Orientation::Tandem | Orientation::Any => (true, true),
            Orientation::Convergent => (true, false),
            Orientation::Divergent => (false, true),
        };
        let (sa, sb) = (site(a, 20, pa), site(b, 30 + p.min_gap, pb));
        let base: Vec<PlantedSite> = context
            .iter()
            .filter(|s| s.motif != a && s.motif != b)
            .cloned()
            .collect();
        let with = |extra: &[&PlantedSite]| {
            let mut v = base.clone();
            v.extend(extra.iter().map(|s| (*s).clone()));
            sim.activity(&v, 0)
        };
        with(&[&sa, &sb]) - with(&[&sa]) - with(&[&sb]) + with(&[])
    }

    #[test]
    fn decoy_and_null_pairs_add_up_exactly() {
        let motifs = default_motifs().unwrap();
        let accept = |_: usize, _: &[u8]| true;
        let bg = Background::Iid { gc: 0.42 };
        let def = Simulator::new(Grammar::default(), &motifs, bg.clone(), &accept).unwrap();
        let null = Grammar::builtin("null").unwrap();
        let null = Simulator::new(null, &motifs, bg, &accept).unwrap();
        let contexts = def.generate(200, 5).unwrap();
        let g = def.grammar();
        let mut decoys = 0;
        for (pi, p) in g.pair.iter().enumerate() {
            let single = |m: usize| {
                g.single
                    .iter()
                    .enumerate()
                    .find(|(si, _)| def.single_motif(*si) == m)
                    .map_or(0.0, |(_, s)| s.effect.for_output(0))
            };
            let (a, b) = def.pair_motifs(pi);
            for c in &contexts {
                let dd = double_difference(&def, pi, &c.sites);
                let nd = double_difference(&null, pi, &c.sites);
                // Zero up to the rounding of summing the effects in another order.
                assert!(nd.abs() < 1e-12, "null pair {}-{}: {nd}", p.a, p.b);
                if p.kind == PairKind::Decoy {
                    assert!(dd.abs() < 1e-12, "decoy {}-{}: {dd}", p.a, p.b);
                } else {
                    // The sites were put in the rule's window: the interaction is all of it.
                    assert!((dd - p.effect.for_output(0)).abs() < 1e-12, "{}", p.a);
                }
            }
            if p.kind == PairKind::Decoy {
                decoys += 1;
                // A decoy pair adds as much as the weakest cooperative pair in total.
                let coop = g
                    .pair
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| q.kind.interacts())
                    .map(|(qi, q)| {
                        let (x, y) = def.pair_motifs(qi);
                        single(x) + single(y) + q.effect.for_output(0)
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!(single(a) + single(b) >= coop, "{}-{}", p.a, p.b);
            }
        }
        assert_eq!(decoys, 2);
        assert!(
            null.grammar()
                .pair
                .iter()
                .all(|p| p.kind == PairKind::Decoy)
        );
        // Same planting and main effects: the null data differ only in the interactions.
        let (x, y) = (def.generate(50, 9).unwrap(), null.generate(50, 9).unwrap());
        for (s, t) in x.iter().zip(&y) {
            assert_eq!((&s.seq, &s.sites), (&t.seq, &t.sites));
        }
        assert!(Grammar::builtin("nope").is_none());
    }

    #[test]
    fn default_grammar_parses() {
        let g = Grammar::default();
        assert_eq!(g.pair.len(), 5);
        assert!(g.pair.iter().any(|p| p.kind == PairKind::LongRange));
    }
}
