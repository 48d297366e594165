//! Small operations on DNA sequences shared by every stage.

use serde::{Deserialize, Serialize};

/// The code of a byte that is not a base.
pub const INVALID_BASE: u8 = 4;

/// 2-bit base codes: A/a 0, C/c 1, G/g 2, T/t 3, anything else [`INVALID_BASE`]; with
/// `u_as_t`, U/u also 3 (motif scanning reads RNA letters as FIMO does; the tokenizer and
/// the simulator do not).
const fn build_codes(u_as_t: bool) -> [u8; 256] {
    let mut t = [INVALID_BASE; 256];
    let bases = [b'A', b'C', b'G', b'T'];
    let mut i = 0;
    while i < 4 {
        t[bases[i] as usize] = i as u8;
        t[bases[i].to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    if u_as_t {
        t[b'U' as usize] = 3;
        t[b'u' as usize] = 3;
    }
    t
}

static CODES: [u8; 256] = build_codes(false);
static CODES_U: [u8; 256] = build_codes(true);

/// The 2-bit code of base `b` (either case), or [`INVALID_BASE`].
///
/// ```
/// use cisformer::seq::{base_code, INVALID_BASE};
/// assert_eq!((base_code(b'a'), base_code(b'T'), base_code(b'N')), (0, 3, INVALID_BASE));
/// assert_eq!(base_code(b'U'), INVALID_BASE);
/// ```
#[inline]
pub fn base_code(b: u8) -> u8 {
    CODES[b as usize]
}

/// [`base_code`] as an index: `None` for anything but ACGT (either case).
///
/// ```
/// assert_eq!((cisformer::seq::base_index(b'g'), cisformer::seq::base_index(b'N')), (Some(2), None));
/// ```
#[inline]
pub fn base_index(b: u8) -> Option<usize> {
    let c = base_code(b);
    (c != INVALID_BASE).then_some(c as usize)
}

/// As [`base_code`], with U/u read as T.
///
/// ```
/// assert_eq!(cisformer::seq::base_code_u_as_t(b'u'), 3);
/// ```
#[inline]
pub fn base_code_u_as_t(b: u8) -> u8 {
    CODES_U[b as usize]
}

/// Complement of every byte, as `bedtools getfasta -s` applies it: IUPAC
/// codes are complemented (`R`↔`Y`, `K`↔`M`, `B`↔`V`, `D`↔`H`; `S`, `W`, `N`
/// stay), `U` pairs with `A`, case is kept, and any other byte is left as is.
/// Checked against bedtools 2.30.0 on every printable ASCII character.
static COMPLEMENT: [u8; 256] = build_complement();

const fn build_complement() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let pairs: [(u8, u8); 15] = [
        (b'A', b'T'),
        (b'T', b'A'),
        (b'U', b'A'),
        (b'C', b'G'),
        (b'G', b'C'),
        (b'R', b'Y'),
        (b'Y', b'R'),
        (b'K', b'M'),
        (b'M', b'K'),
        (b'B', b'V'),
        (b'V', b'B'),
        (b'D', b'H'),
        (b'H', b'D'),
        (b'S', b'S'),
        (b'W', b'W'),
    ];
    let mut j = 0;
    while j < pairs.len() {
        let (a, b) = pairs[j];
        t[a as usize] = b;
        t[(a + 32) as usize] = b + 32;
        j += 1;
    }
    t
}

/// The complement of one base (see [`reverse_complement`] for the rules).
///
/// ```
/// assert_eq!(cisformer::seq::complement(b'a'), b't');
/// assert_eq!(cisformer::seq::complement(b'R'), b'Y');
/// assert_eq!(cisformer::seq::complement(b'N'), b'N');
/// ```
#[inline]
pub fn complement(base: u8) -> u8 {
    COMPLEMENT[base as usize]
}

/// Reverse complement of `seq`: IUPAC-aware, case-preserving, byte-identical to
/// `bedtools getfasta -s` on the minus strand.
///
/// ```
/// use cisformer::seq::reverse_complement;
/// assert_eq!(reverse_complement(b"ACGTNacgtn"), b"nacgtNACGT");
/// assert_eq!(reverse_complement(b"RYKMBVDHSW"), b"WSDHBVKMRY");
/// ```
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| COMPLEMENT[b as usize]).collect()
}

/// [`reverse_complement`] in place, without allocating.
///
/// On x86-64 with SSSE3, 16-byte blocks made only of `ACGTN`/`acgtn` are done with
/// byte shuffles; anything else (IUPAC codes, other bytes) takes the table path.
///
/// ```
/// let mut s = b"AAcG".to_vec();
/// cisformer::seq::reverse_complement_in_place(&mut s);
/// assert_eq!(s, b"CgTT");
/// ```
pub fn reverse_complement_in_place(seq: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if seq.len() >= 32 && std::arch::is_x86_feature_detected!("ssse3") {
        // SAFETY: SSSE3 availability was just checked.
        let (i, j) = unsafe { simd::revcomp_outer_blocks(seq) };
        reverse_complement_scalar(&mut seq[i..j]);
        return;
    }
    reverse_complement_scalar(seq);
}

fn reverse_complement_scalar(seq: &mut [u8]) {
    let n = seq.len();
    let (mut i, mut j) = (0, n);
    while i + 1 < j {
        j -= 1;
        let (a, b) = (seq[i], seq[j]);
        seq[i] = COMPLEMENT[b as usize];
        seq[j] = COMPLEMENT[a as usize];
        i += 1;
    }
    if i + 1 == j {
        seq[i] = COMPLEMENT[seq[i] as usize];
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Reverse-complements matching 16-byte blocks from both ends inwards, as long as
    /// both blocks hold only `ACGTNacgtn`. Returns the untouched middle `[i, j)`, which
    /// the caller reverse-complements in place (that completes the whole, since the
    /// outer blocks were swapped symmetrically).
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn revcomp_outer_blocks(seq: &mut [u8]) -> (usize, usize) {
        // Low nibbles: A=1, C=3, T=4, G=7, N=14 (the same for lowercase).
        let comp = _mm_setr_epi8(
            0, 0x54, 0, 0x47, 0x41, 0, 0, 0x43, 0, 0, 0, 0, 0, 0, 0x4e, 0,
        );
        let m = -1i8;
        let expect = _mm_setr_epi8(
            m, 0x41, m, 0x43, 0x54, m, m, 0x47, m, m, m, m, m, m, 0x4e, m,
        );
        let rev = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        let nib = _mm_set1_epi8(0x0f);
        let case = _mm_set1_epi8(0x20);
        let upper = _mm_set1_epi8(0xdfu8 as i8);
        let block = |x: __m128i| -> (__m128i, bool) {
            let lo = _mm_and_si128(x, nib);
            let ok = _mm_cmpeq_epi8(_mm_and_si128(x, upper), _mm_shuffle_epi8(expect, lo));
            let c = _mm_or_si128(_mm_shuffle_epi8(comp, lo), _mm_and_si128(x, case));
            (_mm_shuffle_epi8(c, rev), _mm_movemask_epi8(ok) == 0xffff)
        };
        let p = seq.as_mut_ptr();
        let (mut i, mut j) = (0usize, seq.len());
        // SAFETY (for the loads and stores): i + 16 <= j - 16 <= len throughout.
        while j - i >= 32 {
            let a = unsafe { _mm_loadu_si128(p.add(i) as *const __m128i) };
            let b = unsafe { _mm_loadu_si128(p.add(j - 16) as *const __m128i) };
            let (ca, oka) = block(a);
            let (cb, okb) = block(b);
            if !(oka && okb) {
                break;
            }
            unsafe {
                _mm_storeu_si128(p.add(i) as *mut __m128i, cb);
                _mm_storeu_si128(p.add(j - 16) as *mut __m128i, ca);
            }
            i += 16;
            j -= 16;
        }
        (i, j)
    }
}

/// Relative orientation of two sites read left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// Same strand: `-> ->` or `<- <-`.
    Tandem,
    /// `-> <-`.
    Convergent,
    /// `<- ->`.
    Divergent,
    /// Any of the three.
    Any,
}

impl Orientation {
    /// The orientation of a left site on `left_plus` and a right site on `right_plus`.
    pub fn of(left_plus: bool, right_plus: bool) -> Orientation {
        match (left_plus, right_plus) {
            (true, true) | (false, false) => Orientation::Tandem,
            (true, false) => Orientation::Convergent,
            (false, true) => Orientation::Divergent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Orientation::Tandem => "tandem",
            Orientation::Convergent => "convergent",
            Orientation::Divergent => "divergent",
            Orientation::Any => "any",
        }
    }

    /// Whether a planting rule of this orientation accepts a pair oriented `o`.
    pub(crate) fn admits(self, o: Orientation) -> bool {
        self == Orientation::Any || self == o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bedtools_on_all_printable_ascii() {
        // Input and `bedtools getfasta -s` output (v2.30.0) on a minus-strand interval.
        let input: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\"#$%&'()*+,-./:;<=?@[\\]^_`{|}~";
        let bedtools: &[u8] = b"~}|{`_^]\\[@?=<;:/.-,+*)('&%$#\"!ZRXWBAASYQPONKLMJIDCFEHGVTzrxwbaasyqponklmjidcfehgvt9876543210";
        assert_eq!(reverse_complement(input), bedtools);
        let mut s = input.to_vec();
        reverse_complement_in_place(&mut s);
        assert_eq!(s, bedtools);
    }

    #[test]
    fn fast_path_matches_table_on_random_sequences() {
        let alphabet = b"ACGTNacgtnACGTACGTRYKMswbdhv-.";
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for len in 0..300 {
            for round in 0..4 {
                let pool = if round < 2 { 14 } else { alphabet.len() };
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % pool as u64) as usize]
                    })
                    .collect();
                let want: Vec<u8> = s.iter().rev().map(|&b| complement(b)).collect();
                let mut got = s.clone();
                reverse_complement_in_place(&mut got);
                assert_eq!(got, want, "{}", String::from_utf8_lossy(&s));
            }
        }
    }

    #[test]
    fn in_place_odd_even_and_empty() {
        for s in [&b""[..], b"A", b"AC", b"ACG", b"ACGTa"] {
            let mut v = s.to_vec();
            reverse_complement_in_place(&mut v);
            assert_eq!(v, reverse_complement(s));
            reverse_complement_in_place(&mut v);
            assert_eq!(v, s);
        }
    }
}
