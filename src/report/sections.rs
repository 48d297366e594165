//! Turns each input table into a page section: key numbers, charts and tables.
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use super::{
    Cell, Figure, Kv, ReportInputs, Section, TableView,
    plot::{self, Grid, Marks, PointGroup, Scale, Series, short_num},
};
use crate::{
    Error, Result,
    io::{
        tables::{HEADS, INTERACTIONS, METRICS, PAIRS, PATCH, PREDICTIONS, SPLIT, VALIDATION},
        tsv::{Table, is_missing},
    },
    stats,
};

const WIDE: (u32, u32) = (560, 320);
const SQUARE: (u32, u32) = (380, 360);
/// Most points drawn per scatter plot; larger sets are thinned by a fixed stride.
const MAX_POINTS: usize = 4000;
/// Pairs that get spacing/co-attention profile charts.
const MAX_PROFILE_PAIRS: usize = 6;

/// All sections in page order; a section whose input was not given is left out of the
/// page and named in the summary instead.
pub(crate) fn build(inp: &ReportInputs) -> Result<Vec<Section>> {
    let dir = &inp.model_dir;
    let config = read_json_opt(&dir.join("config.json"))?;
    let meta = read_json_opt(&dir.join("meta.json"))?;
    let table_in = |name: &str| {
        let p = dir.join(name);
        p.is_file().then(|| Table::read(&p)).transpose()
    };
    let train_log = table_in("train_log.tsv")?;
    let metrics = table_in("metrics.tsv")?;
    let split = table_in("split.tsv")?;
    // A `simulate` data set keeps its summary.json beside labels.tsv.
    let sim_path = inp.sim_summary.clone().or_else(|| {
        let p = inp.labels.as_ref()?.parent()?.join("summary.json");
        p.is_file().then_some(p)
    });
    let sim = match &sim_path {
        Some(p) => read_json_opt(p)?,
        None => None,
    };
    let heads = read_opt(&inp.heads)?;
    let top = if inp.top_interactions == 0 {
        100
    } else {
        inp.top_interactions
    };
    let interactions = inp
        .interactions
        .as_ref()
        .map(|p| Table::read_head(p, top))
        .transpose()?;
    let validation = read_opt(&inp.validation)?;
    let spacing = read_opt(&inp.spacing)?;
    let redundancy = read_opt(&inp.redundancy)?;
    let patch = read_opt(&inp.patch)?;
    let predictions = read_opt(&inp.predictions)?;
    let labels = read_opt(&inp.labels)?;
    let pruning = read_opt(&inp.pruning)?;
    let forgetting = read_opt(&inp.forgetting)?;

    let training = training_section(train_log.as_ref(), metrics.is_some())?;
    let prediction = prediction_section(predictions.as_ref(), labels.as_ref(), split.as_ref())?;
    let head_atlas = heads_section(heads.as_ref())?;
    let redundancy_sec = redundancy_section(heads.as_ref(), redundancy.as_ref())?;
    let inter = interactions_section(interactions.as_ref(), validation.as_ref())?;
    let profiles = profiles_section(
        spacing.as_ref(),
        validation.as_ref(),
        interactions.as_ref().map(|t| &t.0),
    )?;
    let valid = validation_section(validation.as_ref())?;
    let patching = patch.as_ref().map(patching_section).transpose()?;
    let null = inp.null_dir.as_deref().map(null_section).transpose()?;
    let prune = plain_table_section(
        "pruning",
        "Pruning",
        pruning.as_ref(),
        "No pruning table was given (--pruning).",
    );
    let forget = plain_table_section(
        "forgetting",
        "Forgetting",
        forgetting.as_ref(),
        "No forgetting table was given (--forgetting).",
    );

    let mut summary = Section::new("summary", "Run summary");
    let run = Run {
        meta: meta.as_ref(),
        config: config.as_ref(),
        log: train_log.as_ref(),
        metrics: metrics.as_ref(),
        sim: sim.as_ref().zip(sim_path.as_deref()),
        heads: heads.as_ref(),
        inter: interactions.as_ref(),
        valid: validation.as_ref(),
    };
    summary.kvs = summary_kvs(inp, &run)?;
    let mut params = Section::new("parameters", "Parameters (to reproduce)");
    match (&config, &meta) {
        (None, None) => {
            params = params.absent("The model directory has no config.json or meta.json.")
        }
        _ => {
            for (name, json) in [("config.json", &config), ("meta.json", &meta)] {
                match json {
                    Some(v) => {
                        let mut t = TableView::new(name, vec!["key".into(), "value".into()], false);
                        for (k, v) in flatten_json(v) {
                            t.push(vec![Cell::text(k), Cell::text(v)]);
                        }
                        params.tables.push(t);
                    }
                    None => params
                        .notes
                        .push(format!("{name} is absent from the model directory.")),
                }
            }
        }
    }
    let mut all = vec![
        params,
        training,
        prediction,
        head_atlas,
        redundancy_sec,
        inter,
        profiles,
        valid,
    ];
    all.extend(patching);
    all.extend(null);
    all.extend([prune, forget]);
    let (shown, left_out): (Vec<Section>, Vec<Section>) =
        all.into_iter().partition(|s| s.missing.is_none());
    if !left_out.is_empty() {
        let titles: Vec<&str> = left_out.iter().map(|s| s.title).collect();
        let why: Vec<&str> = left_out
            .iter()
            .filter_map(|s| s.missing.as_deref())
            .collect();
        summary.notes.push(format!(
            "Not shown for lack of input: {}. {}",
            titles.join(", "),
            why.join(" ")
        ));
    }
    let mut out = vec![summary];
    out.extend(shown);
    out.push(Section::new("methods", "Methods"));
    Ok(out)
}

/// What the run summary reads.
struct Run<'a> {
    meta: Option<&'a serde_json::Value>,
    config: Option<&'a serde_json::Value>,
    log: Option<&'a Table>,
    /// `train`'s metrics.tsv: the final (calibrated) model's numbers, as `train` printed them.
    metrics: Option<&'a Table>,
    /// A `simulate` summary.json and where it was read.
    sim: Option<(&'a serde_json::Value, &'a Path)>,
    heads: Option<&'a Table>,
    inter: Option<&'a (Table, usize)>,
    valid: Option<&'a Table>,
}

fn read_opt(p: &Option<std::path::PathBuf>) -> Result<Option<Table>> {
    p.as_ref().map(Table::read).transpose()
}

fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::parse(
            path,
            e.line() as u64,
            format!("invalid JSON at column {}: {e}", e.column()),
        )
    })?;
    Ok(Some(v))
}

/// `a.b[2].c = value` rows; short arrays of plain values stay on one line.
pub(crate) fn flatten_json(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        use serde_json::Value as J;
        match v {
            J::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            J::Array(a)
                if !a.is_empty()
                    && (a.len() > 16 || a.iter().any(|x| x.is_object() || x.is_array())) =>
            {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            J::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn json_get<'a>(v: Option<&'a serde_json::Value>, keys: &[&str]) -> Option<&'a serde_json::Value> {
    let v = v?;
    keys.iter().find_map(|k| v.get(*k))
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn summary_kvs(inp: &ReportInputs, run: &Run) -> Result<Vec<Kv>> {
    let (config, meta) = (run.config, run.meta);
    let mut kv = vec![Kv::new(
        "model directory",
        inp.model_dir.display().to_string(),
    )];
    for (label, keys) in [
        (
            "crate version (training)",
            &["crate_version", "version"][..],
        ),
        ("format version", &["format_version"][..]),
        ("seed", &["seed"][..]),
        ("labels", &["label_names", "labels"][..]),
    ] {
        if let Some(v) = json_get(meta, keys) {
            kv.push(Kv::new(label, json_text(v)));
        }
    }
    for (label, keys) in [
        ("layers", &["n_layers", "layers", "num_layers"][..]),
        ("heads per layer", &["n_heads", "heads", "num_heads"][..]),
        ("model width", &["d_model", "hidden_size", "dim"][..]),
        ("k-mer size", &["k", "kmer", "k_mer"][..]),
    ] {
        let found = json_get(config, keys).or_else(|| {
            json_get(config, &["model"]).and_then(|m| keys.iter().find_map(|k| m.get(*k)))
        });
        if let Some(v) = found {
            kv.push(Kv::new(label, json_text(v)));
        }
    }
    if let Some(m) = run.metrics {
        kv.extend(metric_kvs(m, run.sim)?);
    } else if let Some((json, path)) = run.sim {
        for (name, c) in noise_ceilings(json) {
            kv.push(Kv::new(
                format!("noise ceiling (r){}", suffix(&name, 2)),
                format!("{} ({})", short_num(c), path.display()),
            ));
        }
    }
    if let Some(t) = run.log
        && !t.is_empty()
    {
        let last = t.len() - 1;
        if t.col("seconds").is_some() {
            let secs: f64 = (0..t.len())
                .map(|r| t.num(r, "seconds"))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .sum();
            let best = json_get(meta, &["extra"])
                .and_then(|e| e.get("best_epoch"))
                .map(|b| format!(", best epoch {}", json_text(b)))
                .unwrap_or_default();
            kv.push(Kv::new(
                "total training time",
                format!("{} over {} epochs{best}", duration(secs), t.len()),
            ));
        } else {
            kv.push(Kv::new("training log rows", t.len().to_string()));
        }
        for c in ["epoch", "step"] {
            if t.col(c).is_some() {
                kv.push(Kv::new(format!("last {c}"), t.str(last, c)));
            }
        }
        // Without metrics.tsv the log is all there is; with it, the log's val_* (before
        // the final calibration) would disagree with what `train` printed.
        if run.metrics.is_none() {
            for c in t.header().iter().filter(|c| c.starts_with("val_")) {
                let vals: Vec<f64> = (0..t.len())
                    .map(|r| t.num(r, c))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .flatten()
                    .collect();
                if let Some(&v) = vals.last() {
                    kv.push(Kv::new(format!("final {c}"), short_num(v)));
                }
            }
        }
    }
    if let Some(t) = run.heads {
        let n_prune = (0..t.len())
            .filter(|&r| {
                matches!(
                    t.str(r, "prune_candidate").to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes"
                )
            })
            .count();
        kv.push(Kv::new("heads analysed", t.len().to_string()));
        if t.col("prune_candidate").is_some() {
            kv.push(Kv::new("prune candidates", n_prune.to_string()));
        }
    }
    if let Some((t, total)) = run.inter {
        kv.push(Kv::new("interaction rows", total.to_string()));
        if t.has(&["motif_a", "motif_b"]) {
            kv.extend(top_pair_kvs(t, run.valid));
        }
    }
    if let Some(t) = run.valid {
        kv.push(Kv::new("validated pairs", t.len().to_string()));
        if t.col("verdict").is_some() {
            kv.push(Kv::new("verdicts", verdict_counts(t).join(", ")));
        }
    }
    Ok(kv)
}

/// `", name"` when there are `n` or more outputs to tell apart, else nothing.
fn suffix(name: &str, n: usize) -> String {
    if n > 1 && !name.is_empty() {
        format!(", {name}")
    } else {
        String::new()
    }
}

/// Seconds as `73.8 s`, or with minutes beside them from two minutes on.
fn duration(secs: f64) -> String {
    if secs >= 120.0 {
        format!("{} s ({:.1} min)", short_num(secs), secs / 60.0)
    } else {
        format!("{} s", short_num(secs))
    }
}

/// `(output name, noise ceiling)` from a `simulate` summary.json.
fn noise_ceilings(sim: &serde_json::Value) -> Vec<(String, f64)> {
    sim.get("outputs")
        .and_then(|o| o.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| {
                    let c = o.get("noise_ceiling")?.as_f64()?;
                    let name = o.get("name").and_then(|n| n.as_str()).unwrap_or("");
                    Some((name.to_string(), c))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Validation and test r of the Transformer, the ridge baseline's test r and the noise
/// ceiling, per output, from `train`'s metrics.tsv (the numbers `train` printed).
fn metric_kvs(m: &Table, sim: Option<(&serde_json::Value, &Path)>) -> Result<Vec<Kv>> {
    let [model_col, set_col, output_col] = ["model", "set", "output"].map(|c| METRICS.col(c));
    m.require(&[model_col, set_col, output_col, METRICS.col("pearson")])?;
    let mut outputs: Vec<&str> = Vec::new();
    for r in 0..m.len() {
        let o = m.str(r, output_col);
        if !outputs.contains(&o) {
            outputs.push(o);
        }
    }
    let get = |model: &str, set: &str, output: &str, col: &str| -> Result<Option<f64>> {
        for r in 0..m.len() {
            if m.str(r, model_col) == model
                && m.str(r, set_col) == set
                && m.str(r, output_col) == output
            {
                return m.num(r, col);
            }
        }
        Ok(None)
    };
    let fmt = |v: Option<f64>| v.map_or("NA".to_string(), |v| format!("{v:.3}"));
    let ceilings = sim.map(|(j, _)| noise_ceilings(j)).unwrap_or_default();
    let mut kv = Vec::new();
    for (i, &o) in outputs.iter().enumerate() {
        let sfx = suffix(o, outputs.len());
        for (set, label) in [("validation", "validation"), ("test", "test")] {
            let r = get("transformer", set, o, METRICS.col("pearson"))?;
            if r.is_some() {
                let r2 = get("transformer", set, o, METRICS.col("r2"))?;
                kv.push(Kv::new(
                    format!("{label} r, R² (Transformer{sfx})"),
                    format!("{}, {}", fmt(r), fmt(r2)),
                ));
            }
        }
        if let Some(r) = get("ridge", "test", o, METRICS.col("pearson"))? {
            kv.push(Kv::new(
                format!("test r (ridge baseline{sfx})"),
                fmt(Some(r)),
            ));
        }
        let ceiling = ceilings
            .iter()
            .find(|(n, _)| n == o)
            .or_else(|| ceilings.get(i).filter(|_| outputs.len() == ceilings.len()));
        if let (Some((_, c)), Some((_, path))) = (ceiling, sim) {
            kv.push(Kv::new(
                format!("noise ceiling (r{sfx})"),
                format!("{} ({})", fmt(Some(*c)), path.display()),
            ));
        }
    }
    Ok(kv)
}

/// The validation row of the unordered pair `a`–`b`.
fn validation_row(v: &Table, a: &str, b: &str) -> Option<usize> {
    (0..v.len()).find(|&r| {
        let (x, y) = (
            v.str(r, VALIDATION.col("motif_a")),
            v.str(r, VALIDATION.col("motif_b")),
        );
        (x == a && y == b) || (x == b && y == a)
    })
}

/// `name`, checked against the two tables `interactions` writes (the report reads either).
fn link_col(name: &'static str) -> &'static str {
    assert!(
        INTERACTIONS.has(name) || PAIRS.has(name),
        "neither interactions.tsv nor pairs.tsv has a column {name}"
    );
    name
}

/// The q column of an interaction or per-pair table (`joint_q` is the older name).
fn q_column(t: &Table) -> Option<&'static str> {
    ["q_value", "joint_q"]
        .map(link_col)
        .into_iter()
        .find(|c| t.col(c).is_some())
}

/// A row's head as `L<layer>H<head>` (per-pair tables name it `best_layer`/`best_head`).
fn head_label(t: &Table, r: usize) -> Option<String> {
    let (l, h) = head_label_cols(t)?;
    Some(format!("L{}H{}", t.str(r, l), t.str(r, h)))
}

/// The first three distinct pairs of the interaction table, each with its q-value, head,
/// and its validation verdict and causal effect with its interval when validated.
fn top_pair_kvs(t: &Table, valid: Option<&Table>) -> Vec<Kv> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut kv = Vec::new();
    for r in 0..t.len() {
        let (a, b) = (t.str(r, link_col("motif_a")), t.str(r, link_col("motif_b")));
        if seen
            .iter()
            .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
        {
            continue;
        }
        seen.push((a.to_string(), b.to_string()));
        let mut parts = Vec::new();
        if let Some(q) = q_column(t) {
            parts.push(format!("q = {}", t.str(r, q)));
        }
        if let Some(h) = head_label(t, r) {
            parts.push(h);
        }
        if let Some(v) = valid {
            parts.push(validation_of(v, a, b));
        }
        let key = match seen.len() {
            1 => "top pair".to_string(),
            2 => "2nd pair".to_string(),
            _ => "3rd pair".to_string(),
        };
        kv.push(Kv::new(key, format!("{a} + {b} ({})", parts.join("; "))));
        if seen.len() == 3 {
            break;
        }
    }
    kv
}

/// `validation: <verdict>, <test> E [lo, hi] at <band> bp` for pair `a`–`b` of a
/// validation table (either order): the effect test behind the verdict when the table
/// names it, else the plain epistasis and its bootstrap interval, and a warning when the
/// attention and causal evidence disagree; `not validated` when the pair has no row.
pub fn validation_of(v: &Table, a: &str, b: &str) -> String {
    match validation_row(v, a, b) {
        Some(r) => validation_summary(v, r),
        None => "not validated".into(),
    }
}

fn validation_summary(v: &Table, r: usize) -> String {
    let verdict = v.str(r, VALIDATION.col("verdict"));
    let verdict = if is_missing(verdict) { "NA" } else { verdict };
    let (what, e, lo, hi) = if v.has(&[
        VALIDATION.col("effect"),
        VALIDATION.col("effect_lo"),
        VALIDATION.col("effect_hi"),
    ]) {
        let what = match v.str(r, VALIDATION.col("effect_test")) {
            "specific" => "arrangement-specific epistasis",
            "cooperative" => "epistasis (one-sided)",
            _ => "epistasis",
        };
        (what, "effect", "effect_lo", "effect_hi")
    } else {
        (
            "epistasis",
            "epistasis",
            "epistasis_ci_low",
            "epistasis_ci_high",
        )
    };
    let note = match verdict {
        "attention-only" | "effect-only" => ": attention and the causal test disagree",
        _ => "",
    };
    let band = VALIDATION.col("gap_band");
    let at = match v.has(&[band]) && !is_missing(v.str(r, band)) {
        true => format!(" at {} bp", v.str(r, band)),
        false => String::new(),
    };
    if v.has(&[e, lo, hi]) {
        format!(
            "validation: {verdict}, {what} {} [{}, {}]{at}{note}",
            v.str(r, e),
            v.str(r, lo),
            v.str(r, hi)
        )
    } else {
        format!("validation: {verdict}{note}")
    }
}

fn verdict_counts(t: &Table) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..t.len() {
        let v = t.str(r, VALIDATION.col("verdict"));
        let v = if is_missing(v) { "NA" } else { v };
        *counts.entry(v.to_string()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect()
}

/// Numeric column as (x, y) points, skipping rows where either is missing.
fn points(t: &Table, x: &str, y: &str) -> Result<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for r in 0..t.len() {
        if let (Some(a), Some(b)) = (t.num(r, x)?, t.num(r, y)?) {
            out.push((a, b));
        }
    }
    Ok(out)
}

fn is_loss_like(name: &str) -> bool {
    ["loss", "mse", "mae", "rmse"]
        .iter()
        .any(|k| name.contains(k))
}

/// `has_metrics`: the model directory has metrics.tsv, whose numbers the summary shows.
fn training_section(log: Option<&Table>, has_metrics: bool) -> Result<Section> {
    let mut s = Section::new("training", "Training curves");
    let Some(t) = log else {
        return Ok(s.absent("The model directory has no train_log.tsv."));
    };
    let x = if t.col("step").is_some() {
        "step"
    } else if t.col("epoch").is_some() {
        "epoch"
    } else {
        return Err(Error::Parse {
            path: t.path().to_string(),
            line: 1,
            msg: "missing column 'step' or 'epoch'".into(),
        });
    };
    if t.is_empty() {
        return Ok(s.absent("train_log.tsv has no rows yet."));
    }
    let val_cols: Vec<&String> = t
        .header()
        .iter()
        .filter(|c| c.starts_with("val_"))
        .collect();
    let mut losses = Vec::new();
    for c in std::iter::once(&"train_loss".to_string())
        .chain(val_cols.iter().copied().filter(|c| is_loss_like(c)))
    {
        if t.col(c).is_some() {
            losses.push(Series {
                name: c.clone(),
                points: points(t, x, c)?,
            });
        }
    }
    if !losses.is_empty() {
        s.figures.push(Figure::new(
            plot::line_chart("Loss", x, "loss", &losses, WIDE)?,
            format!("Training loss and validation losses per {x}."),
        ));
    }
    let metrics: Vec<Series> = val_cols
        .iter()
        .filter(|c| !is_loss_like(c))
        .map(|c| {
            Ok(Series {
                name: c.to_string(),
                points: points(t, x, c)?,
            })
        })
        .collect::<Result<_>>()?;
    if !metrics.is_empty() {
        s.figures.push(Figure::new(
            plot::line_chart("Validation metrics", x, "value", &metrics, WIDE)?,
            "Validation metrics (higher is better) measured during training.",
        ));
    }
    if t.col("lr").is_some() {
        let lr = vec![Series {
            name: "lr".into(),
            points: points(t, x, "lr")?,
        }];
        s.figures.push(Figure::new(
            plot::line_chart("Learning rate", x, "lr", &lr, WIDE)?,
            "Learning-rate schedule.",
        ));
    }
    let mut best = TableView::new(
        "Best and final values",
        vec![
            "column".into(),
            "best".into(),
            format!("at {x}"),
            "final".into(),
        ],
        false,
    );
    for c in std::iter::once(&"train_loss".to_string()).chain(val_cols.iter().copied()) {
        if t.col(c).is_none() {
            continue;
        }
        let pts = points(t, x, c)?;
        let lower = is_loss_like(c);
        let best_pt = pts.iter().copied().reduce(|a, b| {
            let better = if lower { b.1 < a.1 } else { b.1 > a.1 };
            if better { b } else { a }
        });
        if let (Some(b), Some(last)) = (best_pt, pts.last()) {
            best.push(vec![
                Cell::text(c.clone()),
                Cell::text(short_num(b.1)),
                Cell::text(short_num(b.0)),
                Cell::text(short_num(last.1)),
            ]);
        }
    }
    s.tables.push(best);
    if has_metrics {
        s.notes.push(
            "The val_* columns are measured during training; the summary's validation and test \
             numbers are the final model's (metrics.tsv, after train's linear calibration), as \
             train printed them."
                .into(),
        );
    }
    Ok(s)
}

fn id_index(t: &Table) -> Result<HashMap<&str, usize>> {
    t.require(&["id"])?;
    let mut idx = HashMap::with_capacity(t.len());
    for r in 0..t.len() {
        if idx.insert(t.str(r, "id"), r).is_some() {
            return Err(Error::parse(
                t.path(),
                t.line(r),
                format!("id '{}' appears twice", t.str(r, "id")),
            ));
        }
    }
    Ok(idx)
}

/// The set (`training`, `validation`, `test`) of each prediction row: the predictions'
/// own `set` column, else the model's split.tsv, else the labels' `set` column; `None`
/// when none of them knows.
fn row_sets(
    p: &Table,
    o: &Table,
    obs_idx: &HashMap<&str, usize>,
    split: Option<&Table>,
) -> Result<Option<Vec<String>>> {
    let (pid, pset) = (PREDICTIONS.col("id"), PREDICTIONS.col("set"));
    if p.col(pset).is_some() {
        return Ok(Some(
            (0..p.len()).map(|r| p.str(r, pset).to_string()).collect(),
        ));
    }
    let sset = SPLIT.col("set");
    if let Some(sp) = split.filter(|t| t.has(&[SPLIT.col("id"), sset])) {
        let idx = id_index(sp)?;
        return Ok(Some(
            (0..p.len())
                .map(|r| {
                    idx.get(p.str(r, pid))
                        .map_or("NA".to_string(), |&i| sp.str(i, sset).to_string())
                })
                .collect(),
        ));
    }
    // The labels' own `set` column (the labels format, not a table cisformer writes).
    if o.col("set").is_some() {
        return Ok(Some(
            (0..p.len())
                .map(|r| o.str(obs_idx[p.str(r, pid)], "set").to_string())
                .collect(),
        ));
    }
    Ok(None)
}

/// Agreement of predictions with observations over some rows.
struct Agreement {
    n: usize,
    pearson: Option<f64>,
    spearman: Option<f64>,
    r2: Option<f64>,
}

/// A correlation the report can print: the table's values are finite, so NaN only
/// means fewer than two points or a constant input, shown as NA.
fn defined(r: f64) -> Option<f64> {
    (!r.is_nan()).then_some(r)
}

/// R² of `pred` for `obs`, NA where the observations do not vary (or are fewer than
/// two): `stats::r2` follows scikit-learn's 1-or-0 there, which would read as a fit.
fn r2_of_varying(pred: &[f64], obs: &[f64]) -> Option<f64> {
    let mean = obs.iter().sum::<f64>() / obs.len() as f64;
    // The same test as a positive total sum of squares, term by term.
    let varies = obs.iter().any(|&o| (o - mean) * (o - mean) > 0.0);
    (obs.len() >= 2 && varies).then(|| stats::r2(pred, obs))
}

fn is_training(set: &str) -> bool {
    matches!(set, "training" | "train")
}

fn prediction_section(
    pred: Option<&Table>,
    obs: Option<&Table>,
    split: Option<&Table>,
) -> Result<Section> {
    let mut s = Section::new("predictions", "Predicted vs observed");
    let (p, o) = match (pred, obs) {
        (Some(p), Some(o)) => (p, o),
        (None, None) => {
            return Ok(s.absent("No predictions were given (--predictions with --labels)."));
        }
        (Some(_), None) => {
            return Ok(s.absent("Predictions were given without --labels; both are needed."));
        }
        (None, Some(_)) => {
            return Ok(s.absent("Labels were given without --predictions; both are needed."));
        }
    };
    let obs_idx = id_index(o)?;
    id_index(p)?;
    let output_col = |c: &&String| *c != PREDICTIONS.col("id") && *c != PREDICTIONS.col("set");
    let outputs: Vec<&String> = p
        .header()
        .iter()
        .filter(|c| output_col(c) && o.col(c).is_some())
        .collect();
    if outputs.is_empty() {
        return Err(Error::Invalid(format!(
            "{} and {} share no output column besides 'id'",
            p.path(),
            o.path()
        )));
    }
    let missing: Vec<&str> = (0..p.len())
        .map(|r| p.str(r, "id"))
        .filter(|id| !obs_idx.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: {} predicted id(s) missing from {} (first: {})",
            p.path(),
            missing.len(),
            o.path(),
            missing
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let unused: Vec<&String> = p
        .header()
        .iter()
        .filter(|c| output_col(c) && o.col(c).is_none())
        .collect();
    if !unused.is_empty() {
        s.notes.push(format!(
            "Prediction columns without labels (not shown): {}.",
            unused
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let sets = row_sets(p, o, &obs_idx, split)?;
    // Set names in a fixed order: training, validation, test, then any other as it comes.
    let mut set_order: Vec<String> = Vec::new();
    if let Some(sets) = &sets {
        let rank = |x: &str| match x {
            "training" | "train" => 0,
            "validation" | "val" => 1,
            "test" => 2,
            _ => 3,
        };
        for x in sets {
            if !set_order.contains(x) {
                set_order.push(x.clone());
            }
        }
        set_order.sort_by_key(|x| rank(x));
    }
    let held_out: Vec<&String> = set_order.iter().filter(|x| !is_training(x)).collect();
    // Plot held-out rows when the split is known and has any; otherwise every row.
    let plot_held_out = !held_out.is_empty();
    match (&sets, plot_held_out) {
        (None, _) => s.notes.push(
            "No split is known (no 'set' column, no split.tsv in the model directory): every row is plotted."
                .into(),
        ),
        (Some(_), false) => s
            .notes
            .push("Every row is a training row: the plot shows training data.".into()),
        (Some(_), true) => s.notes.push(format!(
            "The plots and their r show held-out rows only ({}); training rows are in the table.",
            held_out
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    let mut table = TableView::new(
        "Agreement per output and set",
        ["output", "set", "n", "pearson", "spearman", "r2"]
            .map(String::from)
            .to_vec(),
        false,
    );
    let fmt = |v: Option<f64>| v.map_or("NA".to_string(), |v| format!("{v:.3}"));
    for c in &outputs {
        // (set, observed, predicted) of every row with both values.
        let mut rows: Vec<(&str, f64, f64)> = Vec::new();
        for r in 0..p.len() {
            let orow = obs_idx[p.str(r, "id")];
            if let (Some(pv), Some(ov)) = (p.num(r, c)?, o.num(orow, c)?) {
                let set = sets.as_ref().map_or("all", |x| x[r].as_str());
                rows.push((set, ov, pv));
            }
        }
        let agree = |keep: &dyn Fn(&str) -> bool| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .filter(|r| keep(r.0))
                .map(|r| (r.1, r.2))
                .unzip();
            Agreement {
                n: xs.len(),
                pearson: defined(stats::pearson(&xs, &ys)),
                spearman: defined(stats::spearman(&xs, &ys)),
                r2: r2_of_varying(&ys, &xs),
            }
        };
        let mut push = |set: &str, a: Agreement| {
            table.push(vec![
                Cell::text(c.as_str()),
                Cell::text(set),
                Cell::text(a.n.to_string()),
                Cell::text(fmt(a.pearson)),
                Cell::text(fmt(a.spearman)),
                Cell::text(fmt(a.r2)),
            ]);
        };
        for set in &set_order {
            push(set, agree(&|x| x == set.as_str()));
        }
        if held_out.len() > 1 {
            push("held-out", agree(&|x| !is_training(x)));
        }
        if sets.is_none() {
            push("all", agree(&|_| true));
        }
        let shown = |x: &str| !plot_held_out || !is_training(x);
        let Agreement {
            n,
            pearson: pr,
            spearman: sp,
            ..
        } = agree(&shown);
        let plotted: Vec<&String> = if plot_held_out {
            held_out.clone()
        } else {
            set_order.iter().collect()
        };
        let stride = n.div_ceil(MAX_POINTS).max(1);
        let mut groups: Vec<PointGroup> = if sets.is_none() {
            vec![PointGroup {
                name: c.to_string(),
                ..PointGroup::default()
            }]
        } else {
            plotted
                .iter()
                .map(|x| PointGroup {
                    name: x.to_string(),
                    ..PointGroup::default()
                })
                .collect()
        };
        for (k, r) in rows.iter().filter(|r| shown(r.0)).enumerate() {
            if k % stride != 0 {
                continue;
            }
            let g = if sets.is_none() {
                0
            } else {
                plotted.iter().position(|x| x.as_str() == r.0).unwrap_or(0)
            };
            groups[g].points.push((r.1, r.2));
        }
        let which = if plot_held_out { "held-out" } else { "all" };
        let mut caption = format!(
            "{c}, {which} rows: n = {n}, Pearson r = {}, Spearman ρ = {}.",
            fmt(pr),
            fmt(sp)
        );
        if stride > 1 {
            caption.push_str(&format!(" Every {stride}th point drawn."));
        }
        s.figures.push(Figure::new(
            plot::scatter(c, "observed", "predicted", &groups, true, SQUARE)?,
            caption,
        ));
    }
    s.tables.push(table);
    Ok(s)
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn abbreviate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Layer/head ids of a head table's rows (checked for duplicates) and the grid they span.
struct HeadGrid {
    ids: Vec<(usize, usize)>,
    layers: usize,
    heads: usize,
}

fn head_grid(t: &Table) -> Result<HeadGrid> {
    t.require(&[HEADS.col("layer"), HEADS.col("head")])?;
    let mut ids = Vec::with_capacity(t.len());
    let mut seen = HashMap::new();
    for r in 0..t.len() {
        let id = (
            t.uint_req(r, HEADS.col("layer"))?,
            t.uint_req(r, HEADS.col("head"))?,
        );
        if id.0 > 4096 || id.1 > 4096 {
            return Err(Error::parse(
                t.path(),
                t.line(r),
                "layer or head index above 4096",
            ));
        }
        if let Some(prev) = seen.insert(id, r) {
            return Err(Error::parse(
                t.path(),
                t.line(r),
                format!(
                    "layer {} head {} already on line {}",
                    id.0,
                    id.1,
                    t.line(prev)
                ),
            ));
        }
        ids.push(id);
    }
    let layers = ids.iter().map(|i| i.0 + 1).max().unwrap_or(0);
    let heads = ids.iter().map(|i| i.1 + 1).max().unwrap_or(0);
    Ok(HeadGrid { ids, layers, heads })
}

fn layer_head_labels(layers: usize, heads: usize) -> (Vec<String>, Vec<String>) {
    (
        (0..layers).map(|l| format!("L{l}")).collect(),
        (0..heads).map(|h| format!("H{h}")).collect(),
    )
}

fn heads_section(heads: Option<&Table>) -> Result<Section> {
    let mut s = Section::new("heads", "Head atlas");
    let Some(t) = heads else {
        return Ok(s.absent("No head atlas was given (--heads)."));
    };
    let HeadGrid {
        ids,
        layers,
        heads: nheads,
    } = head_grid(t)?;
    if ids.is_empty() {
        return Ok(s.absent("The head atlas has no rows."));
    }
    let (rl, cl) = layer_head_labels(layers, nheads);
    let cell = if nheads > 16 { 22 } else { 42 };
    // Each panel's colour scale starts where its quantity has a natural origin: fractions
    // on 0–1, distances from 0, enrichment a ratio (white at 1, no focus), importance
    // diverging at 0.
    let panels = [
        (
            HEADS.col("entropy"),
            "Attention entropy (normalised, 0–1)",
            Scale::Fixed(0.0, 1.0),
        ),
        (
            HEADS.col("mean_distance_bp"),
            "Mean attention distance (bp)",
            Scale::FromZero,
        ),
        (
            HEADS.col("local_fraction"),
            "Local fraction",
            Scale::Fixed(0.0, 1.0),
        ),
        (
            HEADS.col("boundary_fraction"),
            "Boundary mass (CLS/SEP)",
            Scale::Fixed(0.0, 1.0),
        ),
        (
            HEADS.col("top_motif_enrichment"),
            "Motif focus (top-motif enrichment)",
            Scale::Ratio,
        ),
        (
            HEADS.col("importance_dmetric"),
            "Importance (Δ metric on ablation)",
            Scale::Diverging(0.0),
        ),
    ];
    for (col, title, scale) in panels {
        if t.col(col).is_none() {
            continue;
        }
        let mut values = vec![None; layers * nheads];
        // The motif-focus panel names each head's motif; the colour is its enrichment.
        let named =
            col == HEADS.col("top_motif_enrichment") && t.col(HEADS.col("top_motif")).is_some();
        let mut text = vec![String::new(); if named { layers * nheads } else { 0 }];
        for (r, &(l, h)) in ids.iter().enumerate() {
            values[l * nheads + h] = t.num(r, col)?;
            let m = t.str(r, HEADS.col("top_motif"));
            if named && !is_missing(m) {
                text[l * nheads + h] = abbreviate(m, 6);
            }
        }
        let grid = Grid {
            title: title.to_string(),
            row_labels: rl.clone(),
            col_labels: cl.clone(),
            values,
            cell_text: text,
            scale,
        };
        let what = match scale {
            Scale::Diverging(c) => format!("white = {}", short_num(c)),
            Scale::Ratio => "white = 1, no enrichment".into(),
            Scale::FromZero => "scale from 0".into(),
            _ => "scale 0–1".into(),
        };
        let mut caption = format!("{title}: layer × head (column {col}; {what}; grey = no value).");
        if named {
            caption.push_str(" Cells name the top motif; the table below gives the values.");
        }
        s.figures
            .push(Figure::new(plot::heatmap(&grid, cell)?, caption));
    }
    if t.col(HEADS.col("top_motif")).is_some() {
        let mut focus = TableView::new(
            "Top motif per head",
            ["head", "top_motif", "enrichment", "p"]
                .map(String::from)
                .to_vec(),
            true,
        );
        for (r, &(l, h)) in ids.iter().enumerate() {
            let m = t.str(r, HEADS.col("top_motif"));
            if is_missing(m) {
                continue;
            }
            focus.push(vec![
                Cell::text(format!("L{l}H{h}")),
                Cell::text(m),
                Cell::text(t.str(r, HEADS.col("top_motif_enrichment"))),
                Cell::text(t.str(r, HEADS.col("top_motif_p"))),
            ]);
        }
        if !focus.rows.is_empty() {
            s.tables.push(focus);
        }
    }
    s.tables
        .push(TableView::from_tsv("All head statistics", t, usize::MAX));
    Ok(s)
}

fn redundancy_section(heads: Option<&Table>, matrix: Option<&Table>) -> Result<Section> {
    let mut s = Section::new("redundancy", "Head redundancy");
    if let Some(m) = matrix {
        let cols = ["layer_a", "head_a", "layer_b", "head_b", "similarity"];
        m.require(&cols)?;
        let mut ids: Vec<(usize, usize)> = Vec::new();
        let mut cells = Vec::with_capacity(m.len());
        for r in 0..m.len() {
            let a = (m.uint_req(r, "layer_a")?, m.uint_req(r, "head_a")?);
            let b = (m.uint_req(r, "layer_b")?, m.uint_req(r, "head_b")?);
            cells.push((a, b, m.num(r, "similarity")?));
            ids.push(a);
            ids.push(b);
        }
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > 256 {
            return Err(Error::Invalid(format!(
                "{}: {} heads is too many for a matrix on one page (at most 256)",
                m.path(),
                ids.len()
            )));
        }
        let pos: HashMap<(usize, usize), usize> =
            ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let n = ids.len();
        let mut values = vec![None; n * n];
        for (a, b, v) in cells {
            let (i, j) = (pos[&a], pos[&b]);
            values[i * n + j] = v;
            if values[j * n + i].is_none() {
                values[j * n + i] = v;
            }
        }
        let labels: Vec<String> = ids.iter().map(|(l, h)| format!("L{l}H{h}")).collect();
        let grid = Grid {
            title: "Head-by-head similarity".into(),
            row_labels: labels.clone(),
            col_labels: labels,
            scale: Scale::unit_or(&values, Scale::Diverging(0.0)),
            values,
            cell_text: Vec::new(),
        };
        let cell = if n > 24 { 16 } else { 34 };
        s.figures.push(Figure::new(
            plot::heatmap(&grid, cell)?,
            "Pairwise similarity of head attention patterns (symmetric; grey = not computed).",
        ));
        return Ok(s);
    }
    let Some(t) = heads.filter(|t| t.col("redundancy").is_some()) else {
        return Ok(s.absent(
            "No redundancy data: give --redundancy (pairwise similarities) or a head atlas with a 'redundancy' column.",
        ));
    };
    let HeadGrid {
        ids,
        layers,
        heads: nheads,
    } = head_grid(t)?;
    let (rl, cl) = layer_head_labels(layers, nheads);
    let mut values = vec![None; layers * nheads];
    let mut text = vec![String::new(); layers * nheads];
    for (r, &(l, h)) in ids.iter().enumerate() {
        values[l * nheads + h] = t.num(r, "redundancy")?;
        let sim = t.str(r, "most_similar_head");
        if !is_missing(sim) {
            text[l * nheads + h] = sim.to_string();
        }
    }
    let grid = Grid {
        title: "Redundancy (similarity to the most similar head)".into(),
        row_labels: rl,
        col_labels: cl,
        scale: Scale::unit_or(&values, Scale::Diverging(0.0)),
        values,
        cell_text: text,
    };
    let cell = if nheads > 16 { 22 } else { 46 };
    s.figures.push(Figure::new(
        plot::heatmap(&grid, cell)?,
        "Each cell: the head's highest similarity to another head; the text names that head.",
    ));
    Ok(s)
}

/// `t` holds the first rows of the interaction table, `total` counts all of them. The
/// columns a reader decides on come first (rank, pair, head, effect, q-value, and the
/// validation verdict when `valid` is given); the rest follow in file order.
fn interactions_section(t: Option<&(Table, usize)>, valid: Option<&Table>) -> Result<Section> {
    let mut s = Section::new("interactions", "Top interactions");
    let Some((t, total)) = t else {
        return Ok(s.absent("No interaction table was given (--interactions)."));
    };
    t.require(&[link_col("motif_a"), link_col("motif_b")])?;
    // Validate the numeric columns the table promises, so a malformed file fails loudly.
    let whole = [
        "rank",
        "layer",
        "head",
        "best_layer",
        "best_head",
        "n_pairs",
        "n_seqs",
    ]
    .map(link_col);
    let real = [
        "co_attention",
        "background",
        "effect",
        "best_effect",
        "p_value",
        "q_value",
        "joint_q",
        "median_distance_bp",
    ]
    .map(link_col);
    for r in 0..t.len() {
        for c in whole {
            t.uint(r, c)?;
        }
        for c in real {
            t.num(r, c)?;
        }
    }
    if *total > t.len() {
        s.notes.push(format!(
            "Showing the first {} of {total} rows (best first; --top sets how many).",
            t.len()
        ));
    }
    s.notes.push("Click a column header to sort.".into());
    let valid = valid.filter(|v| {
        v.has(&[
            VALIDATION.col("motif_a"),
            VALIDATION.col("motif_b"),
            VALIDATION.col("verdict"),
        ])
    });
    let effect = ["effect", "best_effect"]
        .map(link_col)
        .into_iter()
        .find(|c| t.col(c).is_some());
    let q = q_column(t);
    let has_head = head_label_cols(t);
    let mut header: Vec<String> = Vec::new();
    let mut lead: Vec<&str> = Vec::new();
    for c in ["rank", "motif_a", "motif_b"].map(link_col) {
        if t.col(c).is_some() {
            header.push(c.into());
            lead.push(c);
        }
    }
    if let Some((l, h)) = has_head {
        header.push("head".into());
        lead.extend([l, h]);
    }
    for c in effect.into_iter().chain(q) {
        header.push(c.into());
        lead.push(c);
    }
    if valid.is_some() {
        header.push("verdict".into());
    }
    let rest: Vec<&String> = t
        .header()
        .iter()
        .filter(|c| !lead.contains(&c.as_str()))
        .collect();
    header.extend(rest.iter().map(|c| c.to_string()));
    let mut view = TableView::new(format!("Motif pairs by {}", score_label(t)), header, true);
    for r in 0..t.len() {
        let mut row: Vec<Cell> = Vec::new();
        for c in ["rank", "motif_a", "motif_b"].map(link_col) {
            if t.col(c).is_some() {
                row.push(Cell::text(t.str(r, c)));
            }
        }
        if has_head.is_some() {
            row.push(Cell::text(head_label(t, r).unwrap_or_default()));
        }
        for c in effect.into_iter().chain(q) {
            row.push(Cell::text(t.str(r, c)));
        }
        if let Some(v) = valid {
            let verdict = validation_row(
                v,
                t.str(r, link_col("motif_a")),
                t.str(r, link_col("motif_b")),
            )
            .map_or("not validated", |vr| v.str(vr, VALIDATION.col("verdict")));
            row.push(Cell::text(verdict));
        }
        row.extend(rest.iter().map(|c| Cell::text(t.str(r, c))));
        view.push(row);
    }
    s.tables.push(view);
    Ok(s)
}

/// The layer and head columns of an interaction (`layer`, `head`) or per-pair
/// (`best_layer`, `best_head`) table.
fn head_label_cols(t: &Table) -> Option<(&'static str, &'static str)> {
    [("layer", "head"), ("best_layer", "best_head")]
        .map(|(l, h)| (link_col(l), link_col(h)))
        .into_iter()
        .find(|(l, h)| t.has(&[l, h]))
}

/// What the interaction table's rows measure, from its `score` column (tables from
/// before that column are co-attention).
fn score_label(t: &Table) -> &'static str {
    if t.col(link_col("score")).is_none() {
        return "co-attention";
    }
    let mut kinds = (0..t.len()).map(|r| t.str(r, link_col("score")));
    match kinds.next() {
        Some(first) if kinds.all(|k| k == first) => match first {
            "attn_grad" => "attention × gradient",
            "attention" => "co-attention",
            _ => "link score",
        },
        Some(_) => "co-attention and attention × gradient",
        None => "link score",
    }
}

/// Spacing and co-attention profiles, one chart per pair and measure. Cooperativity charts
/// shade the window of highest cooperativity and mark the pair's median distance in the
/// data (from the interaction table) with a dashed line.
fn profiles_section(
    spacing: Option<&Table>,
    valid: Option<&Table>,
    inter: Option<&Table>,
) -> Result<Section> {
    let mut s = Section::new("profiles", "Co-attention and spacing profiles");
    let Some(t) = spacing else {
        return Ok(s.absent("No spacing curves were given (--spacing)."));
    };
    t.require(&["motif_a", "motif_b", "distance_bp"])?;
    let measures: Vec<&str> = ["co_attention", "cooperativity"]
        .into_iter()
        .filter(|c| t.col(c).is_some())
        .collect();
    if measures.is_empty() {
        return Err(Error::Parse {
            path: t.path().to_string(),
            line: 1,
            msg: "needs a 'cooperativity' or 'co_attention' column".into(),
        });
    }
    // Pair order: as ranked in the validation table, then as first seen in the curves.
    let mut order: Vec<(String, String)> = Vec::new();
    if let Some(v) = valid.filter(|v| v.has(&["motif_a", "motif_b"])) {
        for r in 0..v.len() {
            let p = (
                v.str(r, "motif_a").to_string(),
                v.str(r, "motif_b").to_string(),
            );
            if !order.contains(&p) {
                order.push(p);
            }
        }
    }
    let mut curves: BTreeMap<(String, String), BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    let mut seen_order = Vec::new();
    for r in 0..t.len() {
        let p = (
            t.str(r, "motif_a").to_string(),
            t.str(r, "motif_b").to_string(),
        );
        if !curves.contains_key(&p) {
            seen_order.push(p.clone());
        }
        let o = t.str(r, "orientation");
        let o = if is_missing(o) { "any" } else { o };
        curves
            .entry(p)
            .or_default()
            .entry(o.to_string())
            .or_default()
            .push(r);
    }
    order.retain(|p| curves.contains_key(p));
    for p in seen_order {
        if !order.contains(&p) {
            order.push(p);
        }
    }
    if order.len() > MAX_PROFILE_PAIRS {
        s.notes.push(format!(
            "Showing {MAX_PROFILE_PAIRS} of {} pairs (in validation order).",
            order.len()
        ));
    }
    for pair in order.iter().take(MAX_PROFILE_PAIRS) {
        for &m in &measures {
            let mut series = Vec::new();
            for (orient, rows) in &curves[pair] {
                let mut pts = Vec::new();
                for &r in rows {
                    if let (Some(d), Some(v)) = (t.num(r, "distance_bp")?, t.num(r, m)?) {
                        pts.push((d, v));
                    }
                }
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                series.push(Series {
                    name: orient.clone(),
                    points: pts,
                });
            }
            let title = format!("{} + {}: {m}", pair.0, pair.1);
            let mut caption = format!(
                "{m} of {} and {} against their spacing, per orientation.",
                pair.0, pair.1
            );
            let mut marks = Marks::default();
            if m == "cooperativity" {
                if let Some(w) = best_window(&series) {
                    marks.band = Some((w.from, w.to));
                    let range = if w.from == w.to {
                        format!("{} bp", short_num(w.from))
                    } else {
                        format!("{}–{} bp", short_num(w.from), short_num(w.to))
                    };
                    caption.push_str(&format!(
                        " Shaded: {range}, where the {} curve stays at or above half its peak ({} at {} bp).",
                        w.orientation,
                        short_num(w.peak),
                        short_num(w.at)
                    ));
                }
                if let Some(d) = inter.and_then(|t| median_distance(t, &pair.0, &pair.1)) {
                    marks.vline = Some(d);
                    caption.push_str(&format!(
                        " Dashed: the pair's median distance in the data ({} bp).",
                        short_num(d)
                    ));
                }
            }
            s.figures.push(Figure::new(
                plot::line_chart_marked(&title, "distance (bp)", m, &series, (420, 280), &marks)?,
                caption,
            ));
        }
    }
    Ok(s)
}

/// The spacing window where the model's cooperativity is highest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    pub orientation: String,
    /// Peak value and its distance.
    pub peak: f64,
    pub at: f64,
    /// The contiguous run of distances around the peak at or above half of it.
    pub from: f64,
    pub to: f64,
}

/// The window around the highest point of all curves (points sorted by distance) where
/// its curve stays at or above half the peak; `None` when no value is positive.
pub(crate) fn best_window(curves: &[Series]) -> Option<Window> {
    let (ci, pi) = curves
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| (0..c.points.len()).map(move |pi| (ci, pi)))
        .filter(|&(ci, pi)| curves[ci].points[pi].1.is_finite())
        .fold(None, |best: Option<(usize, usize)>, (ci, pi)| match best {
            Some((bc, bp)) if curves[bc].points[bp].1 >= curves[ci].points[pi].1 => best,
            _ => Some((ci, pi)),
        })?;
    let pts = &curves[ci].points;
    let (at, peak) = pts[pi];
    if peak <= 0.0 {
        return None;
    }
    let keep = |k: usize| pts[k].1 >= peak / 2.0;
    let mut lo = pi;
    while lo > 0 && keep(lo - 1) {
        lo -= 1;
    }
    let mut hi = pi;
    while hi + 1 < pts.len() && keep(hi + 1) {
        hi += 1;
    }
    Some(Window {
        orientation: curves[ci].name.clone(),
        peak,
        at,
        from: pts[lo].0,
        to: pts[hi].0,
    })
}

/// The median distance of pair `a`–`b` (either order) in its first interaction-table row.
fn median_distance(t: &Table, a: &str, b: &str) -> Option<f64> {
    (0..t.len())
        .find(|&r| {
            let (x, y) = (t.str(r, "motif_a"), t.str(r, "motif_b"));
            (x == a && y == b) || (x == b && y == a)
        })
        .and_then(|r| t.num(r, "median_distance_bp").ok().flatten())
}

fn validation_section(t: Option<&Table>) -> Result<Section> {
    let mut s = Section::new("validation", "Validation concordance");
    let Some(t) = t else {
        return Ok(s.absent("No validation table was given (--validation)."));
    };
    t.require(&[VALIDATION.col("motif_a"), VALIDATION.col("motif_b")])?;
    for r in 0..t.len() {
        for c in [
            "coattention_rank",
            "epistasis",
            "epistasis_ci_low",
            "epistasis_ci_high",
            "best_spacing_bp",
            "head_ablation_effect",
        ] {
            t.num(r, c)?;
        }
    }
    if t.has(&[
        VALIDATION.col("coattention_rank"),
        VALIDATION.col("epistasis"),
    ]) {
        let mut groups: Vec<PointGroup> = Vec::new();
        let (mut ranks, mut epi) = (Vec::new(), Vec::new());
        for r in 0..t.len() {
            let (Some(x), Some(y)) = (
                t.num(r, VALIDATION.col("coattention_rank"))?,
                t.num(r, VALIDATION.col("epistasis"))?,
            ) else {
                continue;
            };
            ranks.push(-x);
            epi.push(y);
            let verdict = t.str(r, VALIDATION.col("verdict"));
            let verdict = if is_missing(verdict) { "NA" } else { verdict };
            let gi = match groups.iter().position(|g| g.name == verdict) {
                Some(i) => i,
                None => {
                    groups.push(PointGroup {
                        name: verdict.to_string(),
                        ..PointGroup::default()
                    });
                    groups.len() - 1
                }
            };
            groups[gi].points.push((x, y));
            if let (Some(lo), Some(hi)) = (
                t.num(r, VALIDATION.col("epistasis_ci_low"))?,
                t.num(r, VALIDATION.col("epistasis_ci_high"))?,
            ) {
                groups[gi].bars.push((x, lo, hi));
            }
        }
        let rho = defined(stats::spearman(&ranks, &epi));
        s.kvs.push(Kv::new(
            "pairs with rank and epistasis",
            ranks.len().to_string(),
        ));
        s.kvs.push(Kv::new(
            "Spearman ρ (better interaction-table rank vs epistasis)",
            rho.map_or("NA".into(), |v| format!("{v:.3}")),
        ));
        s.figures.push(Figure::new(
            plot::scatter("Epistasis by interaction-table rank", "interaction-table rank", "epistasis", &groups, false, WIDE)?,
            "In-silico epistasis (with its interval) of each checked pair against its rank in the interaction table; colour = verdict.",
        ));
    }
    if t.has(&[
        VALIDATION.col("head_ablation_effect"),
        VALIDATION.col("epistasis"),
    ]) {
        let pts = points(t, "head_ablation_effect", "epistasis")?;
        if !pts.is_empty() {
            let g = PointGroup {
                name: "pairs".into(),
                points: pts,
                bars: Vec::new(),
            };
            s.figures.push(Figure::new(
                plot::scatter(
                    "Head ablation vs epistasis",
                    "head ablation effect",
                    "epistasis",
                    &[g],
                    false,
                    SQUARE,
                )?,
                "Effect of switching off the pair's head against the pair's epistasis.",
            ));
        }
    }
    if t.col(VALIDATION.col("verdict")).is_some() {
        s.kvs
            .push(Kv::new("verdicts", verdict_counts(t).join(", ")));
    }
    s.tables
        .push(TableView::from_tsv("Checked pairs", t, usize::MAX));
    Ok(s)
}

/// Activation patching: restored fraction per (layer, head) as a heatmap.
fn patching_section(t: &Table) -> Result<Section> {
    let mut s = Section::new("patching", "Activation patching");
    t.require(&[PATCH.col("layer"), PATCH.col("head"), PATCH.col("restored")])?;
    let HeadGrid { ids, layers, heads } = head_grid(t)?;
    if ids.is_empty() {
        return Ok(s.absent("The patching table has no rows."));
    }
    let mut values = vec![None; layers * heads];
    let mut best: Option<(f64, usize, usize)> = None;
    for (r, &(l, h)) in ids.iter().enumerate() {
        let v = t.num(r, PATCH.col("restored"))?;
        values[l * heads + h] = v;
        if let Some(v) = v
            && best.is_none_or(|b| v > b.0)
        {
            best = Some((v, l, h));
        }
    }
    for (col, key) in [
        ("n", "sequence pairs"),
        ("mean_clean", "mean prediction, clean"),
        ("mean_corrupt", "mean prediction, corrupted"),
    ] {
        if t.col(col).is_some() {
            s.kvs.push(Kv::new(key, t.str(0, col)));
        }
    }
    match best {
        Some((v, l, h)) => s.kvs.push(Kv::new(
            "most restoring head",
            format!("L{l}H{h} ({})", short_num(v)),
        )),
        None => s.notes.push(
            "Clean and corrupted predictions agree, so no head has anything to restore (NA)."
                .into(),
        ),
    }
    let (rl, cl) = layer_head_labels(layers, heads);
    let grid = Grid {
        title: "Fraction restored by patching".into(),
        row_labels: rl,
        col_labels: cl,
        values,
        cell_text: Vec::new(),
        scale: Scale::Diverging(0.0),
    };
    let cell = if heads > 16 { 22 } else { 42 };
    s.figures.push(Figure::new(
        plot::heatmap(&grid, cell)?,
        "Share of the clean − corrupted prediction difference restored by patching in each head's clean output: layer × head (white = 0; grey = NA).",
    ));
    s.tables
        .push(TableView::from_tsv("Patching per head", t, usize::MAX));
    Ok(s)
}

/// Most points drawn per QQ plot: the smallest p-values all, the rest thinned.
const QQ_POINTS: usize = 2000;

/// Calibration on a run without interactions (`bench/calibration.sh` writes one per null
/// seed, e.g. WORKDIR/null_1/): per table, the calls at q < 0.05 (there should be none,
/// or at most one) and a QQ plot of its p-values against the uniform distribution.
fn null_section(dir: &Path) -> Result<Section> {
    let mut s = Section::new("null", "Calibration (null run)");
    let tables = [
        (
            "pairs.tsv",
            "per-pair table",
            ["p_value", "p_value"],
            ["q_value", "q_value"],
        ),
        (
            "interactions.tsv",
            "rows (pair × head)",
            ["p_value", "p_value"],
            ["q_value", "joint_q"],
        ),
        (
            "validation.tsv",
            "validate (effect test)",
            ["effect_p", "specific_p"],
            ["effect_q", "specific_q"],
        ),
    ];
    let mut found = 0;
    for (file, label, p_cols, q_cols) in tables {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        found += 1;
        let t = Table::read(&path)?;
        let (Some(pc), Some(qc)) = (
            p_cols.into_iter().find(|c| t.col(c).is_some()),
            q_cols.into_iter().find(|c| t.col(c).is_some()),
        ) else {
            return Err(Error::Parse {
                path: t.path().to_string(),
                line: 1,
                msg: format!(
                    "needs a p-value column ({}) and a q-value column ({})",
                    p_cols[0], q_cols[0]
                ),
            });
        };
        let mut ps = Vec::with_capacity(t.len());
        let mut calls = 0;
        for r in 0..t.len() {
            if let Some(p) = t.num(r, pc)? {
                ps.push(p.clamp(f64::MIN_POSITIVE, 1.0));
            }
            if t.num(r, qc)?.is_some_and(|q| q < 0.05) {
                calls += 1;
            }
        }
        let below = ps.iter().filter(|&&p| p < 0.05).count();
        s.kvs.push(Kv::new(
            format!("{label}: calls at {qc} < 0.05"),
            format!("{calls} of {}", t.len()),
        ));
        s.kvs.push(Kv::new(
            format!("{label}: {pc} < 0.05"),
            format!(
                "{below} of {} ({:.1} %; uniform: 5 %)",
                ps.len(),
                if ps.is_empty() {
                    0.0
                } else {
                    100.0 * below as f64 / ps.len() as f64
                }
            ),
        ));
        let pts = qq_points(&mut ps);
        if pts.is_empty() {
            continue;
        }
        let g = PointGroup {
            name: label.into(),
            points: pts,
            bars: Vec::new(),
        };
        s.figures.push(Figure::new(
            plot::scatter(
                &format!("QQ: {file} {pc}"),
                "expected −log10 p (uniform)",
                "observed −log10 p",
                &[g],
                true,
                SQUARE,
            )?,
            format!(
                "{} p-values of {file} ({label}) against the uniform distribution; on the diagonal when calibrated, below it when conservative.",
                ps.len()
            ),
        ));
    }
    if found == 0 {
        return Err(Error::Invalid(format!(
            "--null {}: holds none of pairs.tsv, interactions.tsv, validation.tsv",
            dir.display()
        )));
    }
    s.notes.push(format!(
        "Tables of a run on data without interactions ({}): any call there is a false positive.",
        dir.display()
    ));
    Ok(s)
}

/// `(expected, observed)` −log10 p of a QQ plot, smallest p first (expected quantile
/// `(i + 0.5) / n`); beyond the first few hundred, every k-th point so at most
/// [`QQ_POINTS`] are drawn.
pub(crate) fn qq_points(ps: &mut [f64]) -> Vec<(f64, f64)> {
    ps.sort_by(f64::total_cmp);
    let n = ps.len();
    let stride = n.div_ceil(QQ_POINTS).max(1);
    ps.iter()
        .enumerate()
        .filter(|(i, _)| *i < 500 || i % stride == 0 || *i == n - 1)
        .map(|(i, &p)| (-((i as f64 + 0.5) / n as f64).log10(), -p.log10()))
        .collect()
}

fn plain_table_section(
    id: &'static str,
    title: &'static str,
    t: Option<&Table>,
    absent: &str,
) -> Section {
    let s = Section::new(id, title);
    match t {
        None => s.absent(absent),
        Some(t) => {
            let mut s = s;
            s.tables.push(TableView::from_tsv(title, t, usize::MAX));
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_numbers_are_na_where_undefined() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 4.0, 6.0, 8.5];
        assert!((defined(stats::pearson(&x, &y)).unwrap() - 0.9986).abs() < 1e-3);
        assert!((defined(stats::spearman(&x, &y)).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(defined(stats::pearson(&x, &[1.0; 4])), None);
        assert_eq!(defined(stats::pearson(&[1.0], &[2.0])), None);
        assert_eq!(r2_of_varying(&x, &x), Some(1.0));
        assert_eq!(r2_of_varying(&x, &[2.0; 4]), None);
        assert_eq!(r2_of_varying(&[1.0], &[1.0]), None);
        assert_eq!(r2_of_varying(&[], &[]), None);
    }

    #[test]
    fn a_validation_summary_names_the_test_its_band_and_disagreement() {
        let text = "motif_a\tmotif_b\tverdict\tgap_band\teffect_test\teffect\teffect_lo\teffect_hi\n\
                    EBF1\tRunx1\tconfirmed\t64+\tspecific\t0.44\t0.34\t0.54\n\
                    A\tB\teffect-only\tNA\tcooperative\t0.3\t0.1\t0.5\n";
        let t = Table::from_reader(text.as_bytes(), "validation.tsv").unwrap();
        assert_eq!(
            validation_of(&t, "Runx1", "EBF1"),
            "validation: confirmed, arrangement-specific epistasis 0.44 [0.34, 0.54] at 64+ bp"
        );
        assert_eq!(
            validation_of(&t, "A", "B"),
            "validation: effect-only, epistasis (one-sided) 0.3 [0.1, 0.5]: attention and the \
             causal test disagree"
        );
        assert_eq!(validation_of(&t, "A", "C"), "not validated");
    }

    #[test]
    fn flattens_nested_json() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":1,"c":[1,2]},"d":[{"e":"x"}],"f":"s"}"#).unwrap();
        let f = flatten_json(&v);
        assert_eq!(
            f,
            vec![
                ("a.b".to_string(), "1".to_string()),
                ("a.c".to_string(), "[1,2]".to_string()),
                ("d[0].e".to_string(), "x".to_string()),
                ("f".to_string(), "s".to_string()),
            ]
        );
    }

    #[test]
    fn best_window_spans_half_the_peak_around_it() {
        let curve = |name: &str, ys: &[f64]| Series {
            name: name.into(),
            points: ys
                .iter()
                .enumerate()
                .map(|(i, &y)| (i as f64 * 5.0, y))
                .collect(),
        };
        let curves = [
            curve("++", &[0.0, 0.1, 0.3, 0.2, 0.1]),
            curve("+-", &[0.0, 0.2, 0.5, 0.9, 1.0, 0.6, 0.4, 0.7]),
        ];
        let w = best_window(&curves).unwrap();
        assert_eq!(
            (w.orientation.as_str(), w.peak, w.at, w.from, w.to),
            ("+-", 1.0, 20.0, 10.0, 25.0),
            "contiguous: 35 bp (0.7) is past a dip below half"
        );
        assert!(best_window(&[curve("++", &[-0.1, 0.0])]).is_none());
    }

    #[test]
    fn qq_points_are_sorted_uniform_quantiles() {
        let mut ps = vec![1.0, 0.01, 0.5, 0.1];
        let q = qq_points(&mut ps);
        assert_eq!(q.len(), 4);
        assert!((q[0].0 - -(0.125f64).log10()).abs() < 1e-12);
        assert!((q[0].1 - 2.0).abs() < 1e-12);
        assert_eq!(q[3].1, 0.0);
        let mut many: Vec<f64> = (0..10_000).map(|i| (i as f64 + 0.5) / 1e4).collect();
        let q = qq_points(&mut many);
        assert!(q.len() <= 500 + QQ_POINTS + 1, "{}", q.len());
        // uniform p-values lie on the diagonal
        assert!(q.iter().all(|(e, o)| (e - o).abs() < 1e-9));
    }
}
