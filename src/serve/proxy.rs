//! Who the client is: the peer address, or — only when the peer is one of
//! `[serve] trusted_proxies` — the address those proxies recorded in
//! `X-Forwarded-For`. One rule for the access log, the audit store's
//! `client` and the sign-in throttle.

use crate::net::Cidr;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The client's address, as the request's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct Proxies(pub Vec<Cidr>);

impl Proxies {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client of a request from `peer`: the peer itself unless it is a
    /// trusted proxy; then, reading `X-Forwarded-For` from the right (each
    /// proxy appends the address it saw), the first address that is not a
    /// trusted proxy. Anything to the left of it was written by the client
    /// and is never believed; an entry that is not an address ends the walk
    /// at the last proxy.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> ClientAddr {
        let mut client = peer.ip().to_canonical();
        if !self.trusted(client) {
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
            if !self.trusted(client) {
                break;
            }
        }
        ClientAddr(client)
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
        let proxies = Proxies(vec![
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
        assert_eq!(
            Proxies::default().client(proxy, &xff(&["1.1.1.1"])),
            ip("127.0.0.1")
        );
    }
}
