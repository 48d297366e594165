//! Co-attention interaction tables: which pairs of motif sites each head links.
//!
//! For every head and every pair of non-overlapping sites in a sequence, the
//! co-attention is the symmetrised mean attention between their token spans. Its
//! null comes from the same sequence: span pairs of the same token lengths at the same
//! distance, shifted to places that hold neither motif, so distance, GC and local
//! attention habits cancel. A head that attends to motif sites in general makes almost
//! every pair of sites beat that null, so a second, site-matched test compares each
//! pair's interaction contrast (see [`span_values`]) with the other motif pairs under
//! the same head. Statistics per (motif_a, motif_b, layer, head) are integer
//! sums and histograms: memory does not grow with the number of sequences, and any
//! split into shards or threads merges to the same bytes.

use std::{collections::BTreeMap, io::Write, ops::Range, path::Path};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    Fingerprint, Sat, SeqAttention, Shard, Site, TokenGeometry, merge_shards, shards_complete,
};
use crate::io::frame::place;
use crate::seq::Orientation;
use crate::stats::{
    Hist, MeanSums, MeanTest, acat, bh, bin_of, fmt_f, fmt_p, fx, mann_whitney, unfx,
};
pub use crate::validate::causal::CausalKind;
use crate::validate::causal::{DEFAULT_MIN_EFFECT_SD, PairSums};
use crate::{Error, Result};

/// What the per-head token×token values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// Attention probabilities.
    Attention,
    /// Attention × gradient of the prediction (activity-aware relevance).
    AttnGrad,
}

impl Score {
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Attention => "attention",
            Score::AttnGrad => "attn_grad",
        }
    }
}

/// What orders the rows of the interaction table (and the pairs of the per-pair summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Mann–Whitney AUC against the null (an effect size: the chance that a site pair
    /// out-scores a matched null pair), ties by p-value. Unlike the p-value it does not
    /// grow with the number of pairs, so a small but ubiquitous bias cannot outrank a
    /// strong, specific link.
    Auc,
    /// The rank test's p-value (per-pair rows: the ACAT-combined p), ties by effect.
    PValue,
    /// The AUC's one-sided 95% lower confidence bound (Hanley–McNeil standard error): an
    /// effect size that also asks for evidence, so a handful of chance pairs with a high
    /// AUC does not outrank a link seen in hundreds of sequences. The default: of the three
    /// it recovers planted pairs best while keeping them above decoys (bench/recovery.sh).
    AucLower,
    /// The causal effect's strength (the end of its 95% interval nearest 0, see
    /// [`Causal::strength`]: an effect size that also asks for evidence), then the
    /// calibrated `p_value`, then `head_p` (which orders a pair's heads). Not the p-value
    /// first: among pairs that are not called it would put the pairs with the least data
    /// first. On a model trained with decoy pairs whose members matter on their own, the
    /// causal strength puts the cooperative pairs first where attention scores rank a decoy
    /// first (docs/calibration.md).
    #[default]
    Joint,
    /// Attention alone: `max(distance_p, site_p)`, ties by the site-matched AUC (the
    /// default before the causal test). It ranks pairs a head links specifically, whether
    /// or not the model's output depends on them together; decoys whose members matter on
    /// their own can come first.
    Site,
}

impl RankBy {
    pub fn as_str(self) -> &'static str {
        match self {
            RankBy::Auc => "auc",
            RankBy::PValue => "p_value",
            RankBy::AucLower => "auc_lower",
            RankBy::Joint => "joint",
            RankBy::Site => "site",
        }
    }
}

/// Options of the interaction analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InteractionConfig {
    pub n_layers: usize,
    pub n_heads: usize,
    /// Seeds the choice of null positions (with each sequence's index).
    pub seed: u64,
    /// Distance-matched null span pairs drawn per observed site pair.
    pub null_per_pair: usize,
    /// Rows with fewer site pairs are left out of the table (and of the q-values).
    pub min_pairs: u64,
    /// Site pairs further apart (gap in bp) are ignored.
    pub max_distance: u64,
    /// Optional motif → cluster map: pairs are counted per cluster, and names given
    /// to the writers are then cluster names.
    pub cluster: Option<Vec<usize>>,
    /// How many of the strongest individual site pairs to keep for BEDPE.
    pub top_site_pairs: usize,
    /// Motif names (for the tables `merge` writes from partial files alone).
    #[serde(default)]
    pub motif_names: Vec<String>,
    /// Row order of the tables.
    #[serde(default)]
    pub rank_by: RankBy,
    /// The causal test behind `p_value`.
    #[serde(default)]
    pub causal: CausalKind,
    /// The smallest causal effect that counts, in standard deviations of the model's
    /// predictions over the sequences tested (the interval null's margin).
    #[serde(default = "default_min_effect_sd")]
    pub min_effect_sd: f64,
}

fn default_min_effect_sd() -> f64 {
    DEFAULT_MIN_EFFECT_SD
}

impl InteractionConfig {
    pub fn new(n_layers: usize, n_heads: usize) -> Self {
        InteractionConfig {
            n_layers,
            n_heads,
            seed: 1,
            null_per_pair: 8,
            min_pairs: 5,
            max_distance: u64::MAX,
            cluster: None,
            top_site_pairs: 1000,
            motif_names: Vec::new(),
            rank_by: RankBy::default(),
            causal: CausalKind::default(),
            min_effect_sd: DEFAULT_MIN_EFFECT_SD,
        }
    }

    fn same_data_as(&self, o: &InteractionConfig) -> bool {
        let key = |c: &InteractionConfig| {
            (
                c.n_layers,
                c.n_heads,
                c.seed,
                c.null_per_pair,
                c.max_distance,
                c.cluster.clone(),
                c.top_site_pairs,
                c.motif_names.clone(),
            )
        };
        key(self) == key(o)
    }

    /// The motif or cluster id that pairs of `motif` are counted under.
    pub fn cluster_of(&self, motif: usize) -> usize {
        match &self.cluster {
            Some(c) => c.get(motif).copied().unwrap_or(motif),
            None => motif,
        }
    }
}

/// One row of the interaction table: a motif pair seen by one head.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionRow {
    pub rank: usize,
    pub score: Score,
    /// Motif (or cluster) indices with `motif_a <= motif_b`.
    pub motif_a: usize,
    pub motif_b: usize,
    pub layer: usize,
    pub head: usize,
    pub n_pairs: u64,
    pub n_seqs: u64,
    /// Mean symmetrised attention between the two sites' tokens.
    pub co_attention: f64,
    /// Mean over the distance-matched null span pairs.
    pub background: f64,
    /// log2(co_attention / background).
    pub effect: f64,
    /// The row's test, with the sequence as the unit: the intersection–union
    /// `max(head_p, causal_p)`, small only when this head links the two motifs' sites
    /// *and* the model's output depends on their arrangement (or on both together, see
    /// [`CausalKind`]).
    pub p_value: f64,
    /// Benjamini–Hochberg of `p_value` over all rows of the same score kind.
    pub q_value: f64,
    /// t-test over sequences that the pair's scores differ from their distance-matched
    /// null spans (each sequence's mean excess is one value): one-sided (above) for
    /// attention, two-sided for attention × gradient, whose sign is the direction of the
    /// output's change.
    pub head_p: f64,
    /// One-sided Mann–Whitney p that site pairs exceed their nulls, every site pair and
    /// null span counted as a replicate: descriptive only (it grows with the number of
    /// pairs and calls nearly any pair of sites a salient head attends to).
    pub distance_p: f64,
    /// The motif pair's causal test (the same in every head's row).
    pub causal: Causal,
    /// Probability that a site pair beats a null pair (ties count half).
    pub auc: f64,
    /// One-sided 95% lower confidence bound of `auc` (see [`RankBy::AucLower`]).
    pub auc_lower: f64,
    /// Mean per-sequence interaction contrast: how much more the two sites attend to each
    /// other than each attends to, and is attended by, the other's null span (natural log
    /// for attention; 0 for a head that attends to motif sites in general).
    pub contrast: f64,
    /// Site-matched test: the chance that this pair's per-sequence contrast beats that of
    /// another motif pair under the same head (ties half), and its one-sided p-value.
    pub site_auc: f64,
    pub site_p: f64,
    /// The same as `p_value` and `q_value` (the names tables had before the test was
    /// calibrated; kept so that older readers find them).
    pub joint_p: f64,
    pub joint_q: f64,
    /// Median gap between the sites in bp (the lower median).
    pub median_distance_bp: u64,
    /// Orientation most enriched over chance (tandem is expected twice as often as
    /// convergent or divergent), read left to right along the sequence.
    pub orientation: Orientation,
    /// Counts of tandem, convergent and divergent pairs.
    pub orientation_counts: [u64; 3],
}

/// One motif pair summarised over all heads.
#[derive(Clone, Debug, PartialEq)]
pub struct PairSummaryRow {
    pub rank: usize,
    pub score: Score,
    pub motif_a: usize,
    pub motif_b: usize,
    pub n_pairs: u64,
    pub n_seqs: u64,
    pub best_layer: usize,
    pub best_head: usize,
    pub best_effect: f64,
    pub best_p: f64,
    /// Rank of the best head's row in the interaction table.
    pub best_rank: usize,
    /// Cauchy (ACAT) combination of every head's `head_p`: valid whatever the
    /// dependence between heads, so picking the best head costs what it should.
    pub combined_p: f64,
    /// The pair's causal test.
    pub causal: Causal,
    /// `max(combined_p, causal_p)`: some head links the sites and the model's output
    /// depends on them together.
    pub p_value: f64,
    /// Benjamini–Hochberg of `p_value` over the pairs of the same score kind.
    pub q_value: f64,
    pub median_distance_bp: u64,
    pub orientation: Orientation,
}

/// A motif pair's causal statistics, means over sequences with 95% t-intervals; their
/// p-values test the interval null `|mean| <= margin`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Causal {
    pub epistasis: MeanTest,
    pub specific: MeanTest,
    /// The smallest effect that counts: `min_effect_sd` × the standard deviation of the
    /// model's predictions over the sequences tested.
    pub margin: f64,
    /// Which of the two the p-value tests.
    pub kind: CausalKind,
    /// The gap band the tests are from (see [`crate::validate::causal::GAP_BANDS`]).
    pub band: Option<usize>,
    /// The p-value of the test chosen by [`CausalKind`], times the bands tested.
    pub p: f64,
}

impl Causal {
    /// The test chosen by `kind`.
    fn chosen(&self) -> &MeanTest {
        match self.kind {
            CausalKind::Specific => &self.specific,
            CausalKind::Epistasis | CausalKind::Cooperative => &self.epistasis,
        }
    }

    /// The end of the chosen effect's 95% interval nearest 0, as a magnitude: positive when
    /// the interval excludes 0 (on either side), negative by how far it straddles 0. An
    /// effect size that also asks for evidence; NaN without an interval.
    pub fn strength(&self) -> f64 {
        let t = self.chosen();
        match self.kind {
            // Only a positive effect counts, so the lower end alone.
            CausalKind::Cooperative => t.lo,
            CausalKind::Specific | CausalKind::Epistasis => t.lo.max(-t.hi),
        }
    }

    fn of(c: Option<&PairSums>, kind: CausalKind, min_effect_sd: f64) -> Causal {
        let t = c.copied().unwrap_or_default().test(min_effect_sd, kind);
        Causal {
            epistasis: t.epistasis,
            specific: t.specific,
            margin: t.margin,
            kind,
            band: t.band,
            p: t.p,
        }
    }
}

/// One strongly co-attended site pair, for BEDPE.
#[derive(Clone, Debug, PartialEq)]
pub struct SitePair {
    pub score: Score,
    pub seq_index: usize,
    pub layer: usize,
    pub head: usize,
    /// The left and right site along the sequence (original motif indices).
    pub left: Site,
    pub right: Site,
    pub co_attention: f64,
    pub background: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct HeadPairStats {
    sum_obs: i128,
    sum_null: i128,
    n_null: u64,
    obs: Hist,
    null: Hist,
    /// Per sequence: the mean interaction contrast of its site pairs (see
    /// [`span_values`]); sequences, not site pairs, are the units of the site-matched
    /// test, since one sequence's pairs share its sites.
    contrast: Hist,
    sum_contrast: i128,
    n_contrast: u64,
    /// Per sequence: the mean excess of the site pairs' scores over their
    /// distance-matched nulls (the sequence-level distance-matched test).
    excess_sums: MeanSums,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct PairStats {
    n_pairs: u64,
    n_seqs: u64,
    /// Tandem, convergent, divergent.
    orient: [u64; 3],
    /// Gap in bp → count: an exact median in memory bounded by sequence length.
    dist: BTreeMap<u64, u64>,
    heads: Vec<HeadPairStats>,
}

/// A kept site pair; values in fixed point so ordering and merging are exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Hit {
    excess: i128,
    score: Score,
    seq_index: usize,
    left: Site,
    right: Site,
    layer: usize,
    head: usize,
    co: i128,
    bg: i128,
}

impl Hit {
    fn order(&self, o: &Hit) -> std::cmp::Ordering {
        o.excess
            .cmp(&self.excess)
            .then(self.score.cmp(&o.score))
            .then(self.seq_index.cmp(&o.seq_index))
            .then(self.left.cmp(&o.left))
            .then(self.right.cmp(&o.right))
            .then(self.layer.cmp(&o.layer))
            .then(self.head.cmp(&o.head))
    }
}

type Key = (Score, usize, usize);

/// Streaming, mergeable co-attention statistics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InteractionAccumulator {
    cfg: InteractionConfig,
    /// What the sums were computed from (compared by [`merge`](Self::merge)).
    fingerprint: Fingerprint,
    shards: Vec<Shard>,
    n_seqs: u64,
    #[serde(with = "map_as_seq")]
    pairs: BTreeMap<Key, PairStats>,
    #[serde(with = "map_as_seq")]
    causal: BTreeMap<(usize, usize), PairSums>,
    hits: TopHits,
}

mod map_as_seq {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// One sequence's per-head contrast and excess sums of a motif pair, and its site pairs.
type SeqSums = (Vec<f64>, Vec<f64>, u32);

/// One site pair of a sequence and where its nulls go.
pub(crate) struct PairPlan {
    key: (usize, usize),
    left: Site,
    right: Site,
    a: Range<usize>,
    b: Range<usize>,
    /// Start tokens of null left spans; the null right span is shifted by the same amount.
    nulls: Vec<usize>,
    gap: u64,
    orient: usize,
}

pub(crate) const PARTIAL_FORMAT: &str = "cisformer-interactions-partial";
/// 4: the state carries a [`Fingerprint`].
const PARTIAL_VERSION: u32 = 5;

fn orient_index(o: Orientation) -> usize {
    match o {
        Orientation::Tandem => 0,
        Orientation::Convergent => 1,
        Orientation::Divergent => 2,
        Orientation::Any => 0,
    }
}

/// The orientation most enriched over chance. Tandem covers two of the four strand
/// combinations (`++`, `--`), so by chance it is twice as frequent as convergent or
/// divergent; the raw mode called nearly every pair tandem (CEBPA–NFKB1, planted
/// convergent: 724 tandem, 567 convergent, 153 divergent). Ties go to tandem.
fn dominant_orientation(counts: [u64; 3]) -> Orientation {
    let weight = [1, 2, 2];
    let best = (0..3)
        .max_by_key(|&i| (counts[i] * weight[i], 3 - i))
        .unwrap_or(0);
    ORIENTS[best]
}

const ORIENTS: [Orientation; 3] = [
    Orientation::Tandem,
    Orientation::Convergent,
    Orientation::Divergent,
];

impl InteractionAccumulator {
    /// An empty accumulator for the whole input ([`Shard::ALL`]).
    pub fn new(cfg: InteractionConfig) -> Self {
        InteractionAccumulator {
            cfg,
            fingerprint: Fingerprint::default(),
            shards: vec![Shard::ALL],
            n_seqs: 0,
            pairs: BTreeMap::new(),
            causal: BTreeMap::new(),
            hits: TopHits::default(),
        }
    }

    pub fn config(&self) -> &InteractionConfig {
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

    /// Adds one sequence's attention.
    pub fn add(&mut self, a: &SeqAttention, sites: &[Site], geom: &TokenGeometry) -> Result<()> {
        self.add_scores(Score::Attention, a, sites, geom)
    }

    /// Adds one sequence's per-head scores of kind `score` (attention, or attention ×
    /// gradient in the same layout). Null positions depend only on the sequence, so
    /// both kinds of one sequence are compared on the same nulls.
    pub fn add_scores(
        &mut self,
        score: Score,
        a: &SeqAttention,
        sites: &[Site],
        geom: &TokenGeometry,
    ) -> Result<()> {
        super::add_sequence_scored(None, Some((self, score)), a, sites, geom)
    }

    /// Adds a batch of sequences in parallel; the result equals adding them one by one.
    pub fn add_batch(&mut self, items: &[(&SeqAttention, &[Site], &TokenGeometry)]) -> Result<()> {
        self.add_batch_scores(Score::Attention, items)
    }

    /// [`add_batch`](Self::add_batch) for scores of kind `score`.
    pub fn add_batch_scores(
        &mut self,
        score: Score,
        items: &[(&SeqAttention, &[Site], &TokenGeometry)],
    ) -> Result<()> {
        let part = self.batch_part(score, items)?;
        self.merge_batch(part)
    }

    /// A batch's sums on their own (in parallel), for [`merge_batch`](Self::merge_batch):
    /// `add_batch_scores` in two steps, so that the merging can run on another thread.
    pub fn batch_part(
        &self,
        score: Score,
        items: &[(&SeqAttention, &[Site], &TokenGeometry)],
    ) -> Result<InteractionAccumulator> {
        let empty = InteractionAccumulator::new(self.cfg.clone());
        items
            .par_iter()
            .try_fold(
                || empty.clone(),
                |mut acc, (a, s, g)| acc.add_scores(score, a, s, g).map(|_| acc),
            )
            .try_reduce(
                || empty.clone(),
                |mut x, y| {
                    x.merge_sums(y)?;
                    Ok(x)
                },
            )
    }

    /// Adds a [`batch_part`](Self::batch_part) of this accumulator's configuration.
    pub fn merge_batch(&mut self, part: InteractionAccumulator) -> Result<()> {
        self.merge_sums(part)
    }

    /// Site pairs of one sequence, their token spans and distance-matched null positions.
    pub(crate) fn plan(
        &self,
        seq_index: usize,
        sites: &[Site],
        geom: &TokenGeometry,
    ) -> Vec<PairPlan> {
        let mut sorted: Vec<Site> = sites
            .iter()
            .copied()
            .filter(|s| s.start < s.end && s.end <= geom.seq_len_bp)
            .collect();
        sorted.sort_by_key(|s| (s.start, s.end, s.motif, s.plus));
        sorted.dedup();
        let n = geom.n_tokens();
        let c = geom.content();
        // Per cluster: prefix count of tokens covered by its sites.
        let mut forbidden: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for s in &sorted {
            let f = forbidden
                .entry(self.cfg.cluster_of(s.motif))
                .or_insert_with(|| vec![0; n + 1]);
            for t in geom.tokens_overlapping(s.start, s.end) {
                f[t + 1] = 1;
            }
        }
        for f in forbidden.values_mut() {
            for t in 0..n {
                f[t + 1] += f[t];
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(seq_index as u64);
        let mut plans = Vec::new();
        let mut valid = Vec::new();
        for (i, x) in sorted.iter().enumerate() {
            for y in &sorted[i + 1..] {
                if y.start < x.end {
                    continue; // overlapping sites
                }
                let gap = (y.start - x.end) as u64;
                if gap > self.cfg.max_distance {
                    continue;
                }
                let (a, b) = (
                    geom.tokens_overlapping(x.start, x.end),
                    geom.tokens_overlapping(y.start, y.end),
                );
                if a.is_empty() || b.is_empty() {
                    continue;
                }
                let (cx, cy) = (self.cfg.cluster_of(x.motif), self.cfg.cluster_of(y.motif));
                let (fa, fb) = (&forbidden[&cx], &forbidden[&cy]);
                let hits = |r: Range<usize>| fa[r.end] - fa[r.start] + fb[r.end] - fb[r.start];
                let (la, lb, delta) = (a.len(), b.len(), b.start - a.start);
                valid.clear();
                let last = c.end.saturating_sub(delta + lb);
                for p in c.start..=last {
                    if p + la > c.end || p + delta + lb > c.end {
                        break;
                    }
                    if hits(p..p + la) == 0 && hits(p + delta..p + delta + lb) == 0 {
                        valid.push(p);
                    }
                }
                let k = self.cfg.null_per_pair.min(valid.len());
                for j in 0..k {
                    let r = rng.random_range(j..valid.len());
                    valid.swap(j, r);
                }
                let mut nulls = valid[..k].to_vec();
                nulls.sort_unstable();
                plans.push(PairPlan {
                    key: (cx.min(cy), cx.max(cy)),
                    left: *x,
                    right: *y,
                    a,
                    b,
                    nulls,
                    gap,
                    orient: orient_index(Orientation::of(x.plus, y.plus)),
                });
            }
        }
        plans
    }

    /// Folds one sequence's span values (head-major, see [`span_values`]) into the sums.
    pub(crate) fn record(
        &mut self,
        score: Score,
        seq_index: usize,
        n: usize,
        plan: &[PairPlan],
        vals: &[f64],
    ) -> Result<()> {
        self.n_seqs += 1;
        let nh = self.cfg.n_layers * self.cfg.n_heads;
        let per_head: usize = plan.iter().map(|p| 2 + p.nulls.len()).sum();
        let nf = n as f64;
        let mut seen: Vec<(usize, usize)> = Vec::new();
        // Per motif pair: this sequence's contrast and excess sums per head, and its count.
        let mut per_seq: BTreeMap<(usize, usize), SeqSums> = BTreeMap::new();
        let mut off = 0;
        for p in plan {
            let st = self
                .pairs
                .entry((score, p.key.0, p.key.1))
                .or_insert_with(|| PairStats {
                    heads: vec![HeadPairStats::default(); nh],
                    ..Default::default()
                });
            st.n_pairs += 1;
            st.orient[p.orient] += 1;
            *st.dist.entry(p.gap).or_insert(0) += 1;
            if !seen.contains(&p.key) {
                seen.push(p.key);
                st.n_seqs += 1;
            }
            let m = p.nulls.len();
            // This sequence's contrast sums per head for the pair's motifs, and its count.
            let mut contrast = (m > 0).then(|| {
                let e = per_seq
                    .entry(p.key)
                    .or_insert_with(|| (vec![0.0; nh], vec![0.0; nh], 0));
                e.2 += 1;
                (&mut e.0, &mut e.1)
            });
            for hi in 0..nh {
                let v = &vals[hi * per_head + off..hi * per_head + off + 2 + m];
                let hs = &mut st.heads[hi];
                hs.sum_obs += fx(v[0]);
                hs.obs.add(bin_of(v[0] * nf))?;
                let mut nsum = 0.0;
                for &u in &v[1..=m] {
                    hs.sum_null += fx(u);
                    hs.null.add(bin_of(u * nf))?;
                    nsum += u;
                }
                hs.n_null += m as u64;
                if let Some((sums, excess)) = contrast.as_mut() {
                    sums[hi] += v[m + 1];
                    excess[hi] += v[0] - nsum / m as f64;
                }
                if m > 0 && self.cfg.top_site_pairs > 0 {
                    let (co, bg) = (fx(v[0]), fx(nsum / m as f64));
                    if self.hits.floor.is_some_and(|f| co - bg < f) {
                        continue;
                    }
                    let hit = Hit {
                        excess: co - bg,
                        score,
                        seq_index,
                        left: p.left,
                        right: p.right,
                        layer: hi / self.cfg.n_heads,
                        head: hi % self.cfg.n_heads,
                        co,
                        bg,
                    };
                    self.hits.push(hit, self.cfg.top_site_pairs);
                }
            }
            off += 2 + m;
        }
        for (key, (sums, excess, c)) in per_seq {
            let st = self
                .pairs
                .get_mut(&(score, key.0, key.1))
                .expect("recorded above");
            for ((hs, v), x) in st.heads.iter_mut().zip(sums).zip(excess) {
                let mean = v / c as f64;
                hs.contrast.add(bin_of(mean))?;
                hs.sum_contrast += fx(mean);
                hs.n_contrast += 1;
                hs.excess_sums.add(x / c as f64);
            }
        }
        Ok(())
    }

    /// Adds one sequence's causal values (see [`crate::validate::causal`]); keys are motif
    /// (or cluster) pairs, smaller first. Call it once per sequence, whatever the scores.
    pub fn add_causal(&mut self, seq: &crate::validate::causal::SeqValues) {
        for v in &seq.pairs {
            self.causal.entry(v.key).or_default().add(seq.native, v);
        }
    }

    /// Adds another accumulator's sums (same configuration, disjoint shards).
    pub fn merge(&mut self, other: InteractionAccumulator) -> Result<()> {
        if !self.cfg.same_data_as(&other.cfg) {
            return Err(Error::Invalid(
                "cannot merge interaction tables computed with different settings".into(),
            ));
        }
        self.fingerprint.check_same(&other.fingerprint)?;
        self.shards = merge_shards(&self.shards, &other.shards)?;
        self.merge_sums(other)?;
        Ok(())
    }

    pub(crate) fn merge_sums(&mut self, o: InteractionAccumulator) -> Result<()> {
        self.n_seqs += o.n_seqs;
        for (k, v) in o.pairs {
            match self.pairs.get_mut(&k) {
                None => {
                    // A copy, not the moved value: exact-size, and allocated by the merging
                    // thread rather than the batch worker that built it, so what lives for
                    // the whole run stays with the run-long sums (see `cli::interactions`).
                    self.pairs.insert(k, v.clone());
                }
                Some(e) => {
                    e.n_pairs += v.n_pairs;
                    e.n_seqs += v.n_seqs;
                    for i in 0..3 {
                        e.orient[i] += v.orient[i];
                    }
                    for (d, c) in v.dist {
                        *e.dist.entry(d).or_insert(0) += c;
                    }
                    for (a, b) in e.heads.iter_mut().zip(&v.heads) {
                        a.sum_obs += b.sum_obs;
                        a.sum_null += b.sum_null;
                        a.n_null += b.n_null;
                        a.obs.merge(&b.obs)?;
                        a.null.merge(&b.null)?;
                        a.contrast.merge(&b.contrast)?;
                        a.sum_contrast += b.sum_contrast;
                        a.n_contrast += b.n_contrast;
                        a.excess_sums.merge(&b.excess_sums);
                    }
                }
            }
        }
        for (k, c) in o.causal {
            self.causal.entry(k).or_default().merge(&c);
        }
        for h in o.hits.hits {
            self.hits.push(h, self.cfg.top_site_pairs);
        }
        self.hits.trim(self.cfg.top_site_pairs);
        Ok(())
    }

    /// Writes the state to `path` (JSON) for a later [`merge`](Self::merge).
    pub fn save_partial(&self, path: &Path) -> Result<()> {
        let mut me = self.clone();
        me.hits.trim(me.cfg.top_site_pairs);
        super::write_partial(path, PARTIAL_FORMAT, PARTIAL_VERSION, &me)
    }

    /// Reads a state written by [`save_partial`](Self::save_partial).
    pub fn load_partial(path: &Path) -> Result<Self> {
        let s: Self =
            super::read_partial(path, PARTIAL_FORMAT, PARTIAL_VERSION, "an interactions")?;
        let nh = s.cfg.n_layers * s.cfg.n_heads;
        if s.pairs.values().any(|v| {
            v.heads.len() != nh
                || v.heads
                    .iter()
                    .any(|h| !h.obs.is_valid() || !h.null.is_valid())
        }) {
            return Err(Error::Invalid(format!(
                "{}: partial state does not match its {} x {} heads",
                path.display(),
                s.cfg.n_layers,
                s.cfg.n_heads
            )));
        }
        Ok(s)
    }

    /// The ranked table: rows with at least `min_pairs` site pairs, best first.
    pub fn finish(&self) -> Vec<InteractionRow> {
        let mut rows = Vec::new();
        // Site-matched null: per (score, head), the contrasts of every motif pair pooled;
        // each pair is tested against the pool less itself.
        let nh = self.cfg.n_layers * self.cfg.n_heads;
        let mut pool: BTreeMap<Score, Vec<Hist<u64>>> = BTreeMap::new();
        for (&(score, _, _), st) in &self.pairs {
            let p = pool
                .entry(score)
                .or_insert_with(|| vec![Hist::default(); nh]);
            for (hi, hs) in st.heads.iter().enumerate() {
                p[hi]
                    .merge(&hs.contrast)
                    .expect("u64 pools of u32 counts cannot overflow");
            }
        }
        for (&(score, a, b), st) in &self.pairs {
            if st.n_pairs < self.cfg.min_pairs {
                continue;
            }
            let med = lower_median(&st.dist);
            let orientation = dominant_orientation(st.orient);
            for (hi, hs) in st.heads.iter().enumerate() {
                let co = unfx(hs.sum_obs) / st.n_pairs as f64;
                let bg = if hs.n_null > 0 {
                    unfx(hs.sum_null) / hs.n_null as f64
                } else {
                    f64::NAN
                };
                let effect = if co > 0.0 && bg > 0.0 {
                    (co / bg).log2()
                } else {
                    f64::NAN
                };
                let (distance_p, auc) = mann_whitney(&hs.obs, &hs.null);
                // Attention can only link sites by exceeding its null; attention ×
                // gradient links them whichever the sign (a link that lowers the output).
                let head_p = match score {
                    Score::Attention => hs.excess_sums.test().p_greater(),
                    Score::AttnGrad => hs.excess_sums.test().p,
                };
                let causal = Causal::of(
                    self.causal.get(&(a, b)),
                    self.cfg.causal,
                    self.cfg.min_effect_sd,
                );
                let p = head_p.max(causal.p);
                let others = pool[&score][hi].minus(&hs.contrast);
                let (site_p, site_auc) = mann_whitney(&hs.contrast, &others);
                let contrast = if hs.n_contrast > 0 {
                    unfx(hs.sum_contrast) / hs.n_contrast as f64
                } else {
                    f64::NAN
                };
                rows.push(InteractionRow {
                    contrast,
                    site_auc,
                    site_p,
                    joint_p: p,
                    joint_q: 1.0,
                    head_p,
                    distance_p,
                    causal,
                    rank: 0,
                    score,
                    motif_a: a,
                    motif_b: b,
                    layer: hi / self.cfg.n_heads,
                    head: hi % self.cfg.n_heads,
                    n_pairs: st.n_pairs,
                    n_seqs: st.n_seqs,
                    co_attention: co,
                    background: bg,
                    effect,
                    p_value: p,
                    q_value: 1.0,
                    auc,
                    auc_lower: auc_lower_bound(auc, st.n_pairs, hs.n_null),
                    median_distance_bp: med,
                    orientation,
                    orientation_counts: st.orient,
                });
            }
        }
        for score in [Score::Attention, Score::AttnGrad] {
            let idx: Vec<usize> = (0..rows.len())
                .filter(|&i| rows[i].score == score)
                .collect();
            let q = bh(&idx.iter().map(|&i| rows[i].p_value).collect::<Vec<_>>());
            for (&i, q) in idx.iter().zip(q) {
                rows[i].q_value = q;
                rows[i].joint_q = q;
            }
        }
        let rank_by = self.cfg.rank_by;
        rows.sort_by(|x, y| {
            let first = match rank_by {
                RankBy::Auc => {
                    desc_nan_last(x.auc, y.auc).then(x.distance_p.total_cmp(&y.distance_p))
                }
                RankBy::PValue => x.distance_p.total_cmp(&y.distance_p),
                RankBy::AucLower => desc_nan_last(x.auc_lower, y.auc_lower)
                    .then(x.distance_p.total_cmp(&y.distance_p)),
                RankBy::Joint => desc_nan_last(x.causal.strength(), y.causal.strength())
                    .then(x.p_value.total_cmp(&y.p_value))
                    .then(x.head_p.total_cmp(&y.head_p))
                    .then(desc_nan_last(x.site_auc, y.site_auc)),
                RankBy::Site => x
                    .distance_p
                    .max(x.site_p)
                    .total_cmp(&y.distance_p.max(y.site_p))
                    .then(desc_nan_last(x.site_auc, y.site_auc)),
            };
            first
                .then(desc_nan_last(x.effect, y.effect))
                .then(x.score.cmp(&y.score))
                .then(
                    (x.motif_a, x.motif_b, x.layer, x.head)
                        .cmp(&(y.motif_a, y.motif_b, y.layer, y.head)),
                )
        });
        for (i, r) in rows.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        rows
    }

    /// Writes the ranked table to `out` and, when given, the per-pair table to
    /// `per_pair`, each whole or not at all (`-` is standard output); returns the number
    /// of rows. `interactions` and `merge` both call this, so a merged run writes the
    /// bytes of a single one.
    pub fn write_tables(&self, out: &Path, per_pair: Option<&Path>) -> Result<usize> {
        let names = &self.cfg.motif_names;
        let rows = self.finish();
        crate::io::output::write_file(out, |w| write_interactions_tsv(w, &rows, names))?;
        if let Some(p) = per_pair {
            let pairs = self.finish_pairs(&rows);
            crate::io::output::write_file(p, |w| write_pair_summary_tsv(w, &pairs, names))?;
        }
        Ok(rows.len())
    }

    /// One row per motif pair: its best head and the ACAT combination over heads.
    pub fn finish_pairs(&self, rows: &[InteractionRow]) -> Vec<PairSummaryRow> {
        let mut groups: BTreeMap<Key, (usize, Vec<f64>)> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            let e = groups
                .entry((r.score, r.motif_a, r.motif_b))
                .or_insert((i, Vec::new()));
            if rows[e.0].rank > r.rank {
                e.0 = i;
            }
            e.1.push(r.head_p);
        }
        let mut out: Vec<PairSummaryRow> = groups
            .into_values()
            .map(|(bi, ps)| {
                let b = &rows[bi];
                let combined_p = acat(&ps);
                PairSummaryRow {
                    rank: 0,
                    score: b.score,
                    motif_a: b.motif_a,
                    motif_b: b.motif_b,
                    n_pairs: b.n_pairs,
                    n_seqs: b.n_seqs,
                    best_layer: b.layer,
                    best_head: b.head,
                    best_effect: b.effect,
                    best_p: b.p_value,
                    best_rank: b.rank,
                    combined_p,
                    causal: b.causal,
                    p_value: combined_p.max(b.causal.p),
                    q_value: 1.0,
                    median_distance_bp: b.median_distance_bp,
                    orientation: b.orientation,
                }
            })
            .collect();
        for score in [Score::Attention, Score::AttnGrad] {
            let idx: Vec<usize> = (0..out.len()).filter(|&i| out[i].score == score).collect();
            let q = bh(&idx.iter().map(|&i| out[i].p_value).collect::<Vec<_>>());
            for (&i, q) in idx.iter().zip(q) {
                out[i].q_value = q;
            }
        }
        let rank_by = self.cfg.rank_by;
        out.sort_by(|x, y| {
            let first = match rank_by {
                // By the table rank of each pair's best head.
                RankBy::Auc | RankBy::AucLower | RankBy::Site | RankBy::PValue => {
                    x.best_rank.cmp(&y.best_rank)
                }
                RankBy::Joint => desc_nan_last(x.causal.strength(), y.causal.strength())
                    .then(x.p_value.total_cmp(&y.p_value))
                    .then(x.best_rank.cmp(&y.best_rank)),
            };
            first
                .then(x.p_value.total_cmp(&y.p_value))
                .then(x.best_p.total_cmp(&y.best_p))
                .then(desc_nan_last(x.best_effect, y.best_effect))
                .then((x.score, x.motif_a, x.motif_b).cmp(&(y.score, y.motif_a, y.motif_b)))
        });
        for (i, r) in out.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        out
    }

    /// Sequences (input indices) of the site pairs kept so far: a superset of those in
    /// [`top_site_pairs`](Self::top_site_pairs), bounded by twice its size, so a streaming
    /// caller can keep only these sequences' names for BEDPE.
    pub fn kept_sequences(&self) -> impl Iterator<Item = usize> + '_ {
        self.hits.hits.iter().map(|h| h.seq_index)
    }

    /// The strongest individual site pairs (co-attention above their own nulls), best first.
    pub fn top_site_pairs(&self) -> Vec<SitePair> {
        let mut h = self.hits.clone();
        h.trim(self.cfg.top_site_pairs);
        h.hits
            .into_iter()
            .map(|x| SitePair {
                score: x.score,
                seq_index: x.seq_index,
                layer: x.layer,
                head: x.head,
                left: x.left,
                right: x.right,
                co_attention: unfx(x.co),
                background: unfx(x.bg),
            })
            .collect()
    }
}

/// Attention values below this count as this (logs of empty blocks).
const TINY: f64 = 1e-30;

/// Co-attention of every planned site pair and its nulls under one head, appended to
/// `out` as `[obs, null_1, .., null_m, contrast]` per pair.
///
/// The contrast asks whether the two sites attend to each other more than each attends
/// to the other's null span and is attended by the other's null span: per null draw
/// (x', y' shifted together) and per direction, `f(x→y) − f(x→y') − f(x'→y) + f(x'→y')`
/// with `f` the log of the mean block attention (`log`) or the value itself, averaged.
/// A head that attends to motif sites in general (a main effect of the key, or of the
/// query) cancels out; only a link specific to this pair of sites remains.
pub(crate) fn span_values(sat: &Sat, plan: &[PairPlan], log: bool, out: &mut Vec<f64>) {
    let n = sat.n() as f64;
    let f = |q: &Range<usize>, k: &Range<usize>| {
        let v = sat.block(q.clone(), k.clone()) / (q.len() * k.len()) as f64;
        if log { v.max(TINY).ln() } else { v * n }
    };
    for p in plan {
        out.push(sat.co_attention(p.a.clone(), p.b.clone()));
        let delta = p.b.start - p.a.start;
        let (la, lb) = (p.a.len(), p.b.len());
        for &s in &p.nulls {
            out.push(sat.co_attention(s..s + la, s + delta..s + delta + lb));
        }
        let (x, y) = (&p.a, &p.b);
        let (fxy, fyx) = (f(x, y), f(y, x));
        let mut c = 0.0;
        for &s in &p.nulls {
            let (x2, y2) = (s..s + la, s + delta..s + delta + lb);
            c += fxy - f(x, &y2) - f(&x2, y) + f(&x2, &y2);
            c += fyx - f(y, &x2) - f(&y2, x) + f(&y2, &x2);
        }
        out.push(if p.nulls.is_empty() {
            0.0
        } else {
            c / (2 * p.nulls.len()) as f64
        });
    }
}

/// The best site pairs seen so far, kept to a bounded size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct TopHits {
    hits: Vec<Hit>,
    /// Excess of the worst kept hit once full: anything strictly below can never enter.
    #[serde(skip)]
    floor: Option<i128>,
}

impl TopHits {
    fn push(&mut self, h: Hit, cap: usize) {
        if cap == 0 || self.floor.is_some_and(|f| h.excess < f) {
            return;
        }
        self.hits.push(h);
        if self.hits.len() >= 2 * cap.max(64) {
            self.trim(cap);
        }
    }

    fn trim(&mut self, cap: usize) {
        self.hits.sort_by(|a, b| a.order(b));
        self.hits.dedup();
        self.hits.truncate(cap);
        if cap > 0 && self.hits.len() == cap {
            self.floor = Some(self.hits[cap - 1].excess);
        }
    }
}

fn lower_median(d: &BTreeMap<u64, u64>) -> u64 {
    let n: u64 = d.values().sum();
    let half = n.div_ceil(2);
    let mut acc = 0;
    for (&k, &c) in d {
        acc += c;
        if acc >= half {
            return k;
        }
    }
    0
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.total_cmp(&a),
    }
}

/// `auc − 1.645·SE` with Hanley & McNeil's (1982) standard error for `n_obs` observed and
/// `n_null` null scores; NaN when the AUC is.
pub fn auc_lower_bound(auc: f64, n_obs: u64, n_null: u64) -> f64 {
    if !auc.is_finite() || n_obs == 0 || n_null == 0 {
        return f64::NAN;
    }
    let (n1, n2) = (n_obs as f64, n_null as f64);
    let q1 = auc / (2.0 - auc);
    let q2 = 2.0 * auc * auc / (1.0 + auc);
    let a2 = auc * auc;
    let var = (auc * (1.0 - auc) + (n1 - 1.0) * (q1 - a2) + (n2 - 1.0) * (q2 - a2)) / (n1 * n2);
    auc - 1.645 * var.max(0.0).sqrt()
}

fn name(i: usize, names: &[String]) -> String {
    names.get(i).cloned().unwrap_or_else(|| i.to_string())
}

/// Writes the ranked interaction table as TSV with a header.
pub fn write_interactions_tsv<W: Write>(
    w: &mut W,
    rows: &[InteractionRow],
    motif_names: &[String],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::INTERACTIONS.header())?;
    for r in rows {
        write!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.rank,
            name(r.motif_a, motif_names),
            name(r.motif_b, motif_names),
            r.layer,
            r.head,
            r.n_pairs,
            r.n_seqs,
            fmt_sci(r.co_attention),
            fmt_sci(r.background),
            fmt_f(r.effect, 4),
            fmt_p(r.p_value),
            fmt_p(r.q_value),
            r.median_distance_bp,
            r.orientation.as_str(),
            r.score.as_str(),
            fmt_f(r.auc, 4),
            r.orientation_counts[0],
            r.orientation_counts[1],
            r.orientation_counts[2],
            fmt_f(r.auc_lower, 4),
            fmt_f(r.contrast, 4),
            fmt_f(r.site_auc, 4),
            fmt_p(r.site_p),
            fmt_p(r.joint_p),
            fmt_p(r.joint_q),
        )?;
        writeln!(
            w,
            "\t{}\t{}\t{}",
            fmt_p(r.head_p),
            fmt_p(r.distance_p),
            causal_fields(&r.causal)
        )?;
    }
    Ok(())
}

/// Writes the per-pair summary (best head, ACAT-combined p) as TSV with a header.
pub fn write_pair_summary_tsv<W: Write>(
    w: &mut W,
    rows: &[PairSummaryRow],
    motif_names: &[String],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::PAIRS.header())?;
    for r in rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.rank,
            name(r.motif_a, motif_names),
            name(r.motif_b, motif_names),
            r.n_pairs,
            r.n_seqs,
            r.best_layer,
            r.best_head,
            fmt_f(r.best_effect, 4),
            fmt_p(r.best_p),
            fmt_p(r.combined_p),
            fmt_p(r.q_value),
            r.median_distance_bp,
            r.orientation.as_str(),
            r.score.as_str(),
            fmt_p(r.p_value),
            causal_fields(&r.causal),
        )?;
    }
    Ok(())
}

fn causal_fields(c: &Causal) -> String {
    let t = |m: &MeanTest| {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            m.n,
            fmt_f(m.mean, 4),
            fmt_f(m.lo, 4),
            fmt_f(m.hi, 4),
            fmt_p(m.p)
        )
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        c.band
            .map_or("NA".into(), crate::validate::causal::band_name),
        t(&c.epistasis),
        t(&c.specific),
        fmt_f(c.margin, 4),
        fmt_p(c.p)
    )
}

/// Writes site pairs as BEDPE (genome coordinates when the sequence name is
/// `chr:start-end` from `extract`). `seq_name` gives the FASTA name of a sequence
/// index; `motif_names` are original motif names (not clusters).
pub fn write_bedpe<W: Write>(
    w: &mut W,
    pairs: &[SitePair],
    seq_name: &dyn Fn(usize) -> String,
    motif_names: &[String],
) -> std::io::Result<()> {
    // Genome browsers shade by an integer score in 0..=1000: the ratio over the file's
    // largest, with the ratio itself in an extra column.
    let ratio_of = |p: &SitePair| p.co_attention / p.background;
    let top = pairs
        .iter()
        .map(ratio_of)
        .filter(|r| r.is_finite())
        .fold(0f64, f64::max);
    for p in pairs {
        let nm = seq_name(p.seq_index);
        let (c1, s1, e1, st1) = place(&nm, None, p.left.start, p.left.end, p.left.plus);
        let (c2, s2, e2, st2) = place(&nm, None, p.right.start, p.right.end, p.right.plus);
        // BEDPE wants the first end upstream in the genome.
        let ((c1, s1, e1, st1, m1), (c2, s2, e2, st2, m2)) = if s2 < s1 {
            (
                (c2, s2, e2, st2, p.right.motif),
                (c1, s1, e1, st1, p.left.motif),
            )
        } else {
            (
                (c1, s1, e1, st1, p.left.motif),
                (c2, s2, e2, st2, p.right.motif),
            )
        };
        let ratio = ratio_of(p);
        let score = if top > 0.0 && ratio.is_finite() {
            (1000.0 * ratio / top).round().clamp(0.0, 1000.0) as u32
        } else {
            0
        };
        writeln!(
            w,
            "{c1}\t{s1}\t{e1}\t{c2}\t{s2}\t{e2}\t{}|{}\t{score}\t{st1}\t{st2}\tL{}H{}\t{}\t{}\t{}\t{}\t{}",
            name(m1, motif_names),
            name(m2, motif_names),
            p.layer,
            p.head,
            fmt_sci(p.co_attention),
            fmt_sci(p.background),
            fmt_f(ratio, 3),
            p.score.as_str(),
            nm.split_whitespace().next().unwrap_or(""),
        )?;
    }
    Ok(())
}

fn fmt_sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.5e}")
    } else {
        "NA".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_orientation_is_relative_to_chance() {
        use Orientation::*;
        for (counts, want) in [
            // Measured counts of a planted convergent pair: the raw mode would say tandem.
            ([724, 567, 153], Convergent),
            ([476, 100, 300], Divergent),
            // Exactly the chance shares, or nothing: tandem.
            ([500, 250, 250], Tandem),
            ([0, 0, 0], Tandem),
            ([10, 0, 0], Tandem),
        ] {
            assert_eq!(dominant_orientation(counts), want, "{counts:?}");
        }
    }

    fn geom(len: usize) -> TokenGeometry {
        TokenGeometry {
            k: 4,
            stride: 1,
            n_specials_before: 1,
            seq_len_bp: len,
            has_sep: true,
        }
    }

    fn site(motif: usize, start: usize, w: usize, plus: bool) -> Site {
        Site {
            motif,
            start,
            end: start + w,
            plus,
        }
    }

    #[test]
    fn nulls_are_distance_matched_and_avoid_the_motifs() {
        let g = geom(120);
        let mut cfg = InteractionConfig::new(1, 1);
        cfg.null_per_pair = 50;
        let acc = InteractionAccumulator::new(cfg);
        let sites = [
            site(0, 10, 8, true),
            site(1, 30, 6, false),
            site(0, 70, 8, false),
            site(2, 100, 5, true),
        ];
        let plan = acc.plan(3, &sites, &g);
        assert_eq!(plan.len(), 6);
        for p in &plan {
            assert!(!p.nulls.is_empty());
            let delta = p.b.start - p.a.start;
            for &s in &p.nulls {
                let (na, nb) = (s..s + p.a.len(), s + delta..s + delta + p.b.len());
                assert!(g.content().contains(&na.start) && nb.end <= g.content().end);
                // No null span touches a token of either motif of the pair.
                for st in sites
                    .iter()
                    .filter(|x| x.motif == p.left.motif || x.motif == p.right.motif)
                {
                    let t = g.tokens_overlapping(st.start, st.end);
                    assert!(na.end <= t.start || t.end <= na.start, "{p:?}");
                    assert!(nb.end <= t.start || t.end <= nb.start);
                }
            }
        }
        // Deterministic per sequence index, different across sequences.
        let again = acc.plan(3, &sites, &g);
        assert!(plan.iter().zip(&again).all(|(x, y)| x.nulls == y.nulls));
        let mut cfg = InteractionConfig::new(1, 1);
        cfg.null_per_pair = 3;
        let few = InteractionAccumulator::new(cfg);
        let (x, y) = (few.plan(3, &sites, &g), few.plan(4, &sites, &g));
        assert!(x.iter().all(|p| p.nulls.len() <= 3) && x.iter().any(|p| p.nulls.len() == 3));
        assert!(x.iter().zip(&y).any(|(x, y)| x.nulls != y.nulls));
    }

    impl std::fmt::Debug for PairPlan {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "{:?}-{:?} {:?}/{:?}",
                self.left, self.right, self.a, self.b
            )
        }
    }

    #[test]
    fn overlapping_and_distant_sites_make_no_pair() {
        let g = geom(200);
        let mut cfg = InteractionConfig::new(1, 1);
        cfg.max_distance = 50;
        let acc = InteractionAccumulator::new(cfg);
        let sites = [
            site(0, 10, 8, true),
            site(1, 14, 6, true),
            site(2, 150, 6, true),
        ];
        assert!(acc.plan(0, &sites, &g).is_empty());
    }

    #[test]
    fn median_and_ordering_helpers() {
        let d: BTreeMap<u64, u64> = [(3, 2), (10, 1), (20, 2)].into();
        assert_eq!(lower_median(&d), 10);
        assert_eq!(desc_nan_last(2.0, 1.0), std::cmp::Ordering::Less);
        assert_eq!(desc_nan_last(f64::NAN, 1.0), std::cmp::Ordering::Greater);
    }

    #[test]
    fn auc_lower_bound_shrinks_small_samples() {
        // AUC 0.9 from 50 and 50 scores: Q1 = 0.8182, Q2 = 0.8526, SE = √(2.5798 / 2500) = 0.0321.
        let lb = auc_lower_bound(0.9, 50, 50);
        assert!((0.9 - lb - 1.645 * 0.0321).abs() < 1e-4, "{lb}");
        // The same AUC from few pairs is less certain; many pairs approach the AUC.
        assert!(auc_lower_bound(0.9, 5, 40) < auc_lower_bound(0.8, 500, 4000));
        assert!(auc_lower_bound(0.9, 5000, 40000) > 0.89);
        assert!(auc_lower_bound(f64::NAN, 5, 5).is_nan());
        assert!(auc_lower_bound(0.6, 0, 5).is_nan());
    }
}
