//! Lines of findings in an XML profile, so that the text output, editors
//! and CI code scanning (SARIF) can point at them: one pass over the text
//! that follows the plist's nesting and notes where each key path a finding
//! needs starts — the line of a dictionary's `<key>`, or of an array item's
//! element.
//!
//! The text has already been parsed by [`crate::read`], so this only needs
//! to follow well-formed XML; anything it does not recognise leaves paths
//! without a line, never a wrong one. It reads untrusted text: lines and
//! columns are counted as the pass moves (a file on one long line costs no
//! more than one on many), and only the paths of findings (and the paths
//! that contain them) are kept.

use super::Report;
use std::collections::{HashMap, HashSet};

/// Sets the line (and column) of every finding whose path, or an enclosing
/// path, starts at a known place in `xml`.
pub fn locate(report: &mut Report, xml: &[u8]) {
    if report.findings.iter().all(|f| f.line.is_some()) {
        return;
    }
    let Ok(text) = std::str::from_utf8(xml) else {
        return;
    };
    let mut wanted: HashSet<&str> = HashSet::new();
    for f in report.findings.iter().filter(|f| f.line.is_none()) {
        let mut at = f.path.as_str();
        while wanted.insert(at) && !at.is_empty() {
            at = parent(at);
        }
    }
    let places = places(text, &wanted);
    for f in report.findings.iter_mut().filter(|f| f.line.is_none()) {
        let mut at = f.path.as_str();
        loop {
            if let Some(&(line, column)) = places.get(at) {
                f.line = Some(line);
                f.column = Some(column);
                break;
            }
            if at.is_empty() {
                break;
            }
            at = parent(at);
        }
    }
}

/// The path that contains `path`: `A.B[2]` → `A.B` → `A` → `` (the root).
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) if i > 0 => &path[..i],
        _ => "",
    }
}

enum Open {
    /// An array and the index of its next item.
    Array(usize),
    /// A dictionary and the key awaiting its value (with the key's place).
    Dict(Option<(String, (usize, usize))>),
}

/// Where each of the `wanted` key paths starts: `""` (the root),
/// `PayloadContent[0]`, `PayloadContent[0].AutoJoin`, … (1-based line and
/// column, in characters).
fn places(text: &str, wanted: &HashSet<&str>) -> HashMap<String, (usize, usize)> {
    let mut places = HashMap::new();
    // Each open container, and the length of its path within `path`.
    let mut stack: Vec<(Open, usize)> = Vec::new();
    let mut path = String::new();
    let mut in_plist = false;
    // The line and column of byte `counted`.
    let (mut line, mut column, mut counted) = (1, 1, 0);
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(rel) = text[i..].find('<') {
        let start = i + rel;
        for &b in &bytes[counted..start] {
            if b == b'\n' {
                line += 1;
                column = 1;
            } else if b & 0xC0 != 0x80 {
                // The first byte of a character.
                column += 1;
            }
        }
        counted = start;
        let rest = &text[start..];
        // Comments, the XML declaration, DOCTYPE and CDATA are skipped whole.
        let skip_to = |end: &str| rest.find(end).map(|e| start + e + end.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            skip_to(">")
        } else {
            None
        };
        if let Some(n) = next {
            i = n;
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[1..close];
        i = start + close + 1;
        if let Some(name) = tag.strip_prefix('/') {
            if matches!(name.trim(), "dict" | "array") {
                stack.pop();
            }
            continue;
        }
        let empty = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        if name == "plist" {
            in_plist = true;
            continue;
        }
        if !in_plist {
            continue;
        }
        if name == "key" {
            let Some(end) = text[i..].find("</key>") else {
                break;
            };
            let key = unescape(&text[i..i + end]);
            i += end + "</key>".len();
            if let Some((Open::Dict(pending), _)) = stack.last_mut() {
                *pending = Some((key, (line, column)));
            }
            continue;
        }
        // A value: its path is its container's and its key or index.
        let place = match stack.last_mut() {
            None => {
                path.clear();
                Some((line, column))
            }
            Some((Open::Array(n), parent)) => {
                path.truncate(*parent);
                path.push_str(&format!("[{n}]"));
                *n += 1;
                Some((line, column))
            }
            Some((Open::Dict(pending), parent)) => pending.take().map(|(k, place)| {
                path.truncate(*parent);
                if *parent > 0 {
                    path.push('.');
                }
                path.push_str(&k);
                place
            }),
        };
        let Some(place) = place else { continue };
        if wanted.contains(path.as_str()) {
            places.insert(path.clone(), place);
        }
        if !empty {
            match name {
                "dict" => stack.push((Open::Dict(None), path.len())),
                "array" => stack.push((Open::Array(0), path.len())),
                _ => {}
            }
        }
    }
    places
}

/// XML text with its five named entities and numeric references decoded.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_the_line_of_their_key_or_item() {
        let xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE plist>\n<plist version=\"1.0\">\n<dict>\n\
            \t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n\t\t\t<key>A&amp;B</key>\n\t\t\t<true/>\n\
            \t\t\t<!-- <key>Hidden</key> -->\n\t\t\t<key>List</key>\n\t\t\t<array><string>x</string>\n\
            \t\t\t<integer>1</integer></array>\n\t\t</dict>\n\t\t<dict/>\n\t</array>\n</dict>\n</plist>\n";
        let all = [
            "",
            "PayloadContent",
            "PayloadContent[0]",
            "PayloadContent[0].A&B",
            "PayloadContent[0].List",
            "PayloadContent[0].List[0]",
            "PayloadContent[0].List[1]",
            "PayloadContent[1]",
            "PayloadContent[0].Hidden",
        ];
        let p = places(xml, &all.into_iter().collect());
        assert_eq!(p[""], (4, 1));
        assert_eq!(p["PayloadContent"], (5, 2));
        assert_eq!(p["PayloadContent[0]"], (7, 3));
        assert_eq!(p["PayloadContent[0].A&B"], (8, 4));
        assert_eq!(p["PayloadContent[0].List"], (11, 4));
        assert_eq!(p["PayloadContent[0].List[0]"], (12, 11));
        assert_eq!(p["PayloadContent[0].List[1]"], (13, 4));
        assert_eq!(p["PayloadContent[1]"], (15, 3));
        assert!(!p.contains_key("PayloadContent[0].Hidden"));
    }

    /// Only the paths asked for are kept; columns count characters, on a
    /// line of any length.
    #[test]
    fn only_wanted_paths_and_columns_in_characters() {
        let filler = "<key>é</key><true/>".repeat(10_000);
        let xml = format!(
            "<plist><dict>{filler}<key>Ünïcode</key><dict><key>X</key><false/></dict></dict></plist>"
        );
        let wanted: HashSet<&str> = ["Ünïcode.X", "Ünïcode", ""].into_iter().collect();
        let p = places(&xml, &wanted);
        assert_eq!(p.len(), 3, "{p:?}");
        let before = "<plist><dict>".chars().count() + filler.chars().count();
        assert_eq!(p["Ünïcode"], (1, before + 1));
        let x = before + "<key>Ünïcode</key><dict>".chars().count();
        assert_eq!(p["Ünïcode.X"], (1, x + 1));
        assert_eq!(p[""], (1, 8));
    }
}
