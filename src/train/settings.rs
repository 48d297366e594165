//! What a training run is built from: a [`Preset`], changed by a configuration file's
//! `[model]`, `[train]` and `[optim]` tables (each key replaces the preset's), then by the
//! caller (`train`'s flags), and finished for the data set.
//!
//! ```
//! use cisformer::train::{Preset, settings::Settings};
//! let s = Settings::from_preset(Preset::Default)
//!     .with_config_text("[train]\nepochs = 3\n", "run.toml")
//!     .unwrap();
//! assert_eq!(s.trainer.epochs, 3);
//! assert_eq!(s.model.d_model, Preset::Default.model().d_model);
//! ```
use std::path::Path;

use serde::Deserialize;

use super::{Dataset, OptimConfig, Preset, trainer::TrainerConfig};
use crate::{
    Error, Result,
    model::{ModelConfig, Task},
};

/// The model, trainer and optimiser settings of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub model: ModelConfig,
    pub trainer: TrainerConfig,
    pub optim: OptimConfig,
    /// The shift augmentation was set explicitly (a file's `shift_augment`, or
    /// [`Settings::set_shift_augment`]), so it no longer follows the architecture.
    shift_set: bool,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    model: Option<toml::Value>,
    train: Option<toml::Value>,
    optim: Option<toml::Value>,
}

impl Settings {
    pub fn from_preset(p: Preset) -> Self {
        Self {
            model: p.model(),
            trainer: p.trainer(),
            optim: p.optim(),
            shift_set: false,
        }
    }

    /// Applies the configuration file at `path` (TOML).
    pub fn with_config_file(self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.with_config_text(&text, path)
    }

    /// Applies a configuration file's `text`; `origin` names it in errors.
    pub fn with_config_text(mut self, text: &str, origin: impl AsRef<Path>) -> Result<Self> {
        let origin = origin.as_ref();
        let file: ConfigFile = toml::from_str(text).map_err(|e| Error::toml(origin, text, &e))?;
        self.shift_set |= file
            .train
            .as_ref()
            .and_then(|t| t.get("shift_augment"))
            .is_some();
        self.model = overlay(self.model, file.model, origin, "[model]")?;
        self.trainer = overlay(self.trainer, file.train, origin, "[train]")?;
        self.optim = overlay(self.optim, file.optim, origin, "[optim]")?;
        Ok(self)
    }

    /// Sets the number of offsets of the shift augmentation, which then no longer follows
    /// the architecture.
    pub fn set_shift_augment(&mut self, n: usize) {
        self.trainer.shift_augment = n;
        self.shift_set = true;
    }

    /// Sets what follows from the architecture and the data: the shift augmentation
    /// (the model's pooling offsets, unless set explicitly), the vocabulary, the number of
    /// outputs and the task (binary when every output is 0/1).
    pub fn finish(mut self, ds: &Dataset) -> Result<(ModelConfig, TrainerConfig, OptimConfig)> {
        let m = &mut self.model;
        if !self.shift_set {
            self.trainer.shift_augment = crate::predict::pooling_offsets(m);
        }
        m.vocab_size = m.tokenizer()?.vocab_size();
        m.n_outputs = ds.n_outputs();
        let binary = ds.binary_outputs();
        m.task = if binary.iter().all(|&b| b) {
            Task::Binary
        } else if binary.iter().any(|&b| b) {
            return Err(Error::Invalid(
                "a mix of binary (0/1) and real-valued outputs cannot be trained together".into(),
            ));
        } else {
            Task::Regression
        };
        Ok((self.model, self.trainer, self.optim))
    }
}

/// `base` with the keys of a configuration `table` replaced; errors name the file
/// (`origin`) and the table.
fn overlay<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: T,
    table: Option<toml::Value>,
    origin: &Path,
    name: &str,
) -> Result<T> {
    let bad = |msg: &dyn std::fmt::Display| {
        Error::Invalid(format!("{}: {name}: {msg}", origin.display()))
    };
    let Some(table) = table else {
        return Ok(base);
    };
    let toml::Value::Table(keys) = table else {
        return Err(bad(&"must be a table"));
    };
    let mut merged = toml::Value::try_from(&base).map_err(|e| bad(&e))?;
    if let toml::Value::Table(t) = &mut merged {
        t.extend(keys);
    }
    merged
        .try_into()
        .map_err(|e: toml::de::Error| bad(&e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changes_the_keys_it_names_and_its_errors_name_file_and_table() {
        let s = Settings::from_preset(Preset::Fast)
            .with_config_text("[model]\nd_model = 32\n", "c.toml")
            .unwrap();
        assert_eq!(s.model.d_model, 32);
        assert_eq!(s.model.n_layers, Preset::Fast.model().n_layers);
        let e = Settings::from_preset(Preset::Fast)
            .with_config_text("[model]\nd_model = \"wide\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml: [model]: "), "{e}");
        let e = Settings::from_preset(Preset::Fast)
            .with_config_text("[modle]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:1: "), "{e}");
    }
}
