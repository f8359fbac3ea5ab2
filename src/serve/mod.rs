//! `aspen serve`: the enrollment portal (browser) and Apple's account-driven
//! enrollment (devices), over one axum router. Handlers are thin; the
//! decisions live in [`service::Service`].

pub mod account_driven;
pub mod demo;
mod directory;
pub mod http;
pub mod log;
mod pages;
mod portal;
pub mod service;
pub mod tokens;
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

pub use web::PROFILE_CONTENT_TYPE;

/// Every route. Anything else (including `..` paths, which are never
/// resolved against a folder: nothing is served from disk) is a 404 page.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", get(portal::home))
        .route("/signin", get(portal::signin_page).post(portal::signin))
        .route("/signout", post(portal::signout))
        .route("/access", get(portal::access))
        .route("/choose", get(portal::choose_page).post(portal::choose))
        .route("/choose/scope", get(portal::scope_page).post(portal::scope))
        .route("/privacy", get(portal::privacy_page))
        .route("/enroll", get(portal::enroll_page))
        .route("/enroll/profile.mobileconfig", get(portal::download))
        .route("/assets/aspen.css", get(portal::stylesheet))
        .route(
            "/.well-known/com.apple.remotemanagement",
            get(account_driven::well_known),
        )
        .route(account_driven::ENROLL_PATH, post(account_driven::enroll))
        .route(
            account_driven::LOGIN_PATH,
            get(account_driven::login_page).post(account_driven::login),
        )
        .fallback(portal::not_found)
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            web::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            web::one_trusted_header,
        ))
        .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(http::security_headers))
        .layer(axum::middleware::from_fn(http::observe))
        .with_state(service)
}

/// What `aspen serve` was asked to do.
pub struct Options {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Loads what the server needs once (signer, secret, store, directory),
/// then serves until Ctrl-C. `ready` is told the bound address.
pub fn run(
    settings: Settings,
    signer: Option<Signer>,
    listener: std::net::TcpListener,
    options: Options,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let location = settings.require_store()?;
    let keys = tokens::Keys::load(&settings.require_portal()?.secret_file)?;
    let tls = options
        .tls
        .as_ref()
        .map(|(cert, key)| http::tls_acceptor(cert, key))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::invalid(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let store = crate::store::open(&location).await?;
        let service = Arc::new(Service::new(settings, keys, signer.map(Arc::new), store)?);
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
        http::serve(listener, tls, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        service.flush().await
    })
}
