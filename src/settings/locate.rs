//! Where things are in the settings text: the line a field is written on
//! (errors read `file:line: key …`), the field written at a place (for
//! toml's own errors, which know only a byte offset), and serde's Rust type
//! names in the words of the settings file.
//!
//! Fields are named in one notation throughout: `mdm.topic`,
//! `identity.fallback.url`, `anchor[1].certificate`, `signing.chain[0]`.

/// serde's Rust type names in the words of the settings file.
pub(super) fn plain_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("expected u32", "expected an integer"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
    ] {
        out = out.replace(rust, toml);
    }
    out
}

/// The field (in the notation above: `identity.key_size`,
/// `policy[1].priority`) whose key or value is written at byte `at`; the
/// innermost table around it when `at` is on no key or value.
pub(super) fn field_at(text: &str, at: usize) -> Option<String> {
    use toml::Spanned;
    use toml::de::{DeTable, DeValue};
    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    }
    /// `tables`: whether a table or array's own span may match (the
    /// second pass, after no key or scalar value did).
    fn in_table(table: &DeTable, at: usize, prefix: &str, tables: bool) -> Option<String> {
        table.iter().find_map(|(key, value)| {
            let path = join(prefix, key.get_ref());
            in_value(value, at, &path, tables)
                .or_else(|| key.span().contains(&at).then(|| path.clone()))
        })
    }
    fn in_value(value: &Spanned<DeValue>, at: usize, path: &str, tables: bool) -> Option<String> {
        let here = || (value.span().contains(&at)).then(|| path.to_owned());
        match value.get_ref() {
            DeValue::Table(t) => {
                in_table(t, at, path, tables).or_else(|| here().filter(|_| tables))
            }
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| in_value(item, at, &format!("{path}[{i}]"), tables))
                .or_else(|| here().filter(|_| tables)),
            _ => here(),
        }
    }
    let doc = DeTable::parse(text).ok()?;
    let root = doc.get_ref();
    in_table(root, at, "", false).or_else(|| in_table(root, at, "", true))
}

/// 1-based line of byte offset `at` in `text`.
pub(super) fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The byte offset where the value of `field` (e.g. `mdm.topic`,
/// `anchor[1].certificate`, `signing.chain[0]`) is written, or where its
/// nearest written parent is.
pub(super) fn written_or_parent(text: &str, field: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut found = None;
    for part in field.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        // A key that is not written (a missing one) has its parent's line.
        let Some((_, mut value)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
            break;
        };
        found = Some(value.span().start);
        if let (Some(i), DeValue::Array(items)) = (index, value.get_ref()) {
            let Some(item) = items.get(i) else { break };
            value = item;
            found = Some(value.span().start);
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

/// The byte offset of `field`'s value when the key itself is written (not
/// its parent's, as [`written_or_parent`] falls back to).
pub(super) fn written(text: &str, field: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref() == part)?;
        if parts.peek().is_none() {
            return Some(value.span().start);
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::settings::tests::{MINIMAL, parse};

    /// A value of the wrong type names its key and line, in TOML's words
    /// ("an integer", not serde's "i64").
    #[test]
    fn type_errors_name_the_key_and_line() {
        let cases = [
            (
                "key_size = \"2048\"",
                "identity",
                "identity.key_size: invalid type: string \"2048\", expected an integer",
            ),
            (
                "sign_message = \"yes\"",
                "mdm",
                "mdm.sign_message: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "server_capabilities = \"x\"",
                "mdm",
                "mdm.server_capabilities: invalid type: string \"x\", expected an array",
            ),
        ];
        for (line, table, want) in cases {
            let text = MINIMAL.replace(&format!("[{table}]\n"), &format!("[{table}]\n{line}\n"));
            let at = text.lines().position(|l| l == line).unwrap() + 1;
            let msg = parse(&text).unwrap_err().to_string();
            assert_eq!(msg, format!("dir/aspen.toml:{at}: {want}"));
        }
        // In an array of tables, the item's index.
        let text = format!(
            "{MINIMAL}\n[[policy]]\nname = \"a\"\ntype = \"user\"\npriority = 1\n\n[[policy]]\nname = \"b\"\ntype = \"device\"\npriority = \"2\"\n"
        );
        let msg = parse(&text).unwrap_err().to_string();
        assert!(
            msg.contains(": policy[1].priority: invalid type: string \"2\", expected an integer"),
            "{msg}"
        );
        // A secret of the wrong type is named, never shown.
        let text = MINIMAL.replace("challenge = \"s3cret\"", "challenge = 424242");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(
            msg.contains("identity.challenge: a secret must be a quoted string")
                && !msg.contains("424242"),
            "{msg}"
        );
        // A missing key is named, on its table's line.
        let text = MINIMAL.replace("topic = \"com.apple.mgmt.External.2f7d0d3c\"\n", "");
        let msg = parse(&text).unwrap_err().to_string();
        let at = text.lines().position(|l| l == "[mdm]").unwrap() + 1;
        assert!(
            msg.starts_with(&format!("dir/aspen.toml:{at}: mdm.topic: is required")),
            "{msg}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let bad = MINIMAL.replace("[mdm]\n", "[mdm]\ncolour = \"blue\"\n");
        let msg = parse(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("dir/aspen.toml:7") && msg.contains("colour"),
            "{msg}"
        );
    }

    #[test]
    fn array_fields_are_located() {
        let text = format!(
            "{MINIMAL}\n[[policy]]\nname = \"a\"\ntype = \"user\"\npriority = 1\n\n[[policy]]\nname = \"b\"\ntype = \"device\"\npriority = 1\n"
        );
        let msg = parse(&text).unwrap_err().to_string();
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("priority"))
            .nth(1)
            .unwrap()
            .0
            + 1;
        assert!(
            msg.starts_with(&format!("dir/aspen.toml:{line}: policy[1].priority")),
            "{msg}"
        );
    }
}
