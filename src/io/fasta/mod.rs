//! FASTA: sequential records ([`Reader`]), the `.fai` index ([`fai`]) and random
//! access to genomes ([`Genome`]).

pub mod fai;
mod genome;
mod reader;
mod record;

pub use genome::{Genome, fai_path_for};
pub use reader::{Reader, read_all};
pub use record::Record;
