//! Transcription-factor motifs: position weight matrices, their file formats,
//! log-odds scoring with exact p-values, and the genome scanner.

/// Index of a base in every per-position array: A, C, G, T.
pub const ALPHABET: [u8; 4] = *b"ACGT";

/// A motif as a position probability matrix over A, C, G, T.
///
/// Every row sums to 1. Parsers convert counts to probabilities and keep the
/// number of sites (`nsites`), which FIMO's pseudocount smoothing needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Motif {
    /// Identifier (MEME `MOTIF <id>`, JASPAR matrix ID such as `MA0004.1`).
    pub id: String,
    /// Alternative name (`Arnt`); may be empty.
    pub name: String,
    /// One row per motif position: probabilities of A, C, G, T.
    pub probs: Vec<[f64; 4]>,
    /// Number of sites the matrix was built from (nominal when column sums vary).
    pub nsites: f64,
    /// Optional URL line from MEME files.
    pub url: Option<String>,
}

impl Motif {
    /// Motif width in base pairs.
    pub fn width(&self) -> usize {
        self.probs.len()
    }
}
