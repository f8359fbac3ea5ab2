//! A signed profile whose signature does not verify is refused by devices
//! ("Not Verified" at best); an expired signer shows as unverified.

use super::{Sink, rules};
use crate::read::Document;
use crate::verify;

pub fn check(doc: &Document, sink: &mut Sink) {
    if doc.signed.is_none() {
        return;
    }
    let report = verify::verify(
        doc,
        &verify::Options {
            trusted: Vec::new(),
            allow_expired: true,
        },
    );
    if let Some(why) = report.error {
        sink.top(rules::BAD_SIGNATURE, "", why);
        return;
    }
    for s in &report.signers {
        if let (Some(cert), Some(state)) = (&s.certificate, s.validity)
            && state != crate::verify::Validity::Valid
        {
            sink.top(
                rules::SIGNER_EXPIRED,
                "",
                format!(
                    "the signing certificate {} is {} (valid {} to {})",
                    cert.subject,
                    state.as_str(),
                    cert.not_before,
                    cert.not_after
                ),
            );
        }
    }
}
