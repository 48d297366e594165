//! Many motifs over many sequences, as `cisformer scan` and FIMO report them: every hit
//! at or below a p-value, in FIMO's row order, with optional q-values over every scored
//! window and the same hits as BED6.
use std::io::{self, Write};

use rayon::prelude::*;

use super::{
    Background, Motif, Pssm, fimo,
    scan::{self, Hit, Scanner},
};
use crate::io::{fasta::Record, frame::place};

/// Sequences longer than this are scanned in parallel pieces.
const CHUNK: usize = 1 << 20;

/// How to scan.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Report windows with p-value at or below this.
    pub thresh: f64,
    /// FIMO's motif pseudocount.
    pub pseudo: f64,
    /// Scan the reverse strand too.
    pub both_strands: bool,
    /// Count the scored windows, for q-values.
    pub count_tests: bool,
}

/// Sequences encoded once for every motif.
pub struct Encoded {
    codes: Vec<Vec<u8>>,
    pairs: Vec<Vec<u8>>,
}

impl Encoded {
    pub fn new(records: &[Record]) -> Self {
        let codes: Vec<Vec<u8>> = records.par_iter().map(|r| scan::encode(&r.seq)).collect();
        let pairs = codes.par_iter().map(|c| scan::pair_codes(c)).collect();
        Self { codes, pairs }
    }
}

/// Hits of one motif: (sequence index, hit) in output order, and the windows scored (0
/// unless counted).
#[derive(Debug, Default)]
pub struct MotifHits {
    pub hits: Vec<(usize, Hit)>,
    pub tests: u64,
}

/// Scans every motif over every sequence, motifs and long sequences in parallel; the
/// result does not depend on the thread count. `done` is called once per motif.
pub fn search(
    motifs: &[&Motif],
    bg: &Background,
    seqs: &Encoded,
    opts: &SearchOptions,
    done: impl Fn() + Sync,
) -> Vec<MotifHits> {
    motifs
        .par_iter()
        .map(|m| {
            let r = search_one(m, bg, seqs, opts);
            done();
            r
        })
        .collect()
}

fn search_one(m: &Motif, bg: &Background, seqs: &Encoded, opts: &SearchOptions) -> MotifHits {
    let pssm = Pssm::with_threshold(m, bg, opts.pseudo, opts.thresh);
    let scanner = Scanner::new(&pssm, opts.thresh, opts.both_strands);
    let (codes, pairs) = (&seqs.codes, &seqs.pairs);
    let units: Vec<(usize, usize, usize)> = codes
        .iter()
        .enumerate()
        .flat_map(|(si, c)| {
            (0..c.len().div_ceil(CHUNK).max(1)).map(move |k| (si, k * CHUNK, (k + 1) * CHUNK))
        })
        .collect();
    let parts: Vec<Vec<(usize, Hit)>> = units
        .par_iter()
        .map(|&(si, from, to)| {
            let mut hits = Vec::new();
            scanner.scan_encoded_pairs(&codes[si], &pairs[si], from, to, &mut hits);
            hits.into_iter().map(|h| (si, h)).collect()
        })
        .collect();
    let tests = if opts.count_tests {
        let w = pssm.width();
        let per: u64 = codes
            .par_iter()
            .map(|c| scan::count_scorable_windows(c, w))
            .sum();
        per * if opts.both_strands { 2 } else { 1 }
    } else {
        0
    };
    MotifHits {
        hits: parts.into_iter().flatten().collect(),
        tests,
    }
}

/// Benjamini–Hochberg q-values of every hit, in output order, over every window scored
/// (FIMO's `--text` q-values).
pub fn qvalues(per_motif: &[MotifHits]) -> Vec<f64> {
    let tests: u64 = per_motif.iter().map(|m| m.tests).sum();
    let p: Vec<f64> = per_motif
        .iter()
        .flat_map(|m| m.hits.iter().map(|(_, x)| x.pvalue))
        .collect();
    crate::stats::bh_qvalues(&p, tests)
}

/// Writes the hits as FIMO's `--text` table to `out` and, when given, as BED6 to `bed`
/// (name = motif id, score = min(1000, round(-10·log10 p)); genome coordinates when a
/// record's name is `chr:start-end`).
pub fn write_hits(
    out: &mut impl Write,
    mut bed: Option<&mut dyn Write>,
    motifs: &[&Motif],
    per_motif: &[MotifHits],
    records: &[Record],
    qvalues: Option<&[f64]>,
) -> io::Result<()> {
    let mut rows = fimo::RowWriter::default();
    let mut k = 0;
    writeln!(out, "{}", fimo::HEADER)?;
    for (m, found) in motifs.iter().zip(per_motif) {
        for (si, h) in &found.hits {
            let rec = &records[*si];
            let q = qvalues.map(|q| q[k]);
            k += 1;
            rows.write(
                out,
                &m.id,
                &m.name,
                &rec.name,
                h,
                &rec.seq[h.start..h.end],
                q,
            )?;
            if let Some(b) = bed.as_mut() {
                let score = (-10.0 * h.pvalue.log10()).round().clamp(0.0, 1000.0) as u32;
                let (chrom, s, e, strand) = place(
                    &rec.name,
                    Some(rec.seq.len() as u64),
                    h.start,
                    h.end,
                    h.plus,
                );
                writeln!(b, "{chrom}\t{s}\t{e}\t{}\t{score}\t{strand}", m.id)?;
            }
        }
    }
    Ok(())
}
