//! [`Profile`]: what an initiator proposes and announces, shaped like a real client
//! (Windows, iOS, Android, Linux), and the vendor IDs Windows sends.

use std::time::Duration;

use crate::crypto::{CipherAlg, DhGroup, HashAlg};
use crate::msgs::vendor;
use crate::proposal::{AttributeLayout, EspOffer, Phase1Auth, Phase1Suite};

/// What an initiator proposes and announces: the shape of a client.
#[derive(Clone, Debug)]
pub struct Profile {
    /// A name for logs.
    pub name: &'static str,
    /// Main Mode transforms, in order.
    pub ike: Vec<Phase1Suite>,
    /// ESP transforms, in order.
    pub esp: Vec<EspOffer>,
    /// PFS group for Quick Mode, if any.
    pub pfs: Option<DhGroup>,
    /// Vendor IDs sent in the first message.
    pub vendor_ids: Vec<Vec<u8>>,
    /// Send INITIAL-CONTACT in the fifth Main Mode message.
    pub initial_contact: bool,
    /// Start a Quick Mode rekey at this fraction of the ESP lifetime (plus jitter).
    pub rekey_fraction: f64,
    /// Use Aggressive Mode (all `ike` transforms must share the first one's group).
    pub aggressive: bool,
    /// How the phase-1 transform attributes are laid out.
    pub attribute_layout: AttributeLayout,
}

fn p1(cipher: CipherAlg, hash: HashAlg, group: DhGroup) -> Phase1Suite {
    Phase1Suite {
        cipher,
        hash,
        group,
        lifetime: Duration::from_secs(28_800),
        life_kb: None,
        auth: Phase1Auth::Psk,
    }
}

fn esp_offer(e: esp::Encryption, i: esp::Integrity, secs: u64) -> Option<EspOffer> {
    esp::Suite::new(e, i).ok().map(|suite| EspOffer {
        suite,
        lifetime: Duration::from_secs(secs),
        life_kb: None,
    })
}

impl Profile {
    /// strongSwan 5.9 as in the captures: AES-256/128 with SHA-1 and MODP 2048, then the
    /// MODP 1024 and 3DES fallbacks; ESP AES-256/AES-128/3DES with SHA-1, one hour.
    pub fn linux() -> Self {
        use CipherAlg::*;
        use DhGroup::*;
        use esp::Encryption as E;
        Self {
            name: "linux",
            ike: vec![
                p1(Aes256, HashAlg::Sha1, Modp2048),
                p1(Aes128, HashAlg::Sha1, Modp2048),
                p1(Aes256, HashAlg::Sha1, Modp1024),
                p1(Aes128, HashAlg::Sha1, Modp1024),
                p1(TripleDes, HashAlg::Sha1, Modp1024),
            ],
            esp: [E::AesCbc256, E::AesCbc128, E::TripleDesCbc]
                .into_iter()
                .filter_map(|e| esp_offer(e, esp::Integrity::HmacSha1_96, 3600))
                .collect(),
            pfs: None,
            vendor_ids: vec![
                vendor::XAUTH.to_vec(),
                vendor::DPD.to_vec(),
                [&vendor::FRAGMENTATION[..], &[0x80, 0, 0, 0]].concat(),
                vendor::NATT_RFC3947.to_vec(),
                vendor::NATT_DRAFT_02N.to_vec(),
            ],
            initial_contact: true,
            rekey_fraction: 0.9,
            aggressive: false,
            attribute_layout: AttributeLayout::Standard,
        }
    }

    /// Windows 10/11's built-in client: one proposal AES-256/SHA1/ECP-384,
    /// AES-128/SHA1/ECP-256, AES-256/SHA1/MODP-2048, 3DES/SHA1/MODP-2048,
    /// 3DES/SHA1/MODP-1024 (28800 s) and its vendor IDs (a real first message of
    /// this client is the fixture of `ike/tests/profiles.rs`), ESP AES-256/AES-128/3DES with SHA-1 for
    /// 3600 s and 250 000 KB (strongSwan: "received 250000000 lifebytes" from a Windows
    /// client, pfsense/docs `source/vpn/ipsec/l2tp-ipsec.rst`).
    pub fn windows() -> Self {
        use CipherAlg::*;
        use DhGroup::*;
        use esp::Encryption as E;
        Self {
            name: "windows",
            ike: vec![
                p1(Aes256, HashAlg::Sha1, Ecp384),
                p1(Aes128, HashAlg::Sha1, Ecp256),
                p1(Aes256, HashAlg::Sha1, Modp2048),
                p1(TripleDes, HashAlg::Sha1, Modp2048),
                p1(TripleDes, HashAlg::Sha1, Modp1024),
            ],
            esp: [E::AesCbc256, E::AesCbc128, E::TripleDesCbc]
                .into_iter()
                .filter_map(|e| esp_offer(e, esp::Integrity::HmacSha1_96, 3600))
                .map(|o| EspOffer {
                    life_kb: Some(250_000),
                    ..o
                })
                .collect(),
            pfs: None,
            vendor_ids: windows_vendor_ids(),
            initial_contact: false,
            rekey_fraction: 0.9,
            aggressive: false,
            attribute_layout: AttributeLayout::Windows,
        }
    }
}

impl Profile {
    /// The built-in L2TP/IPsec client of iOS and macOS (Apple's racoon). Sources:
    /// * Main Mode: the 14 transforms strongSwan logged from an L2TP client in
    ///   kitten/setup-strong-strongswan pull request 28 ("received proposals:
    ///   IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048, ..."), AES-256
    ///   with SHA-256, SHA-1, MD5, SHA-512 over MODP 2048, then SHA-256, SHA-1, MD5 over
    ///   MODP 1536 and MODP 1024, AES-128 and 3DES with SHA-1 and MD5 over MODP 1024. The
    ///   PR does not name the client; it is taken as Apple's because its L2TP source
    ///   port is ephemeral (56322, Apple's client does not bind 1701) and its Quick Mode
    ///   list is exactly Apple's policy (below). The phase-1 lifetime is not in that log:
    ///   3600 s is the default of Apple's `ipsec_utils.c` (`configure_proposal`: "lifetime
    ///   time 3600 sec" when the configuration names none), unverified on the wire.
    /// * Quick Mode: AES-256, AES-128, 3DES, each with SHA-1 then MD5, 3600 s (same log:
    ///   "received proposals: ESP:AES_CBC_256/HMAC_SHA1_96, ESP:AES_CBC_256/HMAC_MD5_96,
    ///   ... ESP:3DES_CBC/HMAC_MD5_96", "received 3600s lifetime"), the policy of Apple's
    ///   `IPSecCreateL2TPDefaultConfiguration` (encryption AES then 3DES, hash SHA1 then
    ///   MD5). No PFS.
    /// * Vendor IDs, in the order Openswan 2.6.38 logged them from an iPhone (Ubuntu
    ///   Forums thread of 2014 on L2TP-PSK-NAT and `leftprotoport=17/%any`): RFC 3947,
    ///   draft-ietf-ipsec-nat-t-ike-02, -02\n, -00, FRAGMENTATION with flags 80000000,
    ///   Dead Peer Detection; INITIAL-CONTACT after Main Mode (same log: "ignoring
    ///   informational payload, type IPSEC_INITIAL_CONTACT").
    /// * Attribute layout: no real bytes found; l2tpgw's own.
    pub fn ios() -> Self {
        use CipherAlg::*;
        use DhGroup::*;
        use HashAlg::*;
        use esp::Encryption as E;
        use esp::Integrity as I;
        let p1_ios = |c, h, g| Phase1Suite {
            lifetime: Duration::from_secs(3600),
            ..p1(c, h, g)
        };
        Self {
            name: "ios",
            ike: vec![
                p1_ios(Aes256, Sha256, Modp2048),
                p1_ios(Aes256, Sha1, Modp2048),
                p1_ios(Aes256, Md5, Modp2048),
                p1_ios(Aes256, Sha512, Modp2048),
                p1_ios(Aes256, Sha256, Modp1536),
                p1_ios(Aes256, Sha1, Modp1536),
                p1_ios(Aes256, Md5, Modp1536),
                p1_ios(Aes256, Sha256, Modp1024),
                p1_ios(Aes256, Sha1, Modp1024),
                p1_ios(Aes256, Md5, Modp1024),
                p1_ios(Aes128, Sha1, Modp1024),
                p1_ios(Aes128, Md5, Modp1024),
                p1_ios(TripleDes, Sha1, Modp1024),
                p1_ios(TripleDes, Md5, Modp1024),
            ],
            esp: [E::AesCbc256, E::AesCbc128, E::TripleDesCbc]
                .into_iter()
                .flat_map(|e| [(e, I::HmacSha1_96), (e, I::HmacMd5_96)])
                .filter_map(|(e, i)| esp_offer(e, i, 3600))
                .collect(),
            pfs: None,
            vendor_ids: vec![
                vendor::NATT_RFC3947.to_vec(),
                vendor::NATT_DRAFT_02.to_vec(),
                vendor::NATT_DRAFT_02N.to_vec(),
                vendor::NATT_DRAFT_00.to_vec(),
                [&vendor::FRAGMENTATION[..], &[0x80, 0, 0, 0]].concat(),
                vendor::DPD.to_vec(),
            ],
            initial_contact: true,
            rekey_fraction: 0.9,
            aggressive: false,
            attribute_layout: AttributeLayout::Standard,
        }
    }

    /// The same profile authenticating with certificates: every phase-1 transform uses
    /// the signature method of `key` (RSA: 3, ECDSA P-256/P-384: 9/10).
    pub fn with_certificate(mut self, key: crate::phase1::cert::KeyKind) -> Self {
        for s in &mut self.ike {
            s.auth = Phase1Auth::for_key(key);
        }
        self
    }
}

/// The vendor IDs of Windows 10/11's first Main Mode message, in its order (the
/// fixture of `ike/tests/profiles.rs`): the unnamed `01528bbb…00000001`, MS NT5 ISAKMPOAKLEY with
/// version 9, RFC 3947, draft-02\n, FRAGMENTATION *without* capability flags
/// (strongSwan's `isakmp_vendor.c`: "Windows peers send this VID without capabilities"),
/// MS-Negotiation Discovery Capable, Vid-Initial-Contact, IKE CGA version 1 (names as in
/// libreswan's `vendor.c`, which has them as MD5s of those strings).
pub fn windows_vendor_ids() -> Vec<Vec<u8>> {
    vec![
        [&vendor::MS_UNNAMED_01528BBB[..], &[0, 0, 0, 1]].concat(),
        [&vendor::MS_NT5_ISAKMPOAKLEY[..], &[0, 0, 0, 9]].concat(),
        vendor::NATT_RFC3947.to_vec(),
        vendor::NATT_DRAFT_02N.to_vec(),
        vendor::FRAGMENTATION.to_vec(),
        vendor::MS_NEGOTIATION_DISCOVERY.to_vec(),
        vendor::MS_INITIAL_CONTACT.to_vec(),
        vendor::MS_IKE_CGA_V1.to_vec(),
    ]
}
