//! The portal key (`[portal] secret_file`) and what is made with it:
//! HMAC-SHA256 tokens (sessions, pre-sessions, access tokens, CSRF tokens,
//! one-time enrollment codes), each bound to one purpose and (except CSRF)
//! one user, carrying its expiry and checked in constant time; and the keyed
//! hashes under which the store keeps codes, sessions and per-profile
//! identity secrets, so reading the store reveals nothing usable. A leaf
//! module: the server, the CLI, bulk and profile building all use it.

use crate::error::{Error, Result};
use openssl::sha::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

/// What a token may be used for. Part of every MAC, so a token minted for one
/// purpose never passes as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The portal's session cookie.
    Session,
    /// Apple's account-driven enrollment: `Authorization: Bearer …`.
    Access,
    /// A form's CSRF token, bound to the browser's CSRF cookie.
    Csrf,
    /// A one-time enrollment code, bound to user, invite id and expiry.
    Code,
    /// The key under which a code's invite is stored.
    CodeLookup,
    /// A browser's pre-session (the CSRF binding before sign-in): issued by
    /// the server, so a value a client makes up is refused.
    PreSession,
    /// The key under which a portal session is stored.
    SessionLookup,
    /// The key under which a per-profile identity secret is stored.
    SecretLookup,
    /// The key under which a spent access token is remembered.
    AccessLookup,
    /// What a device's verified `MachineInfo` said, carried through the
    /// ADE web sign-in (its header comes only with the first page).
    AdeDevice,
    /// A sign-in at the identity provider in progress (the `Lax` cookie
    /// that binds it to the browser), and the values derived from its
    /// seed: the `state`, the `nonce` and the PKCE verifier.
    OidcFlow,
    OidcState,
    OidcNonce,
    OidcVerifier,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"session",
            Purpose::Access => b"access-token",
            Purpose::Csrf => b"csrf",
            Purpose::Code => b"code",
            Purpose::CodeLookup => b"code-lookup",
            Purpose::PreSession => b"pre-session",
            Purpose::SessionLookup => b"session-lookup",
            Purpose::SecretLookup => b"secret-lookup",
            Purpose::AccessLookup => b"access-lookup",
            Purpose::AdeDevice => b"ade-device",
            Purpose::OidcFlow => b"oidc-flow",
            Purpose::OidcState => b"oidc-state",
            Purpose::OidcNonce => b"oidc-nonce",
            Purpose::OidcVerifier => b"oidc-verifier",
        }
    }
}

/// Why a token was refused. Callers answer all of them the same way; the
/// distinction is for tests and never reaches a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    Expired,
}

/// A verified token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user (lower-case e-mail) the token was issued to.
    pub user: String,
    pub expires: i64,
}

/// The portal's HMAC key (`[portal] secret_file`), kept as the SHA-256
/// states after the key's inner and outer pads (RFC 2104): a MAC is then two
/// cloned states and three blocks of hashing, with none of the algorithm
/// look-ups OpenSSL's EVP layer makes per call (several per request).
pub struct Keys {
    inner: Sha256,
    outer: Sha256,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(…)")
    }
}

/// Bytes of randomness in a fresh secret file.
const SECRET_BYTES: usize = 32;

/// A new secret for `secret_file`: 32 random bytes, hex, one line.
pub fn generate_secret() -> Result<Zeroizing<String>> {
    let bytes = random(SECRET_BYTES)?;
    let mut hex = Zeroizing::new(String::with_capacity(SECRET_BYTES * 2 + 1));
    crate::hex::push_lower(&mut hex, &bytes);
    hex.push('\n');
    Ok(hex)
}

/// Writes a new secret to `path` (mode 0600), refusing to overwrite one.
pub fn write_secret(path: &Path) -> Result<()> {
    use std::io::Write;
    let secret = generate_secret()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// How to make a secret file that only its owner can read, in every hint:
/// under the usual umask 022 a plain `openssl rand -hex 32 > FILE` is 0644.
pub const NEW_SECRET_HINT: &str = "(umask 077; openssl rand -hex 32 > FILE)";

/// Refuses a secret file that its group or others may read (or write): the
/// file and the fix are named. Only the owner's bits may be set (0600, or
/// 0400 as systemd's `LoadCredential=` makes it).
pub fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::invalid(format!(
                "{}: the portal secret is readable by group or others (mode {mode:04o}): anyone who can read it can forge sessions and access tokens. Fix: chmod 600 {}, and replace the secret if others may have read it: {NEW_SECRET_HINT}",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// `n` bytes from OpenSSL's CSPRNG.
pub fn random(n: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    openssl::rand::rand_bytes(&mut buf).map_err(|e| Error::crypto("random bytes", e))?;
    Ok(buf)
}

impl Keys {
    /// Reads the secret file: hex, at least 32 bytes once decoded, and
    /// private to its owner (anyone who can read it can forge every session
    /// and access token and recompute outstanding codes). Errors never show
    /// its content.
    pub fn load(path: &Path) -> Result<Keys> {
        // Capped (the path may name a pipe or /dev/zero): 64 hex digits fit
        // many times over in 64 KiB.
        let bytes = crate::fs::read_capped_secret(path, 64 << 10).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Error::io(
                path,
                std::io::Error::new(
                    source.kind(),
                    format!("not found (aspen init writes one; or: {NEW_SECRET_HINT})"),
                ),
            ),
            e => e,
        })?;
        let hex = std::str::from_utf8(&bytes).unwrap_or_default().trim();
        let bytes = decode_hex(hex)
            .filter(|b| b.len() >= SECRET_BYTES)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{}: must hold at least 32 bytes as hex (64 hex digits)",
                    path.display()
                ))
            })?;
        check_private(path)?;
        Keys::from_bytes(&bytes)
    }

    pub fn from_bytes(secret: &[u8]) -> Result<Keys> {
        if secret.is_empty() {
            return Err(Error::invalid("HMAC key: empty"));
        }
        // RFC 2104: a key longer than the block is hashed first.
        let mut block = Zeroizing::new([0u8; 64]);
        if secret.len() > 64 {
            block[..32].copy_from_slice(&openssl::sha::sha256(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        let pad = |byte: u8| {
            let mut padded = Zeroizing::new(*block);
            padded.iter_mut().for_each(|b| *b ^= byte);
            let mut state = Sha256::new();
            state.update(&padded[..]);
            state
        };
        Ok(Keys {
            inner: pad(0x36),
            outer: pad(0x5c),
        })
    }

    /// HMAC-SHA256 of the concatenation of `data`.
    fn hmac(&self, data: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for d in data {
            inner.update(d);
        }
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }

    /// HMAC-SHA256 over the purpose and each part, length-prefixed so no two
    /// different inputs share a MAC input.
    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; 32] {
        let mut input = Vec::with_capacity(64);
        input.extend_from_slice(b"aspen/v1");
        for part in std::iter::once(purpose.label()).chain(parts.iter().copied()) {
            input.extend_from_slice(&(part.len() as u32).to_be_bytes());
            input.extend_from_slice(part);
        }
        self.hmac(&[&input])
    }

    /// A token for `user` and `purpose`, valid until `expires` (Unix seconds):
    /// `user.expires.nonce.mac`, each part URL-safe. The nonce is random,
    /// so no two tokens are alike (and a token reveals nothing about when
    /// another was issued); it carries no meaning and is not returned.
    pub fn issue(&self, purpose: Purpose, user: &str, expires: i64) -> Result<String> {
        let user = user.to_ascii_lowercase();
        let nonce = b64url(&random(12)?);
        let exp = expires.to_string();
        let mac = self.mac(
            purpose,
            &[user.as_bytes(), exp.as_bytes(), nonce.as_bytes()],
        );
        Ok(format!(
            "{}.{exp}.{nonce}.{}",
            b64url(user.as_bytes()),
            b64url(&mac)
        ))
    }

    /// Checks a token for `purpose` at time `now`.
    pub fn verify(&self, purpose: Purpose, token: &str, now: i64) -> Result<Claims, Refused> {
        if token.len() > 1024 {
            return Err(Refused::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(user), Some(exp), Some(nonce), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Refused::Malformed);
        };
        let user = b64url_decode(user)
            .and_then(|u| String::from_utf8(u).ok())
            .ok_or(Refused::Malformed)?;
        let given = b64url_decode(mac).ok_or(Refused::Malformed)?;
        let expected = self.mac(
            purpose,
            &[user.as_bytes(), exp.as_bytes(), nonce.as_bytes()],
        );
        if !same(&given, &expected) {
            return Err(Refused::BadSignature);
        }
        let expires: i64 = exp.parse().map_err(|_| Refused::Malformed)?;
        if expires <= now {
            return Err(Refused::Expired);
        }
        Ok(Claims { user, expires })
    }

    /// The CSRF token for forms of the browser holding CSRF cookie `binding`.
    pub fn csrf(&self, binding: &str) -> String {
        b64url(&self.mac(Purpose::Csrf, &[binding.as_bytes()]))
    }

    /// The short one-time code of invite `id` for `user`: ten Crockford
    /// base32 characters (50 bits) shown as `XXXXX-XXXXX`.
    pub fn code(&self, user: &str, id: &str, expires: i64) -> String {
        let mac = self.mac(
            Purpose::Code,
            &[
                user.to_ascii_lowercase().as_bytes(),
                id.as_bytes(),
                expires.to_string().as_bytes(),
            ],
        );
        let mut bits: u64 = 0;
        for b in &mac[..8] {
            bits = bits << 8 | u64::from(*b);
        }
        let chars: String = (0..10)
            .map(|i| CROCKFORD[((bits >> (64 - 5 * (i + 1))) & 31) as usize] as char)
            .collect();
        format!("{}-{}", &chars[..5], &chars[5..])
    }

    /// Whether `code` (normalised) is the code of this invite.
    pub fn check_code(&self, code: &str, user: &str, id: &str, expires: i64) -> bool {
        normalize_code(&self.code(user, id, expires))
            .is_some_and(|expected| same(expected.as_bytes(), code.as_bytes()))
    }

    /// The key a session is stored under: a MAC of the whole cookie value,
    /// so the database never holds a usable session.
    pub fn session_lookup(&self, token: &str) -> [u8; 32] {
        self.mac(Purpose::SessionLookup, &[token.as_bytes()])
    }

    /// The key a spent access token is remembered under: a MAC of the
    /// whole token, so the database never holds a usable one.
    pub fn access_lookup(&self, token: &str) -> [u8; 32] {
        self.mac(Purpose::AccessLookup, &[token.as_bytes()])
    }

    /// A value derived from an identity-provider sign-in's random `seed`
    /// (kept in its cookie): its `state`, `nonce` or PKCE verifier, 43
    /// URL-safe characters. Only the server can compute them, so the
    /// cookie reveals none of them; `None` for any other purpose.
    pub fn derive(&self, purpose: Purpose, seed: &str) -> Option<String> {
        matches!(
            purpose,
            Purpose::OidcState | Purpose::OidcNonce | Purpose::OidcVerifier
        )
        .then(|| b64url(&self.mac(purpose, &[seed.as_bytes()])))
    }

    /// The key an invite is stored under: a MAC of the normalised code, so
    /// the database never holds a usable code.
    pub fn code_lookup(&self, normalized: &str) -> [u8; 32] {
        self.mac(Purpose::CodeLookup, &[normalized.as_bytes()])
    }

    /// The key a per-profile identity secret is stored under: a MAC of its
    /// kind and value, so the database never holds a usable secret and an
    /// ACME client identifier never passes as a SCEP challenge. Every
    /// command that issues or checks secrets computes it with the portal's
    /// key (`[portal] secret_file`).
    pub fn secret_lookup(
        &self,
        kind: crate::secret::SecretKind,
        value: &crate::secret::Secret,
    ) -> [u8; 32] {
        self.mac(
            Purpose::SecretLookup,
            &[kind.as_str().as_bytes(), value.expose().as_bytes()],
        )
    }
}

/// Constant-time equality (the length is not secret).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A typed code as the user may enter it (lower case, spaces, dashes, O for
/// 0, I or L for 1) in canonical form; `None` if it cannot be a code.
pub fn normalize_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(10);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
        if out.len() > 10 {
            return None;
        }
    }
    (out.len() == 10).then_some(out)
}

/// Base64url without padding (RFC 4648 §5).
pub fn b64url(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// Base64url without padding, decoded; `None` for anything else (padding,
/// other characters).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut std: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    openssl::base64::decode_block(&std).ok()
}

fn decode_hex(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 2));
    for pair in s.as_bytes().chunks(2) {
        let text = std::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(text, 16).ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block), and
    /// OpenSSL's own HMAC for a key of exactly one block.
    #[test]
    fn hmac_is_rfc_4231_hmac_sha256() {
        let hex = |b: &[u8]| crate::hex::lower(b);
        let mac = |key: &[u8], data: &[u8]| hex(&Keys::from_bytes(key).unwrap().hmac(&[data]));
        assert_eq!(
            mac(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            mac(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            mac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let key = [0x42u8; 64];
        let pkey = openssl::pkey::PKey::hmac(&key).unwrap();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
        signer.update(b"aspen").unwrap();
        assert_eq!(mac(&key, b"aspen"), hex(&signer.sign_to_vec().unwrap()));
        assert!(Keys::from_bytes(b"").is_err());
    }

    fn keys() -> Keys {
        Keys::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_token_is_bound_to_purpose_user_and_time() {
        let k = keys();
        let t = k.issue(Purpose::Access, "Alice@Contoso.com", 1000).unwrap();
        let c = k.verify(Purpose::Access, &t, 999).unwrap();
        assert_eq!((c.user.as_str(), c.expires), ("alice@contoso.com", 1000));
        assert_eq!(k.verify(Purpose::Access, &t, 1000), Err(Refused::Expired));
        assert_eq!(
            k.verify(Purpose::Session, &t, 1),
            Err(Refused::BadSignature)
        );
        // Another key refuses it.
        let other = Keys::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(
            other.verify(Purpose::Access, &t, 1),
            Err(Refused::BadSignature)
        );
        // Swapping in another user (or a later expiry) breaks the MAC.
        let parts: Vec<&str> = t.split('.').collect();
        let bob = format!(
            "{}.{}.{}.{}",
            b64url(b"bob@contoso.com"),
            parts[1],
            parts[2],
            parts[3]
        );
        assert_eq!(
            k.verify(Purpose::Access, &bob, 1),
            Err(Refused::BadSignature)
        );
        let later = format!("{}.{}.{}.{}", parts[0], 99999, parts[2], parts[3]);
        assert_eq!(
            k.verify(Purpose::Access, &later, 1),
            Err(Refused::BadSignature)
        );
        for bad in ["", "a.b.c", "a.b.c.d.e", "!!.1.x.y"] {
            assert_eq!(
                k.verify(Purpose::Access, bad, 1),
                Err(Refused::Malformed),
                "{bad}"
            );
        }
        // Two tokens for the same claims differ (random nonce).
        assert_ne!(
            t,
            k.issue(Purpose::Access, "alice@contoso.com", 1000).unwrap()
        );
    }

    #[test]
    fn codes_are_short_typable_and_bound() {
        let k = keys();
        let code = k.code("alice@contoso.com", "id1", 1000);
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        let typed = normalize_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert!(k.check_code(&typed, "Alice@contoso.com", "id1", 1000));
        assert!(!k.check_code(&typed, "bob@contoso.com", "id1", 1000));
        assert!(!k.check_code(&typed, "alice@contoso.com", "id1", 1001));
        assert_eq!(normalize_code("oooooiiiii").as_deref(), Some("0000011111"));
        assert_eq!(normalize_code("UUUUU-UUUUU"), None);
        assert_eq!(normalize_code("12345"), None);
        assert_ne!(k.code_lookup("0000011111"), k.code_lookup("0000011112"));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_cookie() {
        let k = keys();
        let t = k.csrf("cookie-a");
        assert!(same(k.csrf("cookie-a").as_bytes(), t.as_bytes()));
        assert_ne!(k.csrf("cookie-b"), t);
        assert!(!same(b"", t.as_bytes()));
    }

    #[test]
    fn secrets_are_hex_and_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.secret");
        write_secret(&path).unwrap();
        assert!(write_secret(&path).is_err(), "never overwrites");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        Keys::load(&path).unwrap();
        // A secret others can read is refused, naming the file and the fix.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let msg = Keys::load(&path).unwrap_err().to_string();
            assert!(
                msg.contains(&path.display().to_string())
                    && msg.contains("mode 0644")
                    && msg.contains("chmod 600")
                    && msg.contains(NEW_SECRET_HINT)
                    && !msg.contains(text.trim()),
                "{msg}"
            );
            for private in [0o600, 0o400] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private)).unwrap();
                Keys::load(&path).unwrap();
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "abcd\n").unwrap();
        let msg = Keys::load(&path).unwrap_err().to_string();
        assert!(
            msg.contains("64 hex digits") && !msg.contains("abcd"),
            "{msg}"
        );
    }
}
