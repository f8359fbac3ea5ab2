//! The text form of an [`Inspection`]: the tree `aspen inspect` prints.

use super::Inspection;
use crate::payload::MASK;
use crate::read::Format;
use serde_json::Value as Json;

/// The inspection as an indented tree, one key per line.
pub fn render(v: &Inspection) -> String {
    let mut out = String::new();
    let mut line = |indent: usize, k: &str, val: &str| {
        out.push_str(&format!(
            "{:indent$}{k:<14}{val}\n",
            "",
            indent = indent * 2
        ));
    };
    let format = match v.format {
        Format::Xml => "XML plist",
        Format::Binary => "binary plist",
    };
    match &v.signature {
        Some(sig) => {
            line(0, "format:", &format!("signed (CMS SignedData) {format}"));
            line(
                0,
                "signature:",
                &match &sig.problem {
                    None => "matches the content (run `aspen verify --ca` for the chain)".into(),
                    Some(p) => format!("PROBLEM: {p}"),
                },
            );
            for s in &sig.signers {
                if let Some(c) = &s.certificate {
                    line(1, "signer:", &c.subject);
                    line(1, "issuer:", &c.issuer);
                    line(1, "sha-256:", &c.sha256);
                    line(
                        1,
                        "validity:",
                        &format!("{} to {}", c.not_before, c.not_after),
                    );
                }
                line(1, "digest:", &s.digest_algorithm);
            }
            line(1, "certificates:", &sig.certificates.len().to_string());
        }
        None => line(0, "format:", &format!("unsigned {format}")),
    }
    if let Some(env) = &v.encrypted {
        line(
            0,
            "encrypted:",
            &format!(
                "payloads encrypted with {} for {}",
                env.cipher,
                env.recipients.join("; ")
            ),
        );
    }
    match &v.enrollment {
        Some(e) => {
            line(0, "enrollment:", e.description);
            if let Some(id) = &e.managed_apple_id {
                line(1, "Apple ID:", id);
            }
            if let Some(r) = &e.access_rights {
                let names = if r.rights.len() == crate::payload::mdm::RIGHTS.len() {
                    "all rights".to_owned()
                } else {
                    r.rights.join(", ")
                };
                line(1, "rights:", &format!("{} = {names}", r.value));
                if let Some(p) = &r.problem {
                    line(1, "", &format!("PROBLEM: AccessRights {p}"));
                }
            }
        }
        None if v.encrypted.is_some() => line(0, "enrollment:", "unknown (payloads encrypted)"),
        None => line(0, "enrollment:", "none (no MDM payload)"),
    }
    out.push_str("profile:\n");
    for (k, val) in &v.profile {
        value(&mut out, 1, k, val);
    }
    out.push_str(&format!("payloads:     {}\n", v.payloads.len()));
    for p in &v.payloads {
        out.push_str(&format!(
            "  [{}] {}  {}\n",
            p.index,
            p.payload_type.as_deref().unwrap_or("(no PayloadType)"),
            p.identifier.as_deref().unwrap_or("(no PayloadIdentifier)")
        ));
        let mut line = |k: &str, val: &str| out.push_str(&format!("      {k:<19} {val}\n"));
        if let Some(u) = &p.uuid {
            line("PayloadUUID", u);
        }
        if let Some(n) = &p.display_name {
            line("PayloadDisplayName", n);
        }
        if let Some(c) = &p.certificate {
            line(
                "certificate",
                &format!(
                    "{}{} (valid {} to {})",
                    c.subject,
                    if c.self_signed { ", self-signed" } else { "" },
                    c.not_before,
                    c.not_after
                ),
            );
            line("sha-256", &c.sha256);
        }
        for r in &p.references {
            let target = match r.target {
                Some(i) => format!(
                    "→ [{i}] {}",
                    // `i` is the PayloadContent index; items that are not
                    // dictionaries have no view, so look it up.
                    v.payloads
                        .binary_search_by_key(&i, |p| p.index)
                        .ok()
                        .and_then(|at| v.payloads[at].payload_type.as_deref())
                        .unwrap_or("?")
                ),
                None => "→ NO SUCH PAYLOAD".into(),
            };
            line(&r.key, &format!("{} {target}", r.uuid));
        }
        for (k, val) in &p.settings {
            if p.references
                .iter()
                .any(|r| r.key.split('[').next() == Some(k))
            {
                continue;
            }
            value(&mut out, 3, k, val);
        }
    }
    if v.secrets_masked && out.contains(MASK) {
        out.push_str("(secrets masked; --show-secrets shows them)\n");
    }
    out
}

/// One key and its value, nested values indented below it.
fn value(out: &mut String, indent: usize, key: &str, v: &Json) {
    let pad = "  ".repeat(indent);
    match v {
        Json::Object(m) if m.len() == 1 && m.contains_key("bytes") => {
            out.push_str(&format!("{pad}{key:<19} <{} bytes>\n", m["bytes"]));
        }
        Json::Object(m) => {
            out.push_str(&format!("{pad}{key}:\n"));
            for (k, x) in m {
                value(out, indent + 1, k, x);
            }
        }
        Json::Array(items) if items.iter().all(|x| !x.is_object()) => {
            let text: Vec<String> = items.iter().map(scalar).collect();
            out.push_str(&format!("{pad}{key:<19} [{}]\n", text.join(", ")));
        }
        Json::Array(items) => {
            out.push_str(&format!("{pad}{key}:\n"));
            for (i, x) in items.iter().enumerate() {
                value(out, indent + 1, &format!("[{i}]"), x);
            }
        }
        other => out.push_str(&format!("{pad}{key:<19} {}\n", scalar(other))),
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
