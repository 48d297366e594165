//! Regions → FASTA, byte-identical to `bedtools getfasta` (v2.30.0).
//!
//! Headers are `contig:start-end`; with `strand` the 6th BED column is appended in
//! parentheses (`(+)`, `(-)`, `(.)`, and `()` for BED lines without one, as bedtools
//! does) and `-` intervals are reverse-complemented; with `name` the 4th column and
//! `::` come first. Sequences are written on one line, case kept, in BED order.
//!
//! The BED text is parsed and checked completely before anything is written, so a
//! bad line never leaves partial output. Both passes run in parallel over
//! line-aligned chunks; rendered chunks are written in order while the next group
//! is rendered.
use std::{collections::HashMap, io::Write, path::Path};

use rayon::prelude::*;

use crate::{
    Error, Result,
    io::{bed, fasta::Genome},
};

/// What to extract and how to name it (the `bedtools getfasta` flags).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-s`: reverse-complement `-` intervals and show the strand in the header.
    pub strand: bool,
    /// `-name`: prefix headers with the BED name and `::`.
    pub name: bool,
    /// Widen each interval by this many bases on both sides, clipped to the contig
    /// (`bedtools slop -b N`); headers show the widened coordinates.
    pub flank: u64,
    /// Make intervals that bedtools would skip (past the contig end, or empty) errors.
    pub strict: bool,
}

/// What happened to the intervals, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sequences written.
    pub written: u64,
    /// Intervals skipped because they run past the end of their contig.
    pub past_end: u64,
    /// Intervals skipped because they are empty (`start == end`).
    pub empty: u64,
    /// The first skipped interval, as `file:line: contig:start-end`, for the message.
    pub first_skipped: Option<String>,
}

/// One checked interval, ready to render; `name` indexes into the BED text.
#[derive(Clone, Copy)]
struct Item {
    start: u64,
    end: u64,
    name_at: usize,
    name_len: u32,
    contig: u32,
    /// 0: no strand column, then `+`, `-`, `.`.
    strand: u8,
}

struct Chunk {
    items: Vec<Item>,
    out_bytes: usize,
    past_end: u64,
    empty: u64,
    /// (line index within the chunk, description) of the first skipped interval.
    first_skip: Option<(u64, String)>,
}

/// BED text per parallel task: big enough to amortise scheduling, small enough to balance.
const CHUNK_BYTES: usize = 128 << 10;

/// Extracts every interval of `bed` (BED text, already decompressed) from `genome`
/// and writes FASTA to `out`. `bed_path` and `out_path` name the files in errors.
///
/// ```
/// use cisformer::{extract::{extract, Options}, io::fasta::Genome};
/// let g = Genome::from_bytes(b">c\nACGTAC\nGT\n".to_vec(), "g.fa").unwrap();
/// let bed = b"c\t1\t4\tp\t0\t-\nc\t6\t8\tq\t0\t+\n";
/// let mut out = Vec::new();
/// let opts = Options { strand: true, name: true, ..Options::default() };
/// let s = extract(&g, bed, "r.bed".as_ref(), &opts, &mut out, "-".as_ref()).unwrap();
/// assert_eq!(out, b">p::c:1-4(-)\nACG\n>q::c:6-8(+)\nGT\n");
/// assert_eq!(s.written, 2);
/// ```
pub fn extract<W: Write + Send>(
    genome: &Genome,
    bed: &[u8],
    bed_path: &Path,
    opts: &Options,
    out: &mut W,
    out_path: &Path,
) -> Result<Summary> {
    let bounds = chunk_bounds(bed);
    let contigs: HashMap<&[u8], u32> = genome
        .contigs()
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_bytes(), i as u32))
        .collect();
    let parsed: Vec<std::result::Result<Chunk, (u64, String)>> = bounds
        .par_windows(2)
        .map(|w| parse_chunk(genome, &contigs, bed, w[0], w[1], opts))
        .collect();
    let line_of = |chunk: usize, local: u64| bytecount_newlines(&bed[..bounds[chunk]]) + local + 1;
    let mut chunks = Vec::with_capacity(parsed.len());
    let mut summary = Summary::default();
    for (i, p) in parsed.into_iter().enumerate() {
        match p {
            Ok(c) => {
                summary.past_end += c.past_end;
                summary.empty += c.empty;
                if summary.first_skipped.is_none()
                    && let Some((l, what)) = &c.first_skip
                {
                    summary.first_skipped =
                        Some(format!("{}:{}: {what}", bed_path.display(), line_of(i, *l)));
                }
                summary.written += c.items.len() as u64;
                chunks.push(c);
            }
            Err((l, msg)) => return Err(Error::parse(bed_path, line_of(i, l), msg)),
        }
    }
    write_chunks(genome, bed, &chunks, opts, out, out_path)?;
    Ok(summary)
}

/// Line-aligned chunk boundaries: `[0, b1, b2, ..., bed.len()]`.
fn chunk_bounds(bed: &[u8]) -> Vec<usize> {
    let mut b = vec![0];
    let mut at = 0;
    while at < bed.len() {
        let target = (at + CHUNK_BYTES).min(bed.len());
        let next = if target == bed.len() {
            target
        } else {
            memchr::memchr(b'\n', &bed[target..]).map_or(bed.len(), |i| target + i + 1)
        };
        b.push(next);
        at = next;
    }
    b
}

fn bytecount_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

fn parse_chunk(
    genome: &Genome,
    contigs: &HashMap<&[u8], u32>,
    bed: &[u8],
    from: usize,
    to: usize,
    opts: &Options,
) -> std::result::Result<Chunk, (u64, String)> {
    let mut c = Chunk {
        items: Vec::with_capacity((to - from) / 24),
        out_bytes: 0,
        past_end: 0,
        empty: 0,
        first_skip: None,
    };
    let mut last: Option<(&[u8], u32)> = None;
    let mut at = from;
    let mut line_idx = 0u64;
    while at < to {
        let eol = memchr::memchr(b'\n', &bed[at..to]).map_or(to, |i| at + i);
        let line = &bed[at..eol];
        let line_start = at;
        at = eol + 1;
        let this_line = line_idx;
        line_idx += 1;
        let f = match bed::parse_fields(line) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(msg) => return Err((this_line, msg)),
        };
        let contig = match last {
            Some((name, idx)) if name == f.contig => idx,
            _ => {
                let idx = *contigs.get(f.contig).ok_or_else(|| {
                    (
                        this_line,
                        format!(
                            "contig '{}' is not in the genome {}",
                            String::from_utf8_lossy(f.contig),
                            genome.path().display()
                        ),
                    )
                })?;
                last = Some((f.contig, idx));
                idx
            }
        };
        let len = genome.contig_len(contig as usize);
        let problem = if f.end > len {
            c.past_end += 1;
            Some(format!("runs past the end of contig (length {len})"))
        } else if f.start == f.end {
            c.empty += 1;
            Some("is empty (start = end)".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            let what = format!(
                "interval {}:{}-{} {p}",
                String::from_utf8_lossy(f.contig),
                f.start,
                f.end
            );
            if opts.strict {
                return Err((this_line, format!("{what} (--strict)")));
            }
            if c.first_skip.is_none() {
                c.first_skip = Some((this_line, what));
            }
            continue;
        }
        let start = f.start.saturating_sub(opts.flank);
        let end = f.end.saturating_add(opts.flank).min(len);
        // An absent name is a static empty slice, not a part of `bed`.
        let name_at = if f.name.is_empty() {
            0
        } else {
            f.name.as_ptr() as usize - bed.as_ptr() as usize
        };
        debug_assert!(f.name.is_empty() || name_at >= line_start);
        c.out_bytes += (end - start) as usize + f.name.len() + f.contig.len() + 32;
        c.items.push(Item {
            start,
            end,
            name_at,
            name_len: f.name.len() as u32,
            contig,
            strand: match f.strand {
                None => 0,
                Some(bed::Strand::Forward) => 1,
                Some(bed::Strand::Reverse) => 2,
                Some(bed::Strand::Unknown) => 3,
            },
        });
    }
    Ok(c)
}

/// How many intervals ahead [`render`] asks for the genome bytes.
const PREFETCH_AHEAD: usize = 4;

fn render(
    genome: &Genome,
    bed: &[u8],
    chunk: &Chunk,
    opts: &Options,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    out.reserve(chunk.out_bytes);
    let mut num = itoa::Buffer::new();
    for (k, it) in chunk.items.iter().enumerate() {
        if let Some(next) = chunk.items.get(k + PREFETCH_AHEAD) {
            genome.prefetch(next.contig as usize, next.start, next.end);
        }
        out.push(b'>');
        if opts.name {
            out.extend_from_slice(&bed[it.name_at..it.name_at + it.name_len as usize]);
            out.extend_from_slice(b"::");
        }
        out.extend_from_slice(genome.contigs()[it.contig as usize].name.as_bytes());
        out.push(b':');
        out.extend_from_slice(num.format(it.start).as_bytes());
        out.push(b'-');
        out.extend_from_slice(num.format(it.end).as_bytes());
        if opts.strand {
            out.extend_from_slice(match it.strand {
                0 => b"()",
                1 => b"(+)",
                2 => b"(-)",
                _ => b"(.)",
            });
        }
        out.push(b'\n');
        if opts.strand && it.strand == 2 {
            genome.fetch_reverse_complement_into(it.contig as usize, it.start, it.end, out)?;
        } else {
            genome.fetch_into(it.contig as usize, it.start, it.end, out)?;
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Renders groups of chunks in parallel and writes each group, in order, while the
/// next one renders. Buffers are recycled: fresh multi-megabyte allocations would
/// cost a page fault per 4 KiB, which on two cores is as much as the copying itself.
fn write_chunks<W: Write + Send>(
    genome: &Genome,
    bed: &[u8],
    chunks: &[Chunk],
    opts: &Options,
    out: &mut W,
    out_path: &Path,
) -> Result<()> {
    let group = (rayon::current_num_threads() * 4).max(4);
    let write = |out: &mut W, bufs: &[Vec<u8>]| -> Result<()> {
        for b in bufs {
            out.write_all(b).map_err(|e| Error::io(out_path, e))?;
        }
        Ok(())
    };
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    for g in chunks.chunks(group) {
        let mut bufs: Vec<Vec<u8>> = (0..g.len())
            .map(|_| pool.pop().unwrap_or_default())
            .collect();
        let (written, rendered) = rayon::join(
            || write(out, &pending),
            || {
                g.par_iter()
                    .zip(bufs.par_iter_mut())
                    .try_for_each(|(c, b)| render(genome, bed, c, opts, b))
            },
        );
        written?;
        rendered?;
        pool.append(&mut pending);
        pending = bufs;
    }
    write(out, &pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bed: &[u8], opts: Options) -> Result<(String, Summary)> {
        let g = Genome::from_bytes(b">c\nACGTAC\nGTnn\n>d\nRYKM\n".to_vec(), "g.fa")?;
        let mut out = Vec::new();
        let s = extract(&g, bed, "r.bed".as_ref(), &opts, &mut out, "-".as_ref())?;
        Ok((String::from_utf8(out).unwrap(), s))
    }

    #[test]
    fn headers_and_strands_like_bedtools() {
        let bed = b"c\t0\t3\nc\t2\t10\tn1\t0\t-\nd\t0\t4\t.\t.\t.\n";
        let o = Options {
            strand: true,
            ..Options::default()
        };
        assert_eq!(
            run(bed, o).unwrap().0,
            ">c:0-3()\nACG\n>c:2-10(-)\nnnACGTAC\n>d:0-4(.)\nRYKM\n"
        );
        let o = Options {
            strand: true,
            name: true,
            ..Options::default()
        };
        assert_eq!(
            run(bed, o).unwrap().0,
            ">::c:0-3()\nACG\n>n1::c:2-10(-)\nnnACGTAC\n>.::d:0-4(.)\nRYKM\n"
        );
        assert_eq!(
            run(bed, Options::default()).unwrap().0,
            ">c:0-3\nACG\n>c:2-10\nGTACGTnn\n>d:0-4\nRYKM\n"
        );
    }

    #[test]
    fn flank_clips_to_contig() {
        let o = Options {
            flank: 2,
            ..Options::default()
        };
        assert_eq!(
            run(b"c\t1\t3\nd\t2\t3\n", o).unwrap().0,
            ">c:0-5\nACGTA\n>d:0-4\nRYKM\n"
        );
    }

    #[test]
    fn skips_are_counted_or_errors_with_strict() {
        let bed = b"c\t0\t3\nc\t5\t11\nc\t2\t2\n";
        let (text, s) = run(bed, Options::default()).unwrap();
        assert_eq!(text, ">c:0-3\nACG\n");
        assert_eq!((s.written, s.past_end, s.empty), (1, 1, 1));
        assert_eq!(
            s.first_skipped.unwrap(),
            "r.bed:2: interval c:5-11 runs past the end of contig (length 10)"
        );
        let o = Options {
            strict: true,
            ..Options::default()
        };
        let e = run(bed, o).unwrap_err().to_string();
        assert!(e.starts_with("r.bed:2: interval c:5-11 runs past"), "{e}");
        let e = run(b"#h\nc\t0\t1\nz\t0\t1\n", Options::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("r.bed:3: contig 'z' is not in the genome g.fa"),
            "{e}"
        );
    }

    #[test]
    fn same_output_across_many_chunks() {
        let mut bed = Vec::new();
        for i in 0..40_000u64 {
            bed.extend_from_slice(
                format!(
                    "c\t{}\t{}\tn{i}\t0\t{}\n",
                    i % 5,
                    5 + i % 6,
                    if i % 2 == 0 { '+' } else { '-' }
                )
                .as_bytes(),
            );
        }
        assert!(chunk_bounds(&bed).len() > 3);
        let o = Options {
            strand: true,
            name: true,
            ..Options::default()
        };
        let (text, s) = run(&bed, o).unwrap();
        assert_eq!(s.written, 40_000);
        let g = Genome::from_bytes(b">c\nACGTAC\nGTnn\n".to_vec(), "g.fa").unwrap();
        let mut expect = String::new();
        for i in 0..40_000u64 {
            let (st, en) = (i % 5, 5 + i % 6);
            let mut sq = g.fetch("c", st, en).unwrap();
            let sign = if i % 2 == 0 { '+' } else { '-' };
            if sign == '-' {
                sq = crate::seq::reverse_complement(&sq);
            }
            expect.push_str(&format!(
                ">n{i}::c:{st}-{en}({sign})\n{}\n",
                String::from_utf8(sq).unwrap()
            ));
        }
        assert_eq!(text, expect);
        // An error deep in a later chunk names the right line.
        bed.extend_from_slice(b"c\tx\t1\n");
        let e = run(&bed, Options::default()).unwrap_err().to_string();
        assert!(e.starts_with("r.bed:40001: start is not"), "{e}");
    }
}
