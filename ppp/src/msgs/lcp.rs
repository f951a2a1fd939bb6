//! LCP configuration option types (RFC 1661 §6 and the IANA registry) and the
//! Authentication-Protocol values used here.

use super::frame::Protocol;

wire::open_enum! {
    /// LCP configuration option types.
    pub enum LcpOption: u8 {
        /// Maximum-Receive-Unit (u16).
        Mru = 1,
        /// Async-Control-Character-Map (u32); meaningless over L2TP, rejected.
        Accm = 2,
        /// Authentication-Protocol (u16 protocol, then method data).
        AuthProtocol = 3,
        /// Quality-Protocol; rejected.
        QualityProtocol = 4,
        /// Magic-Number (u32).
        MagicNumber = 5,
        /// Protocol-Field-Compression (no data).
        Pfc = 7,
        /// Address-and-Control-Field-Compression (no data).
        Acfc = 8,
        /// Callback (RFC 1570); Windows asks, we reject.
        Callback = 13,
        /// Multilink MRRU (RFC 1990); rejected.
        Mrru = 17,
        /// Multilink Endpoint Discriminator (RFC 1990); rejected.
        EndpointDiscriminator = 19,
    }
}

/// The CHAP algorithm byte for MD5 (RFC 1994).
pub const CHAP_MD5: u8 = 5;
/// The CHAP algorithm byte for MS-CHAPv2 (RFC 2759).
pub const CHAP_MSCHAPV2: u8 = 0x81;

/// An authentication method, as the Authentication-Protocol option names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// PAP (RFC 1334): the password in the clear.
    Pap,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
    /// Microsoft CHAP version 2 (RFC 2759).
    MsChapV2,
}

impl AuthMethod {
    /// The Authentication-Protocol option data for this method.
    pub fn option_data(self) -> &'static [u8] {
        match self {
            Self::Pap => &[0xc0, 0x23],
            Self::ChapMd5 => &[0xc2, 0x23, CHAP_MD5],
            Self::MsChapV2 => &[0xc2, 0x23, CHAP_MSCHAPV2],
        }
    }

    /// Reads an Authentication-Protocol option's data; `None` for anything else (EAP,
    /// MS-CHAPv1, SPAP, ...).
    pub fn from_option_data(data: &[u8]) -> Option<Self> {
        match data {
            [0xc0, 0x23] => Some(Self::Pap),
            [0xc2, 0x23, CHAP_MD5] => Some(Self::ChapMd5),
            [0xc2, 0x23, CHAP_MSCHAPV2] => Some(Self::MsChapV2),
            _ => None,
        }
    }

    /// The PPP protocol that carries this method.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::Pap => Protocol::Pap,
            Self::ChapMd5 | Self::MsChapV2 => Protocol::Chap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_option_round_trips_and_unknowns_are_none() {
        for m in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
            assert_eq!(AuthMethod::from_option_data(m.option_data()), Some(m));
        }
        // SoftEther asked pppd for EAP (c2 27): frame 23 of the capture.
        assert_eq!(AuthMethod::from_option_data(&[0xc2, 0x27]), None);
        // MS-CHAPv1.
        assert_eq!(AuthMethod::from_option_data(&[0xc2, 0x23, 0x80]), None);
        assert_eq!(
            AuthMethod::from_option_data(&hex::decode("c22381").unwrap()),
            Some(AuthMethod::MsChapV2)
        );
    }
}
