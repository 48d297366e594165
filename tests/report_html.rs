//! `cisformer report` end to end: the page has every section, references nothing outside
//! itself, carries well-formed SVG, is deterministic, and bad input fails with file:line.
use std::path::{Path, PathBuf};

use scraper::{Html, Selector};

mod common;
use common::{cisformer, ok};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/report");

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// Every input of the fixture set, as command-line arguments.
fn full_args() -> Vec<String> {
    let mut args = vec![
        "report".to_string(),
        "--model".into(),
        data("model").display().to_string(),
    ];
    for (flag, file) in [
        ("--heads", "heads.tsv"),
        ("--interactions", "interactions.tsv"),
        ("--validation", "validation.tsv"),
        ("--spacing", "spacing.tsv"),
        ("--redundancy", "redundancy.tsv"),
        ("--predictions", "predictions.tsv"),
        ("--labels", "labels.tsv"),
        ("--pruning", "pruning.tsv"),
        ("--forgetting", "forgetting.tsv"),
        ("--patch", "patch.tsv"),
    ] {
        args.push(flag.into());
        args.push(data(file).display().to_string());
    }
    args.extend(["--title".into(), "Fixture report".into()]);
    args
}

fn render(args: &[String]) -> String {
    ok(cisformer().args(args).args(["-o", "-"]))
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

const SECTIONS: [&str; 12] = [
    "summary",
    "parameters",
    "training",
    "predictions",
    "heads",
    "redundancy",
    "interactions",
    "profiles",
    "validation",
    "pruning",
    "forgetting",
    "methods",
];

#[test]
fn full_report_has_every_section_with_content() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    assert_eq!(
        doc.select(&sel("title")).next().unwrap().inner_html(),
        "Fixture report"
    );
    for id in SECTIONS {
        let s = doc
            .select(&sel(&format!("section#{id}")))
            .next()
            .unwrap_or_else(|| panic!("section {id} missing"));
        assert!(s.select(&sel("h2")).next().is_some(), "{id} has no heading");
        assert!(
            s.select(&sel(".missing")).next().is_none(),
            "{id} says its input is missing"
        );
        if id != "methods" && id != "parameters" && id != "summary" {
            let content = s.select(&sel("svg, table")).count();
            assert!(content > 0, "{id} has neither a chart nor a table");
        }
        // the navigation links to it
        assert!(
            doc.select(&sel(&format!("nav a[href='#{id}']")))
                .next()
                .is_some()
        );
    }
    let count = |id: &str, what: &str| doc.select(&sel(&format!("section#{id} {what}"))).count();
    assert_eq!(count("training", "svg"), 3, "loss, metrics and lr charts");
    assert_eq!(
        count("predictions", "svg"),
        2,
        "one scatter per shared output"
    );
    assert_eq!(count("heads", "svg"), 6, "six layer x head panels");
    assert_eq!(count("profiles", "svg"), 6, "3 pairs x 2 measures");
    // 30 interaction rows, sortable
    assert_eq!(count("interactions", "table.sortable tbody tr"), 30);
    assert_eq!(count("heads", "table.sortable"), 2);
    // parameters come from config.json and meta.json, flattened
    let params = doc
        .select(&sel("section#parameters"))
        .next()
        .unwrap()
        .html();
    assert!(params.contains("model.n_layers") && params.contains("tokenizer.k"));
    assert!(params.contains("normalisation.activity_k562.mean"));
    // summary picks the key numbers
    let summary = doc.select(&sel("section#summary")).next().unwrap().html();
    assert!(summary.contains("GATA1 + TAL1"), "top pair");
    // an extra column of a table is shown, not rejected
    assert!(count("interactions", "th") >= 15);
    assert!(html.contains(">stability<"));
    // the unlabelled prediction column is reported
    assert!(html.contains("uncertainty"));
}

#[test]
fn report_references_nothing_external() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    for el in doc.select(&sel("*")) {
        for attr in ["src", "href", "xlink:href", "action", "data"] {
            if let Some(v) = el.value().attr(attr) {
                let v = v.trim().to_ascii_lowercase();
                assert!(
                    v.starts_with('#') || v.starts_with("data:"),
                    "<{}> {attr}={v} leaves the page",
                    el.value().name()
                );
            }
        }
    }
    assert_eq!(
        doc.select(&sel("script[src], link[rel=stylesheet], iframe, img"))
            .count(),
        0
    );
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("@import"));
    assert!(!lower.contains("url("), "CSS must not load anything");
    for script in doc.select(&sel("script, style")) {
        let text = script.inner_html();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{text}"
        );
    }
}

#[test]
fn every_svg_is_well_formed_xml() {
    let html = render(&full_args());
    let mut n = 0;
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("unterminated <svg>") + start + 6;
        let svg = &rest[start..end];
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| {
            panic!(
                "SVG #{n} is not well-formed: {e}\n{}",
                &svg[..svg.len().min(300)]
            )
        });
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(
            doc.descendants().any(|d| d.has_tag_name("text")),
            "SVG #{n} has no text"
        );
        n += 1;
        rest = &rest[end..];
    }
    assert!(n >= 20, "only {n} SVGs");
}

#[test]
fn report_is_deterministic_and_written_atomically() {
    let a = render(&full_args());
    let b = render(&full_args());
    assert_eq!(a, b);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    cisformer()
        .args(full_args())
        .arg("-q")
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), a);
}

#[test]
fn top_limits_the_interaction_rows_and_says_so() {
    let mut args = full_args();
    args.extend(["--top".into(), "5".into()]);
    let html = render(&args);
    let doc = Html::parse_document(&html);
    let rows = doc.select(&sel("section#interactions tbody tr")).count();
    assert_eq!(rows, 5);
    assert!(html.contains("Showing the first 5 of 30 rows"));
    let summary = doc.select(&sel("section#summary")).next().unwrap().html();
    assert!(
        summary.contains("<td>interaction rows</td><td>30</td>"),
        "{summary}"
    );
}

#[test]
fn absent_inputs_leave_their_sections_out_and_the_summary_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec![
        "report".to_string(),
        "--model".into(),
        dir.path().display().to_string(),
    ];
    let html = render(&args);
    let doc = Html::parse_document(&html);
    for id in SECTIONS {
        let shown = doc.select(&sel(&format!("section#{id}"))).next().is_some();
        let linked = doc
            .select(&sel(&format!("nav a[href='#{id}']")))
            .next()
            .is_some();
        let expect = matches!(id, "summary" | "methods");
        assert_eq!(shown, expect, "section {id}");
        assert_eq!(linked, expect, "nav link to {id}");
    }
    assert_eq!(doc.select(&sel(".missing")).count(), 0);
    let summary = doc.select(&sel("section#summary")).next().unwrap().html();
    assert!(
        summary.contains("Not shown for lack of input: Parameters (to reproduce), Training curves")
            && summary.contains("No pruning table was given (--pruning)."),
        "{summary}"
    );
    // the methods describe only what is shown
    let methods = doc.select(&sel("section#methods")).next().unwrap().html();
    assert!(!methods.contains("ACAT") && !methods.contains("Head atlas"));
    // only the model dir's files: the redundancy map falls back to the head atlas column
    let args = vec![
        "report".to_string(),
        "--model".into(),
        data("model").display().to_string(),
        "--heads".into(),
        data("heads.tsv").display().to_string(),
    ];
    let html = render(&args);
    let doc = Html::parse_document(&html);
    let red = doc.select(&sel("section#redundancy svg")).count();
    assert_eq!(red, 1);
    assert!(html.contains("L2H1"), "most similar head named in the map");
}

#[test]
fn reads_the_analysis_stage_conventions() {
    // `heads` writes `.` for no motif/head, 0/1 for flags, and adds columns of its own.
    let (_d, p) = edited("heads.tsv", |t| {
        t.replace("\tNA", "\t.")
            .replace("\tfalse\t", "\t0\t")
            .replace("\ttrue\t", "\t1\t")
            .replace("notes\n", "notes\tmotif_focus\n")
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    l.to_string()
                } else {
                    format!("{l}\t1")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    let args = vec![
        "report".to_string(),
        "--model".into(),
        data("model").display().to_string(),
        "--heads".into(),
        p.display().to_string(),
    ];
    let html = render(&args);
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("section#heads svg")).count(), 6);
    let summary = doc.select(&sel("section#summary")).next().unwrap().html();
    assert!(
        summary.contains("<td>prune candidates</td><td>1</td>"),
        "{summary}"
    );
    assert!(html.contains(">motif_focus<"));
}

#[test]
fn names_are_escaped_in_html_and_svg() {
    let evil = "<i>GATA1</i>&\"x'";
    let (_d1, inter) = edited("interactions.tsv", |t| t.replace("GATA1", evil));
    let (_d2, spacing) = edited("spacing.tsv", |t| t.replace("GATA1", evil));
    let args = vec![
        "report".to_string(),
        "--model".into(),
        data("model").display().to_string(),
        "--interactions".into(),
        inter.display().to_string(),
        "--spacing".into(),
        spacing.display().to_string(),
        "--title".into(),
        "<script>alert(1)</script>".into(),
    ];
    let html = render(&args);
    assert!(
        !html.contains("<i>GATA1"),
        "raw markup from a table reached the page"
    );
    assert!(
        !html.contains("<script>alert"),
        "raw markup from the title reached the page"
    );
    let doc = Html::parse_document(&html);
    let cell = doc
        .select(&sel("section#interactions td"))
        .find(|td| td.text().any(|t| t.contains("GATA1")))
        .unwrap();
    assert_eq!(cell.text().collect::<String>(), evil);
    let mut svgs = 0;
    for part in html.split("<svg").skip(1) {
        let svg = format!("<svg{}", &part[..part.find("</svg>").unwrap() + 6]);
        roxmltree::Document::parse(&svg).unwrap();
        svgs += 1;
    }
    assert!(svgs >= 6);
}

/// Copies `file` into a temp dir with `edit` applied, returning the dir and the new path.
#[test]
fn patching_heatmap_appears_only_when_given() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let s = doc
        .select(&sel("section#patching"))
        .next()
        .expect("patching section");
    assert!(doc.select(&sel("nav a[href='#patching']")).next().is_some());
    assert_eq!(s.select(&sel("svg")).count(), 1, "one heatmap");
    assert_eq!(s.select(&sel("table.sortable tbody tr")).count(), 12);
    let text = s.html();
    assert!(text.contains("L1H2 (0.72)"), "most restoring head named");
    for l in ["L0", "L2", "H3"] {
        assert!(text.contains(&format!("\n{l}\n")), "axis label {l}");
    }
    // between validation and pruning
    let ids: Vec<&str> = doc
        .select(&sel("section"))
        .filter_map(|e| e.value().attr("id"))
        .collect();
    let at = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert_eq!(at("patching"), at("validation") + 1);
    assert_eq!(at("pruning"), at("patching") + 1);
    // absent: no section, no link
    let model = data("model").display().to_string();
    let html = render(&["report".into(), "--model".into(), model.clone()]);
    assert!(!html.contains("id=\"patching\""));
    // all NA: a note instead of a "most restoring head"
    let (_d, p) = edited("patch.tsv", |t| {
        t.lines()
            .enumerate()
            .map(|(i, l)| {
                let mut f: Vec<&str> = l.split('\t').collect();
                if i > 0 {
                    f[2] = "NA";
                }
                f.join("\t") + "\n"
            })
            .collect()
    });
    let html = render(&[
        "report".into(),
        "--model".into(),
        model.clone(),
        "--patch".into(),
        p.display().to_string(),
    ]);
    assert!(html.contains("no head has anything to restore"));
    // a missing column is an error naming it
    let (_d, p) = edited("patch.tsv", |t| t.replacen("restored", "restores", 1));
    let ps = p.display().to_string();
    fails_with(
        &["report", "--model", &model, "--patch", &ps],
        "missing column 'restored'",
    );
}

#[test]
fn interaction_table_is_named_by_its_score() {
    let caption = |score: Option<&str>| {
        let (_d, p) = edited("interactions.tsv", |t| match score {
            None => t.to_string(),
            Some(kind) => t
                .lines()
                .enumerate()
                .map(|(i, l)| format!("{l}\t{}\n", if i == 0 { "score" } else { kind }))
                .collect(),
        });
        let html = render(&[
            "report".into(),
            "--model".into(),
            data("model").display().to_string(),
            "--interactions".into(),
            p.display().to_string(),
        ]);
        let doc = Html::parse_document(&html);
        doc.select(&sel("section#interactions caption"))
            .next()
            .map(|c| c.text().collect::<String>())
            .unwrap_or_else(|| panic!("no caption in {html}"))
    };
    assert!(caption(None).contains("Motif pairs by co-attention"));
    assert!(caption(Some("attention")).contains("Motif pairs by co-attention"));
    assert!(caption(Some("attn_grad")).contains("Motif pairs by attention × gradient"));
}

fn edited(file: &str, edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(Path::new(file).file_name().unwrap());
    let text = std::fs::read_to_string(data(file)).unwrap();
    std::fs::write(&p, edit(&text)).unwrap();
    (dir, p)
}

fn fails_with(args: &[&str], needle: &str) {
    let out = cisformer().args(args).args(["-o", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn malformed_values_name_file_line_and_column() {
    let model = data("model").display().to_string();
    // a non-number in a numeric column of the head atlas (line 4, column 3)
    let (_d, p) = edited("heads.tsv", |t| {
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        let mut f: Vec<&str> = lines[3].split('\t').collect();
        f[2] = "high";
        lines[3] = f.join("\t");
        lines.join("\n") + "\n"
    });
    let ps = p.display().to_string();
    fails_with(
        &["report", "--model", &model, "--heads", &ps],
        &format!("{ps}:4: column 3 'entropy': 'high' is not a number"),
    );
    // a ragged row in the interaction table
    let (_d, p) = edited("interactions.tsv", |t| t.replacen("\t+-\t", "\t", 1));
    let ps = p.display().to_string();
    fails_with(
        &["report", "--model", &model, "--interactions", &ps],
        "tab-separated fields, but the header has 15",
    );
    // a required column missing
    let (_d, p) = edited("validation.tsv", |t| t.replacen("motif_b", "motifB", 1));
    let ps = p.display().to_string();
    fails_with(
        &["report", "--model", &model, "--validation", &ps],
        "missing column 'motif_b'",
    );
    // a prediction id without a label
    let (_d, p) = edited("predictions.tsv", |t| t.replacen("seq0003", "seq9999", 1));
    let ps = p.display().to_string();
    let labels = data("labels.tsv").display().to_string();
    fails_with(
        &[
            "report",
            "--model",
            &model,
            "--predictions",
            &ps,
            "--labels",
            &labels,
        ],
        "missing from",
    );
    // a bad value in the training log
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "meta.json"] {
        std::fs::copy(data("model").join(f), dir.path().join(f)).unwrap();
    }
    let log = std::fs::read_to_string(data("model/train_log.tsv")).unwrap();
    std::fs::write(
        dir.path().join("train_log.tsv"),
        log.replacen("0.7655", "0.76.55", 1),
    )
    .unwrap();
    let m = dir.path().display().to_string();
    fails_with(
        &["report", "--model", &m],
        "train_log.tsv:3: column 3 'train_loss': '0.76.55' is not a number",
    );
    // invalid JSON
    std::fs::write(dir.path().join("config.json"), "{\"a\": 1,\n \"b\": }\n").unwrap();
    fails_with(&["report", "--model", &m], "config.json:2: invalid JSON");
    // a model directory that does not exist
    fails_with(
        &["report", "--model", "/nonexistent/model"],
        "does not exist",
    );
}

#[test]
fn man_pages_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    cisformer()
        .args(["man", "-q", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    for page in [
        "cisformer.1",
        "cisformer-report.1",
        "cisformer-extract.1",
        "cisformer-man.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
    }
    let report = std::fs::read_to_string(dir.path().join("cisformer-report.1")).unwrap();
    assert!(report.contains("interactions"));
}

fn section(doc: &Html, id: &str) -> String {
    doc.select(&sel(&format!("section#{id}")))
        .next()
        .unwrap_or_else(|| panic!("section {id} missing"))
        .html()
}

#[test]
fn predicted_vs_observed_plots_held_out_rows_only_coloured_by_set() {
    // The fixture model's split.tsv: ids ending in 8 are validation, in 9 test; 120 of
    // the 130 labelled ids are predicted, so 24 are held out.
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let figs: Vec<_> = doc.select(&sel("section#predictions figure")).collect();
    assert_eq!(figs.len(), 2);
    for f in &figs {
        let svg = f.select(&sel("svg")).next().unwrap().html();
        assert_eq!(svg.matches("<circle").count(), 24, "held-out points only");
        for legend in ["validation", "test"] {
            assert!(
                svg.contains(&format!("\n{legend}\n</text>")),
                "legend entry {legend}"
            );
        }
        assert!(!svg.contains("\ntraining\n</text>"), "no training entry");
        let cap = f.select(&sel("figcaption")).next().unwrap().inner_html();
        assert!(cap.contains("held-out rows: n = 24"), "{cap}");
    }
    let text = section(&doc, "predictions");
    for row in [
        "<td>training</td><td class=\"num\" data-v=\"96.0\">96</td>",
        "<td>validation</td><td class=\"num\" data-v=\"12.0\">12</td>",
        "<td>held-out</td><td class=\"num\" data-v=\"24.0\">24</td>",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
    // the set column is not an unlabelled output
    assert!(!text.contains("without labels (not shown): uncertainty, set"));
    // a 'set' column of the predictions wins over split.tsv: all training, all plotted
    let (_d, p) = edited("predictions.tsv", |t| {
        t.lines()
            .enumerate()
            .map(|(i, l)| format!("{l}\t{}\n", if i == 0 { "set" } else { "training" }))
            .collect()
    });
    let mut args = full_args();
    let at = args.iter().position(|a| a == "--predictions").unwrap();
    args[at + 1] = p.display().to_string();
    let html = render(&args);
    let doc = Html::parse_document(&html);
    let svg = doc
        .select(&sel("section#predictions svg"))
        .next()
        .unwrap()
        .html();
    assert_eq!(svg.matches("<circle").count(), 120);
    assert!(section(&doc, "predictions").contains("Every row is a training row"));
}

#[test]
fn summary_shows_test_and_ridge_r_noise_ceiling_total_time_and_top_pair_checks() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let summary = section(&doc, "summary");
    for kv in [
        "<td>test r, R² (Transformer, activity_k562)</td><td>0.780, 0.578</td>",
        "<td>validation r, R² (Transformer, activity_k562)</td><td>0.800, 0.610</td>",
        "<td>test r (ridge baseline, activity_k562)</td><td>0.700</td>",
        "<td>test r (ridge baseline, activity_hepg2)</td><td>0.680</td>",
        "<td>noise ceiling (r, activity_hepg2)</td><td>0.910 (",
    ] {
        assert!(summary.contains(kv), "{kv} in {summary}");
    }
    // val r2 as train printed it (metrics.tsv), not the log's last val_r2
    assert!(!summary.contains("final val_r2"));
    // total time: the sum of the log's per-epoch seconds
    let log = std::fs::read_to_string(data("model/train_log.tsv")).unwrap();
    let total: f64 = log
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(4).unwrap().parse::<f64>().unwrap())
        .sum();
    let want = format!("<td>total training time</td><td>{total:.0} s over 10 epochs</td>");
    assert!(
        total > 100.0 && summary.contains(&want),
        "{want} in {summary}"
    );
    // each top pair with its q, head, verdict and epistasis interval
    assert!(
        summary.contains(
            "GATA1 + TAL1 (q = 2.69e-11; L2H2; validation: confirmed, epistasis 0.598 [0.489, 0.708])"
        ),
        "{summary}"
    );
    assert!(summary.contains("<td>2nd pair</td><td>KLF1 + NFE2 (q = 6.44e-11"));
    // without metrics.tsv the log's final values stay
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "meta.json", "train_log.tsv"] {
        std::fs::copy(data("model").join(f), dir.path().join(f)).unwrap();
    }
    let html = render(&[
        "report".into(),
        "--model".into(),
        dir.path().display().to_string(),
    ]);
    let summary = section(&Html::parse_document(&html), "summary");
    assert!(summary.contains("final val_pearson"));
    assert!(!summary.contains("ridge baseline"));
}

#[test]
fn interactions_table_leads_with_rank_pair_head_effect_q_and_verdict() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let th: Vec<String> = doc
        .select(&sel("section#interactions th"))
        .map(|t| t.text().collect())
        .collect();
    assert_eq!(
        th[..7],
        [
            "rank", "motif_a", "motif_b", "head", "effect", "q_value", "verdict"
        ]
    );
    assert_eq!(th.iter().filter(|h| *h == "q_value").count(), 1);
    let first: Vec<String> = doc
        .select(&sel("section#interactions tbody tr"))
        .next()
        .unwrap()
        .select(&sel("td"))
        .map(|t| t.text().collect())
        .collect();
    assert_eq!(
        first[..7],
        [
            "1",
            "GATA1",
            "TAL1",
            "L2H2",
            "6.272",
            "2.69e-11",
            "confirmed"
        ]
    );
    // pairs the validation did not check say so; no validation table, no verdict column
    assert!(section(&doc, "interactions").contains("<td>not validated</td>"));
    let args: Vec<String> = full_args()
        .into_iter()
        .filter(|a| !a.contains("validation"))
        .collect();
    let html = render(&args);
    let doc = Html::parse_document(&html);
    assert!(
        !doc.select(&sel("section#interactions th"))
            .any(|t| t.text().collect::<String>() == "verdict")
    );
}

#[test]
fn heatmaps_name_normalised_entropy_and_anchor_their_scales() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let heads = section(&doc, "heads");
    assert!(heads.contains("Attention entropy (normalised, 0–1)"));
    assert!(!html.contains("nats)"), "entropy is not in nats");
    // distances from 0, fractions on 0–1: the key gives the scale and the values
    assert!(heads.contains("scale 0 to "), "{heads}");
    assert!(heads.contains("scale 0 to 1; values "));
}

#[test]
fn spacing_profiles_shade_the_best_window_and_mark_the_observed_distance() {
    let html = render(&full_args());
    let doc = Html::parse_document(&html);
    let caps: Vec<String> = doc
        .select(&sel("section#profiles figcaption"))
        .map(|c| c.text().collect())
        .collect();
    let coop: Vec<&String> = caps
        .iter()
        .filter(|c| c.starts_with("cooperativity"))
        .collect();
    assert_eq!(coop.len(), 3);
    for c in &coop {
        assert!(c.contains("Shaded: "), "{c}");
    }
    // GATA1–TAL1 peaks at 20 bp (fixture), median distance 31 bp in the interaction table
    assert!(coop[0].contains("same curve"), "{}", coop[0]);
    assert!(coop[0].contains("Dashed: the pair's median distance in the data (31 bp)."));
}

#[test]
fn null_run_adds_a_calibration_section_with_qq_plots() {
    let mut args = full_args();
    args.extend(["--null".into(), data("null").display().to_string()]);
    let html = render(&args);
    let doc = Html::parse_document(&html);
    let s = section(&doc, "null");
    assert!(doc.select(&sel("nav a[href='#null']")).next().is_some());
    assert_eq!(
        doc.select(&sel("section#null svg")).count(),
        3,
        "one QQ plot per table"
    );
    for kv in [
        "<td>per-pair table: calls at q_value &lt; 0.05</td><td>0 of 36</td>",
        "<td>rows (pair × head): calls at q_value &lt; 0.05</td><td>0 of 144</td>",
        "<td>validate (effect test): calls at effect_q &lt; 0.05</td><td>1 of 10</td>",
    ] {
        assert!(s.contains(kv), "{kv} in {s}");
    }
    assert!(s.contains("expected −log10 p (uniform)"));
    assert!(section(&doc, "methods").contains("Calibration."));
    // a folder without any of the tables is an error
    let empty = tempfile::tempdir().unwrap();
    let model = data("model").display().to_string();
    let e = empty.path().display().to_string();
    fails_with(
        &["report", "--model", &model, "--null", &e],
        "holds none of pairs.tsv, interactions.tsv, validation.tsv",
    );
    // without --null: no section
    assert!(!render(&full_args()).contains("id=\"null\""));
}
