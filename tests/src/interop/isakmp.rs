//! Just enough ISAKMP (RFC 2408/2409) to check what a real client put on the wire: the
//! header and the proposals of a Main Mode Security Association payload, with every Phase 1
//! transform attribute. Deliberately independent of the `ike` crate: the harness judges that
//! crate's peer, so it must not share its decoder (a bug there would hide here).

use wire::{DecodeError, Reader};

/// ISAKMP payload type of a Security Association (RFC 2408 §3.1).
const PAYLOAD_SA: u8 = 1;
/// ISAKMP payload type of a Transform.
const PAYLOAD_TRANSFORM: u8 = 3;
/// Exchange type Identity Protection, i.e. Main Mode (RFC 2408 §4.5).
pub const EXCHANGE_MAIN_MODE: u8 = 2;

/// The fixed ISAKMP header (28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator cookie.
    pub initiator_cookie: [u8; 8],
    /// Responder cookie (zero in the first message of an exchange).
    pub responder_cookie: [u8; 8],
    /// Type of the first payload.
    pub next_payload: u8,
    /// Major version (high nibble) and minor version (low nibble): 0x10 for IKEv1.
    pub version: u8,
    /// Exchange type (2 = Main Mode).
    pub exchange: u8,
    /// Flags (bit 0 = encrypted).
    pub flags: u8,
    /// Message ID (zero in Phase 1).
    pub message_id: u32,
    /// Length of the whole message as the header states it.
    pub length: u32,
}

/// One Phase 1 transform: its attributes as (type, value) pairs, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform number.
    pub number: u8,
    /// Transform ID (1 = KEY_IKE).
    pub id: u8,
    /// Attributes; TV-format values and short TLV values as integers.
    pub attributes: Vec<(u16, u64)>,
}

impl Transform {
    /// The value of attribute `kind`, if present.
    pub fn attribute(&self, kind: u16) -> Option<u64> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| *v)
    }

    /// The transform in strongSwan's proposal notation (`aes256-sha1-modp2048`), so a
    /// test can compare it with the `ike=` line it configured.
    pub fn strongswan_name(&self) -> String {
        let encr = match (
            self.attribute(ATTR_ENCRYPTION),
            self.attribute(ATTR_KEY_LENGTH),
        ) {
            (Some(7), Some(len)) => format!("aes{len}"),
            (Some(5), _) => "3des".to_owned(),
            (Some(1), _) => "des".to_owned(),
            (e, l) => format!("encr{e:?}/{l:?}"),
        };
        let hash = match self.attribute(ATTR_HASH) {
            Some(1) => "md5".to_owned(),
            Some(2) => "sha1".to_owned(),
            Some(4) => "sha256".to_owned(),
            Some(5) => "sha384".to_owned(),
            Some(6) => "sha512".to_owned(),
            h => format!("hash{h:?}"),
        };
        let group = match self.attribute(ATTR_GROUP) {
            Some(2) => "modp1024".to_owned(),
            Some(5) => "modp1536".to_owned(),
            Some(14) => "modp2048".to_owned(),
            Some(15) => "modp3072".to_owned(),
            Some(16) => "modp4096".to_owned(),
            Some(19) => "ecp256".to_owned(),
            Some(20) => "ecp384".to_owned(),
            g => format!("group{g:?}"),
        };
        format!("{encr}-{hash}-{group}")
    }
}

/// Phase 1 attribute: Encryption Algorithm (RFC 2409 Appendix A).
pub const ATTR_ENCRYPTION: u16 = 1;
/// Phase 1 attribute: Hash Algorithm.
pub const ATTR_HASH: u16 = 2;
/// Phase 1 attribute: Authentication Method (1 = pre-shared key).
pub const ATTR_AUTH_METHOD: u16 = 3;
/// Phase 1 attribute: Group Description.
pub const ATTR_GROUP: u16 = 4;
/// Phase 1 attribute: Life Type (1 = seconds).
pub const ATTR_LIFE_TYPE: u16 = 11;
/// Phase 1 attribute: Life Duration.
pub const ATTR_LIFE_DURATION: u16 = 12;
/// Phase 1 attribute: Key Length in bits.
pub const ATTR_KEY_LENGTH: u16 = 14;

/// A first Main Mode message as far as the harness cares: header, the transforms of its
/// single proposal, and the payload types that follow the SA (vendor IDs and so on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainModeSa {
    /// The ISAKMP header.
    pub header: Header,
    /// The transforms of the (single) proposal, in the initiator's order of preference.
    pub transforms: Vec<Transform>,
    /// Payload types after the SA payload, in order.
    pub other_payloads: Vec<u8>,
}

/// Decodes the 28-byte ISAKMP header at the start of `msg`.
pub fn decode_header(msg: &[u8]) -> Result<Header, DecodeError> {
    let mut r = Reader::new(msg);
    let header = Header {
        initiator_cookie: *r.take_array::<8>("initiator cookie")?,
        responder_cookie: *r.take_array::<8>("responder cookie")?,
        next_payload: r.u8("next payload")?,
        version: r.u8("version")?,
        exchange: r.u8("exchange type")?,
        flags: r.u8("flags")?,
        message_id: r.u32("message id")?,
        length: r.u32("length")?,
    };
    if header.version != 0x10 {
        return Err(DecodeError::Invalid {
            what: "version",
            reason: "not IKEv1 (1.0)",
        });
    }
    if usize::try_from(header.length).ok() != Some(msg.len()) {
        return Err(DecodeError::BadLength {
            what: "isakmp message",
            len: msg.len(),
        });
    }
    Ok(header)
}

/// Decodes an unencrypted Main Mode message whose first payload is an SA (message 1 from
/// the initiator or message 2 from the responder).
pub fn decode_main_mode_sa(msg: &[u8]) -> Result<MainModeSa, DecodeError> {
    let header = decode_header(msg)?;
    if header.exchange != EXCHANGE_MAIN_MODE || header.next_payload != PAYLOAD_SA {
        return Err(DecodeError::Invalid {
            what: "isakmp header",
            reason: "not a Main Mode SA message",
        });
    }
    if header.flags & 1 != 0 {
        return Err(DecodeError::Invalid {
            what: "isakmp flags",
            reason: "encrypted",
        });
    }
    let mut r = Reader::new(msg);
    r.take(28, "isakmp header")?;
    let mut current = header.next_payload;
    let mut transforms = None;
    let mut other_payloads = Vec::new();
    while current != 0 {
        let (body, next) = generic_payload(&mut r)?;
        if current == PAYLOAD_SA {
            if transforms.is_some() {
                return Err(DecodeError::Invalid {
                    what: "sa payload",
                    reason: "more than one",
                });
            }
            transforms = Some(decode_sa(body)?);
        } else {
            other_payloads.push(current);
        }
        current = next;
    }
    r.finish("isakmp message")?;
    let transforms = transforms.ok_or(DecodeError::Invalid {
        what: "sa payload",
        reason: "missing",
    })?;
    Ok(MainModeSa {
        header,
        transforms,
        other_payloads,
    })
}

/// Reads one generic payload header (RFC 2408 §3.2) and returns its body and the type
/// of the payload after it.
fn generic_payload<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], u8), DecodeError> {
    let next = r.u8("payload next")?;
    r.u8("payload reserved")?;
    let len = usize::from(r.u16("payload length")?);
    let body_len = len.checked_sub(4).ok_or(DecodeError::BadLength {
        what: "payload",
        len,
    })?;
    Ok((r.take(body_len, "payload body")?, next))
}

/// Decodes an SA payload body (DOI, situation, one proposal) into its transforms.
fn decode_sa(body: &[u8]) -> Result<Vec<Transform>, DecodeError> {
    let mut r = Reader::new(body);
    let doi = r.u32("sa doi")?;
    if doi != 1 {
        return Err(DecodeError::Invalid {
            what: "sa doi",
            reason: "not IPsec DOI",
        });
    }
    r.u32("sa situation")?;
    let next = r.u8("proposal next")?;
    if next != 0 {
        return Err(DecodeError::Invalid {
            what: "sa",
            reason: "more than one proposal in phase 1",
        });
    }
    r.u8("proposal reserved")?;
    let len = usize::from(r.u16("proposal length")?);
    let mut p = r.sub(
        len.checked_sub(4).ok_or(DecodeError::BadLength {
            what: "proposal",
            len,
        })?,
        "proposal",
    )?;
    r.finish("sa payload")?;
    p.u8("proposal number")?;
    let protocol = p.u8("proposal protocol")?;
    if protocol != 1 {
        return Err(DecodeError::Invalid {
            what: "proposal protocol",
            reason: "not PROTO_ISAKMP",
        });
    }
    let spi_size = usize::from(p.u8("spi size")?);
    let count = p.u8("transform count")?;
    p.take(spi_size, "spi")?;
    let mut transforms = Vec::with_capacity(usize::from(count));
    let mut more = true;
    while more {
        let next = p.u8("transform next")?;
        p.u8("transform reserved")?;
        let len = usize::from(p.u16("transform length")?);
        let mut t = p.sub(
            len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "transform",
                len,
            })?,
            "transform",
        )?;
        more = match next {
            PAYLOAD_TRANSFORM => true,
            0 => false,
            _ => {
                return Err(DecodeError::Invalid {
                    what: "transform next",
                    reason: "not a transform",
                });
            }
        };
        let number = t.u8("transform number")?;
        let id = t.u8("transform id")?;
        t.u16("transform reserved")?;
        let mut attributes = Vec::new();
        while !t.is_empty() {
            let kind = t.u16("attribute type")?;
            let value = if kind & 0x8000 != 0 {
                u64::from(t.u16("attribute value")?)
            } else {
                let vlen = usize::from(t.u16("attribute length")?);
                let bytes = t.take(vlen, "attribute value")?;
                if vlen > 8 {
                    return Err(DecodeError::BadLength {
                        what: "attribute value",
                        len: vlen,
                    });
                }
                bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
            };
            attributes.push((kind & 0x7fff, value));
        }
        transforms.push(Transform {
            number,
            id,
            attributes,
        });
    }
    p.finish("proposal")?;
    if transforms.len() != usize::from(count) {
        return Err(DecodeError::Invalid {
            what: "transform count",
            reason: "does not match the transforms present",
        });
    }
    Ok(transforms)
}

/// Decodes a hex string (whitespace ignored), as the fixtures under tests/interop/fixtures
/// store captured messages.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let text =
            std::fs::read_to_string(crate::interop::interop_dir(&format!("fixtures/{name}")))
                .unwrap();
        from_hex(&text).unwrap()
    }

    /// strongSwan 5.9.8's real first message (captures/softether-direct-mschapv2.pcap,
    /// frame 4), as tshark decodes it: five transforms, PSK, 28800 s, 5 vendor IDs.
    #[test]
    fn decodes_strongswan_main_mode_1_from_the_capture() {
        let mm1 = decode_main_mode_sa(&fixture("strongswan-5.9.8-main-mode-1.hex")).unwrap();
        assert_eq!(
            mm1.header.initiator_cookie,
            [0x5a, 0x1a, 0x79, 0x9f, 0x69, 0xd4, 0x3e, 0x49]
        );
        assert_eq!(mm1.header.responder_cookie, [0; 8]);
        assert_eq!(mm1.header.exchange, EXCHANGE_MAIN_MODE);
        let names: Vec<String> = mm1
            .transforms
            .iter()
            .map(Transform::strongswan_name)
            .collect();
        assert_eq!(
            names,
            [
                "aes256-sha1-modp2048",
                "aes128-sha1-modp2048",
                "aes256-sha1-modp1024",
                "aes128-sha1-modp1024",
                "3des-sha1-modp1024"
            ]
        );
        for t in &mm1.transforms {
            assert_eq!(t.id, 1, "KEY_IKE");
            assert_eq!(t.attribute(ATTR_AUTH_METHOD), Some(1));
            assert_eq!(t.attribute(ATTR_LIFE_TYPE), Some(1));
            assert_eq!(t.attribute(ATTR_LIFE_DURATION), Some(28_800));
        }
        assert_eq!(
            mm1.other_payloads, [13; 5],
            "XAuth, DPD, fragmentation, RFC 3947, draft-02"
        );
    }

    /// SoftEther's answer (frame 5): one transform, the first of strongSwan's.
    #[test]
    fn decodes_softether_main_mode_2_from_the_capture() {
        let mm2 = decode_main_mode_sa(&fixture("softether-main-mode-2.hex")).unwrap();
        assert_eq!(
            mm2.header.initiator_cookie,
            [0x5a, 0x1a, 0x79, 0x9f, 0x69, 0xd4, 0x3e, 0x49]
        );
        assert_ne!(mm2.header.responder_cookie, [0; 8]);
        assert_eq!(mm2.transforms.len(), 1);
        assert_eq!(mm2.transforms[0].strongswan_name(), "aes256-sha1-modp2048");
    }

    #[test]
    fn rejects_truncated_and_padded_messages() {
        let mm1 = fixture("strongswan-5.9.8-main-mode-1.hex");
        for cut in [0, 27, 28, 40, mm1.len() - 1] {
            assert!(
                decode_main_mode_sa(&mm1[..cut]).is_err(),
                "accepted {cut} bytes"
            );
        }
        let mut padded = mm1.clone();
        padded.push(0);
        assert!(decode_main_mode_sa(&padded).is_err());
        let mut wrong_count = mm1;
        wrong_count[28 + 12 + 7] = 4; // proposal's transform count
        assert!(decode_main_mode_sa(&wrong_count).is_err());
    }
}
