//! Hostile input is bounded: it fails fast with a clear diagnostic and
//! never hangs or panics. (These tests assert outcomes, not timings.)

use moor::load::{load_str, LoadOptions};

fn codes(src: &str) -> Vec<&'static str> {
    let l = load_str("hostile.yaml", src, &LoadOptions::default());
    assert!(l.stack.is_none());
    l.diags.iter().map(|d| d.code).collect()
}

#[test]
fn alias_bomb_is_refused() {
    let mut src = String::from("stack: t\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        src.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    assert_eq!(codes(&src), ["moor::limits"]);
}

#[test]
fn deep_nesting_is_refused() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let src = format!("stack: t\nresources: {}{}\n", open.repeat(50_000), close.repeat(50_000));
        assert_eq!(codes(&src), ["moor::limits"], "{open}");
    }
    let mut block = String::from("stack: t\nresources:\n");
    for depth in 0..500 {
        block.push_str(&" ".repeat(depth + 1));
        block.push_str("a:\n");
    }
    assert_eq!(codes(&block), ["moor::limits"]);
}

#[test]
fn huge_file_is_refused_before_parsing() {
    let src = format!("stack: t\ndescription: \"{}\"\n", "x".repeat(9 * 1024 * 1024));
    assert_eq!(codes(&src), ["moor::limits"]);
}

#[test]
fn many_errors_are_all_reported() {
    let mut src = String::from("stack: t\nresources:\n");
    for i in 0..500 {
        src.push_str(&format!("  r{i}:\n    kind: ecr/repository\n    scan_on_psh: true\n"));
    }
    let c = codes(&src);
    assert_eq!(c.len(), 500);
    assert!(c.iter().all(|c| *c == "moor::unknown-field"));
}

#[test]
fn garbage_bytes_do_not_panic() {
    for src in [
        "\u{0}\u{1}\u{2}",
        "{{{{",
        "]]]]",
        "- - - -",
        "? ? ?",
        "&a *a",
        "stack: [",
        ":",
        "!!binary x",
        "stack: x\n\tresources: {}",
    ] {
        let l = load_str("g.yaml", src, &LoadOptions::default());
        assert!(l.stack.is_none(), "{src:?}");
        assert!(!l.diags.is_empty(), "{src:?}");
    }
}
