//! End-to-end tests of `cisformer motifs similar` and `cisformer motifs convert` on the
//! shipped JASPAR 2024 library.
use std::path::{Path, PathBuf};

mod common;
use common::{cisformer, ok};

fn jaspar(ext: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("data/motifs/JASPAR2024_CORE_vertebrates_nr.{ext}"))
}

fn run(args: &[&str], motifs: &Path) -> String {
    ok(cisformer()
        .args(["motifs"])
        .args(args)
        .arg("-m")
        .arg(motifs)
        .arg("-q"))
}

#[test]
fn gata1_and_gata2_cluster_together() {
    let tsv = run(&["similar", "--cluster", "0.85"], &jaspar("meme"));
    let cluster_of = |name: &str| {
        tsv.lines()
            .find(|l| l.split('\t').nth(2) == Some(name))
            .and_then(|l| l.split('\t').next())
            .unwrap()
            .to_string()
    };
    assert_eq!(tsv.lines().count(), 880);
    assert_eq!(cluster_of("GATA1"), cluster_of("GATA2"));
    assert_ne!(cluster_of("GATA1"), cluster_of("CTCF"));
}

#[test]
fn similar_query_ranks_paralogs_first() {
    let tsv = run(
        &["similar", "--query", "GATA1", "--min-score", "0.6"],
        &jaspar("meme"),
    );
    let first: Vec<&str> = tsv.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(&first[..4], ["MA0035.5", "GATA1", "MA0036.4", "GATA2"]);
    // Scores are sorted, best first.
    let scores: Vec<f64> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(4).unwrap().parse().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn convert_jaspar_to_meme_matches_shipped_meme() {
    let meme = run(&["convert", "--to", "meme"], &jaspar("jaspar"));
    let shipped = std::fs::read_to_string(jaspar("meme")).unwrap();
    let (a, b): (Vec<&str>, Vec<&str>) = (meme.lines().collect(), shipped.lines().collect());
    assert_eq!(a.iter().filter(|l| l.starts_with("MOTIF")).count(), 879);
    // Same ids, names and widths, probabilities within the shipped file's 6-decimal rounding.
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        if x.starts_with(' ') {
            for (p, q) in x.split_whitespace().zip(y.split_whitespace()) {
                let (p, q): (f64, f64) = (p.parse().unwrap(), q.parse().unwrap());
                assert!((p - q).abs() < 2e-6, "{x} vs {y}");
            }
        } else {
            assert_eq!(x, y);
        }
    }
}

#[test]
fn unknown_query_is_an_error() {
    cisformer()
        .args(["motifs", "similar", "--query", "NOPE", "-m"])
        .arg(jaspar("jaspar"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown motif ID 'NOPE'"));
}
