//! Head surgery: physical pruning (library and `prune`), orthogonal fine-tuning
//! (`finetune --orthogonal`) and the forgetting index (`forgetting`).
use std::path::{Path, PathBuf};

use cisformer::model::{ForwardOptions, HeadId, Meta, Model, ModelConfig};
use cisformer::surgery;
use cisformer::train::{OptimConfig, Optimizer, OrthoAnchor};

mod common;
use common::{cisformer, fails, ok, ok_with_stderr};

use common::small_config as small;

const SEQS: [&[u8]; 4] = [
    b"ACGTTGCAACGGATCCATGCAATTGACCA",
    b"GGGCCCATATGCGC",
    b"ACGTNNACGTACGTAGGCTAGCTAGGATCGAT",
    b"TTTTGGGGCCCCAAAATGCA",
];

/// A model whose heads differ clearly: a few large AdamW steps away from the init.
fn trained(cfg: &ModelConfig, seed: u64) -> Model {
    let mut m = Model::new(cfg, seed).unwrap();
    let oc = OptimConfig {
        lr: 2e-2,
        warmup_steps: 1,
        total_steps: 10,
        ..OptimConfig::default()
    };
    let mut opt = Optimizer::new(&m, oc);
    let ids = ids(&m);
    let y: Vec<Vec<f32>> = (0..ids.len()).map(|i| vec![i as f32 - 1.5]).collect();
    for _ in 0..10 {
        opt.step(&mut m, &ids, &y).unwrap();
    }
    m
}

fn ids(m: &Model) -> Vec<Vec<u32>> {
    SEQS.iter().map(|s| m.tokenizer().encode(s)).collect()
}

fn outputs(m: &Model) -> Vec<f32> {
    m.forward(&ids(m), &ForwardOptions::default())
        .unwrap()
        .output
        .concat()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn h(layer: usize, head: usize) -> HeadId {
    HeadId { layer, head }
}

#[test]
fn pruned_model_equals_masked_original() {
    // (K/V heads, heads to remove, K/V heads left in layer 0)
    for (kv, remove, kv_left) in [
        (4, vec![h(0, 1), h(0, 3), h(1, 0)], 2), // MHA
        (1, vec![h(0, 0), h(1, 2), h(1, 3)], 1), // MQA: the one K/V head stays
        (2, vec![h(0, 2), h(0, 3)], 1),          // GQA: a whole group
    ] {
        let m = trained(&small(kv), 3);
        let mut masked = m.try_clone().unwrap();
        for x in &remove {
            masked.set_head_mask(x.layer, x.head, 0.0).unwrap();
        }
        let pruned = m.prune(&remove).unwrap();
        let (full, want, got) = (outputs(&m), outputs(&masked), outputs(&pruned));
        assert!(
            max_diff(&full, &want) > 1e-4,
            "kv {kv}: masking should change the outputs (test power)"
        );
        assert!(
            max_diff(&want, &got) <= 1e-5,
            "kv {kv}: pruned {got:?} vs masked {want:?}"
        );
        assert!(pruned.n_params() < m.n_params(), "kv {kv}");
        // Physically gone: fewer Q rows / O columns.
        let sd = pruned.state_dict();
        let q0 = sd["layers.0.attn.q.weight"].dims2().unwrap().0;
        let gone0 = remove.iter().filter(|x| x.layer == 0).count();
        assert_eq!(q0, (4 - gone0) * 8, "kv {kv}");
        assert_eq!(
            sd["layers.0.attn.o.weight"].dims2().unwrap().1,
            (4 - gone0) * 8
        );
        let k0 = sd["layers.0.attn.k.weight"].dims2().unwrap().0 / 8;
        assert_eq!(k0, kv_left, "kv {kv}");
        assert_eq!(sd["layers.0.attn.v.bias"].dims1().unwrap() / 8, kv_left);
        // The same logical head layout: pruned heads give zero attention, the rest match.
        let opts = ForwardOptions {
            attention: true,
            ..Default::default()
        };
        let a = masked.forward(&ids(&m), &opts).unwrap().attention.unwrap();
        let b = pruned.forward(&ids(&m), &opts).unwrap().attention.unwrap();
        for (x, y) in a.iter().zip(&b) {
            for l in 0..2 {
                for hd in 0..4 {
                    if remove.contains(&h(l, hd)) {
                        assert!(y.map(l, hd).iter().all(|&v| v == 0.0));
                    } else {
                        assert!(max_diff(x.map(l, hd), y.map(l, hd)) <= 1e-5);
                    }
                }
            }
        }
        // Save → load keeps the layout and the predictions; pruning again composes.
        let dir = tempfile::tempdir().unwrap();
        pruned.save(dir.path(), &Meta::default()).unwrap();
        let (back, _) = Model::load(dir.path()).unwrap();
        assert_eq!(back.config().pruned_heads, pruned.config().pruned_heads);
        assert!(max_diff(&outputs(&back), &got) <= 1e-6);
        assert!(back.head_mask()[remove[0].layer][remove[0].head] == 0.0);
    }
    // Pruning in two rounds = pruning at once.
    let m = trained(&small(4), 4);
    let once = m.prune(&[h(0, 1), h(1, 2)]).unwrap();
    let twice = m.prune(&[h(0, 1)]).unwrap().prune(&[h(1, 2)]).unwrap();
    assert!(max_diff(&outputs(&once), &outputs(&twice)) <= 1e-6);
}

#[test]
fn bad_prunes_are_refused_and_unpruned_configs_are_unchanged() {
    let m = trained(&small(4), 5);
    let all0: Vec<HeadId> = (0..4).map(|x| h(0, x)).collect();
    let e = m.prune(&all0).unwrap_err().to_string();
    assert!(e.contains("no head left"), "{e}");
    assert!(
        m.prune(&[h(2, 0)])
            .unwrap_err()
            .to_string()
            .contains("head L2H0 is outside the model")
    );
    let g = trained(&small(2), 5);
    let e = g.prune(&[h(0, 0)]).unwrap_err().to_string();
    assert!(e.contains("partly removed"), "{e}");
    // An unpruned model writes no `pruned_heads`, so old and new config.json files agree.
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path(), &Meta::default()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!text.contains("pruned_heads"));
    // Greedy planning refuses impossible targets.
    let mut mm = m.try_clone().unwrap();
    let ys: Vec<Vec<f32>> = (0..SEQS.len()).map(|i| vec![i as f32]).collect();
    let s = surgery::Scoring {
        seqs: &SEQS,
        targets: &ys,
        batch: 8,
    };
    let units: Vec<(Vec<HeadId>, f64)> = surgery::prune_units(&mm)
        .into_iter()
        .map(|u| (u, 0.0))
        .collect();
    for keep in [9, 1] {
        let lim = surgery::PruneLimits {
            keep: Some(keep),
            max_drop: None,
        };
        assert!(surgery::plan_prune(&mut mm, units.clone(), lim, &s, &mut || {}).is_err());
    }
    // Keeping 2 of 8 heads leaves exactly one per layer, never an empty layer.
    let lim = surgery::PruneLimits {
        keep: Some(2),
        max_drop: None,
    };
    let plan = surgery::plan_prune(&mut mm, units.clone(), lim, &s, &mut || {}).unwrap();
    assert_eq!(plan.removed.len(), 6);
    let p = mm.prune(&plan.removed).unwrap();
    assert_eq!(
        (p.config().layer_heads(0), p.config().layer_heads(1)),
        (1, 1)
    );
    // A zero drop allowance only takes removals that do not lower the metric.
    let lim = surgery::PruneLimits {
        keep: None,
        max_drop: Some(0.0),
    };
    let plan = surgery::plan_prune(&mut mm, units, lim, &s, &mut || {}).unwrap();
    assert!(plan.metric_before - plan.metric_after <= 1e-12);
    assert!(
        mm.head_mask().iter().flatten().all(|&g| g == 1.0),
        "gates restored"
    );
}

#[test]
fn orthogonal_penalty_changes_the_updates() {
    let cfg = small(4);
    let base = trained(&cfg, 6);
    let ids = ids(&base);
    let y: Vec<Vec<f32>> = (0..ids.len()).map(|i| vec![1.5 - i as f32]).collect();
    let oc = OptimConfig {
        lr: 1e-2,
        warmup_steps: 1,
        total_steps: 10,
        weight_decay: 0.0,
        ..OptimConfig::default()
    };
    let run = |ortho: bool| {
        let mut m = base.try_clone().unwrap();
        let mut opt = Optimizer::new(&m, oc);
        let anchor = OrthoAnchor::new(&base, 10.0).unwrap();
        assert_eq!(anchor.len(), 2 * 4, "Q, K, V, O of 2 layers");
        if ortho {
            opt.set_anchor(Some(anchor.clone()));
        }
        let mut pen = Vec::new();
        for _ in 0..5 {
            opt.step(&mut m, &ids, &y).unwrap();
            pen.push(opt.last_stats().orthogonal);
        }
        let moved = anchor.penalty(&m).unwrap();
        (m, pen, moved)
    };
    let (plain, pen0, moved0) = run(false);
    let (ortho, pen1, moved1) = run(true);
    assert!(pen0.iter().all(|&p| p == 0.0));
    assert_eq!(pen1[0], 0.0, "no penalty before the weights move");
    assert!(pen1[1..].iter().all(|&p| p > 0.0), "{pen1:?}");
    assert!(max_diff(&outputs(&plain), &outputs(&ortho)) > 1e-6);
    // The penalised run moved less along the old weights' directions.
    assert!(moved1 < moved0, "{moved1} vs {moved0}");
    assert!(OrthoAnchor::new(&base, f64::NAN).is_err());
    // Scope `all` adds the feed-forward matrices and the output head.
    assert_eq!(
        OrthoAnchor::with_scope(&base, 1.0, true).unwrap().len(),
        2 * 6 + 1
    );
}

// ---------------------------------------------------------------- CLI

fn sim(dir: &Path, name: &str, grammar: &str, seed: &str) -> PathBuf {
    let g = dir.join(format!("{name}.toml"));
    std::fs::write(&g, grammar).unwrap();
    let out = dir.join(name);
    ok(cisformer()
        .args(["simulate", "-q", "--n", "200", "--seed", seed, "--grammar"])
        .arg(&g)
        .arg("--out")
        .arg(&out));
    out
}

const TASK1: &str = "length = 60\nnoise_sd = 0.2\n[[single]]\nmotif = \"Spi1\"\nrate = 0.5\n\
                     effect = 2.0\n[[single]]\nmotif = \"CTCF\"\nrate = 0.3\neffect = -1.0\n";
const TASK2: &str = "length = 60\nnoise_sd = 0.2\n[[single]]\nmotif = \"HNF1A\"\nrate = 0.5\n\
                     effect = 2.0\n[[single]]\nmotif = \"ESR1\"\nrate = 0.3\neffect = -1.0\n";

fn train(sim: &Path, out: &Path, k: &str) {
    ok(cisformer()
        .args(["train", "-q", "-j", "1", "--no-baseline", "--fasta"])
        .arg(sim.join("seqs.fa"))
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--out")
        .arg(out)
        .args(["--k", k, "--d-model", "16", "--heads", "4", "--layers", "2"])
        .args([
            "--ffn",
            "32",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--seed",
            "5",
        ]));
}

fn comment(tsv: &str, key: &str) -> f64 {
    tsv.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}=")))
        .unwrap_or_else(|| panic!("no {key} in {tsv}"))
        .parse()
        .unwrap()
}

#[test]
fn prune_finetune_forgetting_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s1 = sim(d, "task1", TASK1, "3");
    let s2 = sim(d, "task2", TASK2, "4");
    let m1 = d.join("m1");
    train(&s1, &m1, "3");
    let fa1 = s1.join("seqs.fa");
    let lab1 = s1.join("labels.tsv");

    // prune --max-drop: the drop stays within the allowance, the model shrinks.
    let p = d.join("pruned");
    ok(cisformer()
        .args(["prune", "-q", "--model"])
        .arg(&m1)
        .arg("--fasta")
        .arg(&fa1)
        .arg("--labels")
        .arg(&lab1)
        .args(["--by", "importance", "--max-drop", "0.02", "--out"])
        .arg(&p));
    let tsv = std::fs::read_to_string(p.join("prune.tsv")).unwrap();
    let (before, after) = (
        comment(&tsv, "metric_before"),
        comment(&tsv, "metric_after"),
    );
    assert!(before - after <= 0.02 + 1e-6, "{tsv}");
    assert!(comment(&tsv, "params_after") <= comment(&tsv, "params_before"));
    assert!(comment(&tsv, "speedup") > 0.0);
    assert!(tsv.contains("layer\thead\tstep\tscore\tmetric\tremoved\treason"));
    let (pm, _) = Model::load(&p).unwrap();
    let removed = tsv.lines().filter(|l| l.ends_with("\t1\t.")).count();
    assert_eq!(surgery::n_kept_heads(&pm), 8 - removed, "{tsv}");
    ok(cisformer()
        .args(["predict", "-q", "--model"])
        .arg(&p)
        .arg("--fasta")
        .arg(&fa1));

    // prune --keep: exactly that many heads remain.
    let p2 = d.join("pruned2");
    ok(cisformer()
        .args(["prune", "-q", "--model"])
        .arg(&m1)
        .arg("--fasta")
        .arg(&fa1)
        .arg("--labels")
        .arg(&lab1)
        .args(["--keep", "3", "--out"])
        .arg(&p2));
    let (pm2, _) = Model::load(&p2).unwrap();
    assert_eq!(surgery::n_kept_heads(&pm2), 3);
    assert!(pm2.n_params() < pm.n_params() || removed >= 5);

    // Bad prune inputs.
    let prune = |extra: &[&str]| {
        let mut c = cisformer();
        c.args(["prune", "-q", "--model"])
            .arg(&m1)
            .arg("--fasta")
            .arg(&fa1)
            .arg("--labels")
            .arg(&lab1)
            .arg("--out")
            .arg(d.join("bad"))
            .args(extra);
        c
    };
    fails(&mut prune(&["--keep", "9"]), "more than the 8 heads");
    fails(&mut prune(&["--keep", "1"]), "without heads");
    fails(
        &mut prune(&["--by", "entropy-redundancy", "--keep", "4"]),
        "needs --heads",
    );
    let bad_heads = d.join("bad_heads.tsv");
    std::fs::write(&bad_heads, "layer\thead\nx\t0\n").unwrap();
    fails(
        &mut prune(&["--keep", "4", "--heads", bad_heads.to_str().unwrap()]),
        "missing column 'entropy' (columns: layer, head); expected the table of `cisformer heads`",
    );

    // finetune on task 2, plain and orthogonal (same seed and steps).
    let tune = |out: &Path, extra: &[&str]| {
        ok(cisformer()
            .args(["finetune", "-q", "-j", "1", "--model"])
            .arg(&m1)
            .arg("--fasta")
            .arg(s2.join("seqs.fa"))
            .arg("--labels")
            .arg(s2.join("labels.tsv"))
            .args([
                "--epochs",
                "2",
                "--lr",
                "3e-3",
                "--batch-size",
                "32",
                "--out",
            ])
            .arg(out)
            .args(extra));
    };
    let plain = d.join("plain");
    let ortho = d.join("ortho");
    tune(&plain, &[]);
    tune(&ortho, &["--orthogonal", "--ortho-weight", "5"]);
    // Resuming the finished run trains nothing more; other penalty settings, or neither
    // --resume nor --force, are refused.
    let before = std::fs::read(ortho.join("model.safetensors")).unwrap();
    tune(&ortho, &["--orthogonal", "--ortho-weight", "5", "--resume"]);
    assert_eq!(
        before,
        std::fs::read(ortho.join("model.safetensors")).unwrap()
    );
    let again = |extra: &[&str], needle: &str| {
        fails(
            cisformer()
                .args(["finetune", "-q", "--epochs", "3", "--model"])
                .arg(&m1)
                .arg("--fasta")
                .arg(s2.join("seqs.fa"))
                .arg("--labels")
                .arg(s2.join("labels.tsv"))
                .args(["--lr", "3e-3", "--batch-size", "32", "--out"])
                .arg(&ortho)
                .args(extra),
            needle,
        )
    };
    again(&["--resume"], "fine-tuned with other settings");
    again(&[], "use --resume to continue it or --force");
    let w = |dir: &Path| {
        Model::load(dir).unwrap().0.state_dict()["layers.0.attn.q.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert!(
        max_diff(&w(&plain), &w(&ortho)) > 0.0,
        "--orthogonal changed nothing"
    );
    assert!(
        max_diff(&w(&m1), &w(&plain)) > 0.0,
        "finetune changed nothing"
    );

    // forgetting: one row per head, non-negative; identical models forget nothing.
    let forget = |after: &Path| {
        let (tsv, err) = ok_with_stderr(
            cisformer()
                .args(["forgetting", "--before"])
                .arg(&m1)
                .arg("--after")
                .arg(after)
                .arg("--fasta")
                .arg(&fa1)
                .arg("--labels")
                .arg(&lab1),
        );
        assert!(err.contains("old-task mean pearson"), "{err}");
        let kl: Vec<f64> = tsv
            .lines()
            .skip(1)
            .map(|l| l.rsplit('\t').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(tsv.lines().next().unwrap(), "layer\thead\tforgetting_kl");
        assert_eq!(kl.len(), 8);
        assert!(kl.iter().all(|&x| x >= 0.0));
        kl.iter().sum::<f64>() / kl.len() as f64
    };
    assert_eq!(forget(&m1), 0.0);
    assert!(forget(&plain) > 0.0);
    assert!(forget(&ortho) > 0.0);

    // Models with different tokenizers cannot be compared.
    let m4 = d.join("m4");
    train(&s1, &m4, "4");
    fails(
        cisformer()
            .args(["forgetting", "-q", "--before"])
            .arg(&m1)
            .arg("--after")
            .arg(&m4)
            .arg("--fasta")
            .arg(&fa1),
        "different tokenizers",
    );
    // Nor a pruned model with its original.
    fails(
        cisformer()
            .args(["forgetting", "-q", "--before"])
            .arg(&m1)
            .arg("--after")
            .arg(&p2)
            .arg("--fasta")
            .arg(&fa1),
        "different heads",
    );
}

#[test]
fn heads_of_a_pruned_model_leave_out_the_removed_heads() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = common::sim_and_tiny_model(dir.path(), 150, 120);
    let pruned = dir.path().join("pruned");
    ok(cisformer()
        .args([
            "prune",
            "-q",
            "--by",
            "importance",
            "--keep",
            "3",
            "--max-drop",
            "1",
        ])
        .arg("--model")
        .arg(&model)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--out")
        .arg(&pruned));
    let removed = Model::load(&pruned)
        .unwrap()
        .0
        .config()
        .pruned_heads
        .clone();
    let gone: Vec<String> = removed
        .iter()
        .enumerate()
        .flat_map(|(l, hs)| hs.iter().map(move |h| format!("{l}\t{h}\t")))
        .collect();
    assert_eq!(gone.len(), 1, "{removed:?}");
    let heads = dir.path().join("heads.tsv");
    let focus = dir.path().join("focus.tsv");
    ok(cisformer()
        .args(["heads", "-q", "--model"])
        .arg(&pruned)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--focus")
        .arg(&focus)
        .arg("-o")
        .arg(&heads));
    let text = std::fs::read_to_string(&heads).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    // Two layers of two heads, one removed: three rows, none for the removed head, and no
    // head named as redundant with it.
    assert_eq!(rows.len(), 3, "{text}");
    let g = &gone[0];
    assert!(rows.iter().all(|r| !r.starts_with(g.as_str())), "{text}");
    let name = {
        let f: Vec<&str> = g.split('\t').collect();
        format!("L{}H{}", f[0], f[1])
    };
    assert!(!text.contains(&name), "{text}");
    let focus = std::fs::read_to_string(&focus).unwrap();
    assert!(
        focus.lines().skip(1).all(|r| !r.starts_with(g.as_str())),
        "{focus}"
    );
}
