//! File names for per-user profiles: derived from the user's e-mail, safe on
//! Windows, macOS and Linux, and unique per user.
//!
//! An address made only of `a–z 0–9 . _ + - @` (after lowercasing) is used as
//! it is: `alice@contoso.com.mobileconfig`. Anything else (a `/`, `%`, `*`,
//! `~`, a Windows device name such as `con.x@…`, a very long address) is
//! replaced character by character with `_` and gets `~` plus 64 bits of the
//! address's SHA-256, so two addresses that sanitise alike still get two
//! files. `~` never appears in a name used as it is, so the two forms cannot
//! collide either. Names are lowercase because macOS and Windows compare file
//! names case-insensitively, as e-mail addresses are compared.

/// The suffix of every profile file.
pub const EXTENSION: &str = ".mobileconfig";

/// The longest sanitised address kept in a name: with the hash and the
/// extension a name stays well under the 255 bytes every file system allows.
const MAX_STEM: usize = 200;

/// Device names Windows reserves whatever the extension (`con.txt` too).
const WINDOWS_RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

fn is_safe(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '+' | '-' | '@')
}

/// The profile file name for the user with e-mail `email`.
pub fn for_email(email: &str) -> String {
    let lower = email.to_ascii_lowercase();
    let stem = lower.split('.').next().unwrap_or("");
    let usable = lower.len() <= MAX_STEM
        && !lower.starts_with('.')
        && lower.chars().all(is_safe)
        && !WINDOWS_RESERVED.contains(&stem);
    if usable {
        return format!("{lower}{EXTENSION}");
    }
    let mut name = String::with_capacity(MAX_STEM + 30);
    for c in lower.chars().take(MAX_STEM) {
        // No `..` either: harmless inside a name, alarming to read.
        let keep = is_safe(c) && !(c == '.' && name.ends_with('.'));
        name.push(if keep { c } else { '_' });
    }
    if name.starts_with('.') || WINDOWS_RESERVED.contains(&name.split('.').next().unwrap_or("")) {
        name.insert(0, '_');
    }
    let digest = openssl::sha::sha256(lower.as_bytes());
    name.push('~');
    crate::hex::push_lower(&mut name, &digest[..8]);
    name.push_str(EXTENSION);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every name must be on every OS.
    fn assert_portable(name: &str) {
        assert!(name.len() <= 255, "{name}");
        assert!(name.ends_with(EXTENSION), "{name}");
        assert!(!name.starts_with('.'), "{name}");
        assert!(
            name.chars().all(|c| is_safe(c) || c == '~'),
            "{name} has an unsafe character"
        );
        let stem = name.split('.').next().unwrap();
        assert!(!WINDOWS_RESERVED.contains(&stem), "{name}");
        assert!(!name.contains(".."), "{name}");
    }

    #[test]
    fn ordinary_addresses_are_kept_lowercased() {
        assert_eq!(
            for_email("Alice.Smith+mdm@Contoso.com"),
            "alice.smith+mdm@contoso.com.mobileconfig"
        );
    }

    #[test]
    fn hostile_and_odd_addresses_are_sanitised_and_unique() {
        let odd = [
            "../../x@evil",
            "a/b@contoso.com",
            "a_b@contoso.com",
            "a\\b@contoso.com",
            "a*b@contoso.com",
            "a?b@contoso.com",
            "a|b@contoso.com",
            "a:b@contoso.com",
            "a~b@contoso.com",
            "con.x@contoso.com",
            "CON.x@contoso.com",
            "nul@contoso.com",
            "é@contoso.com",
            "a\u{0}b@contoso.com",
            &format!("{}@contoso.com", "x".repeat(300)),
            &format!("{}@contoso.com", "x".repeat(301)),
        ];
        let mut names: Vec<String> = odd.iter().map(|e| for_email(e)).collect();
        names.iter().for_each(|n| assert_portable(n));
        assert!(!names[0].contains('/'));
        // a/b, a\b, a*b … all sanitise to a_b: the hash keeps them apart,
        // and apart from the genuine a_b@contoso.com.
        assert_eq!(names[2], "a_b@contoso.com.mobileconfig");
        assert!(names[1].starts_with("a_b@contoso.com~"));
        // Addresses differing only in case are the same user.
        assert_eq!(names[9], names[10]);
        names.remove(10);
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "two users share a file name");
    }

    #[test]
    fn names_are_stable() {
        // Re-runs must write the same files.
        assert_eq!(for_email("a/b@contoso.com"), for_email("A/B@CONTOSO.COM"));
        assert_eq!(
            for_email("a/b@contoso.com"),
            format!(
                "a_b@contoso.com~{}.mobileconfig",
                &openssl::sha::sha256(b"a/b@contoso.com")
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()[..16]
            )
        );
    }
}
