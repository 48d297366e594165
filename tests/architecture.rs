//! docs/ARCHITECTURE.md is the module contract: each library module's "Imports:" line lists
//! the only other modules its code may use. This test reads the source, finds every
//! `crate::` path (grouped `use crate::{a, b::c}` too, comments ignored) and fails when a
//! module uses one its line does not list, when a module has no line, or when the lines
//! form a cycle.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level library modules: `src/*.rs` and `src/*/` except the binary's.
fn modules() -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir("src")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension()? == "rs").then_some(name)
        })
        .filter(|n| !["lib", "main", "cli"].contains(&n.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn sources(dir: &Path, out: &mut Vec<String>) {
    if dir.is_dir() {
        for e in fs::read_dir(dir).unwrap() {
            sources(&e.unwrap().path(), out);
        }
    } else if dir.extension().is_some_and(|e| e == "rs") {
        out.push(fs::read_to_string(dir).unwrap());
    }
}

/// The first path segment of every `crate::` reference outside comments.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let j = from + i + "crate::".len();
        if b.get(j) == Some(&b'{') {
            // Split the group at depth 1 and take each item's first segment.
            let (mut depth, mut item) = (0, String::new());
            for &c in &b[j..] {
                match c {
                    b'{' => {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b',' if depth == 1 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c as char);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(&code[j..]));
        }
        from = j;
    }
    out
}

/// `module -> allowed imports` from the "**`name`** … Imports: a, b." paragraphs.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = fs::read_to_string("docs/ARCHITECTURE.md").unwrap();
    let mut out = BTreeMap::new();
    for para in doc.split("\n\n") {
        let para = para.replace('\n', " ");
        let Some(rest) = para.strip_prefix("**`") else {
            continue;
        };
        let name = rest.split('`').next().unwrap().to_string();
        let Some((_, imports)) = para.rsplit_once("Imports:") else {
            continue;
        };
        let set: BTreeSet<String> = imports
            .trim()
            .trim_end_matches('.')
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "none")
            .collect();
        out.insert(name, set);
    }
    out
}

#[test]
fn every_module_imports_only_what_architecture_md_allows() {
    let mods = modules();
    let doc = documented();
    let mut problems = Vec::new();
    for m in &mods {
        let Some(allowed) = doc.get(m) else {
            problems.push(format!("{m}: no \"Imports:\" line in docs/ARCHITECTURE.md"));
            continue;
        };
        let mut texts = Vec::new();
        let dir = Path::new("src").join(m);
        if dir.is_dir() {
            sources(&dir, &mut texts);
        } else {
            sources(&dir.with_extension("rs"), &mut texts);
        }
        let used: BTreeSet<String> = texts
            .iter()
            .flat_map(|t| crate_refs(t))
            .filter(|d| d != m && d != "error" && mods.contains(d))
            .collect();
        for d in used.difference(allowed) {
            problems.push(format!("{m} imports {d}, which its line does not allow"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_documented_module_graph_has_no_cycle() {
    let doc = documented();
    assert!(doc.len() >= 15, "too few modules documented: {}", doc.len());
    // Depth-first search with colours: 1 on the stack, 2 done.
    fn visit(
        m: &str,
        doc: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        match state.get(m) {
            Some(2) => return,
            Some(1) => panic!("import cycle: {} -> {m}", path.join(" -> ")),
            _ => {}
        }
        state.insert(m.to_string(), 1);
        path.push(m.to_string());
        for d in doc.get(m).into_iter().flatten() {
            visit(d, doc, state, path);
        }
        path.pop();
        state.insert(m.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    for m in doc.keys() {
        visit(m, &doc, &mut state, &mut Vec::new());
    }
}

#[test]
fn grouped_and_plain_crate_paths_are_both_found() {
    let refs = crate_refs(
        "use crate::{io::bed, model::{Model, Meta}, Error};\n// crate::report\nlet x = crate::seq::revcomp(s);",
    );
    let want: BTreeSet<String> = ["io", "model", "Error", "seq"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
}
