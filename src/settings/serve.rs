//! `[serve]`: how `aspen serve` listens (address, TLS, the proxies it
//! trusts) and its limits; the defaults when the table is absent.

use super::fields::relative_path;
use crate::error::FieldError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[serve]`, validated. Flags of `aspen serve` override `listen` and TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    pub listen: Option<std::net::SocketAddr>,
    /// Certificate chain and key (PEM) to serve https directly.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The TLS key's passphrase, when it is encrypted
    /// (`tls_key_passphrase_env` or `tls_key_passphrase_file`); also for
    /// a key given with `aspen serve --tls-key`.
    pub tls_key_passphrase: Option<crate::sign::Passphrase>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<crate::net::Cidr>,
    pub max_connections: u32,
    /// Connections one client address (an IPv6 client: its /64) may hold
    /// open at once.
    pub max_connections_per_address: u32,
    /// Seconds a connection may wait for a request head (also between
    /// requests on a kept-alive connection).
    pub idle_timeout: u32,
    /// Seconds from a request's head to the last byte of its response
    /// written, body included.
    pub request_timeout: u32,
    /// Seconds requests in flight get to finish at shutdown.
    pub drain_timeout: u32,
    /// Failed sign-ins per client address before it is throttled.
    pub signin_failures_per_address: u32,
    /// Failed sign-ins per named account before addresses that keep
    /// failing are throttled for it.
    pub signin_failures_per_user: u32,
    /// Seconds within which the same session downloading the same profile
    /// again gets the same bytes and no new audit row; 0 records every one.
    pub download_repeat_window: u32,
    /// Profiles issued and answers changed per user, at most, within
    /// `issue_window` (a token bucket: this many at once, then one more
    /// every `issue_window / issues_per_user` seconds); 0 sets no limit.
    pub issues_per_user: u32,
    /// Seconds over which `issues_per_user` is counted.
    pub issue_window: u32,
}

impl Default for ServeSettings {
    /// Defaults for a real deployment (README: Running in production).
    fn default() -> Self {
        ServeSettings {
            listen: None,
            tls: None,
            tls_key_passphrase: None,
            trusted_proxies: Vec::new(),
            max_connections: 1024,
            max_connections_per_address: 256,
            idle_timeout: 15,
            request_timeout: 30,
            drain_timeout: 10,
            signin_failures_per_address: 10,
            signin_failures_per_user: 30,
            download_repeat_window: 60,
            issues_per_user: 20,
            issue_window: 3600,
        }
    }
}

/// `[serve]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    listen: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_key_passphrase_env: Option<String>,
    tls_key_passphrase_file: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    max_connections: Option<i64>,
    max_connections_per_address: Option<i64>,
    idle_timeout: Option<i64>,
    request_timeout: Option<i64>,
    drain_timeout: Option<i64>,
    signin_failures_per_address: Option<i64>,
    signin_failures_per_user: Option<i64>,
    download_repeat_window: Option<i64>,
    issues_per_user: Option<i64>,
    issue_window: Option<i64>,
}

/// `[serve]`, checked; values out of range name their bounds.
pub(super) fn validate(raw: RawServe, base: &Path) -> Result<ServeSettings, FieldError> {
    let d = ServeSettings::default();
    let listen = raw
        .listen
        .map(|l| {
            l.parse().map_err(|_| {
                FieldError::new(
                    "serve.listen",
                    Some(&l),
                    "must be an address and port such as \"127.0.0.1:8080\" or \"[::]:443\"",
                )
            })
        })
        .transpose()?;
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(c), Some(k)) => Some((
            relative_path(base, "serve.tls_cert", &c)?,
            relative_path(base, "serve.tls_key", &k)?,
        )),
        (None, None) => None,
        (Some(_), None) => {
            return Err(FieldError::new(
                "serve.tls_key",
                None,
                "is required with serve.tls_cert",
            ));
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                "serve.tls_cert",
                None,
                "is required with serve.tls_key",
            ));
        }
    };
    let tls_key_passphrase = super::signing::passphrase(
        "serve.tls_key_passphrase_env",
        raw.tls_key_passphrase_env,
        "serve.tls_key_passphrase_file",
        raw.tls_key_passphrase_file,
        base,
    )?;
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            crate::net::Cidr::parse(p)
                .map_err(|why| FieldError::new(format!("serve.trusted_proxies[{i}]"), Some(p), why))
        })
        .collect::<Result<_, _>>()?;
    let ranged = |field: &str, value: Option<i64>, default: u32, min: u32, max: u32| match value {
        None => Ok(default),
        Some(v) => u32::try_from(v)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                FieldError::new(
                    format!("serve.{field}"),
                    Some(&v.to_string()),
                    format!("must be between {min} and {max}"),
                )
            }),
    };
    let number = |field: &str, value: Option<i64>, default: u32, max: u32| {
        ranged(field, value, default, 1, max)
    };
    Ok(ServeSettings {
        listen,
        tls,
        tls_key_passphrase,
        trusted_proxies,
        max_connections: number(
            "max_connections",
            raw.max_connections,
            d.max_connections,
            1_000_000,
        )?,
        max_connections_per_address: number(
            "max_connections_per_address",
            raw.max_connections_per_address,
            d.max_connections_per_address,
            1_000_000,
        )?,
        idle_timeout: number("idle_timeout", raw.idle_timeout, d.idle_timeout, 3600)?,
        request_timeout: number(
            "request_timeout",
            raw.request_timeout,
            d.request_timeout,
            3600,
        )?,
        drain_timeout: number("drain_timeout", raw.drain_timeout, d.drain_timeout, 3600)?,
        signin_failures_per_address: number(
            "signin_failures_per_address",
            raw.signin_failures_per_address,
            d.signin_failures_per_address,
            100_000,
        )?,
        signin_failures_per_user: number(
            "signin_failures_per_user",
            raw.signin_failures_per_user,
            d.signin_failures_per_user,
            100_000,
        )?,
        download_repeat_window: ranged(
            "download_repeat_window",
            raw.download_repeat_window,
            d.download_repeat_window,
            0,
            3600,
        )?,
        issues_per_user: ranged(
            "issues_per_user",
            raw.issues_per_user,
            d.issues_per_user,
            0,
            1_000_000,
        )?,
        issue_window: number("issue_window", raw.issue_window, d.issue_window, 7 * 86_400)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, parse};

    #[test]
    fn serve_settings_have_defaults_and_are_checked() {
        let none = parse(MINIMAL).unwrap();
        assert_eq!(none.serve, ServeSettings::default());
        let ok = parse(&format!(
            "{MINIMAL}\n[serve]\nlisten = \"[::]:443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nmax_connections = 50\n"
        ))
        .unwrap();
        assert_eq!(ok.serve.listen, Some("[::]:443".parse().unwrap()));
        assert_eq!(
            ok.serve.tls,
            Some((PathBuf::from("dir/c.pem"), PathBuf::from("dir/k.pem")))
        );
        assert_eq!(ok.serve.trusted_proxies.len(), 2);
        assert_eq!(ok.serve.max_connections, 50);
        assert_eq!(ok.serve.request_timeout, 30);
        for (extra, expected) in [
            (
                "trusted_proxies = [\"10.0.0.0/8\", \"nope\"]",
                "serve.trusted_proxies[1] = \"nope\"",
            ),
            ("listen = \"8080\"", "serve.listen = \"8080\""),
            (
                "max_connections_per_address = 0",
                "serve.max_connections_per_address = \"0\": must be between 1 and 1000000",
            ),
            (
                "issue_window = 0",
                "serve.issue_window = \"0\": must be between 1 and 604800",
            ),
            (
                "request_timeout = 0",
                "serve.request_timeout = \"0\": must be between 1 and 3600",
            ),
            (
                "tls_cert = \"c.pem\"",
                "serve.tls_key: is required with serve.tls_cert",
            ),
        ] {
            let msg = parse(&format!("{MINIMAL}\n[serve]\n{extra}\n"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(expected), "{extra}: {msg}");
        }
    }
}
