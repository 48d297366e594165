//! What a model folder holds: the files cisformer writes there, so that `--force` can
//! remove exactly those (and never a user's own files), and commands can refuse an
//! output that would overwrite one of a model's files they read.
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

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

/// Folders (and leftovers of interrupted writes) that training writes into a model folder:
/// the checkpoint with the optimizer state, and its temporary copies.
pub const DIRS: [&str; 3] = ["checkpoint", ".checkpoint.tmp", ".checkpoint.old"];

/// A temporary weights file `Model::save` renames into place.
const TMP_WEIGHTS: &str = ".model.safetensors.tmp";

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

/// Registers the temporary weights file and checkpoint folder that writing a model into
/// `dir` creates, so an interrupt deletes them (see [`crate::io::output`]).
pub fn remove_temporaries_on_interrupt(dir: &Path) {
    for name in [TMP_WEIGHTS, DIRS[1]] {
        crate::io::output::remove_on_interrupt(dir.join(name));
    }
}

/// Removes everything cisformer writes into a model folder (and nothing else), so a
/// `--force` run leaves only what it wrote itself: a stale `ridge.json` or checkpoint of an
/// earlier run would otherwise sit beside the new model and be read as its own.
pub fn clear(dir: &Path) -> Result<()> {
    for name in FILES.iter().chain([&TMP_WEIGHTS]) {
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    for name in DIRS {
        let p = dir.join(name);
        if p.is_dir() {
            fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_removes_only_cisformer_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["model.safetensors", "ridge.json", "notes.txt"] {
            fs::write(dir.path().join(f), "x").unwrap();
        }
        fs::create_dir(dir.path().join("checkpoint")).unwrap();
        fs::write(dir.path().join("checkpoint/optimizer.safetensors"), "x").unwrap();
        clear(dir.path()).unwrap();
        let left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["notes.txt"]);
    }
}
