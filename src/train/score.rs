//! The last step of `train` and `finetune`: the model a run kept, scored on every set as
//! `predict` scores it by default (averaged over strands and pooling offsets), optionally
//! calibrated onto the labels, with `metrics.tsv`, `predictions.tsv` and `split.tsv` written
//! beside it. Re-running it on a finished run writes the same bytes.
use std::path::Path;

use crate::Result;
use crate::io::output::write_file as write;
use crate::model::{Model, Task};
use crate::predict::{self, Averaging, Passes};
use crate::train::{
    Dataset, Metrics, Normalizer, Split, named_sets, split_metrics, transformer,
    write_model_metrics_tsv, write_predictions_tsv, write_split_tsv,
};

/// What the scoring step does besides scoring.
pub struct ScoreOptions<'a> {
    /// Fit a least-squares line from a regression model's predictions to its labels on the
    /// training rows and fold it into the normalisation of the data's own `Normalizer` (from
    /// it, not from the saved one, so a re-run writes the same bytes); `None` keeps the
    /// output scale.
    pub calibrate_from: Option<&'a Normalizer>,
    /// The baseline's predictions of every row of the data set, scored beside the model's
    /// (the caller runs the baseline: `baseline` builds on this module).
    pub ridge: Option<&'a [Vec<f32>]>,
    /// Also write `split.tsv` (which set every id was in).
    pub write_split: bool,
}

/// The metrics tables written, for the caller's summary.
pub struct Scores {
    pub model: Vec<(&'static str, Vec<Metrics>)>,
    pub ridge: Option<Vec<(&'static str, Vec<Metrics>)>>,
}

/// Scores the model in `dir` on `ds` and writes the tables into `dir`.
pub fn score_run(dir: &Path, ds: &Dataset, split: &Split, opts: &ScoreOptions) -> Result<Scores> {
    let (model, mut meta) = Model::load(dir)?;
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let passes = Passes::of(Averaging::All, &model, &meta);
    let raw = predict::predict_averaged(&model, &seqs, 64, passes)?;
    if let Some(base) = opts.calibrate_from
        && model.config().task == Task::Regression
    {
        let (norm, fits) = transformer::calibrate(base, &raw, &ds.targets, &split.train);
        meta.normalization = norm;
        meta.extra["calibration"] = ds
            .output_names
            .iter()
            .zip(&fits)
            .map(|(name, (slope, intercept))| {
                serde_json::json!({"output": name, "slope": slope, "intercept": intercept})
            })
            .collect();
        Model::save_meta(dir, &meta)?;
    }
    let pred = predict::to_label_scale(&model, &meta, raw);
    let scores = Scores {
        model: named_sets(split_metrics(ds, split, &pred), false),
        ridge: opts
            .ridge
            .map(|r| named_sets(split_metrics(ds, split, r), false)),
    };
    write(&dir.join("metrics.tsv"), |w| {
        write_model_metrics_tsv(w, &ds.output_names, &scores.model, scores.ridge.as_deref())
    })?;
    write(&dir.join("predictions.tsv"), |w| {
        write_predictions_tsv(w, &ds.ids, &ds.output_names, Some(split), &pred)
    })?;
    if opts.write_split {
        write(&dir.join("split.tsv"), |w| {
            write_split_tsv(w, &ds.ids, split)
        })?;
    }
    Ok(scores)
}
