//! How well a ranked pair table and a head table recover a simulator's planted grammar.
//!
//! The recovery benchmark and the end-to-end test score `interactions` and `heads` output
//! against `truth.tsv` from `cisformer simulate`: planted interacting pairs (cooperative
//! and long-range) are the positives, decoy pairs (planted together, no effect) must rank
//! below every one of them, and every other motif pair is a negative.
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use crate::{Error, Result};

/// The planted pairs and motifs of a simulation, by motif name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// Unordered interacting pairs (cooperative, long-range).
    pub interacting: BTreeSet<(String, String)>,
    /// Unordered decoy pairs.
    pub decoys: BTreeSet<(String, String)>,
    /// Every motif planted on its own (`single` rows).
    pub motifs: BTreeSet<String>,
}

fn unordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl Truth {
    /// Reads `truth.tsv` (columns `kind`, `name_a`, `name_b`, ...).
    pub fn read(path: impl AsRef<Path>) -> Result<Truth> {
        let path = path.as_ref();
        let reader = crate::io::open_input(path)?;
        let mut truth = Truth::default();
        let mut cols: Option<(usize, usize, usize)> = None;
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| Error::io(path, e))?;
            let f: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            let Some((k, a, b)) = cols else {
                let find = |name: &str| {
                    f.iter().position(|c| *c == name).ok_or_else(|| {
                        Error::parse(path, i as u64 + 1, format!("header has no `{name}` column"))
                    })
                };
                cols = Some((find("kind")?, find("name_a")?, find("name_b")?));
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            let get = |j: usize| {
                f.get(j).copied().ok_or_else(|| {
                    Error::parse(
                        path,
                        i as u64 + 1,
                        format!("expected at least {} columns", j + 1),
                    )
                })
            };
            let (kind, na, nb) = (get(k)?, get(a)?, get(b)?);
            match kind {
                "single" => {
                    truth.motifs.insert(na.to_string());
                }
                "cooperative" | "long_range" => {
                    truth.interacting.insert(unordered(na, nb));
                }
                "decoy" => {
                    truth.decoys.insert(unordered(na, nb));
                }
                other => {
                    return Err(Error::parse(
                        path,
                        i as u64 + 1,
                        format!("unknown kind `{other}`"),
                    ));
                }
            }
        }
        if cols.is_none() {
            return Err(Error::parse(path, 1, "empty file: no header".to_string()));
        }
        Ok(truth)
    }

    /// Whether the (possibly `/`-joined cluster) names `a`, `b` cover a pair of `set`.
    fn covers(set: &BTreeSet<(String, String)>, a: &str, b: &str) -> bool {
        set.iter().any(|(x, y)| {
            let has = |names: &str, m: &str| names.split('/').any(|n| n == m);
            (has(a, x) && has(b, y)) || (has(a, y) && has(b, x))
        })
    }
}

/// Scores of one ranked pair list.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRecovery {
    /// Average precision of the interacting pairs (missing ones count as ranked last).
    pub auprc: f64,
    /// Precision among the top k pairs, for k = 1..=number of interacting pairs.
    pub precision_at: Vec<f64>,
    /// 1-based rank of each interacting pair (None: not in the table).
    pub interacting_ranks: Vec<(String, String, Option<usize>)>,
    /// 1-based rank of each decoy pair (None: not in the table).
    pub decoy_ranks: Vec<(String, String, Option<usize>)>,
    /// Every interacting pair is in the table and above every decoy in it.
    pub planted_above_decoys: bool,
    /// Distinct pairs in the ranked list.
    pub n_pairs: usize,
}

/// Scores a best-first list of motif pairs (the per-pair table's order; repeated pairs,
/// e.g. from several score kinds, count at their first place).
pub fn pair_recovery(ranked: &[(String, String)], truth: &Truth) -> PairRecovery {
    let mut seen = BTreeSet::new();
    let list: Vec<&(String, String)> = ranked
        .iter()
        .filter(|(a, b)| seen.insert(unordered(a, b)))
        .collect();
    let is_pos = |(a, b): &(String, String)| Truth::covers(&truth.interacting, a, b);
    let rank_of = |x: &str, y: &str| {
        list.iter().position(|(a, b)| {
            let one = BTreeSet::from([unordered(x, y)]);
            Truth::covers(&one, a, b)
        })
    };
    let n_pos = truth.interacting.len();
    let mut hits = 0usize;
    let mut ap = 0.0;
    let mut precision_at = Vec::new();
    for (i, p) in list.iter().enumerate() {
        if is_pos(p) {
            hits += 1;
            ap += hits as f64 / (i + 1) as f64;
        }
        if i < n_pos {
            precision_at.push(hits as f64 / (i + 1) as f64);
        }
    }
    let auprc = if n_pos == 0 {
        f64::NAN
    } else {
        ap / n_pos as f64
    };
    let ranks = |set: &BTreeSet<(String, String)>| -> Vec<(String, String, Option<usize>)> {
        set.iter()
            .map(|(a, b)| (a.clone(), b.clone(), rank_of(a, b).map(|r| r + 1)))
            .collect()
    };
    let interacting_ranks = ranks(&truth.interacting);
    let decoy_ranks = ranks(&truth.decoys);
    let worst_planted = interacting_ranks.iter().map(|r| r.2).max().flatten();
    let all_present = interacting_ranks.iter().all(|r| r.2.is_some());
    let best_decoy = decoy_ranks.iter().filter_map(|r| r.2).min();
    let planted_above_decoys = all_present
        && match (worst_planted, best_decoy) {
            (Some(w), Some(d)) => w < d,
            _ => true,
        };
    PairRecovery {
        auprc,
        precision_at,
        interacting_ranks,
        decoy_ranks,
        planted_above_decoys,
        n_pairs: list.len(),
    }
}

/// The planted motifs that are some head's top motif (from the `top_motif` column).
pub fn motifs_named_by_heads<'a>(top_motifs: &[String], truth: &'a Truth) -> Vec<&'a str> {
    truth
        .motifs
        .iter()
        .filter(|m| {
            top_motifs
                .iter()
                .any(|t| t.split('/').any(|n| n == m.as_str()))
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        Truth {
            interacting: [unordered("A", "B"), unordered("C", "D")].into(),
            decoys: [unordered("E", "F")].into(),
            motifs: ["A", "B", "C", "D", "E", "F"].map(String::from).into(),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let r = pair_recovery(
            &pairs(&[("B", "A"), ("C", "D"), ("E", "F"), ("A", "C")]),
            &truth(),
        );
        assert_eq!(r.auprc, 1.0);
        assert_eq!(r.precision_at, vec![1.0, 1.0]);
        assert!(r.planted_above_decoys);
    }

    #[test]
    fn decoy_between_planted_pairs_is_caught() {
        let r = pair_recovery(&pairs(&[("A", "B"), ("E", "F"), ("C", "D")]), &truth());
        assert!((r.auprc - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!(!r.planted_above_decoys);
        assert_eq!(r.decoy_ranks[0].2, Some(2));
    }

    #[test]
    fn missing_planted_pair_counts_as_last_and_fails_the_decoy_check() {
        let r = pair_recovery(&pairs(&[("A", "B"), ("A", "C")]), &truth());
        assert_eq!(r.auprc, 0.5);
        assert!(!r.planted_above_decoys);
        assert_eq!(r.interacting_ranks[1].2, None);
    }

    #[test]
    fn cluster_names_match_their_members() {
        let r = pair_recovery(&pairs(&[("A/X", "B"), ("D", "C")]), &truth());
        assert_eq!(r.auprc, 1.0);
        let t = truth();
        let named = motifs_named_by_heads(&["X/A".into(), "F".into()], &t);
        assert_eq!(named, vec!["A", "F"]);
    }

    #[test]
    fn reads_simulator_truth() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("truth.tsv");
        std::fs::write(
            &p,
            "kind\tmotif_a\tmotif_b\tname_a\tname_b\toutput\n\
             single\tM1\t.\tA\t.\tactivity\n\
             cooperative\tM1\tM2\tA\tB\tactivity\n\
             long_range\tM3\tM4\tD\tC\tactivity\n\
             decoy\tM5\tM6\tE\tF\tactivity\n",
        )
        .unwrap();
        assert_eq!(
            Truth::read(&p).unwrap(),
            Truth {
                interacting: [unordered("A", "B"), unordered("C", "D")].into(),
                decoys: [unordered("E", "F")].into(),
                motifs: ["A".to_string()].into(),
            }
        );
        std::fs::write(&p, "kind\tname_a\tname_b\nweird\tA\tB\n").unwrap();
        let e = Truth::read(&p).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("unknown kind"), "{e}");
    }
}
