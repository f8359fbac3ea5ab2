//! A sign-in at the identity provider in progress, bound to the browser
//! that started it by a short-lived cookie. The callback is a cross-site
//! navigation from the IdP, on which browsers do not send the portal's
//! `SameSite=Strict` cookies; this one is `SameSite=Lax` (sent on a
//! top-level GET from another site), HttpOnly, Secure, `__Host-` under
//! https, and lives [`FLOW_SECONDS`]. Its value is a token MAC'd with the
//! portal key holding a random seed and what the sign-in is for; the
//! `state`, `nonce` and PKCE verifier are MACs of the seed, so the cookie
//! reveals none of them and nobody without the key can make one.

use super::super::service::Service;
use super::super::web::cookie;
use crate::error::Result;
use crate::tokens::{Keys, Purpose};
use axum::http::{HeaderMap, HeaderValue};

/// How long a sign-in at the IdP may take, start to callback.
pub const FLOW_SECONDS: i64 = 10 * 60;
const COOKIE: &str = "aspen_oidc";
const HOST_COOKIE: &str = "__Host-aspen_oidc";

/// What the sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The portal: a session.
    Portal,
    /// A device's account-driven enrollment for this user-identifier: an
    /// access token, if the person who signs in is that user.
    Device(String),
}

/// A sign-in in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    seed: String,
    pub target: Target,
    pub expires: i64,
}

/// The cookie's name for this portal.
pub fn cookie_name(svc: &Service) -> &'static str {
    if svc.portal.public_url.starts_with("https://") {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

impl Flow {
    /// A new sign-in for `target`, from now.
    pub fn start(target: Target) -> Result<Flow> {
        Ok(Flow {
            seed: crate::hex::lower(&crate::tokens::random(16)?),
            target,
            expires: crate::audit::now() + FLOW_SECONDS,
        })
    }

    fn derive(&self, keys: &Keys, purpose: Purpose) -> String {
        keys.derive(purpose, &self.seed).unwrap_or_default()
    }

    /// The `state` sent to the IdP and expected back.
    pub fn state(&self, keys: &Keys) -> String {
        self.derive(keys, Purpose::OidcState)
    }

    /// The `nonce` the ID token must carry.
    pub fn nonce(&self, keys: &Keys) -> String {
        self.derive(keys, Purpose::OidcNonce)
    }

    /// The PKCE verifier (43 characters of base64url: RFC 7636 §4.1).
    pub fn verifier(&self, keys: &Keys) -> String {
        self.derive(keys, Purpose::OidcVerifier)
    }

    /// The cookie's value.
    pub fn value(&self, keys: &Keys) -> Result<String> {
        let payload = match &self.target {
            Target::Portal => format!("p.{}", self.seed),
            Target::Device(identifier) => format!("d.{}.{identifier}", self.seed),
        };
        keys.issue(Purpose::OidcFlow, &payload, self.expires)
    }

    /// The sign-in the request's cookie holds, or why there is none (for
    /// the log).
    pub fn read(svc: &Service, headers: &HeaderMap) -> std::result::Result<Flow, &'static str> {
        let value = cookie(headers, cookie_name(svc))
            .filter(|v| !v.is_empty())
            .ok_or(
                "no sign-in cookie (the sign-in was not started in this browser, or it expired)",
            )?;
        let claims = svc
            .keys
            .verify(Purpose::OidcFlow, value, crate::audit::now())
            .map_err(|why| match why {
                crate::tokens::Refused::Expired => {
                    "the sign-in cookie expired (the sign-in took too long)"
                }
                _ => "the sign-in cookie is not one aspen made",
            })?;
        let mut parts = claims.user.splitn(3, '.');
        let target = match (parts.next(), parts.next(), parts.next()) {
            (Some("p"), Some(seed), None) => (seed, Target::Portal),
            (Some("d"), Some(seed), Some(identifier)) => {
                (seed, Target::Device(identifier.to_owned()))
            }
            _ => return Err("the sign-in cookie is not one aspen made"),
        };
        Ok(Flow {
            seed: target.0.to_owned(),
            target: target.1,
            expires: claims.expires,
        })
    }
}

/// `Set-Cookie` for a sign-in's cookie (`value`), or to clear it (`None`).
pub fn set_cookie(svc: &Service, value: Option<&str>) -> HeaderValue {
    let (value, age) = match value {
        Some(v) => (v, FLOW_SECONDS),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={age}",
        cookie_name(svc)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_are_bound_to_the_seed_and_the_key() {
        let keys = Keys::from_bytes(&[3; 32]).unwrap();
        let a = Flow::start(Target::Portal).unwrap();
        let b = Flow::start(Target::Device("alice@contoso.com".into())).unwrap();
        let v = a.verifier(&keys);
        assert_eq!(v.len(), 43, "RFC 7636: 43 to 128 characters");
        assert_ne!(a.state(&keys), b.state(&keys));
        assert_ne!(a.state(&keys), a.nonce(&keys));
        let other = Keys::from_bytes(&[4; 32]).unwrap();
        assert_ne!(a.state(&keys), a.state(&other));
        // The cookie shows none of them.
        let value = b.value(&keys).unwrap();
        for secret in [b.state(&keys), b.nonce(&keys), b.verifier(&keys)] {
            assert!(!value.contains(&secret));
        }
        assert!(keys.derive(Purpose::Session, "x").is_none());
    }
}
