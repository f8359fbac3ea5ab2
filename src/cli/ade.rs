//! `aspen ade profile`: the JSON body of Apple's "define profile" call
//! (Apple: Device Assignment, `POST https://mdmenrollment.apple.com/profile`,
//! the `Profile` object) from `[ade]`, whose keys are Apple's field names,
//! with `anchor_certs` from `[[anchor]]`. Send it with NanoDEP's `depserver`
//! or straight to Apple (docs/ade.md), then assign the profile's UUID to the
//! devices.

use super::printer;
use crate::error::{Error, Result};
use crate::settings::{Settings, WebUrl};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the ADE profile to define with Apple (JSON, Apple's field names).
    Profile(ProfileArgs),
}

#[derive(clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    config: super::Config,
    /// Output file; stdout when absent or `-`.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Apple's `Profile` (Device Assignment), in the order Apple lists its
/// fields; what the settings leave unset is left out (Apple's default),
/// except the fields Apple requires (`is_mdm_removable`, `org_magic`).
#[derive(Serialize)]
pub struct DefineProfile<'a> {
    pub profile_name: &'a str,
    pub url: String,
    pub is_supervised: bool,
    pub is_mandatory: bool,
    pub is_mdm_removable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub await_device_configured: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_email_address: Option<&'a str>,
    pub org_magic: &'a str,
    /// Base64 DER: the device trusts these for the `url`'s TLS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anchor_certs: Vec<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub skip_setup_items: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_web_url: Option<String>,
}

/// The define-profile body for `settings`.
pub fn define_profile(settings: &Settings) -> Result<DefineProfile<'_>> {
    let ade = settings.ade.as_ref().ok_or_else(|| {
        Error::invalid(format!(
            "{}: has no [ade] section (Automated Device Enrollment)",
            settings.file.display()
        ))
    })?;
    let p = &ade.profile;
    // The settings checked at load that a missing URL has a public URL.
    let public = settings
        .portal
        .as_ref()
        .map(|portal| portal.public_url.as_str());
    let under = |path: &str| public.map(|u| format!("{u}{path}"));
    let url = p
        .url
        .clone()
        .or_else(|| under(crate::serve::ade::ENROLL_PATH))
        .ok_or_else(|| Error::invalid("[ade] url: no [portal] public_url to default to"))?;
    let configuration_web_url = match &p.configuration_web_url {
        None => None,
        Some(WebUrl::At(u)) => Some(u.clone()),
        Some(WebUrl::Here) => Some(under(crate::serve::ade::WEB_PATH).ok_or_else(|| {
            Error::invalid("[ade] configuration_web_url: no [portal] public_url")
        })?),
    };
    Ok(DefineProfile {
        profile_name: &p.profile_name,
        url,
        is_supervised: p.is_supervised,
        is_mandatory: p.is_mandatory,
        is_mdm_removable: p.is_mdm_removable,
        await_device_configured: p.await_device_configured,
        support_phone_number: p.support_phone_number.as_deref(),
        support_email_address: p.support_email_address.as_deref(),
        org_magic: p
            .org_magic
            .as_deref()
            .unwrap_or(&settings.organization.identifier),
        anchor_certs: settings
            .anchors
            .iter()
            .map(|a| openssl::base64::encode_block(&a.der))
            .collect(),
        skip_setup_items: &p.skip_setup_items,
        department: p.department.as_deref(),
        language: p.language.as_deref(),
        region: p.region.as_deref(),
        configuration_web_url,
    })
}

pub fn run(cmd: Command) -> Result<()> {
    let Command::Profile(args) = cmd;
    let settings = args.config.load()?;
    let body = define_profile(&settings)?;
    let mut text = serde_json::to_string_pretty(&body)
        .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
    text.push('\n');
    match args.output.as_deref() {
        Some(path) if path != std::path::Path::new("-") => {
            crate::output::write_atomic(path, text.as_bytes())?;
            printer::note(format!(
                "wrote {}: define it with NanoDEP (curl -u depserver:$KEY -X POST -T {} $URL/proxy/$DEP_NAME/profile), then assign its profile_uuid to the devices",
                path.display(),
                path.display()
            ));
            Ok(())
        }
        _ => printer::out(&text),
    }
}
