//! Scores `interactions --per-pair` (and optionally `heads`) output against the planted
//! grammar of `cisformer simulate` (its `truth.tsv`): AUPRC and precision@k of the
//! interacting pairs among all motif pairs, whether every planted pair ranks above every
//! decoy, and which planted motifs some head names as its top motif. One block per score
//! kind (`attention`, `attn_grad`) found in the table. Used by `bench/recovery.sh`.
//!
//! ```sh
//! cargo run --release --example recovery -- truth.tsv pairs.tsv [heads.tsv]
//! ```
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;

use cisformer::analysis::recovery::{Truth, motifs_named_by_heads, pair_recovery};

/// A header and its rows.
type Table = (Vec<String>, Vec<Vec<String>>);

fn columns(path: &str) -> Result<Table, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or(format!("{path}: empty"))?
        .split('\t')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    Ok((header, rows))
}

fn col(header: &[String], name: &str, path: &str) -> Result<usize, Box<dyn Error>> {
    Ok(header
        .iter()
        .position(|c| c == name)
        .ok_or(format!("{path}: no `{name}` column"))?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: recovery TRUTH.tsv PAIRS.tsv [HEADS.tsv]".into());
    }
    let truth = Truth::read(&args[0])?;
    let (header, rows) = columns(&args[1])?;
    let (a, b, score) = (
        col(&header, "motif_a", &args[1])?,
        col(&header, "motif_b", &args[1])?,
        col(&header, "score", &args[1])?,
    );
    // Written at once at the end, so a closed pipe (`| head`) ends quietly.
    let mut out = String::new();
    let mut by_score: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in &rows {
        by_score
            .entry(r[score].clone())
            .or_default()
            .push((r[a].clone(), r[b].clone()));
    }
    for (kind, ranked) in &by_score {
        let rec = pair_recovery(ranked, &truth);
        writeln!(out, "score\t{kind}")?;
        writeln!(out, "auprc\t{:.4}", rec.auprc)?;
        let p: Vec<String> = rec.precision_at.iter().map(|v| format!("{v:.3}")).collect();
        writeln!(out, "precision_at_1..k\t{}", p.join(","))?;
        writeln!(out, "planted_above_decoys\t{}", rec.planted_above_decoys)?;
        writeln!(out, "pairs_ranked\t{}", rec.n_pairs)?;
        for (x, y, r) in rec.interacting_ranks.iter() {
            writeln!(
                out,
                "planted\t{x}-{y}\t{}",
                r.map_or("absent".into(), |r| r.to_string())
            )?;
        }
        for (x, y, r) in rec.decoy_ranks.iter() {
            writeln!(
                out,
                "decoy\t{x}-{y}\t{}",
                r.map_or("absent".into(), |r| r.to_string())
            )?;
        }
    }
    if let Some(heads) = args.get(2) {
        let (header, rows) = columns(heads)?;
        let top = col(&header, "top_motif", heads)?;
        let tops: Vec<String> = rows.iter().map(|r| r[top].clone()).collect();
        let named = motifs_named_by_heads(&tops, &truth);
        writeln!(
            out,
            "heads_name_planted_motifs\t{}/{}\t{}",
            named.len(),
            truth.motifs.len(),
            named.join(",")
        )?;
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
