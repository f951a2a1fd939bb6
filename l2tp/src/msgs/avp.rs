//! Attribute Value Pairs (RFC 2661 §4.1, §4.4).
//!
//! ```text
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! |         Attribute Type        |        Attribute Value...
//! ```
//!
//! Length (10 bits) counts the six header bytes. [`RawAvp`] is the undecoded form read by
//! [`AvpIter`]; [`Avp`] holds a typed [`AvpValue`] with its M and H bits, so a decoded
//! message encodes back to the same bytes.

use wire::{DecodeError, Reader};

use super::control::MessageType;
use super::hidden::{self, Secret};
use super::result::ResultCode;
use crate::ids::{SessionId, TunnelId};

wire::open_enum! {
    /// IETF AVP attribute types (RFC 2661 §4.4; vendor ID 0).
    pub enum AvpType: u16 {
        /// Message Type (must be first).
        MessageType = 0,
        /// Result Code (StopCCN, CDN).
        ResultCode = 1,
        /// Protocol Version (SCCRQ, SCCRP).
        ProtocolVersion = 2,
        /// Framing Capabilities.
        FramingCapabilities = 3,
        /// Bearer Capabilities.
        BearerCapabilities = 4,
        /// Tie Breaker.
        TieBreaker = 5,
        /// Firmware Revision.
        FirmwareRevision = 6,
        /// Host Name.
        HostName = 7,
        /// Vendor Name.
        VendorName = 8,
        /// Assigned Tunnel ID.
        AssignedTunnelId = 9,
        /// Receive Window Size.
        ReceiveWindowSize = 10,
        /// Challenge (tunnel authentication).
        Challenge = 11,
        /// Q.931 Cause Code.
        Q931CauseCode = 12,
        /// Challenge Response.
        ChallengeResponse = 13,
        /// Assigned Session ID.
        AssignedSessionId = 14,
        /// Call Serial Number.
        CallSerialNumber = 15,
        /// Minimum BPS.
        MinimumBps = 16,
        /// Maximum BPS.
        MaximumBps = 17,
        /// Bearer Type.
        BearerType = 18,
        /// Framing Type.
        FramingType = 19,
        /// Called Number.
        CalledNumber = 21,
        /// Calling Number.
        CallingNumber = 22,
        /// Sub-Address.
        SubAddress = 23,
        /// (Tx) Connect Speed.
        TxConnectSpeed = 24,
        /// Physical Channel ID.
        PhysicalChannelId = 25,
        /// Initial Received LCP CONFREQ.
        InitialReceivedLcpConfReq = 26,
        /// Last Sent LCP CONFREQ.
        LastSentLcpConfReq = 27,
        /// Last Received LCP CONFREQ.
        LastReceivedLcpConfReq = 28,
        /// Proxy Authen Type.
        ProxyAuthenType = 29,
        /// Proxy Authen Name.
        ProxyAuthenName = 30,
        /// Proxy Authen Challenge.
        ProxyAuthenChallenge = 31,
        /// Proxy Authen ID.
        ProxyAuthenId = 32,
        /// Proxy Authen Response.
        ProxyAuthenResponse = 33,
        /// Call Errors (WEN).
        CallErrors = 34,
        /// ACCM (SLI).
        Accm = 35,
        /// Random Vector (for hidden AVPs).
        RandomVector = 36,
        /// Private Group ID.
        PrivateGroupId = 37,
        /// Rx Connect Speed.
        RxConnectSpeed = 38,
        /// Sequencing Required.
        SequencingRequired = 39,
    }
}

/// AVP header size: flags/length, vendor ID, attribute type.
pub const AVP_HEADER_LEN: usize = 6;
/// The largest AVP (the length field has 10 bits).
pub const AVP_MAX_LEN: usize = 1023;

const BIT_M: u16 = 0x8000;
const BIT_H: u16 = 0x4000;
const RESERVED_MASK: u16 = 0x3c00;
const LENGTH_MASK: u16 = 0x03ff;

/// An AVP as read from the wire, value not interpreted (and still hidden if H is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAvp<'a> {
    /// The M bit: an unrecognised AVP with M set tears the tunnel or session down.
    pub mandatory: bool,
    /// The H bit: the value is hidden.
    pub hidden: bool,
    /// The four reserved bits (must be zero; if not, the AVP counts as unrecognised).
    pub reserved: u8,
    /// Vendor ID (0 for IETF AVPs).
    pub vendor: u16,
    /// Attribute type.
    pub attribute: u16,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterates over the AVPs of a control message; stops after the first error.
#[derive(Debug, Clone)]
pub struct AvpIter<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> AvpIter<'a> {
    /// AVPs in `payload` (the control message after its header).
    pub fn new(payload: &'a [u8]) -> Self {
        Self {
            r: Reader::new(payload),
            failed: false,
        }
    }

    fn read(&mut self) -> Result<RawAvp<'a>, DecodeError> {
        let flags = self.r.u16("avp flags and length")?;
        let len = usize::from(flags & LENGTH_MASK);
        if len < AVP_HEADER_LEN {
            return Err(DecodeError::BadLength { what: "avp", len });
        }
        // The length must not overrun the message.
        let mut body = self.r.sub(len - 2, "avp")?;
        Ok(RawAvp {
            mandatory: flags & BIT_M != 0,
            hidden: flags & BIT_H != 0,
            reserved: ((flags & RESERVED_MASK) >> 10) as u8,
            vendor: body.u16("avp vendor id")?,
            attribute: body.u16("avp attribute type")?,
            value: body.rest(),
        })
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<RawAvp<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let item = self.read();
        self.failed = item.is_err();
        Some(item)
    }
}

/// The Q.931 Cause Code AVP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Q931Cause {
    /// The Q.931 cause code.
    pub code: u16,
    /// The Q.931 message type the cause came in.
    pub message: u8,
    /// Optional advisory text.
    pub advisory: Vec<u8>,
}

/// The Call Errors AVP value (WEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallErrors {
    /// CRC errors.
    pub crc: u32,
    /// Framing errors.
    pub framing: u32,
    /// Hardware overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns.
    pub buffer_overruns: u32,
    /// Time-out errors.
    pub timeouts: u32,
    /// Alignment errors.
    pub alignment: u32,
}

/// The ACCM AVP value (SLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accm {
    /// The send ACCM.
    pub send: u32,
    /// The receive ACCM.
    pub receive: u32,
}

/// A typed AVP value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AvpValue {
    /// Message Type.
    MessageType(MessageType),
    /// Result Code.
    ResultCode(ResultCode),
    /// Protocol Version and revision (1.0 for RFC 2661).
    ProtocolVersion {
        /// Version (1).
        version: u8,
        /// Revision (0).
        revision: u8,
    },
    /// Framing Capabilities bit mask (1 sync, 2 async).
    FramingCapabilities(u32),
    /// Bearer Capabilities bit mask (1 digital, 2 analog).
    BearerCapabilities(u32),
    /// Tie Breaker.
    TieBreaker([u8; 8]),
    /// Firmware Revision.
    FirmwareRevision(u16),
    /// Host Name.
    HostName(Vec<u8>),
    /// Vendor Name.
    VendorName(Vec<u8>),
    /// Assigned Tunnel ID.
    AssignedTunnelId(TunnelId),
    /// Receive Window Size.
    ReceiveWindowSize(u16),
    /// Challenge.
    Challenge(Vec<u8>),
    /// Q.931 Cause Code.
    Q931CauseCode(Q931Cause),
    /// Challenge Response (16 bytes).
    ChallengeResponse([u8; 16]),
    /// Assigned Session ID.
    AssignedSessionId(SessionId),
    /// Call Serial Number.
    CallSerialNumber(u32),
    /// Minimum BPS.
    MinimumBps(u32),
    /// Maximum BPS.
    MaximumBps(u32),
    /// Bearer Type bit mask.
    BearerType(u32),
    /// Framing Type bit mask.
    FramingType(u32),
    /// Called Number.
    CalledNumber(Vec<u8>),
    /// Calling Number.
    CallingNumber(Vec<u8>),
    /// Sub-Address.
    SubAddress(Vec<u8>),
    /// (Tx) Connect Speed.
    TxConnectSpeed(u32),
    /// Physical Channel ID.
    PhysicalChannelId(u32),
    /// Initial Received LCP CONFREQ.
    InitialReceivedLcpConfReq(Vec<u8>),
    /// Last Sent LCP CONFREQ.
    LastSentLcpConfReq(Vec<u8>),
    /// Last Received LCP CONFREQ.
    LastReceivedLcpConfReq(Vec<u8>),
    /// Proxy Authen Type.
    ProxyAuthenType(u16),
    /// Proxy Authen Name.
    ProxyAuthenName(Vec<u8>),
    /// Proxy Authen Challenge.
    ProxyAuthenChallenge(Vec<u8>),
    /// Proxy Authen ID (the low byte of the field; the high byte is reserved).
    ProxyAuthenId(u16),
    /// Proxy Authen Response.
    ProxyAuthenResponse(Vec<u8>),
    /// Call Errors.
    CallErrors(CallErrors),
    /// ACCM.
    Accm(Accm),
    /// Random Vector.
    RandomVector(Vec<u8>),
    /// Private Group ID.
    PrivateGroupId(Vec<u8>),
    /// Rx Connect Speed.
    RxConnectSpeed(u32),
    /// Sequencing Required (no value).
    SequencingRequired,
    /// An AVP this implementation does not interpret: an unknown attribute, a vendor
    /// AVP, one with reserved bits set, or a hidden AVP that could not be recovered
    /// (then `value` is still hidden).
    Raw {
        /// Vendor ID.
        vendor: u16,
        /// Attribute type.
        attribute: u16,
        /// The value bytes, as on the wire.
        value: Vec<u8>,
    },
}

/// A decoded AVP: its value and the M and H bits it was (or is to be) sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avp {
    /// The M bit.
    pub mandatory: bool,
    /// The H bit: the value is hidden on the wire.
    pub hidden: bool,
    /// The reserved bits (zero except in [`AvpValue::Raw`]).
    pub reserved: u8,
    /// The value.
    pub value: AvpValue,
}

fn exact<'a, const N: usize>(v: &'a [u8], what: &'static str) -> Result<&'a [u8; N], DecodeError> {
    v.try_into().map_err(|_| DecodeError::BadLength {
        what,
        len: v.len() + AVP_HEADER_LEN,
    })
}

fn be16(v: &[u8], what: &'static str) -> Result<u16, DecodeError> {
    exact::<2>(v, what).map(|b| u16::from_be_bytes(*b))
}

fn be32(v: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    exact::<4>(v, what).map(|b| u32::from_be_bytes(*b))
}

impl AvpValue {
    /// Interprets the (plain) value of IETF attribute `attribute`. Unknown attributes
    /// give [`AvpValue::Raw`]; a known attribute with a wrong length is an error.
    pub fn decode(attribute: AvpType, v: &[u8]) -> Result<Self, DecodeError> {
        use AvpType as T;
        Ok(match attribute {
            T::MessageType => Self::MessageType(MessageType::from(be16(v, "message type avp")?)),
            T::ResultCode => Self::ResultCode(ResultCode::decode(v)?),
            T::ProtocolVersion => {
                let [version, revision] = *exact::<2>(v, "protocol version avp")?;
                Self::ProtocolVersion { version, revision }
            }
            T::FramingCapabilities => {
                Self::FramingCapabilities(be32(v, "framing capabilities avp")?)
            }
            T::BearerCapabilities => Self::BearerCapabilities(be32(v, "bearer capabilities avp")?),
            T::TieBreaker => Self::TieBreaker(*exact::<8>(v, "tie breaker avp")?),
            T::FirmwareRevision => Self::FirmwareRevision(be16(v, "firmware revision avp")?),
            T::HostName => Self::HostName(v.to_vec()),
            T::VendorName => Self::VendorName(v.to_vec()),
            T::AssignedTunnelId => {
                Self::AssignedTunnelId(TunnelId(be16(v, "assigned tunnel id avp")?))
            }
            T::ReceiveWindowSize => Self::ReceiveWindowSize(be16(v, "receive window size avp")?),
            T::Challenge => Self::Challenge(v.to_vec()),
            T::Q931CauseCode => {
                let mut r = Reader::new(v);
                Self::Q931CauseCode(Q931Cause {
                    code: r.u16("q931 cause code")?,
                    message: r.u8("q931 cause message")?,
                    advisory: r.rest().to_vec(),
                })
            }
            T::ChallengeResponse => {
                Self::ChallengeResponse(*exact::<16>(v, "challenge response avp")?)
            }
            T::AssignedSessionId => {
                Self::AssignedSessionId(SessionId(be16(v, "assigned session id avp")?))
            }
            T::CallSerialNumber => Self::CallSerialNumber(be32(v, "call serial number avp")?),
            T::MinimumBps => Self::MinimumBps(be32(v, "minimum bps avp")?),
            T::MaximumBps => Self::MaximumBps(be32(v, "maximum bps avp")?),
            T::BearerType => Self::BearerType(be32(v, "bearer type avp")?),
            T::FramingType => Self::FramingType(be32(v, "framing type avp")?),
            T::CalledNumber => Self::CalledNumber(v.to_vec()),
            T::CallingNumber => Self::CallingNumber(v.to_vec()),
            T::SubAddress => Self::SubAddress(v.to_vec()),
            T::TxConnectSpeed => Self::TxConnectSpeed(be32(v, "tx connect speed avp")?),
            T::PhysicalChannelId => Self::PhysicalChannelId(be32(v, "physical channel id avp")?),
            T::InitialReceivedLcpConfReq => Self::InitialReceivedLcpConfReq(v.to_vec()),
            T::LastSentLcpConfReq => Self::LastSentLcpConfReq(v.to_vec()),
            T::LastReceivedLcpConfReq => Self::LastReceivedLcpConfReq(v.to_vec()),
            T::ProxyAuthenType => Self::ProxyAuthenType(be16(v, "proxy authen type avp")?),
            T::ProxyAuthenName => Self::ProxyAuthenName(v.to_vec()),
            T::ProxyAuthenChallenge => Self::ProxyAuthenChallenge(v.to_vec()),
            T::ProxyAuthenId => Self::ProxyAuthenId(be16(v, "proxy authen id avp")?),
            T::ProxyAuthenResponse => Self::ProxyAuthenResponse(v.to_vec()),
            T::CallErrors => {
                let mut r = Reader::new(exact::<26>(v, "call errors avp")?);
                r.u16("call errors reserved")?;
                Self::CallErrors(CallErrors {
                    crc: r.u32("crc errors")?,
                    framing: r.u32("framing errors")?,
                    hardware_overruns: r.u32("hardware overruns")?,
                    buffer_overruns: r.u32("buffer overruns")?,
                    timeouts: r.u32("time-out errors")?,
                    alignment: r.u32("alignment errors")?,
                })
            }
            T::Accm => {
                let mut r = Reader::new(exact::<10>(v, "accm avp")?);
                r.u16("accm reserved")?;
                Self::Accm(Accm {
                    send: r.u32("send accm")?,
                    receive: r.u32("receive accm")?,
                })
            }
            T::RandomVector => Self::RandomVector(v.to_vec()),
            T::PrivateGroupId => Self::PrivateGroupId(v.to_vec()),
            T::RxConnectSpeed => Self::RxConnectSpeed(be32(v, "rx connect speed avp")?),
            T::SequencingRequired => {
                exact::<0>(v, "sequencing required avp")?;
                Self::SequencingRequired
            }
            T::Unknown(attribute) => Self::Raw {
                vendor: 0,
                attribute,
                value: v.to_vec(),
            },
        })
    }

    /// The vendor ID and attribute type this value is sent as.
    pub fn attribute(&self) -> (u16, u16) {
        use AvpType as T;
        let t = match self {
            Self::MessageType(_) => T::MessageType,
            Self::ResultCode(_) => T::ResultCode,
            Self::ProtocolVersion { .. } => T::ProtocolVersion,
            Self::FramingCapabilities(_) => T::FramingCapabilities,
            Self::BearerCapabilities(_) => T::BearerCapabilities,
            Self::TieBreaker(_) => T::TieBreaker,
            Self::FirmwareRevision(_) => T::FirmwareRevision,
            Self::HostName(_) => T::HostName,
            Self::VendorName(_) => T::VendorName,
            Self::AssignedTunnelId(_) => T::AssignedTunnelId,
            Self::ReceiveWindowSize(_) => T::ReceiveWindowSize,
            Self::Challenge(_) => T::Challenge,
            Self::Q931CauseCode(_) => T::Q931CauseCode,
            Self::ChallengeResponse(_) => T::ChallengeResponse,
            Self::AssignedSessionId(_) => T::AssignedSessionId,
            Self::CallSerialNumber(_) => T::CallSerialNumber,
            Self::MinimumBps(_) => T::MinimumBps,
            Self::MaximumBps(_) => T::MaximumBps,
            Self::BearerType(_) => T::BearerType,
            Self::FramingType(_) => T::FramingType,
            Self::CalledNumber(_) => T::CalledNumber,
            Self::CallingNumber(_) => T::CallingNumber,
            Self::SubAddress(_) => T::SubAddress,
            Self::TxConnectSpeed(_) => T::TxConnectSpeed,
            Self::PhysicalChannelId(_) => T::PhysicalChannelId,
            Self::InitialReceivedLcpConfReq(_) => T::InitialReceivedLcpConfReq,
            Self::LastSentLcpConfReq(_) => T::LastSentLcpConfReq,
            Self::LastReceivedLcpConfReq(_) => T::LastReceivedLcpConfReq,
            Self::ProxyAuthenType(_) => T::ProxyAuthenType,
            Self::ProxyAuthenName(_) => T::ProxyAuthenName,
            Self::ProxyAuthenChallenge(_) => T::ProxyAuthenChallenge,
            Self::ProxyAuthenId(_) => T::ProxyAuthenId,
            Self::ProxyAuthenResponse(_) => T::ProxyAuthenResponse,
            Self::CallErrors(_) => T::CallErrors,
            Self::Accm(_) => T::Accm,
            Self::RandomVector(_) => T::RandomVector,
            Self::PrivateGroupId(_) => T::PrivateGroupId,
            Self::RxConnectSpeed(_) => T::RxConnectSpeed,
            Self::SequencingRequired => T::SequencingRequired,
            Self::Raw {
                vendor, attribute, ..
            } => return (*vendor, *attribute),
        };
        (0, t.value())
    }

    /// Appends the plain value bytes.
    pub fn encode_value(&self, out: &mut Vec<u8>) {
        let mut w = wire::Writer::new(out);
        match self {
            Self::MessageType(t) => w.u16(t.value()),
            Self::ResultCode(rc) => rc.encode(&mut w),
            Self::ProtocolVersion { version, revision } => {
                w.u8(*version);
                w.u8(*revision);
            }
            Self::FramingCapabilities(v)
            | Self::BearerCapabilities(v)
            | Self::CallSerialNumber(v)
            | Self::MinimumBps(v)
            | Self::MaximumBps(v)
            | Self::BearerType(v)
            | Self::FramingType(v)
            | Self::TxConnectSpeed(v)
            | Self::PhysicalChannelId(v)
            | Self::RxConnectSpeed(v) => w.u32(*v),
            Self::TieBreaker(v) => w.bytes(v),
            Self::FirmwareRevision(v)
            | Self::ReceiveWindowSize(v)
            | Self::ProxyAuthenType(v)
            | Self::ProxyAuthenId(v) => w.u16(*v),
            Self::AssignedTunnelId(t) => w.u16(t.0),
            Self::AssignedSessionId(s) => w.u16(s.0),
            Self::HostName(v)
            | Self::VendorName(v)
            | Self::Challenge(v)
            | Self::CalledNumber(v)
            | Self::CallingNumber(v)
            | Self::SubAddress(v)
            | Self::InitialReceivedLcpConfReq(v)
            | Self::LastSentLcpConfReq(v)
            | Self::LastReceivedLcpConfReq(v)
            | Self::ProxyAuthenName(v)
            | Self::ProxyAuthenChallenge(v)
            | Self::ProxyAuthenResponse(v)
            | Self::RandomVector(v)
            | Self::PrivateGroupId(v)
            | Self::Raw { value: v, .. } => w.bytes(v),
            Self::Q931CauseCode(q) => {
                w.u16(q.code);
                w.u8(q.message);
                w.bytes(&q.advisory);
            }
            Self::ChallengeResponse(v) => w.bytes(v),
            Self::CallErrors(e) => {
                w.u16(0);
                for v in [
                    e.crc,
                    e.framing,
                    e.hardware_overruns,
                    e.buffer_overruns,
                    e.timeouts,
                    e.alignment,
                ] {
                    w.u32(v);
                }
            }
            Self::Accm(a) => {
                w.u16(0);
                w.u32(a.send);
                w.u32(a.receive);
            }
            Self::SequencingRequired => {}
        }
    }
}

/// Why an AVP list could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvpEncodeError {
    /// An AVP is longer than the 10-bit length field allows.
    TooLong {
        /// The attribute type.
        attribute: u16,
        /// Its length.
        len: usize,
    },
    /// An AVP is to be hidden, but no secret was given or no Random Vector AVP precedes it.
    CannotHide {
        /// The attribute type.
        attribute: u16,
    },
}

impl Avp {
    /// A plain (not hidden) AVP.
    pub fn new(mandatory: bool, value: AvpValue) -> Self {
        Self {
            mandatory,
            hidden: false,
            reserved: 0,
            value,
        }
    }

    /// A mandatory (M=1) plain AVP.
    pub fn mandatory(value: AvpValue) -> Self {
        Self::new(true, value)
    }

    /// Decodes one raw AVP. A hidden value is recovered with `secret` and the last
    /// `random_vector`; if it cannot be (no secret, no vector, or garbage), the AVP is
    /// kept as [`AvpValue::Raw`] with the hidden bytes, so it counts as unrecognised.
    pub fn decode(
        raw: &RawAvp<'_>,
        secret: Option<&Secret>,
        random_vector: Option<&[u8]>,
    ) -> Result<Self, DecodeError> {
        let as_raw = || Self {
            mandatory: raw.mandatory,
            hidden: raw.hidden,
            reserved: raw.reserved,
            value: AvpValue::Raw {
                vendor: raw.vendor,
                attribute: raw.attribute,
                value: raw.value.to_vec(),
            },
        };
        if raw.vendor != 0 || raw.reserved != 0 {
            return Ok(as_raw());
        }
        let attribute = AvpType::from(raw.attribute);
        if !attribute.is_known() {
            return Ok(as_raw());
        }
        let value = if raw.hidden {
            let (Some(secret), Some(rv)) = (secret, random_vector) else {
                return Ok(as_raw());
            };
            match hidden::unhide(raw.attribute, secret, rv, raw.value) {
                Ok(plain) => AvpValue::decode(attribute, &plain)?,
                Err(_) => return Ok(as_raw()),
            }
        } else {
            AvpValue::decode(attribute, raw.value)?
        };
        Ok(Self {
            mandatory: raw.mandatory,
            hidden: raw.hidden,
            reserved: 0,
            value,
        })
    }

    /// True for an AVP this implementation did not interpret.
    pub fn is_unrecognised(&self) -> bool {
        matches!(self.value, AvpValue::Raw { .. })
    }

    /// Appends the AVP. A typed value with `hidden` set is hidden with `secret` and
    /// `random_vector`; a [`AvpValue::Raw`] one is written as it is.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        secret: Option<&Secret>,
        random_vector: Option<&[u8]>,
    ) -> Result<(), AvpEncodeError> {
        let (vendor, attribute) = self.value.attribute();
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&vendor.to_be_bytes());
        out.extend_from_slice(&attribute.to_be_bytes());
        if self.hidden && !self.is_unrecognised() {
            let (Some(secret), Some(rv)) = (secret, random_vector) else {
                out.truncate(start);
                return Err(AvpEncodeError::CannotHide { attribute });
            };
            let mut plain = zeroize::Zeroizing::new(Vec::new());
            self.value.encode_value(&mut plain);
            hidden::hide(attribute, secret, rv, &plain, out);
        } else {
            self.value.encode_value(out);
        }
        let len = out.len() - start;
        if len > AVP_MAX_LEN {
            out.truncate(start);
            return Err(AvpEncodeError::TooLong { attribute, len });
        }
        let mut flags = len as u16 | (u16::from(self.reserved & 0x0f) << 10);
        if self.mandatory {
            flags |= BIT_M;
        }
        if self.hidden {
            flags |= BIT_H;
        }
        if let Some(dst) = out.get_mut(start..start + 2) {
            dst.copy_from_slice(&flags.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrunning_and_short_avps_are_errors() {
        // Length 12 but only 8 bytes.
        let bytes = [0x80, 0x0c, 0, 0, 0, 9, 0, 1];
        let items: Vec<_> = AvpIter::new(&bytes).collect();
        assert!(matches!(
            items[..],
            [Err(DecodeError::Truncated { what: "avp", .. })]
        ));
        // Length 4, shorter than the header.
        let bytes = [0x80, 0x04, 0, 0];
        assert!(matches!(
            AvpIter::new(&bytes).next(),
            Some(Err(DecodeError::BadLength { len: 4, .. }))
        ));
        // A truncated header.
        assert!(matches!(AvpIter::new(&[0x80]).next(), Some(Err(_))));
    }

    #[test]
    fn known_attribute_with_wrong_length_is_an_error() {
        let raw = RawAvp {
            mandatory: true,
            hidden: false,
            reserved: 0,
            vendor: 0,
            attribute: 9,
            value: &[1, 2, 3],
        };
        assert!(matches!(
            Avp::decode(&raw, None, None),
            Err(DecodeError::BadLength {
                what: "assigned tunnel id avp",
                ..
            })
        ));
    }

    #[test]
    fn vendor_and_reserved_bit_avps_stay_raw_and_round_trip() {
        // Vendor 311 (Microsoft), attribute 1, M=0; and an IETF AVP with a reserved bit.
        let bytes = [
            0x00, 0x08, 0x01, 0x37, 0, 1, 0xaa, 0xbb, 0x84, 0x08, 0, 0, 0, 9, 0, 1,
        ];
        let mut out = Vec::new();
        for raw in AvpIter::new(&bytes) {
            let avp = Avp::decode(&raw.unwrap(), None, None).unwrap();
            assert!(avp.is_unrecognised());
            avp.encode(&mut out, None, None).unwrap();
        }
        assert_eq!(out, bytes);
    }

    #[test]
    fn hidden_avp_round_trips_with_the_secret_and_stays_raw_without() {
        let secret = Secret::new(b"s3cret".to_vec());
        let rv = [7u8; 16];
        let avp = Avp {
            mandatory: true,
            hidden: true,
            reserved: 0,
            value: AvpValue::AssignedSessionId(SessionId(0xbeef)),
        };
        let mut out = Vec::new();
        avp.encode(&mut out, Some(&secret), Some(&rv)).unwrap();
        // 6-byte header + hidden(2-byte length + 2-byte value).
        assert_eq!(out.len(), 10);
        assert_eq!(&out[..2], &[0xc0, 0x0a]);
        assert_ne!(&out[6..], &[0, 2, 0xbe, 0xef]);
        let raw = AvpIter::new(&out).next().unwrap().unwrap();
        assert_eq!(Avp::decode(&raw, Some(&secret), Some(&rv)).unwrap(), avp);
        let opaque = Avp::decode(&raw, None, Some(&rv)).unwrap();
        assert!(opaque.is_unrecognised() && opaque.mandatory);
        assert_eq!(
            avp.encode(&mut Vec::new(), None, Some(&rv)),
            Err(AvpEncodeError::CannotHide { attribute: 14 })
        );
    }
}
