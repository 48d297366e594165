//! One FASTA record.

/// A FASTA record: the header split into name and description, and the sequence
/// with line breaks removed. Case is preserved (soft-masking carries meaning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// First whitespace-delimited word of the header (what FIMO and samtools call the name).
    pub name: String,
    /// The rest of the header after the first run of whitespace (may be empty).
    pub description: String,
    /// Sequence bytes, as written (no case folding, no validation).
    pub seq: Vec<u8>,
}

impl Record {
    /// Builds a record from a name and sequence.
    ///
    /// ```
    /// let r = cisformer::io::fasta::Record::new("chr1", b"ACGT".to_vec());
    /// assert_eq!(r.seq.len(), 4);
    /// ```
    pub fn new(name: impl Into<String>, seq: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            seq,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.name.clear();
        self.description.clear();
        self.seq.clear();
    }
}
