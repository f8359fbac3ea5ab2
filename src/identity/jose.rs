//! JSON Web Signatures as identity providers sign their tokens (RFC 7515
//! compact form), verified with OpenSSL against keys from the IdP's JWK Set
//! (RFC 7517/7518). Three algorithms are allowed — RS256, PS256 and ES256 —
//! and the header's `alg` is checked against that list before any key is
//! looked at: `none`, the HMAC algorithms (whose "key" would be the client
//! secret) and everything else are refused.

use crate::tokens::b64url_decode;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::{Map, Value};

/// The longest token read (an Entra ID token with 200 groups is ~10 KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Keys read from one JWK Set, at most.
const MAX_KEYS: usize = 64;
/// RSA keys shorter than this are refused (RFC 7518 §3.3: 2048 or more).
const MIN_RSA_BITS: u32 = 2048;

/// The signature algorithms aspen accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt of 32 bytes.
    Ps256,
    /// ECDSA on P-256 with SHA-256 (the signature is `r || s`, 64 bytes).
    Es256,
}

impl Alg {
    /// The allow-list: an algorithm not named here is refused.
    pub fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "PS256" => Some(Alg::Ps256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
        }
    }

    fn fits(self, kind: KeyKind) -> bool {
        match self {
            Alg::Rs256 | Alg::Ps256 => kind == KeyKind::Rsa,
            Alg::Es256 => kind == KeyKind::P256,
        }
    }
}

/// A token, split and decoded, its signature not yet checked.
pub struct Jws {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// The claims (the payload's JSON object).
    pub claims: Map<String, Value>,
    /// `header.payload` as sent: what the signature covers.
    signing_input: String,
    signature: Vec<u8>,
}

/// Shows the header only (the claims name a person).
impl std::fmt::Debug for Jws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jws({}, kid {:?})", self.alg.as_str(), self.kid)
    }
}

/// Splits and decodes a compact JWS, checking its header: `alg` on the
/// allow-list, no `crit` extension (aspen understands none). The error
/// says why, never the token.
pub fn parse(token: &str) -> Result<Jws, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("the token is longer than {MAX_TOKEN_BYTES} bytes"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a signed JWT (three parts separated by dots)".into());
    };
    let header = object(h).ok_or("the token's header is not a base64url JSON object")?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Alg::parse(name).ok_or_else(|| {
            format!(
                "the token is signed with alg {name:?}; only RS256, PS256 and ES256 are accepted"
            )
        })?,
        _ => return Err("the token's header has no alg".into()),
    };
    if header.contains_key("crit") {
        return Err("the token's header has a crit extension aspen does not understand".into());
    }
    let text = |k: &str| header.get(k).and_then(Value::as_str).map(str::to_owned);
    let claims = object(p).ok_or("the token's claims are not a base64url JSON object")?;
    let signature = b64url_decode(s).ok_or("the token's signature is not base64url")?;
    Ok(Jws {
        alg,
        kid: text("kid"),
        typ: text("typ"),
        claims,
        signing_input: token[..h.len() + 1 + p.len()].to_owned(),
        signature,
    })
}

fn object(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&b64url_decode(part)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
}

/// One verification key of the IdP.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// The JWK's `alg`, when it names one: the key is used for no other.
    alg: Option<String>,
    kind: KeyKind,
    pkey: PKey<Public>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?}, {:?})", self.kid, self.kind)
    }
}

/// The signing keys of a JWK Set (`{"keys":[…]}`): RSA keys of 2048 bits
/// or more and P-256 keys, not marked for encryption only. Keys of other
/// types are skipped (they could verify nothing aspen accepts); a key of
/// an accepted type that cannot be read is an error, as is a set without
/// one usable key.
pub fn key_set(doc: &Value) -> Result<Vec<Key>, String> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWK Set has no \"keys\" array")?;
    let mut out = Vec::new();
    for (i, jwk) in keys.iter().take(MAX_KEYS).enumerate() {
        let text = |k: &str| jwk.get(k).and_then(Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let kind = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => KeyKind::Rsa,
            (Some("EC"), Some("P-256")) => KeyKind::P256,
            _ => continue,
        };
        let field = |k: &str| -> Result<BigNum, String> {
            text(k)
                .and_then(b64url_decode)
                .and_then(|b| BigNum::from_slice(&b).ok())
                .ok_or_else(|| format!("key {i} of the JWK Set: {k} is missing or not base64url"))
        };
        let pkey = match kind {
            KeyKind::Rsa => {
                let rsa = Rsa::from_public_components(field("n")?, field("e")?)
                    .map_err(|e| format!("key {i} of the JWK Set: {e}"))?;
                if rsa.n().num_bits() < MIN_RSA_BITS as i32 {
                    return Err(format!(
                        "key {i} of the JWK Set: an RSA key of {} bits (at least {MIN_RSA_BITS} are needed)",
                        rsa.n().num_bits()
                    ));
                }
                PKey::from_rsa(rsa)
            }
            KeyKind::P256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
                    .map_err(|e| format!("P-256: {e}"))?;
                let (x, y) = (field("x")?, field("y")?);
                let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y)
                    .and_then(|k| k.check_key().map(|()| k))
                    .map_err(|_| format!("key {i} of the JWK Set: not a point on P-256"))?;
                PKey::from_ec_key(ec)
            }
        }
        .map_err(|e| format!("key {i} of the JWK Set: {e}"))?;
        out.push(Key {
            kid: text("kid").map(str::to_owned),
            alg: text("alg").map(str::to_owned),
            kind,
            pkey,
        });
    }
    if out.is_empty() {
        return Err("the JWK Set holds no RSA or P-256 signing key".into());
    }
    Ok(out)
}

/// The keys that may have signed `jws`: those with its `kid` (or every key,
/// when the token names none) whose type and `alg` fit its algorithm.
pub fn candidates<'k>(keys: &'k [Key], jws: &Jws) -> Vec<&'k Key> {
    keys.iter()
        .filter(|k| jws.kid.is_none() || k.kid == jws.kid)
        .filter(|k| jws.alg.fits(k.kind))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == jws.alg.as_str()))
        .collect()
}

/// Whether `key` made the signature of `jws`.
pub fn verify(jws: &Jws, key: &Key) -> bool {
    if !jws.alg.fits(key.kind) {
        return false;
    }
    let check = || -> Result<bool, openssl::error::ErrorStack> {
        let der;
        let signature: &[u8] = match jws.alg {
            Alg::Es256 => {
                // JWS (RFC 7518 §3.4): r || s, 32 bytes each; OpenSSL
                // wants DER.
                if jws.signature.len() != 64 {
                    return Ok(false);
                }
                let r = BigNum::from_slice(&jws.signature[..32])?;
                let s = BigNum::from_slice(&jws.signature[32..])?;
                der = EcdsaSig::from_private_components(r, s)?.to_der()?;
                &der
            }
            _ => &jws.signature,
        };
        let mut v = Verifier::new(MessageDigest::sha256(), &key.pkey)?;
        match jws.alg {
            Alg::Rs256 => v.set_rsa_padding(Padding::PKCS1)?,
            Alg::Ps256 => {
                v.set_rsa_padding(Padding::PKCS1_PSS)?;
                v.set_rsa_mgf1_md(MessageDigest::sha256())?;
                v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))?;
            }
            Alg::Es256 => {}
        }
        v.update(jws.signing_input.as_bytes())?;
        v.verify(signature)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tokens::b64url;
    use openssl::pkey::Private;
    use openssl::sign::Signer;
    use serde_json::json;

    /// A JWK (public) for a private key.
    pub(crate) fn jwk(key: &PKey<Private>, kid: &str) -> Value {
        if let Ok(rsa) = key.rsa() {
            json!({"kty": "RSA", "kid": kid, "use": "sig",
                   "n": b64url(&rsa.n().to_vec()), "e": b64url(&rsa.e().to_vec())})
        } else {
            let ec = key.ec_key().unwrap();
            let mut ctx = openssl::bn::BigNumContext::new().unwrap();
            let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                .unwrap();
            json!({"kty": "EC", "crv": "P-256", "kid": kid,
                   "x": b64url(&x.to_vec_padded(32).unwrap()), "y": b64url(&y.to_vec_padded(32).unwrap())})
        }
    }

    /// A token signed by `key` with `alg` (as an IdP would make it).
    pub(crate) fn sign(key: &PKey<Private>, alg: &str, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        if alg == "PS256" {
            s.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
            s.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
            s.set_rsa_pss_saltlen(RsaPssSaltlen::custom(32)).unwrap();
        }
        s.update(input.as_bytes()).unwrap();
        let mut sig = s.sign_to_vec().unwrap();
        if alg == "ES256" {
            let der = EcdsaSig::from_der(&sig).unwrap();
            sig = [
                der.r().to_vec_padded(32).unwrap(),
                der.s().to_vec_padded(32).unwrap(),
            ]
            .concat();
        }
        format!("{input}.{}", b64url(&sig))
    }

    pub(crate) fn rsa_key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    pub(crate) fn ec_key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn check(token: &str, set: &Value) -> Result<bool, String> {
        let jws = parse(token)?;
        let keys = key_set(set)?;
        Ok(candidates(&keys, &jws).iter().any(|k| verify(&jws, k)))
    }

    #[test]
    fn rs256_ps256_and_es256_verify_with_their_own_key_only() {
        let (rsa, ec, other) = (rsa_key(), ec_key(), rsa_key());
        let set = json!({"keys": [jwk(&rsa, "r1"), jwk(&ec, "e1")]});
        let claims = json!({"sub": "alice"});
        for (key, alg, kid) in [
            (&rsa, "RS256", "r1"),
            (&rsa, "PS256", "r1"),
            (&ec, "ES256", "e1"),
        ] {
            let t = sign(key, alg, kid, &claims);
            assert_eq!(check(&t, &set), Ok(true), "{alg}");
            assert_eq!(parse(&t).unwrap().claims["sub"], "alice");
            // One changed bit in the claims: refused.
            let (head, rest) = t.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let forged = format!("{head}.{}.{sig}", b64url(br#"{"sub":"mallory"}"#));
            assert_eq!(check(&forged, &set), Ok(false), "{alg}");
        }
        // Signed by a key outside the set, under a kid of the set.
        assert_eq!(
            check(&sign(&other, "RS256", "r1", &claims), &set),
            Ok(false)
        );
        // An RS256 signature offered as PS256 (same key): refused.
        let rs = sign(&rsa, "RS256", "r1", &claims);
        let (_, rest) = rs.split_once('.').unwrap();
        let as_ps = format!("{}.{rest}", b64url(br#"{"alg":"PS256","kid":"r1"}"#));
        assert_eq!(check(&as_ps, &set), Ok(false));
    }

    #[test]
    fn none_hmac_and_other_algorithms_are_refused_before_any_key() {
        let payload = b64url(br#"{"sub":"alice"}"#);
        for alg in ["none", "HS256", "HS512", "RS384", "ES512", "EdDSA", "rs256"] {
            let header = b64url(format!(r#"{{"alg":"{alg}","kid":"r1"}}"#).as_bytes());
            let err = parse(&format!("{header}.{payload}.c2ln")).err().unwrap();
            assert!(err.contains("only RS256, PS256 and ES256"), "{alg}: {err}");
        }
        let crit = b64url(br#"{"alg":"RS256","crit":["exp"]}"#);
        assert!(
            parse(&format!("{crit}.{payload}.c2ln"))
                .unwrap_err()
                .contains("crit")
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.c2ln", "e30.e30.c2ln"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(
            parse(&"a".repeat(MAX_TOKEN_BYTES + 1))
                .unwrap_err()
                .contains("longer")
        );
    }

    #[test]
    fn key_sets_keep_signing_keys_of_accepted_types() {
        let (rsa, ec) = (rsa_key(), ec_key());
        let mut enc = jwk(&rsa, "enc");
        enc["use"] = json!("enc");
        let set =
            json!({"keys": [enc, {"kty": "OKP", "crv": "Ed25519", "x": "AA"}, jwk(&ec, "e1")]});
        let keys = key_set(&set).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("e1"));
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let err = key_set(&json!({"keys": [jwk(&small, "s")]})).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");
        let mut off_curve = jwk(&ec, "bad");
        off_curve["y"] = off_curve["x"].clone();
        assert!(
            key_set(&json!({"keys": [off_curve]}))
                .unwrap_err()
                .contains("P-256")
        );
        assert!(key_set(&json!({"keys": []})).is_err());
        assert!(key_set(&json!({})).is_err());
        // A key whose JWK names another alg is no candidate.
        let mut rs_only = jwk(&rsa, "r1");
        rs_only["alg"] = json!("RS256");
        let keys = key_set(&json!({"keys": [rs_only]})).unwrap();
        let ps = parse(&sign(&rsa, "PS256", "r1", &json!({}))).unwrap();
        assert!(candidates(&keys, &ps).is_empty());
    }
}
