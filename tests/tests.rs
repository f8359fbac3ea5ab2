//! aspen's integration tests, as one test binary (`cargo test --test
//! integration`): one module per area, sharing the helpers in `common`
//! (running the binary, fixtures, independent checkers), `server` (a real
//! `aspen serve` on loopback) and `pg` (a throwaway PostgreSQL cluster).
//! One binary links once, instead of once per file.

mod common;
mod idp;
mod pg;
mod server;

mod account_driven;
mod ade;
mod architecture;
mod attacks;
mod browser;
mod bulk;
mod check;
mod cli;
mod cms;
mod contract;
mod encrypt;
mod errors;
mod hardening;
mod init;
mod inspect;
mod issued;
mod kinds;
mod lint;
mod newcomer;
mod oidc;
mod oidc_devices;
mod policies;
mod read;
mod readme;
mod replicas;
mod restrictions;
mod revocation;
mod scripts;
mod secrets;
mod serve;
mod signing;
mod stdin;
mod step_ca;
mod store;
mod tls;
mod verify;
mod webdriver;
