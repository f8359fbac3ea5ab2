//! The enrollment model: what kind of enrollment a profile is for, who owns the
//! device, and (for policies) which user gets which.

mod apple_id;
pub mod assignment;
pub mod device;
pub mod directory;
mod kind;
pub mod machine_info;
pub mod policy;
pub mod resolution;
pub mod restriction;

pub use apple_id::{ManagedAppleId, check_email};
pub use kind::{Channel, Enrollment, EnrollmentKind, EnrollmentMode, Management, Ownership};
