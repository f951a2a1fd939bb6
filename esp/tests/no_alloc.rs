//! Proves that `seal` and `open` allocate nothing: a counting global allocator records
//! every allocation of this test binary (stats_alloc), and the per-packet loop must add none.
//!
//! (This sees Rust's allocator only. ring's AES-GCM is Rust plus assembly on caller
//! buffers and never allocates; AWS-LC's AES-CBC/3DES-CBC (`AES_cbc_encrypt`,
//! `DES_ede3_cbc_encrypt`) and its AES-GCM run on caller buffers and key schedules built
//! at SA creation, and do not call malloc per packet either.)
#![allow(clippy::unwrap_used, reason = "a test or benchmark panics on failure")]

mod common;

use std::alloc::System;

use common::{params, t0};
use esp::{InboundSa, MAX_HEADER_LEN, MAX_TRAILER_LEN, Mode, OutboundSa, SaTable, Suite};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One test only: the counter is global, and a second test thread would disturb it.
#[test]
fn seal_and_open_allocate_nothing() {
    // First prove the counter sees an allocation at all.
    let region = Region::new(GLOBAL);
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(region.change().allocations, 1);
    drop(v);

    for suite in Suite::ALL {
        let p = params(suite, Mode::Transport, 0x1000_0001, 9);
        let mut rng = DeterministicRandom::new(5);
        let mut out = OutboundSa::new(&p, t0(), &mut rng).unwrap();
        let mut table = SaTable::new();
        table.insert(InboundSa::new(&p, t0()).unwrap());
        let mut buf = PacketBuf::new(MAX_HEADER_LEN + 1500 + MAX_TRAILER_LEN, MAX_HEADER_LEN);
        let mut wire_copy = vec![0u8; 2048];

        let region = Region::new(GLOBAL);
        for len in [0usize, 64, 512, 1400] {
            for _ in 0..10 {
                buf.reset(MAX_HEADER_LEN);
                buf.set_len(len).unwrap();
                out.seal(IpProtocol::Udp, &mut buf).unwrap();
                let n = buf.len();
                wire_copy[..n].copy_from_slice(buf.payload());
                let opened = table.open(&mut wire_copy[..n]).unwrap();
                assert_eq!(opened.payload.len(), len);
                // A failure path too: a replay.
                buf.reset(MAX_HEADER_LEN);
                assert!(table.open(&mut wire_copy[..n]).is_err());
            }
        }
        let change = region.change();
        assert_eq!(
            (change.allocations, change.reallocations),
            (0, 0),
            "{suite:?} allocated per packet"
        );
    }
}
