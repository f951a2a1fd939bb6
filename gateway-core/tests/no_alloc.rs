//! The data path allocates nothing: once a session is up, a packet from the client's
//! TUN through ESP into the server core, and a packet from the server's TUN back into
//! the client, make no heap allocation. Counted by a global allocator for this test
//! binary (one test, so no other test allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gateway_core::pool::AddressPool;
use gateway_core::secret::Secret;
use gateway_core::users::UserDb;
use gateway_core::{
    ClientConfig, ClientCore, ClientState, Core, CoreConfig, CoreRandom, Engine, Output,
    TUN_HEADROOM,
};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: `GlobalAlloc` is an unsafe trait; this implementation only counts and forwards
// every call unchanged to the system allocator, so it upholds the same contract.
#[allow(
    unsafe_code,
    reason = "a counting global allocator for this test binary only"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator, with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn seeded(seed: u64) -> CoreRandom {
    CoreRandom {
        core: Box::new(DeterministicRandom::new(seed)),
        ike: Box::new(DeterministicRandom::new(seed + 1)),
        l2tp: Box::new(DeterministicRandom::new(seed + 2)),
    }
}

#[allow(clippy::unwrap_used, reason = "a test helper")]
fn packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..12].copy_from_slice(&[
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    wire::ip::Ipv4Packet::new_checked(&mut p[..])
        .unwrap()
        .fill_checksum();
    p
}

#[test]
fn established_data_path_makes_no_allocation() {
    let users = UserDb::parse("alice pw\n").unwrap();
    let pool = AddressPool::new("10.77.0.0/24".parse().unwrap(), None, []).unwrap();
    let config = CoreConfig::new(pool, Secret::new("k"), users);
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    let mut now = Instant::now();
    let mut server = Core::new(config, now, seeded(10));
    let mut client = ClientCore::new(
        ClientConfig {
            server: "192.0.2.1:500".parse().unwrap(),
            local_ike: "198.51.100.7:40000".parse().unwrap(),
            local_nat_t: "198.51.100.7:40001".parse().unwrap(),
            psk: Secret::new("k"),
            user: "alice".into(),
            password: Secret::new("pw"),
            profile: ike::Profile::linux(),
            l2tp: l2tp::Config::lac(),
            ppp: ppp::Config::default(),
            exit_when_up: false,
        },
        now,
        seeded(20),
    )
    .unwrap();
    let mut buf = PacketBuf::new(70_000, TUN_HEADROOM);
    while !matches!(client.state(), ClientState::Up { .. }) {
        let mut moved = false;
        while let Some(Output::Udp { local, remote }) = client.poll_output(&mut buf) {
            let mut d = buf.payload().to_vec();
            let _ = server.handle_udp(now, remote, local, &mut d);
            buf.reset(TUN_HEADROOM);
            moved = true;
        }
        while let Some(Output::Udp { local, remote }) = server.poll_output(&mut buf) {
            let mut d = buf.payload().to_vec();
            let _ = client.handle_udp(now, remote, local, &mut d);
            buf.reset(TUN_HEADROOM);
            moved = true;
        }
        if !moved {
            now = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    let ClientState::Up { local: ip, .. } = client.state() else {
        unreachable!()
    };
    let far = Ipv4Addr::new(198, 18, 0, 1);
    let (up, down) = (packet(ip, far, 1400), packet(far, ip, 1400));

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        buf.reset(TUN_HEADROOM);
        buf.set_payload(&up).unwrap();
        let Some(Output::Udp { local, remote }) = client.handle_tun(now, &mut buf) else {
            panic!("client tx")
        };
        let len = buf.len();
        assert!(
            server
                .handle_udp(now, remote, local, &mut buf.spare_from_start()[..len])
                .is_some()
        );

        buf.reset(TUN_HEADROOM);
        buf.set_payload(&down).unwrap();
        let Some(Output::Udp { local, remote }) = server.handle_tun(now, &mut buf) else {
            panic!("server tx")
        };
        let len = buf.len();
        assert!(
            client
                .handle_udp(now, remote, local, &mut buf.spare_from_start()[..len])
                .is_some()
        );
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocations, 0,
        "the data path allocated {allocations} times for 2000 packets"
    );
}
