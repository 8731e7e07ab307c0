//! Golden tests of the diagnostics moor prints for malformed stack files.
//!
//! Each file in `tests/fixtures/invalid/` is one mistake (or a few of one
//! kind); its rendered diagnostics are compared with the snapshot in
//! `tests/snapshots/`. A fixture may start with lines of the form
//! `# moor-test: --var name=value` or `# moor-test: --var-file path` (relative
//! to the fixture) to pass variables.
//!
//! To accept new or changed output: `INSTA_UPDATE=always cargo test --test diagnostics`,
//! then review the `.snap` files in the diff.

use moor::load::{load_str, LoadOptions};
use std::path::Path;

fn options_for(text: &str, dir: &Path) -> LoadOptions {
    let mut o = LoadOptions::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# moor-test:") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        while let Some(w) = words.next() {
            match w {
                "--var" => o.vars.push(words.next().expect("--var value").to_string()),
                "--var-file" => {
                    // Relative to the crate, as users see it (cargo test runs there).
                    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                    let full =
                        dir.join(words.next().expect("--var-file path")).canonicalize().expect("var file exists");
                    o.var_files.push(full.strip_prefix(root).map(Path::to_path_buf).unwrap_or(full));
                }
                "--env" => {
                    let (k, v) = words.next().expect("--env k=v").split_once('=').expect("k=v");
                    o.env.push((k.to_string(), v.to_string()));
                }
                other => panic!("unknown moor-test option {other}"),
            }
        }
    }
    o
}

/// Loads, graphs and renders a fixture the way `moor validate` does.
fn render_fixture(path: &Path) -> (String, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = path.strip_prefix(root).unwrap_or(path);
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let opts = options_for(&text, path.parent().expect("has parent"));
    // Var files are shown relative to the crate, like the fixture.
    let mut loaded = load_str(&rel.display().to_string(), &text, &opts);
    if let Some(stack) = &loaded.stack {
        let (_, diags) = moor::graph::build(stack);
        loaded.diags.extend(diags);
    }
    let errors = loaded.diags.iter().filter(|d| d.is_error()).count();
    let rendered = moor::diag::render(&loaded.diags, false, 100).replace(&format!("{}/", root.display()), "");
    (rendered, errors)
}

#[test]
fn invalid_stacks_render_golden_diagnostics() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let (rendered, errors) = render_fixture(path);
        assert!(errors > 0, "{} should be invalid but produced no error:\n{rendered}", path.display());
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn example_stacks_are_valid_without_warnings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("stacks/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let (rendered, _) = render_fixture(&path);
        assert!(rendered.is_empty(), "{} has diagnostics:\n{rendered}", path.display());
    }
    assert!(seen >= 4, "expected the example stacks, found {seen}");
}
