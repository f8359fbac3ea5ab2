//! `[portal]`: the origin devices and browsers are sent to, how users are
//! authenticated, the key for codes and sessions, the embedded store's
//! folder.

use super::Settings;
use super::fields::{fail, relative_path};
use crate::error::{Error, FieldError, Result};
use crate::payload::check_https_url;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[portal]`, validated. The secret itself is read only by the commands
/// that need it (`serve`, `invite`), never at load.
#[derive(Debug, Clone)]
pub struct Portal {
    /// Origin devices and browsers are sent to, without a trailing `/`.
    pub public_url: String,
    pub auth: PortalAuth,
    /// HMAC key for codes, sessions and access tokens.
    pub secret_file: PathBuf,
    /// Folder of the embedded audit store; `None` records nothing.
    pub state_dir: Option<PathBuf>,
}

/// How the portal learns who the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalAuth {
    /// One-time enrollment codes issued by `aspen invite`.
    Code,
    /// An authenticating reverse proxy sets this request header; it must
    /// strip the header from what clients send.
    Header(String),
    /// The organisation's identity provider (OpenID Connect, `[oidc]`).
    Oidc,
}

/// `[portal]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPortal {
    public_url: String,
    #[serde(default = "default_auth")]
    auth: String,
    trusted_header: Option<String>,
    secret_file: String,
    state_dir: Option<String>,
}

fn default_auth() -> String {
    "code".into()
}

impl Settings {
    /// `[portal]`, for the commands that need it (`serve`, `invite`).
    pub fn require_portal(&self) -> Result<&Portal> {
        self.portal.as_ref().ok_or_else(|| {
            Error::invalid(format!(
                "{}: needs a [portal] section (public_url, secret_file, state_dir)",
                self.file.display()
            ))
        })
    }
}

/// Apple requires https for the well-known URL and the enrollment endpoints;
/// plain http is accepted only for loopback hosts (tests, `--demo`).
pub fn check_public_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            trimmed
                .strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
        });
    if !loopback {
        check_https_url(trimmed)?;
    }
    let host_part = trimmed.split_once("://").map_or("", |(_, rest)| rest);
    if host_part.contains(['/', '?', '#']) {
        return Err(
            "must be an origin such as \"https://enroll.contoso.com\", without a path".into(),
        );
    }
    // It is quoted into headers and pages: only host-name characters.
    if !host_part
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    {
        return Err("has a character that is not allowed in a host name".into());
    }
    Ok(trimmed.to_owned())
}

/// An HTTP header name (RFC 9110 token).
fn check_header_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        Ok(())
    } else {
        Err("must be an HTTP header name such as \"X-Remote-User\"".into())
    }
}

pub(super) fn validate(raw: RawPortal, base: &Path) -> Result<Portal, FieldError> {
    let public_url = check_public_url(&raw.public_url)
        .map_err(|why| FieldError::new("portal.public_url", Some(&raw.public_url), why))?;
    let auth = match raw.auth.as_str() {
        "code" => PortalAuth::Code,
        "header" => {
            let name = raw.trusted_header.ok_or_else(|| {
                FieldError::new(
                    "portal.trusted_header",
                    None,
                    "is required with auth = \"header\"",
                )
            })?;
            check_header_name(&name)
                .map_err(|why| FieldError::new("portal.trusted_header", Some(&name), why))?;
            PortalAuth::Header(name)
        }
        "oidc" => PortalAuth::Oidc,
        other => {
            return fail(
                "portal.auth",
                other,
                "must be \"code\", \"header\" or \"oidc\"",
            );
        }
    };
    Ok(Portal {
        public_url,
        auth,
        secret_file: relative_path(base, "portal.secret_file", &raw.secret_file)?,
        state_dir: raw
            .state_dir
            .map(|d| relative_path(base, "portal.state_dir", &d))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, parse};
    use crate::store::Location;

    #[test]
    fn portal_is_validated_with_file_line_and_field() {
        let text = format!(
            "{MINIMAL}\n[portal]\npublic_url = \"http://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\n"
        );
        let msg = parse(&text).unwrap_err().to_string();
        let line = text
            .lines()
            .position(|l| l.starts_with("public_url"))
            .unwrap()
            + 1;
        assert!(
            msg.starts_with(&format!(
                "dir/aspen.toml:{line}: portal.public_url = \"http://enroll.contoso.com\""
            )),
            "{msg}"
        );
        let header = text.replace("http://enroll", "https://enroll") + "auth = \"header\"\n";
        let msg = parse(&header).unwrap_err().to_string();
        assert!(msg.contains("portal.trusted_header: is required"), "{msg}");
        let ok = header.clone() + "trusted_header = \"X-Remote-User\"\nstate_dir = \"state\"\n";
        let p = parse(&ok).unwrap().portal.unwrap();
        assert_eq!(p.public_url, "https://enroll.contoso.com");
        assert_eq!(p.auth, PortalAuth::Header("X-Remote-User".into()));
        assert_eq!(p.secret_file, Path::new("dir/portal.secret"));
        assert_eq!(p.state_dir.as_deref(), Some(Path::new("dir/state")));
        assert_eq!(
            parse(&ok).unwrap().require_store().unwrap(),
            Location::Sqlite("dir/state".into())
        );
        let bad = ok.replace("X-Remote-User", "X Remote");
        assert!(
            parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("portal.trusted_header")
        );
    }

    #[test]
    fn missing_portal_or_state_dir_is_one_error_each() {
        let none = parse(MINIMAL).unwrap();
        assert_eq!(
            none.require_portal().unwrap_err().to_string(),
            "dir/aspen.toml: needs a [portal] section (public_url, secret_file, state_dir)"
        );
        let no_state = parse(&format!(
            "{MINIMAL}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"s\"\n"
        ))
        .unwrap();
        assert!(no_state.require_portal().is_ok());
        for s in [&none, &no_state] {
            assert!(
                s.require_store().unwrap_err().to_string().starts_with(
                    "dir/aspen.toml: needs [store] url (or url_env) or portal.state_dir"
                ),
            );
        }
    }

    #[test]
    fn public_url_allows_http_only_on_loopback() {
        assert_eq!(
            check_public_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check_public_url("http://localhost").is_ok());
        assert!(check_public_url("http://localhost.evil.com").is_err());
        assert!(check_public_url("http://127.0.0.1.evil.com").is_err());
        assert!(check_public_url("https://enroll.contoso.com/portal").is_err());
    }
}
