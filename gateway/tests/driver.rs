//! The driver with a fake engine on loopback: datagrams in, output drained, timers,
//! status requests, SIGTERM shutdown. Its own test binary, because it installs signal
//! handlers for the whole process.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use gateway::driver::{DriverIo, Stopped};
use gateway::io::udp::UdpSocket;
use gateway_core::status::StatusReport;
use gateway_core::users::UserDb;
use gateway_core::{Engine, Output};
use tokio::sync::{mpsc, oneshot};
use wire::PacketBuf;

/// Echoes every datagram upper-cased, counts timeouts, finishes shutdown after sending
/// one goodbye per peer it has seen.
#[derive(Default)]
struct Echo {
    queue: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    peers: Vec<(SocketAddr, SocketAddr)>,
    timer: Option<Instant>,
    timeouts: u64,
    shutting_down: bool,
}

impl Engine for Echo {
    fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &mut [u8],
    ) -> Option<Range<usize>> {
        data.make_ascii_uppercase();
        self.queue.push((local, remote, data.to_vec()));
        if !self.peers.contains(&(local, remote)) {
            self.peers.push((local, remote));
        }
        self.timer = Some(now + Duration::from_millis(20));
        None
    }
    fn handle_tun(&mut self, _: Instant, _: &mut PacketBuf) -> Option<Output> {
        None
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            self.timeouts += 1;
        }
    }
    fn poll_output(&mut self, buf: &mut PacketBuf) -> Option<Output> {
        let (local, remote, data) = self.queue.pop()?;
        buf.set_payload(&data).ok()?;
        Some(Output::Udp { local, remote })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
    fn reload_users(&mut self, _: UserDb) {}
    fn begin_shutdown(&mut self, _: Instant) {
        self.shutting_down = true;
        for (local, remote) in self.peers.clone() {
            self.queue.push((local, remote, b"BYE".to_vec()));
        }
    }
    fn is_shut_down(&self) -> bool {
        self.shutting_down && self.queue.is_empty()
    }
    fn status(&self, _: Instant) -> StatusReport {
        let mut r = StatusReport::default();
        r.counters.insert("timeouts".into(), self.timeouts);
        r
    }
}

#[tokio::test]
async fn driver_echoes_answers_status_and_says_goodbye_on_sigterm() {
    let server = UdpSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let target: SocketAddr = format!("127.0.0.3:{}", server.local_addr().port())
        .parse()
        .unwrap();
    let (control_tx, control_rx) = mpsc::channel(4);
    let io = DriverIo {
        sockets: vec![server],
        esp: Vec::new(),
        tun: None,
        control: control_rx,
        users_file: None,
        secret_files: gateway::secret_file::Policy::default(),
        shutdown_grace: Duration::from_secs(5),
    };
    let driver = tokio::spawn(async move {
        let mut engine = Echo::default();
        let stopped = gateway::driver::run(&mut engine, io).await.unwrap();
        (stopped, engine.timeouts)
    });

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for word in [&b"abc"[..], b"def"] {
        client.send_to(word, target).await.unwrap();
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], word.to_ascii_uppercase().as_slice());
        assert_eq!(from, target, "reply from the address the client used");
    }

    // The timer fires (the engine armed it 20 ms after the last datagram); poll status
    // until it shows, with a bound on the attempts rather than a timed assertion.
    let mut timeouts = 0;
    for _ in 0..200 {
        let (reply, rx) = oneshot::channel();
        control_tx
            .send(gateway::io::control::ControlRequest { reply })
            .await
            .unwrap();
        timeouts = rx.await.unwrap().counters["timeouts"];
        if timeouts > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(timeouts, 1);

    nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM).unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"BYE");
    let (stopped, timeouts) = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped, Stopped::Signal);
    assert_eq!(timeouts, 1);
}
