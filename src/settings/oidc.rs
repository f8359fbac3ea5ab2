//! `[oidc]`: the organisation's identity provider (OpenID Connect), with
//! which people sign in when `[portal] auth = "oidc"`: where it is, the
//! client aspen is registered as, which claims name the user, their
//! Managed Apple Account and their groups, and how devices sign in for
//! account-driven enrollment. The client secret is read only by `aspen
//! serve` (see [`ClientSecret`]), never at load.

use super::fields::{fail, relative_path};
use crate::error::FieldError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[oidc]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The issuer identifier exactly as the IdP writes it in `iss` (a
    /// trailing `/` is kept: some IdPs have one). Discovery is at this plus
    /// `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Asked for at the authorization endpoint; always holds `openid`.
    pub scopes: Vec<String>,
    /// The claim that names the user: the directory's e-mail address.
    pub user_claim: String,
    /// The claim holding the user's Managed Apple Account, if the IdP has it.
    pub managed_apple_id_claim: Option<String>,
    /// The claim holding the user's groups (an array of strings), if the
    /// IdP sends them: then they choose the policy and `[directory] users`
    /// is optional.
    pub groups_claim: Option<String>,
    /// How a device signs in for account-driven enrollment.
    pub device: DeviceMethod,
}

/// Where the client secret comes from: a file (private to its owner, like
/// `[portal] secret_file`) or an environment variable. Never inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    File(PathBuf),
    Env(String),
}

/// Apple's account-driven sign-in methods (the `method` of the enroll
/// endpoint's `WWW-Authenticate: Bearer` challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceMethod {
    /// `apple-as-web`: the device opens aspen's sign-in page, which sends
    /// the person to the IdP; aspen hands the device its own access token.
    AppleAsWeb,
    /// `apple-oauth2`: the device signs in at the IdP itself, as a public
    /// OAuth 2 client, and brings the IdP's access token (a JWT aspen
    /// validates).
    AppleOauth2 {
        /// The client the device is registered as at the IdP.
        client_id: String,
        /// The scopes the device asks for (space-joined in the challenge).
        scopes: Vec<String>,
        /// The `aud` the IdP's access tokens for aspen carry.
        audience: String,
    },
}

/// `[oidc]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOidc {
    issuer: String,
    client_id: String,
    client_secret_file: Option<String>,
    client_secret_env: Option<String>,
    /// An inline secret is refused with a clear message, not as an unknown key.
    client_secret: Option<toml::Value>,
    scopes: Option<Vec<String>>,
    user_claim: Option<String>,
    managed_apple_id_claim: Option<String>,
    groups_claim: Option<String>,
    device_method: Option<String>,
    device_client_id: Option<String>,
    device_scopes: Option<Vec<String>>,
    device_audience: Option<String>,
}

/// The scopes asked for unless `scopes` says otherwise.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// Checks an issuer: an https URL with a host and no query, fragment or
/// user name; plain http only on a loopback host (tests, demos).
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("is not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        "http" => {
            Err("must be https (plain http only on 127.0.0.1 or localhost, for tests)".into())
        }
        _ => Err("must be an https URL".into()),
    }
}

/// A claim name: printable text.
fn claim(field: &str, value: String) -> Result<String, FieldError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return fail(
            field,
            &value,
            "must be a claim name (1 to 256 printable characters)",
        );
    }
    Ok(value)
}

/// A list of OAuth scopes (RFC 6749 §3.3: printable ASCII, no space, `"`
/// or `\`), at least one.
fn scope_list(field: &str, list: Vec<String>) -> Result<Vec<String>, FieldError> {
    if list.is_empty() {
        return Err(FieldError::new(field, None, "must list at least one scope"));
    }
    for (i, s) in list.iter().enumerate() {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
        if !ok {
            return fail(
                &format!("{field}[{i}]"),
                s,
                "is not a scope (printable ASCII without spaces, quotes or backslashes)",
            );
        }
    }
    Ok(list)
}

/// A client identifier: what goes in URLs and the device's challenge.
fn client_id(field: &str, value: String) -> Result<String, FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 512
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if !ok {
        return fail(
            field,
            &value,
            "must be the client ID the identity provider gave (printable ASCII, no spaces or quotes)",
        );
    }
    Ok(value)
}

pub(super) fn validate(raw: RawOidc, base: &Path) -> Result<Oidc, FieldError> {
    check_issuer(&raw.issuer)
        .map_err(|why| FieldError::new("oidc.issuer", Some(&raw.issuer), why))?;
    let client_secret = match (
        raw.client_secret,
        raw.client_secret_file,
        raw.client_secret_env,
    ) {
        (Some(_), _, _) => {
            return Err(FieldError::new(
                "oidc.client_secret",
                None,
                "is never written inline: give client_secret_file (a file only its owner can read) or client_secret_env",
            ));
        }
        (None, Some(_), Some(_)) => {
            return Err(FieldError::new(
                "oidc.client_secret_env",
                None,
                "give either client_secret_file or client_secret_env, not both",
            ));
        }
        (None, Some(file), None) => {
            ClientSecret::File(relative_path(base, "oidc.client_secret_file", &file)?)
        }
        (None, None, Some(var)) => {
            if var.is_empty() || var.contains(['=', '\0']) {
                return fail(
                    "oidc.client_secret_env",
                    &var,
                    "must name an environment variable",
                );
            }
            ClientSecret::Env(var)
        }
        (None, None, None) => {
            return Err(FieldError::new(
                "oidc.client_secret_file",
                None,
                "is required (or client_secret_env): the secret the identity provider gave aspen's client",
            ));
        }
    };
    let scopes = scope_list(
        "oidc.scopes",
        raw.scopes
            .unwrap_or_else(|| DEFAULT_SCOPES.map(String::from).to_vec()),
    )?;
    if !scopes.iter().any(|s| s == "openid") {
        return Err(FieldError::new(
            "oidc.scopes",
            None,
            "must include \"openid\" (without it there is no ID token)",
        ));
    }
    let device = match raw.device_method.as_deref().unwrap_or("apple-as-web") {
        "apple-as-web" => {
            for (key, set) in [
                ("oidc.device_client_id", raw.device_client_id.is_some()),
                ("oidc.device_scopes", raw.device_scopes.is_some()),
                ("oidc.device_audience", raw.device_audience.is_some()),
            ] {
                if set {
                    return Err(FieldError::new(
                        key,
                        None,
                        "is only for device_method = \"apple-oauth2\"",
                    ));
                }
            }
            DeviceMethod::AppleAsWeb
        }
        "apple-oauth2" => {
            let audience = raw.device_audience.ok_or_else(|| {
                FieldError::new(
                    "oidc.device_audience",
                    None,
                    "is required with device_method = \"apple-oauth2\": the audience (aud) of the identity provider's access tokens for aspen",
                )
            })?;
            if audience.is_empty() || audience.chars().any(char::is_control) {
                return fail("oidc.device_audience", &audience, "must not be empty");
            }
            let device_scopes = raw.device_scopes.ok_or_else(|| {
                FieldError::new(
                    "oidc.device_scopes",
                    None,
                    "is required with device_method = \"apple-oauth2\": the scopes that get an access token for device_audience",
                )
            })?;
            DeviceMethod::AppleOauth2 {
                client_id: client_id(
                    "oidc.device_client_id",
                    raw.device_client_id
                        .unwrap_or_else(|| raw.client_id.clone()),
                )?,
                scopes: scope_list("oidc.device_scopes", device_scopes)?,
                audience,
            }
        }
        other => {
            return fail(
                "oidc.device_method",
                other,
                "must be \"apple-as-web\" or \"apple-oauth2\"",
            );
        }
    };
    Ok(Oidc {
        issuer: raw.issuer,
        client_id: client_id("oidc.client_id", raw.client_id)?,
        client_secret,
        scopes,
        user_claim: claim(
            "oidc.user_claim",
            raw.user_claim.unwrap_or_else(|| "email".into()),
        )?,
        managed_apple_id_claim: raw
            .managed_apple_id_claim
            .map(|c| claim("oidc.managed_apple_id_claim", c))
            .transpose()?,
        groups_claim: raw
            .groups_claim
            .map(|c| claim("oidc.groups_claim", c))
            .transpose()?,
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, parse};

    fn with_oidc(oidc: &str) -> String {
        format!(
            "{MINIMAL}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nauth = \"oidc\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n\n[oidc]\n{oidc}"
        )
    }

    const ENTRA: &str = "issuer = \"https://login.microsoftonline.com/0b5c/v2.0\"\nclient_id = \"aspen-enroll\"\nclient_secret_file = \"oidc.secret\"\n";

    #[test]
    fn defaults_and_paths() {
        let s = parse(&with_oidc(ENTRA)).unwrap();
        let o = s.oidc.unwrap();
        assert_eq!(o.scopes, ["openid", "email", "profile"]);
        assert_eq!(o.user_claim, "email");
        assert_eq!(o.managed_apple_id_claim, None);
        assert_eq!(o.groups_claim, None);
        assert_eq!(
            o.client_secret,
            ClientSecret::File("dir/oidc.secret".into())
        );
        assert_eq!(o.device, DeviceMethod::AppleAsWeb);
    }

    #[test]
    fn errors_name_the_line_and_key_never_a_secret() {
        let text = with_oidc(&ENTRA.replace(
            "client_secret_file = \"oidc.secret\"",
            "client_secret = \"hunter2-very-secret\"",
        ));
        let msg = parse(&text).unwrap_err().to_string();
        let line = text
            .lines()
            .position(|l| l.starts_with("client_secret"))
            .unwrap()
            + 1;
        assert!(
            msg.starts_with(&format!(
                "dir/aspen.toml:{line}: oidc.client_secret: is never written inline"
            )),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        for (bad, says) in [
            (
                "issuer = \"http://login.contoso.com\"",
                "oidc.issuer = \"http://login.contoso.com\": must be https",
            ),
            (
                "issuer = \"https://login.contoso.com/?x=1\"",
                "must not have a query",
            ),
            (
                "issuer = \"http://127.0.0.1.evil.com:8080\"",
                "must be https",
            ),
            (
                "scopes = [\"email\"]",
                "oidc.scopes: must include \"openid\"",
            ),
            (
                "scopes = [\"open id\"]",
                "oidc.scopes[0] = \"open id\": is not a scope",
            ),
            (
                "device_method = \"apple-magic\"",
                "must be \"apple-as-web\" or \"apple-oauth2\"",
            ),
            (
                "device_method = \"apple-oauth2\"",
                "oidc.device_audience: is required",
            ),
            (
                "device_audience = \"x\"",
                "oidc.device_audience: is only for",
            ),
            (
                "client_secret_env = \"OIDC\"",
                "oidc.client_secret_env: give either",
            ),
            (
                "groups_claim = \"\"",
                "oidc.groups_claim = \"\": must be a claim name",
            ),
        ] {
            let text = if bad.starts_with("issuer") {
                with_oidc(&ENTRA.replace(
                    "issuer = \"https://login.microsoftonline.com/0b5c/v2.0\"",
                    bad,
                ))
            } else {
                with_oidc(&format!("{ENTRA}{bad}\n"))
            };
            let msg = parse(&text).unwrap_err().to_string();
            assert!(msg.contains(says), "{bad}: {msg}");
        }
        assert!(check_issuer("http://localhost:9000").is_ok());
        assert!(check_issuer("http://127.0.0.1:9000/realms/x").is_ok());
        assert!(check_issuer("https://contoso.okta.com/oauth2/default").is_ok());
    }

    #[test]
    fn apple_oauth2_needs_its_audience_and_scopes() {
        let text = with_oidc(&format!(
            "{ENTRA}device_method = \"apple-oauth2\"\ndevice_audience = \"urn:aspen:device\"\ndevice_scopes = [\"device\"]\n"
        ));
        let o = parse(&text).unwrap().oidc.unwrap();
        assert_eq!(
            o.device,
            DeviceMethod::AppleOauth2 {
                client_id: "aspen-enroll".into(),
                scopes: vec!["device".into()],
                audience: "urn:aspen:device".into(),
            }
        );
    }

    #[test]
    fn oidc_and_portal_auth_go_together() {
        let no_oidc = format!(
            "{MINIMAL}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nauth = \"oidc\"\nsecret_file = \"portal.secret\"\n"
        );
        let msg = parse(&no_oidc).unwrap_err().to_string();
        assert!(
            msg.contains("portal.auth = \"oidc\": needs an [oidc] section"),
            "{msg}"
        );
        let code = with_oidc(ENTRA).replace("auth = \"oidc\"\n", "");
        let msg = parse(&code).unwrap_err().to_string();
        assert!(
            msg.contains("oidc: is used only with portal.auth = \"oidc\""),
            "{msg}"
        );
    }
}
