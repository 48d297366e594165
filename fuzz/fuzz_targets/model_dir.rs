//! Model folders: `config.json`, `meta.json` or `model.safetensors` (chosen by the first
//! byte) replaced by the rest of the input, the other two from a small test model. A folder
//! that loads must also predict.
#![no_main]
use std::sync::OnceLock;

use cisformer::{model::ForwardOptions, model_dir};
use libfuzzer_sys::fuzz_target;

const FILES: [(&str, &[u8]); 3] = [
    (
        "config.json",
        include_bytes!("../../tests/data/model/conv/config.json"),
    ),
    (
        "meta.json",
        include_bytes!("../../tests/data/model/conv/meta.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../tests/data/model/conv/model.safetensors"),
    ),
];

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let which = usize::from(which) % FILES.len();
    for (i, (name, bytes)) in FILES.iter().enumerate() {
        let contents = if i == which { rest } else { bytes };
        std::fs::write(dir().path().join(name), contents).unwrap();
    }
    let Ok((model, _meta)) = model_dir::load(dir().path()) else {
        return;
    };
    let ids = model.tokenizer().encode(b"ACGTACGTTGCA");
    let _ = model.forward(
        &[ids],
        &ForwardOptions {
            attention: true,
            ..Default::default()
        },
    );
});
