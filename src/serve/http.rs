//! The connection layer: accept loop (TCP_NODELAY, a bounded send buffer,
//! optional TLS), hyper HTTP/1.1 with capped request heads, the limits of
//! `[serve]` (open connections, see [`super::connections`]; idle and request
//! deadlines, see [`super::deadline`]), the client address behind trusted
//! proxies, graceful draining at shutdown, and the middleware every response
//! passes through (security headers, request id, access log).

use super::connections::{Conn, Open, Source};
use super::deadline::{Answered, Watched, bound_send_buffer};
use super::proxy::{ClientAddr, Proxies};
use crate::error::{Error, Result};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use openssl::ssl::{SslAcceptor, SslMethod};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_service::Service as _;

/// Largest request head (request line + headers) accepted; hyper answers
/// 431 past it. Devices and browsers send a few KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest request body (forms, the device's signed request).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A TLS handshake must finish within this time.
const TLS_TIMEOUT: Duration = Duration::from_secs(15);
/// A request whose handler ran out of `request_timeout` is answered `408`;
/// that answer gets this long more to be written before the connection is
/// closed.
pub const WRITE_GRACE: Duration = Duration::from_secs(5);

/// The connection layer's limits (`[serve]`; defaults in
/// [`crate::settings::ServeSettings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; at the limit room is made by the rules of
    /// [`super::connections`].
    pub max_connections: usize,
    /// Connections one client address may hold (trusted proxies excepted).
    pub max_connections_per_address: usize,
    /// A connection without a request in progress (idle keep-alive, or a
    /// request head still arriving) is closed after this.
    pub idle_timeout: Duration,
    /// From the request head's arrival to the last byte of the answer
    /// written: a handler still working past it is answered `408`, and a
    /// connection whose answer is not written out by then (plus
    /// [`WRITE_GRACE`]) is closed.
    pub request_timeout: Duration,
    /// At shutdown, requests in flight get this long to finish.
    pub drain_timeout: Duration,
}

/// A TLS server context from a PEM certificate chain and key (Mozilla's
/// "intermediate" settings: TLS 1.2+, ALPN http/1.1). An encrypted key is
/// opened with `passphrase`; without one it is refused: OpenSSL is never
/// left to prompt on the terminal (a server has none, or an unattended
/// one). A key that does not match the certificate is one error naming
/// both.
pub fn tls_acceptor(
    cert: &Path,
    key: &Path,
    passphrase: Option<&crate::sign::Passphrase>,
) -> Result<Arc<SslAcceptor>> {
    let fail = |what: &Path, e: openssl::error::ErrorStack| {
        Error::crypto(format!("{}: TLS", what.display()), e)
    };
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| Error::crypto("TLS", e))?;
    b.set_certificate_chain_file(cert)
        .map_err(|e| fail(cert, e))?;
    let bytes = crate::fs::read_capped_secret(key, MAX_TLS_KEY_BYTES)?;
    let pass = passphrase.map(|p| p.read_private()).transpose()?;
    let asked = std::cell::Cell::new(false);
    let pkey = openssl::pkey::PKey::private_key_from_pem_callback(&bytes, |buf| {
        asked.set(true);
        match &pass {
            Some(p) if p.len() <= buf.len() => {
                buf[..p.len()].copy_from_slice(p);
                Ok(p.len())
            }
            // No passphrase: an error, never a prompt.
            _ => Err(openssl::error::ErrorStack::get()),
        }
    })
    .map_err(|_| {
        Error::invalid(match (asked.get(), &pass) {
            (true, None) => format!(
                "{}: the TLS key is encrypted; give its passphrase with [serve] tls_key_passphrase_env or tls_key_passphrase_file",
                key.display()
            ),
            (true, Some(_)) => format!(
                "{}: cannot decrypt the TLS key: wrong passphrase?",
                key.display()
            ),
            (false, _) => format!("{}: is not a PEM private key", key.display()),
        })
    })?;
    // OpenSSL checks the pair as the key is set, and again here.
    let mismatch = |e: openssl::error::ErrorStack| {
        if e.to_string().contains("mismatch") {
            Error::invalid(format!(
                "{}: the TLS key does not match the certificate {}",
                key.display(),
                cert.display()
            ))
        } else {
            fail(key, e)
        }
    };
    b.set_private_key(&pkey).map_err(mismatch)?;
    b.check_private_key().map_err(mismatch)?;
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x08http/1.1", client)
            .ok_or(openssl::ssl::AlpnError::NOACK)
    });
    Ok(Arc::new(b.build()))
}

/// A PEM key is a few KiB; anything much bigger is not one.
const MAX_TLS_KEY_BYTES: u64 = 1 << 20;

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish (for at most `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<SslAcceptor>>,
    app: Router,
    limits: Limits,
    proxies: Arc<Proxies>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let open = Open::new(limits.max_connections, limits.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses otherwise wait ~40 ms for Nagle + delayed ACK.
        let _ = stream.set_nodelay(true);
        bound_send_buffer(&stream);
        let capped = !proxies.is_trusted(peer.ip());
        let Some(registered) = open.admit(Source::of(peer.ip()), capped) else {
            continue;
        };
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let proxies = proxies.clone();
        tokio::spawn(async move {
            let conn = registered.conn.clone();
            let served = async {
                match tls {
                    None => {
                        connection(
                            stream,
                            peer,
                            app,
                            limits,
                            proxies,
                            &registered.conn,
                            watcher,
                        )
                        .await
                    }
                    Some(acceptor) => {
                        let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                            return;
                        };
                        let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, stream) else {
                            return;
                        };
                        // Failed or slow handshakes are not worth a log line each.
                        let handshake = Pin::new(&mut stream).accept();
                        if let Ok(Ok(())) = tokio::time::timeout(TLS_TIMEOUT, handshake).await {
                            connection(
                                stream,
                                peer,
                                app,
                                limits,
                                proxies,
                                &registered.conn,
                                watcher,
                            )
                            .await;
                        }
                    }
                }
            };
            let overdue = limits.request_timeout + WRITE_GRACE;
            tokio::select! {
                () = served => {}
                () = conn.close.notified() => {}
                () = conn.overdue(overdue) => {
                    tracing::info!(
                        client = %peer.ip(),
                        "closed a connection: its answer was not written within {} s",
                        overdue.as_secs()
                    );
                }
            }
        });
    }
    drop(listener);
    // Idle connections close now; busy ones after their response.
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {} s: stopping anyway",
            limits.drain_timeout.as_secs()
        );
    }
}

/// One HTTP/1.1 connection: capped head, the idle deadline (hyper's header
/// timer runs whenever a connection waits for a request head, between
/// requests too), the request deadline (the handler's `408` here; the
/// write side is watched by the caller), and the client address.
#[allow(clippy::too_many_arguments)]
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    proxies: Arc<Proxies>,
    conn: &Arc<Conn>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let watched = Watched::new(stream, conn.clone());
    let conn = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        conn.begin();
        let client = proxies.client(peer, req.headers());
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(client);
        let answer = app.clone().call(req.map(axum::body::Body::new));
        let conn = conn.clone();
        async move {
            let res = match tokio::time::timeout(limits.request_timeout, answer).await {
                Ok(res) => res,
                Err(_) => Ok(request_timeout()),
            };
            res.map(|res| res.map(|body| Answered::new(body, conn)))
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(watched), service);
    let _ = watcher.watch(http).await;
}

/// `408`: the request (its body, or the work it asked for) took longer than
/// `request_timeout`. The connection closes after it.
fn request_timeout() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [
            (header::CONNECTION, "close"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "The request took too long.\n",
    )
        .into_response()
}

/// Headers every response carries: no sniffing, no framing, no referrer to
/// other sites (`same-origin`, not `no-referrer`: under `no-referrer`
/// browsers send `Origin: null` with our own forms, and the Origin check of
/// every POST needs the real one), a
/// strict content security policy (no scripts at all), and no caching of
/// anything personal.
pub fn security_headers(res: &mut Response) {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
    // form-action must allow Apple's callback scheme: Chromium and WebKit
    // apply it to the redirect that follows a form POST.
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' apple-remotemanagement-user-login:; frame-ancestors 'none'; base-uri 'none'",
    );
}

/// What every request passes through, in one layer (each layer costs an
/// allocation and a boxed future per request): an id (in the
/// `x-request-id` response header and on every log line the request
/// causes), `refuse` (checks before routing), the security headers, and the
/// access line: method, path (never the query, which may carry
/// identifiers), status, time, client. No headers, no bodies.
pub async fn front(
    req: Request,
    next: Next,
    refuse: impl FnOnce(&Request) -> Option<Response>,
) -> Response {
    use tracing::Instrument as _;
    let start = Instant::now();
    let id = request_id();
    let method = req.method().clone();
    // A path may carry raw UTF-8 (bidirectional controls): logged escaped.
    let path = crate::escape::visible(req.uri().path()).into_owned();
    let client = req.extensions().get::<ClientAddr>().copied();
    let span = tracing::info_span!("request", id = %id);
    let mut res = match span.in_scope(|| refuse(&req)) {
        Some(refused) => refused,
        None => next.run(req).instrument(span.clone()).await,
    };
    security_headers(&mut res);
    span.in_scope(|| {
        tracing::info!(
            target: super::log::ACCESS,
            method = %method,
            path = %path,
            status = res.status().as_u16(),
            ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
            client = %client.map_or_else(String::new, |c| c.to_string()),
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// 16 hex digits: a random prefix per process (so ids of replicas differ)
/// and a counter.
fn request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        let _ = openssl::rand::rand_bytes(&mut b);
        u32::from_be_bytes(b)
    });
    format!("{prefix:08x}{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
