//! Metrics and the k-mer ridge baseline against scipy / scikit-learn
//! (tests/oracle/make_metrics_golden_sklearn.py → tests/data/train/sklearn_golden.json).
use cisformer::{
    baseline::{RidgeBaseline, RidgeOptions},
    train::{
        Dataset, Split,
        metrics::{self, Metrics},
    },
};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/train/sklearn_golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(name: &str, what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{name} {what}: got {got}, scipy/sklearn say {want}"
    );
}

#[test]
fn metrics_match_scipy_and_sklearn() {
    let g = golden();
    let cases = g["metrics"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let (p, t) = (floats(&c["pred"]), floats(&c["target"]));
        let binary = c["binary"].as_bool().unwrap();
        let e = &c["expected"];
        let m = Metrics::compute(&p, &t, binary);
        close(name, "pearson", m.pearson, e["pearson"].as_f64().unwrap());
        close(
            name,
            "spearman",
            m.spearman,
            e["spearman"].as_f64().unwrap(),
        );
        close(name, "r2", m.r2, e["r2"].as_f64().unwrap());
        close(name, "mse", m.mse, e["mse"].as_f64().unwrap());
        if binary {
            close(
                name,
                "auroc",
                m.auroc.unwrap(),
                e["auroc"].as_f64().unwrap(),
            );
            close(
                name,
                "auprc",
                m.auprc.unwrap(),
                e["auprc"].as_f64().unwrap(),
            );
            close(
                name,
                "auroc fn",
                metrics::auroc(&p, &t),
                e["auroc"].as_f64().unwrap(),
            );
        } else {
            assert_eq!(m.auroc, None);
        }
    }
}

#[test]
fn ridge_matches_sklearn() {
    let g = golden();
    let r = &g["ridge"];
    let seqs: Vec<Vec<u8>> = r["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().as_bytes().to_vec())
        .collect();
    let targets: Vec<Vec<f32>> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| floats(row).iter().map(|&v| v as f32).collect())
        .collect();
    let idx = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    let (train, test) = (idx(&r["train"]), idx(&r["test"]));
    let ds = Dataset {
        ids: (0..seqs.len()).map(|i| format!("s{i}")).collect(),
        seqs,
        targets,
        output_names: vec!["motif".into(), "skew".into()],
        ..Default::default()
    };
    let split = Split {
        train,
        val: test.clone(),
        test: test.clone(),
    };
    let opts = RidgeOptions {
        kmin: r["kmin"].as_u64().unwrap() as usize,
        kmax: r["kmax"].as_u64().unwrap() as usize,
        canonical: true,
        alphas: vec![r["alpha"].as_f64().unwrap()],
    };
    let model = RidgeBaseline::fit(&ds, &split, &opts).unwrap();
    let seqs: Vec<&[u8]> = test.iter().map(|&i| ds.seqs[i].as_slice()).collect();
    let pred = model.predict(&seqs);
    let want = r["test_predictions"].as_array().unwrap();
    assert_eq!(pred.len(), want.len());
    for (i, (p, w)) in pred.iter().zip(want).enumerate() {
        // Same (f32-rounded) targets on both sides; predictions are returned as f32.
        for (o, (a, b)) in p.iter().zip(floats(w)).enumerate() {
            assert!(
                (f64::from(*a) - b).abs() < 1e-6 * (1.0 + b.abs()),
                "row {i} output {o}: {a} vs sklearn {b}"
            );
        }
    }
}
