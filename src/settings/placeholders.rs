//! Placeholders: values `aspen init` writes for the admin to replace (the
//! all-zero push topic, the challenge `change-me`, an `example.com` host),
//! found at load with the line they are on; the commands that issue
//! profiles refuse them unless `--allow-placeholders`.

use super::locate;
use super::{Identity, Settings};
use crate::error::{Error, Result};
use crate::secret::IdentitySecret;

/// A value `aspen init` writes as a stand-in, still in the settings: the
/// all-zero push topic, the challenge `change-me`, an `example.com` host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The key, as written (`mdm.topic`, `identity.challenge`, …).
    pub field: String,
    pub line: Option<usize>,
    /// What it is, for the message (never a secret's value).
    pub what: &'static str,
}

impl Settings {
    /// Refuses settings that still hold a placeholder `aspen init` wrote
    /// (`profile`, `bulk` and `serve` call it unless
    /// `--allow-placeholders`): one message naming each key and its line.
    pub fn refuse_placeholders(&self) -> Result<()> {
        if self.placeholders.is_empty() {
            return Ok(());
        }
        Err(Error::Settings {
            file: self.file.clone(),
            line: None,
            message: format!(
                "still holds placeholders `aspen init` wrote: {}; replace them with your own values (or give --allow-placeholders)",
                self.describe_placeholders()
            ),
        })
    }

    /// `mdm.topic (line 14: the all-zero push topic), …`
    pub fn describe_placeholders(&self) -> String {
        self.placeholders
            .iter()
            .map(|p| match p.line {
                Some(line) => format!("{} (line {line}: {})", p.field, p.what),
                None => format!("{} ({})", p.field, p.what),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The topic `aspen init` writes without `--push-cert`.
const PLACEHOLDER_TOPIC_UID: &str = "00000000-0000-0000-0000-000000000000";
/// The static challenge older `aspen init`s wrote.
const PLACEHOLDER_SECRET: &str = "change-me";

/// Whether `url`'s host is `example.com` (or .org, .net, RFC 2606) or under
/// it: names that never reach a real server.
fn example_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Every placeholder in `settings`, with the line of the key `text` holds.
pub(super) fn find(settings: &Settings, text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut push = |field: String, what: &'static str| {
        let line = locate::written(text, &field).map(|at| locate::line_of(text, at));
        found.push(Placeholder { field, line, what });
    };
    // A topic read from topic_certificate is the certificate's, never this.
    if settings.mdm.topic.ends_with(PLACEHOLDER_TOPIC_UID)
        && locate::written(text, "mdm.topic").is_some()
    {
        push("mdm.topic".into(), "the all-zero push topic");
    }
    let urls = [
        ("mdm.server_url", Some(settings.mdm.server_url.as_str())),
        ("mdm.check_in_url", settings.mdm.check_in_url.as_deref()),
        (
            "portal.public_url",
            settings.portal.as_ref().map(|p| p.public_url.as_str()),
        ),
    ];
    for (field, url) in urls {
        if url.is_some_and(example_host) {
            push(field.into(), "an example.com host");
        }
    }
    let identities = [
        Some((&settings.identity, "identity")),
        settings.fallback.as_ref().map(|f| (f, "identity.fallback")),
    ];
    for (identity, table) in identities.into_iter().flatten() {
        let (url_key, url) = match identity {
            Identity::Scep(c) => ("url", c.url.as_str()),
            Identity::Acme(c) => ("directory_url", c.directory_url.as_str()),
        };
        if example_host(url) {
            push(format!("{table}.{url_key}"), "an example.com host");
        }
        if let Some((_, IdentitySecret::Static(value), key)) = identity.secret()
            && value.expose() == PLACEHOLDER_SECRET
        {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let key = [
                leaf.to_owned(),
                format!("{leaf}_env"),
                format!("{leaf}_file"),
            ]
            .into_iter()
            .map(|k| format!("{table}.{k}"))
            .find(|k| locate::written(text, k).is_some())
            .unwrap_or_else(|| format!("{table}.{leaf}"));
            push(key, "the placeholder secret");
        }
    }
    found.sort_by_key(|p| p.line);
    found
}
