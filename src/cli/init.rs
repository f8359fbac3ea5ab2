use super::note;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use std::path::PathBuf;

/// The settings file `aspen init` writes: every key, commented.
pub const TEMPLATE: &str = include_str!("init_template.toml");

/// The template's placeholder topic, replaced by `--push-cert`'s.
const TOPIC_LINE: &str =
    "topic = \"com.apple.mgmt.External.00000000-0000-0000-0000-000000000000\"\n";

#[derive(clap::Args)]
pub struct Args {
    /// Folder to write aspen.toml into.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The APNs MDM push certificate (PEM or DER): [mdm] topic is its UID.
    #[arg(long, value_name = "PEM")]
    push_cert: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    // Checked before anything is written: a bad certificate leaves nothing.
    let topic = match &args.push_cert {
        Some(path) => Some(
            crate::payload::mdm::topic_from_file(path)
                .map_err(|why| Error::invalid(format!("{}: {why}", path.display())))?,
        ),
        None => None,
    };
    let text = match (&topic, &args.push_cert) {
        (Some(topic), Some(path)) => TEMPLATE.replacen(
            TOPIC_LINE,
            &format!(
                "topic = {topic:?}   # the UID of {}\n",
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            1,
        ),
        _ => TEMPLATE.to_owned(),
    };
    std::fs::create_dir_all(&args.dir).map_err(|e| Error::io(&args.dir, e))?;
    let path = args.dir.join("aspen.toml");
    if path.exists() {
        return Err(Error::invalid(format!(
            "{}: already exists; not overwriting it",
            path.display()
        )));
    }
    // The portal's HMAC key, next to the settings (portal.secret_file).
    let secret = args.dir.join("portal.secret");
    if !secret.exists() {
        crate::tokens::write_secret(&secret)?;
    }
    write_atomic(&path, text.as_bytes())?;
    if let Some(topic) = &topic {
        note(format!(
            "[mdm] topic = {topic:?}, from the push certificate"
        ));
    }
    note(format!(
        "wrote {}: replace its example.com hosts{} in [mdm], [identity] and [portal] (profile, bulk and serve refuse them), then run `aspen profile device -c {}`",
        path.display(),
        if topic.is_some() {
            ""
        } else {
            " and the all-zero topic"
        },
        path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_has_the_placeholder_topic_once() {
        assert_eq!(super::TEMPLATE.matches(super::TOPIC_LINE).count(), 1);
    }
}
