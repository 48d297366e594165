//! Transcription-factor motifs: position weight matrices, their file formats,
//! log-odds scoring with exact p-values, and the genome scanner.
//!
//! ```
//! use cisformer::motif::{self, Background, Pssm};
//! let text = ">MA0004.1\tArnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n";
//! let file = motif::parse_str(text, "arnt.jaspar", None).unwrap();
//! let pssm = Pssm::new(&file.motifs[0], &Background::uniform(), 0.1);
//! let hits = motif::scan::scan_sequence(&pssm, b"ttCACGTGaa", 1e-3, true);
//! assert_eq!((hits[0].start, hits[0].end, hits[0].plus), (2, 8, true));
//! ```

pub mod fimo;
mod formats;
pub mod meme;
mod pssm;
pub mod scan;
pub mod search;
pub mod similar;
mod sites;

use std::{io::Read, path::Path};

pub use pssm::{FIMO_PSEUDOCOUNT, Pssm, uniform_pssms};
pub use sites::{Site, display_names, scan_sites, sites_in};

use crate::{Error, Result};

/// Index of a base in every per-position array: A, C, G, T.
pub const ALPHABET: [u8; 4] = *b"ACGT";

/// A motif as a position probability matrix over A, C, G, T.
///
/// Every row sums to 1. Parsers convert counts to probabilities and keep the
/// number of sites (`nsites`), which FIMO's pseudocount smoothing needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Motif {
    /// Identifier (MEME `MOTIF <id>`, JASPAR matrix ID such as `MA0004.1`).
    pub id: String,
    /// Alternative name (`Arnt`); may be empty.
    pub name: String,
    /// One row per motif position: probabilities of A, C, G, T.
    pub probs: Vec<[f64; 4]>,
    /// Number of sites the matrix was built from (nominal when column sums vary).
    pub nsites: f64,
    /// Optional URL line from MEME files.
    pub url: Option<String>,
}

impl Motif {
    /// Motif width in base pairs.
    pub fn width(&self) -> usize {
        self.probs.len()
    }

    /// The motif of the opposite strand: positions reversed, A↔T and C↔G swapped.
    pub fn reverse_complement(&self) -> Motif {
        Motif {
            probs: self
                .probs
                .iter()
                .rev()
                .map(|r| [r[3], r[2], r[1], r[0]])
                .collect(),
            ..self.clone()
        }
    }

    /// Consensus string (most probable base per position, IUPAC-free).
    pub fn consensus(&self) -> String {
        self.probs
            .iter()
            .map(|r| {
                let mut best = 0;
                for i in 1..4 {
                    if r[i] > r[best] {
                        best = i;
                    }
                }
                ALPHABET[best] as char
            })
            .collect()
    }
}

/// Motif file formats understood by [`load`] and [`parse_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// MEME minimal motif format (version 4+), letter-probability matrices.
    Meme,
    /// JASPAR: `>ID name` then `A [ ... ]` count rows; also bare 4-row count matrices.
    Jaspar,
    /// TRANSFAC matrix format (`ID`, `P0`/`PO` table, `//`).
    Transfac,
    /// HOMER `.motif`: `>consensus<TAB>name...` then one probability row per position.
    Homer,
}

impl Format {
    /// All formats, for help texts.
    pub const ALL: [Format; 4] = [
        Format::Meme,
        Format::Jaspar,
        Format::Transfac,
        Format::Homer,
    ];

    /// Lower-case name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Meme => "meme",
            Format::Jaspar => "jaspar",
            Format::Transfac => "transfac",
            Format::Homer => "homer",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown motif format '{s}' (expected meme, jaspar, transfac or homer)"
                ))
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The motifs of one file, in file order, and what else the file said.
#[derive(Clone, Debug, PartialEq)]
pub struct MotifFile {
    /// Motifs in file order.
    pub motifs: Vec<Motif>,
    /// Background letter frequencies (A, C, G, T) stated in the file (MEME only).
    pub background: Option<[f64; 4]>,
    /// The format the file was read as.
    pub format: Format,
}

impl MotifFile {
    /// Index of the motif whose id (or, failing that, name) is `key`.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.motifs
            .iter()
            .position(|m| m.id == key)
            .or_else(|| self.motifs.iter().position(|m| m.name == key))
    }

    /// The motifs `keys` name (ids, or names when no id matches), in file order; all of
    /// them when `keys` is empty. An unknown key is an error naming `origin` (the file).
    pub fn select(&self, keys: &[String], origin: &str) -> Result<Vec<&Motif>> {
        if keys.is_empty() {
            return Ok(self.motifs.iter().collect());
        }
        let mut keep = vec![false; self.motifs.len()];
        for key in keys {
            let Some(i) = self.position(key) else {
                let known: Vec<&str> = self.motifs.iter().take(5).map(|m| m.id.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "{origin}: unknown motif ID '{key}' ({} motifs, e.g. {}{})",
                    self.motifs.len(),
                    known.join(", "),
                    if self.motifs.len() > 5 { ", ..." } else { "" }
                )));
            };
            keep[i] = true;
        }
        Ok(self
            .motifs
            .iter()
            .zip(keep)
            .filter_map(|(m, k)| k.then_some(m))
            .collect())
    }
}

/// The embedded JASPAR 2024 CORE vertebrates non-redundant library (879 motifs,
/// `data/motifs/JASPAR2024_CORE_vertebrates_nr.meme`, CC BY 4.0), for defaults and demos.
pub const JASPAR2024_MEME: &str =
    include_str!("../../data/motifs/JASPAR2024_CORE_vertebrates_nr.meme");

/// Parses [`JASPAR2024_MEME`].
///
/// ```
/// let lib = cisformer::motif::jaspar2024();
/// assert_eq!(lib.motifs.len(), 879);
/// assert_eq!(lib.motifs[lib.position("GATA1").unwrap()].id, "MA0035.5");
/// ```
pub fn jaspar2024() -> MotifFile {
    parse_str(
        JASPAR2024_MEME,
        "JASPAR2024_CORE_vertebrates_nr.meme",
        Some(Format::Meme),
    )
    .unwrap_or_else(|_| MotifFile {
        motifs: Vec::new(),
        background: None,
        format: Format::Meme,
    })
}

/// Reads a motif file (plain or gzip; `-` is standard input), detecting its
/// format from the content unless `format` forces one.
pub fn load(path: &Path, format: Option<Format>) -> Result<MotifFile> {
    let mut bytes = Vec::new();
    crate::io::open_input(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::parse(path, 0, format!("not UTF-8 text: {e}")))?;
    parse_str(&text, &path.display().to_string(), format)
}

/// Parses motif-file text; `origin` names the source in error messages (and
/// is the motif id of a bare count matrix, minus its extension).
pub fn parse_str(text: &str, origin: &str, format: Option<Format>) -> Result<MotifFile> {
    let format = match format {
        Some(f) => f,
        None => formats::detect(text).ok_or_else(|| {
            let mut meaningful = text.lines().map(str::trim).filter(|l| !l.is_empty());
            if meaningful.next().is_some_and(|l| l.starts_with('>'))
                && meaningful.next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                Error::parse(origin, 2, "this looks like FASTA sequences, not motifs (expected MEME, JASPAR, TRANSFAC or HOMER)")
            } else if text.trim().is_empty() {
                Error::parse(origin, 1, "empty motif file (expected MEME, JASPAR, TRANSFAC or HOMER motifs)")
            } else {
                Error::parse(
                    origin,
                    1,
                    "unrecognised motif format (expected MEME, JASPAR, TRANSFAC or HOMER; use --format to force one)",
                )
            }
        })?,
    };
    let file = match format {
        Format::Meme => meme::parse(text, origin)?,
        Format::Jaspar => formats::parse_jaspar(text, origin)?,
        Format::Transfac => formats::parse_transfac(text, origin)?,
        Format::Homer => formats::parse_homer(text, origin)?,
    };
    if file.motifs.is_empty() {
        return Err(Error::parse(
            origin,
            text.lines().count().max(1) as u64,
            format!("no motifs found (read as {format})"),
        ));
    }
    Ok(file)
}

/// Writes motifs in `format`; JASPAR and TRANSFAC get counts `p · nsites` (up to 3
/// decimals), HOMER probability rows with a `>consensus<TAB>id<TAB>0` header.
/// Every output reads back with [`parse_str`] to the same probabilities (up to rounding).
pub fn to_string(motifs: &[Motif], bg: &Background, format: Format) -> String {
    use std::fmt::Write;
    let num = |x: f64| {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() {
            "0".to_string()
        } else {
            s.to_string()
        }
    };
    let mut s = String::new();
    match format {
        Format::Meme => return meme::to_string(motifs, bg),
        Format::Jaspar => {
            for m in motifs {
                let _ = writeln!(s, ">{}\t{}", m.id, m.name);
                for (b, base) in ALPHABET.iter().enumerate() {
                    let row: Vec<String> = m.probs.iter().map(|r| num(r[b] * m.nsites)).collect();
                    let _ = writeln!(s, "{}  [ {} ]", *base as char, row.join(" "));
                }
                s.push('\n');
            }
        }
        Format::Transfac => {
            for m in motifs {
                let _ = writeln!(
                    s,
                    "AC  {}\nXX\nID  {}\nXX\nP0      A      C      G      T",
                    m.id, m.name
                );
                for (i, r) in m.probs.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "{:02}  {}  {}  {}  {}",
                        i + 1,
                        num(r[0] * m.nsites),
                        num(r[1] * m.nsites),
                        num(r[2] * m.nsites),
                        num(r[3] * m.nsites)
                    );
                }
                s.push_str("XX\n//\n");
            }
        }
        Format::Homer => {
            for m in motifs {
                let _ = writeln!(s, ">{}\t{}\t0", m.consensus(), m.id);
                for r in &m.probs {
                    let _ = writeln!(s, "{:.6}\t{:.6}\t{:.6}\t{:.6}", r[0], r[1], r[2], r[3]);
                }
            }
        }
    }
    s
}

/// Background letter frequencies (A, C, G, T) for log-odds scores and p-values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Background {
    freqs: [f64; 4],
}

impl Background {
    /// Equal frequencies, FIMO's `--bfile --uniform--`.
    pub fn uniform() -> Self {
        Self { freqs: [0.25; 4] }
    }

    /// Frequencies as MEME uses them: a 5e-7 pseudocount is added and the four are
    /// renormalised, so no letter has probability zero (`normalize_frequencies`).
    pub fn from_freqs(freqs: [f64; 4]) -> Self {
        const PSEUDO: f64 = 0.0000005;
        let sum: f64 = PSEUDO * 4.0 + freqs.iter().sum::<f64>();
        let mut f = freqs.map(|x| (x + PSEUDO) / sum);
        let total: f64 = f.iter().sum();
        if total != 0.0 && total != 1.0 {
            f = f.map(|x| x / total);
        }
        Self { freqs: f }
    }

    /// FIMO scanning both strands averages each base with its complement
    /// (A with T, C with G) before use; this returns that background.
    pub fn symmetrized(self) -> Self {
        let [a, c, g, t] = self.freqs;
        let at = (a + t) / 2.0;
        let cg = (c + g) / 2.0;
        Self {
            freqs: [at, cg, cg, at],
        }
    }

    /// The background FIMO scores with: complementary bases averaged when both
    /// strands are scanned (MEME's `average_freq_with_complement`), then [`Self::from_freqs`].
    pub fn for_fimo(freqs: [f64; 4], both_strands: bool) -> Self {
        let f = if both_strands {
            Self { freqs }.symmetrized().freqs
        } else {
            freqs
        };
        Self::from_freqs(f)
    }

    /// The frequencies of A, C, G, T.
    pub fn freqs(&self) -> [f64; 4] {
        self.freqs
    }

    /// Reads a MEME background file (`A 0.3` lines; `#` comments; higher-order
    /// entries such as `AA 0.09` are ignored), plain or gzip. The frequencies are
    /// only normalised; see [`Self::for_fimo`] for FIMO's adjustments.
    pub fn load(path: &Path) -> Result<Self> {
        let mut text = String::new();
        crate::io::open_input(path)?
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses MEME background-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut freqs = [f64::NAN; 4];
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut it = line.split_whitespace();
            let (Some(sym), Some(val), None) = (it.next(), it.next(), it.next()) else {
                return Err(Error::parse(
                    origin,
                    i as u64 + 1,
                    format!("expected '<letter> <frequency>', found '{line}'"),
                ));
            };
            let v: f64 = val
                .parse()
                .ok()
                .filter(|v: &f64| *v >= 0.0 && v.is_finite())
                .ok_or_else(|| {
                    Error::parse(origin, i as u64 + 1, format!("'{val}' is not a frequency"))
                })?;
            if sym.len() != 1 {
                continue; // higher-order Markov entry
            }
            let idx = match crate::seq::base_code_u_as_t(sym.as_bytes()[0]) {
                c if c != crate::seq::INVALID_BASE => c as usize,
                _ => {
                    return Err(Error::parse(
                        origin,
                        i as u64 + 1,
                        format!("unknown letter '{sym}' (expected A, C, G or T)"),
                    ));
                }
            };
            freqs[idx] = v;
        }
        if let Some(k) = freqs.iter().position(|f| f.is_nan()) {
            return Err(Error::parse(
                origin,
                text.lines().count().max(1) as u64,
                format!("no frequency for {}", ALPHABET[k] as char),
            ));
        }
        let sum: f64 = freqs.iter().sum();
        if sum <= 0.0 {
            return Err(Error::parse(origin, 1, "background frequencies sum to 0"));
        }
        Ok(Self {
            freqs: freqs.map(|f| f / sum),
        })
    }
}

impl Default for Background {
    fn default() -> Self {
        Self::uniform()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_complement_swaps_and_reverses() {
        let m = Motif {
            id: "x".into(),
            name: String::new(),
            probs: vec![[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]],
            nsites: 10.0,
            url: None,
        };
        let rc = m.reverse_complement();
        assert_eq!(rc.probs, vec![[0.1, 0.2, 0.6, 0.1], [0.1, 0.1, 0.1, 0.7]]);
        assert_eq!(m.consensus(), "AC");
        assert_eq!(rc.consensus(), "GT");
    }

    #[test]
    fn background_helpers() {
        assert_eq!(Background::from_freqs([0.25; 4]).freqs(), [0.25; 4]);
        let b = Background::from_freqs([0.3, 0.2, 0.2, 0.3]);
        assert!((b.freqs()[0] - 0.3).abs() < 1e-6);
        let s = Background::from_freqs([0.4, 0.1, 0.3, 0.2]).symmetrized();
        assert!((s.freqs()[0] - 0.3).abs() < 1e-6 && (s.freqs()[1] - 0.2).abs() < 1e-6);
        let p =
            Background::parse("# order 0\nA 0.3\nC 0.2\nG 0.2\nT 0.3\nAA 0.09\n", "bg").unwrap();
        assert!((p.freqs()[3] - 0.3).abs() < 1e-6);
        let e = Background::parse("A 0.3\nC 0.2\nG 0.5\n", "bg.txt").unwrap_err();
        assert!(e.to_string().contains("no frequency for T"), "{e}");
        assert!(Background::parse("X 0.3\n", "bg").is_err());
    }

    #[test]
    fn every_format_writes_what_it_reads() {
        let f = parse_str(
            ">MA0004.1\tArnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n",
            "a",
            None,
        )
        .unwrap();
        for fmt in Format::ALL {
            let text = to_string(&f.motifs, &Background::uniform(), fmt);
            let g = parse_str(&text, "b", None).unwrap();
            assert_eq!(g.format, fmt, "{text}");
            assert_eq!(g.motifs.len(), 1);
            assert_eq!(g.motifs[0].id, "MA0004.1");
            for (x, y) in g.motifs[0].probs.iter().zip(&f.motifs[0].probs) {
                for k in 0..4 {
                    assert!((x[k] - y[k]).abs() < 1e-5, "{fmt}: {x:?} {y:?}");
                }
            }
        }
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert!("fasta".parse::<Format>().is_err());
    }
}
