//! Small operations on DNA sequences shared by every stage.

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
/// ```
/// let mut s = b"AAcG".to_vec();
/// cisformer::seq::reverse_complement_in_place(&mut s);
/// assert_eq!(s, b"CgTT");
/// ```
pub fn reverse_complement_in_place(seq: &mut [u8]) {
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
