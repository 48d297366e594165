//! `.fai` text, read beside a FASTA (the input's part after the first NUL byte; before it
//! is the FASTA, or a fixed two-contig genome when there is no NUL). A foreign index must
//! be refused, never followed out of the file.
#![no_main]
use std::sync::OnceLock;

use cisformer::io::fasta::{Genome, fai};
use libfuzzer_sys::fuzz_target;

const GENOME: &[u8] = b">chr1 test\nACGTACGTAC\nGTACGTAC\n>chr2\r\nacgtn\r\nNN\r\n>chr3\nA\n";

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let (fasta, index) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (GENOME, data),
    };
    if let Ok(text) = std::str::from_utf8(index) {
        let _ = fai::parse_fai(text, "fuzz.fai");
    }
    let fa = dir().path().join("g.fa");
    std::fs::write(&fa, fasta).unwrap();
    // Written after the FASTA, so the index is fresh and is read rather than rebuilt.
    std::fs::write(dir().path().join("g.fa.fai"), index).unwrap();
    let Ok(genome) = Genome::open(&fa) else {
        return;
    };
    let mut out = Vec::new();
    for (i, r) in genome.contigs().iter().enumerate() {
        let len = genome.contig_len(i);
        let _ = genome.fetch(&r.name, 0, len);
        let _ = genome.fetch_reverse_complement_into(i, len / 2, len, &mut out);
        let _ = genome.fetch(&r.name, len, len.saturating_add(1));
    }
});
