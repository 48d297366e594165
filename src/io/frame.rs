//! Where an extracted sequence lies in its genome, read from its FASTA name.
//!
//! `extract`, like `bedtools getfasta`, names each record `[NAME::]CHROM:START-END[(STRAND)]`
//! with 0-based, half-open coordinates. Outputs derived from such records (scan hits, head
//! tracks, site pairs) are written in genome coordinates, so that they load in a genome
//! browser against the genome itself rather than against the extracted pieces.

/// The genome interval a sequence was extracted from.
///
/// ```
/// use cisformer::io::frame::GenomeFrame;
/// // A region extracted (on the minus strand) from a window that is itself named by its interval.
/// let f = GenomeFrame::parse("lacWT::NC_000913.2:300000-450000:65567-65642(-)", Some(75)).unwrap();
/// assert_eq!((f.chrom.as_str(), f.start, f.end, f.minus), ("NC_000913.2", 365567, 365642, true));
/// assert_eq!(f.to_genome(0, 10), (365632, 365642));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenomeFrame {
    pub chrom: String,
    /// 0-based start of the extracted interval.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
    /// The sequence is the reverse complement of the genome interval.
    pub minus: bool,
}

impl GenomeFrame {
    /// Reads a record name; `None` when it does not give coordinates.
    ///
    /// `len` is the record's length when known: a name whose span disagrees with it is not
    /// taken as coordinates, except a samtools region (`chr:S-E`, 1-based and inclusive, so
    /// E − S + 1 = len), which is read as such. A name whose chromosome is itself
    /// `CHROM:START-END` (a piece extracted from an extracted window) resolves to the outer
    /// genome; those inner names are read as `extract` writes them, 0-based.
    pub fn parse(name: &str, len: Option<u64>) -> Option<GenomeFrame> {
        let name = name.split_whitespace().next()?;
        let name = name.rsplit_once("::").map_or(name, |(_, c)| c);
        let f = Self::parse_bare(name)?;
        let outer = f.chrom_frame();
        let f = match len {
            None => f,
            Some(l) if f.end - f.start == l => f,
            Some(l) if f.end - f.start + 1 == l && f.start >= 1 && outer.is_none() => GenomeFrame {
                start: f.start - 1,
                ..f
            },
            Some(_) => return None,
        };
        match outer {
            Some(outer) if outer.end - outer.start >= f.end => {
                let (start, end) = outer.to_genome(f.start as usize, f.end as usize);
                Some(GenomeFrame {
                    chrom: outer.chrom,
                    start,
                    end,
                    minus: outer.minus != f.minus,
                })
            }
            _ => Some(f),
        }
    }

    /// `CHROM:START-END[(STRAND)]`, nothing else.
    fn parse_bare(name: &str) -> Option<GenomeFrame> {
        let (name, minus) = match name.strip_suffix("(-)") {
            Some(n) => (n, true),
            None => (
                name.strip_suffix("(+)")
                    .or_else(|| name.strip_suffix("(.)"))
                    .unwrap_or(name),
                false,
            ),
        };
        let (chrom, range) = name.rsplit_once(':')?;
        let (s, e) = range.split_once('-')?;
        let all_digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if chrom.is_empty() || !all_digits(s) || !all_digits(e) {
            return None;
        }
        let (start, end) = (s.parse().ok()?, e.parse().ok()?);
        (start <= end).then(|| GenomeFrame {
            chrom: chrom.to_string(),
            start,
            end,
            minus,
        })
    }

    /// The frame of this frame's chromosome, when it is itself an interval name.
    fn chrom_frame(&self) -> Option<GenomeFrame> {
        Self::parse_bare(&self.chrom)
    }

    /// Genome interval of the sequence's bp `[s, e)`.
    pub fn to_genome(&self, s: usize, e: usize) -> (u64, u64) {
        if self.minus {
            (self.end - e as u64, self.end - s as u64)
        } else {
            (self.start + s as u64, self.start + e as u64)
        }
    }
}

/// Chromosome, coordinates and strand for bp `[s, e)` on strand `plus` of the sequence
/// called `name` (of length `len` when known): genome coordinates when the name carries
/// them, else the name's first word and sequence coordinates.
///
/// ```
/// use cisformer::io::frame::place;
/// assert_eq!(place("chr2:0-50(-)", Some(50), 0, 5, true), ("chr2".into(), 45, 50, '-'));
/// assert_eq!(place("sim000001 x", Some(200), 3, 9, false), ("sim000001".into(), 3, 9, '-'));
/// ```
pub fn place(
    name: &str,
    len: Option<u64>,
    s: usize,
    e: usize,
    plus: bool,
) -> (String, u64, u64, char) {
    match GenomeFrame::parse(name, len) {
        Some(f) => {
            let (gs, ge) = f.to_genome(s, e);
            (f.chrom, gs, ge, if plus != f.minus { '+' } else { '-' })
        }
        None => (
            name.split_whitespace().next().unwrap_or(name).to_string(),
            s as u64,
            e as u64,
            if plus { '+' } else { '-' },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedtools_names() {
        let f = GenomeFrame::parse("chr1:100-200", None).unwrap();
        assert_eq!(f.to_genome(10, 20), (110, 120));
        let f = GenomeFrame::parse("peak7::chrX:100-200(-) extra", Some(100)).unwrap();
        assert!(f.minus);
        assert_eq!(f.to_genome(0, 10), (190, 200));
        assert!(!GenomeFrame::parse("c:1-4(.)", Some(3)).unwrap().minus);
        assert!(GenomeFrame::parse("chr1:200-100", None).is_none());
        assert!(GenomeFrame::parse("chr1:+5-9", None).is_none());
        assert!(GenomeFrame::parse(":5-9", None).is_none());
    }

    #[test]
    fn a_span_that_disagrees_with_the_length_is_not_coordinates() {
        assert!(GenomeFrame::parse("chr1:100-200", Some(150)).is_none());
        assert_eq!(
            place("chr1:100-200", Some(150), 3, 9, true),
            ("chr1:100-200".into(), 3, 9, '+')
        );
    }

    #[test]
    fn samtools_regions_are_one_based() {
        // samtools faidx chr1:101-200 gives 100 bp starting at 0-based 100.
        let f = GenomeFrame::parse("chr1:101-200", Some(100)).unwrap();
        assert_eq!((f.start, f.end), (100, 200));
        assert_eq!(f.to_genome(0, 1), (100, 101));
    }

    #[test]
    fn nested_windows_resolve_to_the_genome() {
        let f = GenomeFrame::parse("w::chr3:1000-2000:10-30(+)", Some(20)).unwrap();
        assert_eq!(
            (f.chrom.as_str(), f.start, f.end, f.minus),
            ("chr3", 1010, 1030, false)
        );
        // A window extracted on the minus strand: its bp 10..30 are genome 1970..1990.
        let f = GenomeFrame::parse("chr3:1000-2000(-):10-30(-)", Some(20)).unwrap();
        assert_eq!((f.start, f.end, f.minus), (1970, 1990, false));
        // An inner span too short for the outer one is not a window: keep the name.
        let f = GenomeFrame::parse("chr3:0-5:10-30", Some(20)).unwrap();
        assert_eq!((f.chrom.as_str(), f.start), ("chr3:0-5", 10));
    }
}
