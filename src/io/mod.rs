//! Readers and writers for the file formats cisformer consumes and produces.
//!
//! Every reader accepts plain or gzip-compressed input (detected by magic bytes,
//! so `.gz` naming is not required; bgzip is multi-member gzip and reads the same),
//! and every writer goes through [`output::Output`], which never leaves a
//! half-written file behind.

pub mod bed;
pub mod digest;
pub mod fasta;
pub mod frame;
pub mod output;
pub mod tables;
pub mod tsv;

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

use flate2::read::MultiGzDecoder;

use crate::{Error, Result};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for buffered reading, transparently decompressing gzip/bgzip.
/// `-` reads standard input.
pub fn open_input(path: impl AsRef<Path>) -> Result<Box<dyn BufRead + Send>> {
    let path = path.as_ref();
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| Error::io(path, e))?)
    };
    let mut buffered = BufReader::with_capacity(1 << 16, raw);
    let head = buffered.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(buffered),
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Whether the file at `path` starts with the gzip magic bytes.
pub fn is_gzip(path: impl AsRef<Path>) -> Result<bool> {
    let path = path.as_ref();
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = read_up_to(&mut f, &mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

/// Whether the file at `path` is bgzip (BGZF): its first gzip member carries the `BC`
/// extra field that samtools' random access needs.
pub fn is_bgzf(path: impl AsRef<Path>) -> Result<bool> {
    let path = path.as_ref();
    let mut head = [0u8; 14];
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
    Ok(n == 14 && head[..2] == GZIP_MAGIC && head[3] & 4 != 0 && &head[12..14] == b"BC")
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
