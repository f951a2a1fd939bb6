//! One Diffie-Hellman operation per group: `generate` (a fresh exponent and g^x) and
//! `agree` (y^x from the peer's value), through the provider the engine uses.
//!
//! `cargo bench -p ike --bench dh`; `IKE_BENCH_GROUPS=modp2048,ecp256` restricts the
//! groups. Time is the benchmark thread's CPU time, so other work on a shared machine
//! does not inflate it (`IKE_BENCH_WALL=1` measures wall-clock time instead).
#![allow(clippy::unwrap_used, reason = "a benchmark panics on failure")]
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ike::crypto::{CryptoProvider, DhGroup, RUSTCRYPTO};
use wire::random::DeterministicRandom;

fn name(group: DhGroup) -> &'static str {
    match group {
        DhGroup::Modp1024 => "modp1024",
        DhGroup::Modp1536 => "modp1536",
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Modp3072 => "modp3072",
        DhGroup::Modp4096 => "modp4096",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Ecp384 => "ecp384",
    }
}

fn wanted(label: &str) -> bool {
    match std::env::var("IKE_BENCH_GROUPS") {
        Ok(list) if !list.is_empty() => list.split(',').any(|s| s == label),
        _ => true,
    }
}

/// Runs `f` `iters` times and returns the thread CPU time it took (or wall time with
/// `IKE_BENCH_WALL=1`).
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    if std::env::var_os("IKE_BENCH_WALL").is_some() {
        #[allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    } else {
        let start = cpu_time::ThreadTime::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = DeterministicRandom::new(1);
    let mut group = c.benchmark_group("dh");
    for g in DhGroup::ALL {
        let label = name(g);
        if !wanted(label) {
            continue;
        }
        group.bench_function(BenchmarkId::new("generate", label), |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    black_box(RUSTCRYPTO.dh_generate(g, &mut rng));
                })
            });
        });
        let ours = RUSTCRYPTO.dh_generate(g, &mut rng);
        let peer = RUSTCRYPTO.dh_generate(g, &mut rng).public().to_vec();
        group.bench_function(BenchmarkId::new("agree", label), |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    black_box(ours.agree(black_box(&peer)).unwrap());
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = dh;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = benches
}
criterion_main!(dh);
