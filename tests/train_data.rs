//! Labelled data sets from files: FASTA + labels.tsv (plain, gzip, CRLF), BED +
//! genome, and the splits they lead to.
use std::{io::Write, path::Path};

use cisformer::train::{
    BedOptions, Dataset, Set, SplitSpec, read_labels, split_metrics, write_metrics_tsv,
    write_predictions_tsv,
};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn write_gz(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&p).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    p
}

#[test]
fn fasta_and_gzipped_crlf_labels() {
    let dir = tempfile::tempdir().unwrap();
    let fa = write_gz(
        dir.path(),
        "s.fa.gz",
        ">x1 desc\nACGTAC\nGG\n>x2\nTTTT\n>x3\nGGGA\n",
    );
    let labels = write_gz(
        dir.path(),
        "l.tsv.gz",
        "id\tset\tup\tdown\r\nx3\ttest\t3\t-3\r\nx1\ttraining\t1\t-1\r\nx2\tvalidation\t2.5\t0\r\nextra\ttest\t9\t9\r\n",
    );
    let ds = Dataset::from_fasta_labels(&fa, &labels).unwrap();
    assert_eq!(ds.ids, ["x1", "x2", "x3"]);
    assert_eq!(ds.seqs[0], b"ACGTACGG");
    assert_eq!(ds.output_names, ["up", "down"]);
    assert_eq!(
        ds.targets,
        [vec![1.0, -1.0], vec![2.5, 0.0], vec![3.0, -3.0]]
    );
    assert_eq!(
        ds.sets.as_deref(),
        Some(&[Set::Train, Set::Val, Set::Test][..])
    );
    let auto = ds
        .split(&SplitSpec::Auto {
            fractions: [0.8, 0.1, 0.1],
            seed: 1,
        })
        .unwrap();
    assert_eq!(
        (auto.train, auto.val, auto.test),
        (vec![0], vec![1], vec![2])
    );
    let random = ds
        .split(&SplitSpec::Random {
            fractions: [1.0, 0.0, 0.0],
            seed: 1,
        })
        .unwrap();
    assert_eq!(random.train, [0, 1, 2]);
    assert!(
        ds.split(&SplitSpec::Chromosomes {
            val: vec![],
            test: vec![]
        })
        .is_err()
    );
}

#[test]
fn missing_labels_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let fa = write(dir.path(), "s.fa", ">a\nAC\n>b\nGT\n>c\nGG\n");
    let labels = write(dir.path(), "l.tsv", "id\ty\nb\t1\n");
    let e = Dataset::from_fasta_labels(&fa, &labels)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("2 of 3 records of "), "{e}");
    assert!(e.ends_with("'a', 'c'"), "{e}");
    let nosplit = write(dir.path(), "n.tsv", "id\ty\na\t1\nb\t2\nc\t3\n");
    let ds = Dataset::from_fasta_labels(&fa, &nosplit).unwrap();
    assert!(ds.split(&SplitSpec::Column).is_err());
}

#[test]
fn labels_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.tsv", "id\ty\na\t1\nb\tinf\n");
    let e = read_labels(&p).unwrap_err().to_string();
    assert!(
        e.ends_with("bad.tsv:3: column 2 ('y'): 'inf' is not a finite number"),
        "{e}"
    );
    let empty = write(dir.path(), "empty.tsv", "");
    assert!(
        read_labels(&empty)
            .unwrap_err()
            .to_string()
            .contains("empty labels file")
    );
    assert!(read_labels(dir.path().join("absent.tsv")).is_err());
}

#[test]
fn bed_input_with_chromosome_split() {
    let dir = tempfile::tempdir().unwrap();
    let g = write(
        dir.path(),
        "g.fa",
        ">chr1\nACGTACGTAC\n>chr2\nGGGGCCCCAA\n>chr3\nTTTTAAAACC\n",
    );
    let bed = write(
        dir.path(),
        "r.bed",
        "#c\ts\te\tname\tscore\tstrand\tact\nchr1\t0\t4\tp1\t5\t+\t0.5\nchr2\t2\t6\tp2\t6\t-\t1.5\nchr3\t1\t5\tp3\t7\t.\t2.5\nchr1\t4\t8\tp4\t8\t+\t3.5\n",
    );
    let opts = BedOptions {
        label_cols: vec![7, 5],
        names: vec!["act".into()],
        use_name: false,
        stranded: false,
    };
    let ds = Dataset::from_bed(&bed, &g, &opts).unwrap();
    assert_eq!(ds.ids, ["chr1:0-4", "chr2:2-6", "chr3:1-5", "chr1:4-8"]);
    assert_eq!(ds.output_names, ["act", "col5"]);
    assert_eq!(ds.seqs[1], b"GGCC");
    assert_eq!(ds.targets[2], [2.5, 7.0]);
    let split = ds
        .split(&SplitSpec::Chromosomes {
            val: vec!["chr2".into()],
            test: vec!["chr3".into()],
        })
        .unwrap();
    assert_eq!(
        (split.train, split.val, split.test),
        (vec![0, 3], vec![1], vec![2])
    );

    let named = Dataset::from_bed(
        &bed,
        &g,
        &BedOptions {
            label_cols: vec![5],
            use_name: true,
            stranded: true,
            ..BedOptions::default()
        },
    )
    .unwrap();
    assert_eq!(named.ids, ["p1", "p2", "p3", "p4"]);
    assert_eq!(
        named.seqs[1], b"GGCC",
        "reverse complement of GGCC is itself"
    );

    let e = |text: &str, cols: Vec<usize>| {
        let b = write(dir.path(), "bad.bed", text);
        let opts = BedOptions {
            label_cols: cols,
            ..BedOptions::default()
        };
        Dataset::from_bed(&b, &g, &opts).unwrap_err().to_string()
    };
    assert!(e("chr9\t0\t4\tp\t1\n", vec![5]).contains("bad.bed:1: contig 'chr9' is not in"));
    assert!(e("chr1\t0\t40\tp\t1\n", vec![5]).contains("runs past the end"));
    assert!(
        e("chr1\t0\t4\tp\tx\n", vec![5])
            .contains("bad.bed:1: column 5 ('col5'): 'x' is not a number")
    );
    assert!(e("chr1\t0\t4\tp\n", vec![5]).contains("label column 5 is missing"));
    assert!(
        e("chr1\t0\t4\tp\t1\nchr1\t0\t4\tq\t2\n", vec![5])
            .contains("bad.bed:2: duplicate id 'chr1:0-4'")
    );
    assert!(e("chr1\t0\t4\tp\t1\t+\n", vec![6]).contains("strand"));
    assert!(e("", vec![5]).contains("no BED intervals"));
}

#[test]
fn metrics_and_predictions_tables() {
    let dir = tempfile::tempdir().unwrap();
    let fa = write(dir.path(), "s.fa", ">a\nAC\n>b\nGT\n>c\nGG\n>d\nCC\n");
    let labels = write(
        dir.path(),
        "l.tsv",
        "id\ty\tset\na\t1\ttraining\nb\t2\ttraining\nc\t0\ttest\nd\t1\ttest\n",
    );
    let ds = Dataset::from_fasta_labels(&fa, &labels).unwrap();
    let split = ds.split(&SplitSpec::Column).unwrap();
    let pred = vec![vec![1.5], vec![2.0], vec![0.25], vec![0.75]];
    let table = split_metrics(&ds, &split, &pred);
    assert_eq!(table.len(), 2, "no validation rows, no validation line");
    let mut out = Vec::new();
    write_metrics_tsv(&mut out, &ds.output_names, &table).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "set\toutput\tn\tpearson\tspearman\tr2\tmse\tauroc\tauprc\n\
         training\ty\t2\t1.000000\t1.000000\t0.500000\t0.125000\tNA\tNA\n\
         test\ty\t2\t1.000000\t1.000000\t0.750000\t0.062500\tNA\tNA\n"
    );
    let mut out = Vec::new();
    write_predictions_tsv(&mut out, &ds.ids, &ds.output_names, Some(&split), &pred).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "id\ty\tset\na\t1.500000\ttraining\nb\t2.000000\ttraining\nc\t0.250000\ttest\nd\t0.750000\ttest\n"
    );
    // `predict`'s table: the same rows without the set column.
    let mut out = Vec::new();
    write_predictions_tsv(&mut out, &ds.ids, &ds.output_names, None, &pred).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "id\ty\na\t1.500000\nb\t2.000000\nc\t0.250000\nd\t0.750000\n"
    );
}
