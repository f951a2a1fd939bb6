//! The one error type of this crate: every way a packet can be refused.

use core::fmt;

use crate::Spi;

/// Why a packet was refused, or why one could not be sealed.
///
/// Every variant is something a caller can count ([`Error::kind`] is a stable metrics
/// label). None of them is worth a reply to the peer: ESP never answers bad packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The packet is shorter than the smallest valid ESP packet of the SA's suite (or
    /// than an ESP header, for the classifier).
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed at least.
        min: usize,
    },
    /// No inbound SA has this SPI.
    UnknownSpi(Spi),
    /// The sequence number was seen before, or lies left of the anti-replay window.
    Replayed {
        /// The sequence number in the packet.
        seq: u64,
    },
    /// The integrity check value (or the AEAD tag) did not verify.
    BadIcv,
    /// Authentic, but the padding is not the RFC 4303 §2.4 sequence 1, 2, 3, … or the
    /// pad length exceeds the payload.
    BadPadding,
    /// The ciphertext is not a whole number of cipher blocks (4-byte units for GCM).
    BadLength {
        /// Length of the encrypted part.
        len: usize,
        /// The block it must be a multiple of.
        block: usize,
    },
    /// Authentic, but a tunnel-mode SA received a next header other than IPv4 (4),
    /// IPv6 (41) or the dummy-packet value 59.
    BadNextHeader(u8),
    /// The 32-bit sequence number space is used up: the SA must be rekeyed before it
    /// can send again (RFC 4303 §3.3.3).
    SeqExhausted,
    /// The SA reached its hard traffic limit (negotiated kilobytes or packets, or the
    /// 3DES limit [`crate::TRIPLE_DES_MAX_BYTES`]): it neither seals nor opens any more
    /// and must be replaced by a rekeyed SA.
    LifetimeExpired,
    /// The caller's buffer lacks the headroom or tailroom the suite needs
    /// ([`crate::Suite::header_len`], [`crate::Suite::max_trailer_len`]).
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The payload to seal is too large for one ESP packet of this buffer.
    PayloadTooLarge(usize),
}

impl Error {
    /// A short, stable name of the error, suitable as a metrics label.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::UnknownSpi(_) => "unknown_spi",
            Self::Replayed { .. } => "replayed",
            Self::BadIcv => "bad_icv",
            Self::BadPadding => "bad_padding",
            Self::BadLength { .. } => "bad_length",
            Self::BadNextHeader(_) => "bad_next_header",
            Self::SeqExhausted => "seq_exhausted",
            Self::LifetimeExpired => "lifetime_expired",
            Self::BufferTooSmall { .. } => "buffer_too_small",
            Self::PayloadTooLarge(_) => "payload_too_large",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { len, min } => {
                write!(
                    f,
                    "ESP packet truncated: {len} bytes, at least {min} needed"
                )
            }
            Self::UnknownSpi(spi) => write!(f, "no inbound ESP SA with SPI {spi}"),
            Self::Replayed { seq } => write!(f, "ESP sequence number {seq} replayed or too old"),
            Self::BadIcv => f.write_str("ESP integrity check failed"),
            Self::BadPadding => f.write_str("ESP padding malformed"),
            Self::BadLength { len, block } => {
                write!(
                    f,
                    "ESP ciphertext of {len} bytes is not a multiple of {block}"
                )
            }
            Self::BadNextHeader(nh) => {
                write!(f, "ESP next header {nh} not allowed in tunnel mode")
            }
            Self::SeqExhausted => f.write_str("ESP sequence numbers exhausted: rekey the SA"),
            Self::LifetimeExpired => f.write_str("ESP SA reached its hard lifetime: rekey the SA"),
            Self::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small for ESP: needed {needed} bytes, {available} available"
            ),
            Self::PayloadTooLarge(len) => write!(f, "payload of {len} bytes too large for ESP"),
        }
    }
}

impl std::error::Error for Error {}
