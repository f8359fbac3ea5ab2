//! A posted form, checked: its CSRF token must match this browser's
//! binding ([`Csrf`]) before any handler sees it. The one place the check
//! is made; a form that fails it gets the "try again" page.

use super::csrf::Csrf;
use super::pages;
use super::service::Service;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A form with a CSRF token field.
pub trait CsrfField {
    fn csrf_token(&self) -> &str;
}

/// A posted form whose CSRF token matched this browser's binding: the one
/// place the check is made. A form that fails it is answered with the
/// "try again" page before the handler runs.
pub struct Checked<T> {
    pub csrf: Csrf,
    pub form: T,
}

impl<T> axum::extract::FromRequest<Arc<Service>> for Checked<T>
where
    T: serde::de::DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        svc: &Arc<Service>,
    ) -> Result<Checked<T>, Response> {
        let csrf = Csrf::for_request(svc, req.headers()).await;
        let axum::Form(form) = axum::Form::<T>::from_request(req, svc)
            .await
            .map_err(IntoResponse::into_response)?;
        if csrf.unavailable {
            return Err(pages::unavailable(svc, &csrf));
        }
        if !csrf.check(form.csrf_token()) {
            return Err(pages::csrf_failed(svc, &csrf));
        }
        Ok(Checked { csrf, form })
    }
}
