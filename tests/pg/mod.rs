//! A throwaway PostgreSQL cluster for the tests: one per test binary,
//! started on first use (initdb and the server run as the `postgres` user
//! when the tests run as root, since initdb refuses root), listening on a
//! free loopback port, with a fresh database per test.
//!
//! It never outlives the tests: at a normal exit an `atexit` hook shuts it
//! down and removes its folder, and if the test process is killed the
//! server gets SIGQUIT from the kernel (`PR_SET_PDEATHSIG`, set in the
//! server's process and tied to a thread that lives as long as the server).
//! Only a kill leaves the folder (in the temp dir, `aspen-pg-*`) behind; the
//! next run removes the folders of test processes that are gone.
#![allow(dead_code)]

use crate::common;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::time::Duration;

/// The password of the `aspen` role the tests connect as (test-only; the
/// tests also check it never shows in a message).
pub const PASSWORD: &str = "test-only-pg-passw0rd-7f3a";
/// The role aspen connects as; each test database is its own.
pub const ROLE: &str = "aspen";

pub struct Cluster {
    pub port: u16,
    /// The server's self-signed certificate (for 127.0.0.1), when openssl
    /// could make one: the server then also speaks TLS.
    pub tls_cert: Option<PathBuf>,
    /// Holds the data folder and the unix socket.
    base: PathBuf,
    bin: PathBuf,
    pid: u32,
    log: Arc<Mutex<String>>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
/// Set when the server process has exited.
static EXITED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The cluster, started on first use; `None` (after one loud SKIPPED line,
/// or a failure under CI=true) when PostgreSQL is not installed.
pub fn cluster() -> Option<&'static Cluster> {
    let Some(bin) = bin_dir() else {
        common::skip_or_fail(
            "PostgreSQL (initdb, postgres) is missing: install postgresql (bash .ci/run does)",
        );
        return None;
    };
    match CLUSTER.get_or_init(|| Cluster::start(&bin)) {
        Ok(c) => Some(c),
        Err(e) => panic!("could not start a PostgreSQL cluster: {e}"),
    }
}

/// A fresh, empty database owned by [`ROLE`] (`None`: PostgreSQL missing).
pub fn database() -> Option<Database> {
    let cluster = cluster()?;
    let name = format!(
        "aspen_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    cluster.psql("postgres", &format!("CREATE DATABASE {name} OWNER {ROLE}"));
    Some(Database {
        url: cluster.url(&name, PASSWORD),
        name,
        cluster,
    })
}

/// Where PostgreSQL's server programs are: Debian keeps them off the PATH,
/// in /usr/lib/postgresql/<version>/bin (the newest wins); else the PATH.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let initdb = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let bin = initdb.parent()?.to_owned();
    bin.join("postgres").is_file().then_some(bin)
}

/// The file in a cluster's folder naming the test process it belongs to.
const OWNER_PID: &str = "test-process.pid";

/// Removes the folders of clusters whose test process was killed.
fn sweep() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !e.file_name().to_string_lossy().starts_with("aspen-pg-") {
            continue;
        }
        let pid = std::fs::read_to_string(path.join(OWNER_PID))
            .ok()
            .and_then(|t| t.trim().parse::<libc::pid_t>().ok());
        let gone = pid.is_some_and(|pid| {
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            !alive && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        });
        if gone {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Who runs the cluster: the `postgres` user when we are root.
fn owner() -> Result<Option<(u32, u32)>, String> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err("running as root, and there is no postgres user to run initdb as".into());
    }
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

impl Cluster {
    fn start(bin: &Path) -> Result<Cluster, String> {
        let owner = owner()?;
        sweep();
        let base = tempfile::Builder::new()
            .prefix("aspen-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        std::fs::write(base.join(OWNER_PID), std::process::id().to_string())
            .map_err(|e| e.to_string())?;
        let admin_pw = base.join("admin.pw");
        std::fs::write(&admin_pw, "test-only-admin-password\n").map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = owner {
            for p in [&base, &admin_pw] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        let data = base.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", admin_pw.display()))
            .stdin(Stdio::null());
        if let Some((uid, gid)) = owner {
            use std::os::unix::process::CommandExt;
            initdb.uid(uid).gid(gid).current_dir(&base);
        }
        let out = initdb.output().map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let tls_cert = tls_certificate(&base, owner);
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            match serve(bin, &base, &data, port, owner, tls_cert.is_some()) {
                Ok((pid, log)) => {
                    unsafe { libc::atexit(stop_at_exit) };
                    let cluster = Cluster {
                        port,
                        tls_cert: tls_cert.clone(),
                        base,
                        bin: bin.to_owned(),
                        pid,
                        log,
                    };
                    cluster.psql(
                        "postgres",
                        &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"),
                    );
                    return Ok(cluster);
                }
                // Someone took the port between our look and the bind.
                Err(e) if e.contains("could not bind") || e.contains("already in use") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// `postgres://aspen:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str, password: &str) -> String {
        format!("postgres://{ROLE}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` as the superuser on `db` (over the private unix socket)
    /// and returns what psql printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .psql_command(db)
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn psql_command(&self, db: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
        ])
        .arg("-h")
        .arg(&self.base)
        .args(["-p", &self.port.to_string(), "-d", db])
        .stdin(Stdio::null());
        cmd
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// A self-signed certificate for 127.0.0.1 and its key (0600, the
/// server's user's) in `base`, if openssl is there.
fn tls_certificate(base: &Path, owner: Option<(u32, u32)>) -> Option<PathBuf> {
    let (cert, key) = (base.join("server.crt"), base.join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).ok()?;
    if let Some((uid, gid)) = owner {
        for p in [&cert, &key] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).ok()?;
        }
    }
    Some(cert)
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server on `port`; returns its pid and log once it accepts
/// connections.
fn serve(
    bin: &Path,
    base: &Path,
    data: &Path,
    port: u16,
    owner: Option<(u32, u32)>,
    tls: bool,
) -> Result<(u32, Arc<Mutex<String>>), String> {
    enum Said {
        Ready(u32),
        Exited,
        Failed(String),
    }
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let (bin, base, data, sink) = (
        bin.to_owned(),
        base.to_owned(),
        data.to_owned(),
        log.clone(),
    );
    // The server's parent-death signal fires when the thread that started
    // it ends, so that thread waits for the server and ends only with it.
    std::thread::Builder::new()
        .name("postgres".into())
        .spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut cmd = Command::new(bin.join("postgres"));
            cmd.arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", base.display()))
                // Speed over durability: the cluster is thrown away.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if tls {
                cmd.args(["-c", "ssl=on"])
                    .arg("-c")
                    .arg(format!(
                        "ssl_cert_file={}",
                        base.join("server.crt").display()
                    ))
                    .arg("-c")
                    .arg(format!(
                        "ssl_key_file={}",
                        base.join("server.key").display()
                    ));
            }
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid).current_dir(&base);
            }
            // Runs in the child after its user is set (a change of user
            // would clear the signal), before exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Said::Failed(format!("starting postgres: {e}")));
                    return;
                }
            };
            let pid = child.id();
            let stderr = child.stderr.take().unwrap();
            let ready = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let hit = line.contains("ready to accept connections");
                    sink.lock().unwrap().push_str(&(line + "\n"));
                    if hit {
                        let _ = ready.send(Said::Ready(pid));
                    }
                }
            });
            let _ = child.wait();
            *EXITED.0.lock().unwrap() = true;
            EXITED.1.notify_all();
            let _ = tx.send(Said::Exited);
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Said::Ready(pid)) => Ok((pid, log)),
        Ok(Said::Failed(e)) => Err(e),
        Ok(Said::Exited) => Err(format!(
            "postgres exited: {}",
            log.lock().unwrap().trim_end()
        )),
        Err(_) => Err(format!(
            "postgres did not start within 60 s: {}",
            log.lock().unwrap().trim_end()
        )),
    }
}

/// Fast shutdown (SIGINT), bounded, then the folder goes.
extern "C" fn stop_at_exit() {
    if let Some(Ok(c)) = CLUSTER.get() {
        unsafe { libc::kill(c.pid as libc::pid_t, libc::SIGINT) };
        let (lock, cond) = &EXITED;
        if let Ok(guard) = lock.lock() {
            let _ = cond.wait_timeout_while(guard, Duration::from_secs(20), |gone| !*gone);
        }
        let _ = std::fs::remove_dir_all(&c.base);
    }
}

/// One test's database.
pub struct Database {
    pub name: String,
    /// The URL aspen connects with (holds [`PASSWORD`]).
    pub url: String,
    cluster: &'static Cluster,
}

impl Database {
    /// Runs `sql` as the superuser in this database.
    pub fn psql(&self, sql: &str) -> String {
        self.cluster.psql(&self.name, sql)
    }

    /// Runs `sql` as [`ROLE`], so that what it creates is aspen's.
    pub fn psql_as_aspen(&self, sql: &str) -> String {
        self.psql(&format!("SET ROLE {ROLE};\n{sql}"))
    }

    /// This database's URL with another password.
    pub fn url_with_password(&self, password: &str) -> String {
        self.cluster.url(&self.name, password)
    }

    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// A psql session kept open: `sql` runs, then it waits until the
    /// returned guard is dropped (e.g. to hold a lock).
    pub fn hold(&self, sql: &str) -> Held {
        let mut child = self
            .cluster
            .psql_command(&self.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{sql}\n\\echo held").unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "psql: {line}");
        Held {
            child,
            stdin: Some(stdin),
        }
    }
}

pub struct Held {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Closing psql's input ends the session (and its transaction).
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
