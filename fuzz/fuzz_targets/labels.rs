//! `labels.tsv`: the header, ids, activity values and the optional `set` column.
#![no_main]
use cisformer::train::labels::parse_labels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(labels) = parse_labels(data, "fuzz.tsv".as_ref()) {
        assert_eq!(labels.ids.len(), labels.values.len());
        let _ = labels.index();
    }
});
