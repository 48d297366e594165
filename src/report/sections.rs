//! Turns each input table into a page section: key numbers, charts and tables.
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use super::{
    Cell, Figure, Kv, ReportInputs, Section, TableView,
    plot::{self, Grid, PointGroup, Series, short_num},
    stats,
    tsv::{Table, is_missing},
};
use crate::{Error, Result};

const WIDE: (u32, u32) = (560, 320);
const SQUARE: (u32, u32) = (380, 360);
/// Most points drawn per scatter plot; larger sets are thinned by a fixed stride.
const MAX_POINTS: usize = 4000;
/// Pairs that get spacing/co-attention profile charts.
const MAX_PROFILE_PAIRS: usize = 6;

/// All sections in page order.
pub(crate) fn build(inp: &ReportInputs) -> Result<Vec<Section>> {
    let dir = &inp.model_dir;
    let config = read_json_opt(&dir.join("config.json"))?;
    let meta = read_json_opt(&dir.join("meta.json"))?;
    let log_path = dir.join("train_log.tsv");
    let train_log = if log_path.is_file() {
        Some(Table::read(&log_path)?)
    } else {
        None
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

    let training = training_section(train_log.as_ref())?;
    let prediction = prediction_section(predictions.as_ref(), labels.as_ref())?;
    let head_atlas = heads_section(heads.as_ref())?;
    let redundancy_sec = redundancy_section(heads.as_ref(), redundancy.as_ref())?;
    let inter = interactions_section(interactions.as_ref())?;
    let profiles = profiles_section(spacing.as_ref(), validation.as_ref())?;
    let valid = validation_section(validation.as_ref())?;
    let patching = patch.as_ref().map(patching_section).transpose()?;
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
    summary.kvs = summary_kvs(
        inp,
        config.as_ref(),
        meta.as_ref(),
        train_log.as_ref(),
        heads.as_ref(),
        interactions.as_ref(),
        validation.as_ref(),
    )?;
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
        summary,
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
    all.extend([prune, forget, Section::new("methods", "Methods")]);
    Ok(all)
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

#[allow(clippy::too_many_arguments)]
fn summary_kvs(
    inp: &ReportInputs,
    config: Option<&serde_json::Value>,
    meta: Option<&serde_json::Value>,
    log: Option<&Table>,
    heads: Option<&Table>,
    inter: Option<&(Table, usize)>,
    valid: Option<&Table>,
) -> Result<Vec<Kv>> {
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
    if let Some(t) = log
        && !t.is_empty()
    {
        let last = t.len() - 1;
        kv.push(Kv::new("training log rows", t.len().to_string()));
        for c in ["epoch", "step"] {
            if t.col(c).is_some() {
                kv.push(Kv::new(format!("last {c}"), t.str(last, c)));
            }
        }
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
    if let Some(t) = heads {
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
    if let Some((t, total)) = inter {
        kv.push(Kv::new("interaction rows", total.to_string()));
        if !t.is_empty() && t.has(&["motif_a", "motif_b"]) {
            kv.push(Kv::new(
                "top pair",
                format!("{} + {}", t.str(0, "motif_a"), t.str(0, "motif_b")),
            ));
        }
    }
    if let Some(t) = valid {
        kv.push(Kv::new("validated pairs", t.len().to_string()));
        if t.col("verdict").is_some() {
            kv.push(Kv::new("verdicts", verdict_counts(t).join(", ")));
        }
    }
    Ok(kv)
}

fn verdict_counts(t: &Table) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..t.len() {
        let v = t.str(r, "verdict");
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

fn training_section(log: Option<&Table>) -> Result<Section> {
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
    if let (Some(_), Some(secs)) = (t.col("seconds"), t.num(t.len() - 1, "seconds")?) {
        s.notes.push(format!(
            "Training time at the last row: {} s.",
            short_num(secs)
        ));
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

fn prediction_section(pred: Option<&Table>, obs: Option<&Table>) -> Result<Section> {
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
    let outputs: Vec<&String> = p
        .header()
        .iter()
        .filter(|c| *c != "id" && o.col(c).is_some())
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
        .filter(|c| *c != "id" && o.col(c).is_none())
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
    let mut table = TableView::new(
        "Agreement per output",
        ["output", "n", "pearson", "spearman", "r2"]
            .map(String::from)
            .to_vec(),
        false,
    );
    for c in &outputs {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for r in 0..p.len() {
            let orow = obs_idx[p.str(r, "id")];
            if let (Some(pv), Some(ov)) = (p.num(r, c)?, o.num(orow, c)?) {
                xs.push(ov);
                ys.push(pv);
            }
        }
        let fmt = |v: Option<f64>| v.map_or("NA".to_string(), |v| format!("{v:.3}"));
        let (pr, sp, r2) = (
            stats::pearson(&xs, &ys),
            stats::spearman(&xs, &ys),
            stats::r2(&ys, &xs),
        );
        table.push(vec![
            Cell::text(c.as_str()),
            Cell::text(xs.len().to_string()),
            Cell::text(fmt(pr)),
            Cell::text(fmt(sp)),
            Cell::text(fmt(r2)),
        ]);
        let stride = xs.len().div_ceil(MAX_POINTS).max(1);
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .zip(&ys)
            .step_by(stride)
            .map(|(&a, &b)| (a, b))
            .collect();
        let group = PointGroup {
            name: c.to_string(),
            points: pts,
            bars: Vec::new(),
        };
        let mut caption = format!(
            "{c}: n = {}, Pearson r = {}, Spearman ρ = {}.",
            xs.len(),
            fmt(pr),
            fmt(sp)
        );
        if stride > 1 {
            caption.push_str(&format!(" Every {stride}th point drawn."));
        }
        s.figures.push(Figure::new(
            plot::scatter(c, "observed", "predicted", &[group], true, SQUARE)?,
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
    t.require(&["layer", "head"])?;
    let mut ids = Vec::with_capacity(t.len());
    let mut seen = HashMap::new();
    for r in 0..t.len() {
        let id = (t.uint_req(r, "layer")?, t.uint_req(r, "head")?);
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
    let panels = [
        ("entropy", "Attention entropy (nats)"),
        ("mean_distance_bp", "Mean attention distance (bp)"),
        ("local_fraction", "Local fraction"),
        ("boundary_fraction", "Boundary mass (CLS/SEP)"),
        ("top_motif_enrichment", "Motif focus (top-motif enrichment)"),
        ("importance_dmetric", "Importance (Δ metric on ablation)"),
    ];
    for (col, title) in panels {
        if t.col(col).is_none() {
            continue;
        }
        let mut values = vec![None; layers * nheads];
        // The motif-focus panel names each head's motif; the colour is its enrichment.
        let named = col == "top_motif_enrichment" && t.col("top_motif").is_some();
        let mut text = vec![String::new(); if named { layers * nheads } else { 0 }];
        for (r, &(l, h)) in ids.iter().enumerate() {
            values[l * nheads + h] = t.num(r, col)?;
            let m = t.str(r, "top_motif");
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
        };
        let mut caption = format!("{title}: layer × head (column {col}; grey = no value).");
        if named {
            caption.push_str(" Cells name the top motif; the table below gives the values.");
        }
        s.figures
            .push(Figure::new(plot::heatmap(&grid, cell)?, caption));
    }
    if t.col("top_motif").is_some() {
        let mut focus = TableView::new(
            "Top motif per head",
            ["head", "top_motif", "enrichment", "p"]
                .map(String::from)
                .to_vec(),
            true,
        );
        for (r, &(l, h)) in ids.iter().enumerate() {
            let m = t.str(r, "top_motif");
            if is_missing(m) {
                continue;
            }
            focus.push(vec![
                Cell::text(format!("L{l}H{h}")),
                Cell::text(m),
                Cell::text(t.str(r, "top_motif_enrichment")),
                Cell::text(t.str(r, "top_motif_p")),
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

/// `t` holds the first rows of the interaction table, `total` counts all of them.
fn interactions_section(t: Option<&(Table, usize)>) -> Result<Section> {
    let mut s = Section::new("interactions", "Top interactions");
    let Some((t, total)) = t else {
        return Ok(s.absent("No interaction table was given (--interactions)."));
    };
    t.require(&["motif_a", "motif_b"])?;
    // Validate the numeric columns the table promises, so a malformed file fails loudly.
    for r in 0..t.len() {
        for c in ["rank", "layer", "head", "n_pairs", "n_seqs"] {
            t.uint(r, c)?;
        }
        for c in [
            "co_attention",
            "background",
            "effect",
            "p_value",
            "q_value",
            "median_distance_bp",
        ] {
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
    s.tables.push(TableView::from_tsv(
        format!("Motif pairs by {}", score_label(t)),
        t,
        usize::MAX,
    ));
    Ok(s)
}

/// What the interaction table's rows measure, from its `score` column (tables from
/// before that column are co-attention).
fn score_label(t: &Table) -> &'static str {
    if t.col("score").is_none() {
        return "co-attention";
    }
    let mut kinds = (0..t.len()).map(|r| t.str(r, "score"));
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

/// Spacing and co-attention profiles, one chart per pair and measure.
fn profiles_section(spacing: Option<&Table>, valid: Option<&Table>) -> Result<Section> {
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
            s.figures.push(Figure::new(
                plot::line_chart(&title, "distance (bp)", m, &series, (420, 280))?,
                format!(
                    "{m} of {} and {} against their spacing, per orientation.",
                    pair.0, pair.1
                ),
            ));
        }
    }
    Ok(s)
}

fn validation_section(t: Option<&Table>) -> Result<Section> {
    let mut s = Section::new("validation", "Validation concordance");
    let Some(t) = t else {
        return Ok(s.absent("No validation table was given (--validation)."));
    };
    t.require(&["motif_a", "motif_b"])?;
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
    if t.has(&["coattention_rank", "epistasis"]) {
        let mut groups: Vec<PointGroup> = Vec::new();
        let (mut ranks, mut epi) = (Vec::new(), Vec::new());
        for r in 0..t.len() {
            let (Some(x), Some(y)) = (t.num(r, "coattention_rank")?, t.num(r, "epistasis")?) else {
                continue;
            };
            ranks.push(-x);
            epi.push(y);
            let verdict = t.str(r, "verdict");
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
                t.num(r, "epistasis_ci_low")?,
                t.num(r, "epistasis_ci_high")?,
            ) {
                groups[gi].bars.push((x, lo, hi));
            }
        }
        let rho = stats::spearman(&ranks, &epi);
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
    if t.has(&["head_ablation_effect", "epistasis"]) {
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
    if t.col("verdict").is_some() {
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
    t.require(&["layer", "head", "restored"])?;
    let HeadGrid { ids, layers, heads } = head_grid(t)?;
    if ids.is_empty() {
        return Ok(s.absent("The patching table has no rows."));
    }
    let mut values = vec![None; layers * heads];
    let mut best: Option<(f64, usize, usize)> = None;
    for (r, &(l, h)) in ids.iter().enumerate() {
        let v = t.num(r, "restored")?;
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
    };
    let cell = if heads > 16 { 22 } else { 42 };
    s.figures.push(Figure::new(
        plot::heatmap(&grid, cell)?,
        "Share of the clean − corrupted prediction difference restored by patching in each head's clean output: layer × head (grey = NA).",
    ));
    s.tables
        .push(TableView::from_tsv("Patching per head", t, usize::MAX));
    Ok(s)
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
}
