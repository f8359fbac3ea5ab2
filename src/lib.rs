//! aspen: Apple enrollment profiles from one settings file — built, signed,
//! checked and served.
//!
//! Data flows one way: [`settings::Settings`] (validated once) →
//! [`model::Enrollment`] (which kind, whose Managed Apple ID) →
//! [`profile::build`] → plist bytes → [`sign::Signer`] → output.

pub mod audit;
pub mod bulk;
pub mod challenge;
pub mod cli;
pub mod encrypt;
pub mod error;
pub mod escape;
pub mod fs;
pub mod hex;
pub mod identity;
pub mod inspect;
pub mod issue;
pub mod lint;
pub mod model;
pub mod net;
pub mod output;
pub mod payload;
pub mod profile;
pub mod read;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod sign;
pub mod store;
pub mod time;
pub mod tokens;
pub mod verify;
pub mod x509;

pub use error::{Error, Result};
