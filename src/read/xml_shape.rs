//! Whether an XML plist's keys and values alternate as they must: inside a
//! `<dict>` a `<key>` then one value, again and again; `<key>` nowhere else.
//!
//! The plist crate's stream reader gives `<key>` and `<string>` as the same
//! event, so on its own it takes `<key>A</key><key>B</key>` as key A with the
//! string value B, and `<string>A</string>` where a key belongs as a key.
//! Apple's parser (CFPropertyList), python's plistlib and devices refuse
//! both. This pass follows the elements and reports the first such place.
//!
//! It reads untrusted text, so it is one linear pass with a bounded stack
//! (no deeper than [`super::MAX_DEPTH`]; deeper text is refused by the reader
//! anyway). It only judges the plist's own elements: an element it does not
//! know, or markup it cannot follow, ends the pass without a verdict and
//! leaves the text to the reader's own errors.

use super::MAX_DEPTH;

/// A misplaced element: the byte offset where its `<` is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    pub offset: usize,
    pub what: String,
}

enum Frame {
    Array,
    /// A dictionary and, when a key was read, where that key's text starts.
    Dict(Option<usize>),
}

/// The plist's value elements (Apple's DTD).
const VALUES: &[&str] = &[
    "dict", "array", "string", "integer", "real", "true", "false", "date", "data",
];

/// At most this much of a key's text is quoted in a message.
const QUOTE_CHARS: usize = 60;

/// The first key or value out of place in `xml`, if any.
pub fn misplaced(xml: &str) -> Option<Misplaced> {
    let bytes = xml.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root_seen = false;
    let mut i = 0;
    while let Some(rel) = xml[i..].find('<') {
        let start = i + rel;
        let rest = &xml[start..];
        // Comments, CDATA, processing instructions and the DOCTYPE hold no
        // plist elements.
        let skip = |end: &str| rest.find(end).map(|e| start + e + end.len());
        let next = if rest.starts_with("<!--") {
            Some(skip("-->"))
        } else if rest.starts_with("<![CDATA[") {
            Some(skip("]]>"))
        } else if rest.starts_with("<?") {
            Some(skip("?>"))
        } else if rest.starts_with("<!") {
            Some(declaration_end(bytes, start))
        } else {
            None
        };
        if let Some(next) = next {
            i = next?;
            continue;
        }
        let end = tag_end(bytes, start)?;
        let tag = &xml[start + 1..end];
        i = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            if matches!(local(name.trim()), "dict" | "array") {
                if let Some(Frame::Dict(Some(key))) = stack.last() {
                    return Some(Misplaced {
                        offset: start,
                        what: format!("the key {} has no value before </dict>", quote(xml, *key)),
                    });
                }
                stack.pop();
            }
            continue;
        }
        let empty = tag.ends_with('/');
        let name = local(
            tag.trim_end_matches('/')
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or(""),
        );
        if name == "plist" {
            continue;
        }
        if name == "key" {
            let what = match stack.last_mut() {
                Some(Frame::Dict(pending @ None)) => {
                    *pending = Some(i);
                    continue;
                }
                Some(Frame::Dict(Some(key))) => format!(
                    "a <key> where the value of the key {} belongs",
                    quote(xml, *key)
                ),
                Some(Frame::Array) => "a <key> inside an <array>, whose items are values".into(),
                None if root_seen => "a <key> after the plist's root value".into(),
                None => "a <key> where the plist's root value belongs".into(),
            };
            return Some(Misplaced {
                offset: start,
                what,
            });
        }
        if !VALUES.contains(&name) {
            // Not a plist element: the reader refuses it itself.
            return None;
        }
        match stack.last_mut() {
            Some(Frame::Dict(None)) => {
                return Some(Misplaced {
                    offset: start,
                    what: format!("a <{name}> where a <key> belongs"),
                });
            }
            Some(Frame::Dict(pending)) => *pending = None,
            Some(Frame::Array) => {}
            // A second root is the reader's to judge.
            None if root_seen => return None,
            None => root_seen = true,
        }
        if !empty {
            let frame = match name {
                "dict" => Frame::Dict(None),
                "array" => Frame::Array,
                _ => continue,
            };
            if stack.len() >= MAX_DEPTH {
                return None;
            }
            stack.push(frame);
        }
    }
    None
}

/// `key` for `plist:key` (the reader compares local names too).
fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// The offset of the `>` that ends the tag starting at `start`, skipping
/// quoted attribute values.
fn tag_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &b) in bytes[start..].iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(start + k),
            _ => {}
        }
    }
    None
}

/// Just past the `>` that ends `<!DOCTYPE …>`, whose internal subset
/// (`[ … ]`) and quoted strings may hold `>`.
fn declaration_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    let mut subset = false;
    for (k, &b) in bytes[start..].iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => subset = true,
            (None, b']') => subset = false,
            (None, b'>') if !subset => return Some(start + k + 1),
            _ => {}
        }
    }
    None
}

/// A key's text for a message, quoted and cut short; `at` is where it starts.
fn quote(xml: &str, at: usize) -> String {
    let text = &xml[at..];
    let text = &text[..text.find('<').unwrap_or(text.len())];
    let mut shown: String = text.chars().take(QUOTE_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Option<(usize, String)> {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE plist [ <!ENTITY x \">\"> ]>\n<plist version=\"1.0\">{body}</plist>"
        );
        let head = xml.find("<plist").unwrap() + "<plist version=\"1.0\">".len();
        misplaced(&xml).map(|m| (m.offset - head, m.what))
    }

    #[test]
    fn keys_and_values_alternate() {
        for ok in [
            "<dict><key>A</key><string>x</string><key>B</key><dict/></dict>",
            "<dict><key>A</key><array><string>x</string><dict><key>K</key><true/></dict></array></dict>",
            "<dict><!-- <key>hidden</key> --><key>A</key><![CDATA[<key>]]><string>a<!--<key>--></string></dict>",
            "<dict><key/><string/></dict>",
            "<array/>",
            "<string>root</string>",
            "<dict><key a='>'>A</key><integer>1</integer></dict>",
        ] {
            assert_eq!(check(ok), None, "{ok}");
        }
    }

    #[test]
    fn a_key_where_a_value_belongs_and_back() {
        let cases = [
            (
                "<dict><key>RepeatingPowerOff</key><key>RepeatingPowerOn</key></dict>",
                34,
                "a <key> where the value of the key \"RepeatingPowerOff\" belongs",
            ),
            (
                "<dict><string>PayloadType</string><string>x</string></dict>",
                6,
                "a <string> where a <key> belongs",
            ),
            (
                "<dict><key>A</key><true/><dict/></dict>",
                25,
                "a <dict> where a <key> belongs",
            ),
            (
                "<dict><key>A</key></dict>",
                18,
                "the key \"A\" has no value before </dict>",
            ),
            (
                "<array><key>A</key></array>",
                7,
                "a <key> inside an <array>, whose items are values",
            ),
            (
                "<key>A</key>",
                0,
                "a <key> where the plist's root value belongs",
            ),
            (
                "<dict/><key>A</key>",
                7,
                "a <key> after the plist's root value",
            ),
        ];
        for (body, at, what) in cases {
            assert_eq!(check(body), Some((at, what.to_owned())), "{body}");
        }
    }

    /// Elements it does not know, and text it cannot follow, are left to the
    /// reader: no verdict, never a panic.
    #[test]
    fn unknown_or_broken_markup_gives_no_verdict() {
        for odd in [
            "<dict><strin>A</strin><key>B</key></dict>",
            "<dict><key>A</key",
            "<!-- unterminated",
            "<dict><key>A</key><!DOCTYPE [",
            "<dict><key>é€ unterminated",
        ] {
            let _ = check(odd);
            assert_eq!(check(odd), None, "{odd}");
        }
        let deep = format!("{}<key>x</key>", "<array>".repeat(MAX_DEPTH + 1));
        assert_eq!(check(&deep), None);
    }

    #[test]
    fn long_keys_are_cut_short_in_messages() {
        let key = "k".repeat(10_000);
        let (_, what) = check(&format!("<dict><key>{key}</key></dict>")).unwrap();
        assert!(what.len() < 120, "{what}");
        assert!(what.contains('…'), "{what}");
    }
}
