//! `aspen serve`: the enrollment portal (browser) and Apple's account-driven
//! enrollment (devices), over one axum router. Handlers are thin; the
//! decisions live in [`service::Service`].

pub mod access_token;
pub mod account_driven;
pub mod ade;
mod apple_error;
pub mod ca;
pub mod codes;
mod connections;
mod csrf;
mod deadline;
pub mod demo;
mod directory;
mod form;
mod health;
pub mod http;
pub mod issue_limit;
pub mod listen;
pub mod log;
pub mod offload;
mod oidc;
mod pages;
mod portal;
pub mod proxy;
mod readiness;
mod repeat;
mod restriction;
pub mod service;
mod session;
pub mod throttle;
mod web;

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::sign::Signer;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use service::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use web::PROFILE_CONTENT_TYPE;

/// Every route. Anything else (including `..` paths, which are never
/// resolved against a folder: nothing is served from disk) is a 404 page;
/// so are Automated Device Enrollment (`[ade]`) and the CA's webhook
/// (`[ca]`) when the settings do not turn them on.
pub fn router(service: Arc<Service>) -> Router {
    let settings = &service.settings;
    let mut optional = Router::new();
    if let Some(ade) = &settings.ade {
        optional = optional.route(ade::ENROLL_PATH, post(ade::enroll));
        if ade.web() {
            optional = optional.route(ade::WEB_PATH, get(ade::web_page).post(ade::web_signin));
        }
    }
    if settings
        .ca
        .as_ref()
        .is_some_and(|c| c.scep_webhook_key.is_some())
    {
        optional = optional.route(ca::SCEP_CHALLENGE_PATH, post(ca::scep_challenge));
    }
    Router::new()
        .merge(optional)
        .route("/", get(portal::home))
        .route(
            "/signin",
            get(portal::signin::signin_page).post(portal::signin::signin),
        )
        .route("/signout", post(portal::signin::signout))
        .route(crate::identity::CALLBACK_PATH, get(oidc::callback))
        .route(crate::identity::SIGNED_OUT_PATH, get(oidc::signed_out))
        .route("/access", get(portal::choice::access))
        .route(
            "/choose",
            get(portal::choice::choose_page).post(portal::choice::choose),
        )
        .route(
            "/choose/scope",
            get(portal::choice::scope_page).post(portal::choice::scope),
        )
        .route("/privacy", get(portal::privacy::privacy_page))
        .route("/enroll", get(portal::download::enroll_page))
        .route(
            "/enroll/profile.mobileconfig",
            get(portal::download::download),
        )
        .route("/assets/aspen.css", get(portal::stylesheet))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/.well-known/com.apple.remotemanagement",
            get(account_driven::well_known),
        )
        .route(
            account_driven::DISCOVERY_PATH,
            get(account_driven::well_known),
        )
        .route(account_driven::ENROLL_PATH, post(account_driven::enroll))
        .route(
            account_driven::LOGIN_PATH,
            get(account_driven::login_page).post(account_driven::login),
        )
        .fallback(portal::not_found)
        .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(service.clone(), front))
        .with_state(service)
}

/// The one middleware: [`http::front`] with the checks of [`csrf::refuse`].
async fn front(
    axum::extract::State(svc): axum::extract::State<Arc<Service>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    http::front(req, next, |req| csrf::refuse(&svc, req)).await
}

/// What `aspen serve` was asked to do.
pub struct Options {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The TLS key's passphrase, when it is encrypted.
    pub tls_key_passphrase: Option<crate::sign::Passphrase>,
}

/// Room kept for descriptors other than connections (the store, the
/// directory, signing, logs).
const SPARE_DESCRIPTORS: u64 = 128;

/// Loads what the server needs once (signer, secret, store, directory),
/// then serves until SIGTERM, SIGINT (Ctrl-C), SIGHUP or SIGQUIT: it stops accepting, lets
/// the requests in flight finish (at most `[serve] drain_timeout`), flushes
/// the audit writer and returns. `ready` is told the bound address.
pub fn run(
    settings: Settings,
    signer: Option<Signer>,
    listener: std::net::TcpListener,
    options: Options,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let location = settings.require_store()?;
    let keys = crate::tokens::Keys::load(&settings.require_portal()?.secret_file)?;
    let tls = options
        .tls
        .as_ref()
        .map(|(cert, key)| http::tls_acceptor(cert, key, options.tls_key_passphrase.as_ref()))
        .transpose()?;
    let conf = &settings.serve;
    let limits = http::Limits {
        max_connections: fit_descriptors(u64::from(conf.max_connections)) as usize,
        max_connections_per_address: conf.max_connections_per_address as usize,
        idle_timeout: Duration::from_secs(conf.idle_timeout.into()),
        request_timeout: Duration::from_secs(conf.request_timeout.into()),
        drain_timeout: Duration::from_secs(conf.drain_timeout.into()),
    };
    let proxies = Arc::new(proxy::Proxies::new(conf.trusted_proxies.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::invalid(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        // Installed before the server is announced: a signal that comes
        // right after start-up still drains instead of killing.
        let stop = stop_signal()?;
        let store = crate::store::open(&location).await?;
        let service = Arc::new(Service::new(settings, keys, signer.map(Arc::new), store)?);
        // The identity provider is read once before serving (a failure is
        // logged, and `/readyz` says not ready until it can be read), then
        // kept fresh.
        let idp = match &service.idp {
            Some(idp) => {
                let _ = idp.refresh().await;
                Some(tokio::spawn(idp.clone().keep_fresh()))
            }
            None => None,
        };
        let upkeep = tokio::spawn(upkeep(service.clone()));
        let app = router(service.clone());
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::invalid(format!("listener: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::invalid(format!("listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::invalid(format!("listener: {e}")))?;
        ready(addr);
        let service_for_stop = service.clone();
        http::serve(listener, tls, app, limits, proxies, async move {
            let which = stop.await;
            service_for_stop.stopping();
            tracing::info!("{which}: finishing the requests in flight, then stopping");
        })
        .await;
        upkeep.abort();
        if let Some(idp) = idp {
            idp.abort();
        }
        let flushed = service.flush().await;
        match &flushed {
            Ok(()) => tracing::info!("audit records flushed; stopped"),
            Err(e) => tracing::error!("flushing the audit records: {e}"),
        }
        flushed
    })
}

/// Resolves with the signal's name on SIGTERM (systemd, `kill`), SIGINT
/// (Ctrl-C), SIGHUP (the terminal closed) or SIGQUIT (Ctrl-\\): each
/// drains and flushes the audit records, and `--demo` then removes its
/// folder (signing key, portal secret) — left to their default actions,
/// the last two would end the process with the folder still there.
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |e| Error::invalid(format!("installing the signal handlers: {e}"));
        let mut term = signal(SignalKind::terminate()).map_err(fail)?;
        let mut int = signal(SignalKind::interrupt()).map_err(fail)?;
        let mut hup = signal(SignalKind::hangup()).map_err(fail)?;
        let mut quit = signal(SignalKind::quit()).map_err(fail)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
                _ = quit.recv() => "SIGQUIT",
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// How often the store is purged of what can never be used again.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Periodic upkeep while serving: the store's purge (expired codes and
/// sessions, idle throttle buckets).
async fn upkeep(service: Arc<Service>) {
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + PURGE_EVERY, PURGE_EVERY);
    loop {
        every.tick().await;
        match service.store.purge(crate::audit::now()).await {
            Ok(n) if n > 0 => tracing::info!("purged {n} expired rows from the store"),
            Ok(_) => {}
            Err(e) => tracing::warn!("purging the store: {e}"),
        }
    }
}

/// `max_connections`, within the process's limit on open files: the soft
/// limit is raised (up to the hard one) to fit; if it cannot be, fewer
/// connections are allowed, with a warning.
fn fit_descriptors(wanted: u64) -> u64 {
    #[cfg(unix)]
    {
        let need = wanted + SPARE_DESCRIPTORS;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return wanted;
        }
        // rlim_t is u64 on Linux, not everywhere.
        #[allow(clippy::unnecessary_cast)]
        let (soft, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
        if soft >= need {
            return wanted;
        }
        let raised = need.min(hard);
        lim.rlim_cur = raised as libc::rlim_t;
        // SAFETY: as above.
        let now = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            raised
        } else {
            soft
        };
        if now >= need {
            return wanted;
        }
        let fits = now.saturating_sub(SPARE_DESCRIPTORS).max(16);
        tracing::warn!(
            "[serve] max_connections = {wanted} does not fit the open-file limit ({now}): allowing {fits}; raise LimitNOFILE"
        );
        fits
    }
    #[cfg(not(unix))]
    wanted
}
