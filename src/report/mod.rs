//! One self-contained HTML report of a trained model and its analyses.
//!
//! Inputs are the tables the other stages write; each is optional except the model
//! directory, and a section whose input is absent is left out (the summary names it)
//! instead of failing. Every
//! table is read by column name ([`crate::io::tsv::Table`]), so upstream stages may add columns.
//! The page has no external references: CSS, SVG charts (plotters) and the small
//! table-sorting script are inline, and it renders the same offline and in print.
//!
//! ```no_run
//! use cisformer::report::{render, ReportInputs};
//! let inputs = ReportInputs {
//!     model_dir: "model".into(),
//!     heads: Some("heads.tsv".into()),
//!     ..ReportInputs::default()
//! };
//! let html = render(&inputs).unwrap();
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! ```

pub mod plot;
mod sections;
pub use sections::validation_of;

use std::path::PathBuf;

use minijinja::{
    Environment,
    value::{Serde, Value},
};
use serde::Serialize;

use crate::{Error, Result};

/// Where the report's inputs are; `None` leaves that section out (the summary names it).
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    /// Model directory: `config.json`, `meta.json`, `train_log.tsv`, `metrics.tsv` and
    /// `split.tsv` are read when present.
    pub model_dir: PathBuf,
    /// Head atlas TSV (one row per layer/head).
    pub heads: Option<PathBuf>,
    /// Interaction TSV (one row per motif pair per head, best first).
    pub interactions: Option<PathBuf>,
    /// Validation TSV (one row per checked motif pair).
    pub validation: Option<PathBuf>,
    /// Spacing curves TSV: `motif_a motif_b orientation distance_bp` + `cooperativity` and/or `co_attention`.
    pub spacing: Option<PathBuf>,
    /// Activation-patching TSV (`layer head restored ...`); its section appears only when given.
    pub patch: Option<PathBuf>,
    /// Head-by-head similarity, long format: `layer_a head_a layer_b head_b similarity`.
    pub redundancy: Option<PathBuf>,
    /// Predictions TSV (`id` + output columns).
    pub predictions: Option<PathBuf>,
    /// Observed labels TSV (`id` + output columns).
    pub labels: Option<PathBuf>,
    /// Pruning results TSV (shown as a table).
    pub pruning: Option<PathBuf>,
    /// Forgetting results TSV (shown as a table).
    pub forgetting: Option<PathBuf>,
    /// A null-grammar run's folder (pairs.tsv, interactions.tsv and/or validation.tsv):
    /// adds a calibration section with QQ plots of their p-values.
    pub null_dir: Option<PathBuf>,
    /// A `simulate` summary.json for the noise ceiling; by default the one beside `labels`.
    pub sim_summary: Option<PathBuf>,
    /// Page title; defaults to one naming the model directory.
    pub title: Option<String>,
    /// Most interaction rows to list (default 100 when 0).
    pub top_interactions: usize,
}

/// A key/value pair for the summary and parameter tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Kv {
    key: String,
    value: String,
}

impl Kv {
    pub(crate) fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One chart: SVG markup plus a caption.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    svg: String,
    caption: String,
}

impl Figure {
    pub(crate) fn new(svg: String, caption: impl Into<String>) -> Self {
        Self {
            svg,
            caption: caption.into(),
        }
    }
}

/// A table cell: its text and, for numbers, the value used when sorting.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cell {
    text: String,
    num: Option<f64>,
}

impl Cell {
    pub(crate) fn text(s: impl Into<String>) -> Self {
        let text = s.into();
        let num = text.parse::<f64>().ok().filter(|v| v.is_finite());
        Self { text, num }
    }
}

/// A table as shown on the page; `sortable` adds click-to-sort headers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TableView {
    caption: String,
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
    sortable: bool,
}

impl TableView {
    pub(crate) fn new(caption: impl Into<String>, header: Vec<String>, sortable: bool) -> Self {
        Self {
            caption: caption.into(),
            header,
            rows: Vec::new(),
            sortable,
        }
    }

    pub(crate) fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// All rows (up to `limit`) of a TSV, every column in file order.
    pub(crate) fn from_tsv(
        caption: impl Into<String>,
        t: &crate::io::tsv::Table,
        limit: usize,
    ) -> Self {
        let mut v = Self::new(caption, t.header().to_vec(), true);
        for r in 0..t.len().min(limit) {
            v.push(t.row(r).iter().map(Cell::text).collect());
        }
        v
    }
}

/// One section of the page. `missing` says why its input is absent; such a section is left
/// out of the page and named in the run summary.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Section {
    id: &'static str,
    title: &'static str,
    missing: Option<String>,
    notes: Vec<String>,
    kvs: Vec<Kv>,
    figures: Vec<Figure>,
    tables: Vec<TableView>,
}

impl Section {
    pub(crate) fn new(id: &'static str, title: &'static str) -> Self {
        Self {
            id,
            title,
            missing: None,
            notes: Vec::new(),
            kvs: Vec::new(),
            figures: Vec::new(),
            tables: Vec::new(),
        }
    }

    pub(crate) fn absent(mut self, why: impl Into<String>) -> Self {
        self.missing = Some(why.into());
        self
    }
}

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    version: &'a str,
    sections: &'a [Section],
    /// Ids of the sections shown, so the methods describe only those.
    present: Vec<&'static str>,
}

const TEMPLATE: &str = include_str!("template.html");

/// Builds the whole report as one HTML document (deterministic: same inputs, same bytes).
pub fn render(inputs: &ReportInputs) -> Result<String> {
    if !inputs.model_dir.is_dir() {
        return Err(Error::Invalid(format!(
            "model directory {} does not exist",
            inputs.model_dir.display()
        )));
    }
    let sections = sections::build(inputs)?;
    let title = inputs.title.clone().unwrap_or_else(|| {
        let name = inputs.model_dir.file_name().map_or_else(
            || inputs.model_dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!("cisformer report: {name}")
    });
    let page = Page {
        title: &title,
        version: env!("CARGO_PKG_VERSION"),
        sections: &sections,
        present: sections.iter().map(|s| s.id).collect(),
    };
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::render("report template", e))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| Error::render("report template", e))?;
    tmpl.render(Value::from(Serde(&page)))
        .map_err(|e| Error::render("rendering the report", e))
}
