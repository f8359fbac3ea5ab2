//! The connection layer: accept loop (TCP_NODELAY, optional TLS), hyper
//! HTTP/1.1 with capped request heads and a header timeout, and the
//! middleware every response passes through (security headers, access log).

use crate::error::{Error, Result};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
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
/// A client must send its request head within this time (slow-loris).
const HEAD_TIMEOUT: Duration = Duration::from_secs(15);
/// A TLS handshake must finish within this time.
const TLS_TIMEOUT: Duration = Duration::from_secs(15);

/// A TLS server context from a PEM certificate chain and key (Mozilla's
/// "intermediate" settings: TLS 1.2+, ALPN http/1.1).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<Arc<SslAcceptor>> {
    let fail = |what: &Path, e: openssl::error::ErrorStack| {
        Error::crypto(format!("{}: TLS", what.display()), e)
    };
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| Error::crypto("TLS", e))?;
    b.set_certificate_chain_file(cert)
        .map_err(|e| fail(cert, e))?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| fail(key, e))?;
    b.check_private_key().map_err(|e| fail(key, e))?;
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x08http/1.1", client)
            .ok_or(openssl::ssl::AlpnError::NOACK)
    });
    Ok(Arc::new(b.build()))
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<SslAcceptor>>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
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
            () = &mut shutdown => return,
        };
        // Small responses otherwise wait ~40 ms for Nagle + delayed ACK.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(stream, peer, app).await,
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
                        connection(stream, peer, app).await;
                    }
                }
            }
        });
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, app: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().call(req.map(axum::body::Body::new))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Headers every response carries: no sniffing, no framing, no referrer to
/// other sites (`same-origin`, not `no-referrer`: under `no-referrer`
/// browsers send `Origin: null` with our own forms, and the Origin check of
/// every POST needs the real one), a
/// strict content security policy (no scripts at all), and no caching of
/// anything personal.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
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
    res
}

/// Gives every request an id (in the `x-request-id` response header and on
/// every log line the request causes) and writes its access line: method,
/// path (never the query, which may carry identifiers), status, time,
/// client. No headers, no bodies.
pub async fn observe(req: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let start = Instant::now();
    let id = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("request", id = %id);
    let mut res = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();
    tracing::info!(
        target: super::log::ACCESS,
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
        client = %client,
    );
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
