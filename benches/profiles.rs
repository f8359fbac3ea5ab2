//! aspen's own share of `aspen bulk`, in memory: building and serialising
//! profiles, and signing them, on every core, without reading a CSV or
//! writing files. `benches/bulk.sh` runs it next to the end-to-end figures.
//!
//! Run: `cargo bench --bench profiles [-- PROFILES]` (default 10,000;
//! generation uses ten times as many).

use aspen::model::{Enrollment, EnrollmentKind, ManagedAppleId, Ownership};
use aspen::profile;
use aspen::settings::{IdentityUse, Settings};
use aspen::sign::{KeySource, Signer};
use std::path::Path;
use std::time::Instant;

/// The mix `benches/bulk.sh` feeds bulk: three users in four get User
/// Enrollment (a profile of their own), one in four corporate device
/// enrollment.
fn enrollment(i: usize) -> Enrollment {
    if i % 4 == 1 {
        Enrollment::new(EnrollmentKind::Device(Ownership::Corporate), None).unwrap()
    } else {
        let id = ManagedAppleId::parse(&format!("user{i:06}@contoso.com")).unwrap();
        Enrollment::new(EnrollmentKind::AccountDrivenUser, Some(id)).unwrap()
    }
}

/// Runs `f(i)` for `0..n` split over `threads`; returns items per second.
fn rate<F: Fn(usize) + Sync>(n: usize, threads: usize, f: F) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || (t..n).step_by(threads).for_each(f));
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = Settings::load(&root.join("fixtures/demo/aspen.toml")).expect("demo settings");

    let generated = rate(10 * n, threads, |i| {
        let enrollment = enrollment(i);
        let issue = profile::Issue::new(
            &settings,
            IdentityUse::Primary,
            &enrollment,
            profile::Target::default(),
        )
        .unwrap();
        let xml = profile::build(&settings, &enrollment, &issue)
            .to_xml()
            .unwrap();
        std::hint::black_box(xml);
    });
    println!("in-memory generate: {generated:.0} profiles/s ({threads} threads)");

    let issue = profile::Issue::new(
        &settings,
        IdentityUse::Primary,
        &enrollment(0),
        profile::Target::default(),
    )
    .unwrap();
    let xml = profile::build(&settings, &enrollment(0), &issue)
        .to_xml()
        .unwrap();
    for (name, key) in [("rsa2048", "signer"), ("ecdsap256", "signer-ec")] {
        let certs = root.join("fixtures/certs");
        let signer = Signer::load(
            &KeySource::Pem {
                certificate: certs.join(format!("{key}.pem")),
                key: certs.join(format!("{key}.key")),
                chain: vec![certs.join("intermediate.pem")],
                passphrase: None,
            },
            false,
        )
        .expect("test signer");
        let per_thread = n.div_ceil(threads);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut session = signer.session().unwrap();
                    for _ in 0..per_thread {
                        std::hint::black_box(session.sign(&xml).unwrap());
                    }
                });
            }
        });
        let signed = (per_thread * threads) as f64 / start.elapsed().as_secs_f64();
        println!("in-memory sign {name}: {signed:.0} profiles/s ({threads} threads)");
    }
}
