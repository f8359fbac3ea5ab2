use std::fmt;

/// A Managed Apple Account identifier (historically "Managed Apple ID"), e.g.
/// `alice@contoso.com`: an email-style name in a domain the organisation
/// verified with Apple Business/School Manager.
///
/// Checked once here so every caller (settings, CSV rows, CLI, portal) gets
/// the same rule. Comparison is case-insensitive, as Apple's are.
#[derive(Debug, Clone, Eq)]
pub struct ManagedAppleId(String);

impl ManagedAppleId {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_email(s)?;
        Ok(ManagedAppleId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The email-style syntax shared by Managed Apple IDs and directory e-mail
/// addresses: one `@`, a local part without whitespace, quotes or brackets, and
/// a DNS domain with at least two labels.
pub fn check_email(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 254 {
        return Err("is longer than 254 characters".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".into());
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err("is not an email-style name (no '@')".into());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("needs 1 to 64 characters before '@'".into());
    }
    if local
        .chars()
        .any(|c| "<>()[],;:\\\"@".contains(c) || !c.is_ascii())
    {
        return Err("has a character that is not allowed before '@'".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced '.' before '@'".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("needs a domain with at least one '.' after '@'".into());
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("has an invalid domain label {label:?}"));
        }
    }
    Ok(())
}

impl PartialEq for ManagedAppleId {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for ManagedAppleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["alice@contoso.com", "a.b+c@x.contoso.co.uk", "A@B.CD"] {
            assert!(ManagedAppleId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "alice",
            "@contoso.com",
            "alice@",
            "alice@contoso",
            "alice@@contoso.com",
            "al ice@contoso.com",
            "alice@-contoso.com",
            "alice@contoso..com",
            ".alice@contoso.com",
            "../../x@evil",
            "al\u{0}ice@contoso.com",
        ] {
            assert!(ManagedAppleId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn compares_case_insensitively() {
        let a = ManagedAppleId::parse("Alice@Contoso.com").unwrap();
        let b = ManagedAppleId::parse("alice@contoso.COM").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "Alice@Contoso.com");
    }
}
