//! step-ca's SCEP challenge webhook (`POST /ca/scep-challenge`, kind
//! `SCEPCHALLENGE`; smallstep/certificates `webhook/types.go`,
//! `authority/provisioner/webhook.go`): for every SCEP request step-ca
//! posts a JSON body carrying the request's `scepChallenge` (and the CSR),
//! signed with the webhook's secret (`X-Smallstep-Signature`: lower-case
//! hex HMAC-SHA256 of the exact body, keyed with the base64-decoded
//! secret), and issues the certificate only on `{"allow": true}`.
//!
//! The signature is checked before anything of the body is read; a bad or
//! missing one is a `401`, a warning, an audit row, and a failure counted
//! against the caller's address like a failed sign-in. A signed call is
//! step-ca's: its challenge is checked exactly as `aspen scep-verify`
//! checks one ([`crate::challenge`]: issued, unexpired, unused, and used
//! now, once), and every answer is an audit row like scep-verify's. A
//! refused challenge in a signed call does not count against step-ca's
//! address: that would lock every device out behind one late or replayed
//! request, and only the holder of the secret can make such calls.

use super::proxy::ClientAddr;
use super::service::Service;
use super::throttle::{Attempt, now_ms, too_many};
use super::web::client;
use crate::challenge;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use std::sync::Arc;

pub const SCEP_CHALLENGE_PATH: &str = "/ca/scep-challenge";
/// step-ca's signature header.
pub const SIGNATURE_HEADER: &str = "x-smallstep-signature";

/// What aspen reads of step-ca's request body (webhook.RequestBody).
#[derive(serde::Deserialize)]
struct Body {
    #[serde(rename = "scepChallenge")]
    scep_challenge: Option<Secret>,
    #[serde(rename = "x509CertificateRequest")]
    csr: Option<CsrField>,
}

/// `x509CertificateRequest`: only its DER (`raw`, base64) is read, for the
/// subject of the audit row.
#[derive(serde::Deserialize)]
struct CsrField {
    raw: Option<String>,
}

/// The answer step-ca reads (webhook.ResponseBody).
#[derive(serde::Serialize)]
struct Answer {
    allow: bool,
}

/// Whether `signature` (the header's value) is the HMAC-SHA256 of `body`
/// under `key`, compared in constant time.
pub fn signed(key: &[u8], body: &[u8], signature: Option<&[u8]>) -> bool {
    let Some(given) = signature else {
        return false;
    };
    let mac = PKey::hmac(key).and_then(|k| {
        let mut s = openssl::sign::Signer::new(MessageDigest::sha256(), &k)?;
        s.update(body)?;
        s.sign_to_vec()
    });
    let Ok(mac) = mac else {
        return false;
    };
    let expected = crate::hex::lower(&mac);
    crate::tokens::same(expected.as_bytes(), &given.to_ascii_lowercase())
}

/// The challenge and the CSR's subject, from a signed body (off the
/// runtime's workers: the CSR is parsed through [`crate::read::csr`]).
fn parse(body: &[u8]) -> Result<(Option<Secret>, Option<String>), String> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|_| "the webhook body is not step-ca's JSON".to_owned())?;
    let subject = body
        .csr
        .and_then(|c| c.raw)
        .and_then(|raw| openssl::base64::decode_block(&raw).ok())
        .and_then(|der| crate::read::csr::parse(&der).ok())
        .map(|csr| csr.subject);
    Ok((body.scep_challenge, subject))
}

/// `POST /ca/scep-challenge`.
pub async fn scep_challenge(
    State(svc): State<Arc<Service>>,
    Extension(peer): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(key) = svc
        .settings
        .ca
        .as_ref()
        .and_then(|c| c.scep_webhook_key.clone())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    // Charged before the signature is checked (given back when it holds:
    // step-ca's calls are one address, and a challenge it asks about that
    // is refused is not its failure).
    let charge = match svc
        .throttle
        .charge(svc.store.as_ref(), &attempt, now_ms())
        .await
    {
        Ok(Ok(charge)) => charge,
        Ok(Err(wait)) => return too_many(StatusCode::OK.into_response(), wait),
        Err(e) => return failed(e),
    };
    let signature = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if !signed(key.bytes(), &body, signature) {
        tracing::warn!(
            client = %peer,
            "SCEP challenge webhook: {} X-Smallstep-Signature; refused (is [ca] scep_webhook_secret_* the webhook's secret?)",
            if signature.is_some() { "a wrong" } else { "no" }
        );
        if let Err(e) = svc
            .throttle
            .failed(svc.store.as_ref(), &attempt, charge, now_ms())
            .await
        {
            return failed(e);
        }
        let record =
            challenge::refused_unread(None, "the webhook call's signature does not verify")
                .with_client(client(&peer));
        if let Err(e) = svc.audit(record).await {
            return failed(e);
        }
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Err(e) = svc
        .throttle
        .refund(svc.store.as_ref(), &attempt, charge, now_ms())
        .await
    {
        tracing::warn!("refunding a charge: {e}");
    }
    let parsed = match svc.untrusted.run(move || parse(&body)).await {
        Ok(parsed) => parsed,
        Err(busy) => return busy.into_response(),
    };
    let (record, allow) = match parsed {
        Err(why) => (challenge::refused_unread(None, &why), false),
        Ok((None, subject)) => (
            challenge::refused_unread(subject.as_deref(), "the request has no scepChallenge"),
            false,
        ),
        Ok((Some(value), subject)) => {
            match challenge::check(
                svc.store.as_ref(),
                &svc.keys,
                &value,
                subject.as_deref(),
                crate::audit::now(),
            )
            .await
            {
                Ok(checked) => (checked.record, checked.accepted.is_some()),
                Err(e) => return failed(e),
            }
        }
    };
    if let Err(e) = svc.audit(record.with_client(client(&peer))).await {
        return failed(e);
    }
    axum::Json(Answer { allow }).into_response()
}

/// aspen's own failure: `500` (step-ca retries once, then refuses).
fn failed(e: crate::Error) -> Response {
    tracing::error!("SCEP challenge webhook: {e}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), as step-ca signs: lower-case hex.
    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_exact_body() {
        let mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let body = b"what do ya want for nothing?";
        assert!(signed(b"Jefe", body, Some(mac.as_bytes())));
        assert!(signed(b"Jefe", body, Some(mac.to_uppercase().as_bytes())));
        assert!(!signed(
            b"Jefe",
            b"what do ya want for nothing? ",
            Some(mac.as_bytes())
        ));
        assert!(!signed(b"Jeff", body, Some(mac.as_bytes())));
        assert!(!signed(b"Jefe", body, Some(&mac.as_bytes()[..63])));
        assert!(!signed(b"Jefe", body, None));
    }
}
