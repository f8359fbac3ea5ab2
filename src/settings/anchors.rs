//! `[[anchor]]`: certificates the device is to trust (the anchor
//! certificates of the MDM payload), read and checked at load.

use super::fields::relative_path;
use crate::error::FieldError;
use crate::payload::cert::AnchorCert;
use serde::Deserialize;
use std::path::Path;

/// One `[[anchor]]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnchor {
    certificate: String,
    #[serde(default)]
    pin: bool,
}

/// Every `[[anchor]]`, in the order written.
pub(super) fn validate(raw: Vec<RawAnchor>, base: &Path) -> Result<Vec<AnchorCert>, FieldError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| anchor(i, a, base))
        .collect()
}

/// `anchor[i]`: the certificate file, read (capped) and parsed.
fn anchor(i: usize, raw: RawAnchor, base: &Path) -> Result<AnchorCert, FieldError> {
    let field = format!("anchor[{i}].certificate");
    let path = relative_path(base, &field, &raw.certificate)?;
    // Capped: a certificate path may name a pipe or /dev/zero.
    let bytes = crate::fs::read_capped(&path, crate::x509::MAX_FILE_BYTES)
        .map_err(|e| FieldError::new(&field, Some(&raw.certificate), format!("cannot read {e}")))?;
    let file_name = Path::new(&raw.certificate)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| raw.certificate.clone());
    AnchorCert::parse(file_name, &bytes, raw.pin)
        .map_err(|why| FieldError::new(&field, Some(&raw.certificate), why))
}
