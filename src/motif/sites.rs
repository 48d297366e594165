//! Motif sites as the attention analyses and the validation take them: found by
//! scanning here, or read from a FIMO table ([`super::fimo::read_sites`]).
use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Motif, scan::Scanner, uniform_pssms};
use crate::io::fasta::Record;

/// A motif site in sequence coordinates (0-based, half-open bp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Site {
    /// Index of the motif in its file.
    pub motif: usize,
    pub start: usize,
    pub end: usize,
    pub plus: bool,
}

/// The order every analysis expects sites of one sequence in: scanned and read sites
/// must agree on it, or the same sites would give other tables.
pub(crate) fn sort_sites(sites: &mut [Site]) {
    sites.sort_by_key(|s| (s.start, s.end, s.motif, !s.plus));
}

/// The sites of one sequence, one scanner per motif (both strands), in analysis order.
pub fn sites_in(scanners: &[Scanner<'_>], seq: &[u8]) -> Vec<Site> {
    let mut sites: Vec<Site> = scanners
        .iter()
        .enumerate()
        .flat_map(|(mi, sc)| {
            sc.scan(seq).into_iter().map(move |h| Site {
                motif: mi,
                start: h.start,
                end: h.end,
                plus: h.plus,
            })
        })
        .collect();
    sort_sites(&mut sites);
    sites
}

/// Every hit of every motif in every sequence (both strands, FIMO's p-value `thresh`
/// under a uniform background), by record.
pub fn scan_sites(records: &[Record], motifs: &[Motif], thresh: f64) -> Vec<Vec<Site>> {
    let pssms = uniform_pssms(motifs);
    // One scanner per motif, shared by all sequences (building it is the costly part).
    let scanners: Vec<Scanner> = pssms
        .iter()
        .map(|p| Scanner::new(p, thresh, true))
        .collect();
    records
        .par_iter()
        .map(|r| sites_in(&scanners, &r.seq))
        .collect()
}

/// Names shown in tables: the JASPAR-style name when there is one, else the ID; a
/// repeated name gets its ID appended so rows stay distinct.
pub fn display_names(motifs: &[Motif]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for m in motifs {
        *count.entry(display_name(m)).or_default() += 1;
    }
    motifs
        .iter()
        .map(|m| {
            let n = display_name(m);
            if count[n] > 1 {
                format!("{n}({})", m.id)
            } else {
                n.to_string()
            }
        })
        .collect()
}

fn display_name(m: &Motif) -> &str {
    if m.name.is_empty() { &m.id } else { &m.name }
}
