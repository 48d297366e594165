//! What a model folder holds: the files cisformer writes there, so that commands can
//! refuse an output that would overwrite one of a model's files they read.
use std::path::{Path, PathBuf};

/// Files that `train`, `finetune`, `prune` and `baseline` write into a model folder
/// (the optimizer state sits beside the best model as well as in the checkpoint).
pub const FILES: [&str; 11] = [
    "config.json",
    "model.safetensors",
    "meta.json",
    "optimizer.json",
    "optimizer.safetensors",
    "train_log.tsv",
    "metrics.tsv",
    "predictions.tsv",
    "split.tsv",
    "ridge.json",
    "prune.tsv",
];

/// The files of a model folder that commands reading a model read (the model itself, the
/// ridge baseline `evaluate` scores, the log `report` plots).
const READ: [&str; 5] = [
    "config.json",
    "model.safetensors",
    "meta.json",
    "ridge.json",
    "train_log.tsv",
];

/// The paths of every file cisformer may write into a model folder, existing or not.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    FILES.iter().map(|f| dir.join(f)).collect()
}

/// The paths of the model folder's files a command that uses the model reads.
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
    READ.iter().map(|f| dir.join(f)).collect()
}
