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
    /// Client: also ask for NBNS (WINS) servers (RFC 1877 options 130 and 132), dropped
    /// when the server rejects them (default false; Windows asks).
    pub request_nbns: bool,
    /// Client: ask for Protocol-Field and Address-and-Control-Field Compression in LCP
    /// (default false; Windows and pppd ask).
    pub request_pfc_acfc: bool,
    /// Client: ask for the LCP Callback option (RFC 1570 §2.3) with this operation, 6
    /// being CBCP as Windows asks; dropped when the server rejects or Naks it
    /// (default `None`).
    pub request_callback: Option<u8>,
    /// Client: the messages of the LCP Identification packets (RFC 1570 §2.1) sent once
    /// LCP first opens, each after our magic number (default none; Windows sends
    /// "MSRASV5.20" and "MSRAS-0-<computer name>").
    pub identification: Vec<Vec<u8>>,
    /// Client: send a CCP Configure-Request with this value of the MPPE option (type 18,
    /// RFC 3078 §2.1) in the Network phase, and close CCP (Terminate-Request) when the
    /// server Naks or rejects it; the server's own CCP options are all rejected, since
    /// no compression or MPPE is implemented (default `None`: CCP from the server is
    /// Protocol-Rejected).
    pub ccp_mppe: Option<u32>,
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
            request_nbns: false,
            request_pfc_acfc: false,
            request_callback: None,
            identification: Vec::new(),
            ccp_mppe: None,
            fsm: FsmConfig::default(),
        }
    }
}

impl Config {
    /// A client that behaves as the built-in client of Windows 7 to 11 over L2TP/IPsec,
    /// `computer_name` being the machine's name. Sources, both real logs:
    /// * Windows 7 against pppd 2.4.5 (an Ubuntu Forums thread on xl2tpd 1.2.6 +
    ///   Openswan, client "ENIGMA-PC"): `<mru 1400> <magic> <pcomp> <accomp> <callback
    ///   CBCP>`, the request repeated without the callback once it is rejected; three
    ///   Identification packets once LCP is open (`"MSRASV5.20"`, `"MSRAS-0-ENIGMA-PC"`
    ///   and 16 binary bytes); `[CCP ConfReq <mppe +H -M -S -L -D -C>]` and a CCP
    ///   Terminate-Request after pppd rejected it; `[IPCP ConfReq <addr 0.0.0.0>
    ///   <ms-dns1 0.0.0.0> <ms-wins 0.0.0.0> <ms-dns2 0.0.0.0> <ms-wins 0.0.0.0>]`.
    /// * Windows against mpd5 (pfsense/docs `source/vpn/ipsec/l2tp-ipsec.rst`, "Example
    ///   Logs"): the same LCP options and order (`CALLBACK 6` rejected), Identification
    ///   `MSRASV5.20`, `MSRAS-0-<name>` and a binary one, IPCP with address, PRIDNS,
    ///   PRINBNS, SECDNS, SECNBNS, then only what was not rejected; that client sent no
    ///   CCP request and Protocol-Rejected the server's CCP.
    ///
    /// MS-CHAPv2 only (Windows' default for L2TP/IPsec with a password). IPv6CP is
    /// requested (Interface-Identifier, before CCP and IPCP, as both logs show; pppd
    /// Protocol-Rejected it, mpd "rejecting" it too). Not imitated: the third, binary
    /// Identification packet (its meaning is not documented), Windows' single
    /// identifier counter shared by all protocols, and CBCP beyond answering "no
    /// callback".
    pub fn windows_client(computer_name: &str) -> Self {
        let mut ident = b"MSRAS-0-".to_vec();
        ident.extend_from_slice(computer_name.as_bytes());
        Self {
            mru: 1400,
            auth_methods: vec![AuthMethod::MsChapV2],
            request_dns: true,
            request_nbns: true,
            request_pfc_acfc: true,
            request_callback: Some(CALLBACK_CBCP),
            identification: vec![b"MSRASV5.20".to_vec(), ident],
            ccp_mppe: Some(crate::ccp::MPPE_STATELESS),
            ipv6: true,
            ..Self::default()
        }
    }
}

/// The Callback option's operation 6: the Callback Control Protocol (Microsoft's CBCP),
/// what Windows asks for (pppd logs it as `<callback CBCP>`).
pub const CALLBACK_CBCP: u8 = 6;

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
