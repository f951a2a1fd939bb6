//! The LCP negotiator (RFC 1661 §6): MRU, Authentication-Protocol, Magic-Number, PFC
//! and ACFC; everything else the peer asks for (ACCM, Callback, MRRU, Endpoint
//! Discriminator, unknown options) is Configure-Rejected.
//!
//! A client imitating Windows also asks for PFC, ACFC and Callback (operation 6, CBCP),
//! in Windows' order: MRU, Magic-Number, PFC, ACFC, Callback. A real Windows 7 client
//! as pppd 2.4.5 logged it (an Ubuntu Forums thread on xl2tpd 1.2.6 + Openswan, client
//! "ENIGMA-PC"):
//!
//! ```text
//! rcvd [LCP ConfReq id=0x1 <mru 1400> <magic 0x41131244> <pcomp> <accomp> <callback CBCP>]
//! sent [LCP ConfRej id=0x1 <callback CBCP>]
//! rcvd [LCP ConfReq id=0x2 <mru 1400> <magic 0x41131244> <pcomp> <accomp>]
//! ```
//!
//! and the same order from Windows 10 against mpd5 (pfsense/docs,
//! `source/vpn/ipsec/l2tp-ipsec.rst`, "Example Logs": `MRU 1400, MAGICNUM, PROTOCOMP,
//! ACFCOMP, CALLBACK 6`, rejected, then requested again without the callback).

use wire::Writer;

use crate::config::MagicPool;
use crate::fsm::{Negotiator, Verdict};
use crate::msgs::cp::{OptionIter, write_option};
use crate::msgs::lcp::{AuthMethod, LcpOption};

/// The smallest MRU we let a peer announce; below it we Nak with this value.
pub const MIN_MRU: u16 = 128;
/// The MRU a peer has when it does not negotiate one (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;
/// Times the peer may present our own magic number before the link counts as looped.
pub const MAX_LOOPBACK: u8 = 5;

/// Which end of the link we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The authenticator, the gateway's end.
    Server,
    /// The peer that authenticates, `l2tpgw connect`.
    Client,
}

#[derive(Debug)]
pub(crate) struct Lcp {
    role: Role,
    magics: MagicPool,
    /// Methods: server preference order, or what the client accepts.
    methods: Vec<AuthMethod>,
    cfg_mru: u16,
    // What we ask for in our Configure-Request.
    want_mru: bool,
    mru: u16,
    want_magic: bool,
    pub(crate) magic: u32,
    /// Client wishes (configured, and what is still asked after rejections).
    cfg_pfc_acfc: bool,
    cfg_callback: Option<u8>,
    want_pfc: bool,
    want_acfc: bool,
    want_callback: Option<u8>,
    /// Server: the method we are proposing and how far down `methods` we are.
    auth: Option<AuthMethod>,
    auth_index: usize,
    /// Server: the peer refused every method we offer.
    pub(crate) auth_refused: bool,
    // What was agreed.
    /// Server: the method the peer acked (it authenticates to us with it).
    pub(crate) our_auth: Option<AuthMethod>,
    /// Client: the method the server asked for and we acked.
    pub(crate) peer_auth: Option<AuthMethod>,
    /// The peer's MRU (what we may send).
    pub(crate) peer_mru: u16,
    /// The peer accepts compressed protocol / address-control fields.
    pub(crate) peer_pfc: bool,
    pub(crate) peer_acfc: bool,
    /// Our magic number is in force (acked); 0 is sent otherwise.
    pub(crate) magic_acked: bool,
    /// Client: the server acked our Callback option, so it may run CBCP with us.
    pub(crate) callback_acked: bool,
    pub(crate) loopbacks: u8,
}

impl Lcp {
    pub(crate) fn new(
        role: Role,
        mru: u16,
        methods: Vec<AuthMethod>,
        mut magics: MagicPool,
        wishes: (bool, Option<u8>),
    ) -> Self {
        let magic = magics.take(0);
        let mut lcp = Self {
            role,
            magics,
            methods,
            cfg_mru: mru,
            want_mru: true,
            mru,
            want_magic: true,
            magic,
            cfg_pfc_acfc: wishes.0,
            cfg_callback: wishes.1,
            want_pfc: false,
            want_acfc: false,
            want_callback: None,
            auth: None,
            auth_index: 0,
            auth_refused: false,
            our_auth: None,
            peer_auth: None,
            peer_mru: DEFAULT_MRU,
            peer_pfc: false,
            peer_acfc: false,
            magic_acked: false,
            callback_acked: false,
            loopbacks: 0,
        };
        lcp.reset();
        lcp
    }

    /// The magic number to put in Echo packets: ours if negotiated, else zero.
    pub(crate) fn echo_magic(&self) -> u32 {
        if self.magic_acked { self.magic } else { 0 }
    }

    fn next_auth_after_refusal(&mut self, suggested: Option<AuthMethod>) {
        if let Some(m) = suggested.filter(|m| self.methods.contains(m) && Some(*m) != self.auth) {
            self.auth = Some(m);
            return;
        }
        self.auth_index += 1;
        match self.methods.get(self.auth_index) {
            Some(&m) => self.auth = Some(m),
            None => {
                self.auth = None;
                self.auth_refused = true;
            }
        }
    }
}

impl Negotiator for Lcp {
    fn reset(&mut self) {
        self.want_mru = true;
        self.mru = self.cfg_mru;
        self.want_magic = true;
        self.want_pfc = self.cfg_pfc_acfc;
        self.want_acfc = self.cfg_pfc_acfc;
        self.want_callback = self.cfg_callback;
        self.auth_index = 0;
        self.auth = match self.role {
            Role::Server => self.methods.first().copied(),
            Role::Client => None,
        };
        self.auth_refused = false;
        self.our_auth = None;
        self.peer_auth = None;
        self.peer_mru = DEFAULT_MRU;
        self.peer_pfc = false;
        self.peer_acfc = false;
        self.magic_acked = false;
        self.callback_acked = false;
    }

    fn write_request(&mut self, w: &mut Writer<'_>) {
        if self.want_mru {
            write_option(w, LcpOption::Mru.value(), &self.mru.to_be_bytes());
        }
        if let Some(m) = self.auth {
            write_option(w, LcpOption::AuthProtocol.value(), m.option_data());
        }
        if self.want_magic {
            write_option(w, LcpOption::MagicNumber.value(), &self.magic.to_be_bytes());
        }
        if self.want_pfc {
            write_option(w, LcpOption::Pfc.value(), &[]);
        }
        if self.want_acfc {
            write_option(w, LcpOption::Acfc.value(), &[]);
        }
        if let Some(op) = self.want_callback {
            write_option(w, LcpOption::Callback.value(), &[op]);
        }
    }

    fn check_request(
        &mut self,
        options: &[u8],
        reject_naks: bool,
        reply: &mut Writer<'_>,
    ) -> Verdict {
        let mut naks = Vec::new();
        let mut rejects = Vec::new();
        let mut mru = DEFAULT_MRU;
        let (mut pfc, mut acfc, mut auth) = (false, false, None);
        for opt in OptionIter::new(options).flatten() {
            let mut nak = |data: &[u8]| {
                if reject_naks {
                    opt.encode(&mut Writer::new(&mut rejects));
                } else {
                    write_option(&mut Writer::new(&mut naks), opt.kind, data);
                }
            };
            match (LcpOption::from(opt.kind), opt.data.len()) {
                (LcpOption::Mru, 2) => {
                    let v = opt.as_u16().unwrap_or(0);
                    if v < MIN_MRU {
                        nak(&MIN_MRU.to_be_bytes());
                    } else {
                        mru = v;
                    }
                }
                (LcpOption::AuthProtocol, _) if self.role == Role::Client => {
                    match AuthMethod::from_option_data(opt.data)
                        .filter(|m| self.methods.contains(m))
                    {
                        Some(m) => auth = Some(m),
                        None => match self.methods.first() {
                            Some(pref) => nak(pref.option_data()),
                            None => opt.encode(&mut Writer::new(&mut rejects)),
                        },
                    }
                }
                (LcpOption::MagicNumber, 4) => {
                    let v = opt.as_u32().unwrap_or(0);
                    if self.want_magic && v == self.magic {
                        // Our own number came back: the link may be looped (§6.4). Suggest
                        // another and pick a new one ourselves.
                        self.loopbacks = self.loopbacks.saturating_add(1);
                        let suggestion = self.magics.take(v);
                        self.magic = self.magics.take(suggestion);
                        nak(&suggestion.to_be_bytes());
                    }
                }
                (LcpOption::Pfc, 0) => pfc = true,
                (LcpOption::Acfc, 0) => acfc = true,
                _ => opt.encode(&mut Writer::new(&mut rejects)),
            }
        }
        if !rejects.is_empty() {
            reply.bytes(&rejects);
            Verdict::Reject
        } else if !naks.is_empty() {
            reply.bytes(&naks);
            Verdict::Nak
        } else {
            self.peer_mru = mru;
            self.peer_pfc = pfc;
            self.peer_acfc = acfc;
            self.peer_auth = auth;
            Verdict::Ack
        }
    }

    fn on_ack(&mut self, _options: &[u8]) {
        self.our_auth = self.auth;
        self.magic_acked = self.want_magic;
        self.callback_acked = self.want_callback.is_some();
    }

    fn on_nak(&mut self, options: &[u8]) {
        for opt in OptionIter::new(options).flatten() {
            match LcpOption::from(opt.kind) {
                LcpOption::Mru if self.want_mru => {
                    if let Some(v) = opt.as_u16().filter(|v| (MIN_MRU..=DEFAULT_MRU).contains(v)) {
                        self.mru = v;
                    }
                }
                LcpOption::AuthProtocol if self.auth.is_some() => {
                    self.next_auth_after_refusal(AuthMethod::from_option_data(opt.data));
                }
                LcpOption::MagicNumber if self.want_magic => {
                    self.magic = self.magics.take(self.magic);
                }
                // Another callback operation suggested: we do none, so stop asking.
                LcpOption::Callback => self.want_callback = None,
                _ => {}
            }
        }
    }

    fn on_reject(&mut self, options: &[u8]) {
        for opt in OptionIter::new(options).flatten() {
            match LcpOption::from(opt.kind) {
                LcpOption::Mru => self.want_mru = false,
                LcpOption::MagicNumber => self.want_magic = false,
                LcpOption::Pfc => self.want_pfc = false,
                LcpOption::Acfc => self.want_acfc = false,
                LcpOption::Callback => self.want_callback = None,
                LcpOption::AuthProtocol if self.auth.is_some() => {
                    self.auth = None;
                    self.auth_refused = true;
                }
                _ => {}
            }
        }
    }
}
