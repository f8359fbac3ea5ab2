//! Showing strangers' text safely. A request path, a certificate request's
//! subject or any value a client chose can carry characters that change how
//! the text around them *looks* — control characters (a terminal's escape
//! sequences, line breaks that forge a new log line) and Unicode's
//! bidirectional controls (U+202E turns `exe.txt` into what reads as
//! `txt.exe`) — so wherever aspen shows such text to a person (the access
//! log, `aspen issued`) those characters are written as visible escapes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that are not shown as themselves: C0 and C1 controls, DEL,
/// the bidirectional controls (U+061C, U+200E–U+200F, U+202A–U+202E,
/// U+2066–U+2069), the line and paragraph separators (U+2028, U+2029), and
/// the other invisible formatting characters that hide or join text
/// (U+200B–U+200D, U+2060–U+2064, U+FEFF).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` for a person to read: every [`is_hidden`] character as
/// `\u{XXXX}` (what a stranger typed as `\u{…}` stays as typed: harmless
/// to look at; `--json` keeps every value exact). Text without hidden
/// characters is returned as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text with every [`is_hidden`] character that is still raw written
/// as a `\uXXXX` escape: the same values for a program that parses it,
/// nothing hidden for a person who reads it. (Outside strings JSON text is
/// ASCII, so every such character is inside a string, where the escape
/// means the same character.)
pub fn json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_in_json) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden_in_json(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Hidden characters other than JSON's own whitespace between values.
fn is_hidden_in_json(c: char) -> bool {
    is_hidden(c) && !matches!(c, '\n' | '\r' | '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_control_characters_become_visible() {
        assert_eq!(visible("alice@contoso.com"), "alice@contoso.com");
        assert_eq!(
            visible("CN=invoice\u{202E}fdp.exe"),
            "CN=invoice\\u{202e}fdp.exe"
        );
        assert_eq!(visible("a\nb\u{1b}[31m"), "a\\u{000a}b\\u{001b}[31m");
        assert_eq!(visible("CN=x\\, O=y"), "CN=x\\, O=y");
        assert_eq!(
            visible("\u{2067}\u{200b}\u{feff}"),
            "\\u{2067}\\u{200b}\\u{feff}"
        );
        // Letters of right-to-left scripts are text, not controls.
        assert_eq!(visible("שלום"), "שלום");
    }

    #[test]
    fn json_keeps_its_values_and_hides_nothing() {
        let value = serde_json::json!({ "subject": "CN=a\u{202E}b\u{85}c" });
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = json(&text);
        assert!(
            safe.contains("\\u202e") && safe.contains("\\u0085"),
            "{safe}"
        );
        assert!(!safe.chars().any(|c| is_hidden(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }
}
