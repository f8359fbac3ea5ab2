//! aspen encodes CMS SignedData itself (src/sign/cms.rs) instead of calling
//! OpenSSL's `CMS_sign` per profile. These tests prove the two are the same
//! thing: `openssl cms -verify` accepts ours and returns the exact content,
//! and ours is byte-identical to `CMS_sign(BINARY | NOSMIMECAP)`'s output but
//! for the signature value (and, for RSA, identical outright: PKCS#1 v1.5 is
//! deterministic).

use crate::common;
use aspen::sign::{KeySource, Signer};
use common::*;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use std::path::Path;

/// A DER tree, enough to compare and re-encode CMS structures.
#[derive(Debug, Clone, PartialEq)]
enum Der {
    Prim(u8, Vec<u8>),
    Cons(u8, Vec<Der>),
}

fn parse_one(der: &[u8]) -> (Der, &[u8]) {
    let tag = der[0];
    let (len, head) = if der[1] < 0x80 {
        (der[1] as usize, 2)
    } else {
        let n = (der[1] & 0x7f) as usize;
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |l, &b| (l << 8) | b as usize);
        (len, 2 + n)
    };
    let body = &der[head..head + len];
    let node = if tag & 0x20 != 0 {
        let mut children = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let (child, r) = parse_one(rest);
            children.push(child);
            rest = r;
        }
        Der::Cons(tag, children)
    } else {
        Der::Prim(tag, body.to_vec())
    };
    (node, &der[head + len..])
}

fn parse(der: &[u8]) -> Der {
    let (node, rest) = parse_one(der);
    assert!(rest.is_empty(), "trailing bytes after the DER element");
    node
}

fn encode(node: &Der) -> Vec<u8> {
    let (tag, body) = match node {
        Der::Prim(tag, body) => (*tag, body.clone()),
        Der::Cons(tag, children) => (*tag, children.iter().flat_map(encode).collect()),
    };
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        let bytes = body.len().to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend(body);
    out
}

fn children(node: &mut Der) -> &mut Vec<Der> {
    match node {
        Der::Cons(_, c) => c,
        Der::Prim(..) => panic!("expected a constructed element"),
    }
}

/// ContentInfo → [0] → SignedData → signerInfos (last) → SignerInfo.
fn signer_info(tree: &mut Der) -> &mut Vec<Der> {
    let signed_data = &mut children(&mut children(tree)[1])[0];
    let infos = children(signed_data).last_mut().unwrap();
    children(&mut children(infos)[0])
}

/// The signing-time value of a SignedData.
fn signing_time(tree: &mut Der) -> Der {
    let attrs = children(&mut signer_info(tree)[3]);
    children(&mut children(&mut attrs[1])[1])[0].clone()
}

struct Identity {
    source: KeySource,
    cert: X509,
    key: PKey<openssl::pkey::Private>,
    chain: Vec<X509>,
}

fn identity(signer: &str, with_chain: bool) -> Identity {
    let cert_path = cert(&format!("{signer}.pem"));
    let key_path = cert(&format!("{signer}.key"));
    let chain_paths = if with_chain {
        vec![cert("intermediate.pem")]
    } else {
        vec![]
    };
    let read = |p: &Path| std::fs::read(p).unwrap();
    Identity {
        cert: X509::from_pem(&read(&cert_path)).unwrap(),
        key: PKey::private_key_from_pem(&read(&key_path)).unwrap(),
        chain: chain_paths
            .iter()
            .map(|p| X509::from_pem(&read(p)).unwrap())
            .collect(),
        source: KeySource::Pem {
            certificate: cert_path,
            key: key_path,
            chain: chain_paths,
            passphrase: None,
        },
    }
}

/// OpenSSL's own CMS_sign of `content`, as aspen's signer was before.
fn openssl_cms_sign(id: &Identity, content: &[u8]) -> Vec<u8> {
    let mut stack = Stack::new().unwrap();
    for c in &id.chain {
        stack.push(c.clone()).unwrap();
    }
    CmsContentInfo::sign(
        Some(&id.cert),
        Some(&id.key),
        Some(&stack),
        Some(content),
        CMSOptions::BINARY | CMSOptions::NOSMIMECAP,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// Signs `content` with aspen and with OpenSSL in the same second. A pair
/// that straddles a second boundary is tried again; on a loaded machine that
/// can happen many times in a row, so the bound is generous (each try takes
/// milliseconds when the machine is idle).
fn both(id: &Identity, content: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let signer = Signer::load(&id.source, false).unwrap();
    for _ in 0..200 {
        let ours = signer.sign(content).unwrap();
        let theirs = openssl_cms_sign(id, content);
        if signing_time(&mut parse(&ours)) == signing_time(&mut parse(&theirs)) {
            return (ours, theirs);
        }
    }
    panic!("could not sign twice within one second");
}

fn contents() -> Vec<Vec<u8>> {
    let profile = std::fs::read(fixture("golden/device-corporate.mobileconfig")).unwrap();
    // Content lengths around DER's length-of-length boundaries.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    vec![
        profile,
        b"x".to_vec(),
        vec![b'a'; 127],
        vec![b'b'; 255],
        big,
    ]
}

#[test]
fn openssl_verifies_every_key_type_with_and_without_chain() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("root-and-intermediate.pem");
    let mut pem = std::fs::read(cert("ca.pem")).unwrap();
    pem.extend(std::fs::read(cert("intermediate.pem")).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    for signer in ["signer", "signer-ec", "signer-p384"] {
        for with_chain in [true, false] {
            let id = identity(signer, with_chain);
            let s = Signer::load(&id.source, false).unwrap();
            for (i, content) in contents().iter().enumerate() {
                let path = dir.path().join(format!("{signer}-{with_chain}-{i}.p7m"));
                std::fs::write(&path, s.sign(content).unwrap()).unwrap();
                let got = if with_chain {
                    // The intermediate must come from the file itself.
                    openssl_verify(&path, &cert("ca.pem"))
                } else {
                    // Without it the chain cannot be built...
                    let err = openssl_verify(&path, &cert("ca.pem")).unwrap_err();
                    assert!(err.contains("unable to get local issuer"), "{err}");
                    // ...unless the verifier has the intermediate itself.
                    openssl_verify(&path, &bundle)
                };
                assert_eq!(
                    &got.unwrap_or_else(|e| panic!("{signer} {with_chain} {i}: {e}")),
                    content,
                    "{signer} chain={with_chain} content {i}"
                );
                let subjects = openssl_cms_subjects(&path);
                assert_eq!(subjects.len(), if with_chain { 2 } else { 1 });
                assert!(subjects.iter().all(|s| !s.contains("Root")), "{subjects:?}");
            }
        }
    }
}

#[test]
fn rsa_signatures_are_byte_identical_to_openssl_cms_sign() {
    for with_chain in [true, false] {
        let id = identity("signer", with_chain);
        for content in contents() {
            let (ours, theirs) = both(&id, &content);
            assert!(ours == theirs, "differs from CMS_sign (chain={with_chain})");
        }
    }
}

#[test]
fn ecdsa_signatures_differ_from_openssl_only_in_the_signature_value() {
    for signer in ["signer-ec", "signer-p384"] {
        for with_chain in [true, false] {
            let id = identity(signer, with_chain);
            for content in contents() {
                let (ours, theirs) = both(&id, &content);
                let mut ours_tree = parse(&ours);
                let mut theirs_tree = parse(&theirs);
                // ECDSA signatures are randomised: swap ours into OpenSSL's
                // structure and the encodings must then be equal.
                let sig = signer_info(&mut ours_tree).last().unwrap().clone();
                *signer_info(&mut theirs_tree).last_mut().unwrap() = sig;
                assert!(
                    encode(&theirs_tree) == ours,
                    "{signer} chain={with_chain}: structure differs from CMS_sign"
                );
            }
        }
    }
}

#[test]
fn the_der_walker_round_trips_openssl_output() {
    // Guards the comparison above: re-encoding OpenSSL's own output must give
    // it back unchanged.
    let id = identity("signer-ec", true);
    let der = openssl_cms_sign(&id, b"hello");
    assert_eq!(encode(&parse(&der)), der);
}
