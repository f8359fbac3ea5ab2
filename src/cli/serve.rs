use crate::error::{Error, Result};
use crate::serve::{self, demo};
use crate::settings::PortalAuth;
use crate::time::format_utc;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// Address and port to listen on [default: [serve] listen, else
    /// 127.0.0.1:8080].
    #[arg(long, conflicts_with = "listen_fd")]
    listen: Option<SocketAddr>,
    /// Serve on the listening socket already open at this file descriptor
    /// (handed over by a supervisor or a test harness). Under systemd socket
    /// activation (LISTEN_FDS) aspen takes its socket without this flag.
    #[arg(long, value_name = "FD")]
    listen_fd: Option<i32>,
    /// Built-in demo settings and users, an ephemeral signing key, printed
    /// sign-in codes: see the whole flow with one command.
    #[arg(long)]
    demo: bool,
    /// Serve https directly with this certificate chain (PEM)… [default:
    /// [serve] tls_cert]
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// …and this private key (PEM; an encrypted one needs [serve]
    /// tls_key_passphrase_env or _file) [default: [serve] tls_key].
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Sign even if the signing certificate has expired.
    #[arg(long)]
    allow_expired: bool,
    #[command(flatten)]
    placeholders: super::Placeholders,
    /// No access log line per request.
    #[arg(long)]
    quiet: bool,
    /// How log lines on stderr are written: text, or one JSON object per line.
    #[arg(long, value_enum, default_value = "text")]
    log_format: serve::log::Format,
}

/// Where `aspen serve` listens unless told.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Sign-in codes printed by `--demo` stay valid this long.
const DEMO_CODE_SECONDS: i64 = 24 * 60 * 60;

pub fn run(args: Args) -> Result<()> {
    serve::log::init(args.log_format, !args.quiet);
    // The settings come first (they may say where to listen), except for
    // the demo, whose settings need the bound port.
    let loaded = if args.demo {
        None
    } else {
        Some(args.config.load()?)
    };
    let conf = loaded.as_ref().map(|s| &s.serve);
    let listen = args
        .listen
        .or(conf.and_then(|c| c.listen))
        .unwrap_or(DEFAULT_LISTEN);
    let tls = args
        .tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .or_else(|| conf.and_then(|c| c.tls.clone()));
    let tls_key_passphrase = conf.and_then(|c| c.tls_key_passphrase.clone());
    let listener = match args.listen_fd.or_else(crate::serve::listen::systemd_socket) {
        Some(fd) if args.listen.is_none() => crate::serve::listen::listener_from_fd(fd)?,
        _ => std::net::TcpListener::bind(listen)
            .map_err(|e| Error::invalid(format!("cannot listen on {listen}: {e}")))?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| Error::invalid(format!("cannot listen on {listen}: {e}")))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Kept alive until the server stops: dropping it deletes the demo folder.
    let mut demo_dir = None;
    let settings = if args.demo {
        if tls.is_none() && !addr.ip().is_loopback() {
            return Err(Error::invalid(
                "--demo serves plain http on loopback addresses only; give --tls-cert and --tls-key to listen elsewhere",
            ));
        }
        let host = if addr.ip().is_loopback() {
            "localhost".to_owned()
        } else {
            addr.ip().to_string()
        };
        let d = demo::prepare(&format!("{scheme}://{host}:{}", addr.port()))?;
        let settings = d.settings.clone();
        print_demo(&d)?;
        demo_dir = Some(d);
        settings
    } else {
        let settings = loaded.ok_or_else(|| Error::invalid("internal: settings not loaded"))?;
        args.placeholders.check(&settings)?;
        settings
    };
    let signer = match &settings.signing {
        Some(source) => Some(super::load_signer(source, args.allow_expired)?),
        None => {
            tracing::warn!(
                "{} has no [signing] section: profiles are served unsigned (devices show them as \"Unverified\")",
                settings.file.display()
            );
            None
        }
    };
    if let Some(portal) = &settings.portal {
        if let PortalAuth::Header(name) = &portal.auth {
            tracing::info!(
                "auth = \"header\": users are who the {name} header says; only a reverse proxy that sets it (and strips it from clients) may reach {addr}"
            );
        }
        if let (PortalAuth::Oidc, Some(oidc)) = (&portal.auth, &settings.oidc) {
            tracing::info!(
                "auth = \"oidc\": people sign in at {}; its redirect URI for aspen is {}{}",
                oidc.issuer,
                portal.public_url,
                crate::identity::CALLBACK_PATH
            );
        }
        if portal.public_url.starts_with("http://") && !args.demo {
            tracing::info!(
                "public_url {} is plain http: fine for testing on this machine; devices need https (see README: reverse proxy)",
                portal.public_url
            );
        }
    }
    let public_url = settings
        .portal
        .as_ref()
        .map(|p| p.public_url.clone())
        .unwrap_or_default();
    let options = serve::Options {
        listen: addr,
        tls,
        tls_key_passphrase,
    };
    let result = serve::run(settings, signer, listener, options, |bound| {
        tracing::info!(
            "serving {public_url} (listening on {scheme}://{bound}); Ctrl-C or SIGTERM stops"
        );
    });
    drop(demo_dir);
    result
}

fn print_demo(d: &demo::Demo) -> Result<()> {
    let portal = d.settings.require_portal()?;
    let keys = crate::tokens::Keys::load(&portal.secret_file)?;
    let stored = super::Stored::open(&d.settings.require_store()?)?;
    let url = &portal.public_url;
    use std::fmt::Write as _;
    let mut text = String::new();
    writeln!(
        text,
        "aspen serve --demo: Contoso's enrollment portal with demo users."
    )
    .ok();
    writeln!(
        text,
        "Profiles are signed with a key made just now (root: {}).",
        d.root_certificate.display()
    )
    .ok();
    text.push('\n');
    writeln!(
        text,
        "Open {url}/ in a browser and sign in with a one-time code:"
    )
    .ok();
    for (user, what) in demo::USERS_SHOWN {
        let (code, _) = stored.run(serve::codes::create_code(
            &keys,
            stored.store.as_ref(),
            user,
            DEMO_CODE_SECONDS,
        ))?;
        writeln!(text, "  {code}  {user:<18}  {what}").ok();
    }
    writeln!(
        text,
        "(codes work once, until {})",
        format_utc(crate::audit::now() + DEMO_CODE_SECONDS)
    )
    .ok();
    text.push('\n');
    writeln!(
        text,
        "Account-driven enrollment, step by step as a device does it:"
    )
    .ok();
    writeln!(text, "  curl -s '{url}/.well-known/com.apple.remotemanagement?user-identifier=carol@contoso.com&model-family=iPhone'").ok();
    writeln!(
        text,
        "  curl -si -X POST {url}{}",
        serve::account_driven::ENROLL_PATH
    )
    .ok();
    writeln!(
        text,
        "  then open {url}{}?user-identifier=carol@contoso.com and sign in with carol's code",
        serve::account_driven::LOGIN_PATH
    )
    .ok();
    text.push('\n');
    writeln!(text, "Check a downloaded profile: openssl cms -verify -inform DER -purpose any -CAfile {} -in FILE -out /dev/null",
        d.root_certificate.display()).ok();
    writeln!(
        text,
        "Audit log: aspen issued -c {}",
        d.settings.file.display()
    )
    .ok();
    text.push('\n');
    super::printer::out(&text)
}
