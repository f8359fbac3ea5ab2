//! Starting `aspen serve` on a free loopback port for the integration tests,
//! and small HTTP helpers (cookies, form fields) shared by them.
#![allow(dead_code)]

use crate::common::{self, Workspace};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The portal secret the tests write, so they can mint tokens themselves.
pub const SECRET: [u8; 32] = [0x5a; 32];

pub fn keys() -> aspen::tokens::Keys {
    aspen::tokens::Keys::from_bytes(&SECRET).unwrap()
}

pub struct Server {
    child: Child,
    pub url: String,
    /// The settings' folder (shared by replicas).
    pub ws: Arc<Workspace>,
    pub log: Arc<Mutex<String>>,
    /// The environment the server (and `invite`) runs with.
    env: Vec<(String, String)>,
}

/// A listening socket on a port the kernel chose, held open: handed to
/// `aspen serve --listen-fd 3`, so no other process can take the port
/// between choosing it and serving on it.
pub fn listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

impl Server {
    /// The demo settings plus a `[portal]` on a free port; `portal_extra` is
    /// appended to the `[portal]` table.
    pub fn start(portal_extra: &str) -> Server {
        Server::start_with(portal_extra, &[])
    }

    pub fn start_with(portal_extra: &str, args: &[&str]) -> Server {
        Server::launch(portal_extra, args, None, &|s| s)
    }

    /// The demo settings with this user directory (CSV text) instead of the
    /// demo's.
    pub fn start_users(users: &str) -> Server {
        Server::launch("", &[], Some(users), &|s| s)
    }

    /// The demo settings as `edit` changes them (the `[portal]` is added
    /// after the edit).
    pub fn start_edited(edit: &dyn Fn(String) -> String) -> Server {
        Server::launch("", &[], None, edit)
    }

    /// The demo settings with the store in PostgreSQL at `database_url`
    /// (read from the environment: `[store] url_env`), `extra` appended
    /// after `[portal]` (e.g. a `[serve]` table). Unlike [`Server::replicas`]
    /// every limit keeps its default unless `extra` sets it.
    pub fn start_postgres(database_url: &str, extra: &str) -> Server {
        let (listener, port) = listener();
        let url = format!("http://127.0.0.1:{port}");
        let settings = format!(
            "{}\n[portal]\npublic_url = \"{url}\"\nsecret_file = \"portal.secret\"\n\n[store]\nurl_env = \"ASPEN_DATABASE_URL\"\n{extra}\n",
            common::demo_settings()
        );
        let env = vec![("ASPEN_DATABASE_URL".to_owned(), database_url.to_owned())];
        Server::serve(Arc::new(workspace(&settings)), url, listener, &[], env)
    }

    /// All of the above: `portal_extra` appended to `[portal]` (it may open
    /// further tables), this user directory (CSV text) if given, and the
    /// demo settings as `edit` changes them.
    pub fn start_custom(
        portal_extra: &str,
        users: Option<&str>,
        edit: &dyn Fn(String) -> String,
    ) -> Server {
        Server::launch(portal_extra, &[], users, edit)
    }

    fn launch(
        portal_extra: &str,
        args: &[&str],
        users: Option<&str>,
        edit: &dyn Fn(String) -> String,
    ) -> Server {
        let (listener, port) = listener();
        let scheme = if args.contains(&"--tls-cert") {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let settings = format!(
            "{}\n[portal]\npublic_url = \"{url}\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n{portal_extra}\n",
            edit(common::demo_settings())
        );
        let settings = match users {
            Some(_) => settings.replace(
                &format!(
                    "users = {:?}",
                    common::fixture("demo/users.csv").display().to_string()
                ),
                "users = \"users.csv\"",
            ),
            None => settings,
        };
        let ws = workspace(&settings);
        if let Some(csv) = users {
            std::fs::write(ws.path("users.csv"), csv).unwrap();
        }
        Server::serve(Arc::new(ws), url, listener, args, Vec::new())
    }

    /// `n` replicas of `aspen serve`, each on a free port, with the same
    /// settings and folder (secret, users): the demo settings with the
    /// store in PostgreSQL at `database_url`, which they read from the
    /// environment (`[store] url_env = "ASPEN_DATABASE_URL"`). Their
    /// `public_url` is the first one's, as if a load balancer stood there.
    pub fn replicas(n: usize, database_url: &str) -> Vec<Server> {
        let listeners: Vec<(std::net::TcpListener, u16)> = (0..n).map(|_| listener()).collect();
        let public = format!("http://127.0.0.1:{}", listeners[0].1);
        let settings = format!(
            // The replica tests count every answered request: each download
            // is recorded (no repeat window, no per-user issue limit), and
            // many failed sign-ins from this one address are not throttled
            // (tests/hardening.rs and tests/attacks.rs cover these).
            "{}\n[portal]\npublic_url = \"{public}\"\nsecret_file = \"portal.secret\"\n\n[store]\nurl_env = \"ASPEN_DATABASE_URL\"\n\n[serve]\ndownload_repeat_window = 0\nissues_per_user = 0\nsignin_failures_per_address = 10000\n",
            common::demo_settings()
        );
        let ws = Arc::new(workspace(&settings));
        let env = vec![("ASPEN_DATABASE_URL".to_owned(), database_url.to_owned())];
        listeners
            .into_iter()
            .map(|(l, port)| {
                let url = format!("http://127.0.0.1:{port}");
                Server::serve(ws.clone(), url, l, &[], env.clone())
            })
            .collect()
    }

    fn serve(
        ws: Arc<Workspace>,
        url: String,
        listener: std::net::TcpListener,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Server {
        let settings_path = ws.settings();
        let mut cmd_args = vec![
            "serve",
            "-c",
            settings_path.to_str().unwrap(),
            "--listen-fd",
            "3",
        ];
        cmd_args.extend_from_slice(args);
        let env_refs: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (child, log) = spawn_with(&cmd_args, &env_refs, "serving", Some(listener));
        Server {
            child,
            url,
            ws,
            log,
            env,
        }
    }

    /// The environment to run `aspen` commands on this server's settings
    /// with.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Runs `aspen invite` for `user` and returns the printed code.
    pub fn invite(&self, user: &str) -> String {
        invite_env(&self.ws, user, "7d", &self.env())
    }

    /// Ends the server at once (SIGKILL: no flush, no goodbye).
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The log once it holds `needle` (its lines are read by a thread, so
    /// a line may arrive just after the answer it belongs to); at most 10 s.
    pub fn log_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit by itself (after a signal), at most 30 s.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        wait_bounded(&mut self.child)
    }
}

/// Waits at most 30 s for `child` to exit; kills it and fails past that.
pub fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("aspen did not exit within 30 s");
}

/// The settings `text` in a new folder, with the portal secret the tests
/// know (0600).
fn workspace(text: &str) -> Workspace {
    let ws = Workspace::new(text);
    let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(ws.path("portal.secret"), hex + "\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            ws.path("portal.secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    ws
}

pub fn invite(ws: &Workspace, user: &str, ttl: &str) -> String {
    invite_env(ws, user, ttl, &[])
}

pub fn invite_env(ws: &Workspace, user: &str, ttl: &str, env: &[(&str, &str)]) -> String {
    let out = common::ok(common::aspen_env(
        &[
            "invite",
            "-c",
            ws.settings().to_str().unwrap(),
            "--user",
            user,
            "--ttl",
            ttl,
        ],
        env,
    ));
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Code:"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|| panic!("no code in: {text}"))
}

/// Starts `aspen ARGS`, collecting stderr, and waits until a line contains
/// `ready` (the server prints it once it listens).
pub fn spawn(args: &[&str], ready: &str) -> (Child, Arc<Mutex<String>>) {
    spawn_env(args, &[], ready)
}

/// [`spawn`] with these environment variables set.
pub fn spawn_env(args: &[&str], env: &[(&str, &str)], ready: &str) -> (Child, Arc<Mutex<String>>) {
    spawn_with(args, env, ready, None)
}

/// [`spawn_env`], handing `listener` to the child as descriptor 3 (for
/// `--listen-fd 3`); the parent's copy is closed once the child has it.
pub fn spawn_with(
    args: &[&str],
    env: &[(&str, &str)],
    ready: &str,
    listener: Option<std::net::TcpListener>,
) -> (Child, Arc<Mutex<String>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aspen"));
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(l) = &listener {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = l.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls:
        // dup2 onto 3 (which clears close-on-exec on the copy), or, when
        // the socket already is 3, clearing the flag with fcntl.
        unsafe {
            cmd.pre_exec(move || {
                let ok = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(fd, 3) == 3
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let hit = line.contains(&ready);
            sink.lock().unwrap().push_str(&(line + "\n"));
            if hit {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("aspen did not start: {}", log.lock().unwrap());
    }
    (child, log)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that never follows redirects: the tests read every hop.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of cookie `name` from a response's Set-Cookie headers,
/// after checking the flags every aspen cookie must carry.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
                assert!(
                    v.split("; ").any(|f| f == flag),
                    "{name} cookie lacks {flag}: {v}"
                );
            }
            v.split(';').next().unwrap().to_owned()
        })
}

/// A browser over plain HTTP: one cookie jar (aspen's two cookies, kept
/// and cleared as the server says), each request sent to the server the
/// test names (a replica behind a load balancer, or the only one). Every
/// redirect is the test's to read.
#[derive(Default, Clone)]
pub struct Visitor {
    pub cookies: HashMap<String, String>,
}

impl Visitor {
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep(&mut self, res: &reqwest::Response) {
        for name in ["aspen_csrf", "aspen_session"] {
            if let Some(c) = set_cookie(res, name) {
                let (k, v) = c.split_once('=').unwrap();
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.into(), v.into());
                }
            }
        }
    }

    pub async fn get(&mut self, on: &Server, path: &str) -> reqwest::Response {
        let res = client()
            .get(format!("{}{path}", on.url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    pub async fn page(&mut self, on: &Server, path: &str) -> String {
        let res = self.get(on, path).await;
        assert_eq!(res.status(), 200, "GET {path} on {}", on.url);
        res.text().await.unwrap()
    }

    /// Posts a form with the CSRF token of `html`.
    pub async fn post(
        &mut self,
        on: &Server,
        path: &str,
        html: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = field(html, "csrf");
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        let res = client()
            .post(format!("{}{path}", on.url))
            .header("cookie", self.cookie_header())
            .form(&form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    /// Signs in with `code` on `on`: the status (303 to /access, or 401).
    pub async fn sign_in(&mut self, on: &Server, code: &str) -> u16 {
        let html = self.page(on, "/signin").await;
        let res = self.post(on, "/signin", &html, &[("code", code)]).await;
        if res.status() == 303 {
            assert_eq!(header(&res, "location"), "/access");
        }
        res.status().as_u16()
    }
}

/// A self-signed certificate for 127.0.0.1 and its key.
pub fn tls_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (crt, key) = (dir.join("tls.pem"), dir.join("tls.key"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    (crt, key)
}

/// The value of `<input name="NAME" value="…">` in a page.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A device's `MachineInfo` as an XML plist (Apple: other/machineinfo.yaml),
/// the body of account-driven enroll POSTs: `PRODUCT`, `VERSION` (the
/// build) and, when given, `OS_VERSION` (sent from iOS 17 / macOS 14 on).
/// Made by hand, not by aspen, and not a real device's (no UDID, serial).
pub fn machine_info(product: &str, build: &str, os_version: Option<&str>) -> Vec<u8> {
    let os = os_version
        .map(|v| format!("<key>OS_VERSION</key><string>{v}</string>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict><key>LANGUAGE</key><string>en</string>{os}<key>PRODUCT</key><string>{product}</string><key>VERSION</key><string>{build}</string></dict></plist>\n"
    )
    .into_bytes()
}

/// An iPhone on iOS 18.5 describing itself.
pub fn iphone_18() -> Vec<u8> {
    machine_info("iPhone17,1", "22F76", Some("18.5"))
}
