//! The data path allocates nothing: once a session is up, a packet from the client's
//! TUN through ESP into the server core, and a packet from the server's TUN back into
//! the client, make no heap allocation. Counted by a global allocator for this test
//! binary (one test, so no other test allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gateway_core::TUN_HEADROOM;
use gateway_core::testing::{
    LinkConfig, Pair, Placement, Side, client_config, ipv4_udp, server_config,
};
use wire::PacketBuf;

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

#[test]
fn established_data_path_makes_no_allocation() {
    let mut pair = Pair::new(
        10,
        server_config(&["alice:pw"], "sharedsecret"),
        LinkConfig::PERFECT,
    );
    pair.add_client_core(client_config("alice", "pw"), Placement::Direct);
    assert!(pair.connect(Duration::from_secs(60)));
    let ip = pair.inner_address(0);
    let far = Ipv4Addr::new(198, 18, 0, 1);
    let payload = [0u8; 1400 - 28];
    let (up, down) = (ipv4_udp(ip, far, &payload), ipv4_udp(far, ip, &payload));
    let mut buf = PacketBuf::new(70_000, TUN_HEADROOM);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        for (from, packet) in [(Side::Client(0), &up), (Side::Server, &down)] {
            buf.reset(TUN_HEADROOM);
            buf.set_payload(packet).unwrap();
            assert!(
                pair.forward(from, &mut buf).is_some(),
                "{from:?} lost a packet"
            );
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocations, 0,
        "the data path allocated {allocations} times for 2000 packets"
    );
}
