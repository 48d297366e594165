//! FIMO's `--text` TSV: written byte for byte (C `%g` / `%.3g` number formatting) and
//! read back as motif sites, so FIMO's own tables and `cisformer scan`'s are one format.

use std::{
    collections::HashMap,
    io::{self, BufRead, Write},
    path::Path,
};

use super::{
    Motif,
    scan::Hit,
    sites::{Site, sort_sites},
};
use crate::{Error, Result};

/// FIMO's header line (without the newline).
pub const HEADER: &str = "motif_id\tmotif_alt_id\tsequence_name\tstart\tstop\tstrand\tscore\tp-value\tq-value\tmatched_sequence";

/// Formats `x` as C's `printf("%.{prec}g", x)`.
///
/// ```
/// use cisformer::motif::fimo::format_g;
/// assert_eq!(format_g(12.62068, 6), "12.6207");
/// assert_eq!(format_g(2.67e-05, 3), "2.67e-05");
/// assert_eq!(format_g(0.0001, 3), "0.0001");
/// assert_eq!(format_g(-3.0, 6), "-3");
/// ```
pub fn format_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let p = prec.max(1);
    // The exponent after rounding to p significant digits decides the style.
    let sci = format!("{:.*e}", p - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Writes one FIMO row. `window` is the sequence under the hit as in the input;
/// on `-` FIMO prints its reverse complement in upper case. `qvalue` `None` leaves
/// the column empty (as `fimo --text`).
#[allow(clippy::too_many_arguments)]
pub fn write_row(
    out: &mut impl Write,
    motif_id: &str,
    motif_alt_id: &str,
    seq_name: &str,
    hit: &Hit,
    window: &[u8],
    qvalue: Option<f64>,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let text = Texts {
        score: &format_g(hit.score, 6),
        pvalue: &format_g(hit.pvalue, 3),
    };
    let row = Row {
        motif_id,
        motif_alt_id,
        seq_name,
        hit,
        window,
        qvalue,
    };
    row.write(out, text, buf)
}

/// One row's fields, laid out once for [`write_row`] and [`RowWriter`].
struct Row<'a> {
    motif_id: &'a str,
    motif_alt_id: &'a str,
    seq_name: &'a str,
    hit: &'a Hit,
    window: &'a [u8],
    qvalue: Option<f64>,
}

/// The printed score and p-value (computed by the caller, who may cache them).
#[derive(Clone, Copy)]
struct Texts<'a> {
    score: &'a str,
    pvalue: &'a str,
}

impl Row<'_> {
    fn write(&self, out: &mut impl Write, text: Texts<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
        let hit = self.hit;
        buf.clear();
        for field in [self.motif_id, self.motif_alt_id, self.seq_name] {
            buf.extend_from_slice(field.as_bytes());
            buf.push(b'\t');
        }
        let mut ib = itoa::Buffer::new();
        buf.extend_from_slice(ib.format(hit.start + 1).as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(ib.format(hit.end).as_bytes());
        buf.extend_from_slice(if hit.plus { b"\t+\t" } else { b"\t-\t" });
        buf.extend_from_slice(text.score.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(text.pvalue.as_bytes());
        buf.push(b'\t');
        if let Some(q) = self.qvalue {
            buf.extend_from_slice(format_g(q, 3).as_bytes());
        }
        buf.push(b'\t');
        if hit.plus {
            buf.extend_from_slice(self.window);
        } else {
            buf.extend(self.window.iter().rev().map(|&b| complement_upper(b)));
        }
        buf.push(b'\n');
        out.write_all(buf)
    }
}

/// Writes FIMO rows like [`write_row`], remembering the text of each score and p-value
/// (hits of one motif share few distinct values), which makes writing many hits cheap.
#[derive(Default)]
pub struct RowWriter {
    buf: Vec<u8>,
    scores: std::collections::HashMap<u64, Box<str>>,
    pvalues: std::collections::HashMap<u64, Box<str>>,
}

impl RowWriter {
    /// Writes one row; see [`write_row`].
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        out: &mut impl Write,
        motif_id: &str,
        motif_alt_id: &str,
        seq_name: &str,
        hit: &Hit,
        window: &[u8],
        qvalue: Option<f64>,
    ) -> io::Result<()> {
        let score = self
            .scores
            .entry(hit.score.to_bits())
            .or_insert_with(|| format_g(hit.score, 6).into());
        let pvalue = self
            .pvalues
            .entry(hit.pvalue.to_bits())
            .or_insert_with(|| format_g(hit.pvalue, 3).into());
        let text = Texts { score, pvalue };
        let row = Row {
            motif_id,
            motif_alt_id,
            seq_name,
            hit,
            window,
            qvalue,
        };
        row.write(out, text, &mut self.buf)
    }
}

/// Upper-case complement as MEME's `invcomp_seq` prints it (U pairs like T).
fn complement_upper(b: u8) -> u8 {
    match b.to_ascii_uppercase() {
        b'A' => b'T',
        b'C' => b'G',
        b'G' => b'C',
        b'T' | b'U' => b'A',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        other => other,
    }
}

/// Sites from a FIMO-style TSV (1-based inclusive coordinates), by index into `seqs`
/// (name, length). Every row must name a motif of `motifs` (by ID) and a sequence of
/// `seqs`; rows come in any order, and repeated rows count once.
pub fn read_sites(
    path: &Path,
    seqs: &[(String, usize)],
    motifs: &[Motif],
) -> Result<Vec<Vec<Site>>> {
    parse_sites(crate::io::open_input(path)?, path, seqs, motifs)
}

/// [`read_sites`] from any reader (`path` names it in errors).
pub fn parse_sites(
    reader: impl BufRead,
    path: &Path,
    seqs: &[(String, usize)],
    motifs: &[Motif],
) -> Result<Vec<Vec<Site>>> {
    let seq_index: HashMap<&str, usize> = seqs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    let motif_index: HashMap<&str, usize> = motifs
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut out = vec![Vec::new(); seqs.len()];
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let line = line.trim_end_matches('\r');
        if n == 0 && line.starts_with("motif_id") || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| Error::parse(path, n as u64 + 1, msg);
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            return Err(at(format!(
                "expected FIMO columns (motif_id motif_alt_id sequence_name start stop strand ...), found {} fields",
                f.len()
            )));
        }
        let Some(&mi) = motif_index.get(f[0]) else {
            return Err(at(format!("motif '{}' is not in the motif file", f[0])));
        };
        let Some(&si) = seq_index.get(f[2]) else {
            return Err(at(format!("sequence '{}' is not in the FASTA", f[2])));
        };
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| at(format!("'{s}' is not a position")))
        };
        let (start, stop) = (num(f[3])?, num(f[4])?);
        if start == 0 || stop < start || stop > seqs[si].1 {
            return Err(at(format!(
                "site {start}-{stop} does not fit in '{}' ({} bp)",
                f[2], seqs[si].1
            )));
        }
        let plus = match f[5] {
            "+" => true,
            "-" => false,
            s => return Err(at(format!("strand '{s}' is not + or -"))),
        };
        out[si].push(Site {
            motif: mi,
            start: start - 1,
            end: stop,
            plus,
        });
    }
    for s in &mut out {
        sort_sites(s);
        s.dedup();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_style_g() {
        for (x, p, s) in [
            (11.6379, 6, "11.6379"),
            (12.112, 6, "12.112"),
            (100000.0, 6, "100000"),
            (1000000.0, 6, "1e+06"),
            (0.00012345, 3, "0.000123"),
            (5.72e-05, 3, "5.72e-05"),
            (1e-10, 3, "1e-10"),
            (0.5, 3, "0.5"),
            (9.9996, 3, "10"),
            (-0.25, 6, "-0.25"),
        ] {
            assert_eq!(format_g(x, p), s, "{x}");
        }
    }

    #[test]
    fn written_rows_read_back_as_sites() {
        let motif = |id: &str| Motif {
            id: id.into(),
            name: String::new(),
            probs: vec![[0.25; 4]; 3],
            nsites: 20.0,
            url: None,
        };
        let motifs = [motif("M0"), motif("M1")];
        let hit = |start, plus| Hit {
            start,
            end: start + 3,
            plus,
            score: 1.5,
            pvalue: 1e-4,
            scaled: 0,
        };
        let mut text = format!("{HEADER}\n");
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for (m, seq, h) in [
            ("M1", "s2", hit(4, false)),
            ("M0", "s1", hit(0, true)),
            ("M0", "s2", hit(4, true)),
        ] {
            write_row(&mut out, m, "", seq, &h, b"ACG", None, &mut buf).unwrap();
        }
        text.push_str(std::str::from_utf8(&out).unwrap());
        // The first row again: repeated rows count once.
        let first_row = format!("{}\n", text.lines().nth(1).unwrap());
        text.push_str(&first_row);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sites.tsv");
        std::fs::write(&path, &text).unwrap();
        let seqs = [("s1".to_string(), 10), ("s2".to_string(), 10)];
        let sites = read_sites(&path, &seqs, &motifs).unwrap();
        let site = |motif, start, plus| Site {
            motif,
            start,
            end: start + 3,
            plus,
        };
        // Sorted by position, motif, + before -; the repeated row counts once.
        assert_eq!(
            sites,
            [
                vec![site(0, 0, true)],
                vec![site(0, 4, true), site(1, 4, false)]
            ]
        );
        std::fs::write(&path, "M2\t\ts1\t1\t3\t+\n").unwrap();
        let err = read_sites(&path, &seqs, &motifs).unwrap_err().to_string();
        assert!(
            err.ends_with("sites.tsv:1: motif 'M2' is not in the motif file"),
            "{err}"
        );
    }
}
