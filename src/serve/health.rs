//! Health endpoints for load balancers and systemd: `/healthz` says the
//! process answers; `/readyz` says it can do its work (the store takes
//! writes, the directory has users, the signer is loaded) and is not
//! shutting down. Neither names a user, a file or a secret.

use super::service::Service;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

pub async fn readyz(State(svc): State<Arc<Service>>) -> Response {
    let checks = svc.readiness().await;
    let ready = checks.iter().all(|(_, r)| r.is_ok());
    let mut body = serde_json::Map::new();
    body.insert("ready".into(), ready.into());
    for (name, result) in checks {
        let text = match result {
            Ok(ok) => ok.to_owned(),
            Err(why) => why,
        };
        body.insert(name.into(), text.into());
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}
