//! Who a person is, as the organisation's identity provider (OpenID
//! Connect) says: its metadata and keys, the sign-in's requests, token
//! verification with an algorithm allow-list, and one answer —
//! [`SignedIn`]: the user's e-mail and what the IdP said about them
//! ([`IdpClaims`]: Managed Apple Account, groups and the claim they came
//! from), which [`user`] merges with the directory into the `User` that
//! policies are resolved for. One-time codes and the proxy header stay in
//! `serve/` (they need no more than the directory).

pub mod claims;
pub mod discovery;
mod fetch;
pub mod jose;
pub mod provider;

pub use claims::SignedIn;
pub use provider::{CALLBACK_PATH, Check, DEVICE_REDIRECT, Provider, SIGNED_OUT_PATH};

use crate::model::ManagedAppleId;
use crate::model::directory::User;
use crate::store::IdpClaims;

/// Why a sign-in through the IdP failed. The text is for the log: it says
/// what failed, never a token, a code or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The IdP cannot be reached, or answered what aspen cannot use.
    Unavailable(String),
    /// The IdP refused (at its token endpoint).
    Refused(String),
    /// A token failed a check.
    Invalid(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(why) | Failure::Refused(why) | Failure::Invalid(why) => {
                f.write_str(why)
            }
        }
    }
}

/// The user a sign-in at the IdP names, for policy resolution: the IdP's
/// groups when the settings read them (else the directory's), its Managed
/// Apple Account when it sent one (else the directory's). `None` when
/// nothing says what groups the user is in (no groups claim, and not in
/// the directory): such a user cannot enroll.
pub fn user(email: &str, claims: &IdpClaims, directory: Option<&User>) -> Option<User> {
    let (groups, groups_claim) = match (&claims.groups, directory) {
        (Some(g), _) => (g.values.clone(), Some(g.claim.clone())),
        (None, Some(d)) => (d.groups.clone(), None),
        (None, None) => return None,
    };
    let managed_apple_id = claims
        .managed_apple_id
        .as_deref()
        .and_then(|m| ManagedAppleId::parse(m).ok())
        .or_else(|| directory.and_then(|d| d.managed_apple_id.clone()));
    Some(User {
        email: directory.map_or_else(|| email.to_ascii_lowercase(), |d| d.email.clone()),
        managed_apple_id,
        groups,
        line: directory.map_or(0, |d| d.line),
        groups_claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClaimedGroups;

    #[test]
    fn the_idp_wins_for_what_it_said_and_the_directory_fills_in() {
        let csv = User {
            email: "Alice@contoso.com".into(),
            managed_apple_id: Some(ManagedAppleId::parse("alice@appleid.contoso.com").unwrap()),
            groups: vec!["Staff".into()],
            line: 2,
            groups_claim: None,
        };
        let idp = IdpClaims {
            managed_apple_id: None,
            groups: Some(ClaimedGroups {
                claim: "groups".into(),
                values: vec!["Leadership".into()],
            }),
        };
        let u = user("alice@contoso.com", &idp, Some(&csv)).unwrap();
        assert_eq!(u.groups, ["Leadership"]);
        assert_eq!(u.groups_claim.as_deref(), Some("groups"));
        assert_eq!(u.managed_apple_id, csv.managed_apple_id);
        assert_eq!(u.line, 2);
        // Without a groups claim, the directory's groups, or no user.
        let plain = IdpClaims::default();
        assert_eq!(
            user("alice@contoso.com", &plain, Some(&csv))
                .unwrap()
                .groups,
            ["Staff"]
        );
        assert_eq!(user("x@contoso.com", &plain, None), None);
        // Only the IdP knows this one.
        let only = IdpClaims {
            managed_apple_id: Some("x@contoso.com".into()),
            ..idp
        };
        let u = user("X@contoso.com", &only, None).unwrap();
        assert_eq!((u.email.as_str(), u.line), ("x@contoso.com", 0));
        assert_eq!(u.managed_apple_id.unwrap().as_str(), "x@contoso.com");
    }
}
