//! Seal and open throughput per suite and payload size (one core).
//!
//! `cargo bench -p esp` reports time per packet; criterion's throughput line is in
//! bytes/s of payload (Gbit/s = GiB/s × 8.59). `scripts/bench-esp.sh` prints a table
//! in ns/packet and Gbit/s next to `openssl speed -evp` for the same primitives.
//! `ESP_BENCH_SUITES=aes128-sha1,gcm128` restricts the suites.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), as
//! `openssl speed` counts user CPU time by default, so other work on a shared machine
//! does not inflate the numbers (it still costs some cache). `ESP_BENCH_WALL=1` measures
//! wall-clock time instead.
#![allow(clippy::unwrap_used, reason = "a test or benchmark panics on failure")]
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esp::{
    Encryption, GcmBackend, InboundSa, Integrity, MAX_HEADER_LEN, MAX_TRAILER_LEN, Mode,
    OutboundSa, SaParams, Spi, Suite,
};
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

const SIZES: [usize; 3] = [64, 512, 1400];

fn name(suite: Suite) -> String {
    let enc = match suite.encryption() {
        Encryption::AesCbc128 => "aes128",
        Encryption::AesCbc192 => "aes192",
        Encryption::AesCbc256 => "aes256",
        Encryption::TripleDesCbc => "3des",
        Encryption::AesGcm16_128 => "gcm128",
        Encryption::AesGcm16_256 => "gcm256",
    };
    let integ = match suite.integrity() {
        Integrity::None => "",
        Integrity::HmacMd5_96 => "-md5",
        Integrity::HmacSha1_96 => "-sha1",
        Integrity::HmacSha256_128 => "-sha256",
        Integrity::HmacSha384_192 => "-sha384",
        Integrity::HmacSha512_256 => "-sha512",
    };
    format!("{enc}{integ}")
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the clock once"
)]
fn t0() -> Instant {
    Instant::now()
}

/// A stopwatch over thread CPU time (or wall time with `ESP_BENCH_WALL=1`).
enum Stopwatch {
    Cpu(cpu_time::ThreadTime),
    Wall(Instant),
}

impl Stopwatch {
    fn start() -> Self {
        if std::env::var_os("ESP_BENCH_WALL").is_some() {
            Self::Wall(t0())
        } else {
            Self::Cpu(cpu_time::ThreadTime::now())
        }
    }

    fn elapsed(&self) -> Duration {
        match self {
            Self::Cpu(t) => t.elapsed(),
            Self::Wall(t) => t.elapsed(),
        }
    }
}

/// Runs `f` `iters` times and returns the time it took.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let watch = Stopwatch::start();
    for _ in 0..iters {
        f();
    }
    watch.elapsed()
}

fn params(suite: Suite) -> SaParams {
    let km: Vec<u8> = (0..suite.keymat_len()).map(|i| i as u8 ^ 0xa5).collect();
    SaParams::from_keymat(Spi(0x1234_5678), suite, Mode::Transport, &km).unwrap()
}

fn bench_suite(c: &mut Criterion, suite: Suite, backend: GcmBackend, label: &str) {
    let p = params(suite);
    let mut rng = DeterministicRandom::new(1);
    let mut group = c.benchmark_group(label);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut out = OutboundSa::with_gcm_backend(&p, t0(), &mut rng, backend).unwrap();
        let mut buf = PacketBuf::new(MAX_HEADER_LEN + size + MAX_TRAILER_LEN, MAX_HEADER_LEN);
        group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    buf.reset(MAX_HEADER_LEN);
                    buf.set_len(size).unwrap();
                    out.seal(IpProtocol::Udp, &mut buf).unwrap();
                    black_box(buf.len());
                })
            });
        });

        // Open needs fresh sequence numbers: seal a batch ahead of time, then open
        // copies of them into a scratch buffer (the copy is part of the measurement,
        // as it is for a receiver reading into its buffer; about 20 ns at 1400 bytes).
        let mut sender = OutboundSa::with_gcm_backend(&p, t0(), &mut rng, backend).unwrap();
        group.bench_with_input(BenchmarkId::new("open", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let mut inb = InboundSa::with_gcm_backend(&p, t0(), backend).unwrap();
                let mut packets = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let mut pb =
                        PacketBuf::new(MAX_HEADER_LEN + size + MAX_TRAILER_LEN, MAX_HEADER_LEN);
                    pb.set_len(size).unwrap();
                    sender.seal(IpProtocol::Udp, &mut pb).unwrap();
                    packets.push(pb.payload().to_vec());
                }
                let mut scratch = vec![0u8; 2048];
                let mut next = packets.iter();
                timed(iters, || {
                    let pkt = next.next().unwrap();
                    let n = pkt.len();
                    scratch[..n].copy_from_slice(pkt);
                    black_box(inb.open(&mut scratch[..n]).unwrap().payload.len());
                })
            });
        });
    }
    group.finish();
}

fn wanted(label: &str) -> bool {
    match std::env::var("ESP_BENCH_SUITES") {
        Ok(list) if !list.is_empty() => list.split(',').any(|s| s == label),
        _ => true,
    }
}

/// The primitives alone, without ESP framing, in the same process as the ESP numbers:
/// the ratio is the framing overhead even when the machine is busy.
fn bench_raw(c: &mut Criterion) {
    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use cbc::cipher::{BlockModeEncrypt, InnerIvInit};
    use hmac::{KeyInit, Mac};

    let mut group = c.benchmark_group("raw");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7; 16]).unwrap());
        let mut data = vec![0u8; size];
        group.bench_with_input(
            BenchmarkId::new("gcm128-awslc-seal", size),
            &size,
            |b, _| {
                let mut n = 0u64;
                b.iter_custom(|iters| {
                    timed(iters, || {
                        n += 1;
                        let mut nonce = [0u8; 12];
                        nonce[4..].copy_from_slice(&n.to_be_bytes());
                        let tag = key
                            .seal_in_place_separate_tag(
                                Nonce::assume_unique_for_key(nonce),
                                Aad::from([0u8; 8]),
                                &mut data,
                            )
                            .unwrap();
                        let _ = black_box(tag);
                    })
                });
            },
        );
        let aes = aes::Aes128::new(&[7; 16].into());
        let mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&[9; 20]).unwrap();
        let padded = size + 2 + (16 - (size + 2) % 16) % 16;
        let mut pkt = vec![0u8; 24 + padded];
        group.bench_with_input(
            BenchmarkId::new("aes128cbc-hmacsha1-seal", size),
            &size,
            |b, _| {
                b.iter_custom(|iters| {
                    timed(iters, || {
                        let (blocks, _) = cbc::cipher::Array::slice_as_chunks_mut(&mut pkt[24..]);
                        cbc::Encryptor::<&aes::Aes128>::inner_iv_init(&aes, &[1; 16].into())
                            .encrypt_blocks(blocks);
                        let mut m = mac.clone();
                        m.update(&pkt);
                        let _ = black_box(m.finalize());
                    })
                });
            },
        );
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    if wanted("raw") {
        bench_raw(c);
    }
    for suite in Suite::ALL {
        let label = name(suite);
        if !wanted(&label) {
            continue;
        }
        bench_suite(c, suite, GcmBackend::DEFAULT, &label);
        if suite.encryption().is_aead() {
            let other = format!("{label}-rustcrypto");
            if wanted(&other) || wanted(&label) {
                bench_suite(c, suite, GcmBackend::RustCrypto, &other);
            }
        }
    }
}

criterion_group! {
    name = esp;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = benches
}
criterion_main!(esp);
