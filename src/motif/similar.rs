//! Motif similarity (TomTom-like column-wise Pearson correlation over the best
//! offset and strand) and single-linkage clustering of near-identical motifs.
//!
//! ```
//! use cisformer::motif::{parse_str, similar};
//! let f = parse_str(">a x\nA [9 9 1 1]\nC [1 1 1 1]\nG [1 1 9 1]\nT [1 1 1 9]\n>b y\nA [9 1 1 1]\nC [1 9 1 1]\nG [1 1 1 1]\nT [1 1 9 9]\n", "m.jaspar", None).unwrap();
//! let al = similar::compare(&f.motifs[0], &f.motifs[1], 3);
//! assert!(!al.same_strand && al.score > 0.9); // b is a's reverse complement
//! ```
use rayon::prelude::*;

use super::Motif;

/// The best alignment of motif `b` against motif `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alignment {
    /// Sum of the column correlations over the overlap, divided by the wider motif's
    /// width: 1 only for identical widths and shapes; unmatched columns count 0.
    pub score: f64,
    /// Mean column correlation over the overlap.
    pub mean_pcc: f64,
    /// Aligned columns.
    pub overlap: usize,
    /// Column of `a` facing column 0 of `b` (or of `b`'s reverse complement); may be negative.
    pub offset: isize,
    /// Whether `b` aligns as given (`true`) or reverse-complemented.
    pub same_strand: bool,
}

/// Pearson correlation of two 4-vectors; 0 when either is constant.
fn pcc(x: &[f64; 4], y: &[f64; 4]) -> f64 {
    let mx = x.iter().sum::<f64>() / 4.0;
    let my = y.iter().sum::<f64>() / 4.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for k in 0..4 {
        let (dx, dy) = (x[k] - mx, y[k] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 1e-12 || syy <= 1e-12 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Best alignment of `b` to `a` over both strands and every offset with at least
/// `min_overlap` columns (capped at the narrower width). Ties keep the first found
/// (forward strand, smallest offset), so results are deterministic.
pub fn compare(a: &Motif, b: &Motif, min_overlap: usize) -> Alignment {
    let (wa, wb) = (a.width() as isize, b.width() as isize);
    let min_ov = (min_overlap.max(1) as isize).min(wa.min(wb));
    let rc = b.reverse_complement();
    let mut best = Alignment {
        score: f64::NEG_INFINITY,
        mean_pcc: 0.0,
        overlap: 0,
        offset: 0,
        same_strand: true,
    };
    for (bb, same) in [(b, true), (&rc, false)] {
        for off in (min_ov - wb)..=(wa - min_ov) {
            let lo = off.max(0);
            let hi = (off + wb).min(wa);
            let mut sum = 0.0;
            for i in lo..hi {
                sum += pcc(&a.probs[i as usize], &bb.probs[(i - off) as usize]);
            }
            let overlap = (hi - lo) as usize;
            let score = sum / wa.max(wb) as f64;
            if score > best.score + 1e-12 {
                best = Alignment {
                    score,
                    mean_pcc: sum / overlap as f64,
                    overlap,
                    offset: off,
                    same_strand: same,
                };
            }
        }
    }
    if best.score == f64::NEG_INFINITY {
        best.score = 0.0;
    }
    best
}

/// Scores of every pair (upper triangle, row-major: (0,1), (0,2), …, (1,2), …), in parallel.
pub fn all_pairs(motifs: &[Motif], min_overlap: usize) -> Vec<(usize, usize, Alignment)> {
    let n = motifs.len();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            ((i + 1)..n).map(move |j| (i, j, compare(&motifs[i], &motifs[j], min_overlap)))
        })
        .collect()
}

/// A name per cluster of [`cluster`]'s numbering: its members' `names` joined with `/`,
/// in motif order (entries past the last cluster stay empty).
pub fn cluster_names(clusters: &[usize], names: &[String]) -> Vec<String> {
    let mut out = vec![String::new(); names.len()];
    for (i, &c) in clusters.iter().enumerate() {
        if !out[c].is_empty() {
            out[c].push('/');
        }
        out[c].push_str(&names[i]);
    }
    out
}

/// Single-linkage clustering: motifs are in one cluster when a chain of pairs each
/// scoring at least `threshold` joins them (connected components), so any two motifs
/// at least that similar always share a cluster. Returns a cluster number per motif,
/// numbered by first member in input order (0, 1, …).
pub fn cluster(motifs: &[Motif], threshold: f64, min_overlap: usize) -> Vec<usize> {
    let n = motifs.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (i, j, al) in all_pairs(motifs, min_overlap) {
        if al.score >= threshold {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            // Keep the smaller index as root so numbering is order-independent.
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut number = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|x| {
            let r = root(&mut parent, x);
            if number[r] == usize::MAX {
                number[r] = next;
                next += 1;
            }
            number[r]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, cons: &str) -> Motif {
        Motif {
            id: id.into(),
            name: String::new(),
            probs: cons
                .bytes()
                .map(|b| {
                    let mut r = [0.05; 4];
                    r[b"ACGT".iter().position(|&x| x == b).unwrap()] = 0.85;
                    r
                })
                .collect(),
            nsites: 20.0,
            url: None,
        }
    }

    #[test]
    fn identical_shifted_and_reverse_complement() {
        let a = m("a", "TTGATAAGG");
        let al = compare(&a, &a, 5);
        assert!((al.score - 1.0).abs() < 1e-9 && al.offset == 0 && al.same_strand);
        let rc = a.reverse_complement();
        let al = compare(&a, &rc, 5);
        assert!((al.score - 1.0).abs() < 1e-9 && !al.same_strand);
        let core = m("c", "GATAA");
        let al = compare(&a, &core, 5);
        assert_eq!((al.offset, al.overlap, al.same_strand), (2, 5, true));
        assert!((al.mean_pcc - 1.0).abs() < 1e-9 && (al.score - 5.0 / 9.0).abs() < 1e-9);
        assert!(compare(&a, &m("x", "CCCCCCCCC"), 5).score < 0.5);
    }

    #[test]
    fn clusters_near_identical_motifs() {
        let ms = vec![
            m("gata1", "AGATAAG"),
            m("ctcf", "CCGCGNGGNGGCAG".replace('N', "A").as_str()),
            m("gata2", "AGATAAG"),
            m("gata_rc", "CTTATCT"),
        ];
        let c = cluster(&ms, 0.8, 5);
        assert_eq!(c, vec![0, 1, 0, 0]);
        assert_eq!(cluster(&ms, 1.01, 5), vec![0, 1, 2, 3]);
    }
}
