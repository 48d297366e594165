//! The FIMO-style sites TSV of `heads`/`interactions`/`validate --sites`: every site read
//! must name a known motif and lie inside its sequence.
#![no_main]
use cisformer::motif::{Motif, fimo::parse_sites};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let motifs: Vec<Motif> = ["MA0001.1", "M2"]
        .iter()
        .map(|id| Motif {
            id: id.to_string(),
            name: String::new(),
            probs: vec![[0.25; 4]; 4],
            nsites: 20.0,
            url: None,
        })
        .collect();
    let seqs = vec![("seq1".to_string(), 30), ("chr2:5-20".to_string(), 15)];
    if let Ok(sites) = parse_sites(data, "fuzz.tsv".as_ref(), &seqs, &motifs) {
        assert_eq!(sites.len(), seqs.len());
        for (per_seq, (_, len)) in sites.iter().zip(&seqs) {
            for s in per_seq {
                assert!(s.motif < motifs.len() && s.start < s.end && s.end <= *len);
            }
        }
    }
});
