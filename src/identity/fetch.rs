//! Outbound HTTP to the identity provider (discovery, keys, the token
//! endpoint): every call has a timeout, follows no redirect, and reads at
//! most [`MAX_BODY_BYTES`] of the answer, in chunks, stopping past the cap.
//! Errors say which URL failed and why, never a body (a token endpoint's
//! answer carries tokens).

use serde_json::Value;
use std::time::Duration;

/// The longest answer read from the IdP (an Entra discovery document is
/// ~2 KiB, a JWK Set a few KiB, a token response with a large ID token
/// some tens of KiB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// A whole call, connection to last byte.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for the IdP.
pub struct Http {
    client: reqwest::Client,
}

/// An answer: its status and its JSON.
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl Http {
    pub fn new() -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aspen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        Ok(Http { client })
    }

    /// `GET url`, which must answer 200 with a JSON object.
    pub async fn get_json(&self, url: &str) -> Result<Value, String> {
        let res = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed(url, &e))?;
        let answer = answer(url, res).await?;
        if answer.status != 200 {
            return Err(format!("GET {url}: HTTP status {}", answer.status));
        }
        Ok(answer.json)
    }

    /// `POST url` with a form body (and HTTP Basic client credentials,
    /// form-encoded first as RFC 6749 §2.3.1 says); any status, a JSON
    /// object body.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Answer, String> {
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        if let Some((id, secret)) = basic {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        let res = req.send().await.map_err(|e| failed(url, &e))?;
        answer(url, res).await
    }
}

/// What went wrong with a call to `url`: reqwest's words and their causes
/// (connection refused, timed out, certificate not trusted).
fn failed(url: &str, e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    format!("{url}: {text}")
}

/// The status and JSON object of `res`, its body read within the cap.
async fn answer(url: &str, mut res: reqwest::Response) -> Result<Answer, String> {
    let status = res.status().as_u16();
    if res
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(format!(
            "{url}: the answer is larger than {MAX_BODY_BYTES} bytes"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| failed(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "{url}: the answer is larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(json @ Value::Object(_)) => Ok(Answer { status, json }),
        _ => Err(format!(
            "{url}: HTTP status {status}, and the answer is not a JSON object"
        )),
    }
}
