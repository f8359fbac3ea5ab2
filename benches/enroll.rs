//! Complete account-driven enrollments per second against a running
//! `aspen serve` (driven by `benches/serve-load.sh`): each simulated device
//! walks Apple's steps for a user of its own — the well-known request, the
//! enrollment POST answered 401, the sign-in page, the sign-in with a
//! one-time code, and the POST with the access token that returns a freshly
//! signed per-user profile. Every user is new, so every enrollment costs
//! exactly one signature (no cached profile). Loopback only; bounded by the
//! number of users.
//!
//! The codes are made before the clock starts, through the store the
//! settings name (as `aspen invite` makes them). Each POST carries what an
//! iPhone sends: its `MachineInfo` plist, CMS-signed (here with the
//! test-only device key in fixtures/certs/), signed once up front.
//!
//! ENROLL_SETTINGS=aspen.toml ENROLL_URL=http://127.0.0.1:PORT \
//!   ENROLL_USERS=5000 ENROLL_PREFIX=u ENROLL_CONCURRENCY=32 \
//!   cargo bench --bench enroll
//!
//! Users are `<prefix><i>@contoso.com` for i in ENROLL_FIRST (default 0) ..
//! ENROLL_FIRST + ENROLL_USERS; they must be in the settings' users.csv under
//! a User Enrollment policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// The five requests of one enrollment, in order.
const STEPS: [&str; 5] = [
    "well-known",
    "enroll POST (401)",
    "sign-in page",
    "sign-in POST",
    "enroll POST (profile)",
];
/// Wall time spent in each step, over all devices (ns).
static SPENT: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Adds the time since `*since` to step `step` and restarts the clock.
fn lap(since: &mut Instant, step: usize) {
    let now = Instant::now();
    SPENT[step].fetch_add((now - *since).as_nanos() as u64, Ordering::Relaxed);
    *since = now;
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    let (Some(settings), Some(url)) = (var("ENROLL_SETTINGS"), var("ENROLL_URL")) else {
        eprintln!(
            "enroll: set ENROLL_SETTINGS and ENROLL_URL (benches/serve-load.sh does); nothing to do"
        );
        return;
    };
    let number = |name: &str, default: usize| {
        var(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
    };
    let users = number("ENROLL_USERS", 5000);
    let concurrency = number("ENROLL_CONCURRENCY", 32);
    let prefix = var("ENROLL_PREFIX").unwrap_or_else(|| "u".into());
    let threads = number("ENROLL_THREADS", 1);
    let first = number("ENROLL_FIRST", 0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    let emails = (first..first + users)
        .map(|i| format!("{prefix}{i}@contoso.com"))
        .collect();
    runtime.block_on(run(settings, url, emails, concurrency));
}

async fn run(settings: String, url: String, emails: Vec<String>, concurrency: usize) {
    let users = emails.len();
    let settings = aspen::settings::Settings::load(std::path::Path::new(&settings)).unwrap();
    let keys = Arc::new(
        aspen::tokens::Keys::load(&settings.require_portal().unwrap().secret_file).unwrap(),
    );
    let store = aspen::store::open(&settings.require_store().unwrap())
        .await
        .unwrap();
    // The codes, eight at a time.
    let made = Instant::now();
    let codes = Arc::new(
        futures_join(emails.iter().map(|email| {
            let (keys, store, email) = (keys.clone(), store.clone(), email.clone());
            async move {
                aspen::serve::codes::create_code(&keys, store.as_ref(), &email, 3600)
                    .await
                    .unwrap()
                    .0
            }
        }))
        .await,
    );
    eprintln!(
        "enroll: {users} codes made in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let emails = Arc::new(emails);
    let machine_info = Arc::new(machine_info());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    let devices: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, emails, codes, next, failed, body) = (
                http.clone(),
                url.clone(),
                emails.clone(),
                codes.clone(),
                next.clone(),
                failed.clone(),
                machine_info.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= emails.len() {
                        break;
                    }
                    if let Err(why) = enroll(&http, &url, &emails[i], &codes[i], &body).await
                        && failed.fetch_add(1, Ordering::SeqCst) < 5
                    {
                        eprintln!("enroll: {}: {why}", emails[i]);
                    }
                }
            })
        })
        .collect();
    for d in devices {
        d.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::SeqCst);
    let done = users - failed;
    println!(
        "enrollments: {done} in {seconds:.2} s = {:.0}/s; failed: {failed}",
        done as f64 / seconds
    );
    for (step, spent) in STEPS.iter().zip(&SPENT) {
        let ms = spent.load(Ordering::Relaxed) as f64 / 1e6 / users.max(1) as f64;
        println!("  {step}: {ms:.2} ms mean");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

/// An iPhone's MachineInfo (Apple: mdm/other/machineinfo.yaml), CMS-signed
/// with the test-only device identity, DER.
fn machine_info() -> Vec<u8> {
    use openssl::cms::{CMSOptions, CmsContentInfo};
    let plist = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>LANGUAGE</key><string>en</string>
<key>OS_VERSION</key><string>18.2</string>
<key>PRODUCT</key><string>iPhone15,2</string>
<key>VERSION</key><string>22C152</string>
</dict></plist>
"#;
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/certs");
    let cert =
        openssl::x509::X509::from_pem(&std::fs::read(certs.join("device.pem")).unwrap()).unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(
        &std::fs::read(certs.join("device.key")).unwrap(),
    )
    .unwrap();
    CmsContentInfo::sign(
        Some(&cert),
        Some(&key),
        None,
        Some(plist),
        CMSOptions::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// Runs `futures` eight at a time, keeping their order.
async fn futures_join<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    for f in futures {
        batch.push(tokio::spawn(f));
        if batch.len() == 8 {
            for t in batch.drain(..) {
                out.push(t.await.unwrap());
            }
        }
    }
    for t in batch {
        out.push(t.await.unwrap());
    }
    out
}

/// Apple's account-driven steps 1–4 for one device.
async fn enroll(
    http: &reqwest::Client,
    url: &str,
    email: &str,
    code: &str,
    machine_info: &[u8],
) -> Result<(), String> {
    let fail = |step: &str, what: String| Err(format!("{step}: {what}"));
    let mut clock = Instant::now();
    let res = http
        .get(format!("{url}/.well-known/com.apple.remotemanagement"))
        .query(&[("user-identifier", email), ("model-family", "iPhone")])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != 200 {
        return fail("well-known", res.status().to_string());
    }
    let body: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    let Some(enroll) = body["Servers"][0]["BaseURL"].as_str().map(str::to_owned) else {
        return fail("well-known", body.to_string());
    };
    let enroll = rebase(&enroll, url);
    lap(&mut clock, 0);
    let res = http
        .post(&enroll)
        .header("content-type", "application/pkcs7-signature")
        .body(machine_info.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(login) = challenge
        .split("url=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
    else {
        return fail(
            "enroll without a token",
            format!("{} {challenge}", res.status()),
        );
    };
    let login = rebase(login, url);
    lap(&mut clock, 1);
    let res = http
        .get(&login)
        .query(&[("user-identifier", email)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_owned();
    let html = res.text().await.map_err(|e| e.to_string())?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_owned();
    lap(&mut clock, 2);
    let res = http
        .post(&login)
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_identifier", email),
            ("code", code),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = location.split("access-token=").nth(1).map(str::to_owned) else {
        return fail("sign-in", res.status().to_string());
    };
    lap(&mut clock, 3);
    let res = http
        .post(&enroll)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/pkcs7-signature")
        .body(machine_info.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = res.bytes().await.map_err(|e| e.to_string())?;
    lap(&mut clock, 4);
    if status != 200 || kind != "application/x-apple-aspen-config" || bytes.len() < 1000 {
        return fail("profile", format!("{status} {kind} {} bytes", bytes.len()));
    }
    Ok(())
}

/// `link` (made from public_url) on the server at `base`.
fn rebase(link: &str, base: &str) -> String {
    let path = link
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(link);
    format!("{base}{path}")
}
