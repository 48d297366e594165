//! Overlapping k-mer tokenizer with an exact token↔base-pair map.
//!
//! A sequence becomes `[CLS] kmer₀ kmer₁ … [SEP]`, where k-mer `j` covers bases
//! `[j·stride, j·stride + k)`. K-mer ids follow the five special tokens and use a
//! 2-bit code (`A=0 C=1 G=2 T=3`, first base most significant), so encoding is a
//! rolling shift over the sequence with no per-k-mer allocation. Any k-mer that
//! touches a base other than `ACGT` (case-insensitive) becomes `[UNK]`; with
//! `stride > 1`, trailing bases that do not fill a whole k-mer are not tokenised.
//!
//! ```
//! use cisformer::tokenizer::Tokenizer;
//! let tok = Tokenizer::new(3, 1).unwrap();
//! let ids = tok.encode(b"ACGTN");
//! assert_eq!(ids.len(), 2 + 3); // CLS, ACG, CGT, GTN(=UNK), SEP
//! assert_eq!(tok.token_string(ids[1]), "ACG");
//! assert_eq!(tok.token_string(ids[3]), "[UNK]");
//! assert_eq!(tok.token_bp_span(2), Some(1..4));
//! ```
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Padding, ignored by attention.
pub const PAD: u32 = 0;
/// A k-mer with a base other than ACGT.
pub const UNK: u32 = 1;
/// First token of every sequence (the pooled summary under CLS pooling).
pub const CLS: u32 = 2;
/// Last token of every sequence.
pub const SEP: u32 = 3;
/// Masked-token placeholder for masked-language pre-training.
pub const MASK: u32 = 4;
/// Number of special tokens; k-mer ids start here.
pub const N_SPECIAL: u32 = 5;
const SPECIAL_NAMES: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Largest supported k (4⁸ = 65 536 k-mers keeps the embedding small).
pub const MAX_K: usize = 8;

/// Tokenizer settings, stored in a model's `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    /// K-mer length, 1–8.
    pub k: usize,
    /// Distance in bases between the starts of consecutive k-mers (1 = fully overlapping).
    pub stride: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self { k: 6, stride: 1 }
    }
}

/// K-mer tokenizer; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokenizer {
    k: usize,
    stride: usize,
}

impl Tokenizer {
    /// A tokenizer for `k`-mers (1–8) taken every `stride` bases (1–k is typical; any ≥1 works).
    pub fn new(k: usize, stride: usize) -> Result<Self> {
        if !(1..=MAX_K).contains(&k) {
            return Err(Error::Invalid(format!(
                "k-mer length k={k} is out of range (1-{MAX_K})"
            )));
        }
        if stride == 0 {
            return Err(Error::Invalid("tokenizer stride must be at least 1".into()));
        }
        Ok(Self { k, stride })
    }

    /// The tokenizer described by `cfg`.
    pub fn from_config(cfg: &TokenizerConfig) -> Result<Self> {
        Self::new(cfg.k, cfg.stride)
    }

    /// The settings this tokenizer was built from.
    pub fn config(&self) -> TokenizerConfig {
        TokenizerConfig {
            k: self.k,
            stride: self.stride,
        }
    }

    /// K-mer length.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Step between k-mer starts.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Specials plus all 4ᵏ k-mers.
    pub fn vocab_size(&self) -> usize {
        N_SPECIAL as usize + (1usize << (2 * self.k))
    }

    /// Number of k-mer tokens (without `[CLS]`/`[SEP]`) for a sequence of `len` bases.
    pub fn n_kmers(&self, len: usize) -> usize {
        if len < self.k {
            0
        } else {
            (len - self.k) / self.stride + 1
        }
    }

    /// Number of tokens `encode` returns for `len` bases.
    pub fn n_tokens(&self, len: usize) -> usize {
        self.n_kmers(len) + 2
    }

    /// `[CLS]`, one id per k-mer, `[SEP]`.
    pub fn encode(&self, seq: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.n_tokens(seq.len()));
        self.encode_into(seq, &mut out);
        out
    }

    /// [`Tokenizer::encode`] into a reused buffer (cleared first).
    pub fn encode_into(&self, seq: &[u8], out: &mut Vec<u32>) {
        out.clear();
        out.reserve(self.n_tokens(seq.len()));
        out.push(CLS);
        if self.stride == 1 {
            self.encode_overlapping(seq, out);
        } else {
            self.encode_strided(seq, out);
        }
        out.push(SEP);
    }

    /// Stride 1: every base from the k-th on ends a k-mer.
    fn encode_overlapping(&self, seq: &[u8], out: &mut Vec<u32>) {
        let k = self.k;
        let mask: u32 = (1u32 << (2 * k)) - 1;
        let mut code: u32 = 0;
        // Bases seen since the last non-ACGT byte; the k-mer is valid once this reaches k.
        let mut run: usize = 0;
        for (i, &b) in seq.iter().enumerate() {
            let c = crate::seq::base_code(b);
            if c < 4 {
                code = ((code << 2) | c as u32) & mask;
                run += 1;
            } else {
                run = 0;
            }
            if i + 1 >= k {
                out.push(if run >= k { N_SPECIAL + code } else { UNK });
            }
        }
    }

    /// General path: rolls over every base, emits at k-mer ends that fall on the stride grid.
    fn encode_strided(&self, seq: &[u8], out: &mut Vec<u32>) {
        let k = self.k;
        let mask: u32 = (1u32 << (2 * k)) - 1;
        let mut code: u32 = 0;
        let mut run: usize = 0;
        let n = self.n_kmers(seq.len());
        let mut next_end = k - 1; // last base index of the next k-mer to emit
        let mut emitted = 0;
        for (i, &b) in seq.iter().enumerate() {
            if emitted == n {
                break;
            }
            let c = crate::seq::base_code(b);
            if c < 4 {
                code = ((code << 2) | c as u32) & mask;
                run += 1;
            } else {
                run = 0;
            }
            if i == next_end {
                out.push(if run >= k { N_SPECIAL + code } else { UNK });
                emitted += 1;
                next_end += self.stride;
            }
        }
    }

    /// Id of one k-mer (`kmer.len()` must equal k), `[UNK]` if it has a non-ACGT base.
    pub fn kmer_id(&self, kmer: &[u8]) -> u32 {
        if kmer.len() != self.k {
            return UNK;
        }
        let mut code = 0u32;
        for &b in kmer {
            let c = crate::seq::base_code(b);
            if c > 3 {
                return UNK;
            }
            code = (code << 2) | c as u32;
        }
        N_SPECIAL + code
    }

    /// Printable form of a token id: the k-mer in upper case or the special's name.
    pub fn token_string(&self, id: u32) -> String {
        if id < N_SPECIAL {
            return SPECIAL_NAMES[id as usize].to_string();
        }
        if id as usize >= self.vocab_size() {
            return format!("[{id}?]");
        }
        let code = id - N_SPECIAL;
        (0..self.k)
            .map(|i| b"ACGT"[((code >> (2 * (self.k - 1 - i))) & 3) as usize] as char)
            .collect()
    }

    /// Id of the reverse complement of k-mer `id`; specials map to themselves.
    ///
    /// With stride 1, `encode(revcomp(s))` is `encode(s)` reversed (between `[CLS]` and `[SEP]`)
    /// with every id passed through this function.
    pub fn revcomp_id(&self, id: u32) -> u32 {
        if id < N_SPECIAL || id as usize >= self.vocab_size() {
            return id;
        }
        let mut code = id - N_SPECIAL;
        let mut rc = 0u32;
        for _ in 0..self.k {
            rc = (rc << 2) | (3 - (code & 3));
            code >>= 2;
        }
        N_SPECIAL + rc
    }

    /// Reverse complement of a sequence (IUPAC-aware, case-preserving; see [`crate::seq`]).
    pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
        crate::seq::reverse_complement(seq)
    }

    /// Bases covered by the token at `token_index` of an encoded sequence (index 0 is `[CLS]`,
    /// so `None`); k-mer `j` is token `j + 1`. This does not know the sequence length, so an
    /// index past the last k-mer (the `[SEP]`) still gets a span: use [`TokenMap`] for that.
    pub fn token_bp_span(&self, token_index: usize) -> Option<Range<usize>> {
        let j = token_index.checked_sub(1)?;
        let start = j * self.stride;
        Some(start..start + self.k)
    }

    /// The token↔bp map of a sequence of `seq_len` bases.
    pub fn token_map(&self, seq_len: usize) -> TokenMap {
        TokenMap {
            k: self.k,
            stride: self.stride,
            n_kmers: self.n_kmers(seq_len),
        }
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::from_config(&TokenizerConfig::default()).expect("default tokenizer config is valid")
    }
}

/// Exact map between token positions of one encoded sequence and its bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenMap {
    k: usize,
    stride: usize,
    n_kmers: usize,
}

impl TokenMap {
    /// Number of tokens including `[CLS]` and `[SEP]`.
    pub fn n_tokens(&self) -> usize {
        self.n_kmers + 2
    }

    /// Number of k-mer tokens.
    pub fn n_kmers(&self) -> usize {
        self.n_kmers
    }

    /// Bases `[j·stride, j·stride + k)` of the k-mer at `token_index` (= j + 1);
    /// `None` for `[CLS]`, `[SEP]` and indices past the end.
    pub fn token_span(&self, token_index: usize) -> Option<Range<usize>> {
        let j = token_index.checked_sub(1)?;
        if j >= self.n_kmers {
            return None;
        }
        let start = j * self.stride;
        Some(start..start + self.k)
    }

    /// Token indices whose k-mers overlap the bases `bp` (half-open); empty if none do.
    pub fn tokens_covering(&self, bp: Range<usize>) -> Range<usize> {
        if bp.start >= bp.end || self.n_kmers == 0 {
            return 1..1;
        }
        // k-mer j overlaps iff j·stride < end and j·stride + k > start.
        let first = if bp.start + 1 > self.k {
            (bp.start + 1 - self.k).div_ceil(self.stride)
        } else {
            0
        };
        let last_excl = bp.end.div_ceil(self.stride).min(self.n_kmers);
        if first >= last_excl {
            return 1..1;
        }
        first + 1..last_excl + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference encoder: one k-mer at a time, no rolling state.
    fn naive(tok: &Tokenizer, seq: &[u8]) -> Vec<u32> {
        let mut v = vec![CLS];
        for j in 0..tok.n_kmers(seq.len()) {
            let s = j * tok.stride();
            v.push(tok.kmer_id(&seq[s..s + tok.k()]));
        }
        v.push(SEP);
        v
    }

    #[test]
    fn specials_and_vocab() {
        let t = Tokenizer::new(6, 1).unwrap();
        assert_eq!(t.vocab_size(), 5 + 4096);
        assert_eq!(t.encode(b""), vec![CLS, SEP]);
        assert_eq!(t.encode(b"ACGTA"), vec![CLS, SEP]);
        assert_eq!(t.token_string(PAD), "[PAD]");
        assert_eq!(t.token_string(MASK), "[MASK]");
        assert_eq!(t.kmer_id(b"AAAAAA"), N_SPECIAL);
        assert_eq!(t.kmer_id(b"TTTTTT"), N_SPECIAL + 4095);
        assert!(Tokenizer::new(0, 1).is_err());
        assert!(Tokenizer::new(9, 1).is_err());
        assert!(Tokenizer::new(3, 0).is_err());
    }

    #[test]
    fn case_insensitive_and_unknown() {
        let t = Tokenizer::new(2, 1).unwrap();
        assert_eq!(t.encode(b"acGT"), t.encode(b"ACGT"));
        let ids = t.encode(b"ANCG");
        assert_eq!(ids, vec![CLS, UNK, UNK, t.kmer_id(b"CG"), SEP]);
        let t3 = Tokenizer::new(3, 2).unwrap();
        assert_eq!(
            t3.encode(b"ACGTNCAAT"),
            vec![
                CLS,
                t3.kmer_id(b"ACG"),
                t3.kmer_id(b"GTN"),
                UNK,
                t3.kmer_id(b"AAT"),
                SEP
            ]
        );
    }

    #[test]
    fn covering_examples() {
        let m = Tokenizer::new(3, 1).unwrap().token_map(10); // 8 k-mers, tokens 1..=8
        assert_eq!(m.tokens_covering(0..1), 1..2);
        assert_eq!(m.tokens_covering(2..3), 1..4);
        assert_eq!(m.tokens_covering(9..10), 8..9);
        assert_eq!(m.tokens_covering(4..4), 1..1);
        assert_eq!(m.token_span(0), None);
        assert_eq!(m.token_span(9), None);
        assert_eq!(m.token_span(8), Some(7..10));
    }

    fn dna() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                10 => prop::sample::select(b"ACGTacgt".to_vec()),
                1 => prop::sample::select(b"NnRY-".to_vec()),
            ],
            0..80,
        )
    }

    proptest! {
        #[test]
        fn rolling_matches_naive(seq in dna(), k in 1usize..=8, stride in 1usize..=9) {
            let t = Tokenizer::new(k, stride).unwrap();
            let ids = t.encode(&seq);
            prop_assert_eq!(ids.len(), t.n_tokens(seq.len()));
            prop_assert_eq!(ids, naive(&t, &seq));
        }

        #[test]
        fn map_matches_brute_force(len in 0usize..60, k in 1usize..=8, stride in 1usize..=9,
                                   a in 0usize..70, w in 0usize..20) {
            let t = Tokenizer::new(k, stride).unwrap();
            let m = t.token_map(len);
            prop_assert_eq!(m.n_tokens(), t.n_tokens(len));
            let (s, e) = (a, a + w);
            let hits: Vec<usize> = (0..m.n_tokens())
                .filter(|&i| s < e && m.token_span(i).is_some_and(|r| r.start < e && r.end > s))
                .collect();
            let got = m.tokens_covering(s..e);
            if hits.is_empty() {
                prop_assert!(got.is_empty());
            } else {
                prop_assert_eq!(got, hits[0]..hits[hits.len() - 1] + 1);
                prop_assert_eq!(hits.len(), hits[hits.len() - 1] + 1 - hits[0]);
            }
            for i in 1..=m.n_kmers() {
                let r = m.token_span(i).unwrap();
                prop_assert!(r.end <= len);
                prop_assert_eq!(Some(r), t.token_bp_span(i));
            }
        }

        #[test]
        fn revcomp_round_trip(seq in dna(), k in 1usize..=8) {
            let t = Tokenizer::new(k, 1).unwrap();
            let rc = Tokenizer::reverse_complement(&seq);
            prop_assert_eq!(Tokenizer::reverse_complement(&rc), seq.clone());
            let fwd = t.encode(&seq);
            let mut expect: Vec<u32> = fwd[1..fwd.len() - 1].iter().rev().map(|&i| t.revcomp_id(i)).collect();
            expect.insert(0, CLS);
            expect.push(SEP);
            prop_assert_eq!(t.encode(&rc), expect);
            for &id in &fwd {
                prop_assert_eq!(t.revcomp_id(t.revcomp_id(id)), id);
            }
        }

        #[test]
        fn token_string_round_trip(code in 0u32..65536, k in 1usize..=8) {
            let t = Tokenizer::new(k, 1).unwrap();
            let id = N_SPECIAL + code % (1 << (2 * k));
            prop_assert_eq!(t.kmer_id(t.token_string(id).as_bytes()), id);
        }
    }
}
