//! The Result Code AVP (RFC 2661 §4.4.2): why a tunnel (StopCCN) or a session (CDN)
//! ended.

use wire::{DecodeError, Reader, Writer};

wire::open_enum! {
    /// StopCCN result codes (RFC 2661 §4.4.2).
    pub enum StopCcnResult: u16 {
        /// General request to clear control connection.
        ClearConnection = 1,
        /// General error; the error code says which.
        GeneralError = 2,
        /// Control channel already exists.
        AlreadyExists = 3,
        /// Requester is not authorized to establish a control channel.
        NotAuthorized = 4,
        /// The protocol version of the requester is not supported.
        UnsupportedVersion = 5,
        /// Requester is being shut down.
        ShuttingDown = 6,
        /// Finite state machine error.
        FsmError = 7,
    }
}

wire::open_enum! {
    /// CDN result codes (RFC 2661 §4.4.2).
    pub enum CdnResult: u16 {
        /// Call disconnected due to loss of carrier.
        LostCarrier = 1,
        /// General error; the error code says which.
        GeneralError = 2,
        /// Call disconnected for administrative reasons.
        Administrative = 3,
        /// Temporary lack of facilities.
        TemporaryLackOfResources = 4,
        /// Permanent lack of facilities.
        PermanentLackOfResources = 5,
        /// Invalid destination.
        InvalidDestination = 6,
        /// No carrier detected.
        NoCarrier = 7,
        /// Busy signal.
        Busy = 8,
        /// No dial tone.
        NoDialTone = 9,
        /// Call not established within the time allotted.
        Timeout = 10,
        /// No appropriate framing detected.
        NoFraming = 11,
    }
}

wire::open_enum! {
    /// General error codes (RFC 2661 §4.4.2), carried with result code 2.
    pub enum ErrorCode: u16 {
        /// No general error.
        NoError = 0,
        /// No control connection exists yet for this LAC-LNS pair.
        NoControlConnection = 1,
        /// Length is wrong.
        BadLength = 2,
        /// A field value was out of range or a reserved field was non-zero.
        BadValue = 3,
        /// Insufficient resources to handle this operation now.
        InsufficientResources = 4,
        /// The Session ID is invalid in this context.
        InvalidSessionId = 5,
        /// A generic vendor-specific error occurred.
        VendorSpecific = 6,
        /// Try another LNS.
        TryAnother = 7,
        /// Shut down because of an unknown AVP with the M bit set.
        UnknownMandatoryAvp = 8,
    }
}

/// A Result Code AVP value: a result, an optional error code and an optional message.
///
/// The result's meaning depends on the message (StopCCN or CDN); see [`StopCcnResult`]
/// and [`CdnResult`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCode {
    /// The result code.
    pub result: u16,
    /// The error code, if present.
    pub error: Option<ErrorCode>,
    /// An optional human-readable message (only sent after an error code).
    pub message: Vec<u8>,
}

impl ResultCode {
    /// A result without an error code.
    pub fn new(result: u16) -> Self {
        Self {
            result,
            error: None,
            message: Vec::new(),
        }
    }

    /// A result with an error code and a message.
    pub fn with_error(result: u16, error: ErrorCode, message: &str) -> Self {
        Self {
            result,
            error: Some(error),
            message: message.as_bytes().to_vec(),
        }
    }

    /// Decodes the value: 2 bytes, or 4 bytes and more (a 3-byte value is malformed).
    pub fn decode(v: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(v);
        let result = r.u16("result code")?;
        if r.is_empty() {
            return Ok(Self::new(result));
        }
        let error = ErrorCode::from(r.u16("error code")?);
        Ok(Self {
            result,
            error: Some(error),
            message: r.rest().to_vec(),
        })
    }

    /// Appends the value. A message without an error code is sent after error 0.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u16(self.result);
        match (self.error, self.message.is_empty()) {
            (None, true) => {}
            (error, _) => {
                w.u16(error.unwrap_or(ErrorCode::NoError).value());
                w.bytes(&self.message);
            }
        }
    }
}

impl core::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "result {}", self.result)?;
        if let Some(e) = self.error {
            write!(f, ", error {e:?}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", String::from_utf8_lossy(&self.message))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_code_forms() {
        assert_eq!(ResultCode::decode(&[0, 1]).unwrap(), ResultCode::new(1));
        let rc = ResultCode::decode(&[0, 2, 0, 8, b'h', b'i']).unwrap();
        assert_eq!(rc.error, Some(ErrorCode::UnknownMandatoryAvp));
        assert_eq!(rc.message, b"hi");
        assert!(ResultCode::decode(&[0, 2, 0]).is_err());
        assert!(ResultCode::decode(&[0]).is_err());
        let mut out = Vec::new();
        rc.encode(&mut Writer::new(&mut out));
        assert_eq!(out, [0, 2, 0, 8, b'h', b'i']);
    }
}
