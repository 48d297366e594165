//! FASTA: the sequential reader, the `.fai` builder and random access through it.
#![no_main]
use cisformer::io::fasta::{Genome, Reader, Record, fai};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data, "fuzz.fa");
    let mut rec = Record::default();
    while let Ok(true) = reader.read_record(&mut rec) {}
    // The index is built from chunks in `Genome::open`; feed odd-sized ones.
    let _ = fai::build_from_reader(std::io::BufReader::with_capacity(7, data), "fuzz.fa");
    let Ok(genome) = Genome::from_bytes(data.to_vec(), "fuzz.fa") else {
        return;
    };
    let mut out = Vec::new();
    for (i, r) in genome.contigs().iter().enumerate() {
        let len = genome.contig_len(i);
        let _ = genome.fetch(&r.name, 0, len);
        let _ = genome.fetch(&r.name, len / 3, len);
        let _ = genome.fetch_reverse_complement_into(i, len / 2, len, &mut out);
        // Past the end must be an error, never a panic.
        assert!(genome.fetch(&r.name, len, len + 1).is_err());
        genome.prefetch(i, 0, len);
    }
});
