#![no_main]
//! The certificate path of IKE: CERT/CERTREQ/SIG payload decoding, chain verification of
//! peer-sent certificates (alone and next to the real intermediate, against the test
//! root), the ID match, the IKEv1 signature check with real RSA and ECDSA keys, and the
//! PEM/CRL loaders. Nothing may panic or allocate without bound.

use std::sync::OnceLock;

use ike::msgs::{IdPayload, Payload, PayloadType};
use ike::phase1::cert::{Certificates, PublicKey, certs_from_pem};
use libfuzzer_sys::fuzz_target;

const UNIX: i64 = 1_798_761_600;

struct Fixture {
    trust: Certificates,
    inter: Vec<u8>,
    keys: Vec<PublicKey>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pem = |b: &[u8]| certs_from_pem(b).expect("fixture").remove(0);
        let mut trust = Certificates::new();
        trust
            .add_ca_pem(include_bytes!("../../ike/tests/fixtures/ca.pem"))
            .expect("fixture");
        trust
            .add_crl(include_bytes!("../../ike/tests/fixtures/inter.crl.pem"))
            .expect("fixture");
        let inter = pem(include_bytes!("../../ike/tests/fixtures/inter.pem"));
        let any = IdPayload::decode(&[
            2, 0, 0, 0, b'a', b'l', b'i', b'c', b'e', b'.', b'e', b'x', b'a', b'm', b'p', b'l',
            b'e', b'.', b'c', b'o', b'm',
        ])
        .expect("fixture");
        let keys = [
            &include_bytes!("../../ike/tests/fixtures/client-rsa.pem")[..],
            &include_bytes!("../../ike/tests/fixtures/client-p256.pem")[..],
            &include_bytes!("../../ike/tests/fixtures/client-p384.pem")[..],
        ]
        .iter()
        .map(|c| {
            trust
                .verify_peer(&[&pem(c), &inter], &any, UNIX)
                .expect("fixture chain")
                .key
        })
        .collect();
        Fixture { trust, inter, keys }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    for ty in [
        PayloadType::Cert,
        PayloadType::CertReq,
        PayloadType::Sig,
        PayloadType::Id,
    ] {
        let _ = Payload::decode(ty, data);
    }
    // Length-prefixed certificates, then an ID payload body.
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while chunks.len() < 12 {
        let Some((n, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let n = usize::from(u16::from_be_bytes(*n)).min(tail.len());
        let (c, tail) = tail.split_at(n);
        chunks.push(c);
        rest = tail;
    }
    if let Ok(id) = IdPayload::decode(rest) {
        let _ = f.trust.verify_peer(&chunks, &id, UNIX);
        if let Some(first) = chunks.first() {
            let _ = f.trust.verify_peer(&[first, &f.inter], &id, UNIX);
        }
    }
    // The SIG check: the first bytes as HASH, the rest as signature.
    let (hash, sig) = data.split_at(data.len().min(48));
    for k in &f.keys {
        let _ = k.verify_ike(hash, sig);
    }
    let _ = certs_from_pem(data);
    let _ = ike::phase1::cert::PrivateKey::from_pem(data);
    let _ = Certificates::new().add_crl(data);
    let _ = Certificates::new().add_ca_der(data);
});
