//! End-to-end tests of `index`, `extract` and `demo` on the real binary: goldens from
//! bedtools/samtools (tests/oracle/make_ingest_goldens.sh) and a bad-input matrix.
use std::{
    io::Write,
    path::{Path, PathBuf},
};

use tempfile::TempDir;

mod common;
use common::{cisformer, gunzip, ok_with_stderr};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// A temp dir holding the real genome decompressed as `g.fa` (no .fai).
fn plain_genome() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("g.fa");
    std::fs::write(&fa, gunzip(&data("NC_008253.1.fa.gz"))).unwrap();
    (dir, fa)
}

fn extract_stdout(genome: &Path, bed: &Path, flags: &[&str]) -> Vec<u8> {
    let out = cisformer()
        .arg("extract")
        .arg("-f")
        .arg(genome)
        .arg("-b")
        .arg(bed)
        .args(flags)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: output differs from the golden at byte {at} (got {} bytes, want {})",
            got.len(),
            want.len()
        );
    }
}

// ---------- goldens ----------

#[test]
fn extract_matches_bedtools_getfasta_s() {
    let (_d, fa) = plain_genome();
    let got = extract_stdout(&fa, &data("intervals.bed"), &["-s"]);
    assert_same(&got, &gunzip(&data("getfasta_s.fa.gz")), "getfasta -s");
}

#[test]
fn extract_matches_bedtools_getfasta_name_s_from_bgzip_genome() {
    let got = extract_stdout(
        &data("NC_008253.1.fa.gz"),
        &data("intervals.bed"),
        &["-s", "--name"],
    );
    assert_same(
        &got,
        &gunzip(&data("getfasta_name_s.fa.gz")),
        "getfasta -name -s",
    );
}

#[test]
fn extract_matches_bedtools_getfasta_without_flags() {
    let (_d, fa) = plain_genome();
    let got = extract_stdout(&fa, &data("intervals.bed"), &["-j", "1"]);
    assert_same(&got, &gunzip(&data("getfasta.fa.gz")), "getfasta");
}

#[test]
fn flank_matches_bedtools_slop_then_getfasta() {
    let (_d, fa) = plain_genome();
    let got = extract_stdout(
        &fa,
        &data("intervals.bed"),
        &["-s", "--name", "--flank", "50"],
    );
    assert_same(
        &got,
        &gunzip(&data("getfasta_name_s_flank50.fa.gz")),
        "slop -b 50 | getfasta",
    );
}

#[test]
fn extract_writes_file_atomically_and_uses_fai() {
    let (d, fa) = plain_genome();
    cisformer().arg("index").arg(&fa).assert().success();
    let out = d.path().join("out.fa");
    cisformer()
        .args(["extract", "-s", "-b"])
        .arg(data("intervals.bed"))
        .arg("-f")
        .arg(&fa)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    assert_same(
        &std::fs::read(&out).unwrap(),
        &gunzip(&data("getfasta_s.fa.gz")),
        "-o file",
    );
}

#[test]
fn index_matches_samtools_faidx_plain() {
    let (_d, fa) = plain_genome();
    cisformer()
        .arg("index")
        .arg(&fa)
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let got = std::fs::read(fa.with_extension("fa.fai")).unwrap();
    assert_eq!(got, std::fs::read(data("NC_008253.1.fa.fai")).unwrap());
}

#[test]
fn index_matches_samtools_faidx_bgzip() {
    let d = tempfile::tempdir().unwrap();
    let gz = d.path().join("g.fa.gz");
    std::fs::copy(data("NC_008253.1.fa.gz"), &gz).unwrap();
    cisformer()
        .arg("index")
        .arg(&gz)
        .assert()
        .success()
        .stderr("");
    let got = std::fs::read(d.path().join("g.fa.gz.fai")).unwrap();
    assert_eq!(got, std::fs::read(data("NC_008253.1.fa.gz.fai")).unwrap());
}

#[test]
fn index_to_stdout_with_crlf_and_multiple_records() {
    let d = tempfile::tempdir().unwrap();
    let fa = d.path().join("x.fa");
    std::fs::write(&fa, b">a x\nACGT\nAC\n\n>b\r\nAC\r\nG\r\n>c\nAAA").unwrap();
    // Expected text from samtools faidx 1.16.1 on the same bytes.
    cisformer()
        .args(["index", "-o", "-"])
        .arg(&fa)
        .assert()
        .success()
        .stdout("a\t6\t5\t4\t5\nb\t3\t18\t2\t4\nc\t3\t28\t3\t4\n");
}

#[test]
fn results_do_not_depend_on_threads() {
    let (_d, fa) = plain_genome();
    let one = extract_stdout(&fa, &data("intervals.bed"), &["-s", "--name", "-j", "1"]);
    let two = extract_stdout(&fa, &data("intervals.bed"), &["-s", "--name", "-j", "3"]);
    assert_eq!(one, two);
}

// ---------- small fixtures ----------

struct Case {
    dir: TempDir,
}

impl Case {
    fn new() -> Self {
        let c = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        c.write(
            "g.fa",
            b">chr1 test\nACGTacgtNN\nnnnnACGTAC\nGT\n>chr2\nRYKMswbd\n",
        );
        c
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs extract with genome/bed file names relative to the case dir, output to out.fa.
    fn extract(&self, genome: &str, bed: &str, flags: &[&str]) -> std::process::Output {
        let mut cmd = cisformer();
        cmd.current_dir(self.dir.path())
            .args(["extract", "-f", genome, "-b", bed, "-o", "out.fa"])
            .args(flags);
        cmd.output().unwrap()
    }

    /// Asserts a clean failure: exit 1, one error line containing `needle`, no output file.
    fn fails(&self, out: std::process::Output, needle: &str) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line expected: {err}");
        assert!(err.starts_with("cisformer: error: "), "{err}");
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert!(out.stdout.is_empty());
        assert!(!self.path("out.fa").exists(), "partial output left behind");
        let leftovers: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
    }

    fn output(&self) -> String {
        String::from_utf8(std::fs::read(self.path("out.fa")).unwrap()).unwrap()
    }
}

#[test]
fn lowercase_and_n_runs_kept_as_is() {
    // Expected output checked with bedtools getfasta -s 2.30.0 on the same files.
    let c = Case::new();
    c.write(
        "r.bed",
        b"chr1\t4\t16\ta\t0\t+\nchr1\t4\t16\tb\t0\t-\nchr2\t0\t8\tc\t0\t-\n",
    );
    let out = c.extract("g.fa", "r.bed", &["-s"]);
    assert!(out.status.success());
    assert_eq!(
        c.output(),
        ">chr1:4-16(+)\nacgtNNnnnnAC\n>chr1:4-16(-)\nGTnnnnNNacgt\n>chr2:0-8(-)\nhvwsKMRY\n"
    );
}

#[test]
fn crlf_bed_and_fasta_give_the_same_output() {
    let c = Case::new();
    let bed = b"track name=x\n#c\nbrowser position chr1\n\nchr1\t1\t5\tn\t0\t-\nchr2\t2\t6\n";
    c.write("r.bed", bed);
    assert!(
        c.extract("g.fa", "r.bed", &["-s", "--name"])
            .status
            .success()
    );
    let unix = c.output();
    let crlf: Vec<u8> = String::from_utf8_lossy(bed)
        .replace('\n', "\r\n")
        .into_bytes();
    c.write("crlf.bed", &crlf);
    let fa = std::fs::read(c.path("g.fa")).unwrap();
    c.write(
        "crlf.fa",
        String::from_utf8_lossy(&fa)
            .replace('\n', "\r\n")
            .as_bytes(),
    );
    assert!(
        c.extract("crlf.fa", "crlf.bed", &["-s", "--name"])
            .status
            .success()
    );
    assert_eq!(c.output(), unix);
    assert_eq!(unix, ">n::chr1:1-5(-)\ntACG\n>::chr2:2-6()\nKMsw\n");
}

#[test]
fn bed_from_stdin_and_gzip() {
    let c = Case::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"chr1\t0\t4\n").unwrap();
    c.write("r.bed.gz", &gz.finish().unwrap());
    assert!(c.extract("g.fa", "r.bed.gz", &[]).status.success());
    assert_eq!(c.output(), ">chr1:0-4\nACGT\n");
    cisformer()
        .current_dir(c.dir.path())
        .args(["extract", "-f", "g.fa", "-b", "-"])
        .write_stdin("chr2\t0\t2\n")
        .assert()
        .success()
        .stdout(">chr2:0-2\nRY\n");
}

#[test]
fn past_contig_end_is_skipped_with_a_summary() {
    let c = Case::new();
    c.write(
        "r.bed",
        b"chr1\t0\t4\nchr1\t20\t30\nchr2\t3\t3\nchr2\t0\t9\n",
    );
    let out = c.extract("g.fa", "r.bed", &[]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("skipped 3 of 4 intervals (2 past the contig end, 1 empty; first: r.bed:2: interval chr1:20-30 runs past the end of contig (length 22))"),
        "{err}"
    );
    assert_eq!(c.output(), ">chr1:0-4\nACGT\n");
    // --quiet silences the warning but not the result.
    let out = c.extract("g.fa", "r.bed", &["--quiet"]);
    assert!(out.status.success() && out.stderr.is_empty());
}

#[test]
fn past_contig_end_is_an_error_with_strict() {
    let c = Case::new();
    c.write("r.bed", b"chr1\t0\t4\nchr1\t20\t30\n");
    c.fails(
        c.extract("g.fa", "r.bed", &["--strict"]),
        "r.bed:2: interval chr1:20-30 runs past the end of contig (length 22) (--strict)",
    );
}

#[test]
fn bad_bed_lines_name_the_line() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"chr1\t0\t4\nchrX\t0\t4\n",
            "r.bed:2: contig 'chrX' is not in the genome g.fa",
        ),
        (b"chr1\t-1\t4\n", "r.bed:1: negative start coordinate -1"),
        (b"chr1\t0\t-4\n", "r.bed:1: negative end coordinate -4"),
        (
            b"#h\nchr1\t5\t2\n",
            "r.bed:2: start 5 is greater than end 2",
        ),
        (
            b"chr1\tabc\t4\n",
            "r.bed:1: start is not a non-negative integer: 'abc'",
        ),
        (
            b"chr1\t0\t4.5\n",
            "r.bed:1: end is not a non-negative integer: '4.5'",
        ),
        (
            b"chr1\t0\n",
            "r.bed:1: expected at least 3 tab-separated columns",
        ),
        (b"chr1 0 4\n", "columns must be separated by tabs"),
        (
            b"chr1\t0\t4\tn\t0\tplus\n",
            "r.bed:1: strand (column 6) must be '+', '-' or '.', found 'plus'",
        ),
    ];
    for (bed, needle) in cases {
        let c = Case::new();
        c.write("r.bed", bed);
        c.fails(c.extract("g.fa", "r.bed", &["-s"]), needle);
    }
}

#[test]
fn bad_fasta_is_a_clear_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "g.fa:1: no FASTA records (empty file?)"),
        (
            b">chr1\nACGT\n>chr2\n",
            "g.fa:3: record 'chr2' has no sequence (truncated file?)",
        ),
        (
            b">chr1\n>chr2\nACGT\n",
            "g.fa:1: record 'chr1' has no sequence",
        ),
        (
            b">chr1\nACGT\nACGTA\n",
            "g.fa:3: inconsistent line lengths in record 'chr1'",
        ),
        (
            b">chr1\nACGT\nAC\nACGT\n",
            "g.fa:4: inconsistent line lengths in record 'chr1'",
        ),
        (b"ACGT\n", "g.fa:1: expected a FASTA header"),
        (
            b">chr1\nAC\n>chr1\nAC\n",
            "g.fa:3: duplicate sequence name 'chr1'",
        ),
    ];
    for (fa, needle) in cases {
        let c = Case::new();
        c.write("g.fa", fa);
        c.write("r.bed", b"chr1\t0\t1\n");
        c.fails(c.extract("g.fa", "r.bed", &[]), needle);
        // index reports the same problem and writes no .fai.
        let out = cisformer()
            .current_dir(c.dir.path())
            .args(["index", "g.fa"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
        assert!(!c.path("g.fa.fai").exists());
    }
}

#[test]
fn corrupt_gzip_is_a_clear_error() {
    let c = Case::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(c.path("g.fa")).unwrap().repeat(50))
        .unwrap();
    let mut bytes = gz.finish().unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 8].copy_from_slice(b"garbage!");
    c.write("bad.fa.gz", &bytes);
    c.write("r.bed", b"chr1\t0\t1\n");
    c.fails(c.extract("bad.fa.gz", "r.bed", &[]), "bad.fa.gz: ");
    // Truncated gzip, as a genome and as a BED.
    let good = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"chr1\t0\t1\n".repeat(1000).as_slice())
            .unwrap();
        gz.finish().unwrap()
    };
    c.write("cut.bed.gz", &good[..good.len() / 2]);
    c.fails(c.extract("g.fa", "cut.bed.gz", &[]), "cut.bed.gz: ");
    c.write("cut.fa.gz", &bytes[..20]);
    c.fails(c.extract("cut.fa.gz", "r.bed", &[]), "cut.fa.gz: ");
}

#[test]
fn missing_files_and_output_directory() {
    let c = Case::new();
    c.write("r.bed", b"chr1\t0\t1\n");
    c.fails(c.extract("nope.fa", "r.bed", &[]), "nope.fa: No such file");
    c.fails(c.extract("g.fa", "nope.bed", &[]), "nope.bed: No such file");
    let out = cisformer()
        .current_dir(c.dir.path())
        .args([
            "extract",
            "-f",
            "g.fa",
            "-b",
            "r.bed",
            "-o",
            "no/such/dir/out.fa",
        ])
        .output()
        .unwrap();
    c.fails(out, "output directory no/such/dir does not exist");
    let out = cisformer()
        .current_dir(c.dir.path())
        .args(["index", "nope.fa"])
        .output()
        .unwrap();
    c.fails(out, "nope.fa: No such file");
}

#[test]
fn errors_leave_stdout_empty() {
    let c = Case::new();
    // The bad line is last: nothing may have been printed before the error.
    let mut bed = b"chr1\t0\t4\n".repeat(5000);
    bed.extend_from_slice(b"chr1\t0\tx\n");
    c.write("r.bed", &bed);
    let out = cisformer()
        .current_dir(c.dir.path())
        .args(["extract", "-f", "g.fa", "-b", "r.bed"])
        .output()
        .unwrap();
    c.fails(out, "r.bed:5001: end is not a non-negative integer: 'x'");
}

#[test]
fn plain_gzip_genome_is_indexed_with_a_note() {
    let c = Case::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(c.path("g.fa")).unwrap())
        .unwrap();
    c.write("g.fa.gz", &gz.finish().unwrap());
    let out = cisformer()
        .current_dir(c.dir.path())
        .args(["index", "g.fa.gz"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain gzip, not bgzip"));
    // Same text as samtools faidx 1.16.1 writes for the uncompressed file.
    assert_eq!(
        std::fs::read_to_string(c.path("g.fa.gz.fai")).unwrap(),
        "chr1\t22\t11\t10\t11\nchr2\t8\t42\t8\t9\n"
    );
    let out = cisformer()
        .current_dir(c.dir.path())
        .args(["index", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn stale_fai_is_rejected_not_trusted() {
    let c = Case::new();
    c.write("r.bed", b"chr1\t0\t1\n");
    c.write("g.fa.fai", b"chr1\t22\t3\t10\t11\n");
    c.fails(c.extract("g.fa", "r.bed", &[]), "does not match");
}

#[test]
fn demo_runs_from_any_directory() {
    let d = tempfile::tempdir().unwrap();
    let (out, err) = ok_with_stderr(
        cisformer()
            .current_dir(d.path())
            .args(["demo", "--n", "300", "--epochs", "1"]),
    );
    assert!(err.contains("[6/6] writing the report"), "{err}");
    assert!(err.contains("[5/6] confirming the top pairs"), "{err}");
    // The three-line summary (and where the report is) on stdout.
    let summary = out;
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 4, "{summary}");
    assert!(lines[0].starts_with("model: held-out r = "), "{summary}");
    assert!(lines[0].contains("noise ceiling 0.9"), "{summary}");
    assert!(lines[1].starts_with("top pair: "), "{summary}");
    assert!(lines[2].starts_with("planted: "), "{summary}");
    let html = std::fs::read_to_string(d.path().join("cisformer_demo/report.html")).unwrap();
    assert!(html.contains("<svg"), "the report has no charts");
    for f in [
        "heads.tsv",
        "interactions.tsv",
        "validation.tsv",
        "spacing.tsv",
        "model/model.safetensors",
        "sim/truth.tsv",
    ] {
        assert!(
            d.path().join("cisformer_demo").join(f).is_file(),
            "{f} missing"
        );
    }
    let fa = std::fs::read_to_string(d.path().join("cisformer_demo/regions.fa")).unwrap();
    // The wild-type lac promoter of the Kinney et al. data, extracted from the minus strand.
    assert!(fa.starts_with(
        ">lac_promoter_WT::NC_000913.2:300000-450000:65567-65642(-)\nAATTAATGTGAGTTAGCTCACTCATTAGGCACCCCAGGCTTTACACTTTATGCTTCCGGCTCGTATGTTGTGTGG\n"
    ));
    assert_eq!(fa.lines().count(), 12);
    let fai = std::fs::read_to_string(d.path().join("cisformer_demo/ecoli_k12_lac_region.fa.fai"))
        .unwrap();
    assert_eq!(fai, "NC_000913.2:300000-450000\t150000\t27\t60\t61\n");
    let custom = d.path().join("elsewhere");
    cisformer()
        .args(["demo", "--n", "100", "--epochs", "1", "--out"])
        .arg(&custom)
        .arg("-q")
        .assert()
        .success()
        .stderr("");
    assert_eq!(
        std::fs::read_to_string(custom.join("regions.fa")).unwrap(),
        fa
    );
}
