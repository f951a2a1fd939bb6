//! Session configuration (shared by all sessions of a gateway through an `Arc`) and the
//! per-session parameters the gateway allocates.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::fsm::FsmConfig;
use crate::msgs::lcp::AuthMethod;

/// How PPP sessions behave. `Default` is what the gateway serves with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our Maximum-Receive-Unit, requested in LCP (default 1400, as Windows and pppd
    /// use over L2TP/IPsec).
    pub mru: u16,
    /// Server: the methods to offer, most preferred first (default MS-CHAPv2 then
    /// CHAP-MD5; add PAP only deliberately). Client: the methods accepted.
    pub auth_methods: Vec<AuthMethod>,
    /// Server: authentication attempts per session (each failure after the first sends a
    /// fresh challenge). Default 1: the first failure is final (`E=691 R=0`).
    pub auth_max_attempts: u8,
    /// Time allowed for the Authenticate phase, including a slow backend (default 30 s).
    pub auth_timeout: Duration,
    /// The name we send in CHAP Challenge packets (default "l2tpgw").
    pub name: String,
    /// LCP Echo-Request interval once the link is open; `None` disables keepalives
    /// (default 20 s).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the link is declared dead (default 3).
    pub echo_failures: u8,
    /// Negotiate IPv6CP; when false IPv6CP is Protocol-Rejected (default false).
    pub ipv6: bool,
    /// Client: ask for DNS servers (RFC 1877) in IPCP (default true).
    pub request_dns: bool,
    /// Restart timer and counters of the automaton.
    pub fsm: FsmConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mru: 1400,
            auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5],
            auth_max_attempts: 1,
            auth_timeout: Duration::from_secs(30),
            name: "l2tpgw".to_owned(),
            echo_interval: Some(Duration::from_secs(20)),
            echo_failures: 3,
            ipv6: false,
            request_dns: true,
            fsm: FsmConfig::default(),
        }
    }
}

/// What the gateway assigned to one server session before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionParams {
    /// Our address on the link (stated in our IPCP request).
    pub local_ip: Ipv4Addr,
    /// The address the peer gets (Nak'd to it if it asks for another); it can still be
    /// changed with [`crate::Session::set_peer_ip`] until IPCP acknowledges it.
    pub peer_ip: Ipv4Addr,
    /// Primary and secondary DNS; an unset one is Configure-Rejected.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Primary and secondary NBNS (WINS); an unset one is Configure-Rejected.
    pub nbns: [Option<Ipv4Addr>; 2],
}

/// Randomness drawn once when the session is created, so the engine needs no random
/// source afterwards: challenges, magic numbers and interface identifiers. How much is
/// drawn is bounded by the configuration (one challenge per authentication attempt).
pub(crate) struct Entropy {
    pub(crate) challenges: ChallengePool,
    pub(crate) magics: MagicPool,
    pub(crate) ifids: IfidPool,
    /// The first CHAP identifier (random, as pppd does, so identifiers of successive
    /// sessions do not repeat).
    pub(crate) chap_id: u8,
}

/// Magic numbers held for loopback renegotiation.
const MAGICS: usize = 8;
/// Interface identifiers held for IPv6CP.
const IFIDS: usize = 4;

impl Entropy {
    pub(crate) fn draw(rng: &mut dyn wire::random::SecureRandom, challenges: usize) -> Self {
        let mut c = vec![[0u8; 16]; challenges];
        for ch in &mut c {
            rng.fill(ch);
        }
        c.reverse();
        // Pools hand out from the end: reverse so values are used in the order drawn.
        let mut magics: Vec<u32> = (0..MAGICS).map(|_| rng.next_u32().max(1)).collect();
        magics.reverse();
        let mut ifids: Vec<[u8; 8]> = (0..IFIDS)
            .map(|_| {
                let mut id = [0u8; 8];
                rng.fill(&mut id);
                if id == [0; 8] {
                    id[7] = 1;
                }
                id
            })
            .collect();
        ifids.reverse();
        let mut chap_id = [0u8; 1];
        rng.fill(&mut chap_id);
        Self {
            challenges: ChallengePool(c),
            magics: MagicPool(magics),
            ifids: IfidPool(ifids),
            chap_id: chap_id[0],
        }
    }
}

/// Challenges (server) or peer challenges (client), one per attempt.
#[derive(Default)]
pub(crate) struct ChallengePool(Vec<[u8; 16]>);

impl core::fmt::Debug for ChallengePool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ChallengePool({} left)", self.0.len())
    }
}

impl ChallengePool {
    /// A fresh 16-byte challenge, or `None` once the configured number is used up.
    pub(crate) fn take(&mut self) -> Option<[u8; 16]> {
        self.0.pop()
    }
}

/// Magic numbers (LCP).
#[derive(Debug, Default)]
pub(crate) struct MagicPool(Vec<u32>);

impl MagicPool {
    /// A nonzero magic number; after the pool, derived from `old` (a magic number
    /// needs to differ, not to be secret).
    pub(crate) fn take(&mut self, old: u32) -> u32 {
        self.0
            .pop()
            .unwrap_or_else(|| old.rotate_left(11) ^ 0x5bd1_e995)
            .max(1)
    }
}

/// Interface identifiers (IPv6CP).
#[derive(Debug, Default)]
pub(crate) struct IfidPool(Vec<[u8; 8]>);

impl IfidPool {
    /// A nonzero interface identifier different from `avoid`.
    pub(crate) fn take(&mut self, avoid: [u8; 8]) -> [u8; 8] {
        let mut id = self.0.pop().unwrap_or_else(|| {
            let mut x = avoid;
            x[7] ^= 0x5a;
            x[0] ^= 0x02;
            x
        });
        if id == avoid || id == [0; 8] {
            id = avoid.map(|b| !b);
        }
        id
    }
}
