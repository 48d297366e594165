//! Attention analysis: the head atlas ([`heads`]) and co-attention interaction tables
//! ([`interactions`]).
//!
//! Both take plain data, one sequence at a time: the model's attention probabilities
//! ([`SeqAttention`]), the motif sites found in the sequence ([`Site`]) and the map
//! between tokens and base pairs ([`TokenGeometry`]). Their state is made of integers
//! (fixed-point sums, histograms), so it streams in constant memory, merges exactly
//! across threads and `--shard i/N` runs, and the final tables are the same bytes
//! however the work was split.

pub mod heads;
pub mod interactions;
pub mod recovery;
pub mod run;
pub mod stream;
pub use crate::motif::Site;
pub use crate::stats::{MeanTest, P_FLOOR};

use std::{fmt, ops::Range, path::Path, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where the tokens of one sequence sit in base pairs.
///
/// `n_specials_before` special tokens (1 for `[CLS]`) come first; content token `i`
/// then covers bp `[i*stride, i*stride + k)`; `[SEP]` closes the sequence when `has_sep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGeometry {
    pub k: usize,
    pub stride: usize,
    pub n_specials_before: usize,
    pub seq_len_bp: usize,
    pub has_sep: bool,
}

impl TokenGeometry {
    /// The attention positions of a `len`-bp sequence under a model: its tokens, or with
    /// pooling, windows of tokens that each act as one wider token.
    pub fn of_model(cfg: &crate::model::ModelConfig, len: usize) -> TokenGeometry {
        let (k, stride) = cfg.position_span();
        TokenGeometry {
            k,
            stride,
            n_specials_before: 1,
            seq_len_bp: len,
            has_sep: true,
        }
    }

    /// Number of k-mer (content) tokens.
    pub fn n_content(&self) -> usize {
        if self.seq_len_bp < self.k || self.stride == 0 {
            0
        } else {
            (self.seq_len_bp - self.k) / self.stride + 1
        }
    }

    /// Total number of tokens, specials included.
    pub fn n_tokens(&self) -> usize {
        self.n_specials_before + self.n_content() + self.has_sep as usize
    }

    /// Token indices of the content tokens.
    pub fn content(&self) -> Range<usize> {
        self.n_specials_before..self.n_specials_before + self.n_content()
    }

    /// Index of `[SEP]`, if any.
    pub fn sep(&self) -> Option<usize> {
        self.has_sep
            .then_some(self.n_specials_before + self.n_content())
    }

    /// The bp span `[start, end)` of token `t`; `None` for special tokens.
    pub fn token_span(&self, t: usize) -> Option<(usize, usize)> {
        let c = self.content();
        c.contains(&t).then(|| {
            let s = (t - c.start) * self.stride;
            (s, s + self.k)
        })
    }

    /// Token indices whose k-mer overlaps bp `[start, end)` (empty when none does).
    pub fn tokens_overlapping(&self, start: usize, end: usize) -> Range<usize> {
        let n = self.n_content();
        if end <= start || n == 0 || self.stride == 0 {
            return self.n_specials_before..self.n_specials_before;
        }
        // Token i overlaps when i*stride < end and i*stride + k > start.
        let lo = (start + 1)
            .saturating_sub(self.k)
            .div_ceil(self.stride)
            .min(n);
        let hi = end.div_ceil(self.stride).min(n).max(lo);
        self.n_specials_before + lo..self.n_specials_before + hi
    }

    /// Checks that the geometry can describe tokens at all.
    pub fn check(&self) -> Result<()> {
        if self.k == 0 || self.stride == 0 {
            return Err(Error::Invalid(format!(
                "token geometry needs k >= 1 and stride >= 1, got k={} stride={}",
                self.k, self.stride
            )));
        }
        Ok(())
    }
}

/// Attention (or any per-head token×token score such as attention×gradient) of one
/// sequence: `attn[((layer * n_heads + head) * n_tokens + q) * n_tokens + k]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqAttention {
    /// Position of the sequence in the input; seeds its nulls and selects its shard.
    pub seq_index: usize,
    pub n_tokens: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Row-major `[layer][head][q][k]`; attention rows sum to 1.
    pub attn: Vec<f32>,
}

impl SeqAttention {
    /// The analysis view of the model's maps of one sequence (same layout, no copy);
    /// `seq_index` is its place in the input.
    pub fn from_maps(seq_index: usize, maps: crate::model::AttentionMaps) -> SeqAttention {
        SeqAttention {
            seq_index,
            n_tokens: maps.len,
            n_layers: maps.n_layers,
            n_heads: maps.n_heads,
            attn: maps.data,
        }
    }

    /// The `n_tokens × n_tokens` map of one head.
    pub fn map(&self, layer: usize, head: usize) -> &[f32] {
        let nn = self.n_tokens * self.n_tokens;
        let o = (layer * self.n_heads + head) * nn;
        &self.attn[o..o + nn]
    }

    /// Checks the shape against the model and the token geometry.
    pub fn check(&self, n_layers: usize, n_heads: usize, geom: &TokenGeometry) -> Result<()> {
        geom.check()?;
        let what = format!("sequence {}", self.seq_index);
        if self.n_layers != n_layers || self.n_heads != n_heads {
            return Err(Error::Invalid(format!(
                "{what}: attention has {} layers x {} heads, the analysis expects {n_layers} x {n_heads}",
                self.n_layers, self.n_heads
            )));
        }
        if self.n_tokens != geom.n_tokens() {
            return Err(Error::Invalid(format!(
                "{what}: attention covers {} tokens but the token geometry gives {} for {} bp",
                self.n_tokens,
                geom.n_tokens(),
                geom.seq_len_bp
            )));
        }
        let want = n_layers * n_heads * self.n_tokens * self.n_tokens;
        if self.attn.len() != want {
            return Err(Error::Invalid(format!(
                "{what}: attention has {} values, expected {want}",
                self.attn.len()
            )));
        }
        Ok(())
    }
}

/// One part of a sharded run, written `i/N` with `1 <= i <= N`: it takes the
/// sequences whose 0-based index is `i - 1` modulo `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based shard number.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole input as one shard.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether the sequence at 0-based position `seq_index` belongs to this shard.
    pub fn contains(&self, seq_index: usize) -> bool {
        seq_index % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("shard must be i/N with 1 <= i <= N, got '{s}'"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Checks that merged parts cover disjoint shards of one split; returns the union.
pub(crate) fn merge_shards(a: &[Shard], b: &[Shard]) -> Result<Vec<Shard>> {
    let mut all: Vec<Shard> = a.iter().chain(b).copied().collect();
    all.sort();
    if let (Some(x), Some(y)) = (all.first(), all.last())
        && x.count != y.count
    {
        return Err(Error::Invalid(format!(
            "cannot merge parts of different splits ({x} and {y})"
        )));
    }
    if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Invalid(format!(
            "shard {} appears in more than one part",
            w[0]
        )));
    }
    Ok(all)
}

/// Whether `shards` is a complete split (every `i/N` once).
pub(crate) fn shards_complete(shards: &[Shard]) -> bool {
    shards.first().is_some_and(|s| {
        shards.len() == s.count && shards.iter().enumerate().all(|(i, x)| x.index == i + 1)
    })
}

/// What a partial state was computed from. Shards agree on every setting the
/// accumulators' configs hold and still come from different runs when the model's
/// weights (same architecture, other seed), the FASTA or a scanning option differ; `merge`
/// compares fingerprints so such shards are refused instead of summed into one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Digest of the model folder's `config.json` and `model.safetensors`.
    pub model: String,
    /// Digest of every record's name and bases, in input order (the whole FASTA, not
    /// only the shard's sequences).
    pub fasta: String,
    /// The options that change the sums, by flag name (motif and site files as digests).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Fingerprint {
    /// What differs from `o`, in words (`None` when they are equal).
    pub fn difference(&self, o: &Fingerprint) -> Option<String> {
        if self.model != o.model {
            return Some(format!(
                "different model weights ({} vs {})",
                self.model, o.model
            ));
        }
        if self.fasta != o.fasta {
            return Some(format!(
                "different input sequences (FASTA {} vs {})",
                self.fasta, o.fasta
            ));
        }
        let keys: std::collections::BTreeSet<&String> =
            self.options.keys().chain(o.options.keys()).collect();
        for k in keys {
            let (a, b) = (self.options.get(k), o.options.get(k));
            if a != b {
                let show = |v: Option<&String>| v.map_or("(not set)", String::as_str).to_string();
                return Some(format!("different {k} ({} vs {})", show(a), show(b)));
            }
        }
        None
    }

    /// Refuses to combine states of different runs.
    pub(crate) fn check_same(&self, o: &Fingerprint) -> Result<()> {
        match self.difference(o) {
            None => Ok(()),
            Some(d) => Err(Error::Invalid(format!(
                "cannot merge partial states of different runs: {d}"
            ))),
        }
    }
}

/// A partial state file of either accumulator (what `merge PARTS...` reads).
#[derive(Debug)]
pub enum PartialFile {
    Heads(heads::HeadAccumulator),
    Interactions(interactions::InteractionAccumulator),
}

impl PartialFile {
    /// What the state was computed from.
    pub fn fingerprint(&self) -> &Fingerprint {
        match self {
            PartialFile::Heads(a) => a.fingerprint(),
            PartialFile::Interactions(a) => a.fingerprint(),
        }
    }
}

/// Loads a partial file written by either accumulator's `save_partial`, telling them
/// apart by their `format` field.
pub fn load_partial(path: &Path) -> Result<PartialFile> {
    #[derive(Deserialize)]
    struct Peek {
        format: String,
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let peek: Peek = serde_json::from_reader(std::io::BufReader::new(f))
        .map_err(|e| Error::parse(path, e.line() as u64, e.to_string()))?;
    match peek.format.as_str() {
        heads::PARTIAL_FORMAT => Ok(PartialFile::Heads(heads::HeadAccumulator::load_partial(
            path,
        )?)),
        interactions::PARTIAL_FORMAT => Ok(PartialFile::Interactions(
            interactions::InteractionAccumulator::load_partial(path)?,
        )),
        other => Err(Error::Invalid(format!(
            "{}: unknown partial format '{other}'",
            path.display()
        ))),
    }
}

/// Adds one sequence's attention to either or both accumulators in one pass over the
/// heads, building each head's summed-area table once (what `heads` and
/// `interactions` on the same model run should call).
pub fn add_sequence(
    heads: Option<&mut heads::HeadAccumulator>,
    inter: Option<&mut interactions::InteractionAccumulator>,
    a: &SeqAttention,
    sites: &[Site],
    geom: &TokenGeometry,
) -> Result<()> {
    let inter = inter.map(|i| (i, interactions::Score::Attention));
    add_sequence_scored(heads, inter, a, sites, geom)
}

/// Adds a batch of sequences to either or both accumulators, in parallel (rayon). The
/// state is made of integers, so the result is the same as adding them one by one.
pub fn add_batch(
    heads: Option<&mut heads::HeadAccumulator>,
    inter: Option<&mut interactions::InteractionAccumulator>,
    items: &[(&SeqAttention, &[Site], &TokenGeometry)],
) -> Result<()> {
    use rayon::prelude::*;
    type Pair = (
        Option<heads::HeadAccumulator>,
        Option<interactions::InteractionAccumulator>,
    );
    let empty: Pair = (
        heads
            .as_deref()
            .map(|h| heads::HeadAccumulator::new(h.config().clone())),
        inter
            .as_deref()
            .map(|i| interactions::InteractionAccumulator::new(i.config().clone())),
    );
    let (ph, pi) = items
        .par_iter()
        .try_fold(
            || empty.clone(),
            |(mut h, mut i): Pair, (a, s, g)| {
                add_sequence(h.as_mut(), i.as_mut(), a, s, g)?;
                Ok::<Pair, Error>((h, i))
            },
        )
        .try_reduce(
            || empty.clone(),
            |(mut h, mut i), (h2, i2)| {
                if let (Some(x), Some(y)) = (h.as_mut(), h2) {
                    x.merge_sums(&y)?;
                }
                if let (Some(x), Some(y)) = (i.as_mut(), i2) {
                    x.merge_sums(y)?;
                }
                Ok((h, i))
            },
        )?;
    if let (Some(x), Some(y)) = (heads, ph) {
        x.merge_sums(&y)?;
    }
    if let (Some(x), Some(y)) = (inter, pi) {
        x.merge_sums(y)?;
    }
    Ok(())
}

pub(crate) fn add_sequence_scored(
    mut heads: Option<&mut heads::HeadAccumulator>,
    mut inter: Option<(
        &mut interactions::InteractionAccumulator,
        interactions::Score,
    )>,
    a: &SeqAttention,
    sites: &[Site],
    geom: &TokenGeometry,
) -> Result<()> {
    if let Some(h) = heads.as_deref() {
        a.check(h.config().n_layers, h.config().n_heads, geom)?;
    }
    if let Some((i, _)) = inter.as_ref() {
        a.check(i.config().n_layers, i.config().n_heads, geom)?;
    }
    let sets = heads
        .as_deref()
        .map(|h| h.motif_sets(a.seq_index, sites, geom));
    let plan = inter
        .as_ref()
        .map(|(i, _)| i.plan(a.seq_index, sites, geom));
    // Attention is positive and multiplicative: its contrast is taken on logs.
    let log_contrast = inter.as_ref().map(|(_, sc)| *sc) == Some(interactions::Score::Attention);
    let mut sat = Sat::new();
    let mut vals = Vec::new();
    for l in 0..a.n_layers {
        for h in 0..a.n_heads {
            let map = a.map(l, h);
            if let (Some(acc), Some(sets)) = (heads.as_deref_mut(), sets.as_ref()) {
                let mut rows = heads::RowSums::default();
                sat.build_with(map, a.n_tokens, |q, row, prefix| {
                    rows.add_row(geom, q, row, prefix)
                });
                acc.add_head(l * a.n_heads + h, &rows, &sat, geom, sets)?;
            } else {
                sat.build(map, a.n_tokens);
            }
            if let Some(plan) = plan.as_ref() {
                interactions::span_values(&sat, plan, log_contrast, &mut vals);
            }
        }
    }
    if let (Some(acc), Some(sets)) = (heads, sets.as_ref()) {
        acc.finish_seq(a, sets);
    }
    if let (Some((acc, score)), Some(plan)) = (inter.as_mut(), plan.as_ref()) {
        acc.record(*score, a.seq_index, a.n_tokens, plan, &vals)?;
    }
    Ok(())
}

/// Summed-area table (f64) of one head's map: any block sum over two token spans, and
/// the attention received by a key span, in O(1). Rows are first summed in f32 (the
/// row prefix that the head statistics read), then stacked in f64.
pub(crate) struct Sat {
    n: usize,
    /// `s[q * (n + 1) + k]` = sum of `map[..q][..k]`.
    s: Vec<f64>,
    /// Row prefix sums of four rows, `n + 1` each.
    scratch: Vec<f32>,
}

impl Sat {
    pub fn new() -> Self {
        Sat {
            n: 0,
            s: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Rebuilds the table for an `n × n` map, reusing the buffers.
    pub fn build(&mut self, map: &[f32], n: usize) {
        self.build_with(map, n, |_, _, _| {});
    }

    /// [`build`](Self::build), calling `f(q, row, prefix)` for every row while it is
    /// still in cache (`prefix[k]` = sum of `row[..k]`).
    pub fn build_with(&mut self, map: &[f32], n: usize, mut f: impl FnMut(usize, &[f32], &[f32])) {
        let w = n + 1;
        if self.n != n || self.s.len() != w * w {
            self.n = n;
            self.s.clear();
            self.s.resize(w * w, 0.0); // row 0 and column 0 stay zero
            self.scratch.clear();
            self.scratch.resize(4 * w, 0.0);
        }
        let mut q = 0;
        while q < n {
            let m = (n - q).min(4);
            {
                // Up to four independent running sums keep the adder busy.
                let (p0, rest) = self.scratch.split_at_mut(w);
                let (p1, rest) = rest.split_at_mut(w);
                let (p2, p3) = rest.split_at_mut(w);
                let row = |i: usize| &map[(q + i.min(m - 1)) * n..(q + i.min(m - 1) + 1) * n];
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                let (mut a, mut b, mut c, mut d) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                for k in 0..n {
                    a += r0[k];
                    b += r1[k];
                    c += r2[k];
                    d += r3[k];
                    p0[k + 1] = a;
                    p1[k + 1] = b;
                    p2[k + 1] = c;
                    p3[k + 1] = d;
                }
            }
            for i in 0..m {
                let p = &self.scratch[i * w..(i + 1) * w];
                let (prev, cur) = self.s[(q + i) * w..(q + i + 2) * w].split_at_mut(w);
                for k in 1..w {
                    cur[k] = prev[k] + p[k] as f64;
                }
                f(q + i, &map[(q + i) * n..(q + i + 1) * n], p);
            }
            q += m;
        }
    }

    /// Tokens per side of the map.
    pub fn n(&self) -> usize {
        self.n
    }

    #[inline]
    fn at(&self, q: usize, k: usize) -> f64 {
        self.s[q * (self.n + 1) + k]
    }

    /// Sum of query row `q` over key columns `k`.
    #[cfg(test)]
    pub fn row_mass(&self, q: usize, k: Range<usize>) -> f64 {
        self.block(q..q + 1, k)
    }

    /// Sum of the map over query rows `q` and key columns `k`.
    #[inline]
    pub fn block(&self, q: Range<usize>, k: Range<usize>) -> f64 {
        self.at(q.end, k.end) - self.at(q.start, k.end) - self.at(q.end, k.start)
            + self.at(q.start, k.start)
    }

    /// Total attention received by key columns `k` from all queries.
    #[inline]
    pub fn received(&self, k: Range<usize>) -> f64 {
        self.at(self.n, k.end) - self.at(self.n, k.start)
    }

    /// Symmetrised mean attention between two token spans.
    #[inline]
    pub fn co_attention(&self, a: Range<usize>, b: Range<usize>) -> f64 {
        let (la, lb) = (a.len(), b.len());
        if la == 0 || lb == 0 {
            return 0.0;
        }
        (self.block(a.clone(), b.clone()) + self.block(b, a)) / (2 * la * lb) as f64
    }
}

/// Sorted, merged token ranges (a motif's sites as one token set).
pub(crate) fn merge_ranges(mut r: Vec<Range<usize>>) -> Vec<Range<usize>> {
    r.retain(|x| !x.is_empty());
    r.sort_by_key(|x| (x.start, x.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(r.len());
    for x in r {
        match out.last_mut() {
            Some(l) if x.start <= l.end => l.end = l.end.max(x.end),
            _ => out.push(x),
        }
    }
    out
}

/// A partial state as `merge` reads it: JSON `{format, version, state}`, so a file of another
/// kind or version is refused by name rather than misread.
#[derive(Serialize)]
struct PartialRef<'a, T> {
    format: &'a str,
    version: u32,
    state: &'a T,
}

#[derive(Deserialize)]
struct PartialOwned<T> {
    format: String,
    version: u32,
    state: T,
}

/// Writes `state` as a partial file of `format` / `version` (atomically).
pub(crate) fn write_partial<T: Serialize>(
    path: &Path,
    format: &str,
    version: u32,
    state: &T,
) -> Result<()> {
    let mut out = crate::io::output::Output::create(path)?;
    serde_json::to_writer(
        &mut out,
        &PartialRef {
            format,
            version,
            state,
        },
    )
    .map_err(|e| Error::io(path, e.into()))?;
    out.finish()
}

/// Reads a partial file written by [`write_partial`]; `what` names the kind in errors.
pub(crate) fn read_partial<T: serde::de::DeserializeOwned>(
    path: &Path,
    format: &str,
    version: u32,
    what: &str,
) -> Result<T> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let p: PartialOwned<T> = serde_json::from_reader(std::io::BufReader::new(f))
        .map_err(|e| Error::parse(path, e.line() as u64, e.to_string()))?;
    if p.format != format {
        return Err(Error::incompatible(
            path,
            format!("not {what} partial state (found one of '{}')", p.format),
        ));
    }
    if p.version != version {
        return Err(Error::version(
            path,
            "partial state",
            Some(p.version),
            version,
        ));
    }
    Ok(p.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(k: usize, stride: usize, len: usize) -> TokenGeometry {
        TokenGeometry {
            k,
            stride,
            n_specials_before: 1,
            seq_len_bp: len,
            has_sep: true,
        }
    }

    #[test]
    fn token_bp_round_trip() {
        for (k, stride) in [(1, 1), (6, 1), (6, 3), (6, 6), (4, 5)] {
            let g = geom(k, stride, 50);
            assert_eq!(g.n_tokens(), g.n_content() + 2);
            for s in 0..50 {
                for e in s + 1..=50 {
                    let r = g.tokens_overlapping(s, e);
                    for t in g.content() {
                        let (ts, te) = g.token_span(t).unwrap();
                        let overlaps = ts < e && s < te;
                        assert_eq!(r.contains(&t), overlaps, "k{k} s{stride} [{s},{e}) t{t}");
                    }
                }
            }
            assert_eq!(g.token_span(0), None);
            assert_eq!(g.token_span(g.sep().unwrap()), None);
        }
        assert_eq!(geom(6, 1, 3).n_content(), 0);
        assert!(geom(6, 1, 3).tokens_overlapping(0, 3).is_empty());
    }

    #[test]
    fn shard_parsing() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(s, Shard { index: 2, count: 3 });
        assert_eq!(s.to_string(), "2/3");
        assert!(s.contains(1) && s.contains(4) && !s.contains(0));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let a = [Shard { index: 1, count: 2 }];
        let b = [Shard { index: 2, count: 2 }];
        let m = merge_shards(&a, &b).unwrap();
        assert!(shards_complete(&m));
        assert!(merge_shards(&a, &a).is_err());
        assert!(merge_shards(&a, &[Shard::ALL]).is_err());
    }

    #[test]
    fn sat_block_sums() {
        let n = 7;
        let map: Vec<f32> = (0..n * n).map(|i| i as f32).collect();
        let mut sat = Sat::new();
        sat.build(&map, n);
        let brute = |q: Range<usize>, k: Range<usize>| -> f64 {
            q.flat_map(|a| k.clone().map(move |b| (a * n + b) as f64))
                .sum()
        };
        assert_eq!(sat.block(1..3, 2..5), brute(1..3, 2..5));
        assert_eq!(sat.received(0..2), brute(0..n, 0..2));
        assert_eq!(sat.row_mass(6, 1..7), brute(6..7, 1..7));
        assert_eq!(
            sat.co_attention(0..1, 3..5),
            (brute(0..1, 3..5) + brute(3..5, 0..1)) / 4.0
        );
        assert_eq!(merge_ranges(vec![3..5, 0..2, 1..3, 7..7]), vec![0..5]);
    }

    #[test]
    fn partial_files_of_another_kind_or_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        write_partial(&path, "kind-a", 1, &vec![1u32, 2]).unwrap();
        let back: Vec<u32> = read_partial(&path, "kind-a", 1, "a kind-a").unwrap();
        assert_eq!(back, [1, 2]);
        let e = read_partial::<Vec<u32>>(&path, "kind-b", 1, "a test").unwrap_err();
        assert!(matches!(e, Error::Incompatible { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("not a test partial state (found one of 'kind-a')"),
            "{e}"
        );
        let e = read_partial::<Vec<u32>>(&path, "kind-a", 2, "a test").unwrap_err();
        assert!(
            matches!(&e, Error::Version { found, supported: 2, .. } if found == "1"),
            "{e}"
        );
    }
}
