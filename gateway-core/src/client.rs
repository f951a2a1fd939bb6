//! `ClientCore`: the sans-IO client behind `l2tpgw connect` — IKE initiator, L2TP LAC
//! and PPP peer over the ESP SAs IKE negotiates. The same driver runs it as runs the
//! server's core.
//!
//! The client binds whatever UDP ports it can get; IKE thinks in ports 500 and 4500
//! (it floats to 4500 for NAT-T), so the core maps between IKE's ports and the sockets'.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use esp::nat_t::Udp4500;
use wire::PacketBuf;
use wire::random::SecureRandom;

use crate::counters::{Counter, Counters};
use crate::datapath::{self, Encapsulation, InboundSas, L2tpIn, PppIn, SaTag};
use crate::engine::{Engine, InterfaceConfig, Output};
use crate::server::CoreRandom;
use crate::status::{SessionStatus, StatusReport};
use crate::transport;
use crate::users::UserDb;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's IKE address (port 500 normally).
    pub server: SocketAddr,
    /// Our socket for IKE (stands for port 500).
    pub local_ike: SocketAddr,
    /// Our socket for NAT-T (stands for port 4500).
    pub local_nat_t: SocketAddr,
    /// The pre-shared key.
    pub psk: crate::secret::Secret,
    /// The PPP user.
    pub user: String,
    /// The PPP password.
    pub password: crate::secret::Secret,
    /// IKE proposals and vendor IDs to present.
    pub profile: ike::Profile,
    /// L2TP LAC behaviour (the SCCRQ's AVPs); see [`profile_configs`].
    pub l2tp: l2tp::Config,
    /// PPP behaviour.
    pub ppp: ppp::Config,
    /// Say goodbye and finish as soon as the session is up (`connect --once`, tests).
    pub exit_when_up: bool,
}

/// Which client `l2tpgw connect` imitates (see [`profile_configs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProfile {
    /// strongSwan + xl2tpd + pppd.
    Linux,
    /// The Windows 10/11 built-in client.
    Windows,
    /// iOS / macOS.
    Ios,
    /// Android.
    Android,
}

/// What `connect --profile` imitates: IKE proposals and vendor IDs, the L2TP SCCRQ
/// (AVPs as each client sends them) and the PPP peer. `host_name` is the machine's name
/// (the Host Name AVP of Windows and xl2tpd).
///
/// Sources: `linux` is xl2tpd 1.3.18 + pppd as in the real capture
/// (`../shared/captures/softether-direct-mschapv2.pcap`, frame 13: framing 3, bearer 0,
/// firmware 0x0690, vendor "xelerance.com", window 4; LCP asks MRU 1400). `windows`: a
/// Windows SCCRQ in a router's debug log (protocol 1.0, framing 1, bearer 0, firmware
/// = the NT version, 0x0500 on Windows 2000, so 0x0a00 on Windows 10/11, host name,
/// vendor "Microsoft", window 8, in that order; window 8 is also the documented default
/// of its `MaxRecvWindow`-style registry entry), and MS-CHAPv2 only, MRU 1400.
/// `android` is AOSP's mtpd (`l2tp_connect`: host "anonymous", framing 3, window 1, no
/// bearer, firmware or vendor AVP). `ios`: IKE from [`ike::Profile::ios`] (Apple's
/// logged proposals and vendor IDs); its SCCRQ is not researched (l2tpgw's own LAC
/// values) and its PPP is the default client (asks for DNS, accepts MS-CHAPv2).
/// Windows' PPP is [`ppp::Config::windows_client`]: LCP PFC/ACFC/Callback (CBCP),
/// Identification "MSRASV5.20" and "MSRAS-0-<host>", IPv6CP, CCP with MPPE, IPCP
/// asking for DNS and NBNS (sources there). Not imitated yet: the Microsoft
/// Correlation ID AVP in its ICRQ.
pub fn profile_configs(
    profile: ClientProfile,
    host_name: &str,
) -> (ike::Profile, l2tp::Config, ppp::Config) {
    use ClientProfile as Profile;
    let mut l2tp = l2tp::Config::lac();
    let mut ppp = ppp::Config::default();
    let ike = match profile {
        Profile::Linux => {
            l2tp.host_name = host_name.as_bytes().to_vec();
            l2tp.vendor_name = b"xelerance.com".to_vec();
            l2tp.firmware_revision = Some(0x0690);
            l2tp.receive_window = 4;
            ike::Profile::linux()
        }
        Profile::Windows => {
            l2tp.host_name = host_name.as_bytes().to_vec();
            l2tp.vendor_name = b"Microsoft".to_vec();
            l2tp.framing_capabilities = 1;
            l2tp.bearer_capabilities = Some(0);
            l2tp.firmware_revision = Some(0x0a00);
            l2tp.receive_window = 8;
            ppp = ppp::Config::windows_client(host_name);
            ike::Profile::windows()
        }
        Profile::Android => {
            l2tp.host_name = b"anonymous".to_vec();
            l2tp.vendor_name = Vec::new();
            l2tp.framing_capabilities = 3;
            l2tp.bearer_capabilities = None;
            l2tp.firmware_revision = None;
            l2tp.receive_window = 1;
            ike::Profile::linux()
        }
        Profile::Ios => ike::Profile::ios(),
    };
    (ike, l2tp, ppp)
}

/// Shortens (or lengthens) every lifetime `profile` proposes: `ike` for the ISAKMP SA
/// (Main Mode is redone at 90 % of it), `esp` for the ESP SAs (Quick Mode rekeys at 90 %).
/// `connect --ike-lifetime/--esp-lifetime`, for rekey tests.
pub fn set_lifetimes(
    profile: &mut ike::Profile,
    ike: Option<std::time::Duration>,
    esp: Option<std::time::Duration>,
) {
    if let Some(d) = ike {
        for s in &mut profile.ike {
            s.lifetime = d;
        }
    }
    if let Some(d) = esp {
        for o in &mut profile.esp {
            o.lifetime = d;
        }
    }
}

/// What the client has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// IKE is negotiating.
    Ike,
    /// ESP is up; L2TP and PPP are negotiating.
    Tunnel,
    /// IPCP is up: `local` is our inner address.
    Up {
        /// Our inner address.
        local: Ipv4Addr,
        /// The server's inner address.
        peer: Ipv4Addr,
    },
    /// It ended (refused, timed out, or closed).
    Down,
}

const PEER: l2tp::PeerId = l2tp::PeerId(1);

/// One installed ESP SA pair (oldest first in [`ClientCore`]).
struct ClientPair {
    ike: ike::IkeSaId,
    inbound_spi: esp::Spi,
    outbound: esp::OutboundSa,
    installed: Instant,
    /// Negotiated as ESP in UDP 4500 (else raw IP protocol 50, no NAT in between).
    udp_encapsulated: bool,
}

/// The sans-IO client. See the module documentation.
pub struct ClientCore {
    config: ClientConfig,
    ike: ike::Endpoint,
    l2tp: l2tp::Endpoint,
    ppp: Option<ppp::Session>,
    /// Every installed SA pair, oldest first. Inbound traffic is accepted on all of
    /// them until IKE reports each one gone (deleted or expired); outbound traffic
    /// takes the newest. As Quick Mode initiator we install a pair when we send the
    /// third message, and the responder installed its inbound half when it sent the
    /// second, so the new pair may carry our traffic at once (strongSwan's initiator
    /// does the same: `quick_mode.c` installs both SAs when it processes QM2). Old
    /// pairs stay for the packets the server sent before it switched over.
    pairs: Vec<ClientPair>,
    /// The inbound halves of `pairs`, by SPI.
    inbound: InboundSas<()>,
    counters: Counters,
    /// The path ESP takes (ports as IKE sees them): the newest SA pair's. IKE messages
    /// go on their own exchange's path, which differs while a Main Mode rekey starts
    /// over on port 500: data must not follow it there.
    path: ike::Path,
    ike_sa: ike::IkeSaId,
    tunnel: Option<l2tp::TunnelHandle>,
    session: Option<l2tp::SessionRef>,
    state: ClientState,
    pending: VecDeque<(Output, Vec<u8>)>,
    scratch: Vec<u8>,
    seal_buf: PacketBuf,
    rng: Box<dyn SecureRandom>,
    started: Instant,
    shutting_down: bool,
    reached: Option<Ipv4Addr>,
    interface: Option<InterfaceConfig>,
    bytes_in: u64,
    bytes_out: u64,
    packets_in: u64,
    packets_out: u64,
}

impl core::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientCore")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// Starts Main Mode at once. `rng` serves the client; the engines get their own.
    pub fn new(config: ClientConfig, now: Instant, random: CoreRandom) -> Result<Self, ike::Error> {
        Self::with_ike_config(config, ike::Config::default(), now, random)
    }

    /// [`Self::new`] with an IKE configuration of its own (certificates and the wall
    /// clock for `connect --cert`).
    pub fn with_ike_config(
        config: ClientConfig,
        ike_config: ike::Config,
        now: Instant,
        random: CoreRandom,
    ) -> Result<Self, ike::Error> {
        let CoreRandom {
            core: rng,
            ike: ike_rng,
            l2tp: l2tp_rng,
        } = random;
        let psk = ike::StaticPskStore::wildcard(ike::Psk::new(config.psk.expose().as_bytes()));
        let mut ike = ike::Endpoint::new(ike_config, Box::new(psk), ike_rng);
        let path = ike::Path {
            local: SocketAddr::new(config.local_ike.ip(), 500),
            remote: config.server,
        };
        let ike_sa = ike.connect(now, path, config.profile.clone())?;
        let mut core = Self {
            l2tp: l2tp::Endpoint::new(
                l2tp::Config {
                    lns: false,
                    lac: true,
                    ..config.l2tp.clone()
                },
                l2tp_rng,
            ),
            ike,
            ppp: None,
            pairs: Vec::new(),
            inbound: InboundSas::default(),
            counters: Counters::default(),
            path,
            ike_sa,
            tunnel: None,
            session: None,
            state: ClientState::Ike,
            pending: VecDeque::new(),
            scratch: Vec::with_capacity(2048),
            seal_buf: PacketBuf::new(4096, crate::engine::TUN_HEADROOM),
            rng,
            started: now,
            shutting_down: false,
            reached: None,
            interface: None,
            bytes_in: 0,
            bytes_out: 0,
            packets_in: 0,
            packets_out: 0,
            config,
        };
        core.process(now);
        Ok(core)
    }

    /// Where the client is.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The inner address the session got, if it ever came up.
    pub fn reached(&self) -> Option<Ipv4Addr> {
        self.reached
    }

    /// The socket address standing for IKE's local port.
    fn real_local(&self, ike_local: SocketAddr) -> SocketAddr {
        if ike_local.port() == 4500 {
            self.config.local_nat_t
        } else {
            self.config.local_ike
        }
    }

    /// The ESP packet to the server for the current path and SA pair: in UDP 4500, or
    /// as IP protocol 50 when IKE saw no NAT (transport mode).
    fn to_server(&self) -> Output {
        if self.pairs.last().is_some_and(|p| !p.udp_encapsulated) {
            return Output::Esp {
                local: self.real_local(self.path.local).ip(),
                remote: self.path.remote.ip(),
            };
        }
        Output::Udp {
            local: self.real_local(self.path.local),
            remote: self.path.remote,
        }
    }

    fn seal(&mut self, len: usize, with_session: bool) {
        let mut buf = core::mem::replace(&mut self.seal_buf, PacketBuf::new(0, 0));
        buf.reset(crate::engine::TUN_HEADROOM);
        let mut ok = buf
            .set_payload(self.scratch.get(..len).unwrap_or_default())
            .is_ok();
        if with_session {
            ok = ok
                && self
                    .session
                    .is_some_and(|s| self.l2tp.encap_data(s, &mut buf).is_ok());
        }
        if ok
            && let Some(out) = self.pairs.last_mut().map(|p| &mut p.outbound)
            && datapath::seal_esp(&mut buf, transport::L2TP_PORT, None, out).is_ok()
        {
            self.pending
                .push_back((self.to_server(), buf.payload().to_vec()));
        }
        self.seal_buf = buf;
    }

    /// IKE's `ChildSaUp`: the new pair takes outbound traffic at once (see `pairs`).
    fn install_pair(&mut self, now: Instant, c: ike::ChildSa) {
        let inbound = esp::InboundSa::new(&c.inbound, now);
        let outbound = esp::OutboundSa::new(&c.outbound, now, &mut *self.rng);
        let (Ok(inbound), Ok(outbound)) = (inbound, outbound) else {
            tracing::warn!("cannot install the ESP SA pair IKE negotiated");
            return;
        };
        self.path = c.path;
        let udp_encapsulated = c.encapsulation == ike::Encapsulation::UdpTransport;
        self.inbound.insert_tagged(
            inbound,
            SaTag {
                encapsulation: Encapsulation::of(udp_encapsulated),
                owner: (),
            },
        );
        self.pairs.push(ClientPair {
            ike: c.ike,
            inbound_spi: c.inbound.spi,
            outbound,
            installed: now,
            udp_encapsulated,
        });
        tracing::debug!(spi = %c.inbound.spi, rekey = c.rekey, pairs = self.pairs.len(), "ESP SA pair installed");
        if self.tunnel.is_none() {
            self.tunnel = self.l2tp.connect(now, PEER).ok();
            self.state = ClientState::Tunnel;
            tracing::info!(server = %c.path.remote, "IPsec up; starting L2TP");
        }
    }

    fn process(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            loop {
                self.scratch.clear();
                let Some(t) = self.ike.poll_transmit(&mut self.scratch) else {
                    break;
                };
                progress = true;
                let mut bytes = Vec::with_capacity(self.scratch.len() + 4);
                if t.non_esp_marker {
                    bytes.extend_from_slice(&esp::nat_t::NON_ESP_MARKER);
                }
                bytes.extend_from_slice(&self.scratch);
                let to = Output::Udp {
                    local: self.real_local(t.path.local),
                    remote: t.path.remote,
                };
                self.pending.push_back((to, bytes));
            }
            while let Some(ev) = self.ike.poll_event() {
                progress = true;
                match ev {
                    ike::Event::IkeSaUp { ike, .. } => {
                        // A Main Mode rekey: the newest ISAKMP SA is the one to close.
                        self.ike_sa = ike;
                    }
                    ike::Event::ChildSaUp(c) => self.install_pair(now, c),
                    ike::Event::ChildSaDown {
                        inbound_spi,
                        reason,
                        ..
                    } => {
                        self.pairs.retain(|p| p.inbound_spi != inbound_spi);
                        self.inbound.remove(inbound_spi);
                        tracing::debug!(spi = %inbound_spi, ?reason, left = self.pairs.len(), "ESP SA pair gone");
                        if self.pairs.is_empty() && self.state != ClientState::Ike {
                            tracing::info!("IPsec down: no ESP SA pair left");
                            self.state = ClientState::Down;
                        }
                    }
                    ike::Event::IkeSaDown { ike, reason, .. } => {
                        // An ISAKMP SA that expired after a Main Mode rekey leaves its
                        // ESP SAs running; only a failed first negotiation ends us.
                        tracing::debug!(?reason, "ISAKMP SA down");
                        if self.pairs.is_empty() && ike == self.ike_sa {
                            tracing::info!(?reason, "IKE failed");
                            self.state = ClientState::Down;
                        }
                    }
                    ike::Event::PeerGone { .. } => {
                        tracing::info!("IPsec down: the server stopped answering");
                        self.state = ClientState::Down;
                    }
                    _ => {}
                }
            }
            loop {
                self.scratch.clear();
                let Some(t) = self.l2tp.poll_transmit(&mut self.scratch) else {
                    break;
                };
                progress = true;
                self.seal(t.len, false);
            }
            while let Some(ev) = self.l2tp.poll_event() {
                progress = true;
                match ev {
                    l2tp::Event::TunnelUp { .. } => {
                        if let Some(t) = self.tunnel {
                            self.session = self.l2tp.open_session(now, t).ok();
                        }
                    }
                    l2tp::Event::SessionUp(s) => {
                        self.session = Some(s);
                        let creds =
                            ppp::Credentials::new(&self.config.user, self.config.password.expose());
                        self.ppp = Some(ppp::Session::new_client(
                            Arc::new(self.config.ppp.clone()),
                            creds,
                            now,
                            &mut *self.rng,
                        ));
                    }
                    l2tp::Event::SessionDown { .. } | l2tp::Event::TunnelDown { .. } => {
                        self.state = ClientState::Down;
                    }
                }
            }
            if let Some(mut ppp) = self.ppp.take() {
                loop {
                    self.scratch.clear();
                    let Some(n) = ppp.poll_transmit(&mut self.scratch) else {
                        break;
                    };
                    progress = true;
                    self.seal(n, true);
                }
                while let Some(ev) = ppp.poll_event() {
                    progress = true;
                    match ev {
                        ppp::Event::Up {
                            local_ip,
                            peer_ip,
                            mru,
                            ..
                        } => {
                            self.interface = Some(InterfaceConfig {
                                address: local_ip,
                                peer: peer_ip,
                                mtu: mru.min(self.config.ppp.mru),
                            });
                            tracing::info!(address = %local_ip, server = %peer_ip, "connected");
                            self.state = ClientState::Up {
                                local: local_ip,
                                peer: peer_ip,
                            };
                            self.reached = Some(local_ip);
                        }
                        ppp::Event::Down { reason } => {
                            tracing::info!(?reason, "PPP down");
                            self.state = ClientState::Down;
                        }
                        _ => {}
                    }
                }
                self.ppp = Some(ppp);
            }
            if !progress {
                break;
            }
        }
        if self.config.exit_when_up && self.reached.is_some() && !self.shutting_down {
            self.begin_shutdown(now);
        }
    }
}

impl ClientCore {
    /// An ESP packet from the server, through the data path's steps
    /// ([`crate::datapath`]). Returns where the IP packet for the TUN device lies in
    /// `data`.
    fn esp_in(
        &mut self,
        now: Instant,
        arrived: Encapsulation,
        data: &mut [u8],
    ) -> Result<Option<Range<usize>>, Counter> {
        let Some(esp) = datapath::open_esp(&mut self.inbound, arrived, data)? else {
            return Ok(None);
        };
        let (_, l2tp) = datapath::inner_l2tp(data, esp.udp, None)?;
        let frame = match datapath::l2tp_in(&mut self.l2tp, now, PEER, data, l2tp) {
            Ok(L2tpIn::Frame { frame, .. }) => frame,
            // A control message, or a refusal (which may have queued a reply).
            other => {
                self.process(now);
                return other.map(|_| None);
            }
        };
        let ppp = self.ppp.as_mut().ok_or(Counter::PppNoSession)?;
        match datapath::ppp_in(ppp, now, data, frame) {
            Ok(PppIn::Ipv4(ip)) => {
                self.bytes_in += ip.len() as u64;
                self.packets_in += 1;
                Ok(Some(ip))
            }
            // A control frame, or a malformed one: PPP may have answered.
            other => {
                self.process(now);
                other.map(|_| None)
            }
        }
    }

    /// A packet from the TUN device, to the server: PPP, L2TP, UDP and ESP prepended
    /// in place ([`crate::datapath`]).
    fn tun_in(&mut self, buf: &mut PacketBuf) -> Result<Option<Output>, Counter> {
        datapath::tun_ipv4_dst(buf.payload())?;
        let len = buf.len() as u64;
        let (Some(ppp), Some(session)) = (self.ppp.as_ref(), self.session) else {
            return Err(Counter::PppNotOpen);
        };
        datapath::encap_ppp_l2tp(buf, ppp, &mut self.l2tp, session)?;
        let out = &mut self.pairs.last_mut().ok_or(Counter::NoOutboundSa)?.outbound;
        datapath::seal_esp(buf, transport::L2TP_PORT, None, out)?;
        self.bytes_out += len;
        self.packets_out += 1;
        Ok(Some(self.to_server()))
    }
}

impl Engine for ClientCore {
    fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &mut [u8],
    ) -> Option<Range<usize>> {
        // IKE thinks in ports 500 and 4500, whatever our sockets' ports are.
        let (ike_port, message) = if local.port() == self.config.local_nat_t.port() {
            match esp::nat_t::classify_4500(data) {
                Ok(Udp4500::Ike(message)) => (4500, message),
                Ok(Udp4500::Keepalive) => return None,
                Ok(Udp4500::Esp { .. }) => {
                    let ip = self.esp_in(now, Encapsulation::Udp, data);
                    return self.counters.counted(ip);
                }
                Err(e) => {
                    self.counters.bump(e);
                    return None;
                }
            }
        } else {
            (500, &*data)
        };
        // Refusals are counted in the IKE engine's stats.
        let _ = self.ike.handle_datagram(
            now,
            ike::Path {
                local: SocketAddr::new(local.ip(), ike_port),
                remote,
            },
            message,
        );
        self.process(now);
        None
    }

    fn handle_raw_esp(
        &mut self,
        now: Instant,
        _local: std::net::IpAddr,
        remote: std::net::IpAddr,
        esp: &mut [u8],
    ) -> Option<Range<usize>> {
        if remote != self.path.remote.ip() {
            return None;
        }
        let ip = self.esp_in(now, Encapsulation::Raw, esp);
        self.counters.counted(ip)
    }

    fn handle_tun(&mut self, _now: Instant, buf: &mut PacketBuf) -> Option<Output> {
        let out = self.tun_in(buf);
        self.counters.counted(out)
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.ike.poll_timeout().is_some_and(|t| t <= now) {
            self.ike.handle_timeout(now);
        }
        if self.l2tp.poll_timeout().is_some_and(|t| t <= now) {
            self.l2tp.handle_timeout(now);
        }
        if let Some(p) = self.ppp.as_mut()
            && p.poll_timeout().is_some_and(|t| t <= now)
        {
            p.handle_timeout(now);
        }
        self.process(now);
    }

    fn poll_output(&mut self, buf: &mut PacketBuf) -> Option<Output> {
        let (output, bytes) = self.pending.pop_front()?;
        buf.set_payload(&bytes).ok()?;
        Some(output)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ike.poll_timeout(),
            self.l2tp.poll_timeout(),
            self.ppp.as_ref().and_then(ppp::Session::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn reload_users(&mut self, _users: UserDb) {}

    fn poll_interface(&mut self) -> Option<InterfaceConfig> {
        self.interface.take()
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        if let Some(p) = self.ppp.as_mut() {
            p.close(now);
        }
        self.process(now);
        if let Some(t) = self.tunnel {
            let _ = self.l2tp.close_tunnel(now, t);
        }
        self.process(now);
        // Every ISAKMP SA that still holds one of our pairs (older ones after a Main
        // Mode rekey), the newest last.
        let mut sas: Vec<ike::IkeSaId> = self.pairs.iter().map(|p| p.ike).collect();
        sas.push(self.ike_sa);
        sas.dedup();
        for (i, sa) in sas.iter().enumerate() {
            if !sas.get(i + 1..).unwrap_or_default().contains(sa) {
                let _ = self.ike.close(*sa);
            }
        }
        self.process(now);
    }

    fn is_shut_down(&self) -> bool {
        self.pending.is_empty() && (self.shutting_down || self.state == ClientState::Down)
    }

    fn status(&self, now: Instant) -> StatusReport {
        let inner = match self.state {
            ClientState::Up { local, .. } => Some(local),
            _ => None,
        };
        StatusReport {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            sessions: vec![SessionStatus {
                user: self.config.user.clone(),
                outer: self.path.remote,
                inner,
                uptime_secs: now.saturating_duration_since(self.started).as_secs(),
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                packets_in: self.packets_in,
                packets_out: self.packets_out,
                esp: self.pairs.last().map(|p| crate::status::EspStatus {
                    suite: crate::server::suite_name(p.outbound.suite()),
                    inbound_spi: p.inbound_spi.to_string(),
                    outbound_spi: p.outbound.spi().to_string(),
                    age_secs: now.saturating_duration_since(p.installed).as_secs(),
                    udp_encapsulated: self.path.local.port() == 4500,
                }),
                l2tp_tunnel: self.session.map_or(0, |s| s.tunnel.0),
                l2tp_session: self.session.map_or(0, |s| s.session.0),
            }],
            counters: self.counters.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wire::random::DeterministicRandom;

    use super::*;
    use crate::counters::Counter;
    use crate::engine::TUN_HEADROOM;
    use crate::server::Core;
    use crate::testing::{LinkConfig, Placement, Side, client_config, clock, server_config};

    type Pair = crate::testing::Pair<ClientCore>;

    /// Runs the pair until `done` holds for the client, within `limit` of virtual time;
    /// control traffic never reaches a TUN device.
    fn pump(p: &mut Pair, limit: Duration, done: impl Fn(&ClientCore) -> bool) {
        assert!(
            p.drive_until(limit, |p| done(&p.clients[0].engine)),
            "not done in time"
        );
        assert_eq!(p.traffic().problems, Vec::<String>::new());
    }

    /// The server, the client and the time, to drive by hand.
    fn parts(p: &mut Pair) -> (&mut Core, &mut ClientCore, Instant) {
        (&mut p.server, &mut p.clients[0].engine, p.now)
    }

    /// A small IPv4/UDP packet from `src` to `dst` whose payload is `tag`.
    fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, tag: u8) -> Vec<u8> {
        crate::testing::ipv4_udp(src, dst, &[tag])
    }

    /// The server seals a packet for the client; the datagram is returned, not delivered.
    fn server_sends(server: &mut Core, now: Instant, tag: u8) -> (SocketAddr, SocketAddr, Vec<u8>) {
        seals(server, now, [1, 2], tag)
    }

    /// The client seals a packet for the server; the datagram is returned.
    fn client_sends(
        client: &mut ClientCore,
        now: Instant,
        tag: u8,
    ) -> (SocketAddr, SocketAddr, Vec<u8>) {
        seals(client, now, [2, 1], tag)
    }

    /// `engine` seals a packet from 10.77.0.`hosts[0]` to 10.77.0.`hosts[1]` read from its
    /// TUN; the datagram it would send is returned.
    fn seals(
        engine: &mut dyn Engine,
        now: Instant,
        hosts: [u8; 2],
        tag: u8,
    ) -> (SocketAddr, SocketAddr, Vec<u8>) {
        let packet = ip_packet(
            Ipv4Addr::new(10, 77, 0, hosts[0]),
            Ipv4Addr::new(10, 77, 0, hosts[1]),
            tag,
        );
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        buf.set_payload(&packet).unwrap();
        let Some(Output::Udp { local, remote }) = engine.handle_tun(now, &mut buf) else {
            panic!("nothing sent for packet {tag} from 10.77.0.{}", hosts[0])
        };
        (local, remote, buf.payload().to_vec())
    }

    /// Delivers a datagram the server sent and returns the inner packet's tag.
    fn client_receives(
        client: &mut ClientCore,
        now: Instant,
        (local, remote, mut d): (SocketAddr, SocketAddr, Vec<u8>),
    ) -> Option<u8> {
        let r = client.handle_udp(now, remote, local, &mut d)?;
        d.get(r)?.last().copied()
    }

    fn server_receives(
        server: &mut Core,
        now: Instant,
        (local, remote, mut d): (SocketAddr, SocketAddr, Vec<u8>),
    ) -> Option<u8> {
        let r = server.handle_udp(now, remote, local, &mut d)?;
        d.get(r)?.last().copied()
    }

    fn pair(exit_when_up: bool, password: &str) -> Pair {
        pair_with(exit_when_up, password, ike::Profile::linux())
    }

    fn pair_with(exit_when_up: bool, password: &str, profile: ike::Profile) -> Pair {
        pair_with_configs(
            exit_when_up,
            password,
            (profile, l2tp::Config::lac(), ppp::Config::default()),
        )
    }

    /// The server core (user alice, PSK `sharedsecret`) and one client with these
    /// configurations on its standard sockets, no NAT, on a perfect link.
    fn pair_with_configs(
        exit_when_up: bool,
        password: &str,
        (profile, l2tp, ppp): (ike::Profile, l2tp::Config, ppp::Config),
    ) -> Pair {
        let config = server_config(&["alice:secret"], "sharedsecret");
        let mut p = Pair::new(10, config, LinkConfig::PERFECT);
        p.add_client_core(
            ClientConfig {
                profile,
                l2tp,
                ppp,
                exit_when_up,
                ..client_config("alice", password)
            },
            Placement::Direct,
        );
        p
    }

    /// The client's inbound ESP goes through the shared data path: what it drops is
    /// counted under the same names as the server's, and shown in its status.
    #[test]
    fn client_counts_what_the_shared_data_path_drops() {
        let mut p = pair(false, "secret");
        pump(&mut p, Duration::from_secs(60), |c| {
            matches!(c.state(), ClientState::Up { .. })
        });
        let (_, client, now) = parts(&mut p);
        let (local, from) = (client.config.local_nat_t, "192.0.2.1:4500".parse().unwrap());
        let mut unknown_spi = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(client.handle_udp(now, local, from, &mut unknown_spi), None);
        let mut short = [0x12, 0x34, 0x56];
        assert_eq!(client.handle_udp(now, local, from, &mut short), None);
        // The newest pair's SPI, but raw ESP on a pair negotiated for UDP 4500.
        let mut raw = client
            .pairs
            .last()
            .unwrap()
            .inbound_spi
            .0
            .to_be_bytes()
            .to_vec();
        raw.extend_from_slice(&[0, 0, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(
            client.handle_raw_esp(now, local.ip(), from.ip(), &mut raw),
            None
        );
        let mut packet = PacketBuf::new(256, TUN_HEADROOM);
        packet.set_payload(&[0x60, 0, 0, 0]).unwrap();
        assert_eq!(client.handle_tun(now, &mut packet), None);
        for counter in [
            Counter::EspUnknownSpi,
            Counter::EspTruncated,
            Counter::EspWrongEncapsulation,
            Counter::TunIpv6,
        ] {
            assert_eq!(client.counters.get(counter), 1, "{counter:?}");
        }
        let status = client.status(now);
        assert_eq!(status.counters.get("dropped.esp_unknown_spi"), Some(&1));
    }

    #[test]
    fn client_core_connects_to_the_server_core_and_carries_traffic() {
        let mut p = pair(false, "secret");
        pump(&mut p, Duration::from_secs(60), |c| {
            matches!(c.state(), ClientState::Up { .. })
        });
        let ClientState::Up { local, peer } = p.clients[0].engine.state() else {
            unreachable!()
        };
        assert_eq!(
            (local, peer),
            (Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1))
        );
        assert_eq!(p.server.route(local), Some(Some("alice")));

        // Client TUN -> server TUN.
        let packet = ip_packet(local, peer, 0xaa);
        assert!(p.send_tun(Side::Client(0), &packet).is_some());
        p.step();
        assert_eq!(p.server_tun, [packet]);

        // SIGTERM on the client: goodbyes, then done.
        let (_, client, now) = parts(&mut p);
        client.begin_shutdown(now);
        pump(&mut p, Duration::from_secs(10), |c| c.is_shut_down());
        pump(&mut p, Duration::from_secs(60), |_| true);
    }

    #[test]
    fn once_mode_finishes_after_the_session_is_up_and_the_server_cleans_up() {
        let mut p = pair(true, "secret");
        pump(&mut p, Duration::from_secs(60), ClientCore::is_shut_down);
        let (server, client, _) = parts(&mut p);
        assert_eq!(client.reached(), Some(Ipv4Addr::new(10, 77, 0, 2)));
        // The server processed LCP Terminate, StopCCN and DELETE.
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        while server.poll_output(&mut buf).is_some() {}
        assert_eq!(server.session_count(), 0);
        assert_eq!(server.pool().in_use(), 0);
    }

    #[test]
    fn a_refused_password_ends_the_client() {
        let mut p = pair(false, "wrong");
        pump(&mut p, Duration::from_secs(60), ClientCore::is_shut_down);
        let (server, client, _) = parts(&mut p);
        assert_eq!(client.reached(), None);
        assert_eq!(client.state(), ClientState::Down);
        assert_eq!(server.counters().get(Counter::AuthFailures), 1);
    }

    /// Quick Mode rekeys (ESP lifetime 30 s) and a Main Mode rekey (ISAKMP lifetime
    /// 100 s) with traffic both ways: the old pair keeps receiving what the server sealed
    /// before it switched, the new pair carries our traffic at once, and the session
    /// outlives the expiry of every old SA.
    #[test]
    fn rekeys_lose_no_packet_in_flight_and_keep_the_session() {
        let mut profile = ike::Profile::linux();
        set_lifetimes(
            &mut profile,
            Some(Duration::from_secs(100)),
            Some(Duration::from_secs(30)),
        );
        let mut p = pair_with(false, "secret", profile);
        let start = p.now;
        pump(&mut p, Duration::from_secs(60), |c| {
            matches!(c.state(), ClientState::Up { .. })
        });
        assert_eq!(p.clients[0].engine.pairs.len(), 1);
        let first_spi = p.clients[0].engine.pairs[0].inbound_spi;

        // Up to just before the first Quick Mode rekey (90 % of 30 s, minus up to 5 %
        // jitter): one pair, and a datagram the server sealed on it is still in flight.
        p.run_until(start + Duration::from_secs(25));
        let (server, client, now) = parts(&mut p);
        assert_eq!(client.pairs.len(), 1, "no rekey yet");
        let in_flight = server_sends(server, now, 1);
        p.run_until(start + Duration::from_secs(28));
        let (server, client, now) = parts(&mut p);
        assert_eq!(client.pairs.len(), 2, "rekeyed, the old pair kept");
        let new_spi = client.pairs[1].inbound_spi;
        assert_ne!(new_spi, first_spi);
        // The late datagram on the old SA still arrives.
        assert_eq!(client_receives(client, now, in_flight), Some(1));
        // Ours goes out on the new pair at once, and the server takes it.
        let ours = client_sends(client, now, 2);
        assert_eq!(
            esp::nat_t::spi(&ours.2).unwrap(),
            client.pairs[1].outbound.spi()
        );
        assert_eq!(server_receives(server, now, ours), Some(2));
        // The server has seen the new pair used, so it answers on it.
        let answer = server_sends(server, now, 3);
        assert_eq!(esp::nat_t::spi(&answer.2).unwrap(), new_spi);
        assert_eq!(client_receives(client, now, answer), Some(3));

        // Past the old pair's hard lifetime (30 s): it is gone, the session is not.
        p.run_until(start + Duration::from_secs(45));
        let client = &p.clients[0].engine;
        assert!(client.pairs.iter().all(|p| p.inbound_spi != first_spi));
        assert!(matches!(client.state(), ClientState::Up { .. }));

        // Traffic every second, each way, through further Quick Mode rekeys, the Main
        // Mode rekey (~90 s) and the old ISAKMP SA's expiry (100 s): the client's
        // datagram goes at once, the server's is delivered a second later, after the
        // timers of that second ran (the rekeys happen while it is in flight).
        let first_ike = client.ike_sa;
        let mut tag = 10u8;
        for second in 46..=120u64 {
            let (server, client, now) = parts(&mut p);
            let up = client_sends(client, now, tag);
            assert_eq!(server_receives(server, now, up), Some(tag), "at {second} s");
            let down = server_sends(server, now, tag.wrapping_add(1));
            p.run_until(start + Duration::from_secs(second));
            let (_, client, now) = parts(&mut p);
            assert_eq!(
                client_receives(client, now, down),
                Some(tag.wrapping_add(1)),
                "at {second} s"
            );
            assert!(
                matches!(client.state(), ClientState::Up { .. }),
                "at {second} s: {:?}",
                client.state()
            );
            tag = tag.wrapping_add(2);
        }
        let (server, client, now) = parts(&mut p);
        assert_ne!(client.ike_sa, first_ike, "a Main Mode rekey happened");
        assert!(client.pairs.len() <= 2, "expired pairs are dropped");
        assert_eq!(server.session_count(), 1);
        let report = client.status(now);
        let esp = report.sessions[0].esp.as_ref().unwrap();
        assert_eq!(
            esp.inbound_spi,
            client.pairs.last().unwrap().inbound_spi.to_string()
        );

        // Goodbye closes every ISAKMP SA; the server ends the session.
        client.begin_shutdown(now);
        pump(&mut p, Duration::from_secs(10), |c| c.is_shut_down());
        assert_eq!(p.server.session_count(), 0);
    }

    /// The SCCRQ an LAC with `l2tp` sends first, decoded.
    fn first_sccrq(l2tp: l2tp::Config) -> l2tp::msgs::ControlMessage {
        let now = clock();
        let mut lac = l2tp::Endpoint::new(l2tp, Box::new(DeterministicRandom::new(5)));
        lac.connect(now, PEER).unwrap();
        let mut out = Vec::new();
        let _sent = lac.poll_transmit(&mut out).expect("an SCCRQ");
        sccrq_of(&out)
    }

    fn sccrq_of(bytes: &[u8]) -> l2tp::msgs::ControlMessage {
        let (_, payload) = l2tp::msgs::Header::decode(bytes).unwrap();
        let msg = l2tp::msgs::ControlMessage::decode(payload, None).unwrap();
        assert_eq!(msg.message_type(), l2tp::msgs::MessageType::Sccrq);
        msg
    }

    /// (type, M bit, value) of every AVP but the Assigned Tunnel ID (random).
    fn avp_list(m: &l2tp::msgs::ControlMessage) -> Vec<(bool, l2tp::msgs::AvpValue)> {
        m.avps
            .iter()
            .filter(|a| !matches!(a.value, l2tp::msgs::AvpValue::AssignedTunnelId(_)))
            .map(|a| (a.mandatory, a.value.clone()))
            .collect()
    }

    /// `--profile windows` sends the SCCRQ of the Windows fixture in l2tp's testdata
    /// (AVPs, order and M bits; only the random tunnel ID differs), which follows the
    /// order a router logged for a real Windows SCCRQ.
    #[test]
    fn windows_profile_sends_the_windows_sccrq() {
        let (_, l2tp, ppp) = profile_configs(ClientProfile::Windows, "DESKTOP-L2TP");
        let ours = first_sccrq(l2tp);
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../l2tp/testdata/windows-sccrq.hex"
        ))
        .unwrap();
        let text = text.trim();
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect();
        let windows = sccrq_of(&bytes);
        assert_eq!(avp_list(&ours), avp_list(&windows));
        assert_eq!(ours.receive_window_size(), Some(8));
        assert_eq!(ppp.auth_methods, [ppp::AuthMethod::MsChapV2]);
        assert_eq!(ppp.mru, 1400);
        assert_eq!(ppp.request_callback, Some(ppp::config::CALLBACK_CBCP));
        assert_eq!(
            ppp.identification,
            [b"MSRASV5.20".to_vec(), b"MSRAS-0-DESKTOP-L2TP".to_vec()]
        );
    }

    /// `--profile android` sends what AOSP's mtpd sends: host "anonymous", framing 3,
    /// window 1, and no Bearer Capabilities, Firmware Revision or Vendor Name.
    #[test]
    fn android_profile_sends_the_mtpd_sccrq() {
        use l2tp::msgs::AvpValue as V;
        let (_, l2tp, _) = profile_configs(ClientProfile::Android, "ignored");
        let m = first_sccrq(l2tp);
        let values: Vec<V> = avp_list(&m).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            [
                V::MessageType(l2tp::msgs::MessageType::Sccrq),
                V::ProtocolVersion {
                    version: 1,
                    revision: 0
                },
                V::FramingCapabilities(3),
                V::HostName(b"anonymous".to_vec()),
                V::ReceiveWindowSize(1),
            ]
        );
    }

    /// Each profile connects to the server core, and the Windows one authenticates
    /// with MS-CHAPv2 (its only method).
    #[test]
    fn every_profile_connects() {
        use ClientProfile as Profile;
        for p in [
            Profile::Linux,
            Profile::Windows,
            Profile::Android,
            Profile::Ios,
        ] {
            let mut pair = pair_with_configs(true, "secret", profile_configs(p, "host"));
            pump(&mut pair, Duration::from_secs(60), ClientCore::is_shut_down);
            let client = &pair.clients[0].engine;
            assert_eq!(client.reached(), Some(Ipv4Addr::new(10, 77, 0, 2)), "{p:?}");
        }
    }

    /// A Main Mode rekey starts over on port 500 while ESP stays on the NAT-T path:
    /// data sent between its first message and its end still goes to the server's
    /// NAT-T port (it once followed the IKE messages to port 500, where the server
    /// refused it as a malformed IKE message: one lost ping per Main Mode rekey).
    #[test]
    fn data_stays_on_the_esp_path_while_main_mode_rekeys() {
        let mut profile = ike::Profile::linux();
        set_lifetimes(
            &mut profile,
            Some(Duration::from_secs(100)),
            Some(Duration::from_secs(1000)),
        );
        let mut p = pair_with(false, "secret", profile);
        pump(&mut p, Duration::from_secs(60), |c| {
            matches!(c.state(), ClientState::Up { .. })
        });
        let client = &p.clients[0].engine;
        let (ike_socket, nat_t_socket) = (client.config.local_ike, client.config.local_nat_t);
        let first_ike = client.ike_sa;
        // Run the clocks, delivering everything, until the client sends from its IKE
        // (port 500) socket again: the rekey's first Main Mode message, held back.
        p.hold(move |from, out, _| {
            from == Side::Client(0)
                && matches!(out, Output::Udp { local, .. } if *local == ike_socket)
        });
        assert!(
            p.drive_until(Duration::from_secs(100), |p| !p.held.is_empty()),
            "no Main Mode rekey"
        );
        p.stop_holding();
        let held = p.held.remove(0);
        let Output::Udp { remote, .. } = held.output else {
            unreachable!()
        };
        assert_eq!(remote.port(), 500, "Main Mode starts on port 500");
        // Data now still goes from the NAT-T socket to port 4500, and arrives.
        let (server, client, now) = parts(&mut p);
        let data = client_sends(client, now, 7);
        assert_eq!((data.0, data.1.port()), (nat_t_socket, 4500));
        assert_eq!(server_receives(server, now, data), Some(7));
        // The rekey completes; data keeps flowing on the new pair.
        p.release(held);
        p.run_until(now + Duration::from_secs(5));
        let (server, client, now) = parts(&mut p);
        assert_ne!(client.ike_sa, first_ike, "the Main Mode rekey completed");
        let data = client_sends(client, now, 8);
        assert_eq!(
            esp::nat_t::spi(&data.2).unwrap(),
            client.pairs.last().unwrap().outbound.spi()
        );
        assert_eq!(server_receives(server, now, data), Some(8));
    }

    /// A server with honest NAT-D and a client on the standard ports with no NAT in
    /// between: Quick Mode agrees on transport mode, both send raw ESP (`Output::Esp`),
    /// and ESP in UDP for that SA is dropped by both.
    #[test]
    fn client_core_uses_raw_esp_when_the_server_sees_no_nat() {
        let mut config = server_config(&["alice:secret"], "sharedsecret");
        config.ike.force_encapsulation = false;
        let mut p = Pair::new(10, config, LinkConfig::PERFECT);
        let (profile, l2tp, ppp) = profile_configs(ClientProfile::Linux, "test");
        p.add_client_core(
            ClientConfig {
                local_ike: "198.51.100.7:500".parse().unwrap(),
                local_nat_t: "198.51.100.7:4500".parse().unwrap(),
                profile,
                l2tp,
                ppp,
                ..client_config("alice", "secret")
            },
            Placement::Direct,
        );
        pump(&mut p, Duration::from_secs(60), |c| {
            matches!(c.state(), ClientState::Up { .. })
        });
        let (server, client, now) = parts(&mut p);
        let status = client.status(now);
        assert!(!status.sessions[0].esp.as_ref().unwrap().udp_encapsulated);
        assert!(
            !server.status(now).sessions[0]
                .esp
                .as_ref()
                .unwrap()
                .udp_encapsulated
        );
        // Client TUN -> server TUN, as IP protocol 50.
        let packet = ip_packet(Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1), 7);
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        buf.set_payload(&packet).unwrap();
        let out = client.handle_tun(now, &mut buf).unwrap();
        assert_eq!(
            out,
            Output::Esp {
                local: "198.51.100.7".parse().unwrap(),
                remote: "192.0.2.1".parse().unwrap(),
            }
        );
        let esp = buf.payload().to_vec();
        // In UDP 4500 the same bytes are refused (the SA is raw)...
        let mut d = esp.clone();
        let to_server: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let from_client: SocketAddr = "198.51.100.7:4500".parse().unwrap();
        assert!(
            server
                .handle_udp(now, to_server, from_client, &mut d)
                .is_none()
        );
        assert_eq!(server.counters().get(Counter::EspWrongEncapsulation), 1);
        // ... and raw they arrive.
        let mut d = esp.clone();
        let r = server
            .handle_raw_esp(now, to_server.ip(), from_client.ip(), &mut d)
            .unwrap();
        assert_eq!(&d[r], &packet[..]);
        // Server TUN -> client TUN, raw too.
        let reply = ip_packet(Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2), 8);
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        buf.set_payload(&reply).unwrap();
        let Some(Output::Esp { local, remote }) = server.handle_tun(now, &mut buf) else {
            panic!("not raw ESP")
        };
        let esp = buf.payload().to_vec();
        let mut d = esp.clone();
        assert!(
            client
                .handle_udp(now, from_client, to_server, &mut d)
                .is_none()
        );
        let mut d = esp;
        let r = client.handle_raw_esp(now, remote, local, &mut d).unwrap();
        assert_eq!(&d[r], &reply[..]);
    }
}
