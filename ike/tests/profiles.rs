//! The initiator profiles against real first Main Mode messages of the clients they
//! imitate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use ike::{Config, Endpoint, Path, Profile, Psk, StaticPskStore};
use wire::random::DeterministicRandom;

/// A real first Main Mode message of the Windows L2TP/IPsec client (408 bytes: header,
/// SA with five transforms, eight vendor IDs), found as the `ipsec_payload_7cs` constant
/// of a VPN-detection study's pcap analyser (public Python code; its repository is not
/// named in the index it was found in). strongSwan's log of a Windows 10 client in
/// pfsense/docs `source/vpn/ipsec/l2tp-ipsec.rst` shows the same: "received packet ...
/// (408 bytes)", "parsed ID_PROT request 0 [ SA V V V V V V V V ]", the same vendor IDs in
/// the same order.
const WINDOWS_MAIN_MODE_1: &str = "080fd6f205d3879d00000000000000000110020000000000000001980d0000d40000000100000001000000c801010005030000280101000080010007800e0100800200028004001480030001800b0001000c000400007080030000280201000080010007800e0080800200028004001380030001800b0001000c000400007080030000280301000080010007800e0100800200028004000e80030001800b0001000c000400007080030000240401000080010005800200028004000e80030001800b0001000c000400007080000000240501000080010005800200028004000280030001800b0001000c0004000070800d00001801528bbbc00696121849ab9a1c5b2a51000000010d0000181e2b516905991c7d7c96fcbfb587e461000000090d0000144a131c81070358455c5728f20e95452f0d00001490cb80913ebb696e086381b5ec427b1f0d0000144048b7d56ebce88525e7de7f00d6c2d30d000014fb1de3cdf341b7ea16b7e5be0855f1200d00001426244d38eddb61b3172a36e3d0cfb81900000014e3a5966a76379fe707228231e5ce8652";

fn first_message(profile: Profile) -> Vec<u8> {
    #[allow(clippy::disallowed_methods, reason = "test clock")]
    let now = Instant::now();
    let mut ep = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("k"))),
        Box::new(DeterministicRandom::new(1)),
    );
    let path = Path {
        local: SocketAddr::from((Ipv4Addr::new(192, 0, 2, 52), 500)),
        remote: SocketAddr::from((Ipv4Addr::new(192, 0, 2, 90), 500)),
    };
    ep.connect(now, path, profile).unwrap();
    let mut buf = Vec::new();
    ep.poll_transmit(&mut buf).unwrap();
    buf
}

#[test]
fn windows_profile_sends_the_windows_main_mode_message() {
    let ours = first_message(Profile::windows());
    let windows = hex::decode(WINDOWS_MAIN_MODE_1).unwrap();
    // Everything but the initiator cookie (random) is the same, byte for byte.
    assert_eq!(hex::encode(&ours[8..]), hex::encode(&windows[8..]));
}

/// The iOS profile proposes Apple's 14 Main Mode transforms and 6 ESP transforms (that
/// it establishes with our server is `gateway`'s `every_profile_connects`).
#[test]
fn ios_profile_matches_the_logged_proposals() {
    use ike::crypto::{CipherAlg as C, DhGroup as G, HashAlg as H};
    let p = Profile::ios();
    let logged = [
        (C::Aes256, H::Sha256, G::Modp2048),
        (C::Aes256, H::Sha1, G::Modp2048),
        (C::Aes256, H::Md5, G::Modp2048),
        (C::Aes256, H::Sha512, G::Modp2048),
        (C::Aes256, H::Sha256, G::Modp1536),
        (C::Aes256, H::Sha1, G::Modp1536),
        (C::Aes256, H::Md5, G::Modp1536),
        (C::Aes256, H::Sha256, G::Modp1024),
        (C::Aes256, H::Sha1, G::Modp1024),
        (C::Aes256, H::Md5, G::Modp1024),
        (C::Aes128, H::Sha1, G::Modp1024),
        (C::Aes128, H::Md5, G::Modp1024),
        (C::TripleDes, H::Sha1, G::Modp1024),
        (C::TripleDes, H::Md5, G::Modp1024),
    ];
    let ours: Vec<_> = p.ike.iter().map(|s| (s.cipher, s.hash, s.group)).collect();
    assert_eq!(ours, logged);
    let esp: Vec<_> = p
        .esp
        .iter()
        .map(|o| {
            (
                o.suite.encryption(),
                o.suite.integrity(),
                o.lifetime.as_secs(),
            )
        })
        .collect();
    use esp::{Encryption as E, Integrity as I};
    assert_eq!(
        esp,
        vec![
            (E::AesCbc256, I::HmacSha1_96, 3600),
            (E::AesCbc256, I::HmacMd5_96, 3600),
            (E::AesCbc128, I::HmacSha1_96, 3600),
            (E::AesCbc128, I::HmacMd5_96, 3600),
            (E::TripleDesCbc, I::HmacSha1_96, 3600),
            (E::TripleDesCbc, I::HmacMd5_96, 3600),
        ]
    );
    // The vendor IDs as Openswan named them: RFC 3947, draft-02, draft-02_n, draft-00,
    // FRAGMENTATION 80000000, Dead Peer Detection.
    let vids: Vec<String> = p.vendor_ids.iter().map(hex::encode).collect();
    assert_eq!(
        vids,
        [
            "4a131c81070358455c5728f20e95452f",
            "cd60464335df21f87cfdb2fc68b6a448",
            "90cb80913ebb696e086381b5ec427b1f",
            "4485152d18b6bbcd0be8a8469579ddcc",
            "4048b7d56ebce88525e7de7f00d6c2d380000000",
            "afcad71368a1f1c96b8696fc77570100",
        ]
    );
    // The first message carries them all.
    let m = first_message(Profile::ios());
    assert!(m.windows(16).any(|w| w == hex::decode(&vids[3]).unwrap()));
}
