//! The SA payload with its Proposal and Transform substructures and data attributes
//! (RFC 2408 §3.4–3.6, §3.3).

use wire::{DecodeError, Reader, Writer};

use super::enums::{DOI_IPSEC, PayloadType, ProtocolId};

/// Most proposals accepted in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Most transforms accepted in one proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Most attributes accepted in one transform.
pub const MAX_ATTRIBUTES: usize = 32;

/// The value of a data attribute: TV (the AF bit set, a 16-bit value) or TLV.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AttrValue {
    /// Type/Value form.
    Short(u16),
    /// Type/Length/Value form.
    Long(Vec<u8>),
}

/// A data attribute (RFC 2408 §3.3). `ty` is the type without the AF bit.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attribute {
    /// Attribute type (15 bits).
    pub ty: u16,
    /// Value.
    pub value: AttrValue,
}

impl Attribute {
    /// A TV attribute.
    pub fn short(ty: u16, v: u16) -> Self {
        Self {
            ty,
            value: AttrValue::Short(v),
        }
    }

    /// An attribute holding `v`: TV when it fits in 16 bits, otherwise a 4-byte TLV
    /// (life durations).
    pub fn number(ty: u16, v: u32) -> Self {
        match u16::try_from(v) {
            Ok(s) => Self::short(ty, s),
            Err(_) => Self {
                ty,
                value: AttrValue::Long(v.to_be_bytes().to_vec()),
            },
        }
    }

    /// The value as an integer: a TV value, or a TLV value of at most 8 bytes
    /// (big-endian). `None` for longer variable values.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            AttrValue::Short(v) => Some(u64::from(*v)),
            AttrValue::Long(b) if b.len() <= 8 => {
                Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
            }
            AttrValue::Long(_) => None,
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let t = r.u16("attribute type")?;
        let ty = t & 0x7fff;
        if t & 0x8000 != 0 {
            Ok(Self::short(ty, r.u16("attribute value")?))
        } else {
            let len = usize::from(r.u16("attribute length")?);
            let v = r.take(len, "attribute value")?;
            Ok(Self {
                ty,
                value: AttrValue::Long(v.to_vec()),
            })
        }
    }

    fn encode(&self, w: &mut Writer<'_>) {
        match &self.value {
            AttrValue::Short(v) => {
                w.u16(self.ty | 0x8000);
                w.u16(*v);
            }
            AttrValue::Long(b) => {
                w.u16(self.ty & 0x7fff);
                // Values longer than 65535 bytes cannot be built by this crate.
                w.u16(b.len().min(usize::from(u16::MAX)) as u16);
                w.bytes(b.get(..usize::from(u16::MAX)).unwrap_or(b));
            }
        }
    }
}

/// Decodes a list of attributes filling `r`.
pub fn decode_attributes(r: &mut Reader<'_>) -> Result<Vec<Attribute>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() == MAX_ATTRIBUTES {
            return Err(DecodeError::Invalid {
                what: "attributes",
                reason: "too many attributes",
            });
        }
        out.push(Attribute::decode(r)?);
    }
    Ok(out)
}

/// Encodes attributes one after another.
pub fn encode_attributes(attrs: &[Attribute], w: &mut Writer<'_>) {
    for a in attrs {
        a.encode(w);
    }
}

/// A Transform substructure.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transform {
    /// Transform number.
    pub number: u8,
    /// Transform ID (KEY_IKE in phase 1; an ESP transform ID in phase 2).
    pub id: u8,
    /// SA attributes.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// The first attribute of type `ty`.
    pub fn attr(&self, ty: u16) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.ty == ty)
    }
}

/// A Proposal substructure.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Proposal {
    /// Proposal number (proposals with the same number are ANDed).
    pub number: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// SPI (empty in phase 1, 4 bytes for ESP).
    pub spi: Vec<u8>,
    /// Transforms, in the sender's order of preference.
    pub transforms: Vec<Transform>,
}

/// The body of an SA payload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SaPayload {
    /// Domain of interpretation (1 = IPsec).
    pub doi: u32,
    /// Situation bitmap (SIT_IDENTITY_ONLY).
    pub situation: u32,
    /// Proposals, in the sender's order.
    pub proposals: Vec<Proposal>,
}

/// Reads the generic header of a substructure: (next, body reader). `what` names it.
fn substructure<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<(u8, Reader<'a>), DecodeError> {
    let next = r.u8(what)?;
    let _reserved = r.u8(what)?;
    let len = usize::from(r.u16(what)?);
    if len < 4 {
        return Err(DecodeError::BadLength { what, len });
    }
    Ok((next, r.sub(len - 4, what)?))
}

impl SaPayload {
    /// Decodes the body of an SA payload (after the generic header). Only the IPsec DOI
    /// has a defined situation; other DOIs are an error.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("sa doi")?;
        if doi != DOI_IPSEC {
            return Err(DecodeError::Invalid {
                what: "sa doi",
                reason: "not the IPsec DOI",
            });
        }
        let situation = r.u32("sa situation")?;
        let mut proposals = Vec::new();
        let mut next = u8::from(PayloadType::Proposal);
        while next != 0 {
            if next != PayloadType::Proposal.value() {
                return Err(DecodeError::Invalid {
                    what: "proposal",
                    reason: "next payload inside an SA is not a proposal",
                });
            }
            if proposals.len() == MAX_PROPOSALS {
                return Err(DecodeError::Invalid {
                    what: "proposal",
                    reason: "too many proposals",
                });
            }
            let (n, mut p) = substructure(&mut r, "proposal")?;
            next = n;
            proposals.push(Proposal::decode(&mut p)?);
        }
        r.finish("sa payload")?;
        Ok(Self {
            doi,
            situation,
            proposals,
        })
    }

    /// Encodes the body of the SA payload.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.doi);
        w.u32(self.situation);
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 == n {
                0
            } else {
                PayloadType::Proposal.value()
            };
            p.encode(next, w);
        }
    }
}

impl Proposal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let number = r.u8("proposal number")?;
        let protocol = ProtocolId::from(r.u8("proposal protocol")?);
        let spi_size = usize::from(r.u8("proposal spi size")?);
        let count = usize::from(r.u8("proposal transform count")?);
        let spi = r.take(spi_size, "proposal spi")?.to_vec();
        if count > MAX_TRANSFORMS {
            return Err(DecodeError::Invalid {
                what: "proposal transform count",
                reason: "too many transforms",
            });
        }
        let mut transforms = Vec::with_capacity(count);
        let mut next = PayloadType::Transform.value();
        while next != 0 {
            if next != PayloadType::Transform.value() {
                return Err(DecodeError::Invalid {
                    what: "transform",
                    reason: "next payload inside a proposal is not a transform",
                });
            }
            if transforms.len() == count {
                return Err(DecodeError::Invalid {
                    what: "transform",
                    reason: "more transforms than the proposal announced",
                });
            }
            let (n, mut t) = substructure(r, "transform")?;
            next = n;
            let number = t.u8("transform number")?;
            let id = t.u8("transform id")?;
            let _reserved = t.u16("transform reserved")?;
            let attributes = decode_attributes(&mut t)?;
            transforms.push(Transform {
                number,
                id,
                attributes,
            });
        }
        if transforms.len() != count {
            return Err(DecodeError::Invalid {
                what: "proposal transform count",
                reason: "fewer transforms than announced",
            });
        }
        r.finish("proposal")?;
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode(&self, next: u8, w: &mut Writer<'_>) {
        let start = w.position();
        w.u8(next);
        w.u8(0);
        let len = w.placeholder_u16();
        w.u8(self.number);
        w.u8(self.protocol.value());
        w.u8(self.spi.len() as u8);
        w.u8(self.transforms.len() as u8);
        w.bytes(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let tstart = w.position();
            w.u8(if i + 1 == n {
                0
            } else {
                PayloadType::Transform.value()
            });
            w.u8(0);
            let tlen = w.placeholder_u16();
            w.u8(t.number);
            w.u8(t.id);
            w.u16(0);
            encode_attributes(&t.attributes, w);
            let total = w.position() - tstart;
            // Bounded by the caller: a transform never reaches 64 KiB.
            let _ = w.patch_u16(tlen, total);
        }
        let total = w.position() - start;
        let _ = w.patch_u16(len, total);
    }
}
