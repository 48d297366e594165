//! Motif files: format detection and each of the MEME, JASPAR, TRANSFAC and HOMER
//! parsers, the MEME background parser, and then what every command does with a parsed
//! motif (build its PSSM with exact p-values and scan with it).
#![no_main]
use cisformer::motif::{self, Background, FIMO_PSEUDOCOUNT, Format, Pssm, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Background::parse(text, "fuzz.bg");
    for format in [
        Format::Meme,
        Format::Jaspar,
        Format::Transfac,
        Format::Homer,
    ] {
        let _ = motif::parse_str(text, "fuzz.txt", Some(format));
    }
    let Ok(file) = motif::parse_str(text, "fuzz.txt", None) else {
        return;
    };
    let bg = file
        .background
        .map_or_else(Background::uniform, Background::from_freqs);
    for m in file.motifs.iter().take(4) {
        let pssm = Pssm::with_threshold(m, &bg, FIMO_PSEUDOCOUNT, 1e-4);
        let _ = scan::scan_sequence(&pssm, b"ACGTNACGTTTGACGCAGGATTACAacgt", 1e-4, true);
        let _ = m.consensus();
    }
});
