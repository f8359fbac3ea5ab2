//! The open connections, for `[serve] max_connections` and
//! `max_connections_per_address`, and what each one is doing: waiting for a
//! request head (opened, or between requests), or serving a request (from
//! its complete head to the last byte of its answer written).
//!
//! Who goes when there is no room, most expendable first:
//! - a client address (an IPv6 client by its /64) at its own limit makes
//!   room among its own connections, the one waiting longest for a request
//!   head first; if all of them are serving, the new connection is closed;
//! - at `max_connections`, the connection waiting longest for a request head
//!   goes (idle or slow clients: a flood of them sheds itself); only when
//!   every connection is serving a request does one go, of the address
//!   holding the most.
//!
//! So a request in progress (an upload, a download) is never closed to make
//! room for connections that have not sent a request, and one source cannot
//! take every place. Trusted proxies (`[serve] trusted_proxies`) carry many
//! clients on one address: the per-address limit does not apply to them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// The key connections are counted under: an IPv4 address, or an IPv6
/// address's /64 (which one host typically owns whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4(u32),
    V6(u64),
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The open connections.
pub struct Open {
    epoch: Instant,
    max: usize,
    per_address: usize,
    conns: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next: u64,
    by_id: HashMap<u64, Arc<Conn>>,
    per_source: HashMap<Source, usize>,
}

/// One open connection.
pub struct Conn {
    /// [`Open::epoch`], so every connection's times compare.
    epoch: Instant,
    source: Source,
    /// When it last began waiting for a request head (opened, or its last
    /// answer written), in ms after the epoch.
    since: AtomicU64,
    /// When the request it serves had its head, in ms after the epoch,
    /// plus one; 0 while it waits for a head.
    serving: AtomicU64,
    /// The request's answer has been handed over whole (its body ended or
    /// was dropped): once written out, the request is done.
    answered: AtomicBool,
    /// Notified when a request begins (for the deadline's watch).
    began: Notify,
    /// Notified to close it (evicted).
    pub close: Notify,
}

/// A connection's place in [`Open`], given back when it ends.
pub struct Registered {
    open: Arc<Open>,
    id: u64,
    pub conn: Arc<Conn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut table = self.open.conns.lock().unwrap_or_else(|p| p.into_inner());
        if table.by_id.remove(&self.id).is_some() {
            table.forget(&self.conn);
        }
    }
}

impl Table {
    fn forget(&mut self, conn: &Conn) {
        if let Some(n) = self.per_source.get_mut(&conn.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&conn.source);
            }
        }
    }

    /// Closes connection `id` (it is told, and its place is free now).
    fn evict(&mut self, id: u64) {
        if let Some(victim) = self.by_id.remove(&id) {
            self.forget(&victim);
            victim.close.notify_one();
        }
    }

    /// The connection waiting longest for a request head, of `source` only
    /// when given.
    fn longest_waiting(&self, source: Option<Source>) -> Option<u64> {
        self.by_id
            .iter()
            .filter(|(_, c)| !c.is_serving() && source.is_none_or(|s| c.source == s))
            .min_by_key(|(_, c)| c.since.load(Ordering::Relaxed))
            .map(|(id, _)| *id)
    }

    /// The longest-serving connection of the address holding the most.
    fn of_the_largest_holder(&self) -> Option<u64> {
        let (source, _) = self.per_source.iter().max_by_key(|(_, n)| **n)?;
        self.by_id
            .iter()
            .filter(|(_, c)| c.source == *source)
            .min_by_key(|(_, c)| c.serving.load(Ordering::Relaxed))
            .map(|(id, _)| *id)
    }
}

impl Open {
    pub fn new(max: usize, per_address: usize) -> Arc<Open> {
        Arc::new(Open {
            epoch: Instant::now(),
            max: max.max(1),
            per_address: per_address.max(1),
            conns: Mutex::new(Table::default()),
        })
    }

    /// Registers a new connection from `source` (`capped`: counted against
    /// the per-address limit), making room by the module's rules; `None`
    /// when it is refused (its address's connections are all serving).
    pub fn admit(self: &Arc<Self>, source: Source, capped: bool) -> Option<Registered> {
        let mut table = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if capped && table.per_source.get(&source).copied().unwrap_or(0) >= self.per_address {
            match table.longest_waiting(Some(source)) {
                Some(id) => {
                    table.evict(id);
                    tracing::debug!(
                        "at max_connections_per_address: closed one of its idle connections"
                    );
                }
                None => {
                    tracing::debug!(
                        "at max_connections_per_address, all serving: refused a connection"
                    );
                    return None;
                }
            }
        }
        if table.by_id.len() >= self.max
            && let Some(id) = table
                .longest_waiting(None)
                .or_else(|| table.of_the_largest_holder())
        {
            table.evict(id);
            tracing::debug!("at max_connections: closed a connection to make room");
        }
        let conn = Arc::new(Conn {
            epoch: self.epoch,
            source,
            since: AtomicU64::new(millis_since(self.epoch)),
            serving: AtomicU64::new(0),
            answered: AtomicBool::new(false),
            began: Notify::new(),
            close: Notify::new(),
        });
        table.next += 1;
        let id = table.next;
        table.by_id.insert(id, conn.clone());
        *table.per_source.entry(source).or_insert(0) += 1;
        Some(Registered {
            open: self.clone(),
            id,
            conn,
        })
    }
}

impl Conn {
    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) != 0
    }

    /// A request's head arrived: it is served from now on.
    pub fn begin(&self) {
        self.answered.store(false, Ordering::Relaxed);
        self.serving
            .store(millis_since(self.epoch) + 1, Ordering::Relaxed);
        self.began.notify_one();
    }

    /// The answer was handed over whole (its body ended or was dropped).
    pub fn answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    /// Everything written so far reached the socket: if the answer was
    /// complete, the request is done and the connection waits for the
    /// next head from now on.
    pub fn flushed(&self) {
        if self.answered.swap(false, Ordering::Relaxed) && self.is_serving() {
            self.since
                .store(millis_since(self.epoch), Ordering::Relaxed);
            self.serving.store(0, Ordering::Relaxed);
        }
    }

    /// Resolves when a request has been served for longer than `limit`
    /// without its answer written out (never while the connection waits
    /// for a request head).
    pub async fn overdue(&self, limit: std::time::Duration) {
        loop {
            let began = self.serving.load(Ordering::Relaxed);
            if began == 0 {
                self.began.notified().await;
                continue;
            }
            let due = self.epoch + std::time::Duration::from_millis(began - 1) + limit;
            tokio::time::sleep_until(due.into()).await;
            if self.serving.load(Ordering::Relaxed) == began {
                return;
            }
        }
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Source {
        Source::of(s.parse().unwrap())
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    }

    #[tokio::test]
    async fn a_request_in_progress_outlives_idle_connections() {
        let open = Open::new(3, 2);
        let busy = open.admit(ip("192.0.2.1"), true).unwrap();
        busy.conn.begin();
        let idle: Vec<_> = (0..2)
            .map(|_| open.admit(ip("198.51.100.7"), true).unwrap())
            .collect();
        // Full: the newcomer takes an idle connection's place, never the
        // request in progress.
        let late = open.admit(ip("203.0.113.5"), true).unwrap();
        assert!(idle.iter().any(|r| !open_has(&open, r)));
        assert!(open_has(&open, &busy) && open_has(&open, &late));
        let more = open.admit(ip("198.51.100.7"), true).unwrap();
        assert!(open_has(&open, &more) && open_has(&open, &busy));
        // One address at its own limit makes room among its own.
        let open = Open::new(10, 2);
        let first = open.admit(ip("198.51.100.7"), true).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let _second = open.admit(ip("198.51.100.7"), true).unwrap();
        let _third = open.admit(ip("198.51.100.7"), true).unwrap();
        assert!(!open_has(&open, &first));
        assert_eq!(open.conns.lock().unwrap().by_id.len(), 2);
        // Done: the answer written, the connection waits again.
        busy.conn.answered();
        busy.conn.flushed();
        assert!(!busy.conn.is_serving());
    }

    #[test]
    fn an_address_whose_connections_all_serve_is_refused_more() {
        let open = Open::new(10, 2);
        let a = open.admit(ip("192.0.2.1"), true).unwrap();
        let b = open.admit(ip("192.0.2.1"), true).unwrap();
        a.conn.begin();
        b.conn.begin();
        assert!(open.admit(ip("192.0.2.1"), true).is_none());
        // Not capped (a trusted proxy): admitted.
        assert!(open.admit(ip("192.0.2.1"), false).is_some());
    }

    fn open_has(open: &Open, r: &Registered) -> bool {
        open.conns.lock().unwrap().by_id.contains_key(&r.id)
    }
}
