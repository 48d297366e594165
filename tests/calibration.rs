//! Calibrated interaction calls with a handful of motifs, on a known predictor.
//!
//! Three motifs, given as a site table: A and B cooperate when B sits 2–10 bp after A; C
//! co-occurs with A just as often, at the same spacing, and matters more than either on
//! its own, but does not interact. The output saturates (3·tanh(g/3)), so *every* pair of
//! important motifs is sub-additive, and one attention head attends to every motif site,
//! so every pair of sites is "linked". The table must call A–B and neither A–C nor B–C.
//! Before this test's statistics, the site-matched test had no other pairs to compare
//! with at this size (`site_p` = 1 on every row) and the distance-matched test called
//! everything; the plain double-mutant epistasis calls the saturating pairs too (checked
//! below, so the test fails if the arrangement control is lost).
use cisformer::analysis::interactions::{
    CausalKind, InteractionAccumulator, InteractionConfig, PairSummaryRow, Score,
};
use cisformer::analysis::{SeqAttention, Site, TokenGeometry};
use cisformer::validate::causal::score_batch;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LEN: usize = 120;
const MOTIFS: [&[u8]; 3] = [b"TTGACGTCA", b"CCAATCGG", b"GATAAGGCT"];

fn find(s: &[u8], m: &[u8]) -> Option<usize> {
    s.windows(m.len()).position(|w| w == m)
}

/// The known predictor: main effects 1, 1, 1.5; A·B adds 2 when B starts 2–10 bp after A
/// ends; the output saturates.
fn predictor(seqs: &[Vec<u8>]) -> cisformer::Result<Vec<f64>> {
    Ok(seqs
        .iter()
        .map(|s| {
            let (a, b, c) = (find(s, MOTIFS[0]), find(s, MOTIFS[1]), find(s, MOTIFS[2]));
            let mut g = a.is_some() as u8 as f64 + b.is_some() as u8 as f64;
            g += 1.5 * c.is_some() as u8 as f64;
            if let (Some(a), Some(b)) = (a, b) {
                let end = a + MOTIFS[0].len();
                if b >= end + 2 && b <= end + 10 {
                    g += 2.0;
                }
            }
            3.0 * (g / 3.0).tanh()
        })
        .collect())
}

/// Sequences with A, B and C planted (A–B and A–C at 2–10 bp half the time each, every
/// motif also alone), and their site tables.
fn data(n: usize, seed: u64) -> (Vec<Vec<u8>>, Vec<Vec<Site>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seqs = Vec::new();
    let mut sites = Vec::new();
    for _ in 0..n {
        let mut s: Vec<u8> = (0..LEN).map(|_| b"ACGT"[rng.random_range(0..4)]).collect();
        let mut st: Vec<Site> = Vec::new();
        let put = |s: &mut Vec<u8>, st: &mut Vec<Site>, m: usize, at: usize| {
            let w = MOTIFS[m].len();
            if at + w > LEN || st.iter().any(|x| at < x.end && x.start < at + w) {
                return false;
            }
            s[at..at + w].copy_from_slice(MOTIFS[m]);
            st.push(Site {
                motif: m,
                start: at,
                end: at + w,
                plus: true,
            });
            true
        };
        // A at 30; B and C at 2–10 bp from it (B after, C before) or far away.
        let a = rng.random_bool(0.7) && put(&mut s, &mut st, 0, 30);
        for (m, near) in [(1usize, 41), (2usize, 11)] {
            if rng.random_bool(0.6) {
                let at = if a && rng.random_bool(0.6) {
                    near + rng.random_range(0..9)
                } else {
                    70 + rng.random_range(0..30)
                };
                put(&mut s, &mut st, m, at);
            }
        }
        seqs.push(s);
        sites.push(st);
    }
    (seqs, sites)
}

/// One head attends to every motif site from everywhere; the other is uniform.
fn attention(sites: &[Site], geom: &TokenGeometry) -> SeqAttention {
    let n = geom.n_tokens();
    let mut key = vec![1.0f32; n];
    for s in sites {
        for t in geom.tokens_overlapping(s.start, s.end) {
            key[t] = 8.0;
        }
    }
    let total: f32 = key.iter().sum();
    let mut attn = Vec::with_capacity(2 * n * n);
    for _ in 0..n {
        attn.extend(key.iter().map(|k| k / total));
    }
    attn.extend(std::iter::repeat_n(1.0 / n as f32, n * n));
    SeqAttention {
        seq_index: 0,
        n_tokens: n,
        n_layers: 1,
        n_heads: 2,
        attn,
    }
}

fn run(kind: CausalKind) -> (Vec<PairSummaryRow>, Vec<(usize, usize, f64)>) {
    let (seqs, sites) = data(600, 11);
    let geom = TokenGeometry {
        k: 1,
        stride: 1,
        n_specials_before: 1,
        seq_len_bp: LEN,
        has_sep: true,
    };
    let mut cfg = InteractionConfig::new(1, 2);
    cfg.causal = kind;
    cfg.motif_names = vec!["A".into(), "B".into(), "C".into()];
    let mut acc = InteractionAccumulator::new(cfg);
    for (i, st) in sites.iter().enumerate() {
        let mut a = attention(st, &geom);
        a.seq_index = i;
        acc.add_scores(Score::Attention, &a, st, &geom).unwrap();
    }
    let items: Vec<(usize, &[u8], &[Site])> = seqs
        .iter()
        .zip(&sites)
        .enumerate()
        .map(|(i, (s, st))| (i, s.as_slice(), st.as_slice()))
        .collect();
    let vals = score_batch(7, &items, &|m| m, u64::MAX, &predictor, 64).unwrap();
    for v in &vals {
        acc.add_causal(v);
    }
    let rows = acc.finish();
    let best: Vec<(usize, usize, f64)> = rows
        .iter()
        .map(|r| (r.motif_a, r.motif_b, r.q_value))
        .collect();
    (acc.finish_pairs(&rows), best)
}

fn q_of(pairs: &[PairSummaryRow], a: usize, b: usize) -> f64 {
    pairs
        .iter()
        .find(|p| (p.motif_a, p.motif_b) == (a, b))
        .map_or(1.0, |p| p.q_value)
}

/// A-B is called in the per-pair table; no other pair is, in the table or in any row.
fn assert_only_a_b_called(pairs: &[PairSummaryRow], rows: &[(usize, usize, f64)]) {
    assert!(q_of(pairs, 0, 1) < 0.05, "A-B not called");
    assert!(q_of(pairs, 0, 2) >= 0.05, "A-C called");
    assert!(q_of(pairs, 1, 2) >= 0.05, "B-C called");
    for &(a, b, q) in rows {
        if (a, b) != (0, 1) {
            assert!(q >= 0.05, "row {a}-{b} called at q {q}");
        }
    }
}

#[test]
fn three_motifs_the_interacting_pair_is_called_the_saturating_ones_are_not() {
    let (pairs, rows) = run(CausalKind::Specific);
    for p in &pairs {
        eprintln!(
            "{}-{}: q {:.3e}, epistasis {:.3} [{:.3}, {:.3}], specific {:.3} [{:.3}, {:.3}] (margin {:.3})",
            p.motif_a,
            p.motif_b,
            p.q_value,
            p.causal.epistasis.mean,
            p.causal.epistasis.lo,
            p.causal.epistasis.hi,
            p.causal.specific.mean,
            p.causal.specific.lo,
            p.causal.specific.hi,
            p.causal.margin
        );
    }
    // Every row: only A-B rows pass, and only under the head that links sites.
    assert_only_a_b_called(&pairs, &rows);
    assert!(rows.iter().any(|&(a, b, q)| (a, b) == (0, 1) && q < 0.05));
    // The A-C pair co-occurs with A at A-B's spacing and saturates the output: its plain
    // epistasis is clearly negative, and a test of it calls the pair.
    let ac = pairs
        .iter()
        .find(|p| (p.motif_a, p.motif_b) == (0, 2))
        .unwrap();
    assert!(ac.causal.epistasis.hi < 0.0, "{:?}", ac.causal.epistasis);
    let (plain, _) = run(CausalKind::Epistasis);
    assert!(
        q_of(&plain, 0, 2) < 0.05,
        "the plain epistasis no longer calls A-C"
    );
}

#[test]
fn the_one_sided_cooperativity_test_calls_the_super_additive_pair_only() {
    // Saturation makes A-C and B-C sub-additive (negative epistasis); the one-sided test of
    // epistasis > margin calls A-B alone, in the per-pair table and in the rows.
    let (pairs, rows) = run(CausalKind::Cooperative);
    assert_only_a_b_called(&pairs, &rows);
    let ab = pairs
        .iter()
        .find(|p| (p.motif_a, p.motif_b) == (0, 1))
        .unwrap();
    assert!(ab.causal.epistasis.lo > ab.causal.margin, "{:?}", ab.causal);
    assert!(ab.causal.strength() > 0.0);
}
