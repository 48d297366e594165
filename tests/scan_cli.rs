//! End-to-end tests of `cisformer scan` on the real binary: byte-identical to FIMO 5.4.1
//! (goldens from tests/oracle/make_fimo_goldens.sh, real JASPAR 2024 motifs × E. coli
//! sequences) and a bad-input matrix.
use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;
use common::{cisformer, ok};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn data(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/data/motif").join(name)
}

fn jaspar_meme() -> PathBuf {
    Path::new(ROOT).join("data/motifs/JASPAR2024_CORE_vertebrates_nr.meme")
}

fn gunzip(path: &Path) -> String {
    String::from_utf8(common::gunzip(path)).unwrap()
}

fn scan(fasta: &Path, flags: &[&str]) -> String {
    ok(cisformer()
        .args(["scan", "-q", "-m"])
        .arg(jaspar_meme())
        .arg("-f")
        .arg(fasta)
        .args(flags))
}

/// Compares with a FIMO golden; on mismatch shows the first differing row.
fn assert_same(ours: &str, golden: &str) {
    if ours != golden {
        let (a, b): (Vec<_>, Vec<_>) = (ours.lines().collect(), golden.lines().collect());
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "differs from FIMO at row {i} (ours {} rows, FIMO {}):\n ours: {:?}\n fimo: {:?}",
            a.len(),
            b.len(),
            a.get(i),
            b.get(i)
        );
    }
}

#[test]
fn all_jaspar_motifs_match_fimo_byte_for_byte() {
    let ours = scan(&data("fimo_input.fa"), &[]);
    let golden = gunzip(&data("fimo_p1e-4.tsv.gz"));
    assert_eq!(golden.lines().count(), 2141);
    assert_same(&ours, &golden);
}

#[test]
fn options_match_fimo_on_sequences_with_n_iupac_and_lowercase() {
    let fa = data("mixed.fa");
    let bg = data("bg_at.txt");
    let bg = bg.to_str().unwrap();
    for (golden, flags) in [
        ("mixed_p1e-3", vec!["--thresh", "1e-3"]),
        ("mixed_norc", vec!["--norc"]),
        ("mixed_bg", vec!["--bg", bg]),
        ("mixed_bg_norc", vec!["--bg", bg, "--norc"]),
        ("mixed_pseudo0", vec!["--motif-pseudo", "0"]),
        (
            "mixed_pseudo1_sel",
            vec![
                "--thresh",
                "1e-2",
                "--motif-pseudo",
                "1",
                "--motif",
                "MA0004.1",
                "--motif",
                "MA0002.3",
            ],
        ),
    ] {
        let ours = scan(&fa, &flags);
        let want = gunzip(&data(&format!("{golden}.tsv.gz")));
        assert!(want.lines().count() > 10, "{golden}");
        assert_same(&ours, &want);
    }
}

#[test]
fn thread_count_does_not_change_output() {
    let fa = data("mixed.fa");
    let one = scan(&fa, &["-j", "1", "--thresh", "1e-3"]);
    let two = scan(&fa, &["-j", "3", "--thresh", "1e-3"]);
    assert_eq!(one, two);
}

#[test]
fn jaspar_gzip_input_qvalues_and_bed() {
    let dir = tempfile::tempdir().unwrap();
    // A gzipped JASPAR file with one motif.
    let jaspar = ">MA0004.1\tArnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n";
    let gz = dir.path().join("arnt.jaspar.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        e.write_all(jaspar.as_bytes()).unwrap();
        e.finish().unwrap();
    }
    let fa = dir.path().join("s.fa");
    std::fs::write(&fa, ">s1 x\nTTCACGTGAANNCACGTG\n>s2\nCACGTN\n").unwrap();
    let out = dir.path().join("o.tsv");
    let bed = dir.path().join("o.bed");
    cisformer()
        .args(["scan", "-q", "--thresh", "1e-3", "--qvalues", "-m"])
        .arg(&gz)
        .arg("-f")
        .arg(&fa)
        .arg("-o")
        .arg(&out)
        .arg("--bed-out")
        .arg(&bed)
        .assert()
        .success();
    let tsv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{tsv}");
    assert_eq!(&rows[0][..6], ["MA0004.1", "Arnt", "s1", "3", "8", "+"]);
    assert_eq!(rows[0][6], "11.55");
    assert_eq!(rows[0][7], "0.000244");
    // BH: 4 hits with p = 1/4096 among 2 strands × 6 scorable windows (the NN blocks 7 of
    // s1's 13 windows; s2's only window has an N): q = p · 12 / 4.
    assert_eq!(rows[0][8], "0.000732");
    assert_eq!(&rows[3][..6], ["MA0004.1", "Arnt", "s1", "13", "18", "-"]);
    let bed = std::fs::read_to_string(&bed).unwrap();
    assert_eq!(bed.lines().next().unwrap(), "s1\t2\t8\tMA0004.1\t36\t+");
    assert_eq!(bed.lines().count(), 4);
}

/// Runs scan with the given motif text and expects exit 1 with `needle` in stderr.
fn fails_with(motifs: &str, name: &str, extra: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join(name);
    std::fs::write(&m, motifs).unwrap();
    let fa = dir.path().join("s.fa");
    std::fs::write(&fa, ">s\nACGTACGTACGT\n").unwrap();
    let out = cisformer()
        .arg("scan")
        .arg("-m")
        .arg(&m)
        .arg("-f")
        .arg(&fa)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "{name}: expected {needle:?} in {err:?}"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let arnt = ">MA0004.1\tArnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n";
    fails_with("", "empty.meme", &[], "empty.meme:1: empty motif file");
    fails_with(
        ">seq\nACGTTGCA\n",
        "seqs.fa",
        &[],
        "seqs.fa:2: this looks like FASTA",
    );
    fails_with(
        "hello\nworld\n",
        "x.txt",
        &[],
        "x.txt:1: unrecognised motif format",
    );
    fails_with(
        ">a\tb\nA [1 2 3]\nC [1 2]\nG [1 2 3]\nT [1 2 3]\n",
        "ragged.jaspar",
        &[],
        "ragged.jaspar:3: motif a: ragged rows",
    );
    fails_with(
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n3 1 0 0\n",
        "sum.meme",
        &[],
        "sum.meme:8: row sums to 4",
    );
    fails_with(
        "MEME version 4\n\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n\nMOTIF x\n",
        "prot.meme",
        &[],
        "prot.meme:3: unknown alphabet",
    );
    fails_with(
        arnt,
        "a.jaspar",
        &["--motif", "MA9999.1"],
        "a.jaspar: unknown motif ID 'MA9999.1'",
    );
    fails_with(
        arnt,
        "a.jaspar",
        &["--bg-from-motifs"],
        "states no background",
    );
    fails_with(
        arnt,
        "a.jaspar",
        &["--format", "transfac"],
        "no motifs found",
    );
    fails_with(
        arnt,
        "a.jaspar",
        &["--thresh", "0"],
        "--thresh must be in (0, 1]",
    );
    fails_with(
        arnt,
        "a.jaspar",
        &["--bg", "/nonexistent/bg.txt"],
        "/nonexistent/bg.txt",
    );
}

#[test]
fn missing_and_empty_fasta() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("empty.fa");
    std::fs::write(&fa, "").unwrap();
    let out = cisformer()
        .arg("scan")
        .arg("-m")
        .arg(jaspar_meme())
        .arg("-f")
        .arg(&fa)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.fa"));
    cisformer()
        .args(["scan", "-m", "nope.meme", "-f"])
        .arg(&fa)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("nope.meme"));
}

#[test]
fn fasta_quirks_match_fimo() {
    // Expected rows from fimo 5.4.1 --text --thresh 1e-3 (spaces inside a sequence line are
    // skipped; '-', '*', 'X' and '.' are never scored).
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("arnt.meme");
    std::fs::write(
        &m,
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF arnt Arnt\nletter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0\n\
         0.2 0.8 0 0\n0.95 0 0.05 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n0 0 1 0\n",
    )
    .unwrap();
    let fa = dir.path().join("ws.fa");
    std::fs::write(&fa, ">s1\nTTCAC GTGAA\nTTCACGTG-AA*CACGTGX.CACGTG\n").unwrap();
    let out = Command::cargo_bin("cisformer")
        .unwrap()
        .args(["scan", "-q", "--thresh", "1e-3", "-m"])
        .arg(&m)
        .arg("-f")
        .arg(&fa)
        .output()
        .unwrap();
    let mut want = String::from(
        "motif_id\tmotif_alt_id\tsequence_name\tstart\tstop\tstrand\tscore\tp-value\tq-value\tmatched_sequence\n",
    );
    for (a, b) in [(3, 8), (13, 18), (23, 28), (31, 36)] {
        for s in ['+', '-'] {
            want.push_str(&format!(
                "arnt\tArnt\ts1\t{a}\t{b}\t{s}\t11.55\t0.000244\t\tCACGTG\n"
            ));
        }
    }
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

/// Hits in regions that `extract` cut out (strand-aware, named) land in the BED at the
/// genome coordinates where scanning the whole genome finds them.
#[test]
fn bed_out_of_extracted_regions_is_in_genome_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let motif = ">MA0004.1\tArnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n";
    std::fs::write(p("m.jaspar"), motif).unwrap();
    let genome = format!(
        "{}CACGTT{}ACACGTG{}",
        "T".repeat(40),
        "G".repeat(30),
        "A".repeat(37)
    );
    std::fs::write(p("g.fa"), format!(">chr7\n{genome}\n")).unwrap();
    std::fs::write(
        p("r.bed"),
        "chr7\t30\t60\tr1\t0\t-\nchr7\t70\t100\tr2\t0\t+\n",
    )
    .unwrap();
    cisformer()
        .args(["extract", "-q", "-s", "--name", "-f"])
        .arg(p("g.fa"))
        .arg("-b")
        .arg(p("r.bed"))
        .arg("-o")
        .arg(p("r.fa"))
        .assert()
        .success();
    let bed_of = |fa: &str, bed: &str| {
        cisformer()
            .args(["scan", "-q", "--thresh", "1e-3", "-m"])
            .arg(p("m.jaspar"))
            .arg("-f")
            .arg(p(fa))
            .arg("-o")
            .arg(p(&format!("{bed}.tsv")))
            .arg("--bed-out")
            .arg(p(bed))
            .assert()
            .success();
        let mut lines: Vec<String> = std::fs::read_to_string(p(bed))
            .unwrap()
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .map(|f| [f[0], f[1], f[2], f[5]].join("\t"))
            .collect();
        lines.sort();
        lines
    };
    let regions = bed_of("r.fa", "r.bed.out");
    let whole: Vec<String> = bed_of("g.fa", "g.bed.out")
        .into_iter()
        .filter(|l| {
            let f: Vec<u64> = l
                .split('\t')
                .skip(1)
                .take(2)
                .map(|x| x.parse().unwrap())
                .collect();
            (f[0] >= 30 && f[1] <= 60) || (f[0] >= 70 && f[1] <= 100)
        })
        .collect();
    assert!(!regions.is_empty());
    assert!(
        regions.iter().all(|l| l.starts_with("chr7\t")),
        "{regions:?}"
    );
    assert_eq!(regions, whole);
}
