//! The portal in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, driven through tests/webdriver.rs). Signs in with a code, walks the user-choice
//! flow both ways (work-only User Enrollment, and an organisation-owned
//! device), downloads the device profile with the browser and verifies it
//! with openssl. Each page is checked for a language, one heading and a
//! label on every field, and saved as a screenshot (into docs/screenshots/
//! when ASPEN_SCREENSHOTS=1, otherwise into the target folder). A second
//! walk signs in through a real OpenID provider (tests/idp/): its login and
//! consent pages, back to the portal, and out again at the IdP.

use crate::common;
use crate::server;

use crate::webdriver::{Client, Locator};
use server::Server;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    // Port 0: chromedriver binds a port the kernel chooses and says which.
    let mut child = Command::new("chromedriver")
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is needed by this test: install chromium-driver (bash .ci/run does)");
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(port) = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(port) => Driver { child, port },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not start");
        }
    }
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=412,1100",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            },
        }
    });
    Client::connect(&format!("http://127.0.0.1:{}", driver.port), caps)
        .await
        .expect("connect to chromedriver")
}

fn screenshot_dir() -> PathBuf {
    let dir = if std::env::var_os("ASPEN_SCREENSHOTS").is_some() {
        common::root().join("docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks the page is the one expected and accessible, and saves its
/// screenshot as `name`.png.
async fn check_page(c: &Client, name: &str, heading: &str) {
    let facts = c
        .execute(
            r#"const fields = [...document.querySelectorAll('input:not([type=hidden])')];
               return {
                 lang: document.documentElement.lang,
                 h1: [...document.querySelectorAll('h1')].map(h => h.textContent.trim()),
                 unlabelled: fields.filter(f => f.labels.length === 0).map(f => f.name),
                 viewport: !!document.querySelector('meta[name=viewport]'),
                 overflow: document.documentElement.scrollWidth > window.innerWidth,
                 scripts: document.scripts.length,
               };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(facts["lang"], "en", "{name}");
    assert_eq!(facts["h1"], serde_json::json!([heading]), "{name}");
    assert_eq!(
        facts["unlabelled"],
        serde_json::json!([]),
        "{name}: every field has a label"
    );
    assert_eq!(facts["viewport"], true, "{name}");
    assert_eq!(
        facts["overflow"], false,
        "{name}: no sideways scrolling on a phone"
    );
    assert_eq!(facts["scripts"], 0, "{name}: no JavaScript");
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits (at most 10 s) until the browser is at `expected` with the page
/// loaded (`document.readyState` "complete"), and returns the path it is
/// at: `expected`, or where it stayed, for the assertion's message. A form
/// POST's redirect may still be in flight right after the click; asking the
/// browser for the state we expect, rather than for two equal reads in a
/// row, cannot mistake a pause for the end.
async fn at(c: &Client, expected: &str) -> String {
    let mut now = String::new();
    for _ in 0..200 {
        now = c.current_url().await.unwrap().path().to_owned();
        if now == expected {
            let ready = c
                .execute("return document.readyState", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            if ready.as_deref() == Some("complete") {
                return now;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    now
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_walks_the_portal_in_chromium() {
    if !common::have_tools(&[
        ("chromedriver", "chromium-driver"),
        ("chromium", "chromium"),
        ("openssl", "openssl"),
    ]) {
        return;
    }
    let s = Server::start("");
    let driver = chromedriver();
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &tmp.path().join("profile"), &downloads).await;
    let result = walk(&c, &s, &downloads).await;
    c.close().await.unwrap();
    result.unwrap_or_else(|e: String| panic!("{e}\nserver log:\n{}", s.log()));
}

async fn walk(c: &Client, s: &Server, downloads: &Path) -> Result<(), String> {
    // Sign in with the invite code, typed as a person might.
    c.goto(&format!("{}/", s.url)).await.unwrap();
    assert_eq!(at(c, "/signin").await, "/signin");
    check_page(c, "01-sign-in", "Set up Contoso access").await;
    let code = s.invite("alice@contoso.com");
    c.find(Locator::Id("code"))
        .await
        .unwrap()
        .send_keys(&code.to_lowercase())
        .await
        .unwrap();
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/access").await, "/access", "{}", s.log());
    check_page(c, "02-set-up-access", "Set up Contoso access").await;
    assert!(text(c).await.contains("BYOD staff"));

    // Way 1: my own device, work-related apps and data only.
    click(c, "a.button").await;
    assert_eq!(at(c, "/choose").await, "/choose");
    check_page(
        c,
        "03-who-owns-this-device",
        "Select device and enrollment type",
    )
    .await;
    click(c, "label[for=personal]").await;
    click(c, "main button[type=submit]").await;
    assert_eq!(
        at(c, "/choose/scope").await,
        "/choose/scope",
        "{}",
        text(c).await
    );
    check_page(c, "04-what-to-secure", "Select device and enrollment type").await;
    click(c, "label[for=work]").await;
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/privacy").await, "/privacy");
    check_page(
        c,
        "05-privacy-user-enrollment",
        "Device management and your privacy",
    )
    .await;
    let t = text(c).await;
    assert!(
        t.contains("User Enrollment") && t.contains("Erase your device"),
        "{t}"
    );
    click(c, "a.button").await;
    assert_eq!(at(c, "/enroll").await, "/enroll");
    check_page(
        c,
        "06-user-enrollment-steps",
        "Sign in with your work account",
    )
    .await;
    let t = text(c).await;
    assert!(
        t.contains("VPN & Device Management") && t.contains("alice@contoso.com"),
        "{t}"
    );
    // The code on the page is what the device's sign-in sheet asks for.
    let device_code = c
        .find(Locator::Css(".code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.goto(&format!(
        "{}/account-driven/login?user-identifier=alice@contoso.com",
        s.url
    ))
    .await
    .unwrap();
    check_page(c, "07-account-driven-sign-in", "Set up Contoso access").await;
    assert!(!device_code.is_empty());

    // Way 2: Contoso owns this device → device enrollment download.
    c.goto(&format!("{}/choose", s.url)).await.unwrap();
    click(c, "label[for=corporate]").await;
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/privacy").await, "/privacy");
    check_page(
        c,
        "08-privacy-corporate-device",
        "Device management and your privacy",
    )
    .await;
    assert!(text(c).await.contains("Erase the entire device"));
    click(c, "a.button").await;
    assert_eq!(at(c, "/enroll").await, "/enroll");
    check_page(c, "09-download", "Install the Contoso profile").await;
    click(c, "a.button").await;
    let file = wait_for_download(downloads)
        .await
        .ok_or("the browser downloaded nothing")?;
    assert_eq!(
        file.file_name().unwrap(),
        "com.contoso.mdm.device-corporate.mobileconfig",
        "the name from Content-Disposition"
    );
    let xml = common::openssl_verify(&file, &common::cert("ca.pem"))?;
    let profile = common::plistlib_json(&xml);
    let mdm = profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .unwrap()
        .clone();
    assert_eq!(mdm["AccessRights"], 8191, "corporate rights");

    // Someone no policy covers is told why, in a page of its own.
    c.goto(&format!("{}/", s.url)).await.unwrap();
    click(c, ".signout button").await;
    assert_eq!(at(c, "/signout").await, "/signout");
    check_page(c, "10-signed-out", "Signed out").await;
    c.goto(&format!("{}/signin", s.url)).await.unwrap();
    let code = s.invite("erin@contoso.com");
    c.find(Locator::Id("code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/access").await, "/access");
    check_page(c, "11-cannot-enroll", "You cannot enroll yet").await;
    assert!(text(c).await.contains("No enrollment policy"));
    Ok(())
}

/// The finished download: Chromium writes temporary files first and renames
/// the finished one to its name from Content-Disposition.
async fn wait_for_download(dir: &Path) -> Option<PathBuf> {
    for _ in 0..100 {
        let done = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "mobileconfig"));
        if done.is_some() {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_user_signs_in_through_the_idp_in_chromium() {
    if !common::have_tools(&[
        ("chromedriver", "chromium-driver"),
        ("chromium", "chromium"),
    ]) || !crate::idp::available()
    {
        return;
    }
    let t = crate::oidc::setup("groups_claim = \"groups\"").await;
    let driver = chromedriver();
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &tmp.path().join("profile"), &downloads).await;
    let result = walk_through_idp(&c, &t).await;
    c.close().await.unwrap();
    result.unwrap_or_else(|e: String| {
        panic!("{e}\nserver log:\n{}\nIdP log:\n{}", t.s.log(), t.idp.log())
    });
}

/// Waits (at most 10 s) until the browser is at a URL starting with
/// `prefix`; the URL it is at.
async fn at_url(c: &Client, prefix: &str) -> String {
    let mut now = String::new();
    for _ in 0..200 {
        now = c.current_url().await.unwrap().to_string();
        if now.starts_with(prefix) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    now
}

async fn walk_through_idp(c: &Client, t: &crate::oidc::Setup) -> Result<(), String> {
    let (s, issuer) = (&t.s, &t.idp.issuer);
    // The portal sends the browser to the IdP's login page.
    c.goto(&format!("{}/", s.url)).await.unwrap();
    let login = at_url(c, &format!("{issuer}/interaction/")).await;
    if !login.starts_with(issuer) {
        return Err(format!("not at the IdP's login page: {login}"));
    }
    c.find(Locator::Css("input[name=login]"))
        .await
        .unwrap()
        .send_keys("alice@contoso.com")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("anything")
        .await
        .unwrap();
    click(c, "button[type=submit]").await;
    // Its consent page, then back to the portal, signed in.
    let mut now = String::new();
    for _ in 0..200 {
        now = c.current_url().await.unwrap().to_string();
        if now.starts_with(&s.url) {
            break;
        }
        let consent = c
            .execute(
                "return document.querySelector('input[name=prompt]')?.value ?? ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        if consent.as_deref() == Some("consent") {
            click(c, "button[type=submit]").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(at(c, "/access").await, "/access", "at {now}");
    check_page(c, "20-idp-set-up-access", "Set up Contoso access").await;
    let t2 = text(c).await;
    assert!(t2.contains("BYOD staff"), "{t2}");

    // Work-only User Enrollment: the device's sheet goes to the IdP too, so
    // the steps show no code.
    click(c, "a.button").await;
    assert_eq!(at(c, "/choose").await, "/choose");
    click(c, "label[for=personal]").await;
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/choose/scope").await, "/choose/scope");
    click(c, "label[for=work]").await;
    click(c, "main button[type=submit]").await;
    assert_eq!(at(c, "/privacy").await, "/privacy");
    click(c, "a.button").await;
    assert_eq!(at(c, "/enroll").await, "/enroll");
    check_page(
        c,
        "21-idp-user-enrollment-steps",
        "Sign in with your work account",
    )
    .await;
    let t2 = text(c).await;
    assert!(
        t2.contains("sign in with your work account, as you did here") && !t2.contains("code"),
        "{t2}"
    );

    // Signing out ends the portal's session and the IdP's (its confirm
    // page), and comes back to the portal's signed-out page.
    c.goto(&format!("{}/access", s.url)).await.unwrap();
    click(c, ".signout button").await;
    let end = at_url(c, &format!("{issuer}/session/end")).await;
    if !end.starts_with(issuer) {
        return Err(format!("not at the IdP's sign-out: {end}"));
    }
    click(c, "button[autofocus], button[type=submit]").await;
    assert_eq!(at(c, "/oidc/signed-out").await, "/oidc/signed-out");
    check_page(c, "22-idp-signed-out", "Signed out").await;
    // The portal's session is gone: the next visit goes to the IdP again
    // (signed out there too: its login page, not straight back).
    c.goto(&format!("{}/access", s.url)).await.unwrap();
    let again = at_url(c, &format!("{issuer}/interaction/")).await;
    assert!(again.starts_with(issuer), "{again}");
    Ok(())
}
