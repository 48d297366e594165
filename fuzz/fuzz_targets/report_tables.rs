//! The report's table readers: any bytes given as one of `report`'s input tables (chosen by
//! the first byte) must render a report or give an error, never panic. The model folder is
//! the report tests' fixture.
#![no_main]
use std::{path::PathBuf, sync::OnceLock};

use cisformer::report::{ReportInputs, render};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, table)) = data.split_first() else {
        return;
    };
    let path = dir().path().join("table.tsv");
    std::fs::write(&path, table).unwrap();
    let model_dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/report/model"
    ));
    let mut inputs = ReportInputs {
        model_dir,
        ..ReportInputs::default()
    };
    let p = Some(path);
    match which % 10 {
        0 => inputs.heads = p,
        1 => inputs.interactions = p,
        2 => inputs.validation = p,
        3 => inputs.spacing = p,
        4 => inputs.patch = p,
        5 => inputs.redundancy = p,
        6 => inputs.predictions = p,
        7 => inputs.labels = p,
        8 => inputs.pruning = p,
        _ => inputs.forgetting = p,
    }
    let _ = render(&inputs);
});
