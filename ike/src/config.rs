//! Configuration of the engine: allow-lists, NAT-T behaviour, limits, timers, and the
//! pre-shared key resolver.

use core::fmt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::crypto::{CipherAlg, CryptoProvider, DhGroup, HashAlg, RUSTCRYPTO, Secret};
use crate::phase1::cert::Certificates;
use crate::proposal::Phase1Auth;

/// Which phase-1 authentication methods a peer may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Pre-shared keys.
    pub psk: bool,
    /// Certificates (RSA and ECDSA signatures).
    pub certificates: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            psk: true,
            certificates: true,
        }
    }
}

/// The wall-clock time at one instant of the caller's monotonic clock: the engine
/// reads no clock, so certificate validity is judged at `unix_secs + (now - at)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// An instant of the clock the engine is driven with.
    pub at: Instant,
    /// Seconds since the Unix epoch at `at`.
    pub unix_secs: i64,
}

impl WallClock {
    /// From a system time read at `at` (the gateway reads both at start).
    pub fn new(at: Instant, system: SystemTime) -> Self {
        let unix_secs = match system.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Self { at, unix_secs }
    }

    /// The Unix time at `now`.
    pub fn unix_at(&self, now: Instant) -> i64 {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        if now >= self.at {
            self.unix_secs.saturating_add(secs(now - self.at))
        } else {
            self.unix_secs.saturating_sub(secs(self.at - now))
        }
    }
}

/// A pre-shared key (zeroized on drop, redacted in Debug).
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Secret);

impl Psk {
    /// A key from its bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Secret::new(bytes.into()))
    }

    /// The key bytes (used only as the PRF key of SKEYID).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk([redacted])")
    }
}

/// Finds the pre-shared key for a peer by its source address. In Main Mode the peer's ID
/// arrives encrypted under keys derived from the PSK (and Windows sends its private
/// address as ID), so the address is all there is.
pub trait PskStore: Send {
    /// The key for `remote`, if any.
    fn psk(&self, remote: IpAddr) -> Option<Psk>;

    /// The key for a peer whose identity is known before keys are derived (Aggressive
    /// Mode sends it in clear: Android's "IPsec identifier"). By default, by address.
    fn psk_for_id(&self, remote: IpAddr, id: &crate::msgs::IdPayload) -> Option<Psk> {
        let _ = id;
        self.psk(remote)
    }
}

/// A fixed table of keys by address with a wildcard fallback.
#[derive(Debug, Default, Clone)]
pub struct StaticPskStore {
    /// Keys by peer address.
    pub by_addr: HashMap<IpAddr, Psk>,
    /// The key for every other address.
    pub wildcard: Option<Psk>,
}

impl StaticPskStore {
    /// A store with only a wildcard key.
    pub fn wildcard(psk: Psk) -> Self {
        Self {
            by_addr: HashMap::new(),
            wildcard: Some(psk),
        }
    }
}

impl PskStore for StaticPskStore {
    fn psk(&self, remote: IpAddr) -> Option<Psk> {
        self.by_addr
            .get(&remote)
            .or(self.wildcard.as_ref())
            .cloned()
    }
}

/// Bounds on what peers can make the responder hold and compute, all checked before any
/// Diffie-Hellman computation. How they work together is described in the endpoint's
/// `admission` module: first messages are always answered (they cost no DH) and what
/// they leave is kept in a cycling table; the half-open and per-source limits count
/// exchanges whose peer has proven its address (its third message came back from where
/// our cookie went); expensive work has a budget per second.
#[derive(Clone, Debug)]
pub struct Limits {
    /// ISAKMP SAs not yet authenticated, over all peers.
    pub half_open: usize,
    /// Half-open ISAKMP SAs from one source address.
    pub half_open_per_source: usize,
    /// ISAKMP SAs (any state) from one source address (many clients behind one NAT
    /// share it, so this is generous).
    pub sas_per_source: usize,
    /// New exchanges accepted from one source address per second.
    pub new_per_source_per_second: u32,
    /// Time a half-open SA or an unfinished Quick Mode is kept.
    pub half_open_timeout: Duration,
    /// First Main Mode messages answered but not yet proven (no third message from
    /// the same address with our cookie): their SA payload, chosen proposal and answer
    /// are kept in a table of this many entries, and the oldest is dropped for a new
    /// one, so a spoofed flood cycles the table instead of blocking new clients. They
    /// do not count against `half_open` until proven.
    pub first_messages: usize,
    /// Bytes the table of unproven first messages may hold (their messages and our
    /// answers); past it the oldest are dropped too.
    pub first_messages_bytes: usize,
    /// Expensive operations per second, whatever the source addresses, in units of about
    /// 0.1 ms of CPU: an ECP-256 Diffie-Hellman operation (a private value or a shared
    /// secret) is 1, ECP-384 3, MODP-2048 6, MODP-4096 25
    /// ([`crate::crypto::DhGroup::cost`]), an RSA-2048 signature 15 and its check 1, an
    /// ECDSA P-256 signature 1 and its check 2. Unauthenticated work past its share is
    /// dropped unanswered (the peer retransmits) and counted in
    /// [`crate::Stats::budget_exhausted`].
    pub expensive_ops_per_second: u32,
    /// The part of `expensive_ops_per_second` that only established peers may use:
    /// Quick Mode with PFS, and a new Main Mode from an address with an established
    /// ISAKMP SA (re-authentication); unauthenticated peers get the rest.
    pub expensive_ops_reserved: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            half_open: 1024,
            half_open_per_source: 32,
            sas_per_source: 256,
            new_per_source_per_second: 20,
            half_open_timeout: Duration::from_secs(30),
            first_messages: 8192,
            first_messages_bytes: 16 * 1024 * 1024,
            // A quarter to a half of one core on a current x86 core (0.1 ms a unit);
            // the engine runs on one thread.
            expensive_ops_per_second: 4000,
            expensive_ops_reserved: 1000,
        }
    }
}

/// Initiator retransmission: the first timeout doubles each time up to `tries` sends.
#[derive(Clone, Debug)]
pub struct Retransmit {
    /// The first timeout.
    pub initial: Duration,
    /// Total sends of one message before giving up.
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            tries: 6,
        }
    }
}

/// Engine configuration. [`Config::default`] is the secure default: AES-CBC with SHA-1
/// or SHA-2 and groups 14, 15, 16, 19, 20; `legacy` adds 3DES, MD5 and groups 2 and 5.
#[derive(Clone, Debug)]
pub struct Config {
    /// The cryptography.
    pub provider: &'static dyn CryptoProvider,
    /// Allow 3DES, MD5 and MODP 1024/1536 (old Windows fallbacks, Android ≤ 11).
    pub legacy: bool,
    /// Phase-1 ciphers allowed (3DES only with `legacy`).
    pub ike_ciphers: Vec<CipherAlg>,
    /// Phase-1 hashes allowed (MD5 only with `legacy`).
    pub ike_hashes: Vec<HashAlg>,
    /// DH groups allowed in phase 1 and for PFS (2 and 5 only with `legacy`).
    pub groups: Vec<DhGroup>,
    /// ESP encryption allowed (3DES only with `legacy`).
    pub esp_encryptions: Vec<esp::Encryption>,
    /// ESP integrity allowed (HMAC-MD5 only with `legacy`).
    pub esp_integrities: Vec<esp::Integrity>,
    /// Make our NAT-D for the peer never match, so every peer floats to UDP 4500 and
    /// uses UDP-encapsulated ESP (no raw ESP socket needed).
    pub force_encapsulation: bool,
    /// For Windows peers, repeat their NAT-D for our address so Windows never sees the
    /// server as NATed (no AssumeUDPEncapsulationContextOnSendRule registry edit).
    pub windows_nat_compat: bool,
    /// The NAT-T port (RFC 3947/3948, normally 4500): a path with this port at either
    /// end carries the non-ESP marker, and an initiator that detects a NAT floats both
    /// ends of its path to it. Default 4500.
    pub nat_t_port: u16,
    /// Accept Aggressive Mode (off: it exposes the PSK hash to offline attack).
    pub aggressive_mode: bool,
    /// Announce DPD (RFC 3706) and answer R-U-THERE.
    pub dpd: bool,
    /// Send R-U-THERE at this interval to peers that announced DPD; after
    /// [`Config::dpd_max_unanswered`] unanswered ones the peer is gone. `None`: never
    /// (Windows announces no DPD anyway: the gateway watches L2TP HELLO and LCP echo).
    pub dpd_interval: Option<Duration>,
    /// Unanswered R-U-THEREs before a peer is declared gone.
    pub dpd_max_unanswered: u32,
    /// As initiator behind a NAT (UDP-encapsulated), send a NAT keepalive (RFC 3948
    /// §2.3: one 0xFF byte, no non-ESP marker) this often. `None`: never.
    pub nat_keepalive: Option<Duration>,
    /// Longest ISAKMP SA lifetime we accept (longer proposals are shortened).
    pub ike_lifetime_max: Duration,
    /// Longest ESP SA lifetime we accept (longer proposals get RESPONDER-LIFETIME).
    pub child_lifetime_max: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// Initiator retransmission.
    pub retransmit: Retransmit,
    /// As responder, rekey an ESP SA with a Quick Mode of our own when the client has
    /// not rekeyed it by 95 % of its lifetime (clients rekey earlier, so only one that
    /// never does is affected). It was off and unused before, with the note "NATed
    /// Windows rejects them"; nothing in the repository shows such a refusal, and for a
    /// client that does not rekey the alternative is the SA's hard expiry anyway.
    pub responder_rekey: bool,
    /// Authentication methods peers may use, unless `auth_by_addr` names the peer.
    pub auth: AuthPolicy,
    /// Per-peer authentication methods, by source address.
    pub auth_by_addr: HashMap<IpAddr, AuthPolicy>,
    /// Trusted CAs, CRLs and our certificates; `None`: no certificate authentication.
    pub certificates: Option<Arc<Certificates>>,
    /// The wall clock, for certificate validity (without it certificates are refused).
    pub wall_clock: Option<WallClock>,
    /// IKE fragmentation (Microsoft/Cisco format): on by default, with its limits.
    pub fragmentation: crate::fragment::FragmentConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            provider: &RUSTCRYPTO,
            legacy: false,
            ike_ciphers: vec![
                CipherAlg::Aes256,
                CipherAlg::Aes192,
                CipherAlg::Aes128,
                CipherAlg::TripleDes,
            ],
            ike_hashes: vec![
                HashAlg::Sha1,
                HashAlg::Sha256,
                HashAlg::Sha384,
                HashAlg::Sha512,
                HashAlg::Md5,
            ],
            groups: vec![
                DhGroup::Ecp384,
                DhGroup::Ecp256,
                DhGroup::Modp2048,
                DhGroup::Modp3072,
                DhGroup::Modp4096,
                DhGroup::Modp1536,
                DhGroup::Modp1024,
            ],
            esp_encryptions: vec![
                esp::Encryption::AesGcm16_256,
                esp::Encryption::AesGcm16_128,
                esp::Encryption::AesCbc256,
                esp::Encryption::AesCbc192,
                esp::Encryption::AesCbc128,
                esp::Encryption::TripleDesCbc,
            ],
            esp_integrities: vec![
                esp::Integrity::HmacSha1_96,
                esp::Integrity::HmacSha256_128,
                esp::Integrity::HmacSha384_192,
                esp::Integrity::HmacSha512_256,
                esp::Integrity::HmacMd5_96,
            ],
            force_encapsulation: true,
            windows_nat_compat: true,
            aggressive_mode: false,
            nat_t_port: 4500,
            dpd: true,
            dpd_interval: None,
            dpd_max_unanswered: 5,
            nat_keepalive: Some(Duration::from_secs(20)),
            ike_lifetime_max: Duration::from_secs(24 * 3600),
            child_lifetime_max: Duration::from_secs(8 * 3600),
            limits: Limits::default(),
            retransmit: Retransmit::default(),
            responder_rekey: true,
            auth: AuthPolicy::default(),
            auth_by_addr: HashMap::new(),
            certificates: None,
            wall_clock: None,
            fragmentation: crate::fragment::FragmentConfig::default(),
        }
    }
}

impl Config {
    /// Why a phase-1 authentication method is refused for a peer at `remote`, if it is:
    /// the policy (per address or global), and for signatures trusted CAs and a
    /// certificate of ours with a key of the right kind.
    pub fn refuse_auth(&self, remote: IpAddr, auth: Phase1Auth) -> Option<&'static str> {
        let policy = self.auth_by_addr.get(&remote).unwrap_or(&self.auth);
        if auth == Phase1Auth::Psk {
            return (!policy.psk).then_some("pre-shared keys are not allowed for this peer");
        }
        if !policy.certificates {
            return Some("certificates are not allowed for this peer");
        }
        let Some(certs) = &self.certificates else {
            return Some("no certificates configured");
        };
        if certs.ca_count() == 0 {
            return Some("no CA configured");
        }
        let Some(kind) = auth.key_kind() else {
            return Some("ECDSA P-521 is not supported");
        };
        if certs.identity(kind).is_none() {
            return Some("no certificate of ours for this signature method");
        }
        None
    }

    /// Why a phase-1 cipher is refused, if it is.
    pub fn refuse_cipher(&self, c: CipherAlg) -> Option<&'static str> {
        if !self.ike_ciphers.contains(&c) {
            Some("cipher not in the allow-list")
        } else if c == CipherAlg::TripleDes && !self.legacy {
            Some("3DES needs `legacy`")
        } else {
            None
        }
    }

    /// Why a hash is refused, if it is.
    pub fn refuse_hash(&self, h: HashAlg) -> Option<&'static str> {
        if !self.ike_hashes.contains(&h) {
            Some("hash not in the allow-list")
        } else if h == HashAlg::Md5 && !self.legacy {
            Some("MD5 needs `legacy`")
        } else {
            None
        }
    }

    /// Why a DH group is refused, if it is.
    pub fn refuse_group(&self, g: DhGroup) -> Option<&'static str> {
        if !self.groups.contains(&g) {
            Some("group not in the allow-list")
        } else if g.is_legacy() && !self.legacy {
            Some("MODP 1024/1536 need `legacy`")
        } else {
            None
        }
    }

    /// Why an ESP encryption is refused, if it is.
    pub fn refuse_esp_encryption(&self, e: esp::Encryption) -> Option<&'static str> {
        if !self.esp_encryptions.contains(&e) {
            Some("ESP encryption not in the allow-list")
        } else if e == esp::Encryption::TripleDesCbc && !self.legacy {
            Some("ESP 3DES needs `legacy`")
        } else {
            None
        }
    }

    /// Why an ESP integrity is refused, if it is.
    pub fn refuse_esp_integrity(&self, i: esp::Integrity) -> Option<&'static str> {
        if i == esp::Integrity::None {
            return None;
        }
        if !self.esp_integrities.contains(&i) {
            Some("ESP integrity not in the allow-list")
        } else if i == esp::Integrity::HmacMd5_96 && !self.legacy {
            Some("HMAC-MD5 needs `legacy`")
        } else {
            None
        }
    }
}
