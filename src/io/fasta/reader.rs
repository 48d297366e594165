//! A streaming FASTA reader that reuses its buffers across records.
use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use super::Record;
use crate::{Error, Result};

/// Reads FASTA records one at a time.
///
/// ```
/// use cisformer::io::fasta::{Reader, Record};
/// let data = b">s1 first\nACGT\nac\n>s2\r\nGG\r\n";
/// let mut reader = Reader::new(&data[..], "example.fa");
/// let mut rec = Record::default();
/// assert!(reader.read_record(&mut rec).unwrap());
/// assert_eq!((rec.name.as_str(), rec.description.as_str(), &rec.seq[..]), ("s1", "first", &b"ACGTac"[..]));
/// assert!(reader.read_record(&mut rec).unwrap());
/// assert_eq!(&rec.seq[..], b"GG");
/// assert!(!reader.read_record(&mut rec).unwrap());
/// ```
pub struct Reader<R> {
    inner: R,
    path: PathBuf,
    line: Vec<u8>,
    line_no: u64,
    /// The header line of the next record, already read while finishing the previous one.
    pending_header: bool,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// Wraps a buffered reader; `path` is only used in error messages.
    pub fn new(inner: R, path: impl AsRef<Path>) -> Self {
        Self {
            inner,
            path: path.as_ref().to_path_buf(),
            line: Vec::with_capacity(256),
            line_no: 0,
            pending_header: false,
            done: false,
        }
    }

    /// The 1-based number of the last line read.
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    fn next_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .inner
            .read_until(b'\n', &mut self.line)
            .map_err(|e| Error::io(&self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(true)
    }

    /// Reads the next record into `rec`, returning `false` at the end of input.
    ///
    /// Errors: text before the first header, a header with no name, or a record
    /// with no sequence (often a truncated file).
    pub fn read_record(&mut self, rec: &mut Record) -> Result<bool> {
        rec.clear();
        if self.done {
            return Ok(false);
        }
        if !self.pending_header {
            loop {
                if !self.next_line()? {
                    self.done = true;
                    return Ok(false);
                }
                if self.line.is_empty() {
                    continue;
                }
                if self.line[0] != b'>' {
                    return Err(Error::parse(
                        &self.path,
                        self.line_no,
                        "expected a FASTA header starting with '>'",
                    ));
                }
                break;
            }
        }
        self.pending_header = false;
        let header_line = self.line_no;
        self.parse_header(rec)?;
        loop {
            if !self.next_line()? {
                self.done = true;
                break;
            }
            if self.line.first() == Some(&b'>') {
                self.pending_header = true;
                break;
            }
            rec.seq.extend(
                self.line
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace()),
            );
        }
        if rec.seq.is_empty() {
            return Err(Error::parse(
                &self.path,
                header_line,
                format!("record '{}' has no sequence (truncated file?)", rec.name),
            ));
        }
        Ok(true)
    }

    fn parse_header(&mut self, rec: &mut Record) -> Result<()> {
        let text = std::str::from_utf8(&self.line[1..]).map_err(|_| {
            Error::parse(&self.path, self.line_no, "FASTA header is not valid UTF-8")
        })?;
        let text = text.trim_start();
        let (name, desc) = match text.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => (&text[..i], text[i..].trim()),
            None => (text, ""),
        };
        if name.is_empty() {
            return Err(Error::parse(
                &self.path,
                self.line_no,
                "FASTA header has no sequence name",
            ));
        }
        rec.name.push_str(name);
        rec.description.push_str(desc);
        Ok(())
    }
}

/// Reads every record of a FASTA file (plain or gzip); an empty file is an error.
pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Record>> {
    let path = path.as_ref();
    let mut reader = Reader::new(crate::io::open_input(path)?, path);
    let mut out = Vec::new();
    let mut rec = Record::default();
    while reader.read_record(&mut rec)? {
        out.push(std::mem::take(&mut rec));
    }
    if out.is_empty() {
        return Err(Error::parse(path, 1, "no FASTA records (empty file?)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8]) -> Result<Vec<Record>> {
        let mut r = Reader::new(data, "t.fa");
        let mut v = vec![];
        let mut rec = Record::default();
        while r.read_record(&mut rec)? {
            v.push(rec.clone());
        }
        Ok(v)
    }

    #[test]
    fn multi_line_and_crlf() {
        let v = read(b">a x y\r\nAC\r\ngt\r\n\r\n>b\nNNN").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].seq, b"ACgt");
        assert_eq!(v[0].description, "x y");
        assert_eq!(v[1].seq, b"NNN");
    }

    #[test]
    fn errors_name_the_line() {
        let e = read(b"ACGT\n").unwrap_err().to_string();
        assert_eq!(e, "t.fa:1: expected a FASTA header starting with '>'");
        let e = read(b">a\nAC\n>b\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:3: record 'b' has no sequence"), "{e}");
        let e = read(b">\nAC\n").unwrap_err().to_string();
        assert!(e.contains("no sequence name"), "{e}");
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(read(b"").unwrap().is_empty());
    }
}
