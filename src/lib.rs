//! cisformer: regulatory genomics with inspectable Transformer attention.
//!
//! The library reads genomes and intervals ([`io`]), and every later stage
//! (tokenizer, motif scanning, [`model`], [`train`], [`predict`], [`surgery`], analysis)
//! builds on those readers. The command-line front end lives in the binary; nothing here
//! prints.

pub mod alloc;
pub mod analysis;
pub mod baseline;
pub mod error;
pub mod extract;
pub mod io;
pub mod model;
pub mod model_dir;
pub mod motif;
pub mod predict;
pub mod report;
pub mod seq;
pub mod simulate;
pub mod stats;
pub mod surgery;
pub mod tokenizer;
pub mod train;
pub mod validate;

pub use error::{Error, Result};
