//! Behaviour of the encoder that the analysis stages rely on.
use cisformer::model::{
    ForwardOptions, HeadId, HeadPatch, Meta, Model, ModelConfig, Pooling, Positional, Task,
};
use cisformer::tokenizer::Tokenizer;
use cisformer::train::{OptimConfig, Optimizer, RegularizerWeights};

mod common;
use common::small_config as small;

fn batch(tok: &Tokenizer) -> Vec<Vec<u32>> {
    [
        &b"ACGTTGCAACGGATCCATGCAAT"[..],
        b"GGGCCCATAT",
        b"ACGTNNACGTACGTAGGCTAGCTAGGATCGAT",
    ]
    .iter()
    .map(|s| tok.encode(s))
    .collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn attention_rows_sum_to_one_and_ignore_padding() {
    let m = Model::new(&small(4), 1).unwrap();
    let ids = batch(m.tokenizer());
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    let out = m.forward(&ids, &opts).unwrap();
    let maps = out.attention.as_ref().unwrap();
    for (s, mp) in maps.iter().enumerate() {
        assert_eq!(mp.len, ids[s].len());
        for l in 0..2 {
            for h in 0..4 {
                for q in 0..mp.len {
                    let sum: f32 = mp.row(l, h, q).iter().sum();
                    assert!((sum - 1.0).abs() < 1e-5, "row sum {sum}");
                }
            }
        }
    }
    // Each sequence alone gives what it gives inside the padded batch.
    for (s, one) in ids.iter().enumerate() {
        let alone = m.forward(std::slice::from_ref(one), &opts).unwrap();
        assert!(close(&alone.output[0], &out.output[s], 1e-5));
        assert!(close(
            &alone.attention.unwrap()[0].data,
            &maps[s].data,
            1e-5
        ));
    }
}

#[test]
fn masked_head_contributes_zero() {
    let mut m = Model::new(&small(4), 2).unwrap();
    let ids = batch(m.tokenizer());
    let head = HeadId { layer: 1, head: 2 };
    let dh = m.config().head_dim();
    let zeros = HeadPatch {
        head,
        values: ids.iter().map(|s| vec![0.0; s.len() * dh]).collect(),
    };
    let patched = m
        .forward(
            &ids,
            &ForwardOptions {
                patches: vec![zeros],
                ..Default::default()
            },
        )
        .unwrap();
    let before = m.forward(&ids, &ForwardOptions::default()).unwrap();
    m.set_head_mask(1, 2, 0.0).unwrap();
    let capture = ForwardOptions {
        capture: vec![head],
        ..Default::default()
    };
    let gated = m.forward(&ids, &capture).unwrap();
    assert!(gated.heads[0].values.iter().flatten().all(|&v| v == 0.0));
    for s in 0..ids.len() {
        assert!(close(&gated.output[s], &patched.output[s], 1e-6));
        assert!(!close(&gated.output[s], &before.output[s], 1e-6));
    }
    let e = m.set_head_mask(2, 0, 0.0).unwrap_err();
    assert!(
        matches!(
            e,
            cisformer::Error::NoSuchHead {
                layer: 2,
                head: 0,
                n_layers: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("head L2H0 is outside the model (2 layers × "),
        "{e}"
    );
    let bad_head = HeadId { layer: 0, head: 99 };
    let e = m.prune(&[bad_head]).unwrap_err();
    assert!(
        matches!(e, cisformer::Error::NoSuchHead { head: 99, .. }),
        "{e}"
    );
    assert!(m.set_head_mask(0, 4, 0.0).is_err());
}

#[test]
fn head_output_replacement_works() {
    let m = Model::new(&small(2), 3).unwrap();
    let tok = m.tokenizer();
    let a = vec![tok.encode(b"ACGTACGTTTGACCA")];
    let b = vec![tok.encode(b"GGGGGCCCCCAAAAA")];
    let head = HeadId { layer: 0, head: 1 };
    let cap = ForwardOptions {
        capture: vec![head],
        ..Default::default()
    };
    let out_a = m.forward(&a, &cap).unwrap();
    let out_b = m.forward(&b, &cap).unwrap();
    // Patching a head with its own output changes nothing.
    let same = ForwardOptions {
        patches: vec![HeadPatch {
            head,
            values: out_a.heads[0].values.clone(),
        }],
        ..Default::default()
    };
    assert!(close(
        &m.forward(&a, &same).unwrap().output[0],
        &out_a.output[0],
        1e-6
    ));
    // Patching in b's head output moves a's prediction.
    let swap = ForwardOptions {
        patches: vec![HeadPatch {
            head,
            values: out_b.heads[0].values.clone(),
        }],
        capture: vec![head],
        ..Default::default()
    };
    let patched = m.forward(&a, &swap).unwrap();
    assert_eq!(patched.heads[0].values, out_a.heads[0].values);
    assert!(!close(&patched.output[0], &out_a.output[0], 1e-6));
    // Wrong sizes are an error, not a panic.
    let bad = ForwardOptions {
        patches: vec![HeadPatch {
            head,
            values: vec![vec![0.0; 3]],
        }],
        ..Default::default()
    };
    assert!(m.forward(&a, &bad).is_err());
}

#[test]
fn mqa_shares_key_value_projections() {
    let cfg = small(4);
    let mha = Model::new(&cfg, 0).unwrap().n_params();
    let gqa = Model::new(&small(2), 0).unwrap().n_params();
    let mqa = Model::new(&small(1), 0).unwrap().n_params();
    let dh = cfg.head_dim();
    // K has no bias, V has one.
    let kv_params = |kv: usize| cfg.n_layers * kv * dh * (2 * cfg.d_model + 1);
    assert_eq!(mha - mqa, kv_params(4) - kv_params(1));
    assert_eq!(mha - gqa, kv_params(4) - kv_params(2));
}

#[test]
fn save_load_round_trip_and_version_check() {
    let cfg = ModelConfig {
        pooling: Pooling::Cls,
        positional: Positional::Sinusoidal,
        task: Task::Binary,
        n_outputs: 3,
        ..small(2)
    };
    let m = Model::new(&cfg, 4).unwrap();
    let ids = batch(m.tokenizer());
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta {
        label_names: vec!["a".into(), "b".into(), "c".into()],
        seed: 4,
        ..Meta::default()
    };
    m.save(dir.path(), &meta).unwrap();
    let (back, meta2) = Model::load(dir.path()).unwrap();
    assert_eq!(meta2.label_names, meta.label_names);
    assert_eq!(back.config(), &cfg);
    let o1 = m.forward(&ids, &ForwardOptions::default()).unwrap();
    let o2 = back.forward(&ids, &ForwardOptions::default()).unwrap();
    assert_eq!(o1.output, o2.output);

    let meta_path = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(
        &meta_path,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, cisformer::Error::Version { what: "model", found, supported: 1, .. } if found == "99"),
        "{err}"
    );
    assert!(err.to_string().contains("format version 99"), "{err}");
    assert!(Model::load(dir.path().join("nope")).is_err());
}

/// Model-folder failures come back as typed errors that keep their cause: a library user
/// can tell a broken JSON file from weights that do not fit the configuration.
#[test]
fn model_folder_errors_are_typed_and_keep_their_source() {
    use std::error::Error as _;
    let cfg = small(2);
    let m = Model::new(&cfg, 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path(), &Meta::default()).unwrap();

    // Weights of a wider model under this configuration: the tensor and both shapes named.
    let wide = tempfile::tempdir().unwrap();
    let wider = ModelConfig {
        d_model: cfg.d_model * 2,
        ffn_dim: cfg.ffn_dim * 2,
        ..cfg.clone()
    };
    Model::new(&wider, 4)
        .unwrap()
        .save(wide.path(), &Meta::default())
        .unwrap();
    std::fs::copy(
        dir.path().join("config.json"),
        wide.path().join("config.json"),
    )
    .unwrap();
    match cisformer::model_dir::check(wide.path()).unwrap_err() {
        cisformer::Error::Shape {
            tensor,
            found,
            expected,
            ..
        } => {
            assert_ne!(found, expected, "{tensor}");
            assert!(found.contains(&(cfg.d_model * 2)), "{tensor} {found:?}");
        }
        other => panic!("not a shape error: {other}"),
    }

    // Broken JSON: serde's error, with its line, is the source.
    std::fs::write(dir.path().join("config.json"), "{\"d_model\": ").unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, cisformer::Error::Json { .. }),
        "not a JSON error: {err}"
    );
    let source = err.source().expect("serde error kept").to_string();
    assert!(source.contains("line 1"), "{source}");

    // Unreadable weights: the tensor library's error is the source.
    m.save(dir.path(), &Meta::default()).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not tensors").unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, cisformer::Error::Tensor { .. }),
        "not a tensor error: {err}"
    );
    assert!(err.source().is_some());
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn long_inputs_and_limits() {
    let cfg = ModelConfig {
        d_model: 16,
        n_heads: 2,
        n_kv_heads: 1,
        n_layers: 1,
        ffn_dim: 16,
        positional: Positional::Sinusoidal,
        ..small(1)
    };
    let m = Model::new(&cfg, 5).unwrap();
    let seq: Vec<u8> = (0..1200).map(|i| b"ACGT"[(i * 7 + i / 3) % 4]).collect();
    let ids = m.tokenizer().encode(&seq);
    assert!(ids.len() > 1024);
    let out = m
        .forward(std::slice::from_ref(&ids), &ForwardOptions::default())
        .unwrap();
    assert!(out.output[0][0].is_finite());
    let learned = Model::new(&small(4), 5).unwrap();
    let err = learned
        .forward(&[ids], &ForwardOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_tokens"), "{err}");
    assert!(
        learned
            .forward(&[vec![2, 9999, 3]], &ForwardOptions::default())
            .is_err()
    );
    assert!(learned.forward(&[], &ForwardOptions::default()).is_err());
}

#[test]
fn training_is_deterministic_and_learns() {
    let run = || {
        let cfg = ModelConfig {
            dropout: 0.1,
            ..small(2)
        };
        let mut m = Model::new(&cfg, 6).unwrap();
        let tok = *m.tokenizer();
        // Target: GC fraction of the sequence.
        let seqs: Vec<Vec<u8>> = (0..16)
            .map(|i| {
                (0..30)
                    .map(|j| b"ACGT"[(i * 31 + j * j * 7 + i * j) % 4])
                    .collect()
            })
            .collect();
        let ids: Vec<Vec<u32>> = seqs.iter().map(|s| tok.encode(s)).collect();
        let y: Vec<Vec<f32>> = seqs
            .iter()
            .map(|s| vec![s.iter().filter(|&&b| b == b'G' || b == b'C').count() as f32 / 10.0])
            .collect();
        let mut opt = Optimizer::new(
            &m,
            OptimConfig {
                lr: 3e-3,
                warmup_steps: 2,
                total_steps: 30,
                regularizers: RegularizerWeights {
                    diversity: 0.01,
                    orthogonality: 0.01,
                    entropy: 0.001,
                },
                ..OptimConfig::default()
            },
        );
        let first = cisformer::train::loss_value(&m, &ids, &y).unwrap();
        for _ in 0..30 {
            opt.step(&mut m, &ids, &y).unwrap();
        }
        let last = cisformer::train::loss_value(&m, &ids, &y).unwrap();
        (first, last, m.named_parameters())
    };
    let (first, last, p1) = run();
    assert!(last < first * 0.5, "loss {first} -> {last}");
    let (_, _, p2) = run();
    for ((n1, t1), (_, t2)) in p1.iter().zip(&p2) {
        let a = t1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = t2.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b, "{n1} differs between identical runs");
    }
}

#[test]
fn optimizer_state_resumes_exactly() {
    let cfg = ModelConfig {
        dropout: 0.2,
        ..small(2)
    };
    let tok = Tokenizer::new(3, 1).unwrap();
    let ids = batch(&tok);
    let y = vec![vec![0.5], vec![-1.0], vec![2.0]];
    let oc = OptimConfig {
        warmup_steps: 1,
        total_steps: 6,
        ..OptimConfig::default()
    };
    let mut a = Model::new(&cfg, 9).unwrap();
    let mut opt_a = Optimizer::new(&a, oc);
    for _ in 0..3 {
        opt_a.step(&mut a, &ids, &y).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    a.save(
        dir.path(),
        &Meta {
            seed: 9,
            ..Meta::default()
        },
    )
    .unwrap();
    opt_a.save(&a, dir.path()).unwrap();
    for _ in 0..3 {
        opt_a.step(&mut a, &ids, &y).unwrap();
    }
    let (mut b, _) = Model::load(dir.path()).unwrap();
    let mut opt_b = Optimizer::load(&b, dir.path()).unwrap();
    assert_eq!(opt_b.steps(), 3);
    for _ in 0..3 {
        opt_b.step(&mut b, &ids, &y).unwrap();
    }
    for ((n, ta), (_, tb)) in a.named_parameters().iter().zip(&b.named_parameters()) {
        let va = ta.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let vb = tb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(va, vb, "{n} differs after resuming");
    }
}

#[test]
fn same_bytes_whatever_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let cfg = ModelConfig {
                dropout: 0.1,
                ..small(2)
            };
            let mut m = Model::new(&cfg, 11).unwrap();
            let ids = batch(m.tokenizer());
            let y = vec![vec![1.0], vec![0.0], vec![-1.0]];
            let mut opt = Optimizer::new(&m, OptimConfig::default());
            for _ in 0..3 {
                opt.step(&mut m, &ids, &y).unwrap();
            }
            let out = m
                .forward(
                    &ids,
                    &ForwardOptions {
                        attention: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            (out, m.named_parameters())
        })
    };
    // A model big enough that the projection GEMMs split work across threads.
    let big = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let m = Model::new(&ModelConfig::default(), 1).unwrap();
            let seq: Vec<u8> = (0..400).map(|i| b"ACGT"[(i * i + 3 * i) % 4]).collect();
            let ids: Vec<Vec<u32>> = (0..6)
                .map(|j| m.tokenizer().encode(&seq[j * 10..j * 10 + 300]))
                .collect();
            m.forward(&ids, &ForwardOptions::default()).unwrap().output
        })
    };
    assert_eq!(big(1), big(3));
    let (o1, p1) = run(1);
    let (o3, p3) = run(3);
    assert_eq!(o1, o3);
    for ((n, a), (_, b)) in p1.iter().zip(&p3) {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b, "{n}");
    }
}

#[test]
fn clones_are_independent() {
    let mut a = Model::new(&small(4), 12).unwrap();
    a.set_head_mask(0, 1, 0.0).unwrap();
    let ids = batch(a.tokenizer());
    let b = a.try_clone().unwrap();
    let before = b.forward(&ids, &ForwardOptions::default()).unwrap();
    assert_eq!(before, a.forward(&ids, &ForwardOptions::default()).unwrap());
    let mut opt = Optimizer::new(&a, OptimConfig::default());
    opt.step(&mut a, &ids, &[vec![1.0], vec![2.0], vec![3.0]])
        .unwrap();
    assert_eq!(before, b.forward(&ids, &ForwardOptions::default()).unwrap());
    assert_ne!(before, a.forward(&ids, &ForwardOptions::default()).unwrap());
}

#[test]
fn attention_gradients_of_a_pruned_model_equal_the_masked_original() {
    let m = Model::new(&small(4), 5).unwrap();
    let ids = batch(m.tokenizer());
    let gone = [HeadId { layer: 0, head: 1 }, HeadId { layer: 1, head: 3 }];
    let pruned = m.prune(&gone).unwrap();
    let mut masked = m.try_clone().unwrap();
    for h in &gone {
        masked.set_head_mask(h.layer, h.head, 0.0).unwrap();
    }
    let (pa, pg) = pruned.attention_gradients(&ids, 0).unwrap();
    let (ma, mg) = masked.attention_gradients(&ids, 0).unwrap();
    for s in 0..ids.len() {
        for h in 0..4 {
            for l in 0..2 {
                let is_gone = gone.iter().any(|g| g.layer == l && g.head == h);
                let g = pg[s].map(l, h);
                assert!(close(g, mg[s].map(l, h), 1e-5), "seq {s} head {l}.{h}");
                if is_gone {
                    assert!(g.iter().all(|&v| v == 0.0));
                } else {
                    assert!(close(pa[s].map(l, h), ma[s].map(l, h), 1e-5));
                    assert!(
                        g.iter().any(|&v| v != 0.0),
                        "live head {l}.{h} has no gradient"
                    );
                }
            }
        }
    }
}

/// With GPT-style N(0, 0.02²) weights the pre-activations started near 1e-2, where GELU is
/// linear and the model learnt only what adds up linearly over k-mers. Fresh weights must
/// keep activations of unit order.
#[test]
fn initialisation_preserves_scale() {
    let mut cfg = small(4);
    cfg.conv_kernel = 5;
    let m = Model::new(&cfg, 3).unwrap();
    let std = |name: &str| -> (f32, usize) {
        let (_, t) = m
            .named_parameters()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        (var.sqrt(), v.len())
    };
    let d = cfg.d_model;
    let (tok, _) = std("embeddings.tokens.weight");
    assert!((tok - 1.0).abs() < 0.1, "token embeddings std {tok}");
    let (conv, n) = std("embeddings.conv.weight");
    assert_eq!(n, d * d * 5);
    let want = 1.0 / ((d * 5) as f32).sqrt();
    assert!(
        (conv / want - 1.0).abs() < 0.1,
        "conv std {conv}, want {want}"
    );
    // The stem's pre-activation std is then about tok · conv · sqrt(fan_in) = 1.
    assert!(tok * conv * ((d * 5) as f32).sqrt() > 0.5);
    let (up, _) = std("layers.0.ffn.up.weight");
    let want = 1.0 / (d as f32).sqrt();
    assert!(
        (up / want - 1.0).abs() < 0.15,
        "ffn.up std {up}, want {want}"
    );
    // Long k-mers' rows are seen rarely: they start small so Adam's steps can shape them.
    cfg.k = 6;
    cfg.vocab_size = 5 + 4096;
    let m6 = Model::new(&cfg, 3).unwrap();
    let (_, t) = m6
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == "embeddings.tokens.weight")
        .unwrap();
    let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!(
        (rms / 0.02 - 1.0).abs() < 0.1,
        "k 6 token embeddings rms {rms}"
    );
}

/// The relative-position bias is a per-head table: pruning must drop exactly the removed
/// heads' rows, so the pruned model computes what the gated original computes.
#[test]
fn pruning_keeps_each_remaining_heads_relative_bias() {
    let cfg = ModelConfig {
        relative_bias: 3,
        ..small(4)
    };
    let mut m = Model::new(&cfg, 9).unwrap();
    let ids = batch(m.tokenizer());
    // A few large steps so every head's bias table is non-zero and different.
    let mut opt = Optimizer::new(
        &m,
        OptimConfig {
            lr: 0.05,
            ..OptimConfig::default()
        },
    );
    for _ in 0..3 {
        opt.step(&mut m, &ids, &[vec![1.0], vec![-2.0], vec![3.0]])
            .unwrap();
    }
    let rel: Vec<f32> = m
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == "layers.0.attn.rel.bias")
        .map(|(_, t)| t.flatten_all().unwrap().to_vec1().unwrap())
        .unwrap();
    assert_eq!(rel.len(), 4 * 7);
    assert!(rel.chunks(7).all(|h| h.iter().any(|&v| v != 0.0)));
    assert_ne!(rel[..7], rel[7..14]);

    let gone = [HeadId { layer: 0, head: 1 }, HeadId { layer: 1, head: 2 }];
    let pruned = m.prune(&gone).unwrap();
    let mut masked = m.try_clone().unwrap();
    for h in &gone {
        masked.set_head_mask(h.layer, h.head, 0.0).unwrap();
    }
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    let (p, q) = (
        pruned.forward(&ids, &opts).unwrap(),
        masked.forward(&ids, &opts).unwrap(),
    );
    for (a, b) in p.output.iter().zip(&q.output) {
        assert!(close(a, b, 1e-5), "{a:?} vs {b:?}");
    }
    let (pa, qa) = (p.attention.unwrap(), q.attention.unwrap());
    for s in 0..ids.len() {
        for l in 0..2 {
            for h in 0..4 {
                if !gone.iter().any(|g| g.layer == l && g.head == h) {
                    assert!(close(pa[s].map(l, h), qa[s].map(l, h), 1e-5));
                }
            }
        }
    }
}

#[test]
fn reused_attention_buffers_give_the_same_maps() {
    // Stale buffers of another batch (longer, shorter and more sequences, non-zero values)
    // must not leak into the maps, also where pruned heads keep zeros.
    let m = Model::new(&small(4), 9).unwrap();
    let pruned = m.prune(&[HeadId { layer: 1, head: 2 }]).unwrap();
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    for model in [&m, &pruned] {
        let ids = batch(model.tokenizer());
        let mut other = ids.clone();
        other.reverse();
        other.push(
            model
                .tokenizer()
                .encode(b"ACGTACGTACGTACGTACGTACGTACGTACGTACGTAAAA"),
        );
        let fresh = model.forward(&ids, &opts).unwrap().attention.unwrap();
        let stale = model.forward(&other, &opts).unwrap().attention.unwrap();
        let reused = model
            .forward_reusing(&ids, &opts, stale)
            .unwrap()
            .attention
            .unwrap();
        assert_eq!(fresh, reused);
        let (fa, fg) = model.attention_gradients(&ids, 0).unwrap();
        let stale = model.attention_gradients(&other, 0).unwrap();
        let (ra, rg) = model.attention_gradients_reusing(&ids, 0, stale).unwrap();
        assert_eq!((fa, fg), (ra, rg));
    }
}

#[test]
fn relative_bias_learning_rate_scales_only_the_bias_tables() {
    let cfg = ModelConfig {
        relative_bias: 3,
        ..small(4)
    };
    let after = |mult: f64| {
        let mut m = Model::new(&cfg, 4).unwrap();
        let ids = batch(m.tokenizer());
        let mut opt = Optimizer::new(
            &m,
            OptimConfig {
                lr: 0.01,
                warmup_steps: 0,
                relative_bias_lr: mult,
                ..OptimConfig::default()
            },
        );
        opt.step(&mut m, &ids, &[vec![1.0], vec![-2.0], vec![3.0]])
            .unwrap();
        m.named_parameters()
            .into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect::<Vec<_>>()
    };
    let (one, ten) = (after(1.0), after(10.0));
    let mut tables = 0;
    for ((name, a), (_, b)) in one.iter().zip(&ten) {
        if name.ends_with(".attn.rel.bias") {
            // Tables start at zero, so one step moves them by exactly the scaled step.
            tables += 1;
            assert!(a.iter().any(|&x| x != 0.0), "{name} did not move");
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (y - 10.0 * x).abs() <= 1e-5 * y.abs().max(1e-6),
                    "{name}: {x} vs {y}"
                );
            }
        } else {
            assert_eq!(a, b, "{name} must not depend on the bias learning rate");
        }
    }
    assert_eq!(tables, 2);
}

#[test]
fn without_absolute_positions_tokens_read_the_same_anywhere() {
    // No stem and no relative bias: with mean pooling nothing but the tokens' identities is
    // left, so reordering the inner tokens must leave the output unchanged; with learned
    // positions it must not (the check can fail).
    let bare = |positional| ModelConfig {
        positional,
        conv_kernel: 0,
        relative_bias: 0,
        pooling: Pooling::Mean,
        ..small(4)
    };
    let none = Model::new(&bare(Positional::None), 3).unwrap();
    let learned = Model::new(&bare(Positional::Learned), 3).unwrap();
    assert!(
        !none
            .named_parameters()
            .iter()
            .any(|(n, _)| n.contains("positions"))
    );
    assert_eq!(
        learned.n_params() - none.n_params(),
        128 * 32,
        "only the position table differs"
    );
    let ids = none.tokenizer().encode(b"ACGTTGCAACGGATCCATGCAATGGC");
    let mut moved = ids.clone();
    let n = moved.len();
    moved[1..n - 1].reverse();
    let run = |m: &Model| {
        let out = m
            .forward(&[ids.clone(), moved.clone()], &ForwardOptions::default())
            .unwrap();
        (out.output[0][0], out.output[1][0])
    };
    let (a, b) = run(&none);
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    let (a, b) = run(&learned);
    assert!((a - b).abs() > 1e-4, "{a} vs {b}");
    // And the setting survives save -> load.
    let dir = tempfile::tempdir().unwrap();
    none.save(dir.path(), &Meta::default()).unwrap();
    let (back, _) = Model::load(dir.path()).unwrap();
    assert_eq!(back.config().positional, Positional::None);
    assert_eq!(run(&back), run(&none));
}

#[test]
fn pooled_positions_cover_their_bases_and_the_maps_match_the_geometry() {
    use cisformer::analysis::TokenGeometry;
    // Every (k, stride, pool) and length, remainders and sequences shorter than one window
    // included: the model's attention has exactly the positions the analyses map to bp, and
    // each content position's span is the union of the tokens it pools.
    for (k, stride, pool) in [(1, 1, 4), (3, 1, 2), (2, 2, 3), (4, 1, 1)] {
        let cfg = ModelConfig {
            k,
            stride,
            vocab_size: Tokenizer::new(k, stride).unwrap().vocab_size(),
            pool,
            conv_kernel: 3,
            positional: Positional::None,
            relative_bias: 4,
            ..small(4)
        };
        let model = Model::new(&cfg, 9).unwrap();
        let tok = model.tokenizer();
        let seqs: Vec<Vec<u8>> = [k, k + 2, 13, 40, 41]
            .iter()
            .map(|&n| b"ACGTTGCAAC".iter().cycle().take(n).copied().collect())
            .collect();
        let ids: Vec<Vec<u32>> = seqs.iter().map(|s| tok.encode(s)).collect();
        let out = model
            .forward(
                &ids,
                &ForwardOptions {
                    attention: true,
                    ..Default::default()
                },
            )
            .unwrap();
        for (s, maps) in seqs.iter().zip(out.attention.unwrap()) {
            let g = TokenGeometry::of_model(&cfg, s.len());
            assert_eq!(
                maps.len,
                g.n_tokens(),
                "k{k} s{stride} p{pool} len {}",
                s.len()
            );
            let p = pool.max(1);
            for (i, t) in g.content().enumerate() {
                // Token 0 is [CLS]; content token j is token_bp_span(1 + j).
                let first = tok.token_bp_span(1 + i * p).unwrap();
                let last = tok.token_bp_span(i * p + p).unwrap();
                assert_eq!(
                    g.token_span(t),
                    Some((first.start, last.end)),
                    "k{k} s{stride} p{pool} position {i}"
                );
            }
        }
    }
}
