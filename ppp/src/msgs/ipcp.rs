//! IPCP (RFC 1332, RFC 1877) and IPv6CP (RFC 5072) configuration option types.

wire::open_enum! {
    /// IPCP configuration option types.
    pub enum IpcpOption: u8 {
        /// IP-Addresses (RFC 1172, deprecated); rejected.
        IpAddresses = 1,
        /// IP-Compression-Protocol (Van Jacobson); rejected.
        IpCompression = 2,
        /// IP-Address (4 bytes).
        IpAddress = 3,
        /// Primary DNS server address (RFC 1877).
        PrimaryDns = 129,
        /// Primary NBNS (WINS) server address (RFC 1877).
        PrimaryNbns = 130,
        /// Secondary DNS server address (RFC 1877).
        SecondaryDns = 131,
        /// Secondary NBNS (WINS) server address (RFC 1877).
        SecondaryNbns = 132,
    }
}

wire::open_enum! {
    /// IPv6CP configuration option types.
    pub enum Ipv6cpOption: u8 {
        /// Interface-Identifier (8 bytes).
        InterfaceIdentifier = 1,
        /// IPv6-Compression-Protocol; rejected.
        Ipv6Compression = 2,
    }
}
