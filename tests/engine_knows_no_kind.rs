//! The engine never names a resource kind: every fact about a kind lives in
//! that kind's module (`src/kinds/<service>/<kind>.rs`) behind `KindSpec`,
//! so adding a kind touches no engine file. This test reads the engine's
//! files and fails, naming file and line, where one names a kind's variant
//! (`Kind::EcsService`, `Spec::EcsService`), a kind's spec type through its
//! service module (`ecs::Service`, `model::elbv2`), or a kind's name as a
//! file says it (`ecs/service`), in code, tests or comments.

use moor::model::Kind;

/// The engine: every stage between the file and the providers.
const ENGINE: [&str; 14] = [
    "src/plan.rs",
    "src/apply.rs",
    "src/observe.rs",
    "src/graph.rs",
    "src/render.rs",
    "src/cli.rs",
    "src/resolve.rs",
    "src/load.rs",
    "src/run.rs",
    "src/validate.rs",
    "src/discover.rs",
    "src/state.rs",
    "src/secret.rs",
    "src/provider/mod.rs",
];

/// The engine's code in `file`: the file without its unit-test module
/// (`#[cfg(test)] mod tests` at its end), whose fixtures may use concrete
/// kinds and fields as any example stack does.
fn engine_code(root: &str, file: &str) -> String {
    let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    match text.find("\n#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[test]
fn a_test_module_is_not_engine_code_but_the_rest_is() {
    let root = env!("CARGO_MANIFEST_DIR");
    let code = engine_code(root, "src/plan.rs");
    let whole = std::fs::read_to_string(format!("{root}/src/plan.rs")).unwrap();
    assert!(code.len() < whole.len() && code.contains("pub fn plan("), "only the test module is left out");
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `line` with no identifier character just
/// before it, and (when `whole`) none just after it.
fn occurs(line: &str, word: &str, whole: bool) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back().is_some_and(ident);
        let after = whole && line[i + word.len()..].chars().next().is_some_and(ident);
        !before && !after
    })
}

/// What in `line` names a kind, if anything.
fn names_a_kind(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut services = std::collections::BTreeSet::new();
    for k in Kind::ALL {
        let variant = format!("{k:?}");
        if occurs(line, &variant, true) {
            out.push(format!("variant `{variant}`"));
        }
        if occurs(line, k.as_str(), true) {
            out.push(format!("kind name `{k}`"));
        }
        services.insert(k.as_str().split('/').next().expect("service/kind").to_string());
    }
    for s in services {
        let path = format!("{s}::");
        if occurs(line, &path, false) {
            out.push(format!("spec module `{path}`"));
        }
    }
    out
}

#[test]
fn the_check_catches_each_way_of_naming_a_kind() {
    for line in [
        "    kind == Kind::EcsTaskDefinition",
        "    matches!(spec, Spec::EcrRepository(r) if r.empty_on_delete)",
        "use Kind::*; let user = EcsService;",
        "use crate::model::elbv2::Action;",
        "use crate::model::ecs::TaskDefinition;",
        "    if let Action::Forward(tg) = &ecs::Service::default() {}",
        r#"    message: format!("replacing ecr/repository `{logical}` deletes every image in it"),"#,
        "/// add an elbv2/listener that forwards to it",
    ] {
        assert!(!names_a_kind(line).is_empty(), "not caught: {line}");
    }
    for line in [
        "    if r.kind().is_lookup() || r.kind().facts().versioned {",
        "use crate::model::{Kind, Spec, Stack};",
        "let c = aws_sdk_ecs::Client::new(&conf);",
        "    // a task definition's family; ecs/service_x is no kind",
        "    ErrorKind::NotFound => {}",
    ] {
        assert_eq!(names_a_kind(line), Vec::<String>::new(), "caught by mistake: {line}");
    }
}

#[test]
fn engine_files_name_no_kind() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut hits = Vec::new();
    for file in ENGINE {
        let text = engine_code(root, file);
        for (i, line) in text.lines().enumerate() {
            for what in names_a_kind(line) {
                hits.push(format!("{file}:{}: {what}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the engine names kinds; move each fact into the kind's module (src/kinds) behind KindSpec:\n{}",
        hits.join("\n")
    );
}

/// Field names that belong to one kind (a task definition's containers and
/// their environment, a policy's statements, a family): the engine asks the
/// kind about them and never spells them.
const KIND_FIELDS: [&str; 5] = ["containers", "environment", "entry_point", "statements", "family"];

/// The string literals of Rust source, each with its line number (of its
/// opening quote) and its text. Comments and character literals are skipped.
fn literals(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            // '"' and '\"' are characters, not the start of a string.
            b'\'' if b[i + 1..].starts_with(b"\"'") => i += 2,
            b'\'' if b[i + 1..].starts_with(b"\\\"'") => i += 3,
            b'r' if b[i + 1..].starts_with(b"#\"") || b[i + 1..].starts_with(b"\"") => {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                let start = i + 1 + hashes + 1;
                let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                let end =
                    b[start..].windows(close.len()).position(|w| w == close.as_slice()).map_or(b.len(), |e| start + e);
                out.push((line, String::from_utf8_lossy(&b[start..end]).into_owned()));
                line += b[start..end].iter().filter(|c| **c == b'\n').count();
                i = end + close.len();
                continue;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                out.push((line, String::from_utf8_lossy(&b[start..end]).into_owned()));
                line += b[start..end].iter().filter(|c| **c == b'\n').count();
                i = end + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The kind's field names that the string literals of `text` spell, as
/// whole words, with their line numbers.
fn spells_a_kind_field(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (line, lit) in literals(text) {
        for f in KIND_FIELDS {
            if occurs(&lit, f, true) {
                out.push((line, format!("field name `{f}` in \"{lit}\"")));
            }
        }
    }
    out
}

#[test]
fn the_check_catches_a_kind_field_in_a_string() {
    for text in [
        r#"let Some(list) = fields.get_mut("containers") else { return };"#,
        r#"out.insert(format!("containers.{name}.environment.{k}"));"#,
        "const ORDERED: [&str; 3] = [\"command\", \"entry_point\", \"statements\"];",
        "let s = \"a multi-line\n string about family\";",
        r##"let s = r#"the "statements" of it"#;"##,
    ] {
        assert!(!spells_a_kind_field(text).is_empty(), "not caught: {text}");
    }
    for text in [
        "// the \"containers\" of a task definition are in its module",
        "let containers = familyname(\"statements_x\", 'a');",
        "if matches!(*b, b'\"' | b'\\'') { x(\"ok\") }",
        "let t = \"x\"; // \"environment\"",
        r#"let s = "\"quoted\" containers_x";"#,
    ] {
        assert_eq!(spells_a_kind_field(text), Vec::<(usize, String)>::new(), "caught by mistake: {text}");
    }
    assert_eq!(spells_a_kind_field("let a = 1;\nlet b = \"x\n\";\nlet c = \"family\";")[0].0, 4);
}

#[test]
fn engine_files_spell_no_kind_field() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut hits = Vec::new();
    for file in ENGINE {
        let text = engine_code(root, file);
        for (line, what) in spells_a_kind_field(&text) {
            hits.push(format!("{file}:{line}: {what}"));
        }
    }
    assert!(
        hits.is_empty(),
        "the engine spells a kind's field names; ask the kind (KindSpec) instead:\n{}",
        hits.join("\n")
    );
}
