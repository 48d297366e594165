//! JASPAR, TRANSFAC and HOMER readers, and format detection.
use super::{Format, Motif, MotifFile, meme::DEFAULT_NSITES};
use crate::{Error, Result};

/// Guesses the format from the first meaningful lines.
pub(super) fn detect(text: &str) -> Option<Format> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let first = lines.next()?;
    if text.lines().any(|l| l.starts_with("MEME version")) {
        return Some(Format::Meme);
    }
    let code = first.get(..2).unwrap_or("");
    if matches!(code, "ID" | "AC" | "VV" | "NA" | "DE" | "P0" | "PO" | "XX")
        && first[2..].starts_with(char::is_whitespace)
        || first == "//"
    {
        return Some(Format::Transfac);
    }
    if let Some(header) = first.strip_prefix('>') {
        let rows: Vec<&str> = lines.take_while(|l| !l.starts_with('>')).collect();
        let first_row = rows.first()?;
        if first_row.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None; // sequences, not a matrix
        }
        if first_row.contains('[') {
            return Some(Format::Jaspar);
        }
        let fields: Vec<&str> = header.split('\t').collect();
        if fields.len() >= 3 && fields[2].trim().parse::<f64>().is_ok() {
            return Some(Format::Homer);
        }
        let widths: Vec<usize> = rows.iter().map(|r| r.split_whitespace().count()).collect();
        let all_four = widths.iter().all(|&n| n == 4);
        let sums_one = rows.iter().all(|r| {
            let s: f64 = r
                .split_whitespace()
                .filter_map(|t| t.parse::<f64>().ok())
                .sum();
            (s - 1.0).abs() < 0.02
        });
        if all_four && (rows.len() != 4 || sums_one) {
            return Some(Format::Homer);
        }
        return Some(Format::Jaspar);
    }
    let t = first
        .trim_start_matches(['A', 'C', 'G', 'T', ':', '|', '['])
        .trim_start();
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Some(Format::Jaspar);
    }
    None
}

fn err(origin: &str, i: usize, msg: impl Into<String>) -> Error {
    Error::parse(origin, i as u64 + 1, msg)
}

/// One row of a JASPAR matrix: an optional base letter, then numbers, optionally in brackets.
fn jaspar_row(line: &str, origin: &str, i: usize) -> Result<(Option<usize>, Vec<f64>)> {
    let mut l = line.trim();
    let mut base = None;
    if let Some(c) = l.chars().next().filter(char::is_ascii_alphabetic) {
        base = Some(match c.to_ascii_uppercase() {
            'A' => 0,
            'C' => 1,
            'G' => 2,
            'T' | 'U' => 3,
            _ => {
                return Err(err(
                    origin,
                    i,
                    format!(
                        "unknown base '{c}' at the start of a matrix row (expected A, C, G or T)"
                    ),
                ));
            }
        });
        l = l[1..]
            .trim_start()
            .trim_start_matches([':', '|'])
            .trim_start();
    }
    let l = l.trim_start_matches('[').trim_end().trim_end_matches(']');
    let vals = super::meme::parse_row(l, origin, i)?;
    Ok((base, vals))
}

/// Turns a 4×w count (or frequency) matrix into a motif; column totals become
/// probabilities, `nsites` is the first column's total (rounded, as JASPAR's MEME export).
fn counts_to_motif(
    id: String,
    name: String,
    rows: [Vec<f64>; 4],
    origin: &str,
    line: usize,
) -> Result<Motif> {
    let w = rows[0].len();
    let mut probs = Vec::with_capacity(w);
    for k in 0..w {
        let col = rows.each_ref().map(|r| r[k]);
        let total: f64 = col.iter().sum();
        if total <= 0.0 {
            return Err(err(
                origin,
                line,
                format!("motif {id}: column {} sums to 0", k + 1),
            ));
        }
        probs.push(col.map(|c| c / total));
    }
    let first: f64 = (0..4).map(|b| rows[b][0]).sum();
    let nsites = if first > 1.5 {
        first.round()
    } else {
        DEFAULT_NSITES
    };
    Ok(Motif {
        id,
        name,
        probs,
        nsites,
        url: None,
    })
}

/// Collects four rows (in A, C, G, T order unless lettered) and checks they are rectangular.
fn four_rows(
    raw: &[(usize, Option<usize>, Vec<f64>)],
    origin: &str,
    id: &str,
) -> Result<[Vec<f64>; 4]> {
    let mut rows: [Option<Vec<f64>>; 4] = Default::default();
    for (k, (line, base, vals)) in raw.iter().enumerate() {
        let b = base.unwrap_or(k);
        if rows[b].is_some() {
            return Err(err(
                origin,
                *line,
                format!("motif {id}: base row {} given twice", b"ACGT"[b] as char),
            ));
        }
        let w0 = raw[0].2.len();
        if vals.len() != w0 {
            return Err(err(
                origin,
                *line,
                format!(
                    "motif {id}: ragged rows: this row has {} values, the first row has {w0}",
                    vals.len()
                ),
            ));
        }
        rows[b] = Some(vals.clone());
    }
    if raw[0].2.is_empty() {
        return Err(err(
            origin,
            raw[0].0,
            format!("motif {id}: empty matrix row"),
        ));
    }
    Ok(rows.map(|r| r.unwrap_or_default()))
}

/// Id for a bare matrix: the file name without directories and extensions.
fn stem(origin: &str) -> String {
    let base = origin.rsplit(['/', '\\']).next().unwrap_or(origin);
    let base = base.strip_suffix(".gz").unwrap_or(base);
    base.split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("motif")
        .to_string()
}

pub(super) fn parse_jaspar(text: &str, origin: &str) -> Result<MotifFile> {
    let lines: Vec<&str> = text.lines().collect();
    let mut motifs = Vec::new();
    let mut i = 0;
    let mut bare = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let (id, name, header_line) = if let Some(h) = l.strip_prefix('>') {
            let mut it = h.split_whitespace();
            let id = it
                .next()
                .ok_or_else(|| err(origin, i, "expected '>ID name' header"))?
                .to_string();
            i += 1;
            (id, it.collect::<Vec<_>>().join(" "), i - 1)
        } else {
            bare += 1;
            let id = if bare == 1 {
                stem(origin)
            } else {
                format!("{}_{bare}", stem(origin))
            };
            (id, String::new(), i)
        };
        let mut raw = Vec::new();
        while i < lines.len() && raw.len() < 4 {
            let l = lines[i].trim();
            if l.starts_with('>') {
                break;
            }
            if !l.is_empty() && !l.starts_with('#') {
                let (b, v) = jaspar_row(l, origin, i)?;
                raw.push((i, b, v));
            }
            i += 1;
        }
        if raw.is_empty() {
            return Err(err(
                origin,
                header_line,
                format!("motif {id} has no matrix rows"),
            ));
        }
        // A single bare matrix may also be written transposed: w rows of 4 values.
        if raw.len() == 4
            && header_line == raw[0].0
            && raw.iter().all(|r| r.1.is_none() && r.2.len() == 4)
            && i < lines.len()
            && lines[i..].iter().any(|l| !l.trim().is_empty())
            && motifs.is_empty()
        {
            let mut cols = raw.iter().map(|r| r.2.clone()).collect::<Vec<_>>();
            while i < lines.len() && !lines[i].trim().is_empty() {
                let (_, v) = jaspar_row(lines[i], origin, i)?;
                if v.len() != 4 {
                    return Err(err(
                        origin,
                        i,
                        format!(
                            "ragged rows: expected 4 values (A C G T), found {}",
                            v.len()
                        ),
                    ));
                }
                cols.push(v);
                i += 1;
            }
            let rows = [0, 1, 2, 3].map(|b| cols.iter().map(|c| c[b]).collect::<Vec<_>>());
            motifs.push(counts_to_motif(id, name, rows, origin, header_line)?);
            continue;
        }
        if raw.len() < 4 {
            let at = raw.last().map_or(header_line, |r| r.0);
            return Err(err(
                origin,
                at,
                format!(
                    "motif {id}: expected 4 matrix rows (A, C, G, T), found {}",
                    raw.len()
                ),
            ));
        }
        let rows = four_rows(&raw, origin, &id)?;
        motifs.push(counts_to_motif(id, name, rows, origin, header_line)?);
    }
    Ok(MotifFile {
        motifs,
        background: None,
        format: Format::Jaspar,
    })
}

pub(super) fn parse_transfac(text: &str, origin: &str) -> Result<MotifFile> {
    let lines: Vec<&str> = text.lines().collect();
    let mut motifs = Vec::new();
    let mut ac: Option<String> = None;
    let mut idl: Option<String> = None;
    let mut na: Option<String> = None;
    let mut order: Option<[usize; 4]> = None;
    let mut rows: Vec<[f64; 4]> = Vec::new();
    let mut start = 0;
    let mut in_matrix = false;
    let finish = |ac: &mut Option<String>,
                  idl: &mut Option<String>,
                  na: &mut Option<String>,
                  rows: &mut Vec<[f64; 4]>,
                  start: usize,
                  motifs: &mut Vec<Motif>|
     -> Result<()> {
        let (ac, idl, na) = (ac.take(), idl.take(), na.take());
        if rows.is_empty() {
            if ac.is_some() || idl.is_some() {
                let who = ac.or(idl).unwrap_or_default();
                return Err(err(origin, start, format!("motif {who} has no P0 matrix")));
            }
            return Ok(());
        }
        let (id, name) = match (ac, idl) {
            (Some(a), Some(d)) => (a, d),
            (Some(a), None) => (a, na.unwrap_or_default()),
            (None, Some(d)) => (d, na.unwrap_or_default()),
            (None, None) => (
                format!("{}_{}", stem(origin), motifs.len() + 1),
                na.unwrap_or_default(),
            ),
        };
        let cols = [0, 1, 2, 3].map(|b| rows.iter().map(|r| r[b]).collect::<Vec<_>>());
        rows.clear();
        motifs.push(counts_to_motif(id, name, cols, origin, start)?);
        Ok(())
    };
    for (i, raw) in lines.iter().enumerate() {
        let l = raw.trim_end();
        if l.trim().is_empty() {
            continue;
        }
        if l.starts_with("//") {
            finish(&mut ac, &mut idl, &mut na, &mut rows, start, &mut motifs)?;
            in_matrix = false;
            start = i + 1;
            continue;
        }
        let code = l.get(..2).unwrap_or(l);
        let rest = l.get(2..).unwrap_or("").trim();
        match code {
            "AC" => ac = Some(rest.split_whitespace().next().unwrap_or("").to_string()),
            "ID" => idl = Some(rest.split_whitespace().next().unwrap_or("").to_string()),
            "NA" => na = Some(rest.to_string()),
            "P0" | "PO" => {
                let mut o = [usize::MAX; 4];
                let letters: Vec<&str> = rest.split_whitespace().collect();
                if letters.len() < 4 {
                    return Err(err(
                        origin,
                        i,
                        format!("expected 'P0 A C G T', found '{l}'"),
                    ));
                }
                for (k, t) in letters.iter().take(4).enumerate() {
                    o[k] = match t.to_ascii_uppercase().as_str() {
                        "A" => 0,
                        "C" => 1,
                        "G" => 2,
                        "T" | "U" => 3,
                        other => {
                            return Err(err(
                                origin,
                                i,
                                format!(
                                    "unknown alphabet letter '{other}' in P0 line (expected A C G T)"
                                ),
                            ));
                        }
                    };
                }
                let mut seen = o;
                seen.sort_unstable();
                if seen != [0, 1, 2, 3] {
                    return Err(err(origin, i, "P0 line must name A, C, G and T once each"));
                }
                order = Some(o);
                in_matrix = true;
            }
            _ if in_matrix
                && code.trim().chars().all(|c| c.is_ascii_digit())
                && !code.trim().is_empty() =>
            {
                let toks: Vec<&str> = rest.split_whitespace().collect();
                let nums: Vec<f64> = toks
                    .iter()
                    .take_while(|t| t.parse::<f64>().is_ok())
                    .map(|t| t.parse::<f64>().unwrap_or(0.0))
                    .collect();
                if nums.len() < 4 {
                    return Err(err(
                        origin,
                        i,
                        format!(
                            "ragged row: expected 4 values (A C G T), found {}",
                            nums.len()
                        ),
                    ));
                }
                if nums.iter().any(|v| *v < 0.0 || !v.is_finite()) {
                    return Err(err(origin, i, "negative or non-finite count"));
                }
                let o = order.unwrap_or([0, 1, 2, 3]);
                let mut r = [0.0; 4];
                for k in 0..4 {
                    r[o[k]] = nums[k];
                }
                rows.push(r);
            }
            _ => in_matrix = false,
        }
    }
    finish(&mut ac, &mut idl, &mut na, &mut rows, start, &mut motifs)?;
    Ok(MotifFile {
        motifs,
        background: None,
        format: Format::Transfac,
    })
}

pub(super) fn parse_homer(text: &str, origin: &str) -> Result<MotifFile> {
    let mut motifs: Vec<Motif> = Vec::new();
    let mut header_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(h) = l.strip_prefix('>') {
            if let Some(m) = motifs.last()
                && m.probs.is_empty()
            {
                return Err(err(
                    origin,
                    header_line,
                    format!("motif {} has no rows", m.id),
                ));
            }
            let fields: Vec<&str> = h.split('\t').collect();
            let consensus = fields[0].trim().to_string();
            let id = fields
                .get(1)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| consensus.clone());
            motifs.push(Motif {
                id,
                name: consensus,
                probs: Vec::new(),
                nsites: DEFAULT_NSITES,
                url: None,
            });
            header_line = i;
            continue;
        }
        let Some(m) = motifs.last_mut() else {
            return Err(err(
                origin,
                i,
                "expected a '>consensus<TAB>name' header before matrix rows",
            ));
        };
        let v = super::meme::parse_row(l, origin, i)?;
        if v.len() != 4 {
            return Err(err(
                origin,
                i,
                format!("ragged row: expected 4 values (A C G T), found {}", v.len()),
            ));
        }
        let s: f64 = v.iter().sum();
        if s <= 0.0 {
            return Err(err(origin, i, "row sums to 0"));
        }
        m.probs.push([v[0] / s, v[1] / s, v[2] / s, v[3] / s]);
    }
    if let Some(m) = motifs.last()
        && m.probs.is_empty()
    {
        return Err(err(
            origin,
            header_line,
            format!("motif {} has no rows", m.id),
        ));
    }
    Ok(MotifFile {
        motifs,
        background: None,
        format: Format::Homer,
    })
}

#[cfg(test)]
mod tests {
    use crate::motif::{Format, parse_str};

    const JASPAR: &str = ">MA0004.1\tArnt\nA  [ 4 19  0  0  0  0 ]\nC  [16  0 20  0  0  0 ]\nG  [ 0  1  0 20  0 20 ]\nT  [ 0  0  0  0 20  0 ]\n\n>MA9.1 Two\nA [1 1]\nC [1 1]\nG [1 1]\nT [1 1]\n";

    #[test]
    fn jaspar_counts_become_probabilities() {
        let f = parse_str(JASPAR, "m.jaspar", None).unwrap();
        assert_eq!(f.format, Format::Jaspar);
        assert_eq!(f.motifs.len(), 2);
        let m = &f.motifs[0];
        assert_eq!(
            (m.id.as_str(), m.name.as_str(), m.width(), m.nsites),
            ("MA0004.1", "Arnt", 6, 20.0)
        );
        assert_eq!(m.probs[0], [0.2, 0.8, 0.0, 0.0]);
        assert_eq!(m.consensus(), "CACGTG");
        assert_eq!(f.motifs[1].probs[1], [0.25; 4]);
    }

    #[test]
    fn bare_and_transposed_matrices() {
        let f = parse_str("4 19 0\n16 0 20\n0 1 0\n0 0 0\n", "dir/arnt.pfm", None).unwrap();
        assert_eq!(f.motifs[0].id, "arnt");
        assert_eq!(f.motifs[0].width(), 3);
        let t = parse_str(
            "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n1 1 1 1\n",
            "t.txt",
            Some(Format::Jaspar),
        )
        .unwrap();
        assert_eq!(t.motifs[0].width(), 5);
        assert_eq!(t.motifs[0].consensus(), "ACGTA");
    }

    #[test]
    fn jaspar_errors() {
        let e = parse_str(
            ">a x\nA [1 2]\nC [1 2 3]\nG [1 2]\nT [1 2]\n",
            "r.jaspar",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("r.jaspar:3:") && e.contains("ragged"), "{e}");
        let e = parse_str(">a x\nA [1 2]\nC [1 2]\n", "s.jaspar", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 4 matrix rows"), "{e}");
        let e = parse_str(
            ">a x\nA [1 x]\nC [1 2]\nG [1 2]\nT [1 2]\n",
            "n.jaspar",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("n.jaspar:2:") && e.contains("'x'"), "{e}");
        let e = parse_str(
            ">a x\nA [0 1]\nC [0 2]\nG [0 2]\nT [0 2]\n",
            "z.jaspar",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("column 1 sums to 0"), "{e}");
        let e = parse_str("", "e.jaspar", None).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = parse_str("hello world\n", "h.txt", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unrecognised motif format"), "{e}");
    }

    #[test]
    fn transfac_reads_records() {
        let t = "VV  TRANSFAC MATRIX TABLE\nXX\n//\nAC  MA0004.1\nXX\nID  Arnt\nXX\nP0      A      C      G      T\n01      4     16      0      0      C\n02     19      0      1      0      A\nXX\n//\nAC  M2\nP0 T G C A\n01 1 0 0 0\n//\n";
        let f = parse_str(t, "t.transfac", None).unwrap();
        assert_eq!(f.format, Format::Transfac);
        assert_eq!(f.motifs.len(), 2);
        assert_eq!(
            (f.motifs[0].id.as_str(), f.motifs[0].name.as_str()),
            ("MA0004.1", "Arnt")
        );
        assert_eq!(f.motifs[0].probs[1], [0.95, 0.0, 0.05, 0.0]);
        assert_eq!(f.motifs[1].consensus(), "T");
        let e = parse_str("AC  x\nP0 A C G T\n01 1 2 3\n//\n", "b.tf", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.tf:3:") && e.contains("ragged"), "{e}");
        let e = parse_str("AC  x\nP0 A C G X\n01 1 2 3 4\n//\n", "b.tf", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown alphabet"), "{e}");
    }

    #[test]
    fn homer_reads_probabilities() {
        let t = ">CACGTG\tArnt/Homer\t6.5\n0.1 0.7 0.1 0.1\n0.9 0.0 0.05 0.05\n>AAA\tpolyA\t3.0\n1 0 0 0\n";
        let f = parse_str(t, "h.motif", None).unwrap();
        assert_eq!(f.format, Format::Homer);
        assert_eq!(
            (f.motifs[0].id.as_str(), f.motifs[0].name.as_str()),
            ("Arnt/Homer", "CACGTG")
        );
        assert_eq!(f.motifs[0].width(), 2);
        let e = parse_str(">A\tx\t1\n0.5 0.5 0\n", "h.motif", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.motif:2:") && e.contains("ragged"), "{e}");
    }
}
