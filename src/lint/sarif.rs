//! `aspen lint --format sarif`: the findings as SARIF 2.1.0 (OASIS Static
//! Analysis Results Interchange Format), which CI code scanning (GitHub,
//! GitLab, Azure DevOps) shows as annotations. One run; the tool's rules
//! are every lint code, each result names its rule, level, message, the
//! file (a relative URI as given on the command line) and, where known, the
//! line and column of the key.

use super::{Severity, Summary, rules};
use serde_json::{Value, json};

pub const VERSION: &str = "2.1.0";
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A file name as a URI reference: `/` kept, anything outside RFC 3986's
/// unreserved characters percent-encoded; standard input is `stdin`.
fn uri(file: &str) -> String {
    if file == "<stdin>" {
        return "stdin".into();
    }
    let mut out = String::new();
    for b in file.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SARIF log of a lint run.
pub fn log(summary: &Summary) -> Value {
    let rule_list: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "shortDescription": { "text": r.title },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let mut results = Vec::new();
    for f in &summary.files {
        for x in &f.report.findings {
            let index = rules::ALL.iter().position(|r| r.code == x.code);
            let mut physical = json!({ "artifactLocation": { "uri": uri(&f.file) } });
            if let Some(line) = x.line {
                let mut region = json!({ "startLine": line });
                if let Some(c) = x.column {
                    region["startColumn"] = json!(c);
                }
                physical["region"] = region;
            }
            let mut location = json!({ "physicalLocation": physical });
            if !x.path.is_empty() {
                location["logicalLocations"] =
                    json!([{ "fullyQualifiedName": x.path, "kind": "member" }]);
            }
            let payload = x
                .payload_type
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            let path = if x.path.is_empty() { "(file)" } else { &x.path };
            let mut result = json!({
                "ruleId": x.code,
                "level": level(x.severity),
                "message": { "text": format!("{path}{payload}: {}", x.message) },
                "locations": [location],
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [{
            "tool": { "driver": {
                "name": "aspen",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rule_list,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_become_uri_references() {
        assert_eq!(
            uri("profiles/wi fi.mobileconfig"),
            "profiles/wi%20fi.mobileconfig"
        );
        assert_eq!(uri("<stdin>"), "stdin");
        assert_eq!(uri("a\\b#c"), "a/b%23c");
    }
}
