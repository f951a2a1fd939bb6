//! UDP encapsulation of ESP (RFC 3948): what arrives on UDP port 4500.
//!
//! Port 4500 carries three things: IKE messages behind a 4-byte non-ESP marker of zeros,
//! one-byte NAT keepalives (0xFF), and ESP packets, whose SPI is never zero (so the
//! marker cannot be mistaken for one).

use crate::{Error, Spi};

/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The single byte of a NAT-keepalive packet (RFC 3948 §2.3).
pub const KEEPALIVE: u8 = 0xff;

/// What a UDP 4500 datagram holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// An IKE message: the datagram after the non-ESP marker.
    Ike(&'a [u8]),
    /// A NAT keepalive: nothing to do (it only refreshed the NAT mapping).
    Keepalive,
    /// An ESP packet (the whole datagram), starting with its non-zero SPI.
    Esp {
        /// The SPI, for the SA lookup.
        spi: Spi,
        /// The packet, from the SPI on.
        packet: &'a [u8],
    },
}

/// Classifies a UDP 4500 datagram (its UDP payload). Datagrams too short to be any of
/// the three are [`Error::Truncated`].
pub fn classify_4500(datagram: &[u8]) -> Result<Udp4500<'_>, Error> {
    match datagram {
        [KEEPALIVE] => Ok(Udp4500::Keepalive),
        [0, 0, 0, 0, rest @ ..] => Ok(Udp4500::Ike(rest)),
        _ => Ok(Udp4500::Esp {
            spi: spi(datagram)?,
            packet: datagram,
        }),
    }
}

/// The SPI of an ESP packet (plain, or a UDP 4500 payload already classified as ESP),
/// read without touching anything else, for the SA lookup. The packet must hold at
/// least the 8-byte ESP header.
pub fn spi(packet: &[u8]) -> Result<Spi, Error> {
    match packet {
        [a, b, c, d, _, _, _, _, ..] => Ok(Spi(u32::from_be_bytes([*a, *b, *c, *d]))),
        _ => Err(Error::Truncated {
            len: packet.len(),
            min: crate::suite::ESP_HEADER_LEN,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3948_classification() {
        assert_eq!(classify_4500(&[0xff]), Ok(Udp4500::Keepalive));
        let ike = [0, 0, 0, 0, 0x11, 0x22, 0x33];
        assert_eq!(classify_4500(&ike), Ok(Udp4500::Ike(&ike[4..])));
        let esp = [0xc8, 0x4d, 0x7e, 0xc6, 0, 0, 0, 1, 0xaa];
        assert_eq!(
            classify_4500(&esp),
            Ok(Udp4500::Esp {
                spi: Spi(0xc84d_7ec6),
                packet: &esp[..]
            })
        );
        // An SPI with zero bytes, but not all four, is still ESP.
        let esp0 = [0, 0, 0, 1, 0, 0, 0, 1];
        assert!(matches!(
            classify_4500(&esp0),
            Ok(Udp4500::Esp { spi: Spi(1), .. })
        ));
    }

    #[test]
    fn short_datagrams_are_truncated() {
        for d in [
            &[][..],
            &[0][..],
            &[0xff, 0xff][..],
            &[0, 0, 0][..],
            &[1, 2, 3, 4, 5][..],
        ] {
            assert!(
                matches!(classify_4500(d), Err(Error::Truncated { .. })),
                "{d:?}"
            );
        }
        assert_eq!(spi(&[1, 2, 3, 4, 0, 0, 0, 9]), Ok(Spi(0x0102_0304)));
        assert!(spi(&[1, 2, 3, 4]).is_err());
    }
}
