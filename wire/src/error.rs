use core::fmt;

/// Why a byte string could not be decoded.
///
/// Every variant names *what* was being decoded (a field, a payload, a message), so a
/// log line or a counter can say exactly where a peer's message went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before `what` was complete.
    Truncated {
        /// The field or structure being read.
        what: &'static str,
        /// Bytes that were needed.
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// Bytes were left over after `what`, where the format allows none.
    TrailingData {
        /// The structure that should have ended.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A length field of `what` is inconsistent with the data or the format.
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// The length value found.
        len: usize,
    },
    /// A field of `what` holds a value the format does not allow.
    Invalid {
        /// The field that is invalid.
        what: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A checksum over `what` did not verify.
    BadChecksum {
        /// The structure whose checksum failed.
        what: &'static str,
    },
}

impl DecodeError {
    /// The field or structure that failed to decode.
    pub fn what(&self) -> &'static str {
        match *self {
            Self::Truncated { what, .. }
            | Self::TrailingData { what, .. }
            | Self::BadLength { what, .. }
            | Self::Invalid { what, .. }
            | Self::BadChecksum { what } => what,
        }
    }

    /// A short stable name of the error kind, suitable as a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::TrailingData { .. } => "trailing_data",
            Self::BadLength { .. } => "bad_length",
            Self::Invalid { .. } => "invalid",
            Self::BadChecksum { .. } => "bad_checksum",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "{what}: truncated, needed {needed} bytes, {available} available"
            ),
            Self::TrailingData { what, extra } => write!(f, "{what}: {extra} trailing bytes"),
            Self::BadLength { what, len } => write!(f, "{what}: bad length {len}"),
            Self::Invalid { what, reason } => write!(f, "{what}: {reason}"),
            Self::BadChecksum { what } => write!(f, "{what}: bad checksum"),
        }
    }
}

impl std::error::Error for DecodeError {}
