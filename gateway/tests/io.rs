//! The io pieces against the real kernel. Sockets use loopback only. TUN and nftables
//! need root; they run in a network namespace private to the test thread (unshared),
//! so nothing is left on the host, and they skip with a message when not root (a failure
//! under `L2TPGW_REQUIRE_ALL=1`, as in CI).

mod require;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use gateway::io::udp::UdpSocket;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `f` on a thread inside a fresh network namespace (gone when the thread ends).
#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a panic in the thread is the test failing"
)]
fn in_private_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            require::skip(&format!("cannot create a network namespace: {e}"));
            return None;
        }
        Some(f())
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn replies_leave_from_the_address_the_client_used_ipv4() {
    let server = UdpSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let port = server.local_addr().port();
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // 127.0.0.2 is loopback too; without IP_PKTINFO the reply would come from 127.0.0.1.
    let target: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port);
    client.send_to(b"hello", target).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let r = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..r.len], b"hello");
    assert_eq!(r.local, target, "the packet-info destination address");
    assert_eq!(r.remote, client.local_addr().unwrap());
    server
        .send(b"world", r.remote, Some(r.local.ip()))
        .await
        .unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"world");
    assert_eq!(from, target, "the reply must come from 127.0.0.2");
}

#[tokio::test]
async fn ipv6_socket_is_v6_only_and_reports_its_local_address() {
    let Ok(server) = UdpSocket::bind("[::]:0".parse().unwrap()) else {
        require::skip(
            "ipv6_socket_is_v6_only_and_reports_its_local_address: no IPv6 on this machine",
        );
        return;
    };
    let port = server.local_addr().port();
    // The same port on IPv4 can be bound too: the IPv6 socket does not claim it.
    let v4 = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).unwrap();
    assert_eq!(v4.local_addr().port(), port);
    let Ok(client) = tokio::net::UdpSocket::bind("[::1]:0").await else {
        require::skip("ipv6_socket_is_v6_only_and_reports_its_local_address: no IPv6 loopback");
        return;
    };
    let target: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    client.send_to(b"v6", target).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let r = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.local, target);
    server
        .send(b"ok", r.remote, Some(r.local.ip()))
        .await
        .unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"ok"[..], target));
}

#[test]
fn bind_all_opens_both_ports_on_every_address() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Port 0 twice would collide on the check; pick two free ports first.
        let a = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sockets = gateway::io::udp::bind_all(&["127.0.0.1".parse().unwrap()], a, b).unwrap();
        let ports: Vec<u16> = sockets.iter().map(|s| s.local_addr().port()).collect();
        assert_eq!(ports, [a, b]);
        let chosen =
            gateway::driver::socket_for(&sockets, SocketAddr::new("127.0.0.1".parse().unwrap(), b))
                .unwrap();
        assert_eq!(chosen.local_addr().port(), b);
        assert!(gateway::driver::socket_for(&sockets, "[::1]:500".parse().unwrap()).is_none());
        let err = gateway::io::udp::bind_all(&["127.0.0.1".parse().unwrap()], a, b).unwrap_err();
        assert!(
            err.to_string().contains("cannot bind UDP 127.0.0.1"),
            "{err}"
        );
    });
}

#[test]
fn tun_is_created_addressed_and_removed() {
    if !is_root() {
        require::skip("tun_is_created_addressed_and_removed: creating a TUN device needs root");
        return;
    }
    let result = in_private_netns(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = gateway::io::tun::TunConfig {
                name: "l2tpgwtest0".into(),
                address: Ipv4Addr::new(10, 77, 0, 1),
                netmask: Ipv4Addr::new(255, 255, 255, 0),
                mtu: 1400,
            };
            let mut tun = match gateway::io::tun::Tun::create(&config) {
                Ok(t) => t,
                Err(e) => {
                    require::skip(&format!("tun_is_created_addressed_and_removed: {e}"));
                    return;
                }
            };
            assert_eq!(tun.name(), "l2tpgwtest0");
            assert_eq!(tun.address(), Some(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1))));
            assert_eq!(tun.mtu().unwrap(), 1400);
            tun.set_mtu(1280).unwrap();
            assert_eq!(tun.mtu().unwrap(), 1280);
            let out = std::process::Command::new("ip")
                .args(["-o", "addr", "show", "dev", "l2tpgwtest0"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("10.77.0.1/24"), "{text}");
            // A packet the kernel routes into the pool comes out of the device.
            let udp = std::net::UdpSocket::bind("10.77.0.1:0").unwrap();
            udp.send_to(b"ping", "10.77.0.9:9").unwrap();
            let mut buf = [0u8; 1500];
            // (IPv6 router solicitations may come first: skip them, bounded.)
            let mut seen = false;
            for _ in 0..20 {
                let n = tokio::time::timeout(Duration::from_secs(5), tun.recv(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                if let Ok(ip) = wire::ip::Ipv4Packet::new_checked(&buf[..n]) {
                    assert_eq!(ip.dst(), Ipv4Addr::new(10, 77, 0, 9));
                    seen = true;
                    break;
                }
            }
            assert!(seen, "the UDP packet came out of the TUN device");
            drop(tun);
            let out = std::process::Command::new("ip")
                .args(["link", "show", "l2tpgwtest0"])
                .output()
                .unwrap();
            assert!(!out.status.success(), "the device is gone after drop");
        });
    });
    if result.is_none() {
        require::skip("tun_is_created_addressed_and_removed: no private network namespace");
    }
}

#[test]
fn masquerade_table_is_installed_and_removed() {
    if !is_root() {
        require::skip("masquerade_table_is_installed_and_removed: nftables needs root");
        return;
    }
    if std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_err()
    {
        require::skip(
            "masquerade_table_is_installed_and_removed: the nft command is not installed \
             (apt-get install nftables)",
        );
        return;
    }
    in_private_netns(|| {
        // A new namespace may inherit forwarding from the host's (when the host has it
        // on): start from off, so the test sees the gateway switch it on and back.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
        let pool = "10.77.0.0/24".parse().unwrap();
        let mut m = match gateway::io::nft::Masquerade::install(pool, "l2tpgw0") {
            Ok(m) => m,
            Err(e) => {
                require::skip(&format!("masquerade_table_is_installed_and_removed: {e}"));
                return;
            }
        };
        assert!(gateway::io::nft::table_exists());
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
        m.remove().unwrap();
        assert!(!gateway::io::nft::table_exists(), "table removed");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "0",
            "forwarding restored"
        );
    });
}
