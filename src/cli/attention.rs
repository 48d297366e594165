//! What `heads` and `interactions` share: a model, sequences, motif sites, and a loop
//! that feeds each batch's attention to the analysis accumulators.
use std::{collections::HashMap, path::PathBuf};

use anyhow::Context;
use cisformer::{
    analysis::{SeqAttention, Shard, Site, TokenGeometry, interactions::Score},
    io::fasta::{self, Record},
    model::{ForwardOptions, Meta, Model},
    motif::{self, Background, Motif, Pssm, scan},
};
use rayon::prelude::*;

/// Model, sequences and motifs of an attention analysis.
#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// Model directory written by `train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Sequences to analyse (FASTA, plain or gzip).
    #[arg(long, value_name = "FA")]
    pub fasta: PathBuf,
    /// Motifs (MEME, JASPAR, TRANSFAC, HOMER) [default: the embedded simulator motifs].
    #[arg(long, value_name = "FILE")]
    pub motifs: Option<PathBuf>,
    /// Sites from a FIMO-style TSV (`cisformer scan` or FIMO --text) instead of scanning.
    #[arg(long, value_name = "TSV")]
    pub sites: Option<PathBuf>,
    /// Scanning p-value threshold (FIMO's, uniform background).
    #[arg(long, default_value_t = 1e-4, value_name = "P")]
    pub thresh: f64,
    /// Process every N-th sequence: `i/N` (1-based) writes a partial state for `merge`.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<Shard>,
    /// Sequences per forward pass (memory grows with batch x heads x tokens²).
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Seed of the null placements.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compute device.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
}

pub struct Input {
    pub model: Model,
    pub meta: Meta,
    pub records: Vec<Record>,
    pub motifs: Vec<Motif>,
    /// Motif names for tables: the JASPAR-style name when there is one, else the ID.
    pub names: Vec<String>,
    pub sites: Vec<Vec<Site>>,
}

impl InputArgs {
    pub fn load(&self) -> anyhow::Result<Input> {
        super::check_device(&self.device)?;
        anyhow::ensure!(self.batch_size > 0, "--batch-size must be at least 1");
        let (model, meta) = Model::load(&self.model)?;
        let records = fasta::read_all(&self.fasta)?;
        anyhow::ensure!(
            !records.is_empty(),
            "{}: no FASTA records",
            self.fasta.display()
        );
        let k = model.config().k;
        if let Some(r) = records.iter().find(|r| r.seq.len() < k) {
            anyhow::bail!(
                "{}: sequence '{}' is {} bp, shorter than the model's k = {k}",
                self.fasta.display(),
                r.name,
                r.seq.len()
            );
        }
        let motifs = match &self.motifs {
            Some(p) => motif::load(p, None)?.motifs,
            None => cisformer::simulate::default_motifs()?,
        };
        let names = motif_names(&motifs);
        let sites = match &self.sites {
            Some(p) => read_sites(p, &records, &motifs)?,
            None => scan_sites(&records, &motifs, self.thresh),
        };
        Ok(Input {
            model,
            meta,
            records,
            motifs,
            names,
            sites,
        })
    }
}

/// Names shown in tables; repeated names get their ID appended so rows stay distinct.
pub fn motif_names(motifs: &[Motif]) -> Vec<String> {
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

/// Every hit of every motif in every sequence (both strands), sorted by position.
pub fn scan_sites(records: &[Record], motifs: &[Motif], thresh: f64) -> Vec<Vec<Site>> {
    let bg = Background::uniform();
    let pssms: Vec<Pssm> = motifs.iter().map(|m| Pssm::new(m, &bg, 0.1)).collect();
    // One scanner per motif, shared by all sequences (building it is the costly part).
    let scanners: Vec<scan::Scanner> = pssms
        .iter()
        .map(|p| scan::Scanner::new(p, thresh, true))
        .collect();
    records
        .par_iter()
        .map(|r| {
            let mut sites: Vec<Site> = scanners
                .iter()
                .enumerate()
                .flat_map(|(mi, sc)| {
                    sc.scan(&r.seq).into_iter().map(move |h| Site {
                        motif: mi,
                        start: h.start,
                        end: h.end,
                        plus: h.plus,
                    })
                })
                .collect();
            sites.sort_by_key(|s| (s.start, s.end, s.motif, !s.plus));
            sites
        })
        .collect()
}

/// Sites from a FIMO-style TSV (1-based inclusive coordinates).
fn read_sites(
    path: &std::path::Path,
    records: &[Record],
    motifs: &[Motif],
) -> anyhow::Result<Vec<Vec<Site>>> {
    use std::io::BufRead;
    let seq_index: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    let motif_index: HashMap<&str, usize> = motifs
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut out = vec![Vec::new(); records.len()];
    let reader = cisformer::io::open_input(path)?;
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{}", path.display()))?;
        let line = line.trim_end_matches('\r');
        if n == 0 && line.starts_with("motif_id") || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| anyhow::anyhow!("{}:{}: {msg}", path.display(), n + 1);
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            return Err(at(format!(
                "expected FIMO columns (motif_id motif_alt_id sequence_name start stop strand ...), found {} fields",
                f.len()
            )));
        }
        let Some(&mi) = motif_index.get(f[0]) else {
            return Err(at(format!("motif '{}' is not in the motif file", f[0])));
        };
        let Some(&si) = seq_index.get(f[2]) else {
            return Err(at(format!("sequence '{}' is not in the FASTA", f[2])));
        };
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| at(format!("'{s}' is not a position")))
        };
        let (start, stop) = (num(f[3])?, num(f[4])?);
        if start == 0 || stop < start || stop > records[si].seq.len() {
            return Err(at(format!(
                "site {start}-{stop} does not fit in '{}' ({} bp)",
                f[2],
                records[si].seq.len()
            )));
        }
        let plus = match f[5] {
            "+" => true,
            "-" => false,
            s => return Err(at(format!("strand '{s}' is not + or -"))),
        };
        out[si].push(Site {
            motif: mi,
            start: start - 1,
            end: stop,
            plus,
        });
    }
    for s in &mut out {
        s.sort_by_key(|s| (s.start, s.end, s.motif, !s.plus));
        s.dedup();
    }
    Ok(out)
}

/// Token geometry of a sequence of `len` bp under the model's tokenizer.
pub fn geometry(model: &Model, len: usize) -> TokenGeometry {
    let cfg = model.config();
    TokenGeometry {
        k: cfg.k,
        stride: cfg.stride,
        n_specials_before: 1,
        seq_len_bp: len,
        has_sep: true,
    }
}

/// One batch as the analysis accumulators take it: attention, sites, geometry.
pub type Item<'a> = (&'a SeqAttention, &'a [Site], &'a TokenGeometry);

/// Runs the model with attention over the sequences of `shard`, `batch` at a time, with a
/// progress bar named `what`, and hands each batch to `f` in input order. Returns the
/// number of sequences in the shard.
pub fn for_each_batch(
    input: &Input,
    shard: Shard,
    batch: usize,
    g: &super::Global,
    what: &str,
    scores: &[Score],
    mut f: impl FnMut(Score, &[Item]) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let tok = input.model.tokenizer();
    let idx: Vec<usize> = (0..input.records.len())
        .filter(|&i| shard.contains(i))
        .collect();
    let bar = super::progress_bar(
        g,
        idx.len() as u64,
        &format!("{what} {{elapsed_precise}} {{bar:30}} {{pos}}/{{len}} sequences"),
    );
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    let wants_grad = scores.contains(&Score::AttnGrad);
    for chunk in idx.chunks(batch) {
        let ids: Vec<Vec<u32>> = chunk
            .iter()
            .map(|&i| tok.encode(&input.records[i].seq))
            .collect();
        let (maps, grads) = if wants_grad {
            let (maps, grads) = input.model.attention_gradients(&ids, 0)?;
            (maps, Some(grads))
        } else {
            let out = input.model.forward(&ids, &opts)?;
            (
                out.attention.context("the model returned no attention")?,
                None,
            )
        };
        let geoms: Vec<TokenGeometry> = chunk
            .iter()
            .map(|&i| geometry(&input.model, input.records[i].seq.len()))
            .collect();
        let seq_att =
            |i: usize, m: &cisformer::model::AttentionMaps, values: Vec<f32>| SeqAttention {
                seq_index: i,
                n_tokens: m.len,
                n_layers: m.n_layers,
                n_heads: m.n_heads,
                attn: values,
            };
        for &score in scores {
            let atts: Vec<SeqAttention> = match (score, &grads) {
                (Score::AttnGrad, Some(grads)) => chunk
                    .iter()
                    .zip(maps.iter().zip(grads))
                    .map(|(&i, (m, gr))| {
                        let v = m.data.iter().zip(&gr.data).map(|(p, d)| p * d).collect();
                        seq_att(i, m, v)
                    })
                    .collect(),
                _ => chunk
                    .iter()
                    .zip(&maps)
                    .map(|(&i, m)| seq_att(i, m, m.data.clone()))
                    .collect(),
            };
            let items: Vec<Item> = atts
                .iter()
                .zip(&geoms)
                .map(|(a, geo)| (a, input.sites[a.seq_index].as_slice(), geo))
                .collect();
            f(score, &items)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(idx.len())
}
