//! FIMO's `--text` TSV output, byte for byte: C `%g` / `%.3g` number formatting.

use std::io::{self, Write};

use super::scan::Hit;

/// FIMO's header line (without the newline).
pub const HEADER: &str = "motif_id\tmotif_alt_id\tsequence_name\tstart\tstop\tstrand\tscore\tp-value\tq-value\tmatched_sequence";

/// Formats `x` as C's `printf("%.{prec}g", x)`.
///
/// ```
/// use cisformer::motif::tsv::format_g;
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
    buf.clear();
    buf.extend_from_slice(motif_id.as_bytes());
    buf.push(b'\t');
    buf.extend_from_slice(motif_alt_id.as_bytes());
    buf.push(b'\t');
    buf.extend_from_slice(seq_name.as_bytes());
    buf.push(b'\t');
    let mut ib = itoa::Buffer::new();
    buf.extend_from_slice(ib.format(hit.start + 1).as_bytes());
    buf.push(b'\t');
    buf.extend_from_slice(ib.format(hit.end).as_bytes());
    buf.extend_from_slice(if hit.plus { b"\t+\t" } else { b"\t-\t" });
    buf.extend_from_slice(format_g(hit.score, 6).as_bytes());
    buf.push(b'\t');
    buf.extend_from_slice(format_g(hit.pvalue, 3).as_bytes());
    buf.push(b'\t');
    if let Some(q) = qvalue {
        buf.extend_from_slice(format_g(q, 3).as_bytes());
    }
    buf.push(b'\t');
    if hit.plus {
        buf.extend_from_slice(window);
    } else {
        buf.extend(window.iter().rev().map(|&b| complement_upper(b)));
    }
    buf.push(b'\n');
    out.write_all(buf)
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
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(motif_id.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(motif_alt_id.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(seq_name.as_bytes());
        buf.push(b'\t');
        let mut ib = itoa::Buffer::new();
        buf.extend_from_slice(ib.format(hit.start + 1).as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(ib.format(hit.end).as_bytes());
        buf.extend_from_slice(if hit.plus { b"\t+\t" } else { b"\t-\t" });
        let sc = self
            .scores
            .entry(hit.score.to_bits())
            .or_insert_with(|| format_g(hit.score, 6).into());
        buf.extend_from_slice(sc.as_bytes());
        buf.push(b'\t');
        let pv = self
            .pvalues
            .entry(hit.pvalue.to_bits())
            .or_insert_with(|| format_g(hit.pvalue, 3).into());
        buf.extend_from_slice(pv.as_bytes());
        buf.push(b'\t');
        if let Some(q) = qvalue {
            buf.extend_from_slice(format_g(q, 3).as_bytes());
        }
        buf.push(b'\t');
        if hit.plus {
            buf.extend_from_slice(window);
        } else {
            buf.extend(window.iter().rev().map(|&b| complement_upper(b)));
        }
        buf.push(b'\n');
        out.write_all(buf)
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
}
