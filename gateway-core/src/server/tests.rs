//! The core against real client engines in memory, on a virtual clock: an L2TP LAC and a
//! PPP client behind ESP transport-mode SAs keyed by hand (as IKE would key them),
//! talking UDP 4500 to the core. Every byte between them is a real ESP packet.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::{Encryption, Integrity, Mode, SaParams, Spi, Suite};
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

use super::*;
use crate::engine::{Engine, Output, TUN_HEADROOM};
use crate::transport;

mod hostile;

const SERVER: &str = "192.0.2.1:4500";
const SERVER_IKE: &str = "192.0.2.1:500";

fn seeded() -> CoreRandom {
    CoreRandom {
        core: Box::new(DeterministicRandom::new(2)),
        ike: Box::new(DeterministicRandom::new(3)),
        l2tp: Box::new(DeterministicRandom::new(4)),
    }
}

fn suite() -> Suite {
    Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap()
}

fn params(spi: u32, fill: u8) -> SaParams {
    let keymat = vec![fill; suite().keymat_len()];
    SaParams::from_keymat(Spi(spi), suite(), Mode::Transport, &keymat).unwrap()
}

/// The phase-1 identity a test client authenticated with (an FQDN, the user's name).
fn id(name: &str) -> Option<ike::msgs::IdPayload> {
    Some(ike::msgs::IdPayload {
        id_type: ike::msgs::IdType::Fqdn,
        protocol: 0,
        port: 0,
        data: name.as_bytes().to_vec(),
    })
}

fn core_with(mutate: impl FnOnce(&mut CoreConfig), users: &[&str]) -> (Core, Instant) {
    let mut cc = test_config(users, "sharedsecret");
    mutate(&mut cc);
    let now = test_clock();
    let core = Core::new(cc, now, seeded());
    (core, now)
}

/// One client: ESP SAs, an L2TP LAC and (once the session is up) a PPP client.
struct Client {
    /// The client's address as the server sees it (changes when IKE floats to 4500).
    remote: SocketAddr,
    /// Every address it has used.
    addrs: Vec<SocketAddr>,
    out_sa: Option<esp::OutboundSa>,
    in_sa: Option<esp::InboundSa>,
    /// With IKE: the initiator that keys the SAs.
    ike: Option<ike::Endpoint>,
    l2tp: l2tp::Endpoint,
    tunnel: Option<l2tp::TunnelHandle>,
    session: Option<l2tp::SessionRef>,
    ppp: Option<ppp::Session>,
    creds: ppp::Credentials,
    up: Option<Ipv4Addr>,
    down: bool,
    received_ip: Vec<Vec<u8>>,
    rng: DeterministicRandom,
    /// Raw ESP (IP protocol 50, no NAT) instead of ESP in UDP 4500.
    raw: bool,
    /// The MRU its PPP announces.
    mru: u16,
}

const CLIENT_PEER: l2tp::PeerId = l2tp::PeerId(1);

impl Client {
    /// Keys the SA pair on both sides (the core's inbound SPI is `spi`, its outbound
    /// `spi + 1`) and starts the LAC.
    fn new(
        core: &mut Core,
        now: Instant,
        remote: &str,
        spi: u32,
        ike: u64,
        user: &str,
        password: &str,
    ) -> Self {
        let remote: SocketAddr = remote.parse().unwrap();
        let to_server = params(spi, spi as u8);
        let to_client = params(spi + 1, spi as u8 ^ 0x55);
        core.install_sa_pair(
            now,
            SaPair {
                ike,
                local: SERVER.parse().unwrap(),
                remote,
                inbound: to_server.clone(),
                outbound: to_client.clone(),
                udp_encapsulated: true,
                peer_id: id(user),
            },
        )
        .unwrap();
        let mut rng = DeterministicRandom::new(u64::from(spi));
        let mut l2tp = l2tp::Endpoint::new(
            l2tp::Config::lac(),
            Box::new(DeterministicRandom::new(u64::from(spi) + 7)),
        );
        let tunnel = l2tp.connect(now, CLIENT_PEER).unwrap();
        Self {
            remote,
            addrs: vec![remote],
            out_sa: Some(esp::OutboundSa::new(&to_server, now, &mut rng).unwrap()),
            in_sa: Some(esp::InboundSa::new(&to_client, now).unwrap()),
            ike: None,
            l2tp,
            tunnel: Some(tunnel),
            session: None,
            ppp: None,
            creds: ppp::Credentials::new(user, password),
            up: None,
            down: false,
            received_ip: Vec::new(),
            rng,
            raw: false,
            mru: ppp::Config::default().mru,
        }
    }

    /// A client not behind a NAT, its pair keyed for raw ESP (IP protocol 50), up.
    fn up_raw(core: &mut Core, now: &mut Instant, remote: &str, spi: u32, user: &str) -> Self {
        let c = Self::new_raw(core, *now, remote, spi, user);
        let mut clients = [c];
        drive(core, &mut clients, now, Duration::from_secs(30), all_up);
        let [client] = clients;
        client
    }

    /// A client not behind a NAT, its pair keyed for raw ESP (IP protocol 50).
    fn new_raw(core: &mut Core, now: Instant, remote: &str, spi: u32, user: &str) -> Self {
        let now = &now;
        let mut c = Self::new(core, *now, remote, spi, 1, user, "secret");
        // Re-key the same SPIs as a raw ESP pair (the IKE path: port 500 both ends).
        core.remove_sa_pair(*now, Spi(spi));
        core.install_sa_pair(
            *now,
            SaPair {
                ike: 1,
                local: SERVER_IKE.parse().unwrap(),
                remote: c.remote,
                inbound: params(spi, spi as u8),
                outbound: params(spi + 1, spi as u8 ^ 0x55),
                udp_encapsulated: false,
                peer_id: id(user),
            },
        )
        .unwrap();
        c.raw = true;
        c
    }

    /// A client that keys its SAs with IKE (Main Mode PSK, Quick Mode) against the core.
    /// A client that connected (ESP, L2TP, PPP up) within 30 virtual seconds.
    fn up(
        core: &mut Core,
        now: &mut Instant,
        remote: &str,
        spi: u32,
        ike: u64,
        user: &str,
        password: &str,
    ) -> Self {
        let mut clients = [Self::new(core, *now, remote, spi, ike, user, password)];
        drive(core, &mut clients, now, Duration::from_secs(30), all_up);
        let [client] = clients;
        client
    }

    fn with_ike(
        now: Instant,
        remote_ip: &str,
        psk: &str,
        seed: u64,
        user: &str,
        password: &str,
    ) -> Self {
        let remote: SocketAddr = format!("{remote_ip}:500").parse().unwrap();
        let mut ike = ike::Endpoint::new(
            ike::Config::default(),
            Box::new(ike::StaticPskStore::wildcard(ike::Psk::new(psk.as_bytes()))),
            Box::new(DeterministicRandom::new(seed ^ 0x1ce)),
        );
        let path = ike::Path {
            local: remote,
            remote: SERVER_IKE.parse().unwrap(),
        };
        ike.connect(now, path, ike::Profile::linux()).unwrap();
        Self {
            remote,
            addrs: vec![remote],
            out_sa: None,
            in_sa: None,
            ike: Some(ike),
            l2tp: l2tp::Endpoint::new(
                l2tp::Config::lac(),
                Box::new(DeterministicRandom::new(seed + 7)),
            ),
            tunnel: None,
            session: None,
            ppp: None,
            creds: ppp::Credentials::new(user, password),
            up: None,
            down: false,
            received_ip: Vec::new(),
            rng: DeterministicRandom::new(seed),
            raw: false,
            mru: ppp::Config::default().mru,
        }
    }

    /// IKE datagrams to send, as (server address, bytes with the marker on 4500), and
    /// the SAs installed from IKE's events.
    fn ike_outgoing(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        let Some(ike) = self.ike.as_mut() else {
            return out;
        };
        let mut v = Vec::new();
        loop {
            v.clear();
            let Some(t) = ike.poll_transmit(&mut v) else {
                break;
            };
            let mut bytes = Vec::new();
            if t.non_esp_marker {
                bytes.extend_from_slice(&[0; 4]);
            }
            bytes.extend_from_slice(&v);
            if self.remote != t.path.local {
                self.remote = t.path.local;
                self.addrs.push(t.path.local);
            }
            out.push((t.path.remote, bytes));
        }
        while let Some(ev) = ike.poll_event() {
            if let ike::Event::ChildSaUp(c) = ev {
                self.raw = c.encapsulation == ike::Encapsulation::Transport;
                self.out_sa = Some(esp::OutboundSa::new(&c.outbound, now, &mut self.rng).unwrap());
                self.in_sa = Some(esp::InboundSa::new(&c.inbound, now).unwrap());
                if self.remote != c.path.local {
                    self.remote = c.path.local;
                    self.addrs.push(c.path.local);
                }
                if self.tunnel.is_none() {
                    self.tunnel = Some(self.l2tp.connect(now, CLIENT_PEER).unwrap());
                }
            }
        }
        out
    }

    /// Wraps an L2TP message (in `buf`) in UDP 1701 and ESP.
    fn seal(&mut self, buf: &mut PacketBuf) -> Vec<u8> {
        transport::push_udp(buf, 1701, None).unwrap();
        self.out_sa
            .as_mut()
            .unwrap()
            .seal(IpProtocol::Udp, buf)
            .unwrap();
        buf.payload().to_vec()
    }

    /// Everything the client wants to send, as ESP datagrams.
    fn outgoing(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut v = Vec::new();
        loop {
            v.clear();
            let Some(t) = self.l2tp.poll_transmit(&mut v) else {
                break;
            };
            let mut buf = PacketBuf::new(2048, 128);
            buf.set_payload(&v[..t.len]).unwrap();
            out.push(self.seal(&mut buf));
        }
        while let Some(ev) = self.l2tp.poll_event() {
            match ev {
                l2tp::Event::TunnelUp { .. } => {
                    let s = self.l2tp.open_session(now, self.tunnel.unwrap()).unwrap();
                    self.session = Some(s);
                }
                l2tp::Event::SessionUp(s) => {
                    self.session = Some(s);
                    let config = Arc::new(ppp::Config {
                        mru: self.mru,
                        ..ppp::Config::default()
                    });
                    self.ppp = Some(ppp::Session::new_client(
                        config,
                        self.creds.clone(),
                        now,
                        &mut self.rng,
                    ));
                }
                l2tp::Event::SessionDown { .. } | l2tp::Event::TunnelDown { .. } => {
                    self.down = true
                }
            }
        }
        // L2TP events may have queued more control messages.
        loop {
            v.clear();
            let Some(t) = self.l2tp.poll_transmit(&mut v) else {
                break;
            };
            let mut buf = PacketBuf::new(2048, 128);
            buf.set_payload(&v[..t.len]).unwrap();
            out.push(self.seal(&mut buf));
        }
        if let (Some(ppp), Some(session)) = (self.ppp.as_mut(), self.session) {
            loop {
                v.clear();
                let Some(n) = ppp.poll_transmit(&mut v) else {
                    break;
                };
                let mut buf = PacketBuf::new(2048, 128);
                buf.set_payload(&v[..n]).unwrap();
                if self.l2tp.encap_data(session, &mut buf).is_err() {
                    // The L2TP session is already gone (CDN received): PPP's last
                    // frames have nowhere to go, as on a real LAC.
                    continue;
                }
                transport::push_udp(&mut buf, 1701, None).unwrap();
                self.out_sa
                    .as_mut()
                    .unwrap()
                    .seal(IpProtocol::Udp, &mut buf)
                    .unwrap();
                out.push(buf.payload().to_vec());
            }
            while let Some(ev) = ppp.poll_event() {
                match ev {
                    // From the client's side, `local_ip` is the address it was given.
                    ppp::Event::Up { local_ip, .. } => self.up = Some(local_ip),
                    ppp::Event::Down { .. } => self.down = true,
                    _ => {}
                }
            }
        }
        out
    }

    /// A datagram from the core, sent from `from` (the server's address).
    fn receive_from(&mut self, now: Instant, from: SocketAddr, datagram: Vec<u8>) {
        let is_ike = from.port() == 500 || datagram.starts_with(&[0; 4]);
        if is_ike {
            let body = if from.port() == 500 {
                &datagram[..]
            } else {
                &datagram[4..]
            };
            let path = ike::Path {
                local: self.remote,
                remote: from,
            };
            // A refusal (the wrong PSK test) is the initiator's business; it is counted there.
            let _ = self.ike.as_mut().unwrap().handle_datagram(now, path, body);
        } else {
            self.receive(now, datagram);
        }
    }

    /// An ESP datagram from the core.
    fn receive(&mut self, now: Instant, mut datagram: Vec<u8>) {
        let opened = self.in_sa.as_mut().unwrap().open(&mut datagram).unwrap();
        assert_eq!(opened.next_header, IpProtocol::Udp);
        let range = opened.range.clone();
        // Raw ESP: the core's inner UDP checksum is real (over the outer addresses).
        let addrs = self
            .raw
            .then(|| (SERVER.parse::<SocketAddr>().unwrap().ip(), self.remote.ip()));
        if self.raw {
            assert_ne!(datagram[range.start + 6..range.start + 8], [0, 0]);
        }
        let inner = transport::parse_inner(&datagram[range.clone()], addrs).unwrap();
        assert_eq!(inner.src_port, 1701);
        let l2tp_bytes =
            &datagram[range.start + inner.payload.start..range.start + inner.payload.end];
        if let Ok(Some(p)) = self.l2tp.handle_datagram(now, CLIENT_PEER, l2tp_bytes)
            && let Some(ppp) = self.ppp.as_mut()
            && let Ok(Some(ip)) = ppp.handle_frame(now, p.frame)
        {
            self.received_ip.push(ip.packet().to_vec());
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.l2tp.poll_timeout(),
            self.ppp.as_ref().and_then(ppp::Session::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(ike) = self.ike.as_mut() {
            ike.handle_timeout(now);
        }
        self.l2tp.handle_timeout(now);
        if let Some(p) = self.ppp.as_mut() {
            p.handle_timeout(now);
        }
    }

    /// An IPv4/UDP packet from `src` to `dst`, sent through the tunnel.
    fn send_ip(&mut self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let packet = ipv4_udp(src, dst, payload);
        let datagram = self.send_packet(&packet);
        (packet, datagram)
    }

    /// The ESP datagram that carries the IP `packet` through the tunnel.
    fn send_packet(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut buf = PacketBuf::new(2048, 128);
        buf.set_payload(packet).unwrap();
        let ppp = self.ppp.as_ref().unwrap();
        ppp.encap_ip(ppp::IpVersion::V4, &mut buf).unwrap();
        self.l2tp
            .encap_data(self.session.unwrap(), &mut buf)
            .unwrap();
        transport::push_udp(&mut buf, 1701, None).unwrap();
        self.out_sa
            .as_mut()
            .unwrap()
            .seal(IpProtocol::Udp, &mut buf)
            .unwrap();
        buf.payload().to_vec()
    }
}

/// What the driver does with a raw IPv4 socket's packet: the header parsed for the
/// addresses (`io::esp`), then the ESP part to the core; the range is the packet's.
fn raw_in(core: &mut Core, now: Instant, packet: &mut [u8]) -> Option<Range<usize>> {
    let raw = transport::parse_raw_esp_ipv4(packet).unwrap();
    let offset = raw.esp.start;
    let r = core.handle_raw_esp(
        now,
        std::net::IpAddr::V4(raw.local),
        std::net::IpAddr::V4(raw.remote),
        &mut packet[raw.esp],
    )?;
    Some(r.start + offset..r.end + offset)
}

/// An IPv4 packet as a raw socket returns it: header (protocol 50) then `esp`.
fn raw_ipv4(src: std::net::IpAddr, dst: std::net::IpAddr, esp: &[u8]) -> Vec<u8> {
    let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (src, dst) else {
        panic!("IPv4 only")
    };
    ipv4(src, dst, 50, esp)
}

/// An IPv4 packet (DF, TTL 64) from `src` to `dst` carrying `payload` as `protocol`,
/// header checksum filled in.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap().to_be_bytes();
    let mut p = vec![
        0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, protocol, 0, 0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    let mut v = wire::ip::Ipv4Packet::new_checked(&mut p[..]).unwrap();
    v.fill_checksum();
    p
}

fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let ulen = u16::try_from(8 + payload.len()).unwrap().to_be_bytes();
    let mut udp = vec![0x30, 0x39, 0x00, 0x07, ulen[0], ulen[1], 0, 0];
    udp.extend_from_slice(payload);
    ipv4(src, dst, 17, &udp)
}

/// Moves everything between the core and the clients until nothing moves, jumping the
/// virtual clock to the next timer when idle, until `done` or `limit` of virtual time.
fn drive(
    core: &mut Core,
    clients: &mut [Client],
    now: &mut Instant,
    limit: Duration,
    done: impl Fn(&Core, &[Client]) -> bool,
) {
    let end = *now + limit;
    let server: SocketAddr = SERVER.parse().unwrap();
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    while !done(core, clients) {
        let mut moved = false;
        for c in clients.iter_mut() {
            for (to, mut d) in c.ike_outgoing(*now) {
                moved = true;
                let r = core.handle_udp(*now, to, c.remote, &mut d);
                assert!(r.is_none(), "IKE never reaches the TUN");
            }
            for mut d in c.outgoing(*now) {
                moved = true;
                let r = if c.raw {
                    let mut p = raw_ipv4(c.remote.ip(), server.ip(), &d);
                    raw_in(core, *now, &mut p)
                } else {
                    core.handle_udp(*now, server, c.remote, &mut d)
                };
                assert!(r.is_none(), "control traffic never reaches the TUN");
            }
        }
        loop {
            buf.reset(TUN_HEADROOM);
            let Some(out) = core.poll_output(&mut buf) else {
                break;
            };
            moved = true;
            if let Output::Esp { local, remote } = out {
                assert_eq!(
                    local,
                    server.ip(),
                    "raw ESP leaves from the client's address"
                );
                let c = clients
                    .iter_mut()
                    .find(|c| c.raw && c.remote.ip() == remote)
                    .expect("raw ESP only to a raw ESP client");
                c.receive(*now, buf.payload().to_vec());
                continue;
            }
            let Output::Udp { local, remote } = out else {
                panic!("control output to TUN")
            };
            assert_eq!(
                local.ip(),
                server.ip(),
                "replies leave from the address the client used"
            );
            let c = clients
                .iter_mut()
                .find(|c| c.addrs.contains(&remote))
                .expect("output to a known client");
            c.receive_from(*now, local, buf.payload().to_vec());
        }
        if moved {
            continue;
        }
        let next = clients
            .iter()
            .filter_map(Client::poll_timeout)
            .chain(core.poll_timeout())
            .min()
            .expect("something must be pending");
        assert!(next <= end, "not done within {limit:?} of virtual time");
        *now = next.max(*now);
        core.handle_timeout(*now);
        for c in clients.iter_mut() {
            c.handle_timeout(*now);
        }
    }
}

fn all_up(_: &Core, clients: &[Client]) -> bool {
    clients.iter().all(|c| c.up.is_some())
}

#[test]
fn client_comes_up_and_traffic_flows_both_ways() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut clients = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    let ip = clients[0].up.unwrap();
    assert_eq!(
        ip,
        Ipv4Addr::new(10, 77, 0, 2),
        "first pool address after the gateway's"
    );
    assert_eq!(core.route(ip), Some(Some("alice")));

    // Client -> TUN: the IP packet comes back as a range of the decrypted datagram.
    let (packet, mut datagram) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"ping");
    let range = core
        .handle_udp(
            now,
            SERVER.parse().unwrap(),
            clients[0].remote,
            &mut datagram,
        )
        .unwrap();
    assert_eq!(&datagram[range], &packet[..]);

    // TUN -> client, through the route.
    let reply = ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, b"pong");
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&reply).unwrap();
    let out = core.handle_tun(now, &mut buf).unwrap();
    assert_eq!(
        out,
        Output::Udp {
            local: SERVER.parse().unwrap(),
            remote: clients[0].remote
        }
    );
    clients[0].receive(now, buf.payload().to_vec());
    assert_eq!(clients[0].received_ip, [reply]);

    let status = core.status(now);
    assert_eq!(status.sessions.len(), 1);
    let s = &status.sessions[0];
    assert_eq!(
        (s.user.as_str(), s.inner, s.packets_in, s.packets_out),
        ("alice", Some(ip), 1, 1)
    );
    assert_eq!(s.outer, clients[0].remote);
    assert!(s.esp.as_ref().unwrap().udp_encapsulated);
    assert_eq!(s.esp.as_ref().unwrap().suite, "aes-cbc-128/hmac-sha1-96");
}

#[test]
fn spoofed_sources_and_client_to_client_are_dropped_and_counted() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret", "bob:pw"]);
    let mut clients = [
        Client::new(
            &mut core,
            now,
            "198.51.100.7:4500",
            0x1000,
            1,
            "alice",
            "secret",
        ),
        Client::new(&mut core, now, "198.51.100.8:4500", 0x2000, 2, "bob", "pw"),
    ];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let (a, b) = (clients[0].up.unwrap(), clients[1].up.unwrap());
    assert_ne!(a, b);
    let server: SocketAddr = SERVER.parse().unwrap();

    // Alice pretending to be Bob.
    let (_, mut d) = clients[0].send_ip(b, Ipv4Addr::new(9, 9, 9, 9), b"x");
    assert_eq!(
        core.handle_udp(now, server, clients[0].remote, &mut d),
        None
    );
    assert_eq!(core.counters().get(Counter::SpoofedSource), 1);
    // Alice talking to Bob directly: refused by default.
    let (_, mut d) = clients[0].send_ip(a, b, b"x");
    assert_eq!(
        core.handle_udp(now, server, clients[0].remote, &mut d),
        None
    );
    assert_eq!(core.counters().get(Counter::ClientToClient), 1);
    // To the gateway itself: fine.
    let (_, mut d) = clients[0].send_ip(a, Ipv4Addr::new(10, 77, 0, 1), b"x");
    assert!(
        core.handle_udp(now, server, clients[0].remote, &mut d)
            .is_some()
    );
    // A replayed datagram is dropped by ESP.
    let (_, d) = clients[0].send_ip(a, Ipv4Addr::new(9, 9, 9, 9), b"x");
    let mut first = d.clone();
    let mut again = d;
    assert!(
        core.handle_udp(now, server, clients[0].remote, &mut first)
            .is_some()
    );
    assert_eq!(
        core.handle_udp(now, server, clients[0].remote, &mut again),
        None
    );
    assert_eq!(core.counters().get(Counter::EspReplayed), 1);
    // A packet from the TUN for an address nobody holds.
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&ipv4_udp(
        Ipv4Addr::new(9, 9, 9, 9),
        Ipv4Addr::new(10, 77, 0, 200),
        b"x",
    ))
    .unwrap();
    assert_eq!(core.handle_tun(now, &mut buf), None);
    assert_eq!(core.counters().get(Counter::NoRoute), 1);
    let report = core.status(now);
    assert_eq!(
        report.counters.get("dropped.spoofed_source"),
        Some(&1),
        "{:?}",
        report.counters
    );
}

#[test]
fn two_clients_behind_one_nat_both_work() {
    // Same public address, different NAT ports, each with its own SA pair: the L2TP
    // messages of both arrive as NAT:1701 -> 1701 and are told apart by the SA.
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret", "bob:pw"]);
    let mut clients = [
        Client::new(
            &mut core,
            now,
            "203.0.113.5:4500",
            0x1000,
            1,
            "alice",
            "secret",
        ),
        Client::new(&mut core, now, "203.0.113.5:61000", 0x2000, 2, "bob", "pw"),
    ];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let (a, b) = (clients[0].up.unwrap(), clients[1].up.unwrap());
    assert_ne!(a, b);
    assert_eq!(core.route(a), Some(Some("alice")));
    assert_eq!(core.route(b), Some(Some("bob")));
    for (i, ip) in [(0, a), (1, b)] {
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        buf.set_payload(&ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, b"hi"))
            .unwrap();
        let Some(Output::Udp { remote, .. }) = core.handle_tun(now, &mut buf) else {
            panic!("no output")
        };
        assert_eq!(remote, clients[i].remote);
        clients[i].receive(now, buf.payload().to_vec());
        assert_eq!(clients[i].received_ip.len(), 1);
    }
}

#[test]
fn wrong_password_is_refused_and_counted() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut clients = [Client::new(
        &mut core,
        now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "wrong",
    )];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(60),
        |_, c| c[0].down,
    );
    assert!(clients[0].up.is_none());
    assert_eq!(core.counters().get(Counter::AuthFailures), 1);
    assert!(core.routes.is_empty());
}

#[test]
fn nt_hash_only_user_logs_in_with_mschapv2() {
    let hash = hex::encode(crate::users::NtHash::of_password("hunter2").as_bytes());
    let users = UserDb::parse(&format!("carol nt:{hash}\n")).unwrap();
    let (mut core, mut now) = core_with(move |c| c.users = users, &[]);
    let clients = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "carol",
        "hunter2",
    )];
    assert_eq!(core.route(clients[0].up.unwrap()), Some(Some("carol")));
}

#[test]
fn a_reconnecting_user_replaces_the_old_session() {
    let (mut core, mut now) = core_with(|c| c.sessions_per_user = 1, &["alice:secret"]);
    let first = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    let old_ip = first[0].up.unwrap();
    // The phone wakes up on a new address and a new IKE SA; the old one is still held.
    let mut both = [
        first.into_iter().next().unwrap(),
        Client::new(
            &mut core,
            now,
            "198.51.100.99:4500",
            0x3000,
            3,
            "alice",
            "secret",
        ),
    ];
    drive(
        &mut core,
        &mut both,
        &mut now,
        Duration::from_secs(60),
        |core, c| c[1].up.is_some() && c[0].down && core.session_count() == 1,
    );
    assert_eq!(core.counters().get(Counter::SessionsReplaced), 1);
    let new_ip = both[1].up.unwrap();
    assert_eq!(core.route(new_ip), Some(Some("alice")));
    assert_ne!(
        core.route(old_ip),
        Some(Some("alice")),
        "the old route is gone"
    );
}

#[test]
fn losing_the_last_sa_pair_tears_everything_down() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    );
    assert_eq!(core.pool().in_use(), 1);
    now += Duration::from_secs(1);
    core.remove_sa_pair(now, Spi(0x1000));
    assert_eq!(core.session_count(), 0);
    assert_eq!(core.pool().in_use(), 0, "address released");
    assert!(core.routes.is_empty());
    assert_eq!(core.status(now).counters["peers"], 0);
}

#[test]
fn sigterm_says_goodbye_to_every_peer() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut clients = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    core.begin_shutdown(now);
    assert!(!core.is_shut_down(), "goodbyes are queued");
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    let mut sent = 0;
    while core.poll_output(&mut buf).is_some() {
        clients[0].receive(now, buf.payload().to_vec());
        buf.reset(TUN_HEADROOM);
        sent += 1;
    }
    assert!(sent >= 2, "LCP Terminate-Request and StopCCN");
    assert!(core.is_shut_down());
    let _ = clients[0].outgoing(now);
    assert!(clients[0].down, "the client saw the link go down");
}

#[test]
fn ike_main_mode_quick_mode_then_l2tp_and_ppp_over_the_negotiated_sas() {
    // The whole chain from UDP 500: the ike initiator (strongSwan's proposals), Main Mode
    // PSK, the float to 4500 (force_encapsulation), Quick Mode, then L2TP and PPP over
    // the negotiated UDP-encapsulated ESP SAs, then data both ways.
    let (mut core, mut now) = core_with(
        |c| c.psk = crate::secret::Secret::new("sharedsecret"),
        &["alice:secret"],
    );
    let mut clients = [Client::with_ike(
        now,
        "198.51.100.7",
        "sharedsecret",
        11,
        "alice",
        "secret",
    )];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(60),
        all_up,
    );
    let ip = clients[0].up.unwrap();
    assert_eq!(clients[0].remote.port(), 4500, "floated to NAT-T");
    let status = core.status(now);
    assert_eq!(status.counters["ike_sas"], 1);
    assert_eq!(status.counters["ike_child_sas_established"], 1);
    let session = &status.sessions[0];
    assert_eq!((session.user.as_str(), session.inner), ("alice", Some(ip)));
    assert!(session.esp.as_ref().unwrap().udp_encapsulated);

    let (packet, mut datagram) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"ping");
    let range = core
        .handle_udp(
            now,
            SERVER.parse().unwrap(),
            clients[0].remote,
            &mut datagram,
        )
        .unwrap();
    assert_eq!(&datagram[range], &packet[..]);
    let reply = ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, b"pong");
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&reply).unwrap();
    let Some(Output::Udp { remote, .. }) = core.handle_tun(now, &mut buf) else {
        panic!("no output")
    };
    assert_eq!(remote, clients[0].remote);
    clients[0].receive(now, buf.payload().to_vec());
    assert_eq!(clients[0].received_ip, [reply]);

    // SIGTERM: LCP Terminate, StopCCN, then the IKE DELETE, in that order.
    core.begin_shutdown(now);
    let mut kinds = Vec::new();
    while let Some(Output::Udp { .. }) = core.poll_output(&mut buf) {
        kinds.push(if buf.payload().starts_with(&[0; 4]) {
            "ike"
        } else {
            "esp"
        });
        buf.reset(TUN_HEADROOM);
    }
    assert!(kinds.len() >= 3, "{kinds:?}");
    assert_eq!(
        kinds.last(),
        Some(&"ike"),
        "the DELETE goes last: {kinds:?}"
    );
    assert!(
        kinds.iter().filter(|k| **k == "esp").count() >= 2,
        "{kinds:?}"
    );
}

#[test]
fn ike_with_the_wrong_psk_installs_nothing() {
    let (mut core, mut now) = core_with(
        |c| c.psk = crate::secret::Secret::new("sharedsecret"),
        &["alice:secret"],
    );
    let mut clients = [Client::with_ike(
        now,
        "198.51.100.7",
        "wrong",
        12,
        "alice",
        "secret",
    )];
    // Bounded virtual time: the initiator gives up after its retransmissions.
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(200),
        |_, c| {
            c[0].ike
                .as_ref()
                .is_some_and(|i| i.poll_timeout().is_none())
                || c[0].up.is_some()
        },
    );
    assert!(clients[0].up.is_none());
    let status = core.status(now);
    assert_eq!(status.counters["esp_inbound_sas"], 0);
    assert!(
        status.counters["dropped.ike_bad_hashes"] + status.counters["dropped.ike_auth_failures"]
            >= 1,
        "{:?}",
        status.counters
    );
}

#[test]
fn rekeyed_pair_carries_outbound_traffic_only_after_the_peer_uses_it() {
    // Quick Mode rekey of the same ISAKMP SA.
    new_pair_carries_outbound_only_after_the_peer_uses_it(1);
}

#[test]
fn first_pair_of_a_reauthenticated_isakmp_sa_waits_for_the_peer_too() {
    // strongSwan's IKEv1 reauthentication: a new ISAKMP SA from the same address and
    // port whose first Quick Mode is no rekey to IKE. Sending on it before the client
    // has processed QM2 lost a ping reply in interop scenario 5.
    new_pair_carries_outbound_only_after_the_peer_uses_it(2);
}

fn new_pair_carries_outbound_only_after_the_peer_uses_it(ike: u64) {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut clients = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    let ip = clients[0].up.unwrap();
    let spi_of = |datagram: &[u8]| u32::from_be_bytes(datagram[..4].try_into().unwrap());
    let to_client = |core: &mut Core| {
        let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
        buf.set_payload(&ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, b"x"))
            .unwrap();
        core.handle_tun(now, &mut buf).unwrap();
        buf.payload().to_vec()
    };
    assert_eq!(spi_of(&to_client(&mut core)), 0x1001);

    // The new pair: SPIs 0x5000 (in) / 0x5001 (out).
    let new_in = params(0x5000, 0x77);
    let new_out = params(0x5001, 0x78);
    core.install_sa_pair(
        now,
        SaPair {
            ike,
            local: SERVER.parse().unwrap(),
            remote: clients[0].remote,
            inbound: new_in.clone(),
            outbound: new_out,
            udp_encapsulated: true,
            peer_id: id("alice"),
        },
    )
    .unwrap();
    assert_eq!(
        core.status(now).counters["peers"],
        1,
        "the new pair joins the same peer"
    );
    assert_eq!(
        spi_of(&to_client(&mut core)),
        0x1001,
        "not before the peer has used the new SA"
    );

    // The old SA still works inbound, and so does the new one, at once.
    let (_, mut old) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"old");
    assert!(
        core.handle_udp(now, SERVER.parse().unwrap(), clients[0].remote, &mut old)
            .is_some()
    );
    let mut rng = DeterministicRandom::new(99);
    clients[0].out_sa = Some(esp::OutboundSa::new(&new_in, now, &mut rng).unwrap());
    let (_, mut new) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"new");
    assert!(
        core.handle_udp(now, SERVER.parse().unwrap(), clients[0].remote, &mut new)
            .is_some()
    );
    assert_eq!(
        spi_of(&to_client(&mut core)),
        0x5001,
        "switched after the first packet on the new SA"
    );

    // Deleting the old pair keeps the session: the peer still has the new one.
    core.remove_sa_pair(now, Spi(0x1000));
    assert_eq!(core.session_count(), 1);
    assert_eq!(spi_of(&to_client(&mut core)), 0x5001);
}

#[test]
fn a_static_user_gets_exactly_their_address_through_ipcp() {
    let (mut core, mut now) = core_with(|c| c.sessions_per_user = 1, &[]);
    core.set_users(crate::users::UserDb::parse("alice secret 10.77.0.50\nbob pw\n").unwrap());
    let mut clients = [
        Client::new(
            &mut core,
            now,
            "198.51.100.7:4500",
            0x1000,
            1,
            "alice",
            "secret",
        ),
        Client::new(&mut core, now, "198.51.100.8:4500", 0x2000, 2, "bob", "pw"),
    ];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let static_ip = Ipv4Addr::new(10, 77, 0, 50);
    assert_eq!(clients[0].up, Some(static_ip), "alice's static address");
    assert_eq!(core.route(static_ip), Some(Some("alice")));
    let bob_ip = clients[1].up.unwrap();
    assert_eq!(bob_ip, Ipv4Addr::new(10, 77, 0, 2), "bob from the pool");
    assert_eq!(core.pool().in_use(), 2, "no address held besides the two");

    // Alice reconnects: the new session replaces the old one and takes the address over.
    let [alice, bob] = clients;
    let mut again = [
        alice,
        bob,
        Client::new(
            &mut core,
            now,
            "198.51.100.99:4500",
            0x3000,
            3,
            "alice",
            "secret",
        ),
    ];
    drive(
        &mut core,
        &mut again,
        &mut now,
        Duration::from_secs(60),
        |core, c| c[2].up.is_some() && c[0].down && core.session_count() == 2,
    );
    assert_eq!(again[2].up, Some(static_ip));
    assert_eq!(core.route(static_ip), Some(Some("alice")));
    assert_eq!(core.pool().in_use(), 2);
    assert!(core.pool().is_used(static_ip));
}

#[test]
fn a_silent_peer_loses_its_ipsec_sas_when_its_last_tunnel_times_out() {
    // A client that vanished without goodbye and without DPD (Windows announces none):
    // LCP echo ends its session, the unanswered HELLO ends its tunnel, and then its SA
    // pairs must go too instead of living on to their lifetimes.
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    );
    assert_eq!(core.status(now).counters["peers"], 1);
    let end = now + Duration::from_secs(1800);
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    while core.status(now).counters["peers"] != 0 {
        // The client hears nothing and says nothing.
        while core.poll_output(&mut buf).is_some() {
            buf.reset(TUN_HEADROOM);
        }
        now = core.poll_timeout().expect("a timer while the peer is held");
        assert!(now < end, "the dead peer is still held after 30 minutes");
        core.handle_timeout(now);
    }
    let counters = core.status(now).counters;
    assert_eq!(counters["dead_peers_released"], 1, "{counters:?}");
    assert_eq!(core.session_count(), 0);
    assert_eq!(core.pool().in_use(), 0);
}

#[test]
fn raw_esp_client_comes_up_and_traffic_flows_both_ways() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut c = Client::up_raw(&mut core, &mut now, "198.51.100.7:500", 0x3000, "alice");
    let ip = c.up.unwrap();
    // Client -> TUN: the IP packet comes back as a range of the raw IPv4 packet.
    let (packet, esp) = c.send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"ping");
    let mut raw = raw_ipv4(c.remote.ip(), "192.0.2.1".parse().unwrap(), &esp);
    let range = raw_in(&mut core, now, &mut raw).unwrap();
    assert_eq!(&raw[range], &packet[..]);
    // TUN -> client: raw ESP from the address the client used.
    let reply = ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, b"pong");
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&reply).unwrap();
    let out = core.handle_tun(now, &mut buf).unwrap();
    assert_eq!(
        out,
        Output::Esp {
            local: "192.0.2.1".parse().unwrap(),
            remote: "198.51.100.7".parse().unwrap(),
        }
    );
    // The buffer starts at the SPI (the kernel writes the IP header).
    assert_eq!(&buf.payload()[..4], &(0x3001u32).to_be_bytes());
    c.receive(now, buf.payload().to_vec());
    assert_eq!(c.received_ip, [reply]);
    let status = core.status(now);
    let esp = status.sessions[0].esp.as_ref().unwrap();
    assert!(!esp.udp_encapsulated, "status shows raw ESP");
}

#[test]
fn esp_on_the_other_encapsulation_or_unknown_spi_is_dropped_counted_never_answered() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret", "bob:secret"]);
    let mut clients = [
        Client::new(
            &mut core,
            now,
            "198.51.100.8:4500",
            0x5000,
            2,
            "bob",
            "secret",
        ),
        Client::new_raw(&mut core, now, "198.51.100.7:500", 0x3000, "alice"),
    ];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let [mut udp, mut raw] = clients;
    let server: SocketAddr = SERVER.parse().unwrap();
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    while core.poll_output(&mut buf).is_some() {}
    let wrong = |core: &Core| core.counters().get(Counter::EspWrongEncapsulation);

    // The raw ESP client's packet arriving in UDP 4500: dropped, counted.
    let raw_ip = raw.up.unwrap();
    let (packet, esp) = raw.send_ip(raw_ip, Ipv4Addr::new(9, 9, 9, 9), b"x");
    let mut d = esp.clone();
    assert_eq!(core.handle_udp(now, server, raw.remote, &mut d), None);
    assert_eq!(wrong(&core), 1);
    // The UDP client's packet arriving as raw ESP: dropped, counted.
    let (_, esp_udp) = udp.send_ip(udp.up.unwrap(), Ipv4Addr::new(9, 9, 9, 9), b"y");
    let mut p = raw_ipv4(udp.remote.ip(), server.ip(), &esp_udp);
    assert_eq!(raw_in(&mut core, now, &mut p), None);
    assert_eq!(wrong(&core), 2);
    // An unknown SPI, raw: dropped, counted.
    let mut unknown = esp.clone();
    unknown[..4].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    let mut p = raw_ipv4(raw.remote.ip(), server.ip(), &unknown);
    assert_eq!(raw_in(&mut core, now, &mut p), None);
    assert_eq!(core.counters().get(Counter::EspUnknownSpi), 1);
    // Nothing was answered.
    assert!(core.poll_output(&mut buf).is_none());
    // The refused packet consumed nothing: the same bytes on the right path open.
    let mut p = raw_ipv4(raw.remote.ip(), server.ip(), &esp);
    let range = raw_in(&mut core, now, &mut p).unwrap();
    assert_eq!(&p[range], &packet[..]);
}

#[test]
fn ike_without_nat_negotiates_transport_mode_and_raw_esp() {
    // Honest NAT-D, a client not behind a NAT: IKE stays on 500, Quick Mode agrees on
    // plain transport mode (1), and the pair is raw ESP.
    let (mut core, mut now) = core_with(
        |c| {
            c.ike.force_encapsulation = false;
            c.psk = crate::secret::Secret::new("sharedkey");
        },
        &["alice:secret"],
    );
    let mut clients = [Client::with_ike(
        now,
        "198.51.100.9",
        "sharedkey",
        77,
        "alice",
        "secret",
    )];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let c = &clients[0];
    assert!(
        c.raw,
        "Quick Mode chose transport mode, not UDP-encapsulated"
    );
    assert_eq!(c.remote.port(), 500, "no float to 4500 without NAT");
    let status = core.status(now);
    assert!(!status.sessions[0].esp.as_ref().unwrap().udp_encapsulated);
    assert_eq!(core.counters().get(Counter::EspWrongEncapsulation), 0);
}

/// An IPv4 TCP SYN from `src` to `dst` announcing `mss`, checksums filled in.
fn tcp_syn(src: Ipv4Addr, dst: Ipv4Addr, mss: u16) -> Vec<u8> {
    // Ports 40000 -> 80, data offset 6 words, SYN, window, then the MSS option.
    let mut tcp = vec![0u8; 24];
    tcp[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
    tcp[12] = 0x60;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp[20..].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    let mut p = ipv4(src, dst, 6, &tcp);
    let ck = tcp_checksum(&p);
    p[36..38].copy_from_slice(&ck.to_be_bytes());
    p
}

/// The TCP checksum of an IPv4 packet, computed from scratch.
fn tcp_checksum(p: &[u8]) -> u16 {
    let v = wire::ip::Ipv4Packet::new_checked(p).unwrap();
    let mut t = p[20..].to_vec();
    t[16..18].fill(0);
    let pseudo = wire::checksum::pseudo_header(
        v.src().into(),
        v.dst().into(),
        6,
        u32::try_from(t.len()).unwrap(),
    );
    wire::checksum::finish(wire::checksum::sum(pseudo, &t))
}

#[test]
fn tcp_syns_both_ways_announce_no_more_than_the_clients_mru_allows() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut client = Client::new(
        &mut core,
        now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    );
    client.mru = 1200;
    let mut clients = [client];
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        all_up,
    );
    let ip = clients[0].up.unwrap();
    let server = Ipv4Addr::new(198, 51, 100, 80);

    // A host behind the gateway answers with MSS 1460: the client sees 1200 - 40.
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&tcp_syn(server, ip, 1460)).unwrap();
    core.handle_tun(now, &mut buf).unwrap();
    clients[0].receive(now, buf.payload().to_vec());
    let got = clients[0].received_ip.pop().unwrap();
    assert_eq!(u16::from_be_bytes([got[42], got[43]]), 1160);
    assert_eq!(u16::from_be_bytes([got[36], got[37]]), tcp_checksum(&got));

    // The client's own SYN with MSS 1360 reaches the TUN with 1160 too.
    let mut datagram = clients[0].send_packet(&tcp_syn(ip, server, 1360));
    let range = core
        .handle_udp(
            now,
            SERVER.parse().unwrap(),
            clients[0].remote,
            &mut datagram,
        )
        .unwrap();
    let got = &datagram[range];
    assert_eq!(u16::from_be_bytes([got[42], got[43]]), 1160);
    assert_eq!(u16::from_be_bytes([got[36], got[37]]), tcp_checksum(got));

    // A SYN already below the limit is not touched.
    let small = tcp_syn(server, ip, 1000);
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&small).unwrap();
    core.handle_tun(now, &mut buf).unwrap();
    clients[0].receive(now, buf.payload().to_vec());
    assert_eq!(clients[0].received_ip.pop().unwrap(), small);
    assert_eq!(core.status(now).counters.get("tcp_mss_clamped"), Some(&2));
}
