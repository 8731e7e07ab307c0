//! Small helpers for the wording of messages, shared by the loader, the
//! checks and the commands.

/// "a" or "an", by the word's first letter.
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// The text with its first letter in capitals.
pub fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// Long names are cut in messages; the caret shows them whole.
pub fn abbreviate(s: &str) -> String {
    if s.chars().count() <= 48 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

/// `1 error`, `2 errors`.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        assert_eq!(article("ecr/repository"), "an");
        assert_eq!(article("iam/role"), "an");
        assert_eq!(article("ecs/service"), "an");
        assert_eq!(article("security group"), "a");
        assert_eq!(capital("an x"), "An x");
        assert_eq!(capital(""), "");
        assert_eq!(abbreviate("short"), "short");
        let long = "x".repeat(60);
        assert_eq!(abbreviate(&long), format!("{}…", "x".repeat(40)));
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(0, "warning"), "0 warnings");
    }
}
