//! `[[restriction]]`: enrollment restrictions (Intune's device platform and
//! device limit restrictions), assigned to user groups by priority like
//! `[[policy]]`. The key names are a contract.

use super::fields::{fail, os_versions, platform, text};
use crate::error::FieldError;
use crate::model::restriction::{Personal, Restriction};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One `[[restriction]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestriction {
    name: String,
    priority: i64,
    groups: Option<Vec<String>>,
    platforms: Option<Vec<String>>,
    #[serde(default)]
    personal: Personal,
    minimum_os: Option<BTreeMap<String, String>>,
    maximum_os: Option<BTreeMap<String, String>>,
    device_limit: Option<i64>,
}

/// Every `[[restriction]]`, checked (names and priorities unique, versions
/// `major[.minor[.patch]]`, no minimum above its maximum), highest
/// priority first.
pub(super) fn validate(raw: Vec<RawRestriction>) -> Result<Vec<Restriction>, FieldError> {
    let mut out: Vec<Restriction> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("restriction[{i}].{key}");
        let name = text(&at("name"), r.name)?;
        if let Some(other) = out.iter().find(|o| o.name.eq_ignore_ascii_case(&name)) {
            return fail(
                &at("name"),
                &name,
                format!("is already the name of restriction {:?}", other.name),
            );
        }
        let priority = u32::try_from(r.priority)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                FieldError::new(
                    at("priority"),
                    Some(&r.priority.to_string()),
                    "must be 1 or more (1 is the highest)",
                )
            })?;
        if let Some(other) = out.iter().find(|o| o.priority == priority) {
            return fail(
                &at("priority"),
                &priority.to_string(),
                format!(
                    "is also the priority of restriction {:?}; priorities must be unique",
                    other.name
                ),
            );
        }
        let groups = match r.groups {
            None => None,
            Some(g) if g.is_empty() => {
                return fail(
                    &at("groups"),
                    "[]",
                    "assigns the restriction to nobody; name a group, or leave groups out to restrict everyone",
                );
            }
            Some(g) => Some(
                g.into_iter()
                    .enumerate()
                    .map(|(j, g)| {
                        text(
                            &format!("restriction[{i}].groups[{j}]"),
                            g.trim().to_owned(),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let platforms = match r.platforms {
            None => None,
            Some(p) if p.is_empty() => {
                return fail(
                    &at("platforms"),
                    "[]",
                    "allows no platform; name at least one, or leave platforms out to allow all",
                );
            }
            Some(p) => {
                let mut list = Vec::with_capacity(p.len());
                for (j, name) in p.iter().enumerate() {
                    let one = platform(&format!("restriction[{i}].platforms[{j}]"), name, name)?;
                    if !list.contains(&one) {
                        list.push(one);
                    }
                }
                Some(list)
            }
        };
        let minimum_os = os_versions(&at("minimum_os"), r.minimum_os.unwrap_or_default())?;
        let maximum_os = os_versions(&at("maximum_os"), r.maximum_os.unwrap_or_default())?;
        for (p, minimum) in &minimum_os {
            if let Some((_, maximum)) = maximum_os.iter().find(|(q, _)| q == p)
                && minimum > maximum
            {
                return fail(
                    &format!("restriction[{i}].minimum_os.{}", p.os_name()),
                    &minimum.to_string(),
                    format!(
                        "is above maximum_os.{} = \"{maximum}\": no {} device could enroll",
                        p.os_name(),
                        p.os_name()
                    ),
                );
            }
        }
        let device_limit = r
            .device_limit
            .map(|n| {
                u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                    FieldError::new(
                        at("device_limit"),
                        Some(&n.to_string()),
                        "must be 1 or more (leave it out for no limit)",
                    )
                })
            })
            .transpose()?;
        out.push(Restriction {
            name,
            priority,
            groups,
            platforms,
            personal: r.personal,
            minimum_os,
            maximum_os,
            device_limit,
        });
    }
    out.sort_by_key(|r| r.priority);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{MINIMAL, parse};
    use crate::model::device::{OsVersion, Platform};
    use crate::model::restriction::Personal;

    fn with(text: &str) -> String {
        parse(&format!("{MINIMAL}\n{text}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_restriction_reads_as_written() {
        let s = parse(&format!(
            "{MINIMAL}\n[[restriction]]\nname = \"Contractors\"\npriority = 2\ngroups = [\"Contractors\"]\nplatforms = [\"iOS\", \"macOS\"]\npersonal = \"block\"\nminimum_os = {{ iOS = \"18.0\" }}\nmaximum_os = {{ iOS = \"26.99\" }}\ndevice_limit = 3\n\n[[restriction]]\nname = \"Everyone\"\npriority = 9\n"
        ))
        .unwrap();
        let r = &s.restrictions[0];
        assert_eq!(r.name, "Contractors");
        assert_eq!(r.platforms, Some(vec![Platform::Ios, Platform::MacOs]));
        assert_eq!(r.personal, Personal::Block);
        assert_eq!(r.minimum(Platform::Ios), Some(OsVersion::new(18, 0)));
        assert_eq!(r.maximum(Platform::Ios), Some(OsVersion::new(26, 99)));
        assert_eq!(r.device_limit, Some(3));
        let everyone = &s.restrictions[1];
        assert_eq!(
            (everyone.groups.as_ref(), everyone.personal),
            (None, Personal::Allow)
        );
    }

    #[test]
    fn bad_restrictions_name_line_field_and_value() {
        let head = "[[restriction]]\nname = \"R\"\npriority = 1\n";
        let msg = with(&format!("{head}platforms = [\"iOS\", \"Android\"]\n"));
        assert!(
            msg.starts_with("dir/aspen.toml:19: restriction[0].platforms[1] = \"Android\": \"Android\" is not an OS"),
            "{msg}"
        );
        let msg = with(&format!("{head}minimum_os = {{ iOS = \"18.x\" }}\n"));
        assert!(
            msg.starts_with(
                "dir/aspen.toml:19: restriction[0].minimum_os.iOS = \"18.x\": must be a version"
            ),
            "{msg}"
        );
        for bad in ["18.", "1.2.3.4", "", ".1"] {
            let msg = with(&format!("{head}maximum_os = {{ macOS = \"{bad}\" }}\n"));
            assert!(msg.contains("must be a version"), "{bad}: {msg}");
        }
        let msg = with(&format!(
            "{head}minimum_os = {{ iOS = \"18.1\" }}\nmaximum_os = {{ iOS = \"18.0\" }}\n"
        ));
        assert!(
            msg.starts_with("dir/aspen.toml:19: restriction[0].minimum_os.iOS = \"18.1\": is above maximum_os.iOS = \"18.0\""),
            "{msg}"
        );
        let msg = with(&format!("{head}personal = \"maybe\"\n"));
        assert!(msg.contains(":19:") && msg.contains("personal"), "{msg}");
        let msg = with(&format!("{head}device_limit = 0\n"));
        assert!(msg.contains("restriction[0].device_limit = \"0\""), "{msg}");
        let msg = with(&format!("{head}groups = []\n"));
        assert!(msg.contains("restriction[0].groups"), "{msg}");
        let msg = with(&format!(
            "{head}\n[[restriction]]\nname = \"S\"\npriority = 1\n"
        ));
        assert!(
            msg.contains("restriction[1].priority = \"1\": is also the priority"),
            "{msg}"
        );
    }
}
