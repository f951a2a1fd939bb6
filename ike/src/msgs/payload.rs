//! The generic payload chain (RFC 2408 §3.2) and the typed payloads of IKEv1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wire::{DecodeError, Reader, Writer};

use super::enums::{CertEncoding, IdType, NotifyType, PayloadType, ProtocolId};
use super::sa::SaPayload;

/// Most payloads accepted in one message (a Windows MM1 carries about a dozen).
pub const MAX_PAYLOADS: usize = 32;

/// One payload of a chain as it was on the wire: its type, its body (after the 4-byte
/// generic header) and the whole payload with its header. Hashes are computed over these
/// original bytes, never over a re-encoding.
#[derive(Clone, Copy, Debug)]
pub struct RawPayload<'a> {
    /// Payload type.
    pub ty: PayloadType,
    /// Body after the generic header.
    pub body: &'a [u8],
    /// The whole payload, generic header included.
    pub whole: &'a [u8],
    /// Offset of the payload from the start of the chain.
    pub offset: usize,
}

/// A parsed chain: the payloads and the offset where the chain ended (padding of an
/// encrypted message may follow).
#[derive(Clone, Debug)]
pub struct Chain<'a> {
    /// The payloads in order.
    pub payloads: Vec<RawPayload<'a>>,
    /// Offset just past the last payload.
    pub end: usize,
}

/// Splits `data` into a payload chain starting with type `first`. Lengths are checked
/// against the data; the count is bounded by [`MAX_PAYLOADS`]. Bytes after the last
/// payload are left for the caller (see [`Chain::end`]).
pub fn parse_chain(first: PayloadType, data: &[u8]) -> Result<Chain<'_>, DecodeError> {
    let mut r = Reader::new(data);
    let mut ty = first;
    let mut payloads = Vec::new();
    while ty != PayloadType::None {
        if payloads.len() == MAX_PAYLOADS {
            return Err(DecodeError::Invalid {
                what: "payload chain",
                reason: "too many payloads",
            });
        }
        let offset = r.position();
        let next = PayloadType::from(r.u8("payload header")?);
        let _reserved = r.u8("payload header")?;
        let len = usize::from(r.u16("payload length")?);
        if len < 4 {
            return Err(DecodeError::BadLength {
                what: "payload length",
                len,
            });
        }
        let body = r.take(len - 4, "payload body")?;
        let whole = data.get(offset..offset + len).unwrap_or_default();
        payloads.push(RawPayload {
            ty,
            body,
            whole,
            offset,
        });
        ty = next;
    }
    Ok(Chain {
        payloads,
        end: r.position(),
    })
}

/// An Identification payload (RFC 2407 §4.6.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdPayload {
    /// ID type.
    pub id_type: IdType,
    /// IP protocol (0 = any; 17 = UDP for L2TP).
    pub protocol: u8,
    /// Port (0 = any; 1701 for L2TP).
    pub port: u16,
    /// Identification data.
    pub data: Vec<u8>,
}

impl IdPayload {
    /// An ID_IPV4_ADDR or ID_IPV6_ADDR for `addr`.
    pub fn address(addr: IpAddr, protocol: u8, port: u16) -> Self {
        match addr {
            IpAddr::V4(a) => Self {
                id_type: IdType::Ipv4Addr,
                protocol,
                port,
                data: a.octets().to_vec(),
            },
            IpAddr::V6(a) => Self {
                id_type: IdType::Ipv6Addr,
                protocol,
                port,
                data: a.octets().to_vec(),
            },
        }
    }

    /// The address of an ID_IPV4_ADDR / ID_IPV6_ADDR.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::Ipv4Addr => <[u8; 4]>::try_from(self.data.as_slice())
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            IdType::Ipv6Addr => <[u8; 16]>::try_from(self.data.as_slice())
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        }
    }

    /// Decodes the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType::from(r.u8("id type")?);
        let protocol = r.u8("id protocol")?;
        let port = r.u16("id port")?;
        let data = r.rest().to_vec();
        let fixed = match id_type {
            IdType::Ipv4Addr => Some(4),
            IdType::Ipv6Addr => Some(16),
            IdType::Ipv4AddrSubnet | IdType::Ipv4AddrRange => Some(8),
            IdType::Ipv6AddrSubnet | IdType::Ipv6AddrRange => Some(32),
            _ => None,
        };
        if let Some(n) = fixed
            && data.len() != n
        {
            return Err(DecodeError::BadLength {
                what: "id data",
                len: data.len(),
            });
        }
        Ok(Self {
            id_type,
            protocol,
            port,
            data,
        })
    }

    /// Encodes the body (this is the `IDii_b` of RFC 2409's hashes).
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u8(self.id_type.value());
        w.u8(self.protocol);
        w.u16(self.port);
        w.bytes(&self.data);
    }
}

/// A Notification payload (RFC 2408 §3.14).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotifyPayload {
    /// DOI.
    pub doi: u32,
    /// Protocol the SPI belongs to.
    pub protocol: ProtocolId,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// SPI (16 bytes of cookies for ISAKMP notifications such as DPD).
    pub spi: Vec<u8>,
    /// Notification data.
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// Decodes the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("notify doi")?;
        let protocol = ProtocolId::from(r.u8("notify protocol")?);
        let spi_size = usize::from(r.u8("notify spi size")?);
        let notify_type = NotifyType::from(r.u16("notify type")?);
        let spi = r.take(spi_size, "notify spi")?.to_vec();
        let data = r.rest().to_vec();
        Ok(Self {
            doi,
            protocol,
            notify_type,
            spi,
            data,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.doi);
        w.u8(self.protocol.value());
        w.u8(self.spi.len() as u8);
        w.u16(self.notify_type.value());
        w.bytes(&self.spi);
        w.bytes(&self.data);
    }
}

/// A Delete payload (RFC 2408 §3.15).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeletePayload {
    /// DOI.
    pub doi: u32,
    /// Protocol of the SPIs.
    pub protocol: ProtocolId,
    /// Size of each SPI (16 for ISAKMP, 4 for ESP).
    pub spi_size: u8,
    /// The SPIs.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Most SPIs accepted in one Delete payload.
    pub const MAX_SPIS: usize = 64;

    /// Decodes the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("delete doi")?;
        let protocol = ProtocolId::from(r.u8("delete protocol")?);
        let spi_size = r.u8("delete spi size")?;
        let n = usize::from(r.u16("delete spi count")?);
        if n > Self::MAX_SPIS {
            return Err(DecodeError::Invalid {
                what: "delete spi count",
                reason: "too many SPIs",
            });
        }
        let mut spis = Vec::with_capacity(n);
        for _ in 0..n {
            spis.push(r.take(usize::from(spi_size), "delete spi")?.to_vec());
        }
        r.finish("delete payload")?;
        Ok(Self {
            doi,
            protocol,
            spi_size,
            spis,
        })
    }

    /// Encodes the body.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.doi);
        w.u8(self.protocol.value());
        w.u8(self.spi_size);
        w.u16(self.spis.len() as u16);
        for s in &self.spis {
            w.bytes(s);
        }
    }
}

/// A NAT-OA payload (RFC 3947 §5.2): the original address of a peer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NatOaPayload {
    /// The address.
    pub addr: IpAddr,
}

impl NatOaPayload {
    /// Decodes the body (ID type, 3 reserved bytes, address).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType::from(r.u8("nat-oa id type")?);
        let _reserved = r.take(3, "nat-oa reserved")?;
        let addr = match id_type {
            IdType::Ipv4Addr => IpAddr::V4(Ipv4Addr::from(*r.take_array::<4>("nat-oa address")?)),
            IdType::Ipv6Addr => IpAddr::V6(Ipv6Addr::from(*r.take_array::<16>("nat-oa address")?)),
            _ => {
                return Err(DecodeError::Invalid {
                    what: "nat-oa id type",
                    reason: "not an IPv4 or IPv6 address",
                });
            }
        };
        r.finish("nat-oa payload")?;
        Ok(Self { addr })
    }

    /// Encodes the body.
    pub fn encode(&self, w: &mut Writer<'_>) {
        match self.addr {
            IpAddr::V4(a) => {
                w.u8(IdType::Ipv4Addr.value());
                w.zeros(3);
                w.bytes(&a.octets());
            }
            IpAddr::V6(a) => {
                w.u8(IdType::Ipv6Addr.value());
                w.zeros(3);
                w.bytes(&a.octets());
            }
        }
    }
}

/// A typed IKEv1 payload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange data (g^x).
    Ke(Vec<u8>),
    /// Identification.
    Id(IdPayload),
    /// Certificate (kept opaque until certificate authentication lands).
    Cert {
        /// Encoding.
        encoding: CertEncoding,
        /// Data.
        data: Vec<u8>,
    },
    /// Certificate Request (opaque).
    CertReq {
        /// Requested encoding.
        encoding: CertEncoding,
        /// Authority.
        data: Vec<u8>,
    },
    /// Hash.
    Hash(Vec<u8>),
    /// Signature.
    Sig(Vec<u8>),
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notification.
    Notify(NotifyPayload),
    /// Delete.
    Delete(DeletePayload),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// NAT-D (`draft` selects type 130 over 20).
    NatD {
        /// Sent with the draft payload type 130.
        draft: bool,
        /// The hash.
        hash: Vec<u8>,
    },
    /// NAT-OA (`draft` selects type 131 over 21).
    NatOa {
        /// Sent with the draft payload type 131.
        draft: bool,
        /// The original address.
        oa: NatOaPayload,
    },
    /// A payload type this implementation does not know (kept for round trips; the
    /// engine answers it with INVALID-PAYLOAD-TYPE).
    Unknown {
        /// The type.
        ty: PayloadType,
        /// The body.
        body: Vec<u8>,
    },
}

impl Payload {
    /// Decodes a payload body of type `ty`.
    pub fn decode(ty: PayloadType, body: &[u8]) -> Result<Self, DecodeError> {
        Ok(match ty {
            PayloadType::Sa => Self::Sa(SaPayload::decode(body)?),
            PayloadType::Ke => Self::Ke(body.to_vec()),
            PayloadType::Id => Self::Id(IdPayload::decode(body)?),
            PayloadType::Cert | PayloadType::CertReq => {
                let mut r = Reader::new(body);
                let encoding = CertEncoding::from(r.u8("certificate encoding")?);
                let data = r.rest().to_vec();
                if ty == PayloadType::Cert {
                    Self::Cert { encoding, data }
                } else {
                    Self::CertReq { encoding, data }
                }
            }
            PayloadType::Hash => Self::Hash(body.to_vec()),
            PayloadType::Sig => Self::Sig(body.to_vec()),
            PayloadType::Nonce => Self::Nonce(body.to_vec()),
            PayloadType::Notify => Self::Notify(NotifyPayload::decode(body)?),
            PayloadType::Delete => Self::Delete(DeletePayload::decode(body)?),
            PayloadType::VendorId => Self::VendorId(body.to_vec()),
            PayloadType::NatD | PayloadType::NatDDraft => Self::NatD {
                draft: ty == PayloadType::NatDDraft,
                hash: body.to_vec(),
            },
            PayloadType::NatOa | PayloadType::NatOaDraft => Self::NatOa {
                draft: ty == PayloadType::NatOaDraft,
                oa: NatOaPayload::decode(body)?,
            },
            PayloadType::Proposal | PayloadType::Transform | PayloadType::None => {
                return Err(DecodeError::Invalid {
                    what: "payload type",
                    reason: "substructure type at top level",
                });
            }
            other => Self::Unknown {
                ty: other,
                body: body.to_vec(),
            },
        })
    }

    /// The payload type.
    pub fn ty(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::Sa,
            Self::Ke(_) => PayloadType::Ke,
            Self::Id(_) => PayloadType::Id,
            Self::Cert { .. } => PayloadType::Cert,
            Self::CertReq { .. } => PayloadType::CertReq,
            Self::Hash(_) => PayloadType::Hash,
            Self::Sig(_) => PayloadType::Sig,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notify(_) => PayloadType::Notify,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::NatD { draft: false, .. } => PayloadType::NatD,
            Self::NatD { draft: true, .. } => PayloadType::NatDDraft,
            Self::NatOa { draft: false, .. } => PayloadType::NatOa,
            Self::NatOa { draft: true, .. } => PayloadType::NatOaDraft,
            Self::Unknown { ty, .. } => *ty,
        }
    }

    /// Encodes the body only (what RFC 2409 calls `X_b`).
    pub fn encode_body(&self, w: &mut Writer<'_>) {
        match self {
            Self::Sa(sa) => sa.encode(w),
            Self::Ke(b)
            | Self::Hash(b)
            | Self::Sig(b)
            | Self::Nonce(b)
            | Self::VendorId(b)
            | Self::NatD { hash: b, .. }
            | Self::Unknown { body: b, .. } => w.bytes(b),
            Self::Id(id) => id.encode(w),
            Self::Cert { encoding, data } | Self::CertReq { encoding, data } => {
                w.u8(encoding.value());
                w.bytes(data);
            }
            Self::Notify(n) => n.encode(w),
            Self::Delete(d) => d.encode(w),
            Self::NatOa { oa, .. } => oa.encode(w),
        }
    }

    /// Encodes the payload with its generic header; `next` is the type of the payload
    /// that follows (or [`PayloadType::None`]).
    pub fn encode(&self, next: PayloadType, w: &mut Writer<'_>) {
        let start = w.position();
        w.u8(next.value());
        w.u8(0);
        let len = w.placeholder_u16();
        self.encode_body(w);
        let total = w.position() - start;
        // Payloads built here are far below 64 KiB; an oversized one is a bug that the
        // peer will see as malformed, never a panic.
        let _ = w.patch_u16(len, total);
    }
}

/// Encodes a payload chain; returns nothing, the first type is `payloads[0].ty()`.
pub fn encode_chain(payloads: &[Payload], w: &mut Writer<'_>) {
    let n = payloads.len();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(PayloadType::None, Payload::ty);
        let _ = n;
        p.encode(next, w);
    }
}

/// Decodes every payload of a chain into typed payloads.
pub fn decode_payloads(chain: &Chain<'_>) -> Result<Vec<Payload>, DecodeError> {
    chain
        .payloads
        .iter()
        .map(|p| Payload::decode(p.ty, p.body))
        .collect()
}
