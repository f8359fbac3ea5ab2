//! Who the client is: the peer address, or — only when the peer is one of
//! `[serve] trusted_proxies` — the address those proxies recorded in
//! `X-Forwarded-For`. One rule for the access log, the audit store's
//! `client` and the sign-in throttle.
//!
//! Behind a proxy that nobody listed, every client looks like the proxy:
//! they share one sign-in throttle bucket, and one wrong code a few seconds
//! locks them all out. So when `X-Forwarded-For` arrives from a loopback or
//! private address while `trusted_proxies` is empty, the server says so,
//! loudly, once.

use crate::net::Cidr;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

/// The client's address, as the request's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Default)]
pub struct Proxies {
    trusted: Vec<Cidr>,
    /// The warning about an unlisted proxy was given.
    warned: AtomicBool,
}

impl Proxies {
    pub fn new(trusted: Vec<Cidr>) -> Proxies {
        Proxies {
            trusted,
            warned: AtomicBool::new(false),
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// Warns once when a peer that looks like a proxy (loopback or private)
    /// forwards for clients while no proxy is trusted.
    fn warn_unlisted(&self, peer: IpAddr, headers: &HeaderMap) {
        if !self.trusted.is_empty()
            || self.warned.load(Ordering::Relaxed)
            || !headers.contains_key("x-forwarded-for")
            || !looks_like_a_proxy(peer)
            || self.warned.swap(true, Ordering::Relaxed)
        {
            return;
        }
        tracing::warn!(
            peer = %peer,
            "X-Forwarded-For arrived from {peer}, but [serve] trusted_proxies is empty: every client behind that proxy counts as {peer}, and they all share one sign-in throttle (a few wrong codes lock everyone out). If {peer} is your reverse proxy, add it to [serve] trusted_proxies. (Said once.)"
        );
    }

    /// The client of a request from `peer`: the peer itself unless it is a
    /// trusted proxy; then, reading `X-Forwarded-For` from the right (each
    /// proxy appends the address it saw), the first address that is not a
    /// trusted proxy. Anything to the left of it was written by the client
    /// and is never believed; an entry that is not an address ends the walk
    /// at the last proxy.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> ClientAddr {
        let mut client = peer.ip().to_canonical();
        if !self.is_trusted(client) {
            self.warn_unlisted(client, headers);
            return ClientAddr(client);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.is_trusted(client) {
                break;
            }
        }
        ClientAddr(client)
    }
}

/// Loopback, private (RFC 1918, IPv6 unique local), link-local or shared
/// (RFC 6598) addresses: where a reverse proxy usually stands.
fn looks_like_a_proxy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Cidr;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = Proxies::new(vec![
            Cidr::parse("127.0.0.1").unwrap(),
            Cidr::parse("10.0.0.0/8").unwrap(),
        ]);
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let ip = |s: &str| ClientAddr(s.parse().unwrap());
        // From an untrusted peer the header is ignored.
        assert_eq!(
            proxies.client(stranger, &xff(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        // From a proxy: the rightmost address that is not a proxy; what the
        // client wrote on the left is not believed.
        assert_eq!(
            proxies.client(proxy, &xff(&["6.6.6.6, 198.51.100.1, 10.1.1.1"])),
            ip("198.51.100.1")
        );
        assert_eq!(
            proxies.client(proxy, &xff(&["6.6.6.6", "198.51.100.1"])),
            ip("198.51.100.1")
        );
        // No header, or garbage: the last proxy.
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), ip("127.0.0.1"));
        assert_eq!(
            proxies.client(proxy, &xff(&["6.6.6.6, junk, 10.1.1.1"])),
            ip("10.1.1.1")
        );
        // Nothing trusted: always the peer.
        assert!(looks_like_a_proxy("10.1.2.3".parse().unwrap()));
        assert!(looks_like_a_proxy("fd00::1".parse().unwrap()));
        assert!(!looks_like_a_proxy("203.0.113.9".parse().unwrap()));
        assert_eq!(
            Proxies::default().client(proxy, &xff(&["1.1.1.1"])),
            ip("127.0.0.1")
        );
    }
}
