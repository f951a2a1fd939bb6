//! The IPCP negotiator (RFC 1332 with the RFC 1877 name-server options) and the IPv6CP
//! negotiator (RFC 5072).
//!
//! Server: we state our address, Nak the peer to the address the gateway assigned,
//! Nak DNS/NBNS requests to the configured servers (Reject when none is configured) and
//! reject IP compression. Client: we ask for address 0.0.0.0 (and DNS) and take what the
//! server Naks us to.

use std::net::Ipv4Addr;

use wire::Writer;

use crate::config::{IfidPool, SessionParams};
use crate::fsm::{Negotiator, Verdict};
use crate::lcp::Role;
use crate::msgs::cp::{OptionIter, write_option};
use crate::msgs::ipcp::{IpcpOption, Ipv6cpOption};

fn ip(data: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from)
}

/// The order a client writes the name-server options in: numeric, as Windows does
/// (address, 129, 130, 131, 132; indices into `SERVER_OPTIONS`).
const REQUEST_ORDER: [usize; 4] = [0, 2, 1, 3];

/// The four RFC 1877 options, in the order of their index in `servers`.
const SERVER_OPTIONS: [IpcpOption; 4] = [
    IpcpOption::PrimaryDns,
    IpcpOption::SecondaryDns,
    IpcpOption::PrimaryNbns,
    IpcpOption::SecondaryNbns,
];

#[derive(Debug)]
pub(crate) struct Ipcp {
    role: Role,
    request_dns: bool,
    request_nbns: bool,
    /// Server: from the gateway. Client: filled in by negotiation.
    pub(crate) local_ip: Ipv4Addr,
    pub(crate) peer_ip: Ipv4Addr,
    /// DNS1, DNS2, NBNS1, NBNS2: server: configured; client: learned.
    pub(crate) servers: [Option<Ipv4Addr>; 4],
    want_addr: bool,
    /// Client: which name-server options we still ask for, and the values we ask with.
    want_servers: [bool; 4],
    asked: [Ipv4Addr; 4],
    initial: (Ipv4Addr, [Option<Ipv4Addr>; 4]),
}

impl Ipcp {
    pub(crate) fn server(p: &SessionParams) -> Self {
        let servers = [p.dns[0], p.dns[1], p.nbns[0], p.nbns[1]];
        Self {
            role: Role::Server,
            request_dns: false,
            request_nbns: false,
            local_ip: p.local_ip,
            peer_ip: p.peer_ip,
            servers,
            want_addr: true,
            want_servers: [false; 4],
            asked: [Ipv4Addr::UNSPECIFIED; 4],
            initial: (p.local_ip, servers),
        }
    }

    pub(crate) fn client(request_dns: bool, request_nbns: bool) -> Self {
        Self {
            role: Role::Client,
            request_dns,
            request_nbns,
            local_ip: Ipv4Addr::UNSPECIFIED,
            peer_ip: Ipv4Addr::UNSPECIFIED,
            servers: [None; 4],
            want_addr: true,
            want_servers: [request_dns, request_dns, request_nbns, request_nbns],
            asked: [Ipv4Addr::UNSPECIFIED; 4],
            initial: (Ipv4Addr::UNSPECIFIED, [None; 4]),
        }
    }

    fn server_index(kind: IpcpOption) -> Option<usize> {
        SERVER_OPTIONS.iter().position(|&k| k == kind)
    }
}

impl Negotiator for Ipcp {
    fn reset(&mut self) {
        self.want_addr = true;
        if self.role == Role::Client {
            self.local_ip = self.initial.0;
            self.servers = self.initial.1;
            self.want_servers = [
                self.request_dns,
                self.request_dns,
                self.request_nbns,
                self.request_nbns,
            ];
            self.asked = [Ipv4Addr::UNSPECIFIED; 4];
        }
    }

    fn write_request(&mut self, w: &mut Writer<'_>) {
        if self.want_addr {
            write_option(w, IpcpOption::IpAddress.value(), &self.local_ip.octets());
        }
        for i in REQUEST_ORDER {
            if self.want_servers[i] {
                write_option(w, SERVER_OPTIONS[i].value(), &self.asked[i].octets());
            }
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
        let mut saw_addr = false;
        let mut peer_ip = None;
        for opt in OptionIter::new(options).flatten() {
            let mut nak = |data: &[u8]| {
                if reject_naks {
                    opt.encode(&mut Writer::new(&mut rejects));
                } else {
                    write_option(&mut Writer::new(&mut naks), opt.kind, data);
                }
            };
            let kind = IpcpOption::from(opt.kind);
            match (self.role, kind, ip(opt.data)) {
                (Role::Server, IpcpOption::IpAddress, Some(a)) => {
                    saw_addr = true;
                    if a != self.peer_ip {
                        nak(&self.peer_ip.octets());
                    }
                }
                (Role::Client, IpcpOption::IpAddress, Some(a)) if !a.is_unspecified() => {
                    saw_addr = true;
                    peer_ip = Some(a);
                }
                (Role::Server, _, Some(a)) if Self::server_index(kind).is_some() => {
                    match Self::server_index(kind).and_then(|i| self.servers[i]) {
                        Some(configured) if configured == a => {}
                        Some(configured) => nak(&configured.octets()),
                        None => opt.encode(&mut Writer::new(&mut rejects)),
                    }
                }
                _ => opt.encode(&mut Writer::new(&mut rejects)),
            }
        }
        if rejects.is_empty() && !saw_addr && self.role == Role::Server && !reject_naks {
            // RFC 1332 §3.3: a peer that asks for no address can be told one with a Nak.
            write_option(
                &mut Writer::new(&mut naks),
                IpcpOption::IpAddress.value(),
                &self.peer_ip.octets(),
            );
        }
        if !rejects.is_empty() {
            reply.bytes(&rejects);
            Verdict::Reject
        } else if !naks.is_empty() {
            reply.bytes(&naks);
            Verdict::Nak
        } else {
            if let Some(a) = peer_ip {
                self.peer_ip = a;
            }
            Verdict::Ack
        }
    }

    fn on_ack(&mut self, _options: &[u8]) {
        if self.role == Role::Client {
            for i in 0..4 {
                if self.want_servers[i] && !self.asked[i].is_unspecified() {
                    self.servers[i] = Some(self.asked[i]);
                }
            }
        }
    }

    fn on_nak(&mut self, options: &[u8]) {
        if self.role != Role::Client {
            // We state our own address; a Nak of it is ignored (the request repeats).
            return;
        }
        for opt in OptionIter::new(options).flatten() {
            let kind = IpcpOption::from(opt.kind);
            match (kind, ip(opt.data)) {
                (IpcpOption::IpAddress, Some(a)) if self.want_addr => self.local_ip = a,
                (k, Some(a)) => {
                    if let Some(i) = Self::server_index(k).filter(|&i| self.want_servers[i]) {
                        self.asked[i] = a;
                    }
                }
                _ => {}
            }
        }
    }

    fn on_reject(&mut self, options: &[u8]) {
        for opt in OptionIter::new(options).flatten() {
            let kind = IpcpOption::from(opt.kind);
            if kind == IpcpOption::IpAddress {
                self.want_addr = false;
            } else if let Some(i) = Self::server_index(kind) {
                self.want_servers[i] = false;
            }
        }
    }
}

/// IPv6CP: only the Interface-Identifier (RFC 5072 §4.1).
#[derive(Debug)]
pub(crate) struct Ipv6cp {
    ids: IfidPool,
    pub(crate) local_id: [u8; 8],
    pub(crate) peer_id: [u8; 8],
    want_id: bool,
}

impl Ipv6cp {
    pub(crate) fn new(mut ids: IfidPool) -> Self {
        let local_id = ids.take([0; 8]);
        Self {
            ids,
            local_id,
            peer_id: [0; 8],
            want_id: true,
        }
    }
}

impl Negotiator for Ipv6cp {
    fn reset(&mut self) {
        self.want_id = true;
        self.peer_id = [0; 8];
    }

    fn write_request(&mut self, w: &mut Writer<'_>) {
        if self.want_id {
            write_option(w, Ipv6cpOption::InterfaceIdentifier.value(), &self.local_id);
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
        let mut peer = None;
        for opt in OptionIter::new(options).flatten() {
            match (Ipv6cpOption::from(opt.kind), <[u8; 8]>::try_from(opt.data)) {
                (Ipv6cpOption::InterfaceIdentifier, Ok(id)) => {
                    if id == [0; 8] || id == self.local_id {
                        if reject_naks {
                            opt.encode(&mut Writer::new(&mut rejects));
                        } else {
                            let suggestion = self.ids.take(self.local_id);
                            write_option(&mut Writer::new(&mut naks), opt.kind, &suggestion);
                        }
                    } else {
                        peer = Some(id);
                    }
                }
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
            if let Some(id) = peer {
                self.peer_id = id;
            }
            Verdict::Ack
        }
    }

    fn on_ack(&mut self, _options: &[u8]) {}

    fn on_nak(&mut self, options: &[u8]) {
        for opt in OptionIter::new(options).flatten() {
            if let (Ipv6cpOption::InterfaceIdentifier, Ok(id)) =
                (Ipv6cpOption::from(opt.kind), <[u8; 8]>::try_from(opt.data))
            {
                self.local_id = if id != [0; 8] && id != self.peer_id {
                    id
                } else {
                    self.ids.take(self.peer_id)
                };
            }
        }
    }

    fn on_reject(&mut self, options: &[u8]) {
        for opt in OptionIter::new(options).flatten() {
            if Ipv6cpOption::from(opt.kind) == Ipv6cpOption::InterfaceIdentifier {
                self.want_id = false;
            }
        }
    }
}
