//! Issue 14 in the core: authenticated users against each other (SA pairs bound to
//! their ISAKMP SA and identity, NAT rebinding only on proof), traffic lifetimes,
//! authentication backoff, the unauthenticated session cap, and escaped log strings.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esp::Spi;
use wire::PacketBuf;
use wire::random::DeterministicRandom;

use super::*;
use crate::engine::{Engine, Output, TUN_HEADROOM};

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

/// An IP packet from the internet to `ip`, through the core: the SPI it was sealed
/// with and where it went.
fn to_client(core: &mut Core, now: Instant, ip: Ipv4Addr, len: usize) -> (u32, SocketAddr) {
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    buf.set_payload(&ipv4_udp(Ipv4Addr::new(9, 9, 9, 9), ip, &vec![0x42; len]))
        .unwrap();
    let Some(Output::Udp { remote, .. }) = core.handle_tun(now, &mut buf) else {
        panic!("no output to {ip}")
    };
    let spi = u32::from_be_bytes(buf.payload()[..4].try_into().unwrap());
    (spi, remote)
}

/// One peer's pair as status shows it: (outer, inbound SPI, outbound SPI, inner).
fn victim_status(core: &Core, now: Instant, user: &str) -> (SocketAddr, String, String, Ipv4Addr) {
    let report = core.status(now);
    let s = report
        .sessions
        .iter()
        .find(|s| s.user == user)
        .expect("session");
    let esp = s.esp.as_ref().unwrap();
    (
        s.outer,
        esp.inbound_spi.clone(),
        esp.outbound_spi.clone(),
        s.inner.unwrap(),
    )
}

fn pair(ike: u64, remote: SocketAddr, spi: u32, who: &str) -> SaPair {
    SaPair {
        ike,
        local: server(),
        remote,
        inbound: params(spi, 0x33),
        outbound: params(spi + 1, 0x34),
        udp_encapsulated: true,
        peer_id: id(who),
    }
}

#[test]
fn another_users_pair_naming_the_victims_address_neither_joins_nor_moves_the_victim() {
    // What the old IKE code reported for one user's Quick Mode sent from a victim's
    // address under the user's own ISAKMP SA: a pair of that SA with the victim's path.
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret", "mallory:pw"]);
    let mut victim = [Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    let before = victim_status(&core, now, "alice");
    let ip = before.3;
    core.install_sa_pair(now, pair(2, victim[0].remote, 0x6000, "mallory"))
        .unwrap();
    // Even with the victim's identity claimed (a PSK does not stop that), from the
    // attacker's own ISAKMP SA it is not the victim's re-authentication: that needs
    // the victim's proven path, and a newer SA; an older one is refused too.
    core.install_sa_pair(
        now,
        pair(3, "192.0.2.66:4500".parse().unwrap(), 0x7000, "alice"),
    )
    .unwrap();
    assert_eq!(core.status(now).counters["peers"], 3, "peers of their own");
    assert_eq!(core.counters().get(Counter::SaPairsNotJoined), 1);
    assert_eq!(core.counters().get(Counter::SaPairsReauthenticated), 0);
    assert_eq!(victim_status(&core, now, "alice"), before, "nothing moved");
    // The victim's traffic still goes out on its own SA to its own address, and comes
    // in as before.
    assert_eq!(
        to_client(&mut core, now, ip, 10),
        (0x1001, victim[0].remote)
    );
    let (packet, mut datagram) = victim[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"ping");
    let r = core
        .handle_udp(now, server(), victim[0].remote, &mut datagram)
        .unwrap();
    assert_eq!(&datagram[r], &packet[..]);
    // The attacker's pairs going away leaves the victim's session alone.
    core.remove_sa_pair(now, Spi(0x6000));
    core.remove_sa_pair(now, Spi(0x7000));
    assert_eq!(core.session_count(), 1);
    drive(
        &mut core,
        &mut victim,
        &mut now,
        Duration::from_secs(5),
        |_, _| true,
    );
    assert_eq!(victim_status(&core, now, "alice"), before);
}

#[test]
fn a_reauthentication_with_the_same_identity_on_the_same_path_joins() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let c = Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        5,
        "alice",
        "secret",
    );
    let ip = c.up.unwrap();
    // An older ISAKMP SA of the same identity and path does not join (not "new").
    core.install_sa_pair(now, pair(4, c.remote, 0x4000, "alice"))
        .unwrap();
    assert_eq!(core.status(now).counters["peers"], 2);
    core.remove_sa_pair(now, Spi(0x4000));
    // A newer one does: the session keeps its address and gains the new pair.
    core.install_sa_pair(now, pair(6, c.remote, 0x5000, "alice"))
        .unwrap();
    assert_eq!(core.status(now).counters["peers"], 1);
    assert_eq!(core.counters().get(Counter::SaPairsReauthenticated), 1);
    // And a Quick Mode rekey under the old ISAKMP SA still joins its own peer.
    core.install_sa_pair(now, pair(5, c.remote, 0x5100, "alice"))
        .unwrap();
    assert_eq!(core.status(now).counters["peers"], 1);
    // The old pair is deleted: the session lives on over the new ones.
    core.remove_sa_pair(now, Spi(0x1000));
    assert_eq!(core.session_count(), 1);
    assert_eq!(core.route(ip), Some(Some("alice")));
}

#[test]
fn a_different_identity_on_the_same_nat_port_is_another_peer() {
    // Alice's NAT mapping is reused for Bob (her client went away without a DELETE):
    // Bob's ISAKMP SA completes Main Mode from the same address and port.
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret", "bob:pw"]);
    let alice = Client::up(
        &mut core,
        &mut now,
        "203.0.113.5:40000",
        0x1000,
        1,
        "alice",
        "secret",
    );
    let before = victim_status(&core, now, "alice");
    core.install_sa_pair(now, pair(2, alice.remote, 0x2000, "bob"))
        .unwrap();
    assert_eq!(core.status(now).counters["peers"], 2);
    assert_eq!(core.counters().get(Counter::SaPairsNotJoined), 1);
    assert_eq!(victim_status(&core, now, "alice"), before);
    assert_eq!(
        to_client(&mut core, now, before.3, 10),
        (0x1001, alice.remote)
    );
    // Bob's pair is his own peer's: removing Alice's leaves it, and the reverse.
    core.remove_sa_pair(now, Spi(0x1000));
    assert_eq!(core.status(now).counters["peers"], 1);
    assert!(core.inbound.get(Spi(0x2000)).is_some());
}

#[test]
fn nat_rebinding_follows_only_the_newest_packet_and_moves_the_isakmp_sa_too() {
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
    let ike_path = |core: &Core| core.ike.ike_sas()[0].path;
    let old = clients[0].remote;
    assert_eq!(ike_path(&core).remote, old);
    // Two packets sealed in order; the later one arrives first, from a new address.
    let (_, mut first) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"1");
    let (_, mut second) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"2");
    let moved: SocketAddr = "198.51.100.8:33000".parse().unwrap();
    assert!(core.handle_udp(now, server(), moved, &mut second).is_some());
    assert_eq!(core.counters().get(Counter::NatRebinds), 1);
    assert_eq!(to_client(&mut core, now, ip, 10).1, moved);
    assert_eq!(ike_path(&core).remote, moved, "IKE follows (DPD, DELETE)");
    // The older one, late and from elsewhere (an on-path replay of a delayed packet),
    // is accepted in the replay window but moves nothing.
    let elsewhere: SocketAddr = "192.0.2.66:4500".parse().unwrap();
    assert!(
        core.handle_udp(now, server(), elsewhere, &mut first)
            .is_some()
    );
    assert_eq!(core.counters().get(Counter::NatRebinds), 1);
    assert_eq!(to_client(&mut core, now, ip, 10).1, moved);
    assert_eq!(ike_path(&core).remote, moved);
}

#[test]
fn a_kilobyte_soft_limit_starts_exactly_one_rekey_through_ike() {
    let (mut core, mut now) = core_with(
        |c| c.psk = crate::secret::Secret::new("sharedsecret"),
        &["alice:secret"],
    );
    let mut clients = [Client::with_ike(
        now,
        "198.51.100.7",
        "sharedsecret",
        21,
        "alice",
        "secret",
    )];
    // The client offers 64 KiB ESP SAs (soft at 90 %).
    let mut profile = ike::Profile::linux();
    for o in &mut profile.esp {
        o.life_kb = Some(64);
    }
    let mut ike = ike::Endpoint::new(
        ike::Config::default(),
        Box::new(ike::StaticPskStore::wildcard(ike::Psk::new(
            "sharedsecret".as_bytes(),
        ))),
        Box::new(DeterministicRandom::new(21 ^ 0x1ce)),
    );
    let path = ike::Path {
        local: clients[0].remote,
        remote: SERVER_IKE.parse().unwrap(),
    };
    ike.connect(now, path, profile).unwrap();
    clients[0].ike = Some(ike);
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(60),
        all_up,
    );
    let ip = clients[0].up.unwrap();
    let first_spi = core.status(now).sessions[0]
        .esp
        .as_ref()
        .unwrap()
        .outbound_spi
        .clone();
    assert_eq!(core.counters().get(Counter::LifetimeRekeys), 0);
    // 1000-byte packets out until past 90 % of 64 KiB, and well after.
    for _ in 0..62 {
        to_client(&mut core, now, ip, 1000);
        // The lifetime work is due at once.
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
    }
    assert_eq!(
        core.counters().get(Counter::LifetimeRekeys),
        1,
        "exactly one"
    );
    assert_eq!(core.counters().get(Counter::LifetimeRekeysImpossible), 0);
    // Inbound past the soft limit too: still the one rekey.
    for _ in 0..60 {
        let (_, mut d) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), &[7; 1000]);
        assert!(
            core.handle_udp(now, server(), clients[0].remote, &mut d)
                .is_some()
        );
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
    }
    assert_eq!(core.counters().get(Counter::LifetimeRekeys), 1);
    // The Quick Mode went out; the client takes it and the new pair comes up.
    drive(
        &mut core,
        &mut clients,
        &mut now,
        Duration::from_secs(30),
        |core, _| core.status(core.started).counters["ike_child_sas_established"] >= 2,
    );
    let (_, mut d) = clients[0].send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"new pair");
    assert!(
        core.handle_udp(now, server(), clients[0].remote, &mut d)
            .is_some()
    );
    let newest = core.status(now).sessions[0]
        .esp
        .as_ref()
        .unwrap()
        .outbound_spi
        .clone();
    assert_ne!(newest, first_spi, "rekeyed");
    assert_eq!(core.counters().get(Counter::LifetimeRekeys), 1);
}

#[test]
fn a_hard_limit_retires_the_pair_and_it_is_deleted_once_a_newer_one_carries_traffic() {
    let (mut core, mut now) = core_with(|_| {}, &["alice:secret"]);
    let mut c = Client::up(
        &mut core,
        &mut now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    );
    let ip = c.up.unwrap();
    // A rekey (same ISAKMP SA), hand-keyed: our outbound on it has 20 kB, the old
    // pair's outbound gets a limit that the next packets reach.
    let mut out = params(0x5001, 0x78);
    out.lifetime = esp::Lifetime {
        bytes: Some(20_000),
        ..esp::Lifetime::default()
    };
    let new_in = params(0x5000, 0x77);
    core.install_sa_pair(
        now,
        SaPair {
            outbound: out,
            inbound: new_in.clone(),
            ..pair(1, c.remote, 0x5000, "alice")
        },
    )
    .unwrap();
    // Replace the old pair with one of a 3000-byte outbound lifetime (same SPIs).
    let mut old_out = params(0x1001, 0x55);
    old_out.lifetime = esp::Lifetime {
        bytes: Some(3000),
        ..esp::Lifetime::default()
    };
    {
        let peer = core.peers.values_mut().next().unwrap();
        let p = peer
            .pairs
            .iter_mut()
            .find(|p| p.inbound_spi == Spi(0x1000))
            .unwrap();
        p.outbound = esp::OutboundSa::new(&old_out, now, &mut DeterministicRandom::new(1)).unwrap();
        p.out_expiry = p.outbound.expiry();
    }
    let mut spis = Vec::new();
    for _ in 0..5 {
        spis.push(to_client(&mut core, now, ip, 1000).0);
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
    }
    // 3 packets of ~1050 bytes reach 3000: the rest fall back to the newer pair at once
    // (no packet is refused), before the peer has used it.
    assert_eq!(spis, [0x1001, 0x1001, 0x1001, 0x5001, 0x5001]);
    assert_eq!(core.counters().get(Counter::EspLifetimeExpired), 0);
    assert_eq!(core.counters().get(Counter::LifetimePairsRetired), 1);
    // Soft came first, and no ISAKMP SA knows a hand-keyed pair.
    assert_eq!(core.counters().get(Counter::LifetimeRekeysImpossible), 1);
    assert_eq!(core.counters().get(Counter::LifetimePairsDeleted), 0);
    assert!(
        core.inbound.get(Spi(0x1000)).is_some(),
        "kept until replaced"
    );
    // The peer sends on the new pair: the retired one goes.
    c.out_sa = Some(esp::OutboundSa::new(&new_in, now, &mut DeterministicRandom::new(9)).unwrap());
    let (_, mut d) = c.send_ip(ip, Ipv4Addr::new(9, 9, 9, 9), b"new");
    assert!(core.handle_udp(now, server(), c.remote, &mut d).is_some());
    assert!(core.poll_timeout().is_some_and(|t| t <= now), "due at once");
    core.handle_timeout(now);
    assert_eq!(core.counters().get(Counter::LifetimePairsDeleted), 1);
    assert!(core.inbound.get(Spi(0x1000)).is_none());
    assert_eq!(core.session_count(), 1);
    assert_eq!(to_client(&mut core, now, ip, 10).0, 0x5001);
}

/// Clients that logged in (or tried): kept, since the core still talks to them.
struct Logins {
    core: Core,
    now: Instant,
    clients: Vec<Client>,
}

impl Logins {
    fn new(core: Core, now: Instant) -> Self {
        Self {
            core,
            now,
            clients: Vec::new(),
        }
    }

    /// A login of `user` with `password` from `remote` (its own ISAKMP SA and pair);
    /// true when it came up, false when refused.
    fn login(&mut self, remote: &str, user: &str, password: &str) -> bool {
        let n = self.clients.len() as u32;
        let c = Client::new(
            &mut self.core,
            self.now,
            remote,
            0x1_0000 + n * 0x10,
            100 + u64::from(n),
            user,
            password,
        );
        self.clients.push(c);
        drive(
            &mut self.core,
            &mut self.clients,
            &mut self.now,
            Duration::from_secs(60),
            |_, c| c.last().is_some_and(|c| c.up.is_some() || c.down),
        );
        self.clients.last().is_some_and(|c| c.up.is_some())
    }

    fn count(&self, c: Counter) -> u64 {
        self.core.counters().get(c)
    }
}

#[test]
fn repeated_failures_of_one_user_put_the_user_in_backoff_whatever_the_password() {
    let (core, now) = core_with(
        |c| {
            c.auth_limits.failures_per_user = 3;
            c.auth_limits.failures_per_source = 100;
            c.auth_limits.backoff = Duration::from_secs(60);
        },
        &["alice:secret", "bob:pw"],
    );
    let mut l = Logins::new(core, now);
    for n in 0..3 {
        assert!(!l.login(&format!("198.51.100.{}:4500", 10 + n), "alice", "guess"));
    }
    assert_eq!(l.count(Counter::AuthFailures), 3);
    assert_eq!(l.count(Counter::AuthBackoffsStarted), 1);
    // Now even the right password is refused, unchecked, and counts nothing.
    assert!(!l.login("198.51.100.50:4500", "alice", "secret"));
    assert!(!l.login("198.51.100.51:4500", "alice", "guess"));
    assert_eq!(l.count(Counter::AuthBackoff), 2);
    assert_eq!(l.count(Counter::AuthFailures), 3);
    assert_eq!(l.count(Counter::AuthBackoffsStarted), 1);
    // Another user is not affected.
    assert!(l.login("198.51.100.52:4500", "bob", "pw"));
    // After the backoff, the right password works.
    l.now += Duration::from_secs(61);
    assert!(l.login("198.51.100.53:4500", "alice", "secret"));
}

#[test]
fn repeated_failures_from_one_source_put_the_source_in_backoff() {
    let (core, now) = core_with(
        |c| {
            c.auth_limits.failures_per_user = 100;
            c.auth_limits.failures_per_source = 3;
        },
        &["alice:secret", "bob:pw"],
    );
    let mut l = Logins::new(core, now);
    // Three guesses at names, known or not, from one address (several NAT ports).
    for (n, user) in ["root", "admin", "bob"].into_iter().enumerate() {
        assert!(!l.login(&format!("203.0.113.9:{}", 40_000 + n), user, "x"));
    }
    assert_eq!(l.count(Counter::AuthBackoffsStarted), 1);
    // That source is refused even for a right password; others are not.
    assert!(!l.login("203.0.113.9:40009", "alice", "secret"));
    assert_eq!(l.count(Counter::AuthBackoff), 1);
    assert_eq!(l.count(Counter::AuthFailures), 3);
    assert!(l.login("198.51.100.7:4500", "alice", "secret"));
    assert!(l.login("198.51.100.8:4500", "bob", "pw"));
}

#[test]
fn a_peer_holds_only_so_many_sessions_that_have_not_authenticated() {
    let (mut core, mut now) = core_with(
        |c| c.unauthenticated_sessions_per_ike_sa = 2,
        &["alice:secret"],
    );
    let mut c = [Client::new(
        &mut core,
        now,
        "198.51.100.7:4500",
        0x1000,
        1,
        "alice",
        "secret",
    )];
    // The tunnel comes up; the client then opens four more sessions in it and never
    // speaks PPP on them.
    drive(
        &mut core,
        &mut c,
        &mut now,
        Duration::from_secs(30),
        |_, c| c[0].session.is_some(),
    );
    let tunnel = c[0].tunnel.unwrap();
    for _ in 0..4 {
        c[0].l2tp.open_session(now, tunnel).unwrap();
    }
    drive(
        &mut core,
        &mut c,
        &mut now,
        Duration::from_secs(30),
        |core, _| core.counters().get(Counter::UnauthenticatedSessionLimit) >= 1,
    );
    let unauthenticated = |core: &Core| core.sessions.values().filter(|s| s.user.is_none()).count();
    assert!(unauthenticated(&core) <= 2, "{}", unauthenticated(&core));
    assert!(core.session_count() < 5, "{}", core.session_count());
    // Another peer is not affected.
    let other = Client::up(
        &mut core,
        &mut now,
        "198.51.100.8:4500",
        0x2000,
        2,
        "alice",
        "secret",
    );
    assert!(other.up.is_some());
}

/// Every field value and message recorded while it is the thread's subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::field::Visit for Capture {
    fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn core::fmt::Debug) {
        self.0.lock().unwrap().push(format!("{value:?}"));
    }

    fn record_str(&mut self, _: &tracing::field::Field, value: &str) {
        // Taken as it is: some log sinks do not escape.
        self.0.lock().unwrap().push(value.to_owned());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_user_name_with_a_newline_cannot_forge_a_log_line() {
    let evil = "alice\n2026-12-08T00:00:00Z  INFO l2tpgw: authenticated user=admin";
    let mut user = crate::users::parse_user_flag("x:secret").unwrap();
    user.name = evil.to_owned();
    let (core, now) = core_with(
        move |c| {
            c.users.upsert(user);
            c.auth_limits.failures_per_user = 1;
        },
        &[],
    );
    let mut l = Logins::new(core, now);
    let capture = Capture::default();
    let lines = capture.0.clone();
    tracing::subscriber::with_default(capture, || {
        // A failure (the failure line and the backoff line), then in backoff, then
        // after it a login, and the session's lines.
        assert!(!l.login("198.51.100.7:4500", evil, "wrong"));
        assert!(!l.login("198.51.100.8:4500", evil, "secret"));
        l.now += Duration::from_secs(3600);
        assert!(l.login("198.51.100.9:4500", evil, "secret"));
        // A second login replaces nothing but logs the session again; then the
        // client goes silent and the idle timeout logs the name.
        l.now += Duration::from_secs(2 * 3600);
        let now = l.now;
        l.core.handle_timeout(now);
    });
    let lines = lines.lock().unwrap();
    let shown: Vec<&String> = lines.iter().filter(|l| l.contains("alice")).collect();
    assert!(shown.len() >= 4, "the name is logged: {shown:?}");
    for l in &lines[..] {
        assert!(!l.contains('\n'), "raw newline in a log value: {l:?}");
    }
    assert!(
        shown.iter().all(|l| l.contains("alice\\n2026")),
        "{shown:?}"
    );
}
