//! Partial states (`heads`/`interactions --shard`): what `merge` reads, merges and
//! finishes into tables. A state that loads must merge and finish without a panic.
#![no_main]
use std::sync::OnceLock;

use cisformer::analysis::{PartialFile, load_partial};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("part.json");
    std::fs::write(&path, data).unwrap();
    let (Ok(a), Ok(b)) = (load_partial(&path), load_partial(&path)) else {
        return;
    };
    match (a, b) {
        (PartialFile::Heads(mut a), PartialFile::Heads(b)) => {
            let _ = a.finish();
            let _ = a.finish_focus();
            if a.merge(b).is_ok() {
                let _ = a.finish();
            }
        }
        (PartialFile::Interactions(mut a), PartialFile::Interactions(b)) => {
            let rows = a.finish();
            let _ = a.finish_pairs(&rows);
            let _ = a.top_site_pairs();
            if a.merge(b).is_ok() {
                let _ = a.finish();
            }
        }
        _ => unreachable!("one file read twice is one kind"),
    }
});
