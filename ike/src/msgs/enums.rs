//! ISAKMP (RFC 2408), IKE (RFC 2409), IPsec DOI (RFC 2407) and NAT-T (RFC 3947) code points.
//!
//! Every registry is an open enum: an unknown value read from the wire converts back to
//! the same value, so decode → encode is the identity.

wire::open_enum! {
    /// ISAKMP payload types (RFC 2408 §3.1, RFC 3947 §3.2/§5.2 and the draft values).
    pub enum PayloadType: u8 {
        /// End of the payload chain.
        None = 0,
        /// Security Association.
        Sa = 1,
        /// Proposal (only inside an SA payload).
        Proposal = 2,
        /// Transform (only inside a Proposal).
        Transform = 3,
        /// Key Exchange.
        Ke = 4,
        /// Identification.
        Id = 5,
        /// Certificate.
        Cert = 6,
        /// Certificate Request.
        CertReq = 7,
        /// Hash.
        Hash = 8,
        /// Signature.
        Sig = 9,
        /// Nonce.
        Nonce = 10,
        /// Notification.
        Notify = 11,
        /// Delete.
        Delete = 12,
        /// Vendor ID.
        VendorId = 13,
        /// NAT Discovery (RFC 3947).
        NatD = 20,
        /// NAT Original Address (RFC 3947).
        NatOa = 21,
        /// NAT Discovery, draft-ietf-ipsec-nat-t-ike-02/03 value.
        NatDDraft = 130,
        /// NAT Original Address, draft value.
        NatOaDraft = 131,
        /// IKE fragment (the Microsoft/Cisco proprietary format; see [`crate::fragment`]).
        Fragment = 132,
    }
}

wire::open_enum! {
    /// ISAKMP exchange types.
    pub enum ExchangeType: u8 {
        /// Base exchange (unused).
        Base = 1,
        /// Main Mode.
        IdentityProtection = 2,
        /// Authentication Only (unused).
        AuthenticationOnly = 3,
        /// Aggressive Mode.
        Aggressive = 4,
        /// Informational.
        Informational = 5,
        /// Quick Mode (RFC 2409 §5.5).
        QuickMode = 32,
        /// New Group Mode (unsupported).
        NewGroupMode = 33,
    }
}

wire::open_enum! {
    /// Notify message types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
    pub enum NotifyType: u16 {
        /// INVALID-PAYLOAD-TYPE.
        InvalidPayloadType = 1,
        /// DOI-NOT-SUPPORTED.
        DoiNotSupported = 2,
        /// SITUATION-NOT-SUPPORTED.
        SituationNotSupported = 3,
        /// INVALID-COOKIE.
        InvalidCookie = 4,
        /// INVALID-MAJOR-VERSION.
        InvalidMajorVersion = 5,
        /// INVALID-EXCHANGE-TYPE.
        InvalidExchangeType = 7,
        /// INVALID-FLAGS.
        InvalidFlags = 8,
        /// INVALID-MESSAGE-ID.
        InvalidMessageId = 9,
        /// INVALID-PROTOCOL-ID.
        InvalidProtocolId = 10,
        /// INVALID-SPI.
        InvalidSpi = 11,
        /// INVALID-TRANSFORM-ID.
        InvalidTransformId = 12,
        /// ATTRIBUTES-NOT-SUPPORTED.
        AttributesNotSupported = 13,
        /// NO-PROPOSAL-CHOSEN.
        NoProposalChosen = 14,
        /// BAD-PROPOSAL-SYNTAX.
        BadProposalSyntax = 15,
        /// PAYLOAD-MALFORMED.
        PayloadMalformed = 16,
        /// INVALID-KEY-INFORMATION.
        InvalidKeyInformation = 17,
        /// INVALID-ID-INFORMATION.
        InvalidIdInformation = 18,
        /// INVALID-HASH-INFORMATION.
        InvalidHashInformation = 23,
        /// AUTHENTICATION-FAILED.
        AuthenticationFailed = 24,
        /// INVALID-SIGNATURE.
        InvalidSignature = 25,
        /// CONNECTED (RFC 2408 §3.14.1): the answer to the commit bit.
        Connected = 16384,
        /// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
        ResponderLifetime = 24576,
        /// REPLAY-STATUS.
        ReplayStatus = 24577,
        /// INITIAL-CONTACT (RFC 2407 §4.6.3.3).
        InitialContact = 24578,
        /// R-U-THERE (RFC 3706).
        RUThere = 36136,
        /// R-U-THERE-ACK (RFC 3706).
        RUThereAck = 36137,
    }
}

impl NotifyType {
    /// True for error notifications (types below 8192, RFC 2408 §3.14.1).
    pub fn is_error(self) -> bool {
        self.value() < 8192
    }
}

wire::open_enum! {
    /// Protocol IDs (RFC 2407 §4.4.1).
    pub enum ProtocolId: u8 {
        /// Reserved / none (used in some notifications).
        Reserved = 0,
        /// PROTO_ISAKMP.
        Isakmp = 1,
        /// PROTO_IPSEC_AH.
        Ah = 2,
        /// PROTO_IPSEC_ESP.
        Esp = 3,
        /// PROTO_IPCOMP.
        IpComp = 4,
    }
}

wire::open_enum! {
    /// Identification types (RFC 2407 §4.6.2.1).
    pub enum IdType: u8 {
        /// ID_IPV4_ADDR.
        Ipv4Addr = 1,
        /// ID_FQDN.
        Fqdn = 2,
        /// ID_USER_FQDN.
        UserFqdn = 3,
        /// ID_IPV4_ADDR_SUBNET.
        Ipv4AddrSubnet = 4,
        /// ID_IPV6_ADDR.
        Ipv6Addr = 5,
        /// ID_IPV6_ADDR_SUBNET.
        Ipv6AddrSubnet = 6,
        /// ID_IPV4_ADDR_RANGE.
        Ipv4AddrRange = 7,
        /// ID_IPV6_ADDR_RANGE.
        Ipv6AddrRange = 8,
        /// ID_DER_ASN1_DN.
        DerAsn1Dn = 9,
        /// ID_DER_ASN1_GN.
        DerAsn1Gn = 10,
        /// ID_KEY_ID.
        KeyId = 11,
    }
}

wire::open_enum! {
    /// Phase-1 attribute types (RFC 2409 Appendix A).
    pub enum Phase1Attr: u16 {
        /// Encryption Algorithm.
        EncryptionAlgorithm = 1,
        /// Hash Algorithm.
        HashAlgorithm = 2,
        /// Authentication Method.
        AuthenticationMethod = 3,
        /// Group Description.
        GroupDescription = 4,
        /// Group Type.
        GroupType = 5,
        /// Life Type.
        LifeType = 11,
        /// Life Duration.
        LifeDuration = 12,
        /// PRF (no PRF is defined; must be absent).
        Prf = 13,
        /// Key Length (bits).
        KeyLength = 14,
        /// Field Size.
        FieldSize = 15,
        /// Group Order.
        GroupOrder = 16,
    }
}

wire::open_enum! {
    /// Phase-1 encryption algorithms (RFC 2409 Appendix A, RFC 3602).
    pub enum IkeEncryption: u16 {
        /// DES-CBC (never accepted).
        DesCbc = 1,
        /// IDEA-CBC.
        IdeaCbc = 2,
        /// Blowfish-CBC.
        BlowfishCbc = 3,
        /// RC5-R16-B64-CBC.
        Rc5Cbc = 4,
        /// 3DES-CBC.
        TripleDesCbc = 5,
        /// CAST-CBC.
        CastCbc = 6,
        /// AES-CBC (RFC 3602), with a Key Length attribute.
        AesCbc = 7,
    }
}

wire::open_enum! {
    /// Phase-1 hash algorithms (RFC 2409 Appendix A, RFC 4868).
    pub enum IkeHash: u16 {
        /// MD5.
        Md5 = 1,
        /// SHA-1.
        Sha1 = 2,
        /// Tiger.
        Tiger = 3,
        /// SHA2-256.
        Sha2_256 = 4,
        /// SHA2-384.
        Sha2_384 = 5,
        /// SHA2-512.
        Sha2_512 = 6,
    }
}

wire::open_enum! {
    /// Phase-1 authentication methods.
    pub enum AuthMethod: u16 {
        /// Pre-shared key.
        PreSharedKey = 1,
        /// DSS signatures.
        DssSignatures = 2,
        /// RSA signatures.
        RsaSignatures = 3,
        /// RSA encryption.
        RsaEncryption = 4,
        /// Revised RSA encryption.
        RevisedRsaEncryption = 5,
        /// ECDSA with SHA-256 on P-256 (RFC 4754).
        EcdsaSha256 = 9,
        /// ECDSA with SHA-384 on P-384 (RFC 4754).
        EcdsaSha384 = 10,
        /// ECDSA with SHA-512 on P-521 (RFC 4754).
        EcdsaSha512 = 11,
        /// XAUTH init PSK (we do not offer XAUTH).
        XauthInitPsk = 65001,
    }
}

wire::open_enum! {
    /// Diffie-Hellman groups (RFC 2409, RFC 3526, RFC 5903).
    pub enum DhGroupId: u16 {
        /// 768-bit MODP (never accepted).
        Modp768 = 1,
        /// 1024-bit MODP (legacy).
        Modp1024 = 2,
        /// 1536-bit MODP (legacy).
        Modp1536 = 5,
        /// 2048-bit MODP.
        Modp2048 = 14,
        /// 3072-bit MODP.
        Modp3072 = 15,
        /// 4096-bit MODP.
        Modp4096 = 16,
        /// 256-bit random ECP group.
        Ecp256 = 19,
        /// 384-bit random ECP group.
        Ecp384 = 20,
        /// 521-bit random ECP group.
        Ecp521 = 21,
    }
}

wire::open_enum! {
    /// Life types of phase 1 and phase 2 (the same values in both).
    pub enum LifeType: u16 {
        /// Seconds.
        Seconds = 1,
        /// Kilobytes.
        Kilobytes = 2,
    }
}

wire::open_enum! {
    /// IPsec DOI SA attribute types (RFC 2407 §4.5).
    pub enum IpsecAttr: u16 {
        /// SA Life Type.
        LifeType = 1,
        /// SA Life Duration.
        LifeDuration = 2,
        /// Group Description (PFS).
        GroupDescription = 3,
        /// Encapsulation Mode.
        EncapsulationMode = 4,
        /// Authentication Algorithm.
        AuthAlgorithm = 5,
        /// Key Length.
        KeyLength = 6,
        /// Key Rounds.
        KeyRounds = 7,
        /// Compress Dictionary Size.
        CompressDictSize = 8,
        /// Compress Private Algorithm.
        CompressPrivAlg = 9,
        /// Extended (64-bit) Sequence Number.
        ExtendedSeqNum = 11,
    }
}

wire::open_enum! {
    /// IPsec DOI ESP transform IDs (RFC 2407 §4.4.4, RFC 4106).
    pub enum EspTransformId: u8 {
        /// ESP_DES (never accepted).
        Des = 2,
        /// ESP_3DES.
        TripleDes = 3,
        /// ESP_NULL (never accepted).
        Null = 11,
        /// ESP_AES (CBC).
        Aes = 12,
        /// ESP_AES-GCM with an 8-octet ICV.
        AesGcm8 = 18,
        /// ESP_AES-GCM with a 12-octet ICV.
        AesGcm12 = 19,
        /// ESP_AES-GCM with a 16-octet ICV.
        AesGcm16 = 20,
    }
}

wire::open_enum! {
    /// IPsec DOI authentication algorithms (RFC 2407 §4.5, RFC 4868).
    pub enum EspAuthAlg: u16 {
        /// HMAC-MD5.
        HmacMd5 = 1,
        /// HMAC-SHA1.
        HmacSha1 = 2,
        /// DES-MAC.
        DesMac = 3,
        /// KPDK.
        Kpdk = 4,
        /// HMAC-SHA2-256.
        HmacSha2_256 = 5,
        /// HMAC-SHA2-384.
        HmacSha2_384 = 6,
        /// HMAC-SHA2-512.
        HmacSha2_512 = 7,
    }
}

wire::open_enum! {
    /// IPsec DOI encapsulation modes (RFC 2407, RFC 3947 §5.3 and the draft values).
    pub enum EncapsulationMode: u16 {
        /// Tunnel.
        Tunnel = 1,
        /// Transport.
        Transport = 2,
        /// UDP-Encapsulated-Tunnel (RFC 3947).
        UdpTunnel = 3,
        /// UDP-Encapsulated-Transport (RFC 3947).
        UdpTransport = 4,
        /// UDP-Encapsulated-Tunnel (draft-ietf-ipsec-nat-t-ike-0x).
        UdpTunnelDraft = 61443,
        /// UDP-Encapsulated-Transport (draft-ietf-ipsec-nat-t-ike-0x).
        UdpTransportDraft = 61444,
    }
}

wire::open_enum! {
    /// Certificate encodings (RFC 2408 §3.9).
    pub enum CertEncoding: u8 {
        /// PKCS #7 wrapped X.509.
        Pkcs7 = 1,
        /// X.509 certificate, signature.
        X509Signature = 4,
        /// X.509 certificate, key exchange.
        X509KeyExchange = 5,
        /// Certificate revocation list.
        Crl = 7,
    }
}

/// Domain of Interpretation of IPsec (RFC 2407).
pub const DOI_IPSEC: u32 = 1;
/// Situation SIT_IDENTITY_ONLY.
pub const SIT_IDENTITY_ONLY: u32 = 1;
/// Transform ID KEY_IKE of phase-1 transforms.
pub const KEY_IKE: u8 = 1;
