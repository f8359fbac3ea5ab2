//! Lines of findings in an XML profile, so that editors and CI code
//! scanning (SARIF) can point at them: one pass over the text that follows
//! the plist's nesting and notes where each key path starts — the line of a
//! dictionary's `<key>`, or of an array item's element.
//!
//! The text has already been parsed by [`crate::read`], so this only needs
//! to follow well-formed XML; anything it does not recognise leaves paths
//! without a line, never a wrong one.

use super::Report;
use std::collections::HashMap;

/// Sets the line (and column) of every finding whose path, or an enclosing
/// path, starts at a known place in `xml`.
pub fn locate(report: &mut Report, xml: &[u8]) {
    if report.findings.iter().all(|f| f.line.is_some()) {
        return;
    }
    let Ok(text) = std::str::from_utf8(xml) else {
        return;
    };
    let places = places(text);
    for f in report.findings.iter_mut().filter(|f| f.line.is_none()) {
        let mut at = f.path.as_str();
        loop {
            if let Some(&(line, column)) = places.get(at) {
                f.line = Some(line);
                f.column = Some(column);
                break;
            }
            match at.rfind(['.', '[']) {
                Some(i) => at = &at[..i],
                None if !at.is_empty() => at = "",
                None => break,
            }
        }
    }
}

enum Open {
    /// An array and the index of its next item.
    Array(usize),
    /// A dictionary and the key awaiting its value (with the key's place).
    Dict(Option<(String, (usize, usize))>),
}

/// Where each key path starts: `""` (the root), `PayloadContent[0]`,
/// `PayloadContent[0].AutoJoin`, … (1-based line and column).
fn places(text: &str) -> HashMap<String, (usize, usize)> {
    let mut places = HashMap::new();
    let mut stack: Vec<(Open, String)> = Vec::new();
    let mut in_plist = false;
    let mut line = 1;
    let mut line_start = 0;
    let mut counted = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(rel) = text[i..].find('<') {
        let start = i + rel;
        // Advance the line count to `start`.
        for (k, &b) in bytes[counted..start].iter().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = counted + k + 1;
            }
        }
        counted = start;
        let column = text[line_start..start].chars().count() + 1;
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
        // A value: its path comes from the innermost open container.
        let path = match stack.last_mut() {
            None => Some((String::new(), (line, column))),
            Some((Open::Array(n), parent)) => {
                let p = format!("{parent}[{n}]");
                *n += 1;
                Some((p, (line, column)))
            }
            Some((Open::Dict(pending), parent)) => pending.take().map(|(k, place)| {
                let p = if parent.is_empty() {
                    k
                } else {
                    format!("{parent}.{k}")
                };
                (p, place)
            }),
        };
        let Some((path, place)) = path else { continue };
        places.insert(path.clone(), place);
        if !empty {
            match name {
                "dict" => stack.push((Open::Dict(None), path)),
                "array" => stack.push((Open::Array(0), path)),
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
        let p = places(xml);
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
}
