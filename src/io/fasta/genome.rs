//! Random access to a genome: `fetch(contig, start, end)` through the `.fai` geometry.
//!
//! Plain FASTA files are memory-mapped and read through their `.fai` (an existing,
//! up-to-date `GENOME.fai` is used; otherwise the index is built in memory, once).
//! Gzip and bgzip genomes cannot be addressed in place, so they are decompressed
//! once into memory and indexed there.
use std::{
    collections::HashMap,
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use memmap2::Mmap;

use super::fai::{self, FaiBuilder, FaiRecord};
use crate::{Error, Result};

enum Data {
    Mapped(Mmap),
    Memory(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Memory(v) => v,
        }
    }
}

/// An indexed genome that hands out subsequences by coordinates.
///
/// ```
/// use cisformer::io::fasta::Genome;
/// let g = Genome::from_bytes(b">chr1\nACGTA\ncgtNN\nA\n>chr2\nTT\n".to_vec(), "g.fa").unwrap();
/// assert_eq!(g.fetch("chr1", 3, 8).unwrap(), b"TAcgt");
/// assert_eq!(g.contig_len(g.index_of("chr2").unwrap()), 2);
/// assert!(g.fetch("chr2", 1, 3).is_err());
/// ```
pub struct Genome {
    path: PathBuf,
    data: Data,
    records: Vec<FaiRecord>,
    by_name: HashMap<String, usize>,
}

impl Genome {
    /// Opens a FASTA genome, plain (memory-mapped) or gzip/bgzip (decompressed into memory).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if crate::io::is_gzip(path)? {
            let mut data = Vec::new();
            crate::io::open_input(path)?
                .read_to_end(&mut data)
                .map_err(|e| Error::io(path, e))?;
            return Self::from_bytes(data, path);
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Err(Error::parse(path, 1, "no FASTA records (empty file?)"));
        }
        // SAFETY: the map is read-only; like every mmap reader (samtools included)
        // we assume nobody truncates the genome while it is being read.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let fai_path = fai_path_for(path);
        let records = match fresh_index(path, &fai_path) {
            Some(()) => fai::read_fai(&fai_path)?,
            None => {
                let mut b = FaiBuilder::new(path);
                b.push(&map)?;
                b.finish()?
            }
        };
        Self::with_records(path, Data::Mapped(map), records, Some(&fai_path))
    }

    /// Indexes an uncompressed FASTA held in memory; `path` names it in errors.
    pub fn from_bytes(data: Vec<u8>, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut b = FaiBuilder::new(path);
        b.push(&data)?;
        let records = b.finish()?;
        Self::with_records(path, Data::Memory(data), records, None)
    }

    fn with_records(
        path: &Path,
        data: Data,
        records: Vec<FaiRecord>,
        fai_path: Option<&Path>,
    ) -> Result<Self> {
        let bytes = data.bytes();
        let mut by_name = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            // A stale or foreign .fai would silently return wrong bases: check that every
            // record fits in the file and starts right after a line end.
            let fits = r.end_offset() <= bytes.len() as u64
                && (r.offset == 0 || bytes[r.offset as usize - 1] == b'\n')
                && (r.length == 0 || r.line_bases > 0);
            if !fits {
                let what = fai_path
                    .map_or_else(|| path.display().to_string(), |f| f.display().to_string());
                return Err(Error::Invalid(format!(
                    "{what}: index entry '{}' does not match {} (stale .fai? delete it or run `cisformer index`)",
                    r.name,
                    path.display()
                )));
            }
            by_name.insert(r.name.clone(), i);
        }
        Ok(Self {
            path: path.to_path_buf(),
            data,
            records,
            by_name,
        })
    }

    /// The file this genome was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the sequence lives in memory (gzip input) rather than in a file map.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.data, Data::Memory(_))
    }

    /// The index: one record per contig, in file order.
    pub fn contigs(&self) -> &[FaiRecord] {
        &self.records
    }

    /// Position of `name` in [`Genome::contigs`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Length in bases of contig number `idx`.
    pub fn contig_len(&self, idx: usize) -> u64 {
        self.records[idx].length
    }

    /// The bases `[start, end)` (0-based, half-open) of `contig`, case kept.
    pub fn fetch(&self, contig: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let idx = self.index_of(contig).ok_or_else(|| {
            Error::Invalid(format!(
                "contig '{contig}' is not in {}",
                self.path.display()
            ))
        })?;
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        self.fetch_into(idx, start, end, &mut out)?;
        Ok(out)
    }

    /// Appends the bases `[start, end)` of contig number `idx` to `out`.
    ///
    /// The copy walks the `.fai` line geometry (no scanning for newlines), one
    /// line segment at a time, in fixed 32-byte blocks that the compiler turns
    /// into vector moves instead of a `memcpy` call per line.
    pub fn fetch_into(&self, idx: usize, start: u64, end: u64, out: &mut Vec<u8>) -> Result<()> {
        self.check(idx, start, end)?;
        let bytes = self.data.bytes();
        let total = (end - start) as usize;
        out.reserve(total + BLOCK);
        let mut written = out.len();
        self.for_each_segment(idx, start, end, |off, n| {
            // SAFETY: `check` proved `off + n <= bytes.len()`; the block path also
            // needs `off + rounded <= bytes.len()`, tested here. `out` has room for
            // `total + BLOCK` more bytes and `written` never exceeds `len + total`,
            // so even the over-copied tail of a block stays inside the allocation;
            // `set_len` below only exposes the `total` bytes actually fetched.
            unsafe {
                let src = bytes.as_ptr().add(off);
                let dst = out.as_mut_ptr().add(written);
                let rounded = n.div_ceil(BLOCK) * BLOCK;
                if off + rounded <= bytes.len() {
                    let mut k = 0;
                    while k < n {
                        std::ptr::copy_nonoverlapping(src.add(k), dst.add(k), BLOCK);
                        k += BLOCK;
                    }
                } else {
                    std::ptr::copy_nonoverlapping(src, dst, n);
                }
            }
            written += n;
        });
        // SAFETY: every byte up to `written` was initialised by the copies above.
        unsafe { out.set_len(written) };
        Ok(())
    }

    /// Appends the reverse complement of `[start, end)` of contig number `idx` to
    /// `out` (see [`crate::seq::reverse_complement`]).
    ///
    /// ```
    /// use cisformer::io::fasta::Genome;
    /// let g = Genome::from_bytes(b">c\nAACG\nTn\n".to_vec(), "g.fa").unwrap();
    /// let mut out = b">x\n".to_vec();
    /// g.fetch_reverse_complement_into(0, 1, 6, &mut out).unwrap();
    /// assert_eq!(out, b">x\nnACGT");
    /// ```
    pub fn fetch_reverse_complement_into(
        &self,
        idx: usize,
        start: u64,
        end: u64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let base = out.len();
        self.fetch_into(idx, start, end, out)?;
        crate::seq::reverse_complement_in_place(&mut out[base..]);
        Ok(())
    }

    /// Hints the CPU to start loading the bytes of `[start, end)` of contig `idx`
    /// (at most the first [`PREFETCH_BYTES`]).
    ///
    /// Extraction jumps to a random place of the genome for every interval; asking for
    /// the next intervals' bytes while copying the current one hides most of that
    /// memory latency. Out-of-range coordinates are ignored.
    #[inline]
    pub fn prefetch(&self, idx: usize, start: u64, end: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let r = &self.records[idx];
            if start < end && end <= r.length {
                let from = r.byte_offset(start) as usize;
                let to = (r.byte_offset(end - 1) as usize).min(from + PREFETCH_BYTES);
                let p = self.data.bytes().as_ptr();
                let mut at = from;
                while at <= to {
                    // SAFETY: `at <= byte_offset(end - 1) < bytes.len()` (records were
                    // checked against the file when the genome was opened); a prefetch
                    // never faults and changes no state.
                    unsafe {
                        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                        _mm_prefetch::<_MM_HINT_T0>(p.add(at) as *const i8);
                    }
                    at += 64;
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (idx, start, end);
    }

    fn check(&self, idx: usize, start: u64, end: u64) -> Result<()> {
        let r = &self.records[idx];
        if start > end || end > r.length {
            return Err(Error::Invalid(format!(
                "{}:{start}-{end} is outside contig '{}' (length {})",
                r.name, r.name, r.length
            )));
        }
        Ok(())
    }

    /// Calls `f(byte_offset, len)` for each line segment of `[start, end)`, in order.
    #[inline(always)]
    fn for_each_segment(&self, idx: usize, start: u64, end: u64, mut f: impl FnMut(usize, usize)) {
        if start == end {
            return;
        }
        let r = &self.records[idx];
        let (lb, lw) = (r.line_bases, r.line_width);
        let mut pos = start;
        let mut off = r.byte_offset(start) as usize;
        let mut left_in_line = lb - start % lb;
        while pos < end {
            let n = left_in_line.min(end - pos);
            f(off, n as usize);
            pos += n;
            off += (n + lw - lb) as usize;
            left_in_line = lb;
        }
    }
}

/// How much of an interval [`Genome::prefetch`] asks for.
pub const PREFETCH_BYTES: usize = 1024;

/// Copy granularity of [`Genome::fetch_into`].
const BLOCK: usize = 32;

/// `GENOME.fai`: the index path samtools and bedtools use.
pub fn fai_path_for(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".fai");
    PathBuf::from(s)
}

/// `Some` when `fai` exists and is not older than `fasta`.
fn fresh_index(fasta: &Path, fai: &Path) -> Option<()> {
    let fm = std::fs::metadata(fasta).ok()?.modified().ok()?;
    let im = std::fs::metadata(fai).ok()?.modified().ok()?;
    (im >= fm).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `fai` fuzz target: a foreign index whose end offset overflows 64 bits
    /// panicked in debug builds and, wrapped around in release, could pass the check that
    /// every record lies inside the file.
    #[test]
    fn an_index_whose_end_overflows_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fa = dir.path().join("g.fa");
        std::fs::write(&fa, ">(").unwrap();
        let index = "\n8x18\t118\t1101118\t8\t8388888888888888888\t4\t";
        std::fs::write(dir.path().join("g.fa.fai"), index).unwrap();
        let Err(err) = Genome::open(&fa) else {
            panic!("an overflowing index was accepted");
        };
        let err = err.to_string();
        assert!(err.contains("8x18") && err.contains("overflow"), "{err}");
        // Built directly (not parsed), the record is refused by the bounds check.
        let r = FaiRecord {
            name: "c".into(),
            length: 118,
            offset: 1_101_118,
            line_bases: 8,
            line_width: 8_388_888_888_888_888_888,
        };
        let g = Genome::with_records(&fa, Data::Memory(b">c\nACGT\n".to_vec()), vec![r], None);
        assert!(g.is_err());
    }

    #[test]
    fn fetch_matches_naive_slicing_everywhere() {
        let seq: Vec<u8> = (0..103).map(|i| b"ACGTacgtNR"[i * 7 % 10]).collect();
        for width in [1usize, 3, 10, 60, 200] {
            for crlf in [false, true] {
                let mut fa = b">x desc\n".to_vec();
                for line in seq.chunks(width) {
                    fa.extend_from_slice(line);
                    fa.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
                let g = Genome::from_bytes(fa, "t.fa").unwrap();
                for s in 0..seq.len() as u64 {
                    for e in s..=seq.len() as u64 {
                        let want = &seq[s as usize..e as usize];
                        assert_eq!(g.fetch("x", s, e).unwrap(), want);
                        let mut rc = b"pre".to_vec();
                        g.fetch_reverse_complement_into(0, s, e, &mut rc).unwrap();
                        assert_eq!(&rc[..3], b"pre");
                        assert_eq!(rc[3..], crate::seq::reverse_complement(want));
                    }
                }
            }
        }
    }

    #[test]
    fn trailing_spaces_are_not_bases() {
        let g = Genome::from_bytes(b">a\nACG \nAC\n".to_vec(), "t.fa").unwrap();
        assert_eq!(g.fetch("a", 0, 5).unwrap(), b"ACGAC");
    }

    #[test]
    fn mmap_uses_fresh_fai_and_rejects_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let fa = dir.path().join("g.fa");
        std::fs::write(&fa, b">a\nACGT\nAC\n").unwrap();
        let g = Genome::open(&fa).unwrap();
        assert!(!g.is_in_memory());
        assert_eq!(g.fetch("a", 2, 6).unwrap(), b"GTAC");
        // An index for another file: detected, not trusted.
        std::fs::write(fai_path_for(&fa), "a\t6\t4\t4\t5\n").unwrap();
        let e = Genome::open(&fa).err().unwrap().to_string();
        assert!(e.contains("does not match"), "{e}");
    }
}
