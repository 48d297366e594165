//! Head atlas: what each attention head looks at, accumulated over sequences.
//!
//! Per (layer, head): mean normalised entropy, attention distance and local fraction,
//! mass on `[CLS]`/`[SEP]`, motif focus (mass received by a motif's site tokens
//! against the same number of same-width spans placed at random non-site positions
//! of the same sequence), and redundancy (cosine similarity of attention maps with
//! every other head). Importance comes from the caller (head masking) and feeds the
//! prune flag.

use std::{collections::BTreeMap, io::Write, ops::Range, path::Path};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    Fingerprint, Sat, SeqAttention, Shard, Site, TokenGeometry, merge_ranges, merge_shards,
    shards_complete,
};
use crate::io::frame::place;
use crate::stats::{MeanSums, bh, fmt_f, fmt_p, fx, p_ln_p, unfx};
use crate::{Error, Result};

/// When a head is flagged as a pruning candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRule {
    /// A head at or below this mean normalised entropy counts as low-entropy...
    pub entropy_max: f64,
    /// ...and is a candidate when it is at least this similar to another head.
    pub redundancy_min: f64,
    /// A head whose masking changes the metric by at most this much is unimportant...
    pub dmetric_max: f64,
    /// ...when its mean |Δprediction| (if known) is also at most this.
    pub dpred_max: f64,
}

impl Default for PruneRule {
    fn default() -> Self {
        PruneRule {
            entropy_max: 0.5,
            redundancy_min: 0.9,
            dmetric_max: 1e-3,
            dpred_max: 1e-2,
        }
    }
}

/// Options of the head atlas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    pub n_layers: usize,
    pub n_heads: usize,
    /// Seeds the random null placements (with each sequence's index).
    pub seed: u64,
    /// Null placements per motif and sequence.
    pub null_replicates: usize,
    /// Redundancy uses every n-th sequence: the Gram matrix of all heads' maps costs
    /// more than everything else together, and a mean over 1/8 of the sequences is
    /// as stable as over all of them.
    pub redundancy_every: usize,
    /// A motif focus is reported when its q-value is at most this.
    pub focus_q: f64,
    /// The focus test's interval null: a head focuses on a motif when its sites' enrichment
    /// exceeds their nulls' by more than this (in shares of uniform attention). Chance
    /// matches of a motif inside sequence that resembles another, attended motif get a
    /// small but consistent excess that a test against 0 calls with enough sequences.
    #[serde(default = "default_focus_margin")]
    pub focus_margin: f64,
    pub prune: PruneRule,
    /// Motif names (for the tables `merge` writes from partial files alone).
    #[serde(default)]
    pub motif_names: Vec<String>,
    /// Heads removed by `prune` (per layer, original numbering): their maps are all zero, so
    /// they get no rows, and no other head is called redundant with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<Vec<usize>>,
}

impl HeadConfig {
    pub fn new(n_layers: usize, n_heads: usize) -> Self {
        HeadConfig {
            n_layers,
            n_heads,
            seed: 1,
            null_replicates: 8,
            redundancy_every: 8,
            focus_q: 0.05,
            focus_margin: DEFAULT_FOCUS_MARGIN,
            prune: PruneRule::default(),
            motif_names: Vec::new(),
            pruned: Vec::new(),
        }
    }

    /// Whether head `hi` (layer-major index) was pruned from the model.
    pub fn is_pruned(&self, hi: usize) -> bool {
        self.pruned
            .get(hi / self.n_heads)
            .is_some_and(|p| p.contains(&(hi % self.n_heads)))
    }

    fn same_data_as(&self, o: &HeadConfig) -> bool {
        self.motif_names == o.motif_names
            && self.pruned == o.pruned
            && (
                self.n_layers,
                self.n_heads,
                self.seed,
                self.null_replicates,
                self.redundancy_every,
            ) == (
                o.n_layers,
                o.n_heads,
                o.seed,
                o.null_replicates,
                o.redundancy_every,
            )
    }
}

/// Importance of one head, measured by the caller by masking it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadImportance {
    pub layer: usize,
    pub head: usize,
    /// Change of the evaluation metric when the head is masked.
    pub dmetric: f64,
    /// Mean |Δprediction| when the head is masked, if measured.
    pub dpred: Option<f64>,
}

/// One row of the head atlas.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadRow {
    pub layer: usize,
    pub head: usize,
    pub n_seqs: u64,
    /// Mean over query rows of entropy / ln(n_tokens): 1 is uniform.
    pub entropy: f64,
    /// Mean |query - key| in bp over content tokens, weighted by attention.
    pub mean_distance_bp: f64,
    /// Fraction of content-to-content attention within ±k bp.
    pub local_fraction: f64,
    /// Mean attention mass on special tokens (`[CLS]`, `[SEP]`).
    pub boundary_fraction: f64,
    /// The motif with the strongest focus (smallest p), if any motif was seen.
    pub top_motif: Option<usize>,
    /// Mass received by its sites over what their token coverage predicts.
    pub top_motif_enrichment: f64,
    /// The same ratio for random non-site spans of the same widths.
    pub top_motif_null_enrichment: f64,
    pub top_motif_p: f64,
    pub top_motif_q: f64,
    /// Whether the top motif passes `focus_q` with enrichment above its null.
    pub motif_focus: bool,
    /// Largest mean cosine similarity with another head's maps.
    pub redundancy: f64,
    pub most_similar_head: Option<(usize, usize)>,
    pub importance_dmetric: Option<f64>,
    pub importance_dpred: Option<f64>,
    pub prune_candidate: bool,
}

impl HeadRow {
    /// Fills importance and re-evaluates the prune flag under `rule`.
    pub fn set_importance(&mut self, dmetric: f64, dpred: Option<f64>, rule: &PruneRule) {
        self.importance_dmetric = Some(dmetric);
        self.importance_dpred = dpred;
        self.prune_candidate = prune_flag(self, rule);
    }
}

fn prune_flag(r: &HeadRow, rule: &PruneRule) -> bool {
    let redundant = r.entropy <= rule.entropy_max && r.redundancy >= rule.redundancy_min;
    let unimportant = r
        .importance_dmetric
        .is_some_and(|d| d.abs() <= rule.dmetric_max)
        && r.importance_dpred.is_none_or(|d| d.abs() <= rule.dpred_max);
    redundant || unimportant
}

/// Motif focus of one head on one motif.
#[derive(Clone, Debug, PartialEq)]
pub struct FocusRow {
    pub layer: usize,
    pub head: usize,
    pub motif: usize,
    pub n_seqs: u64,
    pub n_sites: u64,
    pub enrichment: f64,
    pub null_enrichment: f64,
    pub p_value: f64,
    pub q_value: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct HeadSums {
    rows: u64,
    entropy: i128,
    boundary: i128,
    content_mass: i128,
    dist_bp: i128,
    local: i128,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct FocusSums {
    obs_recv: i128,
    obs_exp: i128,
    null_recv: i128,
    null_exp: i128,
    /// Per sequence: the sites' enrichment less the mean of their null placements'
    /// (the paired, sequence-level test behind the p-value).
    paired: MeanSums,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct MotifFocus {
    n_seqs: u64,
    n_sites: u64,
    heads: Vec<FocusSums>,
}

/// Streaming, mergeable head-atlas statistics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadAccumulator {
    cfg: HeadConfig,
    /// What the sums were computed from (compared by [`merge`](Self::merge)).
    fingerprint: Fingerprint,
    shards: Vec<Shard>,
    n_seqs: u64,
    heads: Vec<HeadSums>,
    red_seqs: u64,
    /// Sum of per-sequence cosine similarities, `[i * n + j]` for head indices `j < i`.
    red: Vec<i128>,
    focus: BTreeMap<usize, MotifFocus>,
    #[serde(skip)]
    importance: Vec<Option<(f64, Option<f64>)>>,
}

/// The default focus margin: one share of uniform attention more than matched background
/// (docs/calibration.md, "Motif focus": motifs never planted reach at most 0.98 on
/// models of the null and default grammars, the planted motifs' focused heads 1.9–11).
pub const DEFAULT_FOCUS_MARGIN: f64 = 1.0;

fn default_focus_margin() -> f64 {
    DEFAULT_FOCUS_MARGIN
}

pub(crate) const PARTIAL_FORMAT: &str = "cisformer-heads-partial";
/// 3: the state carries a [`Fingerprint`]. 4: focus sums count only sites that overlap no
/// other motif's site.
const PARTIAL_VERSION: u32 = 4;

/// Per-sequence motif token sets and their nulls.
pub(crate) struct MotifSets {
    motif: usize,
    n_sites: u64,
    obs: Vec<Range<usize>>,
    nulls: Vec<Vec<Range<usize>>>,
}

impl HeadAccumulator {
    /// An empty accumulator for the whole input ([`Shard::ALL`]).
    pub fn new(cfg: HeadConfig) -> Self {
        let nh = cfg.n_layers * cfg.n_heads;
        HeadAccumulator {
            fingerprint: Fingerprint::default(),
            shards: vec![Shard::ALL],
            n_seqs: 0,
            heads: vec![HeadSums::default(); nh],
            red_seqs: 0,
            red: vec![0; nh * nh],
            focus: BTreeMap::new(),
            importance: vec![None; nh],
            cfg,
        }
    }

    pub fn config(&self) -> &HeadConfig {
        &self.cfg
    }

    /// Records what the sums are computed from (model, sequences, options).
    pub fn set_fingerprint(&mut self, fingerprint: Fingerprint) {
        self.fingerprint = fingerprint;
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Marks this accumulator as holding one shard of a split run.
    pub fn set_shard(&mut self, shard: Shard) {
        self.shards = vec![shard];
    }

    /// Whether the merged parts cover every shard of their split.
    pub fn is_complete(&self) -> bool {
        shards_complete(&self.shards)
    }

    /// Replaces the prune rule (it is applied in [`finish`](Self::finish)).
    pub fn set_prune_rule(&mut self, rule: PruneRule) {
        self.cfg.prune = rule;
    }

    /// Records the masking importance of a head, shown in the table and used to prune.
    pub fn set_importance(&mut self, imp: HeadImportance) -> Result<()> {
        let i = self.head_index(imp.layer, imp.head)?;
        self.importance.resize(self.heads.len(), None);
        self.importance[i] = Some((imp.dmetric, imp.dpred));
        Ok(())
    }

    fn head_index(&self, layer: usize, head: usize) -> Result<usize> {
        if layer >= self.cfg.n_layers || head >= self.cfg.n_heads {
            return Err(Error::NoSuchHead {
                layer,
                head,
                n_layers: self.cfg.n_layers,
                n_heads: self.cfg.n_heads,
            });
        }
        Ok(layer * self.cfg.n_heads + head)
    }

    /// Adds one sequence.
    pub fn add(&mut self, a: &SeqAttention, sites: &[Site], geom: &TokenGeometry) -> Result<()> {
        super::add_sequence(Some(self), None, a, sites, geom)
    }

    /// Adds a batch of sequences in parallel; the result equals adding them one by one.
    pub fn add_batch(&mut self, items: &[(&SeqAttention, &[Site], &TokenGeometry)]) -> Result<()> {
        let empty = HeadAccumulator::new(self.cfg.clone());
        let part = items
            .par_iter()
            .try_fold(
                || empty.clone(),
                |mut acc, (a, s, g)| acc.add(a, s, g).map(|_| acc),
            )
            .try_reduce(
                || empty.clone(),
                |mut x, y| {
                    x.merge_sums(&y)?;
                    Ok(x)
                },
            )?;
        self.merge_sums(&part)?;
        Ok(())
    }

    /// Per-head work for one sequence, given the head's map and its summed-area table.
    pub(crate) fn add_head(
        &mut self,
        hi: usize,
        rows: &RowSums,
        sat: &Sat,
        geom: &TokenGeometry,
        sets: &[MotifSets],
    ) -> Result<()> {
        let n = geom.n_tokens();
        let s = &mut self.heads[hi];
        s.rows += n as u64;
        s.entropy += fx(rows.entropy);
        s.boundary += fx(rows.boundary);
        s.content_mass += fx(rows.content_mass);
        s.dist_bp += fx(rows.dist * geom.stride as f64);
        s.local += fx(rows.local);

        let nh = self.heads.len();
        for set in sets {
            let f = self.focus.entry(set.motif).or_insert_with(|| MotifFocus {
                heads: vec![FocusSums::default(); nh],
                ..Default::default()
            });
            let fs = &mut f.heads[hi];
            let (recv, exp) = focus_mass(sat, &set.obs, n);
            fs.obs_recv += fx(recv);
            fs.obs_exp += fx(exp);
            let mut null_sum = 0.0;
            for null in &set.nulls {
                let (recv, exp) = focus_mass(sat, null, n);
                fs.null_recv += fx(recv);
                fs.null_exp += fx(exp);
                null_sum += recv / exp;
            }
            if !set.nulls.is_empty() {
                fs.paired
                    .add(recv / exp - null_sum / set.nulls.len() as f64);
            }
        }
        Ok(())
    }

    /// Sequence-level counts and the redundancy Gram matrix.
    pub(crate) fn finish_seq(&mut self, a: &SeqAttention, sets: &[MotifSets]) {
        self.n_seqs += 1;
        let nh = self.heads.len();
        for set in sets {
            if let Some(f) = self.focus.get_mut(&set.motif) {
                f.n_seqs += 1;
                f.n_sites += set.n_sites;
            }
        }
        if a.seq_index.is_multiple_of(self.cfg.redundancy_every.max(1)) && nh > 1 {
            self.red_seqs += 1;
            let g = gram(a);
            for i in 0..nh {
                for j in 0..i {
                    let d = (g[i * nh + i] * g[j * nh + j]).sqrt();
                    let cos = if d > 0.0 { g[i * nh + j] / d } else { 0.0 };
                    self.red[i * nh + j] += fx(cos);
                }
            }
        }
    }

    /// Token sets of each motif's sites and of their random same-width null placements.
    pub(crate) fn motif_sets(
        &self,
        seq_index: usize,
        sites: &[Site],
        geom: &TokenGeometry,
    ) -> Vec<MotifSets> {
        let len = geom.seq_len_bp;
        let mut sorted: Vec<Site> = sites
            .iter()
            .copied()
            .filter(|s| s.start < s.end && s.end <= len)
            .collect();
        sorted.sort();
        sorted.dedup();
        // A site that overlaps another motif's site is not evidence of focus on either: a
        // head that attends to a motif with an effect also lights up chance matches of
        // unrelated motifs inside it. Only clean sites are tested; all sites stay occupied
        // for the null placements.
        let clean: Vec<Site> = sorted
            .iter()
            .copied()
            .filter(|s| {
                !sorted
                    .iter()
                    .any(|o| o.motif != s.motif && o.start < s.end && s.start < o.end)
            })
            .collect();
        // Prefix count of bp covered by any site: O(1) overlap tests for null spans.
        let mut cover = vec![0i32; len + 1];
        for s in &sorted {
            cover[s.start] += 1;
            cover[s.end] -= 1;
        }
        let mut occupied = vec![0u32; len + 1];
        let mut depth = 0;
        for i in 0..len {
            depth += cover[i];
            occupied[i + 1] = occupied[i] + (depth > 0) as u32;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(seq_index as u64);
        let mut out = Vec::new();
        let mut i = 0;
        while i < clean.len() {
            let m = clean[i].motif;
            let j = i + clean[i..].iter().take_while(|s| s.motif == m).count();
            let group = &clean[i..j];
            i = j;
            let obs = merge_ranges(
                group
                    .iter()
                    .map(|s| geom.tokens_overlapping(s.start, s.end))
                    .collect(),
            );
            if obs.is_empty() {
                continue;
            }
            let mut nulls = Vec::with_capacity(self.cfg.null_replicates);
            'rep: for _ in 0..self.cfg.null_replicates {
                let mut placed: Vec<(usize, usize)> = Vec::with_capacity(group.len());
                for s in group {
                    let w = s.end - s.start;
                    let mut ok = false;
                    for _ in 0..100 {
                        let st = rng.random_range(0..=len - w);
                        let en = st + w;
                        if occupied[en] == occupied[st]
                            && placed.iter().all(|&(a, b)| en <= a || b <= st)
                        {
                            placed.push((st, en));
                            ok = true;
                            break;
                        }
                    }
                    if !ok {
                        continue 'rep;
                    }
                }
                let r = merge_ranges(
                    placed
                        .iter()
                        .map(|&(s, e)| geom.tokens_overlapping(s, e))
                        .collect(),
                );
                if !r.is_empty() {
                    nulls.push(r);
                }
            }
            out.push(MotifSets {
                motif: m,
                n_sites: group.len() as u64,
                obs,
                nulls,
            });
        }
        out
    }

    /// Adds another accumulator's sums (same configuration, disjoint shards).
    pub fn merge(&mut self, other: HeadAccumulator) -> Result<()> {
        if !self.cfg.same_data_as(&other.cfg) {
            return Err(Error::Invalid(
                "cannot merge head atlases computed with different settings".into(),
            ));
        }
        self.fingerprint.check_same(&other.fingerprint)?;
        self.shards = merge_shards(&self.shards, &other.shards)?;
        self.merge_sums(&other)?;
        Ok(())
    }

    pub(crate) fn merge_sums(&mut self, o: &HeadAccumulator) -> Result<()> {
        self.n_seqs += o.n_seqs;
        for (a, b) in self.heads.iter_mut().zip(&o.heads) {
            a.rows += b.rows;
            a.entropy += b.entropy;
            a.boundary += b.boundary;
            a.content_mass += b.content_mass;
            a.dist_bp += b.dist_bp;
            a.local += b.local;
        }
        self.red_seqs += o.red_seqs;
        for (a, b) in self.red.iter_mut().zip(&o.red) {
            *a += b;
        }
        for (m, f) in &o.focus {
            match self.focus.get_mut(m) {
                None => {
                    self.focus.insert(*m, f.clone());
                }
                Some(e) => {
                    e.n_seqs += f.n_seqs;
                    e.n_sites += f.n_sites;
                    for (a, b) in e.heads.iter_mut().zip(&f.heads) {
                        a.obs_recv += b.obs_recv;
                        a.obs_exp += b.obs_exp;
                        a.null_recv += b.null_recv;
                        a.null_exp += b.null_exp;
                        a.paired.merge(&b.paired);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the state to `path` (JSON) for a later [`merge`](Self::merge).
    pub fn save_partial(&self, path: &Path) -> Result<()> {
        super::write_partial(path, PARTIAL_FORMAT, PARTIAL_VERSION, self)
    }

    /// Reads a state written by [`save_partial`](Self::save_partial).
    pub fn load_partial(path: &Path) -> Result<Self> {
        let mut s: Self =
            super::read_partial(path, PARTIAL_FORMAT, PARTIAL_VERSION, "a head-atlas")?;
        s.importance = vec![None; s.heads.len()];
        let nh = s.cfg.n_layers * s.cfg.n_heads;
        if s.heads.len() != nh
            || s.red.len() != nh * nh
            || s.focus.values().any(|f| f.heads.len() != nh)
        {
            return Err(Error::Invalid(format!(
                "{}: partial state does not match its {} x {} heads",
                path.display(),
                s.cfg.n_layers,
                s.cfg.n_heads
            )));
        }
        Ok(s)
    }

    /// Writes the atlas to `out` and, when given, every focus row to `focus`, each whole
    /// or not at all (`-` is standard output). `heads` and `merge` both call this, so a
    /// merged run writes the bytes of a single one.
    pub fn write_tables(&self, out: &Path, focus: Option<&Path>) -> Result<()> {
        let names = &self.cfg.motif_names;
        let rows = self.finish();
        crate::io::output::write_file(out, |w| write_heads_tsv(w, &rows, names))?;
        if let Some(p) = focus {
            let f = self.finish_focus();
            crate::io::output::write_file(p, |w| write_focus_tsv(w, &f, names))?;
        }
        Ok(())
    }

    /// Motif focus of every head on every motif seen, q-values over all of them.
    pub fn finish_focus(&self) -> Vec<FocusRow> {
        let nh = self.heads.len();
        let mut rows = Vec::new();
        for (&m, f) in &self.focus {
            for hi in (0..nh).filter(|&hi| !self.cfg.is_pruned(hi)) {
                let s = &f.heads[hi];
                // Sequences, not sites or null placements, are the replicates: a one-sided
                // paired t-test of each sequence's enrichment over its own nulls, beyond
                // the margin.
                let p = s.paired.test_beyond(0.0).p_above(self.cfg.focus_margin);
                rows.push(FocusRow {
                    layer: hi / self.cfg.n_heads,
                    head: hi % self.cfg.n_heads,
                    motif: m,
                    n_seqs: f.n_seqs,
                    n_sites: f.n_sites,
                    enrichment: unfx(s.obs_recv) / unfx(s.obs_exp),
                    null_enrichment: unfx(s.null_recv) / unfx(s.null_exp),
                    p_value: p,
                    q_value: 1.0,
                });
            }
        }
        let q = bh(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>());
        for (r, q) in rows.iter_mut().zip(q) {
            r.q_value = q;
        }
        rows.sort_by_key(|r| (r.layer, r.head, r.motif));
        rows
    }

    /// The atlas: one row per head (pruned heads have none), layer-major.
    pub fn finish(&self) -> Vec<HeadRow> {
        let nh = self.heads.len();
        let focus = self.finish_focus();
        let mut best: Vec<Option<&FocusRow>> = vec![None; nh];
        for r in &focus {
            let hi = r.layer * self.cfg.n_heads + r.head;
            let better = match best[hi] {
                None => true,
                Some(b) => r
                    .p_value
                    .total_cmp(&b.p_value)
                    .then(b.enrichment.total_cmp(&r.enrichment))
                    .is_lt(),
            };
            if better {
                best[hi] = Some(r);
            }
        }
        (0..nh)
            .filter(|&hi| !self.cfg.is_pruned(hi))
            .map(|hi| {
                let s = &self.heads[hi];
                let rows = s.rows.max(1) as f64;
                let cm = unfx(s.content_mass);
                let (mut red, mut sim) = (f64::NAN, None);
                if self.red_seqs > 0 {
                    for j in (0..nh).filter(|&j| j != hi && !self.cfg.is_pruned(j)) {
                        let v = unfx(self.red[hi.max(j) * nh + hi.min(j)]) / self.red_seqs as f64;
                        if sim.is_none() || v > red {
                            red = v;
                            sim = Some((j / self.cfg.n_heads, j % self.cfg.n_heads));
                        }
                    }
                }
                let b = best[hi];
                let imp = self.importance.get(hi).copied().flatten();
                let mut row = HeadRow {
                    layer: hi / self.cfg.n_heads,
                    head: hi % self.cfg.n_heads,
                    n_seqs: self.n_seqs,
                    entropy: unfx(s.entropy) / rows,
                    mean_distance_bp: unfx(s.dist_bp) / cm,
                    local_fraction: unfx(s.local) / cm,
                    boundary_fraction: unfx(s.boundary) / rows,
                    top_motif: b.map(|r| r.motif),
                    top_motif_enrichment: b.map_or(f64::NAN, |r| r.enrichment),
                    top_motif_null_enrichment: b.map_or(f64::NAN, |r| r.null_enrichment),
                    top_motif_p: b.map_or(f64::NAN, |r| r.p_value),
                    top_motif_q: b.map_or(f64::NAN, |r| r.q_value),
                    motif_focus: b.is_some_and(|r| {
                        r.q_value <= self.cfg.focus_q && r.enrichment > r.null_enrichment
                    }),
                    redundancy: red,
                    most_similar_head: sim,
                    importance_dmetric: imp.map(|x| x.0),
                    importance_dpred: imp.and_then(|x| x.1),
                    prune_candidate: false,
                };
                row.prune_candidate = prune_flag(&row, &self.cfg.prune);
                row
            })
            .collect()
    }
}

/// Per-row statistics of one head's map, summed over its rows; filled row by row
/// while the prefix sums are built, so the map is read once.
#[derive(Default)]
pub(crate) struct RowSums {
    entropy: f64,
    boundary: f64,
    content_mass: f64,
    dist: f64,
    local: f64,
}

impl RowSums {
    /// Adds query row `q` (`prefix[k]` = sum of `row[..k]`).
    ///
    /// Uses 256-bit vectors where the CPU has AVX2. The lanes and the order of every
    /// addition are the same either way (and no FMA contraction), so the bits are too.
    #[inline]
    pub(crate) fn add_row(&mut self, geom: &TokenGeometry, q: usize, row: &[f32], prefix: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { self.add_row_avx2(geom, q, row, prefix) };
            return;
        }
        self.add_row_portable(geom, q, row, prefix);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_row_avx2(&mut self, geom: &TokenGeometry, q: usize, row: &[f32], prefix: &[f32]) {
        self.add_row_portable(geom, q, row, prefix);
    }

    #[inline(always)]
    fn add_row_portable(&mut self, geom: &TokenGeometry, q: usize, row: &[f32], prefix: &[f32]) {
        let n = row.len();
        let c = geom.content();
        let e = lane_sum(row, 0, |p, _| p_ln_p(p));
        if n > 1 {
            self.entropy += -(e as f64) / (n as f64).ln();
        }
        let content = (prefix[c.end] - prefix[c.start]) as f64;
        self.boundary += prefix[n] as f64 - content;
        if c.contains(&q) {
            self.content_mass += content;
            let qf = q as f32;
            self.dist += lane_sum(&row[c.clone()], c.start, |p, k| p * (k - qf).abs()) as f64;
            let w = geom.k / geom.stride;
            let lo = q.saturating_sub(w).max(c.start);
            let hi = (q + w + 1).min(c.end);
            self.local += (prefix[hi] - prefix[lo]) as f64;
        }
    }
}

/// Mean attention received per query by a token set, and what its coverage predicts.
#[inline]
fn focus_mass(sat: &Sat, set: &[Range<usize>], n: usize) -> (f64, f64) {
    let mut recv = 0.0;
    let mut ntok = 0;
    for r in set {
        recv += sat.received(r.clone());
        ntok += r.len();
    }
    (recv / n as f64, ntok as f64 / n as f64)
}

/// `sum f(x[i], index)` over a row in 8 independent f32 lanes, so it vectorises.
#[inline(always)]
fn lane_sum(x: &[f32], base: usize, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for (ci, c) in chunks.enumerate() {
        let b = (base + ci * 8) as f32;
        for j in 0..8 {
            acc[j] += f(c[j], b + j as f32);
        }
    }
    let tail_base = base + x.len() - rest.len();
    for (j, &v) in rest.iter().enumerate() {
        acc[j] += f(v, (tail_base + j) as f32);
    }
    acc.iter().sum()
}

/// Gram matrix of all heads' maps of one sequence, blocked so that a column strip of
/// every head stays in cache; lower triangle and diagonal filled. AVX2 where available,
/// with the same lanes and additions (so the same bits) as without.
fn gram(a: &SeqAttention) -> Vec<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { gram_avx2(a) };
    }
    gram_portable(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gram_avx2(a: &SeqAttention) -> Vec<f64> {
    gram_portable(a)
}

#[inline(always)]
fn gram_portable(a: &SeqAttention) -> Vec<f64> {
    let nh = a.n_layers * a.n_heads;
    let nn = a.n_tokens * a.n_tokens;
    let maps: Vec<&[f32]> = (0..nh)
        .map(|i| a.map(i / a.n_heads, i % a.n_heads))
        .collect();
    let mut g = vec![0.0f64; nh * nh];
    const STRIP: usize = 2048;
    let mut c0 = 0;
    while c0 < nn {
        let c1 = (c0 + STRIP).min(nn);
        for i in 0..nh {
            let xi = &maps[i][c0..c1];
            for j in 0..=i {
                let xj = &maps[j][c0..c1];
                g[i * nh + j] += dot(xi, xj) as f64;
            }
        }
        c0 = c1;
    }
    g
}

#[inline(always)]
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (cx, cy) = (x.chunks_exact(8), y.chunks_exact(8));
    let (rx, ry) = (cx.remainder(), cy.remainder());
    for (a, b) in cx.zip(cy) {
        for j in 0..8 {
            acc[j] += a[j] * b[j];
        }
    }
    for (a, b) in rx.iter().zip(ry) {
        acc[0] += a * b;
    }
    acc.iter().sum()
}

fn fmt_motif(m: Option<usize>, names: &[String]) -> String {
    match m {
        None => ".".into(),
        Some(i) => names.get(i).cloned().unwrap_or_else(|| i.to_string()),
    }
}

/// Writes the atlas as TSV with a header; motif indices become `motif_names`.
pub fn write_heads_tsv<W: Write>(
    w: &mut W,
    rows: &[HeadRow],
    motif_names: &[String],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::HEADS.header())?;
    let opt = |x: Option<f64>| x.map_or("NA".to_string(), |v| fmt_f(v, 6));
    for r in rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.layer,
            r.head,
            fmt_f(r.entropy, 4),
            fmt_f(r.mean_distance_bp, 2),
            fmt_f(r.local_fraction, 4),
            fmt_f(r.boundary_fraction, 4),
            fmt_motif(r.top_motif, motif_names),
            fmt_f(r.top_motif_enrichment, 4),
            fmt_p(r.top_motif_p),
            fmt_f(r.redundancy, 4),
            r.most_similar_head
                .map_or(".".to_string(), |(l, h)| format!("L{l}H{h}")),
            opt(r.importance_dmetric),
            opt(r.importance_dpred),
            r.prune_candidate as u8,
            r.n_seqs,
            fmt_f(r.top_motif_null_enrichment, 4),
            fmt_p(r.top_motif_q),
            r.motif_focus as u8,
        )?;
    }
    Ok(())
}

/// What `prune` ranks heads by, from one row of the table [`write_heads_tsv`] writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadTableRow {
    pub entropy: f64,
    pub redundancy: f64,
    /// `importance_dmetric`; `None` where the table says NA.
    pub importance: Option<f64>,
    pub prune_candidate: bool,
}

/// Reads back the head atlas from the file `path` ([`parse_heads_tsv`]).
pub fn read_heads_tsv(
    path: &Path,
) -> Result<std::collections::HashMap<crate::model::HeadId, HeadTableRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_heads_tsv(&text, path)
}

/// Reads back the head atlas from its text; `source` names it in errors, which give the
/// line and column. Columns are found by name, so tables with more (or reordered) columns
/// read the same.
pub fn parse_heads_tsv(
    text: &str,
    source: &Path,
) -> Result<std::collections::HashMap<crate::model::HeadId, HeadTableRow>> {
    let t = crate::io::tsv::Table::from_reader(text.as_bytes(), source)?;
    let col = |name: &'static str| crate::io::tables::HEADS.col(name);
    t.require(&[
        col("layer"),
        col("head"),
        col("entropy"),
        col("redundancy"),
        col("importance_dmetric"),
        col("prune_candidate"),
    ])
    .map_err(|e| match e {
        Error::Parse { path, line, msg } => Error::Parse {
            path,
            line,
            msg: format!("{msg}; expected the table of `cisformer heads`"),
        },
        e => e,
    })?;
    let mut out = std::collections::HashMap::new();
    for r in 0..t.len() {
        let head = crate::model::HeadId {
            layer: t.uint_req(r, col("layer"))?,
            head: t.uint_req(r, col("head"))?,
        };
        let row = HeadTableRow {
            entropy: t.num_req(r, col("entropy"))?,
            redundancy: t.num_req(r, col("redundancy"))?,
            importance: t.num(r, col("importance_dmetric"))?,
            prune_candidate: matches!(t.str(r, col("prune_candidate")), "1" | "true"),
        };
        if out.insert(head, row).is_some() {
            return Err(Error::parse(
                source,
                t.line(r),
                format!("head {}.{} listed twice", head.layer, head.head),
            ));
        }
    }
    Ok(out)
}

/// Writes the per-head, per-motif focus table as TSV.
pub fn write_focus_tsv<W: Write>(
    w: &mut W,
    rows: &[FocusRow],
    motif_names: &[String],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::FOCUS.header())?;
    for r in rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.layer,
            r.head,
            fmt_motif(Some(r.motif), motif_names),
            r.n_seqs,
            r.n_sites,
            fmt_f(r.enrichment, 4),
            fmt_f(r.null_enrichment, 4),
            fmt_p(r.p_value),
            fmt_p(r.q_value)
        )?;
    }
    Ok(())
}

/// What a bedGraph track of one head shows for each token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackValue {
    /// Mean attention the token receives over all queries.
    Received,
    /// Attention from one query token (0 is `[CLS]`) to each token.
    FromQuery(usize),
}

/// Writes one head's attention over one sequence as bedGraph, one interval per
/// token start (`stride` bp; the last token runs to its end). Genome coordinates
/// are used when `seq_name` is `chr:start-end` as written by `extract`.
pub fn write_head_bedgraph<W: Write>(
    w: &mut W,
    a: &SeqAttention,
    geom: &TokenGeometry,
    layer: usize,
    head: usize,
    seq_name: &str,
    value: TrackValue,
) -> Result<()> {
    if layer >= a.n_layers || head >= a.n_heads {
        return Err(Error::NoSuchHead {
            layer,
            head,
            n_layers: a.n_layers,
            n_heads: a.n_heads,
        });
    }
    a.check(a.n_layers, a.n_heads, geom)?;
    let n = a.n_tokens;
    let map = a.map(layer, head);
    let c = geom.content();
    let mut iv: Vec<(String, u64, u64, f64)> = Vec::with_capacity(c.len());
    for t in c.clone() {
        let v = match value {
            TrackValue::Received => (0..n).map(|q| map[q * n + t] as f64).sum::<f64>() / n as f64,
            TrackValue::FromQuery(q) if q < n => map[q * n + t] as f64,
            TrackValue::FromQuery(q) => {
                return Err(Error::Invalid(format!(
                    "query token {q} is outside the sequence ({n} tokens)"
                )));
            }
        };
        let (s, e) = geom.token_span(t).expect("content token");
        let e = if t + 1 == c.end {
            e
        } else {
            e.min(s + geom.stride)
        };
        let (chrom, gs, ge, _) = place(seq_name, Some(geom.seq_len_bp as u64), s, e, true);
        iv.push((chrom, gs, ge, v));
    }
    iv.sort_by_key(|x| x.1);
    let io = |e: std::io::Error| Error::io(seq_name, e);
    for (chrom, s, e, v) in iv {
        writeln!(w, "{chrom}\t{s}\t{e}\t{v:.6e}").map_err(io)?;
    }
    Ok(())
}

/// Writes every head's track of one sequence ([`TrackValue::Received`]), each after a
/// `track` line naming the sequence and head: the file `heads --dump` writes.
pub fn write_heads_bedgraph<W: Write>(
    w: &mut W,
    a: &SeqAttention,
    geom: &TokenGeometry,
    seq_name: &str,
) -> Result<()> {
    for layer in 0..a.n_layers {
        for head in 0..a.n_heads {
            writeln!(w, "track type=bedGraph name=\"{seq_name} L{layer}H{head}\"")
                .map_err(|e| Error::io(seq_name, e))?;
            write_head_bedgraph(w, a, geom, layer, head, seq_name, TrackValue::Received)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heads table read back by name; bad rows are parse errors naming line and column.
    #[test]
    fn the_heads_table_reads_back_and_names_bad_cells() {
        let cols: Vec<&str> = crate::io::tables::HEADS
            .header()
            .leak()
            .split('\t')
            .collect();
        let row = |layer: &str, entropy: &str| {
            cols.iter()
                .map(|c| match *c {
                    "layer" => layer,
                    "head" => "1",
                    "entropy" => entropy,
                    "redundancy" => "0.25",
                    "prune_candidate" => "1",
                    _ => "NA",
                })
                .collect::<Vec<_>>()
                .join("\t")
        };
        let text = format!(
            "\u{feff}{}\n{}\n{}\n",
            cols.join("\t"),
            row("0", "0.5"),
            row("1", "2")
        );
        let path = Path::new("heads.tsv");
        let got = parse_heads_tsv(&text, path).unwrap();
        let h = &got[&crate::model::HeadId { layer: 0, head: 1 }];
        assert_eq!(
            (h.entropy, h.redundancy, h.importance, h.prune_candidate),
            (0.5, 0.25, None, true)
        );
        assert_eq!(got.len(), 2);
        let fails =
            |text: String, want: &str, line: u64| match parse_heads_tsv(&text, path).unwrap_err() {
                Error::Parse { line: l, msg, .. } => {
                    assert_eq!(l, line, "{msg}");
                    assert!(msg.contains(want), "{msg}");
                }
                e => panic!("{e}"),
            };
        let header = cols.join("\t");
        fails(
            format!("{header}\n{}\n", row("0", "high")),
            "'entropy': 'high' is not a number",
            2,
        );
        fails(
            format!("{header}\n{}\n{}\n", row("0", "1"), row("0", "1")),
            "head 0.1 listed twice",
            3,
        );
        fails("layer\thead\n0\t1\n".into(), "missing column 'entropy'", 1);
    }

    fn random_attention(n: usize, seed: u64) -> SeqAttention {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut attn: Vec<f32> = (0..2 * 3 * n * n).map(|_| rng.random::<f32>()).collect();
        for row in attn.chunks_exact_mut(n) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        SeqAttention {
            seq_index: 0,
            n_tokens: n,
            n_layers: 2,
            n_heads: 3,
            attn,
        }
    }

    #[test]
    fn vector_paths_give_the_same_bits() {
        let geom = TokenGeometry {
            k: 5,
            stride: 1,
            n_specials_before: 1,
            seq_len_bp: 41,
            has_sep: true,
        };
        let a = random_attention(geom.n_tokens(), 3);
        let n = a.n_tokens;
        let (mut x, mut y) = (RowSums::default(), RowSums::default());
        for q in 0..n {
            let row = &a.map(1, 2)[q * n..(q + 1) * n];
            let prefix: Vec<f32> = std::iter::once(0.0)
                .chain(row.iter().scan(0.0, |s, v| {
                    *s += v;
                    Some(*s)
                }))
                .collect();
            x.add_row(&geom, q, row, &prefix);
            y.add_row_portable(&geom, q, row, &prefix);
        }
        let bits = |r: &RowSums| {
            [r.entropy, r.boundary, r.content_mass, r.dist, r.local].map(f64::to_bits)
        };
        assert_eq!(bits(&x), bits(&y));
        assert_eq!(gram(&a), gram_portable(&a));
    }

    /// Base-level tokens of a 100-bp sequence between `[CLS]` and `[SEP]`.
    fn base_level_100bp() -> TokenGeometry {
        TokenGeometry {
            k: 1,
            stride: 1,
            n_specials_before: 1,
            seq_len_bp: 100,
            has_sep: true,
        }
    }

    /// A head whose rows weigh motif 0's site tokens by `weight` (and per sequence a little
    /// more or less), every other token by 1.
    fn focus_p(weight: f32, margin: f64) -> f64 {
        let geom = base_level_100bp();
        let mut cfg = HeadConfig::new(1, 1);
        cfg.focus_margin = margin;
        let mut acc = HeadAccumulator::new(cfg);
        let sites = [Site {
            motif: 0,
            start: 40,
            end: 50,
            plus: true,
        }];
        let n = geom.n_tokens();
        let tokens = geom.tokens_overlapping(40, 50);
        for i in 0..60 {
            let w = weight * (1.0 + 0.05 * ((i % 7) as f32 - 3.0));
            let row: Vec<f32> = (0..n)
                .map(|t| if tokens.contains(&t) { w } else { 1.0 })
                .collect();
            let total: f32 = row.iter().sum();
            let attn = (0..n).flat_map(|_| row.iter().map(|v| v / total)).collect();
            let a = SeqAttention {
                seq_index: i,
                n_tokens: n,
                n_layers: 1,
                n_heads: 1,
                attn,
            };
            acc.add(&a, &sites, &geom).unwrap();
        }
        let rows = acc.finish_focus();
        assert_eq!(rows.len(), 1);
        rows[0].p_value
    }

    #[test]
    fn focus_must_exceed_the_margin() {
        // Sites that get ~1.45x uniform attention (an excess of ~0.5 share over background):
        // consistent, so a test against 0 calls it, but below the default margin of 1.
        assert!(focus_p(1.5, 0.0) < 1e-10);
        assert!(focus_p(1.5, DEFAULT_FOCUS_MARGIN) > 0.5);
        // A head that gives the sites 5x the weight is focused whatever the margin.
        assert!(focus_p(5.0, DEFAULT_FOCUS_MARGIN) < 1e-10);
    }

    #[test]
    fn focus_counts_only_sites_clear_of_other_motifs() {
        let geom = base_level_100bp();
        let acc = HeadAccumulator::new(HeadConfig::new(1, 1));
        let site = |motif, start, end| Site {
            motif,
            start,
            end,
            plus: true,
        };
        // Motif 1's first site sits inside motif 0's: neither counts there.
        let sites = [
            site(0, 10, 20),
            site(1, 15, 22),
            site(1, 40, 47),
            site(2, 60, 66),
        ];
        let sets = acc.motif_sets(0, &sites, &geom);
        let got: Vec<(usize, u64)> = sets.iter().map(|m| (m.motif, m.n_sites)).collect();
        assert_eq!(got, [(1, 1), (2, 1)]);
        // Null placements still avoid every site, the overlapping ones included.
        for m in &sets {
            for null in &m.nulls {
                for r in null {
                    assert!(r.end <= 11 || r.start >= 23, "{r:?}");
                }
            }
        }
    }
}
