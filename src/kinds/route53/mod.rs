//! `route53/existing_zone` and `route53/record`, and the domain name rule
//! they share with ACM certificates.

mod existing_zone;
mod record;

pub use existing_zone::*;
pub use record::*;

use crate::model::check::Checker;

/// Checks a literal domain name (one with `${…}` is checked by AWS): at most
/// 253 characters, labels of 1–63 lowercase letters, digits, `-` and `_`
/// separated by dots, no trailing dot; with `wildcard`, a first label `*`.
pub fn check_domain(c: &mut Checker, path: &[&str], what: &str, name: &str, wildcard: bool) {
    if name.contains("${") {
        return;
    }
    if let Some(why) = domain_problem(name, wildcard) {
        let shown = crate::text::abbreviate(name);
        c.error("moor::domain-name", path, format!("`{shown}` is not a valid {what}"), why).help = Some(
            "write the full name in lowercase without the final dot, such as `app.example.com`".to_string()
                + if wildcard { " or `*.example.com`" } else { "" },
        );
    }
}

/// What is wrong with a domain name, if anything (see [`check_domain`]).
pub fn domain_problem(name: &str, wildcard: bool) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > 253 {
        return Some("longer than 253 characters");
    }
    if name.ends_with('.') {
        return Some("ends with a dot");
    }
    let rest = match name.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        Some(_) => return Some("a wildcard is not allowed here"),
        None => name,
    };
    for label in rest.split('.') {
        if label.is_empty() {
            return Some("has an empty label (two dots in a row, or a leading dot)");
        }
        if label.len() > 63 {
            return Some("has a label longer than 63 characters");
        }
        if label == "*" {
            return Some("a `*` is only allowed as the first label");
        }
        if label.chars().any(|c| c.is_ascii_uppercase()) {
            return Some("has uppercase letters (DNS names are stored in lowercase)");
        }
        if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Some("has characters other than letters, digits, `-`, `_` and `.`");
        }
    }
    None
}

/// A domain name as Route 53 and ACM answer it, in the file's form: no
/// final dot, lowercase, and `*` where Route 53 answers its octal escape.
pub fn normal_domain(name: &str) -> String {
    name.trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked_label_by_label() {
        assert_eq!(domain_problem("app.example.com", false), None);
        assert_eq!(domain_problem("_acme.example.com", false), None);
        assert_eq!(domain_problem("*.example.com", true), None);
        assert!(domain_problem("*.example.com", false).is_some());
        assert!(domain_problem("a.*.example.com", true).is_some());
        assert!(domain_problem("example.com.", false).is_some());
        assert!(domain_problem("App.example.com", false).is_some());
        assert!(domain_problem("a..b", false).is_some());
        assert!(domain_problem("a b.com", false).is_some());
        assert!(domain_problem(&format!("{}.com", "a".repeat(64)), false).is_some());
        assert!(domain_problem("", false).is_some());
    }

    #[test]
    fn answered_names_read_as_written() {
        assert_eq!(normal_domain("\\052.Example.com."), "*.example.com");
        assert_eq!(normal_domain("app.example.com"), "app.example.com");
    }
}
