//! The identity provider's metadata (OpenID Connect Discovery 1.0): what
//! aspen reads of it, and the rules it must meet — its `issuer` is the one
//! configured, exactly (§4.3: otherwise another IdP could stand in), and
//! every endpoint is https (plain http only when the issuer itself is a
//! loopback test IdP).

use serde_json::Value;

/// Where discovery is, for `issuer`.
pub fn url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// How aspen authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic (the default of OAuth 2).
    Basic,
    /// `client_secret_post`: in the form, where discovery lists only that.
    Post,
}

/// The metadata aspen uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// RP-initiated logout, where the IdP has it.
    pub end_session_endpoint: Option<String>,
    pub client_auth: ClientAuth,
    /// RFC 9207: the IdP names itself (`iss`) in every authorization
    /// response, which must then carry it.
    pub iss_parameter: bool,
}

/// Reads a discovery document fetched for `issuer`.
pub fn parse(doc: &Value, issuer: &str) -> Result<Metadata, String> {
    let text = |key: &str| doc.get(key).and_then(Value::as_str);
    let said = text("issuer").ok_or("the discovery document has no issuer")?;
    if said != issuer {
        return Err(format!(
            "the discovery document names issuer {said:?}, not {issuer:?} as configured: [oidc] issuer must be exactly the IdP's issuer"
        ));
    }
    let loopback = issuer.starts_with("http://");
    let endpoint = |key: &str| -> Result<String, String> {
        let url = text(key).ok_or_else(|| format!("the discovery document has no {key}"))?;
        check_endpoint(url, loopback).map_err(|why| format!("its {key} {url:?} {why}"))?;
        Ok(url.to_owned())
    };
    let list = |key: &str| -> Option<Vec<&str>> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
    };
    // Absent means the defaults: client_secret_basic, and PKCE (RFC 7636)
    // unknown — Entra ID supports it without saying so.
    let client_auth = match list("token_endpoint_auth_methods_supported") {
        None => ClientAuth::Basic,
        Some(m) if m.contains(&"client_secret_basic") => ClientAuth::Basic,
        Some(m) if m.contains(&"client_secret_post") => ClientAuth::Post,
        Some(_) => {
            return Err(
                "the IdP supports neither client_secret_basic nor client_secret_post at its token endpoint".into(),
            );
        }
    };
    if let Some(methods) = list("code_challenge_methods_supported")
        && !methods.contains(&"S256")
    {
        return Err(
            "the IdP does not support PKCE with S256 (code_challenge_methods_supported)".into(),
        );
    }
    if let Some(algs) = list("id_token_signing_alg_values_supported")
        && !algs.iter().any(|a| ["RS256", "PS256", "ES256"].contains(a))
    {
        return Err(format!(
            "the IdP signs ID tokens with {} only; aspen accepts RS256, PS256 and ES256",
            algs.join(", ")
        ));
    }
    Ok(Metadata {
        issuer: said.to_owned(),
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?,
        end_session_endpoint: match text("end_session_endpoint") {
            Some(_) => Some(endpoint("end_session_endpoint")?),
            None => None,
        },
        client_auth,
        iss_parameter: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// An endpoint aspen sends browsers or requests to: https, or plain http
/// on a loopback host when the issuer is a loopback test IdP.
fn check_endpoint(url: &str, loopback_issuer: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback_issuer && matches!(host, "127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        _ => Err("is not an https URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entra() -> Value {
        json!({
            "issuer": "https://login.microsoftonline.com/t/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "jwks_uri": "https://login.microsoftonline.com/t/discovery/v2.0/keys",
            "end_session_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/logout",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    #[test]
    fn reads_what_aspen_needs_and_checks_the_issuer() {
        let m = parse(&entra(), "https://login.microsoftonline.com/t/v2.0").unwrap();
        assert_eq!(m.client_auth, ClientAuth::Basic);
        assert!(m.end_session_endpoint.is_some());
        assert!(!m.iss_parameter);
        // A prefix of the issuer, or another one, is not the issuer.
        let err = parse(&entra(), "https://login.microsoftonline.com/t").unwrap_err();
        assert!(err.contains("must be exactly"), "{err}");
        assert_eq!(
            url("https://a.example/"),
            "https://a.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn refuses_what_aspen_cannot_use() {
        let issuer = "https://login.microsoftonline.com/t/v2.0";
        let mut post = entra();
        post["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
        assert_eq!(parse(&post, issuer).unwrap().client_auth, ClientAuth::Post);
        let mut jwt_only = entra();
        jwt_only["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        assert!(parse(&jwt_only, issuer).unwrap_err().contains("neither"));
        let mut plain = entra();
        plain["token_endpoint"] = json!("http://login.microsoftonline.com/token");
        assert!(
            parse(&plain, issuer)
                .unwrap_err()
                .contains("token_endpoint")
        );
        let mut hs = entra();
        hs["id_token_signing_alg_values_supported"] = json!(["HS256"]);
        assert!(parse(&hs, issuer).unwrap_err().contains("HS256 only"));
        let mut no_pkce = entra();
        no_pkce["code_challenge_methods_supported"] = json!(["plain"]);
        assert!(parse(&no_pkce, issuer).unwrap_err().contains("PKCE"));
        // A loopback test IdP may use plain http, on loopback only.
        let test = json!({"issuer": "http://127.0.0.1:9", "authorization_endpoint": "http://127.0.0.1:9/auth",
            "token_endpoint": "http://127.0.0.1:9/token", "jwks_uri": "http://evil.example/jwks"});
        assert!(
            parse(&test, "http://127.0.0.1:9")
                .unwrap_err()
                .contains("jwks_uri")
        );
    }
}
