//! The claims of a token whose signature verified: whether it is meant for
//! aspen and valid now (OpenID Connect Core §3.1.3.7 for ID tokens: `iss`,
//! `aud`, `azp`, `exp`, `iat`, `nbf`, `nonce`; RFC 9068 for the access
//! tokens of `apple-oauth2`), and whom it names: the user (`user_claim`),
//! their Managed Apple Account and their groups, as the settings say.

use crate::model::{ManagedAppleId, check_email};
use crate::settings::Oidc;
use crate::store::{ClaimedGroups, IdpClaims};
use serde_json::{Map, Value};

/// Clock difference tolerated between aspen and the IdP.
pub const SKEW_SECONDS: i64 = 60;
/// Groups read from one claim, at most (Entra sends at most 200 in a token).
pub const MAX_GROUPS: usize = 1000;
/// The longest group name or ID.
const MAX_GROUP_CHARS: usize = 256;

/// What a token must say to be for aspen, now.
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// Must be in `aud`.
    pub audience: &'a str,
    /// ID tokens: the client they were issued to (`azp`, required when
    /// `aud` names several audiences).
    pub client_id: Option<&'a str>,
    /// ID tokens: the nonce the sign-in sent.
    pub nonce: Option<&'a str>,
    pub now: i64,
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The user: `user_claim`'s value, an e-mail address, lower case.
    pub user: String,
    /// The IdP's `sub`, for the log.
    pub subject: String,
    pub claims: IdpClaims,
}

/// A NumericDate (seconds; a fraction is dropped).
fn date(claims: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match claims.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("{key} is not a number")),
    }
}

/// Checks the standard claims against `e`. The error says which claim
/// failed and how (never a value of the token other than its dates).
pub fn check(claims: &Map<String, Value>, e: &Expected) -> Result<(), String> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == e.issuer => {}
        Some(_) => return Err("iss is not the configured issuer".into()),
        None => return Err("the token has no iss".into()),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("the token has no aud".into()),
    };
    if !audiences.contains(&e.audience) {
        return Err(format!("aud does not include {:?}", e.audience));
    }
    if let Some(client) = e.client_id {
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != client => return Err("azp is another client".into()),
            None if audiences.len() > 1 => {
                return Err("aud names several audiences and there is no azp".into());
            }
            _ => {}
        }
    }
    let exp = date(claims, "exp")?.ok_or("the token has no exp")?;
    if e.now >= exp + SKEW_SECONDS {
        return Err(format!("the token expired at {exp} (now {})", e.now));
    }
    if let Some(nbf) = date(claims, "nbf")?
        && nbf > e.now + SKEW_SECONDS
    {
        return Err(format!(
            "the token is not valid before {nbf} (now {})",
            e.now
        ));
    }
    match date(claims, "iat")? {
        Some(iat) if iat > e.now + SKEW_SECONDS => {
            return Err(format!(
                "the token was issued in the future ({iat}, now {})",
                e.now
            ));
        }
        None if e.nonce.is_some() => return Err("the ID token has no iat".into()),
        _ => {}
    }
    if let Some(expected) = e.nonce {
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if crate::tokens::same(n.as_bytes(), expected.as_bytes()) => {}
            Some(_) => return Err("nonce is not the one this sign-in sent".into()),
            None => return Err("the ID token has no nonce".into()),
        }
    }
    Ok(())
}

/// Whom verified claims name, read as `oidc` says: the user (an e-mail
/// address; with `email`, refused when the IdP says it is not verified),
/// the Managed Apple Account and the groups when the settings name their
/// claims. A group claim the IdP left out is no groups (Entra leaves it out
/// past 200 groups, saying so in `_claim_names`: that is refused, so the
/// user does not silently lose a policy).
pub fn signed_in(claims: &Map<String, Value>, oidc: &Oidc) -> Result<SignedIn, String> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the token has no sub")?
        .to_owned();
    let name = &oidc.user_claim;
    let user = match claims.get(name) {
        Some(Value::String(u)) => u.trim().to_owned(),
        Some(_) => return Err(format!("the {name} claim is not text")),
        None => return Err(format!("the token has no {name} claim (user_claim)")),
    };
    check_email(&user)
        .map_err(|why| format!("the {name} claim {why}: it must be the user's e-mail address"))?;
    if unverified(claims, name) {
        return Err(format!(
            "the IdP says the {name} claim is not verified (email_verified is false)"
        ));
    }
    let managed_apple_id = match &oidc.managed_apple_id_claim {
        None => None,
        Some(c) => match claims.get(c) {
            None => None,
            Some(Value::String(m)) => {
                ManagedAppleId::parse(m.trim()).map_err(|why| {
                    format!("the {c} claim (managed_apple_id_claim) {why}: it is not a Managed Apple Account")
                })?;
                if unverified(claims, c) {
                    return Err(format!(
                        "the IdP says the {c} claim is not verified (email_verified is false)"
                    ));
                }
                Some(m.trim().to_owned())
            }
            Some(_) => {
                return Err(format!(
                    "the {c} claim (managed_apple_id_claim) is not text"
                ));
            }
        },
    };
    let groups = match &oidc.groups_claim {
        None => None,
        Some(c) => Some(ClaimedGroups {
            claim: c.clone(),
            values: groups(claims, c)?,
        }),
    };
    Ok(SignedIn {
        user: user.to_ascii_lowercase(),
        subject,
        claims: IdpClaims {
            managed_apple_id,
            groups,
        },
    })
}

/// Whether claim `name` is the e-mail and the IdP says it is unverified.
fn unverified(claims: &Map<String, Value>, name: &str) -> bool {
    name == "email" && claims.get("email_verified") == Some(&Value::Bool(false))
}

fn groups(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let values: Vec<&Value> = match claims.get(name) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::String(_)) => vec![v],
        Some(_) => {
            return Err(format!(
                "the {name} claim (groups_claim) is not a list of text"
            ));
        }
        None => {
            // Entra's "groups overage": too many groups for a token.
            let overage = claims
                .get("_claim_names")
                .and_then(|n| n.get(name))
                .is_some();
            if overage {
                return Err(format!(
                    "the IdP left the {name} claim out of the token (too many groups; with Entra ID send only the groups assigned to the application)"
                ));
            }
            return Ok(Vec::new());
        }
    };
    if values.len() > MAX_GROUPS {
        return Err(format!(
            "the {name} claim lists more than {MAX_GROUPS} groups"
        ));
    }
    values
        .into_iter()
        .map(|v| match v.as_str().map(str::trim) {
            Some(g)
                if !g.is_empty()
                    && g.chars().count() <= MAX_GROUP_CHARS
                    && !g.chars().any(char::is_control) =>
            {
                Ok(g.to_owned())
            }
            _ => Err(format!(
                "the {name} claim holds a value that is not a group name or ID"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const NOW: i64 = 1_800_000_000;

    fn id_token() -> Value {
        json!({"iss": "https://idp.example", "aud": "aspen", "sub": "alice", "exp": NOW + 3600,
               "iat": NOW, "nonce": "n-1", "email": "Alice@Contoso.com", "email_verified": true,
               "groups": ["Staff", "0b5c4c8e-7f2d-4a9b-8e1f-3c2d1b0a9f8e"]})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            audience: "aspen",
            client_id: Some("aspen"),
            nonce: Some("n-1"),
            now: NOW,
        }
    }

    #[test]
    fn each_standard_claim_is_checked() {
        assert_eq!(check(&map(id_token()), &expected()), Ok(()));
        let wrong = |key: &str, value: Value| {
            let mut t = id_token();
            t[key] = value;
            check(&map(t), &expected()).unwrap_err()
        };
        assert!(wrong("iss", json!("https://idp.example/tampered")).contains("iss"));
        assert!(wrong("aud", json!("someone-else")).contains("aud"));
        assert!(wrong("aud", json!(["aspen", "other"])).contains("no azp"));
        assert!(wrong("azp", json!("other")).contains("azp"));
        assert!(wrong("exp", json!(NOW - SKEW_SECONDS)).contains("expired"));
        assert!(wrong("nbf", json!(NOW + SKEW_SECONDS + 1)).contains("not valid before"));
        assert!(wrong("iat", json!(NOW + SKEW_SECONDS + 1)).contains("future"));
        assert!(wrong("nonce", json!("n-2")).contains("nonce"));
        // Within the skew: accepted.
        let mut t = id_token();
        t["exp"] = json!(NOW - SKEW_SECONDS + 1);
        t["aud"] = json!(["other", "aspen"]);
        t["azp"] = json!("aspen");
        assert_eq!(check(&map(t), &expected()), Ok(()));
        for key in ["iss", "aud", "exp", "nonce", "iat"] {
            let mut t = map(id_token());
            t.remove(key);
            assert!(check(&t, &expected()).is_err(), "{key}");
        }
    }

    fn oidc(groups: Option<&str>, managed: Option<&str>) -> Oidc {
        Oidc {
            issuer: "https://idp.example".into(),
            client_id: "aspen".into(),
            client_secret: crate::settings::ClientSecret::Env("X".into()),
            scopes: vec!["openid".into()],
            user_claim: "email".into(),
            managed_apple_id_claim: managed.map(str::to_owned),
            groups_claim: groups.map(str::to_owned),
            device: crate::settings::DeviceMethod::AppleAsWeb,
        }
    }

    #[test]
    fn the_person_is_read_as_the_settings_say() {
        let s = signed_in(&map(id_token()), &oidc(Some("groups"), Some("email"))).unwrap();
        assert_eq!(s.user, "alice@contoso.com");
        assert_eq!(s.subject, "alice");
        assert_eq!(
            s.claims.managed_apple_id.as_deref(),
            Some("Alice@Contoso.com")
        );
        let g = s.claims.groups.unwrap();
        assert_eq!((g.claim.as_str(), g.values.len()), ("groups", 2));
        // Without the settings, neither is read.
        let plain = signed_in(&map(id_token()), &oidc(None, None)).unwrap();
        assert_eq!(plain.claims, IdpClaims::default());
        // A groups claim the IdP did not send: no groups; left out for
        // overage: refused.
        let mut t = map(id_token());
        t.remove("groups");
        assert_eq!(
            signed_in(&t, &oidc(Some("groups"), None))
                .unwrap()
                .claims
                .groups
                .unwrap()
                .values,
            Vec::<String>::new()
        );
        t.insert("_claim_names".into(), json!({"groups": "src1"}));
        assert!(
            signed_in(&t, &oidc(Some("groups"), None))
                .unwrap_err()
                .contains("too many groups")
        );
    }

    #[test]
    fn a_person_the_settings_cannot_read_is_refused() {
        let refused = |key: &str, value: Value| {
            let mut t = id_token();
            t[key] = value;
            signed_in(&map(t), &oidc(Some("groups"), Some("upn"))).unwrap_err()
        };
        assert!(refused("email", json!("not-an-address")).contains("e-mail address"));
        assert!(refused("email", json!(7)).contains("not text"));
        assert!(refused("email_verified", json!(false)).contains("not verified"));
        assert!(refused("groups", json!([1, 2])).contains("not a group name"));
        assert!(refused("groups", json!({"a": 1})).contains("groups_claim"));
        assert!(refused("groups", json!(vec!["g"; MAX_GROUPS + 1])).contains("more than"));
        assert!(refused("upn", json!("nobody")).contains("Managed Apple Account"));
        assert!(refused("sub", json!("")).contains("sub"));
    }
}
