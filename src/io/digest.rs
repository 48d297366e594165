//! A cheap content digest (FNV-1a, 64 bits) to tell inputs apart: stable across
//! platforms, not cryptographic, enough to catch a shard of another model or FASTA.
use std::{fs::File, io::Read, path::Path};

use crate::{Error, Result};

/// An FNV-1a digest fed field by field; each field ends with a separator, so
/// `("ab", "c")` and `("a", "bc")` differ.
#[derive(Clone, Copy, Debug)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// Adds one field.
    pub fn field(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
        self.bytes(&[0xff]);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Adds the contents of a file as one field.
    pub fn file(&mut self, path: &Path) -> Result<()> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            self.bytes(&buf[..n]);
        }
        self.bytes(&[0xff]);
        Ok(())
    }

    /// The digest as text, `fnv1a64:` and 16 hex digits.
    pub fn hex(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// The digest of a file's contents.
pub fn of_file(path: &Path) -> Result<String> {
    let mut d = Digest::default();
    d.file(path)?;
    Ok(d.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_separated() {
        let mut a = Digest::default();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Digest::default();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.hex(), b.hex());
        let mut c = Digest::default();
        c.field(b"ab");
        c.field(b"c");
        assert_eq!(a.hex(), c.hex());
    }
}
