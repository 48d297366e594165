//! BED: the interval reader, and `extract` (its own parser, then the genome fetches) on a
//! fixed genome with options taken from the first byte.
#![no_main]
use std::sync::OnceLock;

use cisformer::{
    extract::{Options, extract},
    io::{
        bed::{Interval, Reader},
        fasta::Genome,
    },
};
use libfuzzer_sys::fuzz_target;

fn genome() -> &'static Genome {
    static G: OnceLock<Genome> = OnceLock::new();
    G.get_or_init(|| {
        Genome::from_bytes(
            b">chr1\nACGTACGTAC\nGTAC\n>chr2\nacgtnNNA\n>chr3\nT\n".to_vec(),
            "g.fa",
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bed)) = data.split_first() else {
        return;
    };
    let mut reader = Reader::new(bed, "fuzz.bed");
    let mut iv = Interval::default();
    while let Ok(true) = reader.read_interval(&mut iv) {}
    let opts = Options {
        strand: flags & 1 != 0,
        name: flags & 2 != 0,
        strict: flags & 4 != 0,
        // Small flanks, and flanks near u64::MAX that must saturate at the contig ends.
        flank: if flags & 0x80 != 0 {
            u64::MAX - u64::from(flags & 0x78)
        } else {
            u64::from(flags >> 3)
        },
    };
    let mut out = Vec::new();
    let _ = extract(
        genome(),
        bed,
        "fuzz.bed".as_ref(),
        &opts,
        &mut out,
        "-".as_ref(),
    );
});
