//! docs/formats.md's column dictionary is generated from `cisformer::io::tables`, the same
//! lists the writers take their headers from. This test fails when the two differ; run it with
//! `CISFORMER_BLESS=1` to rewrite the generated blocks after changing a schema.
use std::path::Path;

use cisformer::io::tables::ALL;

const BEGIN: &str = "<!-- columns: ";
const END: &str = "<!-- end columns -->";

/// The document with every `<!-- columns: FILE -->` … `<!-- end columns -->` block rebuilt.
fn regenerate(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc;
    let mut seen = Vec::new();
    while let Some(i) = rest.find(BEGIN) {
        let after = &rest[i + BEGIN.len()..];
        let close = after
            .find(" -->")
            .expect("a columns marker ends with ' -->'");
        let file = &after[..close];
        let schema = ALL
            .iter()
            .find(|s| s.file == file)
            .unwrap_or_else(|| panic!("docs/formats.md names an unknown table {file}"));
        let end = after.find(END).expect("every columns block is closed");
        out.push_str(&rest[..i]);
        out.push_str(&format!("{BEGIN}{file} -->\n{}{END}", schema.markdown()));
        rest = &after[end + END.len()..];
        seen.push(file.to_string());
    }
    out.push_str(rest);
    for s in ALL {
        assert!(
            seen.iter().any(|f| f == s.file),
            "docs/formats.md has no columns block for {}",
            s.file
        );
    }
    out
}

#[test]
fn the_column_dictionary_matches_the_writers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/formats.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let fresh = regenerate(&doc);
    if std::env::var_os("CISFORMER_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    assert!(
        doc == fresh,
        "docs/formats.md's column tables differ from cisformer::io::tables; \
         rerun with CISFORMER_BLESS=1 and review the diff"
    );
}
