//! Properties checked on random inputs (proptest): `extract` follows `bedtools getfasta`
//! semantics, raising a scan threshold never loses a hit, and merged shards give the bytes
//! of one unsharded run.
use cisformer::{
    analysis::{
        SeqAttention, Shard, Site, TokenGeometry,
        heads::{HeadAccumulator, HeadConfig, write_focus_tsv, write_heads_tsv},
        interactions::{
            InteractionAccumulator, InteractionConfig, write_interactions_tsv,
            write_pair_summary_tsv,
        },
    },
    extract::{Options, extract},
    io::fasta::Genome,
    motif::{Background, FIMO_PSEUDOCOUNT, Motif, Pssm, scan},
};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// extract = bedtools getfasta

/// One contig of a random genome: its bases and the width its FASTA lines wrap at.
#[derive(Clone, Debug)]
struct Contig {
    seq: Vec<u8>,
    width: usize,
}

/// One BED line: contig (an index past the genome's contigs names an unknown one),
/// coordinates, and how many columns it has (3, 4 or 6).
#[derive(Clone, Debug)]
struct Line {
    contig: usize,
    start: u64,
    end: u64,
    columns: usize,
    strand: char,
}

fn contig() -> impl Strategy<Value = Contig> {
    (
        proptest::collection::vec(proptest::sample::select(b"ACGTNacgtn".to_vec()), 1..60),
        1usize..16,
    )
        .prop_map(|(seq, width)| Contig { seq, width })
}

/// A BED line on a genome of contigs of `lens`: one line in ten names an unknown contig,
/// and coordinates reach a little past the contig's end, so some lines are skipped.
fn line(lens: Vec<u64>) -> impl Strategy<Value = Line> {
    let n = lens.len();
    (
        prop_oneof![9 => 0..n, 1 => Just(n)],
        any::<u64>(),
        0u64..12,
        proptest::sample::select(vec![3usize, 4, 6]),
        proptest::sample::select(vec!['+', '-', '.']),
    )
        .prop_map(move |(contig, at, len, columns, strand)| {
            let start = at % (lens.get(contig).copied().unwrap_or(10) + 3);
            Line {
                contig,
                start,
                end: start + len,
                columns,
                strand,
            }
        })
}

fn name(i: usize) -> String {
    format!("c{i}")
}

fn fasta(contigs: &[Contig]) -> Vec<u8> {
    let mut fa = Vec::new();
    for (i, c) in contigs.iter().enumerate() {
        fa.extend_from_slice(format!(">{} some description\n", name(i)).as_bytes());
        for l in c.seq.chunks(c.width) {
            fa.extend_from_slice(l);
            fa.push(b'\n');
        }
    }
    fa
}

fn bed(lines: &[Line]) -> Vec<u8> {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(&format!("{}\t{}\t{}", name(l.contig), l.start, l.end));
        if l.columns >= 4 {
            out.push_str(&format!("\tr{i}"));
        }
        if l.columns >= 6 {
            out.push_str(&format!("\t0\t{}", l.strand));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn reverse_complement(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|&b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            b'a' => b't',
            b'c' => b'g',
            b'g' => b'c',
            b't' => b'a',
            other => other,
        })
        .collect()
}

/// What `bedtools getfasta` writes (0-based half-open intervals, `-s`, `-name`, with
/// `bedtools slop -b` for the flank), or the 1-based line that stops it: an unknown
/// contig, or with `strict` an interval bedtools would skip (past the end, or empty).
fn getfasta(contigs: &[Contig], lines: &[Line], opts: &Options) -> Result<Vec<u8>, usize> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(c) = contigs.get(l.contig) else {
            return Err(i + 1);
        };
        let len = c.seq.len() as u64;
        if l.end > len || l.start == l.end {
            if opts.strict {
                return Err(i + 1);
            }
            continue;
        }
        let start = l.start.saturating_sub(opts.flank);
        let end = (l.end + opts.flank).min(len);
        out.push(b'>');
        if opts.name {
            out.extend_from_slice(format!("r{i}::").as_bytes());
        }
        out.extend_from_slice(format!("{}:{start}-{end}", name(l.contig)).as_bytes());
        let strand = if l.columns >= 6 {
            l.strand.to_string()
        } else {
            String::new()
        };
        if opts.strand {
            out.extend_from_slice(format!("({strand})").as_bytes());
        }
        out.push(b'\n');
        let bases = &c.seq[start as usize..end as usize];
        if opts.strand && strand == "-" {
            out.extend_from_slice(&reverse_complement(bases));
        } else {
            out.extend_from_slice(bases);
        }
        out.push(b'\n');
    }
    Ok(out)
}

fn genome_and_lines() -> impl Strategy<Value = (Vec<Contig>, Vec<Line>)> {
    proptest::collection::vec(contig(), 1..4).prop_flat_map(|contigs| {
        let lens = contigs.iter().map(|c| c.seq.len() as u64).collect();
        (Just(contigs), proptest::collection::vec(line(lens), 0..12))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn extract_is_bedtools_getfasta(
        (contigs, lines) in genome_and_lines(),
        strand: bool,
        strict: bool,
        flank in proptest::sample::select(vec![0u64, 1, 5, 100]),
        named: bool,
    ) {
        // -name needs column 4 on every line; bedtools' header without it is not ours to guess.
        let lines: Vec<Line> = lines
            .into_iter()
            .map(|l| Line { columns: if named { l.columns.max(4) } else { l.columns }, ..l })
            .collect();
        let opts = Options { strand, name: named, flank, strict };
        let genome = Genome::from_bytes(fasta(&contigs), "g.fa").unwrap();
        let mut out = Vec::new();
        let got = extract(&genome, &bed(&lines), "r.bed".as_ref(), &opts, &mut out, "-".as_ref());
        match getfasta(&contigs, &lines, &opts) {
            Ok(want) => {
                prop_assert!(got.is_ok(), "{:?}", got.err());
                prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(want).unwrap());
            }
            Err(line) => {
                let e = got.expect_err("extract accepted a BED that bedtools semantics refuse");
                let msg = e.to_string();
                prop_assert!(msg.starts_with(&format!("r.bed:{line}: ")), "{}", msg);
                prop_assert!(out.is_empty(), "nothing is written before the BED is checked");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// scan thresholds are monotone

fn motif() -> impl Strategy<Value = Motif> {
    proptest::collection::vec(proptest::array::uniform4(0u32..100), 1..12).prop_map(|rows| Motif {
        id: "M".into(),
        name: "m".into(),
        probs: rows
            .into_iter()
            .map(|r| {
                let total = f64::from(r.iter().sum::<u32>().max(1));
                if r.iter().all(|&x| x == 0) {
                    [0.25; 4]
                } else {
                    r.map(|x| f64::from(x) / total)
                }
            })
            .collect(),
        nsites: 20.0,
        url: None,
    })
}

/// Hits as comparable keys: window, strand and exact integer score.
fn keys(hits: &[scan::Hit]) -> Vec<(usize, bool, i32)> {
    hits.iter().map(|h| (h.start, h.plus, h.scaled)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_higher_scan_threshold_never_loses_a_hit(
        m in motif(),
        seq in proptest::collection::vec(proptest::sample::select(b"ACGTNacgt".to_vec()), 0..300),
        lo_exp in 1.0f64..8.0,
        ratio in 1.0f64..1000.0,
        both: bool,
    ) {
        let lo = 10f64.powf(-lo_exp);
        let hi = (lo * ratio).min(1.0);
        let pssm = Pssm::new(&m, &Background::uniform(), FIMO_PSEUDOCOUNT);
        let strict = scan::scan_sequence(&pssm, &seq, lo, both);
        let loose = scan::scan_sequence(&pssm, &seq, hi, both);
        let (strict_keys, loose_keys) = (keys(&strict), keys(&loose));
        for k in &strict_keys {
            prop_assert!(loose_keys.contains(k), "{:?} found at p {} but not at p {}", k, lo, hi);
        }
        for h in &strict {
            prop_assert!(h.pvalue <= lo, "hit p {} above the threshold {}", h.pvalue, lo);
        }
        for (h, k) in loose.iter().zip(&loose_keys) {
            prop_assert!(h.pvalue <= hi, "hit p {} above the threshold {}", h.pvalue, hi);
            // What the stricter scan left out is above its threshold.
            if !strict_keys.contains(k) {
                prop_assert!(h.pvalue > lo, "hit p {} missed at threshold {}", h.pvalue, lo);
            }
        }
        // A PSSM that tabulates only the tail up to `hi` finds the same hits at `lo`.
        let tail = Pssm::with_threshold(&m, &Background::uniform(), FIMO_PSEUDOCOUNT, hi);
        prop_assert_eq!(keys(&scan::scan_sequence(&tail, &seq, lo, both)), keys(&strict));
    }
}

// ---------------------------------------------------------------------------------------
// merge(shards) = one unsharded run

const LAYERS: usize = 2;
const HEADS: usize = 2;
const MOTIFS: usize = 3;

fn geometry(len: usize) -> TokenGeometry {
    TokenGeometry {
        k: 3,
        stride: 1,
        n_specials_before: 1,
        seq_len_bp: len,
        has_sep: true,
    }
}

/// A random sequence's attention (rows sum to 1) and sorted motif sites, from `seed`.
fn sequence(seed: u64, idx: usize) -> (SeqAttention, Vec<Site>, TokenGeometry) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(idx as u64);
    let len = rng.random_range(20..60usize);
    let g = geometry(len);
    let n = g.n_tokens();
    let mut attn = vec![0f32; LAYERS * HEADS * n * n];
    for row in attn.chunks_mut(n) {
        row.iter_mut()
            .for_each(|v| *v = rng.random::<f32>().powi(3) + 1e-3);
        let sum: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= sum);
    }
    let mut sites: Vec<Site> = (0..rng.random_range(0..6usize))
        .map(|_| {
            let w = rng.random_range(4..8usize);
            let start = rng.random_range(0..len - w);
            Site {
                motif: rng.random_range(0..MOTIFS),
                start,
                end: start + w,
                plus: rng.random(),
            }
        })
        .collect();
    sites.sort_by_key(|s| (s.start, s.end, s.motif, !s.plus));
    sites.dedup();
    let a = SeqAttention {
        seq_index: idx,
        n_tokens: n,
        n_layers: LAYERS,
        n_heads: HEADS,
        attn,
    };
    (a, sites, g)
}

fn accumulators(shard: Option<Shard>) -> (HeadAccumulator, InteractionAccumulator) {
    let mut hc = HeadConfig::new(LAYERS, HEADS);
    hc.motif_names = (0..MOTIFS).map(|m| format!("M{m}")).collect();
    let mut ic = InteractionConfig::new(LAYERS, HEADS);
    ic.top_site_pairs = 20;
    let (mut h, mut i) = (HeadAccumulator::new(hc), InteractionAccumulator::new(ic));
    if let Some(s) = shard {
        h.set_shard(s);
        i.set_shard(s);
    }
    (h, i)
}

/// The tables `heads` and `interactions` write.
fn tables(h: &HeadAccumulator, i: &InteractionAccumulator) -> Vec<String> {
    let names: Vec<String> = (0..MOTIFS).map(|m| format!("M{m}")).collect();
    let mut out = vec![Vec::new(); 4];
    write_heads_tsv(&mut out[0], &h.finish(), &names).unwrap();
    write_focus_tsv(&mut out[1], &h.finish_focus(), &names).unwrap();
    let rows = i.finish();
    write_interactions_tsv(&mut out[2], &rows, &names).unwrap();
    write_pair_summary_tsv(&mut out[3], &i.finish_pairs(&rows), &names).unwrap();
    out.into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn merged_shards_are_the_unsharded_run(
        seed: u64,
        n_seqs in 1usize..14,
        n_shards in 1usize..5,
        order in any::<proptest::sample::Index>(),
    ) {
        let inputs: Vec<_> = (0..n_seqs).map(|i| sequence(seed, i)).collect();
        let (mut h, mut it) = accumulators(None);
        for (a, s, g) in &inputs {
            h.add(a, s, g).unwrap();
            it.add(a, s, g).unwrap();
        }
        let want = tables(&h, &it);

        // Each shard goes through its partial file, as `--shard` and `merge` do.
        let dir = tempfile::tempdir().unwrap();
        for k in 1..=n_shards {
            let shard: Shard = format!("{k}/{n_shards}").parse().unwrap();
            let (mut h, mut it) = accumulators(Some(shard));
            for (a, s, g) in inputs.iter().filter(|x| shard.contains(x.0.seq_index)) {
                h.add(a, s, g).unwrap();
                it.add(a, s, g).unwrap();
            }
            h.save_partial(&dir.path().join(format!("h{k}.json"))).unwrap();
            it.save_partial(&dir.path().join(format!("i{k}.json"))).unwrap();
        }
        // Merge starting from any shard, then the rest in order.
        let first = order.index(n_shards) + 1;
        let load = |k: usize| {
            (
                HeadAccumulator::load_partial(&dir.path().join(format!("h{k}.json"))).unwrap(),
                InteractionAccumulator::load_partial(&dir.path().join(format!("i{k}.json")))
                    .unwrap(),
            )
        };
        let (mut mh, mut mi) = load(first);
        for k in (1..=n_shards).filter(|&k| k != first) {
            let (h, i) = load(k);
            mh.merge(h).unwrap();
            mi.merge(i).unwrap();
        }
        prop_assert!(mh.is_complete() && mi.is_complete());
        let got = tables(&mh, &mi);
        for (w, g) in want.iter().zip(&got) {
            prop_assert_eq!(w, g);
        }
    }
}
