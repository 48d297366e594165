//! Head atlas and interaction tables on planted data and hand-built attention:
//! recovery of cooperative pairs, distance-matched nulls, no signal from uniform
//! heads, and byte-identical sharded/parallel runs.

use cisformer::analysis::heads::{
    HeadAccumulator, HeadConfig, HeadImportance, PruneRule, write_focus_tsv,
};
use cisformer::analysis::heads::{HeadRow, write_heads_tsv};
use cisformer::analysis::heads::{TrackValue, write_head_bedgraph};
use cisformer::analysis::interactions::{
    InteractionAccumulator, InteractionConfig, InteractionRow, Score, write_bedpe,
    write_interactions_tsv, write_pair_summary_tsv,
};
use cisformer::analysis::{
    PartialFile, SeqAttention, Shard, Site, TokenGeometry, add_batch, load_partial,
};
use cisformer::motif::Motif;
use cisformer::simulate::{Background, Grammar, PairKind, SimSequence, Simulator};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Just enough MEME parsing for the embedded motif file (the real parser lives in
/// `motif`, owned elsewhere).
fn sim_motifs() -> Vec<Motif> {
    let text = include_str!("../data/motifs/sim_motifs.meme");
    let mut out: Vec<Motif> = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("MOTIF ") {
            let mut f = rest.split_whitespace();
            let id = f.next().unwrap().to_string();
            let name = f.next().unwrap_or("").to_string();
            let head = lines.next().unwrap();
            let w: usize = head
                .split("w=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let probs = (0..w)
                .map(|_| {
                    let v: Vec<f64> = lines
                        .next()
                        .unwrap()
                        .split_whitespace()
                        .map(|x| x.parse().unwrap())
                        .collect();
                    [v[0], v[1], v[2], v[3]]
                })
                .collect();
            out.push(Motif {
                id,
                name,
                probs,
                nsites: 100.0,
                url: None,
            });
        }
    }
    out
}

struct World {
    motifs: Vec<Motif>,
    seqs: Vec<SimSequence>,
    /// Unordered motif pairs that the grammar makes interact.
    interacting: Vec<(usize, usize)>,
    decoys: Vec<(usize, usize)>,
    /// For each grammar pair, whether it interacts.
    pair_interacts: Vec<bool>,
}

fn world(n: usize, seed: u64) -> World {
    let motifs = sim_motifs();
    let accept = |_: usize, _: &[u8]| true;
    let g = Grammar::default();
    let sim = Simulator::new(g.clone(), &motifs, Background::Iid { gc: 0.42 }, &accept).unwrap();
    let seqs = sim.generate(n, seed).unwrap();
    let mut interacting = vec![];
    let mut decoys = vec![];
    for (i, p) in g.pair.iter().enumerate() {
        let (a, b) = sim.pair_motifs(i);
        let key = (a.min(b), a.max(b));
        if p.kind == PairKind::Decoy {
            decoys.push(key);
        } else {
            interacting.push(key);
        }
    }
    let pair_interacts = g.pair.iter().map(|p| p.kind.interacts()).collect();
    World {
        motifs,
        seqs,
        interacting,
        decoys,
        pair_interacts,
    }
}

const GEOM_K: usize = 6;

fn geometry(len: usize) -> TokenGeometry {
    TokenGeometry {
        k: GEOM_K,
        stride: 1,
        n_specials_before: 1,
        seq_len_bp: len,
        has_sep: true,
    }
}

const LAYERS: usize = 2;
const HEADS: usize = 3;
/// The head that links the two sites of each interacting pair.
const LINK: (usize, usize) = (1, 0);

/// Synthetic attention: L0H0 uniform, L0H1 local, L0H2 noisy, L1H0 local plus links
/// between the sites of each planted interacting pair, L1H1 mostly on `[CLS]`,
/// L1H2 a copy of L0H1 (redundant).
fn attention(s: &SimSequence, idx: usize, w: &World, g: &TokenGeometry) -> SeqAttention {
    let n = g.n_tokens();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    rng.set_stream(idx as u64);
    let mut attn = vec![0f32; LAYERS * HEADS * n * n];
    let local = |q: usize, k: usize| (-((q as f32 - k as f32).abs()) / 3.0).exp();
    let mut links: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = vec![];
    for (i, x) in s.sites.iter().enumerate() {
        for y in &s.sites[i + 1..] {
            if let (Some(p), Some(q)) = (x.pair, y.pair)
                && p == q
                && w.pair_interacts[p]
            {
                links.push((
                    g.tokens_overlapping(x.start, x.end),
                    g.tokens_overlapping(y.start, y.end),
                ));
            }
        }
    }
    for l in 0..LAYERS {
        for h in 0..HEADS {
            let o = (l * HEADS + h) * n * n;
            let m = &mut attn[o..o + n * n];
            for q in 0..n {
                let row = &mut m[q * n..(q + 1) * n];
                for (k, v) in row.iter_mut().enumerate() {
                    *v = match (l, h) {
                        (0, 0) => 1.0,
                        (0, 1) | (1, 2) => local(q, k) + 0.001,
                        (0, 2) => rng.random::<f32>() + 0.01,
                        (1, 0) => (local(q, k) + 0.02) * (0.7 + 0.6 * rng.random::<f32>()),
                        _ => {
                            if k == 0 {
                                20.0
                            } else {
                                0.1 + rng.random::<f32>() * 0.1
                            }
                        }
                    };
                }
                if (l, h) == LINK {
                    for (a, b) in &links {
                        let other = if a.contains(&q) {
                            Some(b)
                        } else if b.contains(&q) {
                            Some(a)
                        } else {
                            None
                        };
                        if let Some(r) = other {
                            for k in r.clone() {
                                row[k] += 0.5;
                            }
                        }
                    }
                }
                let sum: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
    }
    SeqAttention {
        seq_index: idx,
        n_tokens: n,
        n_layers: LAYERS,
        n_heads: HEADS,
        attn,
    }
}

fn sites_of(s: &SimSequence) -> Vec<Site> {
    s.sites
        .iter()
        .map(|x| Site {
            motif: x.motif,
            start: x.start,
            end: x.end,
            plus: x.plus,
        })
        .collect()
}

fn names(w: &World) -> Vec<String> {
    w.motifs.iter().map(|m| m.name.clone()).collect()
}

/// All four tables of one accumulator pair, as bytes.
fn tables(h: &HeadAccumulator, i: &InteractionAccumulator, w: &World) -> Vec<Vec<u8>> {
    let nm = names(w);
    let mut out = vec![vec![]; 5];
    write_heads_tsv(&mut out[0], &h.finish(), &nm).unwrap();
    write_focus_tsv(&mut out[1], &h.finish_focus(), &nm).unwrap();
    let rows = i.finish();
    write_interactions_tsv(&mut out[2], &rows, &nm).unwrap();
    write_pair_summary_tsv(&mut out[3], &i.finish_pairs(&rows), &nm).unwrap();
    let seq_name = |k: usize| format!("chr1:{}-{}", 1000 * k, 1000 * k + 200);
    write_bedpe(&mut out[4], &i.top_site_pairs(), &seq_name, &nm).unwrap();
    out
}

fn accumulators() -> (HeadAccumulator, InteractionAccumulator) {
    let mut ic = InteractionConfig::new(LAYERS, HEADS);
    ic.top_site_pairs = 50;
    // The synthetic link head only adds weight on the sites' own rows: its sites get about
    // 0.2 shares more than background, a real but small focus under the default margin.
    let mut hc = HeadConfig::new(LAYERS, HEADS);
    hc.focus_margin = 0.1;
    (HeadAccumulator::new(hc), InteractionAccumulator::new(ic))
}

fn average_precision(ranked_positive: &[bool]) -> f64 {
    let total = ranked_positive.iter().filter(|&&p| p).count();
    let mut hits = 0;
    let mut ap = 0.0;
    for (i, &p) in ranked_positive.iter().enumerate() {
        if p {
            hits += 1;
            ap += hits as f64 / (i + 1) as f64;
        }
    }
    ap / total as f64
}

#[test]
fn recovers_cooperative_pairs_on_planted_data() {
    let w = world(300, 11);
    let (mut heads, mut inter) = accumulators();
    for (i, s) in w.seqs.iter().enumerate() {
        let g = geometry(s.seq.len());
        let a = attention(s, i, &w, &g);
        let sites = sites_of(s);
        heads.add(&a, &sites, &g).unwrap();
        inter.add(&a, &sites, &g).unwrap();
    }
    let rows = inter.finish();
    let pairs = inter.finish_pairs(&rows);
    let labels: Vec<bool> = pairs
        .iter()
        .map(|p| w.interacting.contains(&(p.motif_a, p.motif_b)))
        .collect();
    let ap = average_precision(&labels);
    assert!(ap >= 0.9, "AUPRC {ap}");
    for p in pairs
        .iter()
        .filter(|p| w.interacting.contains(&(p.motif_a, p.motif_b)))
    {
        assert_eq!((p.best_layer, p.best_head), LINK, "{p:?}");
        // The heads' evidence is strong; without a causal test (no predictor here) no
        // pair is called: attention alone never makes an interaction.
        assert!(p.combined_p < 1e-3, "{p:?}");
        assert_eq!(p.q_value, 1.0, "{p:?}");
    }
    // Decoys co-occur just as often but rank below every interacting pair.
    let worst_true = pairs
        .iter()
        .filter(|p| w.interacting.contains(&(p.motif_a, p.motif_b)))
        .map(|p| p.rank)
        .max()
        .unwrap();
    for d in &w.decoys {
        let r = pairs
            .iter()
            .find(|p| (p.motif_a, p.motif_b) == *d)
            .expect("decoy pairs are in the table");
        assert!(r.rank > worst_true, "decoy {r:?}");
    }
    // Only the linking head has significant rows; the top rows are interacting pairs.
    for r in rows.iter().filter(|r| r.head_p < 1e-6) {
        assert_eq!((r.layer, r.head), LINK, "{r:?}");
    }
    let top: &InteractionRow = &rows[0];
    assert!(w.interacting.contains(&(top.motif_a, top.motif_b)));
    assert!(top.effect > 1.0, "{top:?}");

    // Head atlas: the shapes we built are the shapes it reports.
    let atlas = heads.finish();
    let row = |l: usize, h: usize| -> &HeadRow { &atlas[l * HEADS + h] };
    assert!((row(0, 0).entropy - 1.0).abs() < 1e-3, "{:?}", row(0, 0));
    assert!(!row(0, 0).motif_focus && row(0, 0).top_motif_p > 0.05);
    assert!(row(0, 1).local_fraction > 0.8 && row(0, 1).mean_distance_bp < 8.0);
    assert!(row(0, 0).local_fraction < 0.1 && row(0, 0).mean_distance_bp > 50.0);
    assert!(row(1, 1).boundary_fraction > 0.4);
    assert!(row(1, 0).motif_focus, "{:?}", row(1, 0));
    let focus_motif = row(1, 0).top_motif.unwrap();
    assert!(
        w.interacting
            .iter()
            .any(|&(a, b)| a == focus_motif || b == focus_motif)
    );
    assert_eq!(row(0, 1).most_similar_head, Some((1, 2)));
    assert!(row(0, 1).redundancy > 0.999, "{:?}", row(0, 1));
    assert!(!row(0, 0).prune_candidate);
    let mut h2 = heads.clone();
    h2.set_prune_rule(PruneRule {
        entropy_max: 0.6,
        ..PruneRule::default()
    });
    h2.set_importance(HeadImportance {
        layer: 0,
        head: 0,
        dmetric: 0.0,
        dpred: Some(0.0),
    })
    .unwrap();
    let atlas2 = h2.finish();
    assert!(atlas2[0].prune_candidate && atlas2[0].importance_dmetric == Some(0.0));
    // Redundant and focused (entropy below the rule's bound): a pruning candidate.
    assert!(atlas2[1].prune_candidate && atlas2[HEADS + 2].prune_candidate);
    assert!(!atlas2[HEADS].prune_candidate, "{:?}", atlas2[HEADS]);
}

#[test]
fn sharded_merged_and_parallel_runs_are_byte_identical() {
    let w = world(60, 5);
    let inputs: Vec<(SeqAttention, Vec<Site>, TokenGeometry)> = w
        .seqs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let g = geometry(s.seq.len());
            (attention(s, i, &w, &g), sites_of(s), g)
        })
        .collect();
    let (mut h, mut it) = accumulators();
    for (a, s, g) in &inputs {
        h.add(a, s, g).unwrap();
        it.add(a, s, g).unwrap();
    }
    let single = tables(&h, &it, &w);
    assert!(single[2].len() > 1000 && single[4].len() > 100);

    let dir = tempfile::tempdir().unwrap();
    let n_shards = 3;
    for k in 1..=n_shards {
        let shard: Shard = format!("{k}/{n_shards}").parse().unwrap();
        let (mut h, mut it) = accumulators();
        h.set_shard(shard);
        it.set_shard(shard);
        for (a, s, g) in inputs.iter().filter(|x| shard.contains(x.0.seq_index)) {
            h.add(a, s, g).unwrap();
            it.add(a, s, g).unwrap();
        }
        h.save_partial(&dir.path().join(format!("h{k}.json")))
            .unwrap();
        it.save_partial(&dir.path().join(format!("i{k}.json")))
            .unwrap();
    }
    // Merge in a different order than the shards were made.
    let load_h =
        |k: usize| HeadAccumulator::load_partial(&dir.path().join(format!("h{k}.json"))).unwrap();
    let load_i = |k: usize| {
        InteractionAccumulator::load_partial(&dir.path().join(format!("i{k}.json"))).unwrap()
    };
    let mut mh = load_h(3);
    let mut mi = load_i(3);
    assert!(!mh.is_complete());
    for k in [1, 2] {
        mh.merge(load_h(k)).unwrap();
        mi.merge(load_i(k)).unwrap();
    }
    assert!(mh.is_complete() && mi.is_complete());
    let merged = tables(&mh, &mi, &w);
    for (a, b) in single.iter().zip(&merged) {
        assert!(
            a == b,
            "sharded output differs:\n{}\n---\n{}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        );
    }
    // Merging a shard twice is refused.
    assert!(mh.merge(load_h(1)).is_err());

    // Rayon batches give the same bytes.
    let (mut ph, mut pi) = accumulators();
    let items: Vec<(&SeqAttention, &[Site], &TokenGeometry)> = inputs
        .iter()
        .map(|(a, s, g)| (a, s.as_slice(), g))
        .collect();
    for batch in items.chunks(17) {
        ph.add_batch(batch).unwrap();
        pi.add_batch(batch).unwrap();
    }
    assert_eq!(tables(&ph, &pi, &w), single);
    // And so does the combined parallel pass.
    let (mut ch, mut ci) = accumulators();
    for batch in items.chunks(23) {
        add_batch(Some(&mut ch), Some(&mut ci), batch).unwrap();
    }
    assert_eq!(tables(&ch, &ci, &w), single);
}

#[test]
fn uniform_attention_gives_no_focus_and_no_interactions() {
    let w = world(150, 3);
    let (mut h, mut it) = accumulators();
    for (i, s) in w.seqs.iter().enumerate() {
        let g = geometry(s.seq.len());
        let n = g.n_tokens();
        let a = SeqAttention {
            seq_index: i,
            n_tokens: n,
            n_layers: LAYERS,
            n_heads: HEADS,
            attn: vec![1.0 / n as f32; LAYERS * HEADS * n * n],
        };
        let sites = sites_of(s);
        h.add(&a, &sites, &g).unwrap();
        it.add(&a, &sites, &g).unwrap();
    }
    for r in h.finish() {
        assert!(!r.motif_focus && r.top_motif_p > 0.05, "{r:?}");
    }
    assert!(h.finish_focus().iter().all(|r| r.q_value > 0.05));
    let rows = it.finish();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r.p_value > 0.05 && r.q_value > 0.05, "{r:?}");
        assert!(r.effect.abs() < 1e-4, "{r:?}");
    }
}

#[test]
fn null_is_distance_matched() {
    // Circulant attention (each row is a shift of one kernel, no special tokens): the
    // co-attention of two spans depends only on their lengths and distance. Close
    // pairs get far more co-attention than distant ones, yet neither beats its null.
    let g = TokenGeometry {
        k: 1,
        stride: 1,
        n_specials_before: 0,
        seq_len_bp: 150,
        has_sep: false,
    };
    let n = g.n_tokens();
    let kernel: Vec<f32> = (0..n)
        .map(|d| {
            let d = d.min(n - d) as f32;
            (-d / 4.0).exp() + 1e-3
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    let mut map = vec![0f32; n * n];
    for q in 0..n {
        for k in 0..n {
            map[q * n + k] = kernel[(k + n - q) % n] / total;
        }
    }
    let mut cfg = InteractionConfig::new(1, 1);
    cfg.min_pairs = 10;
    let mut acc = InteractionAccumulator::new(cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for i in 0..40 {
        let a = rng.random_range(0..60usize);
        let close = a + 8 + rng.random_range(2..5usize);
        let far = rng.random_range(90..130usize);
        let sites = [
            Site {
                motif: 0,
                start: a,
                end: a + 8,
                plus: true,
            },
            Site {
                motif: 1,
                start: close,
                end: close + 6,
                plus: false,
            },
            Site {
                motif: 2,
                start: far,
                end: far + 7,
                plus: true,
            },
        ];
        let att = SeqAttention {
            seq_index: i,
            n_tokens: n,
            n_layers: 1,
            n_heads: 1,
            attn: map.clone(),
        };
        acc.add(&att, &sites, &g).unwrap();
        // The same values as an activity-aware score: a parallel set of rows.
        acc.add_scores(Score::AttnGrad, &att, &sites, &g).unwrap();
    }
    let all = acc.finish();
    let (mut rows, mut grad): (Vec<InteractionRow>, Vec<InteractionRow>) =
        all.into_iter().partition(|r| r.score == Score::Attention);
    assert_eq!(rows.len(), grad.len());
    rows.sort_by_key(|r| (r.motif_a, r.motif_b));
    grad.sort_by_key(|r| (r.motif_a, r.motif_b));
    for (a, b) in rows.iter().zip(&grad) {
        assert_eq!(
            (a.motif_a, a.motif_b, a.p_value, a.q_value),
            (b.motif_a, b.motif_b, b.p_value, b.q_value)
        );
    }
    let get = |a, b| {
        rows.iter()
            .find(|r| (r.motif_a, r.motif_b) == (a, b))
            .unwrap()
    };
    let (near, distant) = (get(0, 1), get(0, 2));
    assert!(
        near.co_attention > 20.0 * distant.co_attention,
        "{near:?} {distant:?}"
    );
    for r in &rows {
        assert!(r.effect.abs() < 1e-6, "{r:?}");
        assert!(r.p_value > 0.5, "{r:?}");
        let want = match (r.motif_a, r.motif_b) {
            (0, 1) => "convergent",
            (0, 2) => "tandem",
            _ => "divergent",
        };
        assert_eq!(r.orientation.as_str(), want);
    }
    assert!(near.median_distance_bp >= 2 && near.median_distance_bp <= 4);
}

#[test]
fn site_matched_null_separates_a_specific_link_from_general_motif_attention() {
    // Head 0 attends to every motif site from everywhere (a key main effect), so every
    // pair of sites beats the distance-matched null. Head 1 does the same and also links
    // the sites of motifs 0 and 1 to each other. Only that link passes both tests.
    let g = TokenGeometry {
        k: 1,
        stride: 1,
        n_specials_before: 0,
        seq_len_bp: 160,
        has_sep: false,
    };
    let n = g.n_tokens();
    let mut cfg = InteractionConfig::new(1, 2);
    cfg.min_pairs = 10;
    let mut acc = InteractionAccumulator::new(cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for i in 0..60 {
        // Four sites of motifs 0..4 in a shuffled order, 40 bp slots.
        let mut order = [0usize, 1, 2, 3];
        for j in (1..4).rev() {
            order.swap(j, rng.random_range(0..=j));
        }
        let sites: Vec<Site> = order
            .iter()
            .enumerate()
            .map(|(slot, &m)| {
                let start = slot * 40 + rng.random_range(0..30usize);
                Site {
                    motif: m,
                    start,
                    end: start + 8,
                    plus: rng.random_bool(0.5),
                }
            })
            .collect();
        let on = |m: usize, t: usize| {
            sites
                .iter()
                .any(|s| s.motif == m && (s.start..s.end).contains(&t))
        };
        let any = |t: usize| (0..4).any(|m| on(m, t));
        let mut attn = vec![0f32; 2 * n * n];
        for h in 0..2 {
            for q in 0..n {
                let row = &mut attn[(h * n + q) * n..(h * n + q + 1) * n];
                for (k, v) in row.iter_mut().enumerate() {
                    *v = if any(k) { 6.0 } else { 1.0 };
                    if h == 1 && ((on(0, q) && on(1, k)) || (on(1, q) && on(0, k))) {
                        *v += 30.0;
                    }
                }
                let sum: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        let a = SeqAttention {
            seq_index: i,
            n_tokens: n,
            n_layers: 1,
            n_heads: 2,
            attn,
        };
        acc.add(&a, &sites, &g).unwrap();
    }
    let rows = acc.finish();
    assert_eq!(rows.len(), 2 * 6);
    for r in &rows {
        let linked = r.head == 1 && (r.motif_a, r.motif_b) == (0, 1);
        // Every pair of sites beats the distance-matched null...
        assert!(r.distance_p < 1e-6 && r.head_p < 1e-6, "{r:?}");
        if linked {
            assert!(r.contrast > 1.0 && r.site_auc > 0.99, "{r:?}");
            assert!(r.site_p < 1e-6 && r.rank == 1, "{r:?}");
        } else {
            // ...but only the link is specific: general attention to sites cancels.
            assert!(r.contrast.abs() < 0.25, "{r:?}");
            assert!(r.site_p > 0.01, "{r:?}");
        }
        // Attention alone calls nothing (no causal test here).
        assert_eq!(r.q_value, 1.0, "{r:?}");
    }
}

#[test]
fn bad_input_is_refused() {
    let g = geometry(50);
    let (mut h, mut it) = accumulators();
    let a = SeqAttention {
        seq_index: 0,
        n_tokens: 10,
        n_layers: LAYERS,
        n_heads: HEADS,
        attn: vec![0.1; LAYERS * HEADS * 100],
    };
    let e = h.add(&a, &[], &g).unwrap_err().to_string();
    assert!(e.contains("tokens"), "{e}");
    assert!(it.add(&a, &[], &g).is_err());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.json");
    std::fs::write(&p, "{\"format\":\"x\"").unwrap();
    assert!(InteractionAccumulator::load_partial(&p).is_err());
    assert!("5/4".parse::<Shard>().is_err());
}

#[test]
fn bedgraph_uses_genome_coordinates() {
    let g = TokenGeometry {
        k: 3,
        stride: 1,
        n_specials_before: 1,
        seq_len_bp: 10,
        has_sep: true,
    };
    let n = g.n_tokens();
    // Every query attends to token 3: content token 2, bp [2, 5).
    let mut attn = vec![0f32; n * n];
    for q in 0..n {
        attn[q * n + 3] = 1.0;
    }
    let a = SeqAttention {
        seq_index: 0,
        n_tokens: n,
        n_layers: 1,
        n_heads: 1,
        attn,
    };
    let track = |name: &str| {
        let mut out = vec![];
        write_head_bedgraph(&mut out, &a, &g, 0, 0, name, TrackValue::Received).unwrap();
        String::from_utf8(out).unwrap()
    };
    let plus = track("chr2:100-110");
    let lines: Vec<&str> = plus.lines().collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0], "chr2\t100\t101\t0.000000e0");
    assert_eq!(lines[2], "chr2\t102\t103\t1.000000e0");
    assert_eq!(lines[7], "chr2\t107\t110\t0.000000e0");
    let minus = track("peak::chr2:100-110(-)");
    let lines: Vec<&str> = minus.lines().collect();
    assert_eq!(lines[0], "chr2\t100\t103\t0.000000e0");
    assert_eq!(lines[5], "chr2\t107\t108\t1.000000e0");
    let local = track("seq1");
    assert!(local.starts_with("seq1\t0\t1\t"));
    let mut out = vec![];
    assert!(write_head_bedgraph(&mut out, &a, &g, 1, 0, "x", TrackValue::Received).is_err());
}

#[test]
fn clusters_bedpe_and_partial_dispatch() {
    let g = TokenGeometry {
        k: 1,
        stride: 1,
        n_specials_before: 0,
        seq_len_bp: 80,
        has_sep: false,
    };
    let n = g.n_tokens();
    let site = |motif, start: usize, plus| Site {
        motif,
        start,
        end: start + 6,
        plus,
    };
    let sites = [site(0, 5, true), site(1, 20, false), site(2, 40, true)];
    // Sites 0 and 2 (bp 5..11 and 40..46) attend to each other; the rest is uniform.
    let mut attn = vec![1f32; n * n];
    for q in 5..11 {
        for k in 40..46 {
            attn[q * n + k] = 30.0;
            attn[k * n + q] = 30.0;
        }
    }
    for row in attn.chunks_exact_mut(n) {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    let mut cfg = InteractionConfig::new(1, 1);
    cfg.cluster = Some(vec![0, 0, 1]);
    cfg.min_pairs = 1;
    cfg.top_site_pairs = 2;
    let mut acc = InteractionAccumulator::new(cfg);
    for i in 0..20 {
        let a = SeqAttention {
            seq_index: i,
            n_tokens: n,
            n_layers: 1,
            n_heads: 1,
            attn: attn.clone(),
        };
        acc.add(&a, &sites, &g).unwrap();
    }
    let rows = acc.finish();
    let keys: Vec<(usize, usize, u64)> = rows
        .iter()
        .map(|r| (r.motif_a, r.motif_b, r.n_pairs))
        .collect();
    assert_eq!(keys, vec![(0, 1, 40), (0, 0, 20)]);
    let mut out = vec![];
    let names = ["A".to_string(), "B".to_string(), "C".to_string()];
    let seq_name = |i: usize| format!("chr3:1000-1080(-) seq{i}");
    write_bedpe(&mut out, &acc.top_site_pairs(), &seq_name, &names).unwrap();
    let text = String::from_utf8(out).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("chr3\t1034\t1040\tchr3\t1069\t1075\tC|A\t"),
        "{first}"
    );
    assert_eq!(text.lines().count(), 2);

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("part.json");
    acc.save_partial(&p).unwrap();
    assert!(matches!(
        load_partial(&p).unwrap(),
        PartialFile::Interactions(_)
    ));
    let h = HeadAccumulator::new(HeadConfig::new(1, 1));
    h.save_partial(&p).unwrap();
    assert!(matches!(load_partial(&p).unwrap(), PartialFile::Heads(_)));
    assert!(InteractionAccumulator::load_partial(&p).is_err());
}
