//! FASTA: sequential records ([`Reader`]), and (elsewhere in this module tree)
//! the `.fai` index and random access to genomes.

mod reader;
mod record;

pub use reader::{Reader, read_all};
pub use record::Record;
