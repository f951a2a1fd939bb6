//! The real capture at key level: every key strongSwan logged is re-derived from the
//! logged inputs and the captured messages, the encrypted Main and Quick Mode messages
//! decrypt with our IV chaining, and Quick Mode KEYMAT equals the kernel's ESP keys.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::collections::HashMap;

use ike::crypto::keys::{self, KeymatInput, Phase1Keys};
use ike::crypto::{CipherAlg, CryptoProvider, HashAlg, RUSTCRYPTO, Secret};
use ike::msgs::{Payload, PayloadType, parse_chain, split};

fn load(name: &str, kind: &str) -> Vec<String> {
    std::fs::read_to_string(format!(
        "{}/tests/testdata/{name}-{kind}.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .lines()
    .map(str::to_owned)
    .collect()
}

fn keylog(name: &str) -> HashMap<String, Vec<u8>> {
    load(name, "keys")
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), hex::decode(v).unwrap())
        })
        .collect()
}

fn messages(name: &str) -> Vec<Vec<u8>> {
    load(name, "ike")
        .iter()
        .map(|l| hex::decode(l.split_whitespace().nth(5).unwrap()).unwrap())
        .collect()
}

fn payload(msg: &[u8], ty: PayloadType) -> &[u8] {
    let (h, body) = split(msg).unwrap();
    let chain = parse_chain(h.next_payload, body).unwrap();
    chain.payloads.iter().find(|p| p.ty == ty).unwrap().body
}

fn decrypt(k: &Phase1Keys, iv: &[u8], msg: &[u8]) -> Vec<u8> {
    let (h, body) = split(msg).unwrap();
    assert!(h.flags.encrypted());
    let mut plain = body.to_vec();
    RUSTCRYPTO
        .decrypt(k.cipher, k.enc_key.as_bytes(), iv, &mut plain)
        .unwrap();
    plain
}

fn last_block(msg: &[u8]) -> Vec<u8> {
    msg[msg.len() - 16..].to_vec()
}

fn check(name: &str, esp_sa: &str) {
    let log = keylog(name);
    let msgs = messages(name);
    let p: &dyn CryptoProvider = &RUSTCRYPTO;
    let (h1, _) = split(&msgs[0]).unwrap();
    let (h2, _) = split(&msgs[1]).unwrap();
    let (cky_i, cky_r) = (h1.icookie.0, h2.rcookie.0);

    let gxy = &log["shared_Diffie_Hellman_secret#1"];
    let keys = Phase1Keys::derive(
        p,
        HashAlg::Sha1,
        CipherAlg::Aes256,
        Secret::new(log["SKEYID#1"].clone()),
        gxy,
        &cky_i,
        &cky_r,
    );
    assert_eq!(keys.skeyid_d.as_bytes(), log["SKEYID_d#1"]);
    assert_eq!(keys.skeyid_a.as_bytes(), log["SKEYID_a#1"]);
    assert_eq!(keys.skeyid_e.as_bytes(), log["SKEYID_e#1"]);
    // AES-256 from 20-byte SKEYID_e: the Appendix B expansion.
    assert_eq!(keys.enc_key.as_bytes(), log["encryption_key_Ka#1"]);

    let gxi = payload(&msgs[2], PayloadType::Ke);
    let gxr = payload(&msgs[3], PayloadType::Ke);
    assert_eq!(gxi.len(), 256);
    let iv0 = keys::initial_iv(p, HashAlg::Sha1, CipherAlg::Aes256, gxi, gxr);
    assert_eq!(iv0, log["initial_IV#1"]);

    // MM5 decrypts with the initial IV; its HASH_I is prf(SKEYID, g^xi|g^xr|CKY-I|CKY-R|SAi_b|IDii_b).
    let mm5 = decrypt(&keys, &iv0, &msgs[4]);
    let chain = parse_chain(PayloadType::Id, &mm5).unwrap();
    let idii = chain.payloads[0].body;
    let hash_i = chain.payloads[1].body;
    assert_eq!(hash_i, log["HASH_I#1"]);
    let sai = payload(&msgs[0], PayloadType::Sa);
    let data = [gxi, gxr, &cky_i[..], &cky_r[..], sai, idii].concat();
    assert_eq!(data, log["HASH_I_data#1"]);
    assert_eq!(
        p.prf(HashAlg::Sha1, &log["SKEYID#1"], &[&data]).as_bytes(),
        hash_i
    );

    // MM6 decrypts with the last ciphertext block of MM5 (CBC chaining across messages).
    let mm6 = decrypt(&keys, &last_block(&msgs[4]), &msgs[5]);
    let chain = parse_chain(PayloadType::Id, &mm6).unwrap();
    assert_eq!(chain.payloads[1].body, log["HASH_R#1"]);

    // Quick Mode: IV = hash(last block of MM6 | M-ID).
    let (qh, _) = split(&msgs[6]).unwrap();
    let mid = qh.message_id.0;
    let p1_last = last_block(&msgs[5]);
    let qiv = keys::phase2_iv(p, HashAlg::Sha1, CipherAlg::Aes256, &p1_last, mid);
    let qm1 = decrypt(&keys, &qiv, &msgs[6]);
    let qm2 = decrypt(&keys, &last_block(&msgs[6]), &msgs[7]);
    let qm3 = decrypt(&keys, &last_block(&msgs[7]), &msgs[8]);
    let c1 = parse_chain(PayloadType::Hash, &qm1).unwrap();
    let c2 = parse_chain(PayloadType::Hash, &qm2).unwrap();
    let c3 = parse_chain(PayloadType::Hash, &qm3).unwrap();
    assert_eq!(c1.payloads[0].body, log["Hash(1)#1"]);
    assert_eq!(c2.payloads[0].body, log["Hash(2)#1"]);
    assert_eq!(c3.payloads[0].body, log["Hash(3)#1"]);
    // HASH(1) = prf(SKEYID_a, M-ID | rest of the message after HASH, without padding).
    let rest1 = &qm1[c1.payloads[1].offset..c1.end];
    let mid_b = mid.to_be_bytes();
    assert_eq!(
        p.prf(HashAlg::Sha1, keys.skeyid_a.as_bytes(), &[&mid_b, rest1])
            .as_bytes(),
        c1.payloads[0].body
    );
    let nonce = |c: &ike::msgs::Chain<'_>| {
        c.payloads
            .iter()
            .find(|x| x.ty == PayloadType::Nonce)
            .unwrap()
            .body
            .to_vec()
    };
    let (ni, nr) = (nonce(&c1), nonce(&c2));
    let rest2 = &qm2[c2.payloads[1].offset..c2.end];
    assert_eq!(
        p.prf(
            HashAlg::Sha1,
            keys.skeyid_a.as_bytes(),
            &[&mid_b, &ni, rest2]
        )
        .as_bytes(),
        c2.payloads[0].body
    );
    assert_eq!(
        p.prf(
            HashAlg::Sha1,
            keys.skeyid_a.as_bytes(),
            &[&[0], &mid_b, &ni, &nr]
        )
        .as_bytes(),
        c3.payloads[0].body
    );

    // KEYMAT for each direction equals the ESP keys the kernel used.
    let spi_of = |c: &ike::msgs::Chain<'_>| {
        let sa = c.payloads.iter().find(|x| x.ty == PayloadType::Sa).unwrap();
        let Payload::Sa(sa) = Payload::decode(PayloadType::Sa, sa.body).unwrap() else {
            panic!()
        };
        <[u8; 4]>::try_from(sa.proposals[0].spi.as_slice()).unwrap()
    };
    let (spi_i, spi_r) = (spi_of(&c1), spi_of(&c2));
    for line in esp_sa.lines() {
        let f: Vec<&str> = line.split(',').map(|s| s.trim_matches('"')).collect();
        let spi = u32::from_str_radix(&f[3][2..], 16).unwrap().to_be_bytes();
        assert!(spi == spi_i || spi == spi_r);
        let want = [
            hex::decode(&f[5][2..]).unwrap(),
            hex::decode(&f[7][2..]).unwrap(),
        ]
        .concat();
        let km = keys::keymat(
            p,
            HashAlg::Sha1,
            &keys.skeyid_d,
            &KeymatInput {
                pfs_secret: None,
                protocol: 3,
                spi,
                ni: &ni,
                nr: &nr,
            },
            52,
        );
        assert_eq!(km.as_bytes(), want.as_slice(), "SPI {}", f[3]);
    }

    // The informational DPD exchange uses its own IV from the same last phase-1 block.
    let (dh, _) = split(&msgs[9]).unwrap();
    let div = keys::phase2_iv(
        p,
        HashAlg::Sha1,
        CipherAlg::Aes256,
        &p1_last,
        dh.message_id.0,
    );
    let dpd = decrypt(&keys, &div, &msgs[9]);
    let c = parse_chain(PayloadType::Hash, &dpd).unwrap();
    let Payload::Notify(n) = Payload::decode(PayloadType::Notify, c.payloads[1].body).unwrap()
    else {
        panic!()
    };
    assert_eq!(n.notify_type, ike::msgs::NotifyType::RUThere);
    assert_eq!(n.spi, [cky_i, cky_r].concat());
}

#[test]
fn direct_capture_keys_rederive() {
    check(
        "direct",
        include_str!("testdata/softether-direct-mschapv2.esp_sa"),
    );
}

#[test]
fn nat_capture_keys_rederive() {
    check(
        "nat",
        include_str!("testdata/softether-nat-mschapv2.esp_sa"),
    );
}
