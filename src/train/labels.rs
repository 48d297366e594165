//! `labels.tsv`: per-sequence activities keyed by FASTA record name.
//!
//! Format: a header row whose first column is `id`, then one or more numeric
//! activity columns (their names become the model's output names). A column named
//! `set` is not an activity: it holds the split (`training`/`validation`/`test`).
//! Tab-separated, CRLF accepted, gzip accepted, blank lines skipped. Every value
//! must be a finite number that fits an `f32`.
use std::{
    collections::HashMap,
    io::BufRead,
    path::{Path, PathBuf},
};

use super::split::Set;
use crate::{Error, Result};

/// The contents of a labels file.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// Row ids (column `id`), in file order, unique.
    pub ids: Vec<String>,
    /// Names of the activity columns, in file order.
    pub names: Vec<String>,
    /// One row of activities per id (`values[i].len() == names.len()`).
    pub values: Vec<Vec<f32>>,
    /// The `set` column, when the file has one.
    pub sets: Option<Vec<Set>>,
}

impl Labels {
    /// Row number of each id.
    pub fn index(&self) -> HashMap<&str, usize> {
        self.ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect()
    }

    /// The first output's value of each of `ids`, in their order; an id without a row is
    /// an error naming the file and the id.
    pub fn first_output_of<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<Vec<f64>> {
        let index = self.index();
        ids.into_iter()
            .map(|id| match index.get(id) {
                Some(&i) => Ok(f64::from(self.values[i][0])),
                None => Err(Error::Invalid(format!(
                    "{}: no label for sequence '{id}'",
                    self.path.display()
                ))),
            })
            .collect()
    }
}

/// Reads a labels file (plain or gzip; `-` is standard input).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("labels.tsv");
/// std::fs::write(&p, "id\tactivity\tset\r\ns1\t1.5\ttraining\r\ns2\t-2\ttest\r\n").unwrap();
/// let l = cisformer::train::labels::read_labels(&p).unwrap();
/// assert_eq!(l.names, ["activity"]);
/// assert_eq!(l.values, [[1.5], [-2.0]]);
/// assert!(l.sets.is_some());
/// ```
pub fn read_labels(path: impl AsRef<Path>) -> Result<Labels> {
    let path = path.as_ref();
    parse_labels(crate::io::open_input(path)?, path)
}

/// Parses labels text from any reader; `path` names it in errors.
pub fn parse_labels(mut reader: impl BufRead, path: &Path) -> Result<Labels> {
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut next = |line: &mut Vec<u8>, line_no: &mut u64| -> Result<bool> {
        loop {
            line.clear();
            if reader
                .read_until(b'\n', line)
                .map_err(|e| Error::io(path, e))?
                == 0
            {
                return Ok(false);
            }
            *line_no += 1;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
    };
    if !next(&mut line, &mut line_no)? {
        return Err(Error::parse(
            path,
            1,
            "empty labels file (expected a header row starting with 'id')",
        ));
    }
    // A UTF-8 byte-order mark (spreadsheet exports) would otherwise be part of `id`.
    if line.starts_with(b"\xEF\xBB\xBF") {
        line.drain(..3);
    }
    let header = utf8(&line, path, line_no)?.to_string();
    let columns: Vec<&str> = header.split('\t').collect();
    if columns[0].trim() != "id" {
        return Err(Error::parse(
            path,
            line_no,
            format!(
                "the first header column must be 'id', found '{}'{}",
                columns[0],
                if !header.contains('\t') && header.contains(' ') {
                    " (columns must be separated by tabs)"
                } else {
                    ""
                }
            ),
        ));
    }
    let mut names = Vec::new();
    let mut set_col = None;
    let mut value_cols = Vec::new();
    for (c, name) in columns.iter().enumerate().skip(1) {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::parse(
                path,
                line_no,
                format!("header column {} has no name", c + 1),
            ));
        }
        if name == "set" {
            if set_col.is_some() {
                return Err(Error::parse(path, line_no, "two columns are named 'set'"));
            }
            set_col = Some(c);
            continue;
        }
        if names.iter().any(|n| n == name) || name == "id" {
            return Err(Error::parse(
                path,
                line_no,
                format!("column name '{name}' appears twice"),
            ));
        }
        names.push(name.to_string());
        value_cols.push(c);
    }
    if names.is_empty() {
        return Err(Error::parse(
            path,
            line_no,
            "no activity columns: the header needs 'id' and at least one numeric column",
        ));
    }
    let ncol = columns.len();
    let mut ids = Vec::new();
    let mut values = Vec::new();
    let mut sets = set_col.map(|_| Vec::new());
    let mut seen: HashMap<String, u64> = HashMap::new();
    while next(&mut line, &mut line_no)? {
        let text = utf8(&line, path, line_no)?;
        let fields: Vec<&str> = text.split('\t').collect();
        if fields.len() != ncol {
            return Err(Error::parse(
                path,
                line_no,
                format!(
                    "expected {ncol} tab-separated columns like the header, found {}",
                    fields.len()
                ),
            ));
        }
        let id = fields[0].trim();
        if id.is_empty() {
            return Err(Error::parse(path, line_no, "empty id in column 1"));
        }
        if let Some(first) = seen.insert(id.to_string(), line_no) {
            return Err(Error::parse(
                path,
                line_no,
                format!("duplicate id '{id}' (first seen on line {first})"),
            ));
        }
        let mut row = Vec::with_capacity(value_cols.len());
        for &c in &value_cols {
            row.push(parse_value(fields[c], path, line_no, c, columns[c])?);
        }
        if let (Some(c), Some(sets)) = (set_col, sets.as_mut()) {
            let s = Set::parse(fields[c].trim()).ok_or_else(|| {
                Error::parse(
                    path,
                    line_no,
                    format!(
                        "column {} ('set'): expected training, validation or test, found '{}'",
                        c + 1,
                        fields[c]
                    ),
                )
            })?;
            sets.push(s);
        }
        ids.push(id.to_string());
        values.push(row);
    }
    if ids.is_empty() {
        return Err(Error::parse(
            path,
            line_no,
            "labels file has a header but no data rows",
        ));
    }
    Ok(Labels {
        path: path.to_path_buf(),
        ids,
        names,
        values,
        sets,
    })
}

fn utf8<'a>(line: &'a [u8], path: &Path, line_no: u64) -> Result<&'a str> {
    std::str::from_utf8(line).map_err(|_| Error::parse(path, line_no, "line is not valid UTF-8"))
}

/// Parses one activity; `col` is 0-based, messages are 1-based with the column name.
pub(crate) fn parse_value(
    field: &str,
    path: &Path,
    line_no: u64,
    col: usize,
    name: &str,
) -> Result<f32> {
    let f = field.trim();
    let err = |what: &str| {
        Error::parse(
            path,
            line_no,
            format!("column {} ('{name}'): {what}", col + 1),
        )
    };
    if f.is_empty() {
        return Err(err("empty value"));
    }
    let v: f64 = f
        .parse()
        .map_err(|_| err(&format!("'{f}' is not a number")))?;
    if !v.is_finite() {
        return Err(err(&format!("'{f}' is not a finite number")));
    }
    let v32 = v as f32;
    if !v32.is_finite() {
        return Err(err(&format!("'{f}' is too large for a 32-bit float")));
    }
    Ok(v32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Labels> {
        parse_labels(text.as_bytes(), Path::new("l.tsv"))
    }

    #[test]
    fn reads_multiple_outputs_and_skips_blank_lines() {
        let l = parse("id\ta\tb\ns1\t1\t2e-3\n\ns2\t-0.5\t7\n").unwrap();
        assert_eq!(l.ids, ["s1", "s2"]);
        assert_eq!(l.names, ["a", "b"]);
        assert_eq!(l.values, [vec![1.0, 2e-3], vec![-0.5, 7.0]]);
        assert!(l.sets.is_none());
        assert_eq!(l.index()["s2"], 1);
    }

    #[test]
    fn set_column_anywhere() {
        let l = parse("id\tset\tx\na\tvalidation\t1\nb\ttest\t2\nc\ttraining\t3\n").unwrap();
        assert_eq!(l.names, ["x"]);
        assert_eq!(l.sets.unwrap(), [Set::Val, Set::Test, Set::Train]);
    }

    #[test]
    fn precise_errors() {
        let e = |t: &str| parse(t).unwrap_err().to_string();
        assert!(e("").contains("empty labels file"), "{}", e(""));
        assert_eq!(
            e("name\tx\n"),
            "l.tsv:1: the first header column must be 'id', found 'name'"
        );
        assert!(e("id x\n").contains("separated by tabs"));
        assert!(e("id\n").contains("no activity columns"));
        assert!(e("id\tx\n").contains("no data rows"));
        assert_eq!(
            e("id\tx\na\t1\nb\tNaN\n"),
            "l.tsv:3: column 2 ('x'): 'NaN' is not a finite number"
        );
        assert!(e("id\tx\na\tinf\n").contains("not a finite number"));
        assert_eq!(
            e("id\tx\ty\na\t1\tfoo\n"),
            "l.tsv:2: column 3 ('y'): 'foo' is not a number"
        );
        assert!(e("id\tx\na\t1e300\n").contains("too large"));
        assert!(e("id\tx\na\t\n").contains("empty value"));
        assert_eq!(
            e("id\tx\na\t1\t2\n"),
            "l.tsv:2: expected 2 tab-separated columns like the header, found 3"
        );
        assert_eq!(
            e("id\tx\na\t1\r\nb\t2\r\na\t3\r\n"),
            "l.tsv:4: duplicate id 'a' (first seen on line 2)"
        );
        assert!(e("id\tx\tx\na\t1\t2\n").contains("appears twice"));
        assert!(e("id\tx\tset\na\t1\ttrain-ish\n").contains("expected training"));
    }
}
