//! What a model folder holds: the files cisformer writes there, so that `--force` can
//! remove exactly those (and never a user's own files), and commands can refuse an
//! output that would overwrite one of a model's files they read; and a check of a
//! folder's config against its weights before they are loaded.
use std::{
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use crate::{
    Error, Result,
    model::{FORMAT_VERSION, Meta, Model, ModelConfig},
};

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

/// Loads a model folder after [`check`]ing it, so that a hand-edited config is reported
/// as the tensor it disagrees with rather than as an error deep inside the tensor library.
pub fn load(dir: impl AsRef<Path>) -> Result<(Model, Meta)> {
    let dir = dir.as_ref();
    check(dir)?;
    Model::load(dir)
}

/// Checks what [`Model::load`] reports poorly: a `format_version` that is not a number,
/// and a `config.json` whose shapes disagree with `model.safetensors` (a wrong `d_model`
/// names the first tensor whose shape differs, and both shapes). Whatever this cannot
/// read is left to `Model::load`, which names missing files and unparsable JSON.
pub fn check(dir: &Path) -> Result<()> {
    let meta_path = dir.join("meta.json");
    if let Some(meta) = read_json(&meta_path)
        && let Some(v) = meta.get("format_version")
        && v.as_u64().is_none()
    {
        return Err(Error::Invalid(format!(
            "{}: format_version {v} is not a number (this cisformer reads version {FORMAT_VERSION})",
            meta_path.display()
        )));
    }
    let cfg_path = dir.join("config.json");
    let Some(cfg) = read_json(&cfg_path)
        .and_then(|v| serde_json::from_value::<ModelConfig>(v).ok())
        .filter(|c| c.validate().is_ok())
    else {
        return Ok(());
    };
    let st_path = dir.join("model.safetensors");
    let Some(stored) = safetensors_shapes(&st_path) else {
        return Ok(());
    };
    let stored_elems: u128 = stored
        .iter()
        .map(|(_, s)| s.iter().map(|&d| d as u128).product::<u128>())
        .sum();
    // Building a model of an edited config allocates it: refuse sizes far beyond the file's.
    let estimate = estimated_params(&cfg);
    if estimate > 16 * stored_elems + (1 << 20) {
        return Err(Error::Invalid(format!(
            "{}: describes a model of about {estimate} parameters but {} holds {stored_elems}; config.json does not belong to these weights",
            cfg_path.display(),
            st_path.display()
        )));
    }
    let Ok(expected) = Model::new(&cfg, 0) else {
        return Ok(());
    };
    for (name, t) in expected.named_parameters() {
        let want = t.dims().to_vec();
        match stored.iter().find(|(n, _)| *n == name) {
            Some((_, got)) if *got != want => {
                return Err(Error::Shape {
                    path: st_path.display().to_string(),
                    tensor: name,
                    found: got.clone(),
                    expected: want,
                    expected_by: format!(
                        "{} (d_model {}, {} layers, {} heads, ffn {}, k {})",
                        cfg_path.display(),
                        cfg.d_model,
                        cfg.n_layers,
                        cfg.n_heads,
                        cfg.ffn_dim,
                        cfg.k
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// A generous parameter count of `cfg` (embeddings, positions, every layer's projections).
fn estimated_params(cfg: &ModelConfig) -> u128 {
    let d = cfg.d_model as u128;
    let per_layer = 4 * d * d + 2 * d * cfg.ffn_dim as u128 + 8 * d + 2 * cfg.ffn_dim as u128;
    d * (cfg.vocab_size as u128 + cfg.max_tokens as u128 + cfg.n_outputs as u128 + 4)
        + cfg.n_layers as u128 * per_layer
        + d * d * cfg.conv_kernel as u128
        + (cfg.n_layers * cfg.n_heads) as u128 * (2 * cfg.relative_bias as u128 + 1)
}

/// Tensor names and shapes from a safetensors header (`None` if it cannot be read: the
/// loader then reports the file).
fn safetensors_shapes(path: &Path) -> Option<Vec<(String, Vec<usize>)>> {
    let mut f = fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let mut out = Vec::new();
    for (name, t) in v.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let shape = t
            .get("shape")?
            .as_array()?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<Vec<usize>>>()?;
        out.push((name.clone(), shape));
    }
    Some(out)
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
