//! The Rust side of the test identity provider in `tests/idp/` (a real
//! OpenID provider, oidc-provider, behind a small Node script): start it on
//! a free loopback port and stop it even on failure ([`Idp`], killed on
//! drop; it also exits when its stdin, a pipe this side holds, closes), its
//! test-only admin API, and [`IdpBrowser`], a cookie-jar HTTP client that
//! walks its development login and consent pages as a person would.
#![allow(dead_code)]

use crate::common;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The client secret aspen's client has at the test IdP (unreserved
/// characters only: see tests/idp/README.md, "client_secret_basic").
pub const CLIENT_SECRET: &str = "test-only-oidc-secret.Zq9_x";
/// aspen's client at the IdP.
pub const CLIENT_ID: &str = "aspen-enroll";
/// The public client an `apple-oauth2` device is.
pub const DEVICE_CLIENT_ID: &str = "apple-device";
/// The audience of the IdP's access tokens for aspen (`apple-oauth2`).
pub const RESOURCE: &str = "urn:aspen:device";

/// A running test IdP.
pub struct Idp {
    child: Child,
    /// Held open: the provider exits when it closes.
    _stdin: ChildStdin,
    pub issuer: String,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
    /// Holds the client secret file aspen reads (0600).
    pub dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The accounts of the tests: their `id` is the `sub`; `groups` is the
/// groups claim. dana and frank are in no users.csv.
pub fn accounts() -> Value {
    json!([
        {"id": "alice", "email": "alice@contoso.com", "preferred_username": "alice@contoso.com",
         "name": "Alice", "groups": ["Staff"]},
        {"id": "bob", "email": "bob@contoso.com", "preferred_username": "bob@contoso.com",
         "name": "Bob", "groups": ["Staff"]},
        {"id": "carol", "email": "carol@contoso.com", "preferred_username": "carol@contoso.com",
         "name": "Carol", "groups": ["Contractors"]},
        {"id": "dana", "email": "dana@contoso.com", "preferred_username": "dana@contoso.com",
         "name": "Dana", "groups": ["6f1c2a9e-5b0d-4c3e-9a8f-7e6d5c4b3a21"]},
        {"id": "frank", "email": "frank@contoso.com", "preferred_username": "frank@appleid.contoso.com",
         "name": "Frank", "groups": ["Contractors"]},
        {"id": "erin", "email": "erin@contoso.com", "email_verified": false,
         "preferred_username": "erin@contoso.com", "name": "Erin", "groups": ["Staff"]},
    ])
}

/// Writes aspen's client secret to `dir`/oidc.secret (0600, one line);
/// its path.
pub fn write_secret(dir: &std::path::Path) -> String {
    let secret = dir.join("oidc.secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    secret.display().to_string()
}

/// Whether the test IdP can run here: node on the PATH and `npm ci` done
/// in tests/idp. When not, the test should return early: one loud line,
/// or a failure under `CI=true`.
pub fn available() -> bool {
    if !common::have_tool("node", "nodejs") {
        return false;
    }
    let modules = common::root().join("tests/idp/node_modules/oidc-provider");
    if !modules.is_dir() {
        common::skip_or_fail(
            "tests/idp/node_modules is missing: run (cd tests/idp && npm ci) (bash .ci/run does)",
        );
        return false;
    }
    true
}

impl Idp {
    /// Starts the IdP on a free port (`port` 0) or on `port`, with the test
    /// accounts and no client yet (aspen's redirect URI is known only
    /// once aspen listens: see [`Idp::register`]).
    pub fn start(port: u16) -> Idp {
        Idp::start_with(port, json!({}))
    }

    /// [`Idp::start`] with more keys in the config (e.g. `resource`).
    pub fn start_with(port: u16, extra: Value) -> Idp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = json!({"port": port, "clients": [], "accounts": accounts()});
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let config_path = dir.path().join("idp.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        write_secret(dir.path());
        let mut child = Command::new("node")
            .arg(common::root().join("tests/idp/provider.mjs"))
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is needed by this test: install nodejs (bash .ci/run does)");
        let stdin = child.stdin.take().unwrap();
        // stderr is drained into `log` for the whole life of the process.
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
            // Nothing else is ever written; the pipe stays open until exit.
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let parsed: Value = match serde_json::from_str(ready.trim()) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the test IdP did not start: {}", log.lock().unwrap());
            }
        };
        Idp {
            child,
            _stdin: stdin,
            issuer: parsed["issuer"].as_str().unwrap().to_owned(),
            port: parsed["port"].as_u64().unwrap() as u16,
            log,
            dir,
        }
    }

    /// The client secret file aspen reads (0600), as an absolute path.
    pub fn secret_file(&self) -> String {
        self.dir.path().join("oidc.secret").display().to_string()
    }

    /// The `[oidc]` table for aspen with this issuer, plus `extra` lines.
    pub fn settings(&self, extra: &str) -> String {
        format!(
            "\n[oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = {:?}\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n{extra}\n",
            self.issuer,
            self.secret_file()
        )
    }

    /// Registers aspen at `aspen_url` as the IdP's client (its redirect and
    /// post-logout URIs), and Apple's device as a public client.
    pub async fn register(&self, aspen_url: &str) {
        let clients = json!([
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "redirect_uris": [format!("{aspen_url}/oidc/callback")],
             "post_logout_redirect_uris": [format!("{aspen_url}/oidc/signed-out")],
             "token_endpoint_auth_method": "client_secret_basic"},
            {"client_id": DEVICE_CLIENT_ID, "token_endpoint_auth_method": "none",
             "redirect_uris": ["apple-remotemanagement-user-login://oauth2-callback"],
             "grant_types": ["authorization_code", "refresh_token"]},
        ]);
        let res = self.admin("clients", json!({ "clients": clients })).await;
        assert_eq!(
            res["clients"],
            json!([CLIENT_ID, DEVICE_CLIENT_ID]),
            "{res}"
        );
    }

    /// `POST /__test/WHAT` with `body`: its JSON answer.
    pub async fn admin(&self, what: &str, body: Value) -> Value {
        let res = reqwest::Client::new()
            .post(format!("{}/__test/{what}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "POST /__test/{what}: {}",
            res.status()
        );
        res.json().await.unwrap()
    }

    /// Rewrites the ID tokens it serves from now on (`off` to stop).
    pub async fn tamper(&self, mode: &str) {
        assert_eq!(
            self.admin("tamper", json!({ "mode": mode })).await["mode"],
            mode
        );
    }

    /// A new signing key; the JWKS then holds only it. Its `kid`.
    pub async fn rotate(&self) -> String {
        self.admin("rotate", json!({})).await["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The last ID token as issued and as served, and the access token.
    pub async fn last_token(&self) -> Value {
        reqwest::get(format!("{}/__test/last-token", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// A person's browser at the IdP: a cookie jar (by name: the IdP's cookies
/// are path-scoped pairs, and last-one-wins by name works for its pages,
/// see tests/idp/README.md) and the steps of its dev login and consent
/// pages. Redirects are followed by hand, within the IdP; the first one
/// that leaves it is the answer.
#[derive(Default)]
pub struct IdpBrowser {
    cookies: HashMap<String, String>,
}

/// Where a walk through the IdP ended.
#[derive(Debug)]
pub struct Left {
    /// The URL the IdP sent the browser to (aspen's callback, or Apple's
    /// scheme for a device).
    pub location: String,
    /// How many pages (login, consent) were shown on the way.
    pub pages: usize,
}

impl IdpBrowser {
    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Follows `url` (the authorization request aspen or a device made)
    /// through the IdP, signing in as `login` (an account id or e-mail;
    /// any password) and consenting, until the IdP sends the browser away.
    pub async fn sign_in(&mut self, issuer: &str, url: &str, login: &str) -> Left {
        let client = crate::server::client();
        let mut next = url.to_owned();
        let mut pages = 0;
        for _ in 0..20 {
            let res = client
                .get(&next)
                .header("cookie", self.cookie_header())
                .send()
                .await
                .unwrap();
            self.keep(&res);
            let status = res.status().as_u16();
            if (300..400).contains(&status) {
                let loc = res.headers()["location"].to_str().unwrap().to_owned();
                let loc = if loc.starts_with('/') {
                    format!("{issuer}{loc}")
                } else {
                    loc
                };
                if !loc.starts_with(issuer) {
                    return Left {
                        location: loc,
                        pages,
                    };
                }
                next = loc;
                continue;
            }
            assert_eq!(status, 200, "GET {next} at the IdP");
            let html = res.text().await.unwrap();
            let action = attribute(&html, "action").unwrap_or_else(|| panic!("no form in {html}"));
            let prompt = crate::server::field(&html, "prompt");
            let form: Vec<(&str, &str)> = match prompt.as_str() {
                "login" => vec![("prompt", "login"), ("login", login), ("password", "any")],
                "consent" => vec![("prompt", "consent")],
                other => panic!("an IdP page with prompt {other:?}: {html}"),
            };
            pages += 1;
            let res = client
                .post(&action)
                .header("cookie", self.cookie_header())
                .form(&form)
                .send()
                .await
                .unwrap();
            self.keep(&res);
            assert_eq!(res.status(), 303, "POST {action} at the IdP");
            let loc = res.headers()["location"].to_str().unwrap().to_owned();
            next = if loc.starts_with('/') {
                format!("{issuer}{loc}")
            } else {
                loc
            };
        }
        panic!("the IdP kept redirecting");
    }
}

/// The value of the first `NAME="…"` attribute in `html`.
fn attribute(html: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].replace("&amp;", "&"))
}

/// The value of query parameter `name` in `url`.
pub fn query(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn the_harness_starts_registers_and_walks_the_idp() {
    if !available() {
        return;
    }
    let idp = Idp::start(0);
    assert_eq!(idp.issuer, format!("http://127.0.0.1:{}", idp.port));
    idp.register("http://127.0.0.1:9").await;
    let disco: Value = reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["issuer"], idp.issuer);
    let url = format!(
        "{}/auth?response_type=code&client_id={CLIENT_ID}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Foidc%2Fcallback&scope=openid%20email&state=S&nonce=N&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        idp.issuer
    );
    let mut browser = IdpBrowser::default();
    let left = browser.sign_in(&idp.issuer, &url, "alice").await;
    assert!(
        left.location
            .starts_with("http://127.0.0.1:9/oidc/callback?code="),
        "{left:?}"
    );
    assert_eq!(query(&left.location, "state").as_deref(), Some("S"));
    assert_eq!(left.pages, 2, "login and consent");
    // Signed in at the IdP: the next sign-in skips both pages.
    let again = browser.sign_in(&idp.issuer, &url, "alice").await;
    assert_eq!(again.pages, 0);
    // Dropping the harness stops the provider.
    let port = idp.port;
    drop(idp);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
