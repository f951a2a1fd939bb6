//! Vendor IDs that change behaviour (RFC 3947 §3.1, RFC 3706 §3, Microsoft's).

/// NAT-T, RFC 3947.
pub const NATT_RFC3947: [u8; 16] = hex16("4a131c81070358455c5728f20e95452f");
/// draft-ietf-ipsec-nat-t-ike-02.
pub const NATT_DRAFT_02: [u8; 16] = hex16("cd60464335df21f87cfdb2fc68b6a448");
/// draft-ietf-ipsec-nat-t-ike-02\n (the typo'd MD5 that Windows and strongSwan send).
pub const NATT_DRAFT_02N: [u8; 16] = hex16("90cb80913ebb696e086381b5ec427b1f");
/// draft-ietf-ipsec-nat-t-ike-03.
pub const NATT_DRAFT_03: [u8; 16] = hex16("7d9419a65310ca6f2c179d9215529d56");
/// draft-ietf-ipsec-nat-t-ike-00.
pub const NATT_DRAFT_00: [u8; 16] = hex16("4485152d18b6bbcd0be8a8469579ddcc");
/// Dead Peer Detection, RFC 3706 (version 1.0 in the last two bytes).
pub const DPD: [u8; 16] = hex16("afcad71368a1f1c96b8696fc77570100");
/// IKE fragmentation (Microsoft / strongSwan); often followed by 4 bytes of capability flags.
pub const FRAGMENTATION: [u8; 16] = hex16("4048b7d56ebce88525e7de7f00d6c2d3");
/// XAuth.
pub const XAUTH: [u8; 8] = [0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// "MS NT5 ISAKMPOAKLEY" prefix; Windows appends a 4-byte version (9 on Windows 10/11).
pub const MS_NT5_ISAKMPOAKLEY: [u8; 16] = hex16("1e2b516905991c7d7c96fcbfb587e461");
/// Microsoft Vid-Initial-Contact.
pub const MS_INITIAL_CONTACT: [u8; 16] = hex16("26244d38eddb61b3172a36e3d0cfb819");
/// Microsoft MS-Negotiation Discovery Capable.
pub const MS_NEGOTIATION_DISCOVERY: [u8; 16] = hex16("fb1de3cdf341b7ea16b7e5be0855f120");
/// Microsoft IKE CGA version 1.
pub const MS_IKE_CGA_V1: [u8; 16] = hex16("e3a5966a76379fe707228231e5ce8652");
/// The first vendor ID of Windows' first Main Mode message, followed by 4 bytes
/// (`00000001` from the L2TP/IPsec client, `00000002` in Windows IKEv2 probes). Neither
/// strongSwan's `isakmp_vendor.c` nor libreswan's `vendor.c` names it ("received unknown
/// vendor ID: 01:52:8b:bb:...:00:00:00:01" in strongSwan's log of a Windows client,
/// pfsense/docs `source/vpn/ipsec/l2tp-ipsec.rst`).
pub const MS_UNNAMED_01528BBB: [u8; 16] = hex16("01528bbbc00696121849ab9a1c5b2a51");

/// Which NAT-T dialect a peer announced (the newest wins).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum NattVersion {
    /// draft-02/03: NAT-D 130, NAT-OA 131, encapsulation 61443/61444.
    Draft,
    /// RFC 3947: NAT-D 20, NAT-OA 21, encapsulation 3/4.
    Rfc3947,
}

/// What a peer's vendor IDs tell about it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PeerVendor {
    /// The NAT-T dialect, if any.
    pub natt: Option<NattVersion>,
    /// The peer supports RFC 3706 DPD.
    pub dpd: bool,
    /// The peer is Windows (MS NT5 ISAKMPOAKLEY).
    pub windows: bool,
    /// The peer supports IKE fragmentation.
    pub fragmentation: bool,
}

impl PeerVendor {
    /// Notes one vendor ID.
    pub fn observe(&mut self, vid: &[u8]) {
        let natt = if vid == NATT_RFC3947 {
            Some(NattVersion::Rfc3947)
        } else if vid == NATT_DRAFT_02 || vid == NATT_DRAFT_02N || vid == NATT_DRAFT_03 {
            Some(NattVersion::Draft)
        } else {
            None
        };
        if natt > self.natt {
            self.natt = natt;
        }
        if vid == DPD {
            self.dpd = true;
        }
        if vid.starts_with(&MS_NT5_ISAKMPOAKLEY) {
            self.windows = true;
        }
        // Alone (Windows), or with capability flags of which 0x80000000 means Main and
        // Aggressive Mode (strongSwan's isakmp_vendor.c reads it the same way).
        if vid == FRAGMENTATION
            || (vid.len() == 20
                && vid.starts_with(&FRAGMENTATION)
                && vid.get(16).is_some_and(|b| b & 0x80 != 0))
        {
            self.fragmentation = true;
        }
    }
}

const fn hex16(s: &str) -> [u8; 16] {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}
