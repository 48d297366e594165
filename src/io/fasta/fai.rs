//! The FASTA index (`.fai`), byte-compatible with `samtools faidx`.
//!
//! A `.fai` line is `NAME\tLENGTH\tOFFSET\tLINEBASES\tLINEWIDTH`: the number of
//! bases, the byte offset of the first base, and the bases and bytes (with the
//! line ending) per full line. For bgzip input the offsets are positions in the
//! *uncompressed* stream, exactly as samtools writes them.
use std::{
    collections::HashMap,
    io::{BufRead, Write},
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// One sequence in a `.fai` index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaiRecord {
    /// Sequence name: the header up to the first whitespace.
    pub name: String,
    /// Number of bases.
    pub length: u64,
    /// Byte offset of the first base (in the uncompressed stream).
    pub offset: u64,
    /// Bases on each full line.
    pub line_bases: u64,
    /// Bytes on each full line, line ending included (`line_bases + 1`, or `+ 2` for CRLF).
    pub line_width: u64,
}

impl FaiRecord {
    /// Byte offset of the base at 0-based position `pos` (which must be `< length`).
    ///
    /// ```
    /// use cisformer::io::fasta::fai::FaiRecord;
    /// let r = FaiRecord { name: "c".into(), length: 10, offset: 3, line_bases: 4, line_width: 5 };
    /// assert_eq!(r.byte_offset(0), 3);
    /// assert_eq!(r.byte_offset(5), 3 + 5 + 1);
    /// ```
    #[inline]
    pub fn byte_offset(&self, pos: u64) -> u64 {
        self.offset + pos / self.line_bases * self.line_width + pos % self.line_bases
    }

    /// Byte offset just past the last base of the sequence; `u64::MAX` when that does not
    /// fit in 64 bits (a corrupt or foreign index: no file is that long, so a caller that
    /// checks the end against its file refuses the record instead of wrapping around).
    ///
    /// ```
    /// use cisformer::io::fasta::fai::FaiRecord;
    /// let huge = FaiRecord { name: "c".into(), length: 118, offset: 1, line_bases: 8, line_width: u64::MAX / 4 };
    /// assert_eq!(huge.end_offset(), u64::MAX);
    /// ```
    pub fn end_offset(&self) -> u64 {
        if self.length == 0 {
            return self.offset;
        }
        let pos = self.length - 1;
        pos.checked_div(self.line_bases)
            .and_then(|lines| lines.checked_mul(self.line_width))
            .and_then(|bytes| self.offset.checked_add(bytes))
            .and_then(|o| o.checked_add(pos % self.line_bases + 1))
            .unwrap_or(u64::MAX)
    }
}

/// Writes records in `.fai` format (tab-separated, one line per sequence).
///
/// ```
/// use cisformer::io::fasta::fai::{FaiRecord, write_fai};
/// let r = FaiRecord { name: "chr1".into(), length: 10, offset: 6, line_bases: 4, line_width: 5 };
/// let mut out = Vec::new();
/// write_fai(&mut out, &[r]).unwrap();
/// assert_eq!(out, b"chr1\t10\t6\t4\t5\n");
/// ```
pub fn write_fai<W: Write>(mut w: W, records: &[FaiRecord]) -> std::io::Result<()> {
    for r in records {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}",
            r.name, r.length, r.offset, r.line_bases, r.line_width
        )?;
    }
    Ok(())
}

/// Reads a `.fai` file; every line must have five tab-separated fields.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let fai = dir.path().join("g.fa.fai");
/// std::fs::write(&fai, "chr1\t6\t6\t4\t5\n").unwrap();
/// let recs = cisformer::io::fasta::fai::read_fai(&fai).unwrap();
/// assert_eq!(recs[0].line_width, 5);
/// ```
pub fn read_fai(path: impl AsRef<Path>) -> Result<Vec<FaiRecord>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_fai(&text, path)
}

/// Parses the text of a `.fai` file; `path` is only used in error messages.
///
/// ```
/// let recs = cisformer::io::fasta::fai::parse_fai("a\t8\t3\t4\t5\n", "x.fai").unwrap();
/// assert_eq!((recs[0].name.as_str(), recs[0].length), ("a", 8));
/// ```
pub fn parse_fai(text: &str, path: impl AsRef<Path>) -> Result<Vec<FaiRecord>> {
    let path = path.as_ref();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            return Err(Error::parse(
                path,
                line_no,
                format!("expected 5 tab-separated .fai fields, found {}", f.len()),
            ));
        }
        let num = |k: usize, what: &str| -> Result<u64> {
            f[k].parse::<u64>().map_err(|_| {
                Error::parse(
                    path,
                    line_no,
                    format!("{what} is not an integer: '{}'", f[k]),
                )
            })
        };
        let rec = FaiRecord {
            name: f[0].to_string(),
            length: num(1, "length")?,
            offset: num(2, "offset")?,
            line_bases: num(3, "line bases")?,
            line_width: num(4, "line width")?,
        };
        if rec.length > 0 && (rec.line_bases == 0 || rec.line_width < rec.line_bases) {
            return Err(Error::parse(
                path,
                line_no,
                format!("record '{}' has an impossible line geometry", rec.name),
            ));
        }
        if rec.end_offset() == u64::MAX {
            return Err(Error::parse(
                path,
                line_no,
                format!(
                    "record '{}' would end beyond any file (offset, length and line width overflow)",
                    rec.name
                ),
            ));
        }
        out.push(rec);
    }
    Ok(out)
}

/// Where the builder is inside the current record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first header.
    Start,
    /// After a header, before its first sequence line.
    Name,
    /// Inside the sequence; every line so far had the width of the first.
    Seq,
    /// The sequence ended with a shorter line or a blank line; only a header may follow.
    Ended,
}

/// Builds a `.fai` by streaming a FASTA file once, with samtools' rules.
///
/// Feed it the (uncompressed) bytes in chunks of any size with [`FaiBuilder::push`],
/// then call [`FaiBuilder::finish`]. Like `samtools faidx`, every line of a record
/// but the last must have the same length; unlike samtools, a record without
/// sequence and a repeated name are errors instead of being dropped.
///
/// ```
/// use cisformer::io::fasta::fai::FaiBuilder;
/// let mut b = FaiBuilder::new("g.fa");
/// b.push(b">chr1 desc\nACGT\nAC").unwrap();
/// b.push(b"\n>chr2\nNNNN\n").unwrap();
/// let recs = b.finish().unwrap();
/// assert_eq!((recs[0].length, recs[0].offset, recs[0].line_bases, recs[0].line_width), (6, 11, 4, 5));
/// assert_eq!((recs[1].name.as_str(), recs[1].offset), ("chr2", 25));
///
/// let mut b = FaiBuilder::new("bad.fa");
/// b.push(b">c\nACG\nACGT\n").unwrap_err();
/// ```
pub struct FaiBuilder {
    path: PathBuf,
    records: Vec<FaiRecord>,
    names: HashMap<String, u64>,
    state: State,
    /// Byte offset of the next byte to be pushed.
    pos: u64,
    /// 1-based number of the line being read.
    line_no: u64,
    header_line: u64,
    // The line in progress.
    in_line: bool,
    is_header: bool,
    line_bytes: u64,
    line_graph: u64,
    /// A space or control byte was seen in this sequence line ...
    line_gap: bool,
    /// ... and a base came after it: the `.fai` arithmetic would return wrong bases.
    line_inner_gap: bool,
    header: Vec<u8>,
    // The record in progress.
    cur: FaiRecord,
}

impl FaiBuilder {
    /// A builder for the file at `path` (used in error messages only).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            records: Vec::new(),
            names: HashMap::new(),
            state: State::Start,
            pos: 0,
            line_no: 1,
            header_line: 0,
            in_line: false,
            is_header: false,
            line_bytes: 0,
            line_graph: 0,
            line_gap: false,
            line_inner_gap: false,
            header: Vec::new(),
            cur: empty_record(),
        }
    }

    /// Consumes the next chunk of the file.
    pub fn push(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.feed(&data[..i]);
                    self.pos += i as u64 + 1;
                    self.end_line()?;
                    data = &data[i + 1..];
                }
                None => {
                    self.feed(data);
                    self.pos += data.len() as u64;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Ends the input and returns the records in file order.
    pub fn finish(mut self) -> Result<Vec<FaiRecord>> {
        if self.in_line {
            self.end_line()?;
        }
        match self.state {
            State::Start => {
                return Err(Error::parse(
                    &self.path,
                    1,
                    "no FASTA records (empty file?)",
                ));
            }
            State::Name => return Err(self.no_sequence()),
            State::Seq | State::Ended => self.close_record(),
        }
        Ok(self.records)
    }

    fn feed(&mut self, part: &[u8]) {
        if part.is_empty() {
            return;
        }
        if !self.in_line {
            self.in_line = true;
            self.is_header = part[0] == b'>';
            self.header.clear();
        }
        self.line_bytes += part.len() as u64;
        if self.is_header {
            self.header.extend_from_slice(part);
        } else {
            let graph = part.iter().filter(|&&b| b.is_ascii_graphic()).count();
            if graph != part.len() || self.line_gap {
                for &b in part {
                    if !b.is_ascii_graphic() {
                        self.line_gap = true;
                    } else if self.line_gap {
                        self.line_inner_gap = true;
                    }
                }
            }
            self.line_graph += graph as u64;
        }
    }

    fn end_line(&mut self) -> Result<()> {
        // samtools counts one byte for the newline, even on a last line without one.
        let width = self.line_bytes + 1;
        let bases = self.line_graph;
        let (in_line, is_header) = (self.in_line, self.is_header);
        self.in_line = false;
        self.line_bytes = 0;
        self.line_graph = 0;
        let inner_gap = std::mem::take(&mut self.line_inner_gap);
        self.line_gap = false;
        let line_no = self.line_no;
        self.line_no += 1;
        if in_line && is_header {
            return self.start_record(line_no);
        }
        // Lines without bases (empty, `\r`, only spaces) end a sequence like blank lines.
        let blank = !in_line || bases == 0;
        if !blank && inner_gap && self.state != State::Start {
            return Err(Error::parse(
                &self.path,
                line_no,
                format!(
                    "record '{}': space or control character inside a sequence line (only trailing whitespace is allowed)",
                    self.cur.name
                ),
            ));
        }
        match (self.state, blank) {
            (State::Start, true) | (State::Ended, true) => {}
            (State::Name, true) => {}
            (State::Seq, true) => self.state = State::Ended,
            (State::Start, false) => {
                return Err(Error::parse(
                    &self.path,
                    line_no,
                    "expected a FASTA header starting with '>'",
                ));
            }
            (State::Name, false) => {
                self.cur.length = bases;
                self.cur.line_bases = bases;
                self.cur.line_width = width;
                self.state = State::Seq;
            }
            (State::Seq, false) => {
                self.cur.length += bases;
                if width < self.cur.line_width {
                    self.state = State::Ended;
                } else if width > self.cur.line_width {
                    return Err(Error::parse(
                        &self.path,
                        line_no,
                        format!(
                            "inconsistent line lengths in record '{}': this line has {} bytes, the first has {} (all lines but the last must be equally long)",
                            self.cur.name, width, self.cur.line_width
                        ),
                    ));
                }
            }
            (State::Ended, false) => {
                return Err(Error::parse(
                    &self.path,
                    line_no,
                    format!(
                        "inconsistent line lengths in record '{}': sequence continues after a shorter or blank line (all lines but the last must be equally long)",
                        self.cur.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn start_record(&mut self, line_no: u64) -> Result<()> {
        match self.state {
            State::Name => return Err(self.no_sequence()),
            State::Seq | State::Ended => self.close_record(),
            State::Start => {}
        }
        let text = &self.header[1..];
        let name: Vec<u8> = text
            .iter()
            .copied()
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| !b.is_ascii_whitespace())
            .collect();
        if name.is_empty() {
            return Err(Error::parse(
                &self.path,
                line_no,
                "FASTA header has no sequence name",
            ));
        }
        let name = String::from_utf8(name)
            .map_err(|_| Error::parse(&self.path, line_no, "sequence name is not valid UTF-8"))?;
        if let Some(first) = self.names.get(&name) {
            return Err(Error::parse(
                &self.path,
                line_no,
                format!("duplicate sequence name '{name}' (first at line {first})"),
            ));
        }
        self.names.insert(name.clone(), line_no);
        self.cur = FaiRecord {
            name,
            offset: self.pos,
            ..empty_record()
        };
        self.header_line = line_no;
        self.state = State::Name;
        Ok(())
    }

    fn close_record(&mut self) {
        self.records
            .push(std::mem::replace(&mut self.cur, empty_record()));
    }

    fn no_sequence(&self) -> Error {
        Error::parse(
            &self.path,
            self.header_line,
            format!(
                "record '{}' has no sequence (truncated file?)",
                self.cur.name
            ),
        )
    }
}

fn empty_record() -> FaiRecord {
    FaiRecord {
        name: String::new(),
        length: 0,
        offset: 0,
        line_bases: 0,
        line_width: 0,
    }
}

/// Builds the index of a FASTA stream (already decompressed); `path` names it in errors.
///
/// ```
/// let recs = cisformer::io::fasta::fai::build_from_reader(&b">a\nAC\n"[..], "a.fa").unwrap();
/// assert_eq!(recs[0].offset, 3);
/// ```
pub fn build_from_reader<R: BufRead>(
    mut reader: R,
    path: impl AsRef<Path>,
) -> Result<Vec<FaiRecord>> {
    let path = path.as_ref();
    let mut b = FaiBuilder::new(path);
    loop {
        let buf = reader.fill_buf().map_err(|e| Error::io(path, e))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        b.push(buf)?;
        reader.consume(n);
    }
    b.finish()
}

/// Builds the index of a FASTA file, plain, gzip or bgzip (offsets are uncompressed positions).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let fa = dir.path().join("g.fa");
/// std::fs::write(&fa, ">chr1\nACGT\nAC\n").unwrap();
/// let recs = cisformer::io::fasta::fai::build(&fa).unwrap();
/// assert_eq!((recs[0].name.as_str(), recs[0].length, recs[0].offset), ("chr1", 6, 6));
/// ```
pub fn build(path: impl AsRef<Path>) -> Result<Vec<FaiRecord>> {
    let path = path.as_ref();
    build_from_reader(crate::io::open_input(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fai(data: &[u8]) -> Result<String> {
        // Feed byte by byte as well as whole, to exercise chunk boundaries.
        let mut whole = FaiBuilder::new("t.fa");
        whole.push(data)?;
        let a = whole.finish()?;
        let mut bytes = FaiBuilder::new("t.fa");
        for b in data {
            bytes.push(std::slice::from_ref(b))?;
        }
        assert_eq!(bytes.finish()?, a);
        let mut out = Vec::new();
        write_fai(&mut out, &a).unwrap();
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn geometry_like_samtools() {
        assert_eq!(
            fai(b">a x\nACGT\nAC\n\n>b\r\nAC\r\nG\r\n>c\nAAA").unwrap(),
            "a\t6\t5\t4\t5\nb\t3\t18\t2\t4\nc\t3\t28\t3\t4\n"
        );
    }

    #[test]
    fn errors_name_record_and_line() {
        let e = fai(b">a\nACG\nACGT\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.fa:3: inconsistent line lengths in record 'a'"),
            "{e}"
        );
        let e = fai(b">a\nACGT\nAC\nACGT\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.fa:4: inconsistent line lengths in record 'a'"),
            "{e}"
        );
        let e = fai(b">a\nACGT\n\nACGT\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:4: inconsistent"), "{e}");
        let e = fai(b">a\n>b\nAC\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:1: record 'a' has no sequence"), "{e}");
        let e = fai(b">a\nAC\n>b").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:3: record 'b' has no sequence"), "{e}");
        let e = fai(b"").unwrap_err().to_string();
        assert!(e.contains("no FASTA records"), "{e}");
        let e = fai(b"ACGT\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:1: expected a FASTA header"), "{e}");
        let e = fai(b">a\nA\n>a\nC\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:3: duplicate sequence name 'a'"), "{e}");
        let e = fai(b">\nA\n").unwrap_err().to_string();
        assert!(e.contains("no sequence name"), "{e}");
    }

    #[test]
    fn whitespace_only_at_line_ends() {
        // Trailing spaces are counted in the width but never returned as bases (as samtools).
        assert_eq!(fai(b">a\nACG \nAC\n").unwrap(), "a\t5\t3\t3\t5\n");
        let e = fai(b">a\nAC G\n").unwrap_err().to_string();
        assert!(
            e.starts_with("t.fa:2: record 'a': space or control character"),
            "{e}"
        );
        let e = fai(b">a\nACG\n   \nACG\n").unwrap_err().to_string();
        assert!(e.starts_with("t.fa:4: inconsistent"), "{e}");
    }

    #[test]
    fn fai_text_round_trips() {
        let text = fai(b">a\nACGT\nAC\n>b\nGG\n").unwrap();
        let recs = parse_fai(&text, "t.fai").unwrap();
        let mut out = Vec::new();
        write_fai(&mut out, &recs).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), text);
        assert!(
            parse_fai("a\t1\tx\t1\t2\n", "t.fai")
                .unwrap_err()
                .to_string()
                .starts_with("t.fai:1: offset")
        );
    }
}
