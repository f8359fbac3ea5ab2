//! The second attack run (issue 19): each finding reproduced against a real
//! server on loopback, bounded in count and time, and shown refused or
//! bounded.

use crate::server;

use server::{Server, client};

/// A binary plist of 40 arrays, each holding 14 references to the next:
/// 724 bytes that a reader walking references expands to 14^40 values.
fn reference_bomb() -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = (0..40u8)
        .map(|i| [vec![0xAE], vec![i + 1; 14]].concat())
        .collect();
    objects.push(vec![0x51, b'x']);
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in &objects {
        offsets.push(out.len() as u16);
        out.extend_from_slice(o);
    }
    let table = out.len() as u64;
    for o in offsets {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(&[0; 6]);
    out.push(2); // offsets: 2 bytes
    out.push(1); // references: 1 byte
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 1 (high): 724 bytes posted to the enrollment endpoint, before
/// anyone signs in, cost ~160 ms of CPU and ~220 MB each. Now the object
/// table is measured before anything is built and a MachineInfo gets a
/// MachineInfo's limits: every bomb is a 400 naming the limit, the server
/// keeps no memory for them, and a normal device still enrolls up to the
/// sign-in challenge.
#[tokio::test]
async fn a_plist_reference_bomb_costs_nothing() {
    let s = Server::start("");
    let bomb = reference_bomb();
    assert!(bomb.len() <= 724, "{}", bomb.len());
    let url = format!("{}/account-driven/enroll?version=mdm-byod", s.url);
    let c = client();
    // Warm up, so the baseline includes the server's own buffers.
    let _ = c.post(&url).body(server::iphone_18()).send().await.unwrap();
    let before = rss_kib(s.pid());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url, bomb) = (c.clone(), url.clone(), bomb.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let res = c.post(&url).body(bomb.clone()).send().await.unwrap();
                assert_eq!(res.status(), 400);
                let text = res.text().await.unwrap();
                assert!(
                    text.contains("values once its shared objects are expanded")
                        || text.contains("nests deeper than 2 levels"),
                    "{text}"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let grown = rss_kib(s.pid()).saturating_sub(before);
    // 200 bombs that once took ~220 MB each leave less than 8 MiB behind
    // (allocator noise, connection buffers).
    assert!(grown < 8 * 1024, "resident memory grew by {grown} KiB");
    // A real MachineInfo still reads: the device is sent to sign in.
    let res = c.post(&url).body(server::iphone_18()).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        server::header(&res, "www-authenticate").contains("apple-as-web"),
        "{res:?}"
    );
}
