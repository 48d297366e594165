//! MEME minimal motif format (version 4 and later): reader and writer.
//!
//! ```
//! use cisformer::motif::{self, meme, Background};
//! let file = motif::parse_str("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF m1 alt\nletter-probability matrix: alength= 4 w= 2 nsites= 10\n1 0 0 0\n0 0.5 0.5 0\n", "x.meme", None).unwrap();
//! let text = meme::to_string(&file.motifs, &Background::uniform());
//! let again = motif::parse_str(&text, "y.meme", None).unwrap();
//! assert_eq!(again.motifs, file.motifs);
//! ```
use std::fmt::Write;

use super::{Background, Format, Motif, MotifFile};
use crate::{Error, Result};

/// Number of sites MEME assumes when a matrix does not state `nsites`.
pub const DEFAULT_NSITES: f64 = 20.0;

/// Writes motifs as a MEME minimal-format file (probabilities with 6 decimals).
pub fn to_string(motifs: &[Motif], bg: &Background) -> String {
    let f = bg.freqs();
    let mut s =
        String::with_capacity(64 + motifs.iter().map(|m| 64 + 40 * m.width()).sum::<usize>());
    s.push_str(
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\n",
    );
    let _ = writeln!(s, "A {} C {} G {} T {}\n", f[0], f[1], f[2], f[3]);
    for m in motifs {
        if m.name.is_empty() {
            let _ = writeln!(s, "MOTIF {}", m.id);
        } else {
            let _ = writeln!(s, "MOTIF {} {}", m.id, m.name);
        }
        let _ = writeln!(
            s,
            "letter-probability matrix: alength= 4 w= {} nsites= {} E= 0",
            m.width(),
            m.nsites
        );
        for r in &m.probs {
            let _ = writeln!(s, " {:.6}  {:.6}  {:.6}  {:.6}", r[0], r[1], r[2], r[3]);
        }
        if let Some(url) = &m.url {
            let _ = writeln!(s, "URL {url}");
        }
        s.push('\n');
    }
    s
}

/// Tolerance on a probability row's sum: printed probabilities are rounded, but a
/// row far from 1 is a wrong matrix (counts, or a missing value).
const ROW_SUM_TOLERANCE: f64 = 0.02;

pub(super) fn parse(text: &str, origin: &str) -> Result<MotifFile> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |i: usize, msg: String| Error::parse(origin, i as u64 + 1, msg);
    let mut motifs: Vec<Motif> = Vec::new();
    let mut background = None;
    let mut saw_version = false;
    // Index of the line holding the current motif's MOTIF header, until its matrix is read.
    let mut pending: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("MEME version") {
            saw_version = true;
        } else if let Some(rest) = line.strip_prefix("ALPHABET") {
            let rest = rest.trim_start();
            if let Some(letters) = rest.strip_prefix('=') {
                check_alphabet(letters.trim().chars().collect(), || err(i, String::new()))
                    .map_err(|_| {
                        err(
                            i,
                            format!("unknown alphabet '{}' (expected ACGT)", letters.trim()),
                        )
                    })?;
            } else {
                // Custom alphabet block: core symbols are the lines without '='.
                let start = i;
                let mut core = Vec::new();
                i += 1;
                while i < lines.len() && !lines[i].trim().starts_with("END ALPHABET") {
                    let l = lines[i].trim();
                    if !l.is_empty() && !l.contains('=') {
                        let toks: Vec<&str> = l.split_whitespace().collect();
                        core.extend(toks[0].chars().next());
                        if let Some(k) = toks.iter().position(|t| *t == "~") {
                            core.extend(toks.get(k + 1).and_then(|t| t.chars().next()));
                        }
                    }
                    i += 1;
                }
                if i == lines.len() {
                    return Err(err(start, "ALPHABET block without 'END ALPHABET'".into()));
                }
                check_alphabet(core.clone(), || err(start, String::new())).map_err(|_| {
                    err(
                        start,
                        format!(
                            "unknown alphabet with letters '{}' (expected DNA: A, C, G, T)",
                            core.iter().collect::<String>()
                        ),
                    )
                })?;
            }
        } else if line.starts_with("Background letter frequencies") {
            let (bg, next) = read_background(&lines, i + 1, origin)?;
            background = Some(bg);
            i = next;
            continue;
        } else if let Some(rest) = line.strip_prefix("MOTIF") {
            if !rest.starts_with(char::is_whitespace) && !rest.is_empty() {
                // e.g. "MOTIFS" in prose: ignore
                i += 1;
                continue;
            }
            if let Some(p) = pending {
                return Err(err(
                    p,
                    format!(
                        "motif {} has no letter-probability matrix",
                        motifs.last().map_or("", |m| m.id.as_str())
                    ),
                ));
            }
            let mut it = rest.split_whitespace();
            let id = it
                .next()
                .ok_or_else(|| err(i, "expected 'MOTIF <id> [<name>]'".into()))?;
            let name = it.collect::<Vec<_>>().join(" ");
            motifs.push(Motif {
                id: id.to_string(),
                name,
                probs: Vec::new(),
                nsites: DEFAULT_NSITES,
                url: None,
            });
            pending = Some(i);
        } else if line.starts_with("letter-probability matrix") {
            let Some(m) = motifs.last_mut().filter(|_| pending.is_some()) else {
                return Err(err(
                    i,
                    "letter-probability matrix outside a motif (expected a MOTIF line before it)"
                        .into(),
                ));
            };
            let keys = parse_keys(line.split_once(':').map_or("", |x| x.1));
            let alength = match keys.iter().find(|(k, _)| *k == "alength") {
                Some((_, v)) => v
                    .parse::<usize>()
                    .map_err(|_| err(i, format!("bad alength '{v}'")))?,
                None => 4,
            };
            if alength != 4 {
                return Err(err(i, format!("alength= {alength}, expected 4 (DNA)")));
            }
            let w = match keys.iter().find(|(k, _)| *k == "w") {
                Some((_, v)) => Some(
                    v.parse::<usize>()
                        .map_err(|_| err(i, format!("bad width w= '{v}'")))?,
                ),
                None => None,
            };
            if let Some((_, v)) = keys.iter().find(|(k, _)| *k == "nsites") {
                m.nsites = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| err(i, format!("bad nsites= '{v}'")))?;
            }
            let header = i;
            i += 1;
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() && w.is_none() {
                    break;
                }
                if l.is_empty() {
                    i += 1;
                    continue;
                }
                if w.is_some_and(|w| m.probs.len() == w) || !starts_numeric(l) {
                    break;
                }
                let vals = parse_row(l, origin, i)?;
                if vals.len() != 4 {
                    return Err(err(
                        i,
                        format!(
                            "ragged row: expected 4 probabilities (A C G T), found {}",
                            vals.len()
                        ),
                    ));
                }
                let sum: f64 = vals.iter().sum();
                if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
                    return Err(err(
                        i,
                        format!("row sums to {sum}, expected 1 (letter probabilities)"),
                    ));
                }
                m.probs.push([vals[0], vals[1], vals[2], vals[3]]);
                i += 1;
            }
            if let Some(w) = w
                && m.probs.len() != w
            {
                return Err(err(
                    i.min(lines.len().saturating_sub(1)),
                    format!(
                        "motif {} has {} rows, but its header (line {}) says w= {w}",
                        m.id,
                        m.probs.len(),
                        header + 1
                    ),
                ));
            }
            if m.probs.is_empty() {
                return Err(err(header, format!("motif {} has an empty matrix", m.id)));
            }
            pending = None;
            continue;
        } else if line.starts_with("log-odds matrix") {
            // Skip the scores: FIMO scores from the probabilities.
            i += 1;
            while i < lines.len() && starts_numeric(lines[i].trim()) {
                i += 1;
            }
            continue;
        } else if let Some(url) = line.strip_prefix("URL")
            && let Some(m) = motifs.last_mut()
        {
            m.url = Some(url.trim().to_string());
        }
        i += 1;
    }
    if let Some(p) = pending {
        return Err(err(
            p,
            format!(
                "motif {} has no letter-probability matrix",
                motifs.last().map_or("", |m| m.id.as_str())
            ),
        ));
    }
    if !saw_version {
        return Err(Error::parse(origin, 1, "expected a 'MEME version' line"));
    }
    Ok(MotifFile {
        motifs,
        background,
        format: Format::Meme,
    })
}

fn check_alphabet(mut letters: Vec<char>, err: impl Fn() -> Error) -> Result<()> {
    for c in letters.iter_mut() {
        *c = c.to_ascii_uppercase();
        if *c == 'U' {
            *c = 'T';
        }
    }
    letters.sort_unstable();
    if letters == ['A', 'C', 'G', 'T'] {
        Ok(())
    } else {
        Err(err())
    }
}

/// `key= value` pairs of a matrix header (`alength= 4 w= 9 nsites= 20 E= 0`).
fn parse_keys(s: &str) -> Vec<(&str, &str)> {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        if let Some((key, val)) = toks[k].split_once('=') {
            if val.is_empty() {
                if let Some(v) = toks.get(k + 1) {
                    out.push((key, *v));
                    k += 1;
                }
            } else {
                out.push((key, val));
            }
        }
        k += 1;
    }
    out
}

fn starts_numeric(l: &str) -> bool {
    l.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
}

pub(super) fn parse_row(l: &str, origin: &str, i: usize) -> Result<Vec<f64>> {
    l.split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Error::parse(
                        origin,
                        i as u64 + 1,
                        format!("'{t}' is not a non-negative number"),
                    )
                })
        })
        .collect()
}

fn read_background(lines: &[&str], mut i: usize, origin: &str) -> Result<([f64; 4], usize)> {
    let mut freqs = [f64::NAN; 4];
    let start = i;
    while i < lines.len() && freqs.iter().any(|f| f.is_nan()) {
        let l = lines[i].trim();
        i += 1;
        if l.is_empty() {
            continue;
        }
        let toks: Vec<&str> = l.split_whitespace().collect();
        if !toks.len().is_multiple_of(2) || toks.is_empty() {
            return Err(Error::parse(
                origin,
                i as u64,
                format!("expected background 'A p C p G p T p', found '{l}'"),
            ));
        }
        for pair in toks.chunks(2) {
            let idx = match pair[0] {
                "A" | "a" => 0,
                "C" | "c" => 1,
                "G" | "g" => 2,
                "T" | "t" | "U" | "u" => 3,
                other => {
                    return Err(Error::parse(
                        origin,
                        i as u64,
                        format!("unknown background letter '{other}' (expected A, C, G, T)"),
                    ));
                }
            };
            freqs[idx] = pair[1]
                .parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0)
                .ok_or_else(|| {
                    Error::parse(
                        origin,
                        i as u64,
                        format!("'{}' is not a frequency", pair[1]),
                    )
                })?;
        }
    }
    if freqs.iter().any(|f| f.is_nan()) {
        return Err(Error::parse(
            origin,
            start as u64,
            "incomplete background letter frequencies (expected A, C, G and T)",
        ));
    }
    // MEME normalises the motif-file background to sum to 1.
    let sum: f64 = freqs.iter().sum();
    if sum <= 0.0 {
        return Err(Error::parse(
            origin,
            start as u64,
            "background frequencies sum to 0",
        ));
    }
    if sum != 1.0 {
        freqs = freqs.map(|f| f / sum);
    }
    Ok((freqs, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motif::parse_str;

    const TWO: &str = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.3 C 0.2 G 0.2 T 0.3\n\n\
MOTIF MA1 One\nletter-probability matrix: alength= 4 w= 2 nsites= 20 E= 0\n 0.5 0.5 0 0\n 0 0 0 1\nURL http://x/MA1\n\n\
MOTIF MA2\nletter-probability matrix: alength= 4 w= 1 nsites= 7 E= 0\n0.25 0.25 0.25 0.25\n";

    #[test]
    fn reads_motifs_background_and_urls() {
        let f = parse_str(TWO, "two.meme", None).unwrap();
        assert_eq!(f.format, Format::Meme);
        assert_eq!(f.background, Some([0.3, 0.2, 0.2, 0.3]));
        assert_eq!(f.motifs.len(), 2);
        assert_eq!(f.motifs[0].id, "MA1");
        assert_eq!(f.motifs[0].name, "One");
        assert_eq!(f.motifs[0].url.as_deref(), Some("http://x/MA1"));
        assert_eq!(f.motifs[0].probs[1], [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(f.motifs[1].nsites, 7.0);
        assert_eq!(f.motifs[1].name, "");
    }

    #[test]
    fn round_trips_through_writer() {
        let f = parse_str(TWO, "two.meme", None).unwrap();
        let text = to_string(&f.motifs, &Background::uniform());
        let g = parse_str(&text, "w.meme", None).unwrap();
        assert_eq!(g.motifs, f.motifs);
        assert_eq!(g.background, Some([0.25; 4]));
    }

    #[test]
    fn errors_name_line_and_problem() {
        let bad = TWO.replace(" 0 0 0 1\n", " 0 0 1\n");
        let e = parse_str(&bad, "bad.meme", None).unwrap_err().to_string();
        assert!(
            e.starts_with("bad.meme:13:") && e.contains("ragged row"),
            "{e}"
        );
        let bad = TWO.replace(" 0 0 0 1\n", " 0 0 0 2\n");
        let e = parse_str(&bad, "bad.meme", None).unwrap_err().to_string();
        assert!(
            e.contains("bad.meme:13:") && e.contains("row sums to 2"),
            "{e}"
        );
        let bad = TWO.replace("ALPHABET= ACGT", "ALPHABET= ACDEFGHIKLMNPQRSTVWY");
        let e = parse_str(&bad, "bad.meme", None).unwrap_err().to_string();
        assert!(
            e.contains("bad.meme:3:") && e.contains("unknown alphabet"),
            "{e}"
        );
        let bad = TWO.replace("w= 2", "w= 3");
        let e = parse_str(&bad, "bad.meme", None).unwrap_err().to_string();
        assert!(e.contains("has 2 rows") && e.contains("w= 3"), "{e}");
        let bad = "MEME version 4\n\nMOTIF a\n\nMOTIF b\nletter-probability matrix:\n1 0 0 0\n";
        let e = parse_str(bad, "bad.meme", None).unwrap_err().to_string();
        assert!(
            e.contains("bad.meme:3:") && e.contains("no letter-probability"),
            "{e}"
        );
        let e = parse_str("MEME version 4\n", "none.meme", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no motifs"), "{e}");
    }

    #[test]
    fn alphabet_block_and_missing_nsites() {
        let t = "MEME version 5\nALPHABET \"DNA\" DNA-LIKE\nA \"Adenine\" CC0000 ~ T \"Thymine\" 008000\nC ~ G\nN = ACGT\nEND ALPHABET\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 1\n0.1 0.2 0.3 0.4\n";
        let f = parse_str(t, "blk.meme", None).unwrap();
        assert_eq!(f.motifs[0].nsites, DEFAULT_NSITES);
    }
}
