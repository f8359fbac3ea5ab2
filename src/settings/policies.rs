//! `[[policy]]`: the enrollment type policies, by priority.

use super::fields::{fail, optional_text, text};
use crate::error::FieldError;
use crate::model::policy::{Policy, PolicyType};
use serde::Deserialize;

/// One `[[policy]]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    name: String,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: PolicyType,
    priority: i64,
    #[serde(default)]
    groups: Vec<String>,
}

/// Every `[[policy]]`, checked (names and priorities unique), highest
/// priority (lowest number) first.
pub(super) fn validate(raw: Vec<RawPolicy>) -> Result<Vec<Policy>, FieldError> {
    let mut out: Vec<Policy> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let name = text(&format!("policy[{i}].name"), p.name)?;
        if let Some(other) = out.iter().find(|o| o.name.eq_ignore_ascii_case(&name)) {
            return fail(
                &format!("policy[{i}].name"),
                &name,
                format!("is already the name of policy {:?}", other.name),
            );
        }
        let field = format!("policy[{i}].priority");
        let priority = u32::try_from(p.priority)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                FieldError::new(
                    &field,
                    Some(&p.priority.to_string()),
                    "must be 1 or more (1 is the highest)",
                )
            })?;
        if let Some(other) = out.iter().find(|o| o.priority == priority) {
            return fail(
                &field,
                &priority.to_string(),
                format!(
                    "is also the priority of policy {:?}; priorities must be unique",
                    other.name
                ),
            );
        }
        let mut groups = Vec::with_capacity(p.groups.len());
        for (j, g) in p.groups.into_iter().enumerate() {
            let g = text(&format!("policy[{i}].groups[{j}]"), g.trim().to_owned())?;
            groups.push(g);
        }
        out.push(Policy {
            name,
            description: optional_text(&format!("policy[{i}].description"), p.description)?,
            kind: p.kind,
            priority,
            groups,
        });
    }
    out.sort_by_key(|p| p.priority);
    Ok(out)
}
