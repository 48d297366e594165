//! BED intervals (BED3 to BED12, plus any extra columns).
//!
//! Columns are tab-separated. `track` and `browser` lines, `#` comments and blank
//! lines are skipped; CRLF line endings are accepted. Coordinates are 0-based,
//! half-open, and must be non-negative integers with `start <= end`.
use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// The strand column (6th) of a BED line.
///
/// ```
/// assert_eq!(cisformer::io::bed::Strand::Reverse.as_str(), "-");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strand {
    /// `+`
    Forward,
    /// `-`
    Reverse,
    /// `.`: strand unknown or irrelevant.
    Unknown,
}

impl Strand {
    /// The BED text of this strand.
    pub fn as_str(self) -> &'static str {
        match self {
            Strand::Forward => "+",
            Strand::Reverse => "-",
            Strand::Unknown => ".",
        }
    }
}

/// One BED line, owned. Absent optional columns are empty strings / `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// Contig (chromosome) name, column 1.
    pub contig: String,
    /// 0-based start, column 2.
    pub start: u64,
    /// Exclusive end, column 3.
    pub end: u64,
    /// Column 4, empty when absent.
    pub name: String,
    /// Column 5 as written (`.` or a number), empty when absent.
    pub score: String,
    /// Column 6, `None` when absent.
    pub strand: Option<Strand>,
    /// Columns 7 and later (thickStart ... blockStarts and extras), tab-joined as written.
    pub rest: String,
    /// How many columns the line had.
    pub columns: usize,
}

impl Interval {
    /// Length in bases.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the interval covers no base.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// The columns of one BED line, borrowed from the line (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    /// Column 1.
    pub contig: &'a [u8],
    /// Column 2.
    pub start: u64,
    /// Column 3.
    pub end: u64,
    /// Column 4, empty when absent.
    pub name: &'a [u8],
    /// Column 5, empty when absent.
    pub score: &'a [u8],
    /// Column 6, `None` when absent.
    pub strand: Option<Strand>,
    /// Columns 7 and later, empty when absent.
    pub rest: &'a [u8],
    /// Number of columns.
    pub columns: usize,
}

/// Parses one line (without its `\n`; a trailing `\r` is ignored).
///
/// Returns `Ok(None)` for lines BED readers skip (blank, `#`, `track`, `browser`),
/// and `Err(message)` for malformed lines; the caller adds file and line.
///
/// ```
/// use cisformer::io::bed::{parse_fields, Strand};
/// let f = parse_fields(b"chr1\t10\t20\tp1\t0\t-\r").unwrap().unwrap();
/// assert_eq!((f.contig, f.start, f.end, f.name, f.strand), (&b"chr1"[..], 10, 20, &b"p1"[..], Some(Strand::Reverse)));
/// assert!(parse_fields(b"track name=x").unwrap().is_none());
/// assert_eq!(parse_fields(b"chr1\t20\t10").unwrap_err(), "start 20 is greater than end 10");
/// ```
pub fn parse_fields(line: &[u8]) -> std::result::Result<Option<Fields<'_>>, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if is_skipped(line) {
        return Ok(None);
    }
    let mut it = line.splitn(7, |&b| b == b'\t');
    let contig = it.next().unwrap_or_default();
    let (Some(start), Some(end)) = (it.next(), it.next()) else {
        let hint = if contig.contains(&b' ') {
            " (columns must be separated by tabs)"
        } else {
            ""
        };
        return Err(format!(
            "expected at least 3 tab-separated columns (contig, start, end){hint}"
        ));
    };
    if contig.is_empty() {
        return Err("empty contig name in column 1".into());
    }
    let start = parse_coord(start, "start")?;
    let end = parse_coord(end, "end")?;
    if start > end {
        return Err(format!("start {start} is greater than end {end}"));
    }
    let name = it.next();
    let score = it.next();
    let strand = it.next();
    let rest = it.next();
    let columns = 3
        + name.is_some() as usize
        + score.is_some() as usize
        + strand.is_some() as usize
        + rest.map_or(0, |r| 1 + r.iter().filter(|&&b| b == b'\t').count());
    let strand = match strand {
        None => None,
        Some(b"+") => Some(Strand::Forward),
        Some(b"-") => Some(Strand::Reverse),
        Some(b".") => Some(Strand::Unknown),
        Some(other) => {
            return Err(format!(
                "strand (column 6) must be '+', '-' or '.', found '{}'",
                String::from_utf8_lossy(other)
            ));
        }
    };
    Ok(Some(Fields {
        contig,
        start,
        end,
        name: name.unwrap_or_default(),
        score: score.unwrap_or_default(),
        strand,
        rest: rest.unwrap_or_default(),
        columns,
    }))
}

fn is_skipped(line: &[u8]) -> bool {
    let keyword = |k: &[u8]| {
        line.strip_prefix(k)
            .is_some_and(|r| r.first().is_none_or(|b| b.is_ascii_whitespace()))
    };
    line.iter().all(|b| b.is_ascii_whitespace())
        || line[0] == b'#'
        || keyword(b"track")
        || keyword(b"browser")
}

fn parse_coord(field: &[u8], what: &str) -> std::result::Result<u64, String> {
    let text = || String::from_utf8_lossy(field);
    if field.first() == Some(&b'-') && field.len() > 1 && field[1..].iter().all(u8::is_ascii_digit)
    {
        return Err(format!("negative {what} coordinate {}", text()));
    }
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "{what} is not a non-negative integer: '{}'",
            text()
        ));
    }
    field.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(|| format!("{what} coordinate {} is too large", text()))
    })
}

/// Reads BED intervals one at a time, reusing its line buffer.
///
/// ```
/// use cisformer::io::bed::{Interval, Reader};
/// let data = b"track name=t\n# comment\nchr1\t5\t9\tx\r\n\nchr2\t0\t3\n";
/// let mut r = Reader::new(&data[..], "a.bed");
/// let mut iv = Interval::default();
/// assert!(r.read_interval(&mut iv).unwrap());
/// assert_eq!((iv.contig.as_str(), iv.start, iv.end, iv.name.as_str()), ("chr1", 5, 9, "x"));
/// assert!(r.read_interval(&mut iv).unwrap());
/// assert_eq!((iv.contig.as_str(), iv.columns, r.line_number()), ("chr2", 3, 5));
/// assert!(!r.read_interval(&mut iv).unwrap());
///
/// let mut r = Reader::new(&b"chr1\tten\t20\n"[..], "b.bed");
/// let e = r.read_interval(&mut iv).unwrap_err();
/// assert_eq!(e.to_string(), "b.bed:1: start is not a non-negative integer: 'ten'");
/// ```
pub struct Reader<R> {
    inner: R,
    path: PathBuf,
    line: Vec<u8>,
    line_no: u64,
}

impl<R: BufRead> Reader<R> {
    /// Wraps a buffered reader; `path` is only used in error messages.
    pub fn new(inner: R, path: impl AsRef<Path>) -> Self {
        Self {
            inner,
            path: path.as_ref().to_path_buf(),
            line: Vec::with_capacity(256),
            line_no: 0,
        }
    }

    /// The 1-based number of the last line read.
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// Reads the next interval into `iv`, returning `false` at the end of input.
    pub fn read_interval(&mut self, iv: &mut Interval) -> Result<bool> {
        loop {
            self.line.clear();
            let n = self
                .inner
                .read_until(b'\n', &mut self.line)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let f = match parse_fields(line) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(msg) => return Err(Error::parse(&self.path, self.line_no, msg)),
            };
            let text = |b: &[u8], what: &str| {
                std::str::from_utf8(b).map(str::to_owned).map_err(|_| {
                    Error::parse(
                        &self.path,
                        self.line_no,
                        format!("{what} is not valid UTF-8"),
                    )
                })
            };
            iv.contig = text(f.contig, "contig name")?;
            iv.name = text(f.name, "name")?;
            iv.score = text(f.score, "score")?;
            iv.rest = text(f.rest, "extra columns")?;
            iv.start = f.start;
            iv.end = f.end;
            iv.strand = f.strand;
            iv.columns = f.columns;
            return Ok(true);
        }
    }
}

/// Reads every interval of a BED file (plain or gzip; `-` is standard input).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let bed = dir.path().join("r.bed");
/// std::fs::write(&bed, "chr1\t0\t10\tp\t0\t+\n").unwrap();
/// let ivs = cisformer::io::bed::read_all(&bed).unwrap();
/// assert_eq!((ivs[0].len(), ivs[0].strand), (10, Some(cisformer::io::bed::Strand::Forward)));
/// ```
pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Interval>> {
    let path = path.as_ref();
    let mut r = Reader::new(crate::io::open_input(path)?, path);
    let mut out = Vec::new();
    let mut iv = Interval::default();
    while r.read_interval(&mut iv)? {
        out.push(iv.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bed12_and_extra_columns() {
        let f = parse_fields(b"c\t1\t9\tn\t5\t+\t2\t8\t0,0,0\t2\t2,3,\t0,5,\textra")
            .unwrap()
            .unwrap();
        assert_eq!(f.columns, 13);
        assert_eq!(f.rest, b"2\t8\t0,0,0\t2\t2,3,\t0,5,\textra");
        assert_eq!(f.score, b"5");
    }

    #[test]
    fn precise_errors() {
        let err = |l: &[u8]| parse_fields(l).unwrap_err();
        assert_eq!(err(b"c\t-5\t10"), "negative start coordinate -5");
        assert_eq!(
            err(b"c\t5\t1e3"),
            "end is not a non-negative integer: '1e3'"
        );
        assert_eq!(
            err(b"c\t5"),
            "expected at least 3 tab-separated columns (contig, start, end)"
        );
        assert!(err(b"c 1 5").contains("separated by tabs"));
        assert!(err(b"c\t1\t5\tn\t0\tx").contains("strand"));
        assert!(err(b"c\t1\t99999999999999999999999").contains("too large"));
        assert_eq!(err(b"\t1\t2"), "empty contig name in column 1");
    }

    #[test]
    fn skipped_lines() {
        for l in [
            &b""[..],
            b"\r",
            b"  ",
            b"#x",
            b"track",
            b"browser position c:1-2",
        ] {
            assert!(parse_fields(l).unwrap().is_none(), "{l:?}");
        }
        assert!(parse_fields(b"tracks\t1\t2").unwrap().is_some());
    }
}
