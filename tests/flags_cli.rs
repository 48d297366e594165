//! Float flags refuse NaN and infinity as usage errors (exit 2) naming the flag, before
//! any input is read: a NaN threshold compares false with everything and would silently
//! keep or drop every row.
mod common;
use common::cisformer;

#[test]
fn nan_and_infinity_are_refused_in_float_flags() {
    let cases: [&[&str]; 8] = [
        &[
            "motifs",
            "similar",
            "--motifs",
            "m.meme",
            "--min-score",
            "nan",
        ],
        &["scan", "-m", "m.meme", "-f", "x.fa", "--thresh", "NaN"],
        &[
            "train", "--fasta", "x.fa", "--labels", "l.tsv", "--out", "o", "--lr", "inf",
        ],
        &["simulate", "--out", "o", "--site-pvalue", "nan"],
        &[
            "interactions",
            "--model",
            "m",
            "--fasta",
            "x.fa",
            "--min-effect-sd",
            "inf",
        ],
        &[
            "interactions",
            "--model",
            "m",
            "--fasta",
            "x.fa",
            "--min-effect-sd=-1",
        ],
        &[
            "validate",
            "--model",
            "m",
            "--fasta",
            "x.fa",
            "--interactions",
            "i.tsv",
            "-o",
            "v.tsv",
            "--alpha",
            "nan",
        ],
        &[
            "baseline", "--fasta", "x.fa", "--labels", "l.tsv", "--out", "o", "--alphas", "1,nan",
        ],
    ];
    for args in cases {
        let o = cisformer().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("finite") || err.contains(">= 0"),
            "{args:?}: {err}"
        );
        // The flag is the second-last argument, or the last in `--flag=value` form.
        let last = args[args.len() - 1];
        let flag = match last.split_once('=') {
            Some((f, _)) => f,
            None => args[args.len() - 2],
        };
        assert!(err.contains(flag), "{args:?} does not name {flag}: {err}");
    }
}
