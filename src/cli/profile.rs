use super::{note, warn};
use crate::audit;
use crate::encrypt::Recipient;
use crate::error::{Error, Result};
use crate::issue::{Issuer, Order, Seal};
use crate::model::{Enrollment, EnrollmentKind, ManagedAppleId, Ownership};
use crate::output::stage;
use crate::settings::{IdentityUse, Settings};
use crate::sign::Signer;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Device enrollment: the whole device is managed. With --managed-apple-id
    /// the profile is for account-driven Device Enrollment (ADDE).
    Device(DeviceArgs),
    /// User Enrollment (BYOD): account-driven, for the user's Managed Apple ID.
    User(UserArgs),
    /// The profile a directory user's enrollment policy gives them (see
    /// `aspen resolve`).
    For(ForArgs),
}

#[derive(clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub config: super::Config,
    /// Output file; stdout when absent or `-`.
    #[arg(
        short = 'o',
        long = "out",
        visible_alias = "output",
        value_name = "FILE"
    )]
    pub output: Option<PathBuf>,
    /// Write an unsigned profile even if the settings configure signing.
    #[arg(long)]
    pub unsigned: bool,
    /// Sign even if the signing certificate has expired.
    #[arg(long)]
    pub allow_expired: bool,
    /// Encrypt the payloads for this device identity certificate (PEM, RSA):
    /// EncryptedPayloadContent, as Apple's profile encryption specifies.
    #[arg(long, value_name = "CERT.pem")]
    pub encrypt_for: Option<PathBuf>,
    #[command(flatten)]
    pub placeholders: super::Placeholders,
    /// Print a JSON summary (file, kind, user, PayloadUUID, SHA-256) on
    /// stdout; the profile goes to -o FILE.
    #[arg(long, requires = "output")]
    pub json: bool,
}

/// `--json`: what `profile` wrote.
#[derive(serde::Serialize)]
struct Summary<'a> {
    file: String,
    kind: &'static str,
    ownership: &'static str,
    user: Option<&'a str>,
    policy: Option<&'a str>,
    payload_uuid: &'a str,
    sha256: String,
    signed: bool,
    per_profile_secret: bool,
}

#[derive(clap::Args)]
pub struct DeviceArgs {
    #[command(flatten)]
    common: Common,
    /// Who owns the device; decides the MDM access rights.
    #[arg(long, value_enum, default_value = "corporate")]
    owner: Ownership,
    /// The user's Managed Apple ID: makes it account-driven Device Enrollment.
    #[arg(long, value_name = "ID")]
    managed_apple_id: Option<String>,
}

#[derive(clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    common: Common,
    /// The user's Managed Apple ID (required).
    #[arg(long, value_name = "ID")]
    managed_apple_id: String,
    /// Profile-based User Enrollment (ManagedAppleID key) for iOS 13.1–17 and
    /// macOS 10.15–14 only: iOS 18 and macOS 15 refuse it.
    #[arg(long)]
    legacy: bool,
}

#[derive(clap::Args)]
pub struct ForArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    lookup: super::resolve::Lookup,
}

fn managed_apple_id(value: &str) -> Result<ManagedAppleId> {
    ManagedAppleId::parse(value)
        .map_err(|why| Error::invalid(format!("--managed-apple-id {value:?} {why}")))
}

pub fn run(cmd: Command) -> Result<()> {
    let (common, enrollment) = match cmd {
        Command::Device(a) => {
            let id = a
                .managed_apple_id
                .as_deref()
                .map(managed_apple_id)
                .transpose()?;
            let kind = match id {
                Some(_) => EnrollmentKind::AccountDrivenDevice(a.owner),
                None => EnrollmentKind::Device(a.owner),
            };
            (a.common, Enrollment::new(kind, id).map_err(Error::invalid)?)
        }
        Command::User(a) => {
            let id = managed_apple_id(&a.managed_apple_id)?;
            let kind = if a.legacy {
                warn(
                    "profile-based User Enrollment (ManagedAppleID) is refused by iOS 18 and macOS 15; it installs only on iOS 13.1–17 and macOS 10.15–14",
                );
                EnrollmentKind::LegacyUser
            } else {
                EnrollmentKind::AccountDrivenUser
            };
            (
                a.common,
                Enrollment::new(kind, Some(id)).map_err(Error::invalid)?,
            )
        }
        Command::For(a) => {
            let settings = a.common.config.load()?;
            let (enrollment, policy) = a.lookup.enrollment(&settings)?;
            let user = Some((a.lookup.email(), policy.as_str()));
            return write_profile(&settings, &a.common, &enrollment, user);
        }
    };
    let settings = common.config.load()?;
    write_profile(&settings, &common, &enrollment, None)
}

/// Issues one profile by the one issue path ([`crate::issue`]), writes it,
/// then records its per-profile secret and its audit row; `user` is the
/// directory user and their policy, for `profile for`. A file appears under
/// its name only once both are recorded; on stdout the profile is out
/// before they are, and an error says so.
fn write_profile(
    settings: &Settings,
    common: &Common,
    enrollment: &Enrollment,
    user: Option<(&str, &str)>,
) -> Result<()> {
    common.placeholders.check(settings)?;
    let recipient = common
        .encrypt_for
        .as_deref()
        .map(Recipient::load)
        .transpose()?;
    let signer = load_signer(settings, common)?;
    let stored = match settings.store_location()? {
        Some(location) => Some(super::Stored::open(&location)?),
        None => None,
    };
    let keys = match settings.identity.is_per_profile() {
        true => Some(super::secret_keys(settings)?),
        false => None,
    };
    let (email, policy) = match user {
        Some((email, policy)) => (Some(email), Some(policy)),
        None => (enrollment.managed_apple_id().map(|m| m.as_str()), None),
    };
    let order = Order {
        enrollment,
        identity: IdentityUse::Primary,
        user: email,
        policy,
        source: audit::Source::Cli,
        client: None,
    };
    let issuer = Issuer {
        settings,
        keys: keys.as_ref(),
    };
    let seal = match &signer {
        Some(s) => Seal::Signer(s),
        None => Seal::None,
    };
    let issued = issuer.issue(&order, seal, recipient.as_ref())?;
    let staged = stage(common.output.as_deref(), &issued.bytes, issued.access)?;
    let out = staged.is_out();
    let recorded = (|| -> Result<()> {
        let Some(stored) = &stored else {
            return Ok(());
        };
        let now = audit::now();
        if let Some(secret) = issued.secret.clone() {
            stored.run(stored.store.add_secrets(vec![secret], now))?;
        }
        stored.run(stored.store.append(vec![issued.record.clone()], now))
    })();
    match recorded {
        Ok(()) => {
            staged.commit()?;
            if common.json {
                let file = common.output.as_deref().map(|p| p.display().to_string());
                super::printer::json(&Summary {
                    file: file.unwrap_or_default(),
                    kind: issued.kind.slug(),
                    ownership: issued.kind.ownership().as_str(),
                    user: email,
                    policy,
                    payload_uuid: &issued.payload_uuid,
                    sha256: issued.sha256_hex(),
                    signed: signer.is_some(),
                    per_profile_secret: issued.secret.is_some(),
                })?;
            }
            Ok(())
        }
        // The file is not put in place: nothing unrecorded is left behind.
        Err(e) if !out => Err(e),
        Err(e) => Err(Error::invalid(format!(
            "the profile {} was written to standard output but could not be recorded{}: {e}",
            issued.payload_uuid,
            if issued.secret.is_some() {
                " (scep-verify will refuse its per-profile secret)"
            } else {
                ""
            }
        ))),
    }
}

/// The signer the settings configure, unless `--unsigned`; a note when the
/// profile will be unsigned because nothing is configured.
pub fn load_signer(settings: &Settings, common: &Common) -> Result<Option<Signer>> {
    signer(settings, common.unsigned, common.allow_expired)
}

/// [`load_signer`] for commands without the [`Common`] arguments.
pub fn signer(settings: &Settings, unsigned: bool, allow_expired: bool) -> Result<Option<Signer>> {
    if unsigned {
        return Ok(None);
    }
    match &settings.signing {
        Some(source) => super::load_signer(source, allow_expired).map(Some),
        None => {
            note(format!(
                "{} has no [signing] section: the profile is unsigned (devices show it as \"Unverified\")",
                settings.file.display()
            ));
            Ok(None)
        }
    }
}
