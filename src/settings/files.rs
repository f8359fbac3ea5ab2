//! The files the settings name but read only when a command needs them
//! (the signing identity, the users file, the portal's key, the TLS pair),
//! each with the key and line it is written on: a file that is not there
//! is then reported where it can be fixed (`aspen.toml:31:
//! signing.certificate: certs/signing.pem: no such file`), not as a bare
//! path deep in a command.

use super::Settings;
use super::locate;
use crate::error::Error;
use crate::sign::{KeySource, Passphrase};
use std::path::PathBuf;

/// A file named by one settings key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// In the settings' notation: `signing.certificate`, `signing.chain[0]`.
    pub key: String,
    pub line: Option<usize>,
    /// As resolved against the settings file's folder.
    pub path: PathBuf,
}

/// Every file `settings` (read from `text`) names and reads later.
pub(super) fn named(settings: &Settings, text: &str) -> Vec<NamedFile> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let passphrase = |files: &mut Vec<(String, PathBuf)>, key: &str, p: &Option<Passphrase>| {
        if let Some(Passphrase::File(path)) = p {
            files.push((key.into(), path.clone()));
        }
    };
    match &settings.signing {
        Some(KeySource::Pem {
            certificate,
            key,
            chain,
            passphrase: p,
        }) => {
            files.push(("signing.certificate".into(), certificate.clone()));
            files.push(("signing.key".into(), key.clone()));
            for (i, c) in chain.iter().enumerate() {
                files.push((format!("signing.chain[{i}]"), c.clone()));
            }
            passphrase(&mut files, "signing.key_passphrase_file", p);
        }
        Some(KeySource::Pkcs12 {
            path,
            passphrase: p,
        }) => {
            files.push(("signing.pkcs12".into(), path.clone()));
            passphrase(&mut files, "signing.pkcs12_passphrase_file", p);
        }
        None => {}
    }
    if let Some(users) = &settings.directory_users {
        files.push(("directory.users".into(), users.clone()));
    }
    if let Some(portal) = &settings.portal {
        files.push(("portal.secret_file".into(), portal.secret_file.clone()));
    }
    if let Some((cert, key)) = &settings.serve.tls {
        files.push(("serve.tls_cert".into(), cert.clone()));
        files.push(("serve.tls_key".into(), key.clone()));
    }
    passphrase(
        &mut files,
        "serve.tls_key_passphrase_file",
        &settings.serve.tls_key_passphrase,
    );
    files
        .into_iter()
        .map(|(key, path)| NamedFile {
            line: locate::written_or_parent(text, &key).map(|at| locate::line_of(text, at)),
            key,
            path,
        })
        .collect()
}

impl Settings {
    /// `e`, or, when it is a file these settings name that is not there,
    /// the settings key and line that name it.
    pub fn name_missing(&self, e: Error) -> Error {
        name_missing(&self.file, &self.files, e)
    }
}

/// [`Settings::name_missing`] for the files of the settings at `file`.
pub fn name_missing(file: &std::path::Path, files: &[NamedFile], e: Error) -> Error {
    match &e {
        Error::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            match files.iter().find(|f| &f.path == path) {
                Some(f) => Error::Settings {
                    file: file.to_owned(),
                    line: f.line,
                    // A reader's own words (the way to make the file) stay.
                    message: match source.get_ref() {
                        Some(words) => format!("{}: {}: {words}", f.key, path.display()),
                        None => format!("{}: {}: no such file", f.key, path.display()),
                    },
                },
                None => e,
            }
        }
        _ => e,
    }
}
