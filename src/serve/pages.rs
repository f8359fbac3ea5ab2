//! The portal's pages (askama templates in `templates/`) and what each shows.
//! Values are escaped by askama; nothing here runs script.

use super::csrf::Csrf;
use super::service::Service;
use crate::model::directory::User;
use askama::Template;
use askama_web::WebTemplate;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What every page shows around its content.
pub struct Chrome {
    pub org: String,
    /// The signed-in user, if any (shows "Sign out").
    pub user: Option<String>,
    /// The CSRF token of this browser's forms.
    pub csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
pub struct SignIn {
    pub chrome: Chrome,
    /// Where the form posts: the portal's or the account-driven sign-in.
    pub action: &'static str,
    pub user_identifier: Option<String>,
    pub error: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "access.html")]
pub struct Access {
    pub chrome: Chrome,
    pub policy: String,
    pub description: Option<String>,
    pub summary: String,
    pub previous: Option<&'static str>,
    pub next: &'static str,
}

pub struct ChoiceOption {
    pub value: &'static str,
    pub label: String,
    pub help: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "choose.html")]
pub struct Choose {
    pub chrome: Chrome,
    pub action: &'static str,
    pub legend: String,
    pub field: &'static str,
    pub options: Vec<ChoiceOption>,
}

#[derive(Template, WebTemplate)]
#[template(path = "privacy.html")]
pub struct Privacy {
    pub chrome: Chrome,
    pub kind: &'static str,
    pub can: Vec<String>,
    pub cannot: Vec<String>,
    /// Whether the user chose (and may change the answer).
    pub choice: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "download.html")]
pub struct Download {
    pub chrome: Chrome,
    pub kind: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "user_enrollment.html")]
pub struct UserEnrollment {
    pub chrome: Chrome,
    pub managed_apple_id: String,
    pub code: String,
    pub code_expires: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct Message {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
    /// (href, text) of the way on.
    pub link: Option<(&'static str, &'static str)>,
}

pub fn chrome(svc: &Service, user: Option<&User>, csrf: &Csrf) -> Chrome {
    Chrome {
        org: svc.org().to_owned(),
        user: user.map(|u| u.email.clone()),
        csrf: csrf.token(),
    }
}

/// A page, with the CSRF cookie set when the browser had none.
pub fn page(status: StatusCode, csrf: &Csrf, body: impl IntoResponse) -> Response {
    let mut res = (status, body).into_response();
    if let Some(cookie) = &csrf.set_cookie {
        res.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    res
}

pub fn message(
    svc: &Service,
    user: Option<&User>,
    csrf: &Csrf,
    status: StatusCode,
    title: &str,
    text: impl Into<String>,
    link: Option<(&'static str, &'static str)>,
) -> Response {
    page(
        status,
        csrf,
        Message {
            chrome: chrome(svc, user, csrf),
            title: title.to_owned(),
            message: text.into(),
            link,
        },
    )
}

pub fn internal(svc: &Service, csrf: &Csrf, err: crate::Error) -> Response {
    tracing::error!("{err}");
    message(
        svc,
        None,
        csrf,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete this step. Try again, or contact your IT department.",
        Some(("/", "Start again")),
    )
}

/// `429`: the user reached `[serve] issues_per_user` (see
/// [`super::issue_limit`]).
pub fn limited(
    svc: &Service,
    user: &User,
    csrf: &Csrf,
    limited: super::issue_limit::Limited,
) -> Response {
    let minutes = limited.wait.as_secs().div_ceil(60).max(1);
    let res = message(
        svc,
        Some(user),
        csrf,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        format!(
            "You have asked for profiles or changed your answers many times in a short while. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ),
        Some(("/", "Start again")),
    );
    super::throttle::too_many(res, limited.wait)
}

/// `503`: the store could not say whether the browser's session is live
/// (see [`Csrf::unavailable`]). An error, not "sign in": the user is
/// probably signed in, and signing in needs the store too.
pub fn unavailable(svc: &Service, csrf: &Csrf) -> Response {
    let mut res = message(
        svc,
        None,
        csrf,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The server cannot check your sign-in right now. Try again in a minute; if it keeps happening, contact your IT department.",
        Some(("/", "Try again")),
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("30"),
    );
    res
}

pub fn csrf_failed(svc: &Service, csrf: &Csrf) -> Response {
    message(
        svc,
        None,
        csrf,
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form expired or did not come from this site. Go back, reload the page and try again.",
        Some(("/", "Start again")),
    )
}
