//! Issue 14 end to end: one user cannot touch another user's session. In network
//! namespaces the test creates (see `lab/mod.rs`): a gateway, a victim (`l2tpgw connect`
//! as alice, pinging through its tunnel), a second user (`l2tpgw connect` as bob) and an
//! attacker. The attacker is this test's own thread moved into its namespace: it drives
//! an `ike::Endpoint` as initiator over its own UDP sockets, authenticates Main Mode
//! with the shared PSK from its own address (and gets its own ESP SAs), then sends,
//! from the victim's outer address and port (assigned to its loopback: the gateway's
//! namespace does no reverse-path filtering, like much of the internet), messages of
//! its own ISAKMP SA: an INITIAL-CONTACT, a Quick Mode, and DELETEs. Afterwards the
//! victim's ping has kept flowing, its inner address and SAs are the same, its outer
//! address has not moved, and the gateway counted the messages as `wrong_path`. Needs
//! root and ping; skips otherwise (fails under `L2TPGW_REQUIRE_ALL=1`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test: real processes, real sockets, the wall clock"
)]

mod lab;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use lab::Lab;

/// The gateway's address on each link.
const GW_VICTIM_SIDE: &str = "192.0.2.1";
const ATTACKER: &str = "198.51.100.3";
const GW_ATTACKER_SIDE: &str = "198.51.100.1";

/// Runs `f` on a thread inside network namespace `ns` (its sockets are that
/// namespace's).
fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// The attacker: an IKE initiator with sockets on its own address (500 and 4500) and
/// one on the victim's outer address and port.
struct Attacker {
    ike: ike::Endpoint,
    own: Vec<UdpSocket>,
    spoofed: UdpSocket,
    events: Vec<ike::Event>,
}

impl Attacker {
    fn new(victim_outer: SocketAddr) -> Self {
        let own = [500, 4500]
            .map(|p| {
                let s = UdpSocket::bind(format!("{ATTACKER}:{p}")).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                s
            })
            .into_iter()
            .collect();
        let ike = ike::Endpoint::new(
            ike::Config::default(),
            Box::new(ike::StaticPskStore::wildcard(ike::Psk::new("sharedsecret"))),
            Box::new(wire::random::DeterministicRandom::new(0xbad)),
        );
        Self {
            ike,
            own,
            spoofed: UdpSocket::bind(victim_outer).unwrap(),
            events: Vec::new(),
        }
    }

    fn socket_for(&self, local: SocketAddr) -> &UdpSocket {
        self.own
            .iter()
            .find(|s| s.local_addr().unwrap() == local)
            .expect("a socket for the path")
    }

    /// Sends what IKE wants to send: on its own path, or (its IKE messages, not NAT
    /// keepalives) from the victim's address. Returns how many were sent.
    fn flush(&mut self, spoof: bool) -> usize {
        let mut sent = 0;
        let mut buf = Vec::new();
        while let Some(t) = self.ike.poll_transmit(&mut buf) {
            let mut bytes = Vec::new();
            if t.non_esp_marker {
                bytes.extend_from_slice(&[0; 4]);
            }
            bytes.extend_from_slice(&buf);
            buf.clear();
            if spoof && !t.non_esp_marker && t.path.is_nat_t(4500) {
                // A NAT keepalive (one byte): nothing to spoof.
                continue;
            }
            let (socket, to) = if spoof {
                // To the gateway address the victim's path uses.
                let to: SocketAddr = format!("{GW_VICTIM_SIDE}:{}", t.path.remote.port())
                    .parse()
                    .unwrap();
                (&self.spoofed, to)
            } else {
                (self.socket_for(t.path.local), t.path.remote)
            };
            socket.send_to(&bytes, to).unwrap();
            sent += 1;
        }
        while let Some(e) = self.ike.poll_event() {
            self.events.push(e);
        }
        sent
    }

    /// Runs the exchange on the attacker's own path until `done` (bounded).
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        let mut datagram = [0u8; 4096];
        loop {
            while let Some(e) = self.ike.poll_event() {
                self.events.push(e);
            }
            // Checked before anything new is sent: what IKE queued on the way (the
            // first Quick Mode after Main Mode) stays queued.
            if done(self) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "attacker: IKE not done in {limit:?}"
            );
            self.flush(false);
            for i in 0..self.own.len() {
                let local = self.own[i].local_addr().unwrap();
                let Ok((n, from)) = self.own[i].recv_from(&mut datagram) else {
                    continue;
                };
                let body = match &datagram[..n] {
                    [0, 0, 0, 0, rest @ ..] if local.port() == 4500 => rest,
                    _ if local.port() == 4500 => continue, // ESP: not ours to read
                    all => all,
                };
                let _ = self.ike.handle_datagram(
                    Instant::now(),
                    ike::Path {
                        local,
                        remote: from,
                    },
                    body,
                );
            }
            let now = Instant::now();
            if self.ike.poll_timeout().is_some_and(|t| t <= now) {
                self.ike.handle_timeout(now);
            }
        }
    }

    /// A DPD request from the attacker's own path and its answer (bounded wait): the
    /// gateway reads one socket in order, so it has handled everything sent before.
    fn sync(&mut self, ike_sa: ike::IkeSaId) {
        let mut datagram = [0u8; 4096];
        // Anything from before does not count.
        while self.own.iter().any(|s| s.recv_from(&mut datagram).is_ok()) {}
        assert!(self.ike.send_dpd(ike_sa));
        self.flush(false);
        self.await_answer(Duration::from_secs(10));
    }

    /// Waits (bounded) for any datagram from the gateway on the attacker's own path.
    fn await_answer(&self, limit: Duration) {
        let start = Instant::now();
        let mut datagram = [0u8; 4096];
        loop {
            if self.own.iter().any(|s| s.recv_from(&mut datagram).is_ok()) {
                return;
            }
            assert!(start.elapsed() < limit, "attacker: no answer in {limit:?}");
        }
    }

    fn ike_up(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, ike::Event::IkeSaUp { .. }))
    }

    fn child(&self) -> Option<&ike::ChildSa> {
        self.events.iter().find_map(|e| match e {
            ike::Event::ChildSaUp(c) => Some(c),
            _ => None,
        })
    }
}

/// What the victim's session looks like in the status: outer address, inner address,
/// and its SA pair.
fn victim(report: &serde_json::Value) -> (String, String, String, String) {
    let s = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user"] == "alice")
        .unwrap_or_else(|| panic!("no session of alice in {report}"));
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&s["outer"]),
        text(&s["inner"]),
        text(&s["esp"]["inbound_spi"]),
        text(&s["esp"]["outbound_spi"]),
    )
}

fn counter(report: &serde_json::Value, key: &str) -> u64 {
    report["counters"][key].as_u64().unwrap_or(0)
}

/// (transmitted, received) from a ping log.
fn ping_summary(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in {log}"));
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
fn another_users_spoofed_quick_mode_initial_contact_and_delete_leave_the_victim_alone() {
    let Some(mut lab) = Lab::new(
        "another_users_spoofed_quick_mode_initial_contact_and_delete_leave_the_victim_alone",
        &["ping"],
    ) else {
        return;
    };
    let s = lab.namespace("s");
    let v = lab.namespace("v");
    let b = lab.namespace("b");
    let a = lab.namespace("a");
    // No reverse-path filtering in the gateway's namespace: spoofed sources arrive.
    for key in ["all", "default"] {
        lab.ok(
            &s,
            &[
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv4.conf.{key}.rp_filter=0"),
            ],
        );
    }
    let mut devices = Vec::new();
    devices.push(lab.link(&s, "192.0.2.1/24", &v, "192.0.2.2/24").0);
    devices.push(lab.link(&s, "203.0.113.1/24", &b, "203.0.113.2/24").0);
    devices.push(
        lab.link(
            &s,
            &format!("{GW_ATTACKER_SIDE}/24"),
            &a,
            &format!("{ATTACKER}/24"),
        )
        .0,
    );
    for d in &devices {
        lab.ok(
            &s,
            &[
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv4.conf.{d}.rp_filter=0"),
            ],
        );
    }
    let socket = lab.serve(&s, "0.0.0.0", "");
    lab.connect("victim", &v, GW_VICTIM_SIDE, "alice", &[]);
    let victim_inner = lab.wait_client_up(&v);
    lab.connect("bob", &b, "203.0.113.1", "bob", &[]);
    lab.wait_client_up(&b);
    let before = lab.status(&s, &socket);
    let victim_before = victim(&before);
    assert_eq!(victim_before.1, victim_inner);
    let victim_outer: SocketAddr = victim_before.0.parse().unwrap();
    assert_eq!(victim_outer.ip().to_string(), "192.0.2.2");

    // The attacker's namespace can send from the victim's address and reach the
    // gateway's victim-side address through its own link.
    lab.ok(&a, &["ip", "addr", "add", "192.0.2.2/32", "dev", "lo"]);
    lab.ok(
        &a,
        &[
            "ip",
            "route",
            "add",
            &format!("{GW_VICTIM_SIDE}/32"),
            "via",
            GW_ATTACKER_SIDE,
        ],
    );

    // The victim pings through its tunnel across the attack.
    let ping = lab.spawn(
        "ping",
        &v,
        &["ping", "-n", "-c", "25", "-i", "0.2", "10.77.0.1"],
    );
    lab.expect_exit(ping);

    let (spoofed_sent, attacker_ike) = in_namespace(&a, move || {
        let mut att = Attacker::new(victim_outer);
        let server: SocketAddr = format!("{GW_ATTACKER_SIDE}:500").parse().unwrap();
        let own: SocketAddr = format!("{ATTACKER}:500").parse().unwrap();
        let ike_sa = att
            .ike
            .connect(
                Instant::now(),
                ike::Path {
                    local: own,
                    remote: server,
                },
                ike::Profile::linux(),
            )
            .unwrap();
        // Main Mode with the shared PSK from its own address.
        att.run_until(Duration::from_secs(20), Attacker::ike_up);
        // Then, from the victim's address, under the attacker's own ISAKMP SA: its first
        // Quick Mode (the attacker has no ESP SA of its own yet) and INITIAL-CONTACT.
        let mut sent = att.flush(true);
        assert!(att.ike.send_initial_contact(ike_sa));
        sent += att.flush(true);
        att.sync(ike_sa);
        // The Quick Mode's retransmission from its own path gets it its own ESP SAs;
        // then from the victim's address a rekey Quick Mode and a DELETE of them.
        att.run_until(Duration::from_secs(20), |a| a.child().is_some());
        // Its third message, from its own path.
        att.flush(false);
        let spi = att.child().unwrap().inbound.spi;
        assert!(att.ike.rekey_child(Instant::now(), spi));
        sent += att.flush(true);
        assert!(att.ike.delete_child_sa(spi));
        sent += att.flush(true);
        att.sync(ike_sa);
        (sent, ike_sa)
    });
    assert_eq!(spoofed_sent, 4, "QM, INITIAL-CONTACT, QM, DELETE");
    let _ = attacker_ike;

    let status = lab.proc(ping).child.wait().unwrap();
    let log = std::fs::read_to_string(&lab.proc(ping).log).unwrap();
    let (transmitted, received) = ping_summary(&log);
    assert!(status.success(), "{log}");
    assert_eq!(
        received, transmitted,
        "the victim's ping kept flowing: {log}"
    );
    let after = lab.status(&s, &socket);
    assert_eq!(
        victim(&after),
        victim_before,
        "same outer address, inner address and SAs"
    );
    // Every spoofed message was counted as coming from the wrong path.
    assert_eq!(
        counter(&after, "dropped.ike_wrong_path"),
        spoofed_sent as u64
    );
    assert_eq!(
        counter(&after, "sa_pairs_installed"),
        counter(&before, "sa_pairs_installed") + 1,
        "only the attacker's own pair was installed"
    );
    // And the victim still has its session afterwards.
    let out = lab.run(&v, &["ping", "-n", "-c", "3", "-i", "0.2", "10.77.0.1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
