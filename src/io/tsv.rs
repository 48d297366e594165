//! Header-addressed TSV tables: the report's inputs are written by other stages that may
//! add or reorder columns, so every value is looked up by column name, never position.
use std::{io::BufRead, path::Path};

use crate::{Error, Result};

/// One tab-separated table with a header row. Blank lines and `#` comment lines are skipped.
#[derive(Debug, Clone)]
pub struct Table {
    path: String,
    header: Vec<String>,
    rows: Vec<Row>,
}

/// A data row and the 1-based line it came from (for error messages).
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    fields: Vec<String>,
}

impl Table {
    /// Reads `path` (plain or gzip). Rows must have as many fields as the header.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let reader = crate::io::open_input(path)?;
        Self::from_reader(reader, path)
    }

    /// Reads the header and the first `max_rows` rows of `path`, and counts the data rows
    /// after them without keeping them (a ranked table can have millions of rows).
    /// Returns the table and the total number of data rows.
    pub fn read_head(path: impl AsRef<Path>, max_rows: usize) -> Result<(Self, usize)> {
        let path = path.as_ref();
        let mut reader = crate::io::open_input(path)?;
        let t = Self::parse(&mut reader, path, max_rows)?;
        let mut total = t.len();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            let blank = buf.iter().all(|b| b.is_ascii_whitespace());
            if !blank && buf[0] != b'#' {
                total += 1;
            }
        }
        Ok((t, total))
    }

    /// Parses a table from any reader; `path` is only used in error messages.
    pub fn from_reader(mut reader: impl BufRead, path: impl AsRef<Path>) -> Result<Self> {
        Self::parse(&mut reader, path.as_ref(), usize::MAX)
    }

    fn parse(reader: &mut impl BufRead, path: &Path, max_rows: usize) -> Result<Self> {
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let mut buf = String::new();
        let mut line = 0u64;
        while rows.len() < max_rows {
            buf.clear();
            let n = reader.read_line(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            line += 1;
            let text = buf.trim_end_matches(['\n', '\r']);
            // A UTF-8 byte-order mark (spreadsheet exports) would be part of the first name.
            let text = match line {
                1 => text.strip_prefix('\u{feff}').unwrap_or(text),
                _ => text,
            };
            if text.trim().is_empty() || text.starts_with('#') {
                continue;
            }
            let fields: Vec<String> = text.split('\t').map(|f| f.trim().to_string()).collect();
            match &header {
                None => {
                    for (i, name) in fields.iter().enumerate() {
                        if name.is_empty() {
                            return Err(Error::parse(
                                path,
                                line,
                                format!("header column {} has no name", i + 1),
                            ));
                        }
                        if fields[..i].contains(name) {
                            return Err(Error::parse(
                                path,
                                line,
                                format!("header names column '{name}' twice"),
                            ));
                        }
                    }
                    header = Some(fields);
                }
                Some(h) => {
                    if fields.len() != h.len() {
                        return Err(Error::parse(
                            path,
                            line,
                            format!(
                                "{} tab-separated fields, but the header has {}",
                                fields.len(),
                                h.len()
                            ),
                        ));
                    }
                    rows.push(Row { line, fields });
                }
            }
        }
        let header = header.ok_or_else(|| Error::parse(path, line.max(1), "no header line"))?;
        Ok(Self {
            path: path.display().to_string(),
            header,
            rows,
        })
    }

    /// The file this table was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Column names in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of the column called `name`, if present.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Whether every column in `names` is present.
    pub fn has(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.col(n).is_some())
    }

    /// Fails, naming the file and the first missing column, unless all of `names` are present.
    pub fn require(&self, names: &[&str]) -> Result<()> {
        for n in names {
            if self.col(n).is_none() {
                return Err(Error::Parse {
                    path: self.path.clone(),
                    line: 1,
                    msg: format!("missing column '{n}' (columns: {})", self.header.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// All fields of row `r` in header order.
    pub fn row(&self, r: usize) -> &[String] {
        &self.rows[r].fields
    }

    /// The raw text of column `name` in row `r`; empty when the column is absent.
    pub fn str(&self, r: usize, name: &str) -> &str {
        self.col(name)
            .map_or("", |c| self.rows[r].fields[c].as_str())
    }

    /// Column `name` of row `r` as a number. Empty, `NA`, `.`, `NaN`, infinities and an absent
    /// column give `None` (nothing to plot); anything else that is not a number is an error
    /// naming file, line and column.
    pub fn num(&self, r: usize, name: &str) -> Result<Option<f64>> {
        let s = self.str(r, name);
        if is_missing(s) {
            return Ok(None);
        }
        match s.parse::<f64>() {
            Ok(v) if !v.is_finite() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(_) => Err(self.bad(r, name, s, "a number")),
        }
    }

    /// Column `name` of row `r` as a non-negative integer (`None` when missing, as in [`Table::num`]).
    pub fn uint(&self, r: usize, name: &str) -> Result<Option<usize>> {
        let s = self.str(r, name);
        if is_missing(s) {
            return Ok(None);
        }
        s.parse::<usize>()
            .map(Some)
            .map_err(|_| self.bad(r, name, s, "a non-negative integer"))
    }

    /// Like [`Table::num`] but the value must be present.
    pub fn num_req(&self, r: usize, name: &str) -> Result<f64> {
        self.num(r, name)?
            .ok_or_else(|| self.bad(r, name, self.str(r, name), "a number (it is required)"))
    }

    /// Like [`Table::uint`] but the value must be present.
    pub fn uint_req(&self, r: usize, name: &str) -> Result<usize> {
        self.uint(r, name)?.ok_or_else(|| {
            self.bad(
                r,
                name,
                self.str(r, name),
                "a non-negative integer (it is required)",
            )
        })
    }

    /// The 1-based file line of row `r`.
    pub fn line(&self, r: usize) -> u64 {
        self.rows[r].line
    }

    fn bad(&self, r: usize, name: &str, value: &str, expected: &str) -> Error {
        let col = self.col(name).map_or(0, |c| c + 1);
        Error::Parse {
            path: self.path.clone(),
            line: self.rows[r].line,
            msg: format!("column {col} '{name}': '{value}' is not {expected}"),
        }
    }
}

/// Whether a field stands for "no value".
pub fn is_missing(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("na") || s == "." || s == "-"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table> {
        Table::from_reader(text.as_bytes(), "t.tsv")
    }

    #[test]
    fn reads_by_header_name_and_tolerates_extra_columns() {
        let t =
            table("# comment\nb\ta\textra\n2\t1.5\tx\n\n3\tNA\ty\r\n4\t.\tz\n5\tinf\tw\n").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.num(2, "a").unwrap(), None);
        assert_eq!(t.num(3, "a").unwrap(), None);
        assert_eq!(t.num(0, "a").unwrap(), Some(1.5));
        assert_eq!(t.num(1, "a").unwrap(), None);
        assert_eq!(t.uint_req(1, "b").unwrap(), 3);
        assert_eq!(t.str(1, "extra"), "y");
        assert_eq!(t.num(0, "absent").unwrap(), None);
        assert_eq!(t.line(1), 5);
    }

    #[test]
    fn malformed_value_names_file_line_and_column() {
        let t = table("a\tb\n1\t2\n3\tx7\n").unwrap();
        let e = t.num(1, "b").unwrap_err().to_string();
        assert_eq!(e, "t.tsv:3: column 2 'b': 'x7' is not a number");
    }

    #[test]
    fn ragged_rows_and_missing_columns_are_errors() {
        let e = table("a\tb\n1\n").unwrap_err().to_string();
        assert!(e.starts_with("t.tsv:2:"), "{e}");
        let t = table("a\tb\n1\t2\n").unwrap();
        let e = t.require(&["a", "c"]).unwrap_err().to_string();
        assert!(e.contains("missing column 'c'"), "{e}");
        assert!(table("").is_err());
        assert!(table("a\ta\n").is_err());
    }

    #[test]
    fn read_head_keeps_the_first_rows_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tsv");
        std::fs::write(&p, "a\tb\n1\t2\n3\t4\n\n# c\n5\t6\n7\n").unwrap();
        let (t, total) = Table::read_head(&p, 2).unwrap();
        assert_eq!((t.len(), total), (2, 4));
        let (t, total) = Table::read_head(&p, 1).unwrap();
        assert_eq!((t.len(), total), (1, 4));
    }
}
