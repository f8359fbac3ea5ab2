//! The organisation's identity provider as `aspen serve` uses it: its
//! metadata and keys (read at start-up, kept fresh in the background, the
//! keys fetched again when a token names one aspen does not know — at most
//! once a minute), the authorization request, the code exchange, and the
//! verification of ID tokens (portal and `apple-as-web` sign-ins) and of
//! access tokens (`apple-oauth2`).

use super::Failure;
use super::claims::{self, Expected, SignedIn};
use super::discovery::{self, ClientAuth, Metadata};
use super::fetch::Http;
use super::jose::{self, Key};
use crate::error::{Error, Result};
use crate::settings::{ClientSecret, DeviceMethod, Oidc};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Where the IdP sends the browser back: under `[portal] public_url`.
pub const CALLBACK_PATH: &str = "/oidc/callback";
/// Where the IdP sends the browser after signing out (RP-initiated logout).
pub const SIGNED_OUT_PATH: &str = "/oidc/signed-out";
/// Apple's redirect for `apple-oauth2`: the device's web authentication
/// session catches this scheme (Apple: "Implementing the OAuth 2
/// authentication account-driven enrollment flow", `redirect-url`).
pub const DEVICE_REDIRECT: &str = "apple-remotemanagement-user-login://oauth2-callback";

/// How often the metadata and keys are read again while all is well…
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// …and the wait before the first retry after a failure, doubling up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Keys fetched again for an unknown `kid` at most this often.
const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// The biggest client secret file read.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// What was read from the IdP.
pub struct Loaded {
    pub meta: Metadata,
    keys: Vec<Key>,
}

enum Status {
    /// Never read yet: why.
    Never(String),
    Ready(Arc<Loaded>),
    /// Read once, but the last refresh failed: why. The keys are still used
    /// for tokens, but no new sign-in is started.
    Stale(Arc<Loaded>, String),
}

pub struct Provider {
    pub oidc: Oidc,
    secret: Zeroizing<String>,
    redirect_uri: String,
    http: Http,
    status: RwLock<Status>,
    /// When the keys were last fetched for an unknown `kid`.
    refetched: tokio::sync::Mutex<Option<Instant>>,
    /// Serialises refreshes (the background one and a key refetch).
    refreshing: Mutex<()>,
}

/// Which token is checked, and against what.
pub enum Check<'a> {
    /// An ID token from the code exchange of the sign-in that sent `nonce`.
    IdToken { nonce: &'a str },
    /// An access token a device brought (`apple-oauth2`).
    AccessToken,
}

impl Provider {
    /// The provider of `oidc`, for a portal at `public_url`; reads the
    /// client secret now (errors name the settings file and key, never the
    /// secret). Nothing is fetched yet (see [`Provider::refresh`]).
    pub fn new(oidc: &Oidc, public_url: &str, settings_file: &Path) -> Result<Provider> {
        let secret = read_secret(&oidc.client_secret, settings_file)?;
        Ok(Provider {
            oidc: oidc.clone(),
            secret,
            redirect_uri: format!("{public_url}{CALLBACK_PATH}"),
            http: Http::new().map_err(Error::invalid)?,
            status: RwLock::new(Status::Never("not read yet".into())),
            refetched: tokio::sync::Mutex::new(None),
            refreshing: Mutex::new(()),
        })
    }

    /// Reads the discovery document and the keys; on success they replace
    /// what was known, on failure the old ones stay (marked stale). Logs
    /// the change either way.
    pub async fn refresh(&self) -> std::result::Result<(), String> {
        let result = self.fetch().await;
        let Ok(_one) = self.refreshing.lock() else {
            return Err("internal: a lock was poisoned".into());
        };
        let Ok(mut status) = self.status.write() else {
            return Err("internal: a lock was poisoned".into());
        };
        match result {
            Ok(loaded) => {
                if !matches!(*status, Status::Ready(_)) {
                    tracing::info!(
                        issuer = %self.oidc.issuer,
                        "the identity provider is reachable: {} signing key(s)",
                        loaded.keys.len()
                    );
                }
                *status = Status::Ready(Arc::new(loaded));
                Ok(())
            }
            Err(why) => {
                tracing::warn!(issuer = %self.oidc.issuer, "the identity provider cannot be used: {why}");
                *status = match &*status {
                    Status::Ready(l) | Status::Stale(l, _) => Status::Stale(l.clone(), why.clone()),
                    Status::Never(_) => Status::Never(why.clone()),
                };
                Err(why)
            }
        }
    }

    /// Reads the discovery document and the keys once, keeping nothing and
    /// logging nothing (`aspen check`): how many signing keys it has, or
    /// why it cannot be used.
    pub async fn probe(&self) -> std::result::Result<usize, String> {
        self.fetch().await.map(|l| l.keys.len())
    }

    async fn fetch(&self) -> std::result::Result<Loaded, String> {
        let url = discovery::url(&self.oidc.issuer);
        let doc = self.http.get_json(&url).await?;
        let meta =
            discovery::parse(&doc, &self.oidc.issuer).map_err(|why| format!("{url}: {why}"))?;
        let keys = self.http.get_json(&meta.jwks_uri).await?;
        let keys = jose::key_set(&keys).map_err(|why| format!("{}: {why}", meta.jwks_uri))?;
        Ok(Loaded { meta, keys })
    }

    /// Keeps the metadata and keys fresh: every [`REFRESH_EVERY`], and
    /// after a failure again soon (1 s, doubling to 30 s), so `/readyz`
    /// follows the IdP's availability.
    pub async fn keep_fresh(self: Arc<Self>) {
        let mut retry = RETRY_FIRST;
        loop {
            let wait = if self.ready().is_ok() {
                retry = RETRY_FIRST;
                REFRESH_EVERY
            } else {
                let wait = retry;
                retry = (retry * 2).min(RETRY_MAX);
                wait
            };
            tokio::time::sleep(wait).await;
            let _ = self.refresh().await;
        }
    }

    /// Whether sign-ins can start: the IdP's metadata and keys were read,
    /// and the last attempt succeeded. The error says why not (for the log
    /// and `/readyz`).
    pub fn ready(&self) -> std::result::Result<Arc<Loaded>, String> {
        match &*self
            .status
            .read()
            .map_err(|_| "internal: a lock was poisoned")?
        {
            Status::Ready(l) => Ok(l.clone()),
            Status::Stale(_, why) | Status::Never(why) => Err(why.clone()),
        }
    }

    /// What is known of the IdP, stale or not: enough to check tokens.
    fn loaded(&self) -> Option<Arc<Loaded>> {
        match &*self.status.read().ok()? {
            Status::Ready(l) | Status::Stale(l, _) => Some(l.clone()),
            Status::Never(_) => None,
        }
    }

    /// The authorization request (code flow, PKCE S256) for a sign-in
    /// whose values are `state`, `nonce` and `verifier`; `login_hint`
    /// names the account when aspen knows it (a device's user-identifier).
    pub fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        verifier: &str,
        login_hint: Option<&str>,
    ) -> std::result::Result<String, Failure> {
        let loaded = self.ready().map_err(Failure::Unavailable)?;
        let mut url = url::Url::parse(&loaded.meta.authorization_endpoint)
            .map_err(|e| Failure::Unavailable(format!("authorization_endpoint: {e}")))?;
        let challenge = crate::tokens::b64url(&openssl::sha::sha256(verifier.as_bytes()));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.oidc.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.oidc.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(url.into())
    }

    /// Whether an authorization response must name the IdP (RFC 9207).
    pub fn requires_iss(&self) -> bool {
        self.loaded().is_some_and(|l| l.meta.iss_parameter)
    }

    /// Exchanges an authorization code for the ID token, at the token
    /// endpoint, with the client secret and the PKCE verifier.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
    ) -> std::result::Result<String, Failure> {
        let loaded = self
            .loaded()
            .ok_or_else(|| Failure::Unavailable("the IdP's metadata was never read".into()))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", verifier),
        ];
        let basic = match loaded.meta.client_auth {
            ClientAuth::Basic => Some((self.oidc.client_id.as_str(), self.secret.as_str())),
            ClientAuth::Post => {
                form.push(("client_id", &self.oidc.client_id));
                form.push(("client_secret", &self.secret));
                None
            }
        };
        let url = &loaded.meta.token_endpoint;
        let answer = self
            .http
            .post_form(url, &form, basic)
            .await
            .map_err(Failure::Unavailable)?;
        let text = |k: &str| answer.json.get(k).and_then(serde_json::Value::as_str);
        match answer.status {
            200 => text("id_token").map(str::to_owned).ok_or_else(|| {
                Failure::Refused(format!(
                    "{url}: the answer has no id_token (is \"openid\" in [oidc] scopes?)"
                ))
            }),
            400..=499 => Err(Failure::Refused(format!(
                "{url}: HTTP status {}: {} {}",
                answer.status,
                printable(text("error").unwrap_or("(no error code)")),
                printable(text("error_description").unwrap_or(""))
            ))),
            s => Err(Failure::Unavailable(format!("{url}: HTTP status {s}"))),
        }
    }

    /// Whether `token` names a key aspen does not know (or none, and no
    /// known key fits): then [`Provider::refetch_keys`] before checking it.
    pub fn needs_keys(&self, token: &str) -> bool {
        let (Ok(jws), Some(loaded)) = (jose::parse(token), self.loaded()) else {
            return false;
        };
        jose::candidates(&loaded.keys, &jws).is_empty()
            || (jws.kid.is_none()
                && !jose::candidates(&loaded.keys, &jws)
                    .iter()
                    .any(|k| jose::verify(&jws, k)))
    }

    /// Reads the metadata and keys again (the IdP rotated its key), at most
    /// once per [`REFETCH_EVERY`], however many tokens ask.
    pub async fn refetch_keys(&self) {
        let mut last = self.refetched.lock().await;
        if last.is_some_and(|t| t.elapsed() < REFETCH_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        tracing::info!(
            "a token names a key aspen does not know: reading the identity provider's keys again"
        );
        let _ = self.refresh().await;
    }

    /// Verifies a token (CPU work: call it off the runtime's workers): its
    /// algorithm (before any key), its signature with one of the IdP's
    /// keys, its claims at `now`, and whom it names.
    pub fn verify(
        &self,
        token: &str,
        check: Check,
        now: i64,
    ) -> std::result::Result<SignedIn, Failure> {
        let loaded = self
            .loaded()
            .ok_or_else(|| Failure::Unavailable("the IdP's keys were never read".into()))?;
        let jws = jose::parse(token).map_err(Failure::Invalid)?;
        let keys = jose::candidates(&loaded.keys, &jws);
        let named = || {
            jws.kid
                .as_deref()
                .map(|k| format!(" (kid {k:?})"))
                .unwrap_or_default()
        };
        if keys.is_empty() {
            return Err(Failure::Invalid(format!(
                "no {} key of the identity provider fits the token{}",
                jws.alg.as_str(),
                named()
            )));
        }
        if !keys.iter().any(|k| jose::verify(&jws, k)) {
            return Err(Failure::Invalid(format!(
                "the signature does not verify with the identity provider's key{}",
                named()
            )));
        }
        let expected = match &check {
            Check::IdToken { nonce } => Expected {
                issuer: &self.oidc.issuer,
                audience: &self.oidc.client_id,
                client_id: Some(&self.oidc.client_id),
                nonce: Some(nonce),
                now,
            },
            Check::AccessToken => Expected {
                issuer: &self.oidc.issuer,
                audience: match &self.oidc.device {
                    DeviceMethod::AppleOauth2 { audience, .. } => audience,
                    DeviceMethod::AppleAsWeb => {
                        return Err(Failure::Invalid("apple-oauth2 is not configured".into()));
                    }
                },
                client_id: None,
                nonce: None,
                now,
            },
        };
        claims::check(&jws.claims, &expected).map_err(Failure::Invalid)?;
        claims::signed_in(&jws.claims, &self.oidc).map_err(Failure::Invalid)
    }

    /// Where signing out continues at the IdP (RP-initiated logout), if it
    /// has such an endpoint; back to aspen's signed-out page after.
    pub fn end_session_url(&self, public_url: &str) -> Option<String> {
        let endpoint = self.loaded()?.meta.end_session_endpoint.clone()?;
        let mut url = url::Url::parse(&endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.oidc.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &format!("{public_url}{SIGNED_OUT_PATH}"),
            );
        Some(url.into())
    }

    /// The `WWW-Authenticate` value that sends a device to the IdP itself
    /// (Apple's `apple-oauth2` method), when that is the method and the
    /// IdP's endpoints are known.
    pub fn device_challenge(&self) -> Option<String> {
        let DeviceMethod::AppleOauth2 {
            client_id, scopes, ..
        } = &self.oidc.device
        else {
            return None;
        };
        let loaded = self.loaded()?;
        Some(format!(
            "Bearer method=\"apple-oauth2\", authorization-url=\"{}\", token-url=\"{}\", redirect-url=\"{DEVICE_REDIRECT}\", client-id=\"{}\", scope=\"{}\"",
            quoted(&loaded.meta.authorization_endpoint),
            quoted(&loaded.meta.token_endpoint),
            quoted(client_id),
            quoted(&scopes.join(" "))
        ))
    }
}

/// A value inside a quoted header parameter (RFC 9110 quoted-string).
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Text from the IdP, safe for one log line: printable, at most 200
/// characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The client secret: from its file (private to its owner, one line) or
/// its variable. Errors name the settings file and key, never the value.
fn read_secret(source: &ClientSecret, settings: &Path) -> Result<Zeroizing<String>> {
    let fail = |key: &str, why: String| {
        Err(Error::Settings {
            file: settings.to_owned(),
            line: None,
            message: format!("{key}: {why}"),
        })
    };
    let value = match source {
        ClientSecret::File(path) => {
            let bytes = match crate::fs::read_capped_secret(path, MAX_SECRET_FILE_BYTES) {
                Ok(b) => b,
                Err(e) => return fail("oidc.client_secret_file", format!("cannot read {e}")),
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0);
                if mode & 0o077 != 0 {
                    return fail(
                        "oidc.client_secret_file",
                        format!(
                            "{} is readable by group or others (mode {mode:04o}): chmod 600 {}, and ask the identity provider for a new secret if others may have read it",
                            path.display(),
                            path.display()
                        ),
                    );
                }
            }
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return fail(
                    "oidc.client_secret_file",
                    format!("{}: not UTF-8 text", path.display()),
                );
            };
            Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned())
        }
        ClientSecret::Env(var) => match std::env::var(var) {
            Ok(v) => Zeroizing::new(v),
            Err(_) => {
                return fail(
                    "oidc.client_secret_env",
                    format!("the environment variable {var} is not set"),
                );
            }
        },
    };
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        let key = match source {
            ClientSecret::File(_) => "oidc.client_secret_file",
            ClientSecret::Env(_) => "oidc.client_secret_env",
        };
        return fail(
            key,
            "the secret is empty or holds control characters".into(),
        );
    }
    Ok(value)
}
