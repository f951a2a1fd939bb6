//! Seal and open throughput per suite and payload size (one core).
//!
//! `cargo bench -p esp` reports time per packet; criterion's throughput line is in
//! bytes/s of payload (Gbit/s = GiB/s × 8.59). `scripts/bench-esp.sh` prints a table
//! in ns/packet and Gbit/s next to `openssl speed -evp` for the same primitives.
//! `ESP_BENCH_SUITES=aes128-sha1,gcm128` restricts the suites. `--features bench` adds
//! the libraries each primitive was chosen against (aws-lc-rs and RustCrypto AES-GCM in
//! the ESP path; RustCrypto AES-CBC, aws-lc-rs and ring HMAC in the `raw` group).
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

/// Packets sealed ahead and then opened per timed stretch (see `bench_suite`).
const OPEN_BATCH: usize = 64;

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

/// What reading the stopwatch twice costs (the thread CPU clock is a system call, about
/// 1 µs here), measured once; the open benchmark subtracts it per timed batch.
fn stopwatch_cost() -> Duration {
    static COST: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *COST.get_or_init(|| {
        let cost = (0..1000)
            .map(|_| Stopwatch::start().elapsed())
            .min()
            .unwrap_or_default();
        eprintln!("stopwatch: {cost:?} per start/elapsed pair (subtracted per open batch)");
        cost
    })
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

        // Open needs fresh sequence numbers: seal a batch of packets (not timed), then
        // open them in place (timed), as a receiver opens what recvmmsg just wrote into
        // its buffers. A small batch keeps the packets in cache, as they are then; a
        // batch per measurement would read them from DRAM and add ~0.3 µs at 1400 bytes.
        let mut sender = OutboundSa::with_gcm_backend(&p, t0(), &mut rng, backend).unwrap();
        let mut batch: Vec<PacketBuf> = (0..OPEN_BATCH)
            .map(|_| PacketBuf::new(MAX_HEADER_LEN + size + MAX_TRAILER_LEN, MAX_HEADER_LEN))
            .collect();
        group.bench_with_input(BenchmarkId::new("open", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let mut inb = InboundSa::with_gcm_backend(&p, t0(), backend).unwrap();
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(OPEN_BATCH);
                    for pb in &mut batch[..n] {
                        pb.reset(MAX_HEADER_LEN);
                        pb.set_len(size).unwrap();
                        sender.seal(IpProtocol::Udp, pb).unwrap();
                    }
                    let watch = Stopwatch::start();
                    for pb in &mut batch[..n] {
                        black_box(inb.open(pb.payload_mut()).unwrap().payload.len());
                    }
                    total += watch.elapsed().saturating_sub(stopwatch_cost());
                    left -= n;
                }
                total
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
/// the ratio is the framing overhead even when the machine is busy. At 1400 bytes each
/// primitive the crate uses is measured on its own (warm buffers, keys set up once); with
/// `--features bench`, so is every candidate library it was chosen against.
fn bench_raw(c: &mut Criterion) {
    use hmac::{KeyInit, Mac};

    let mut group = c.benchmark_group("raw");
    #[cfg(feature = "bench")]
    bench_raw_sizes(&mut group);

    // 1400-byte candidates, one primitive at a time.
    let size = 1400;
    let padded = 1408; // payload + pad length + next header, to 16 bytes
    group.throughput(Throughput::Bytes(size as u64));
    let mut run = |name: &str, f: &mut dyn FnMut()| {
        group.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter_custom(|iters| timed(iters, &mut *f));
        });
    };
    let mut buf = vec![0u8; 24 + padded];

    // AES-128-CBC (aws-lc-rs)
    {
        use aws_lc_rs::cipher::{
            AES_128, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
            UnboundCipherKey,
        };
        use aws_lc_rs::iv::FixedLength;
        let ek = EncryptingKey::cbc(UnboundCipherKey::new(&AES_128, &[7; 16]).unwrap()).unwrap();
        let dk = DecryptingKey::cbc(UnboundCipherKey::new(&AES_128, &[7; 16]).unwrap()).unwrap();
        run("cbc128-enc-awslc", &mut || {
            let ctx = EncryptionContext::Iv128(FixedLength::from([1u8; 16]));
            ek.less_safe_encrypt(&mut buf[24..], ctx).unwrap();
            black_box(&buf);
        });
        run("cbc128-dec-awslc", &mut || {
            let ctx = DecryptionContext::Iv128(FixedLength::from([1u8; 16]));
            dk.decrypt(&mut buf[24..], ctx).unwrap();
            black_box(&buf);
        });
        // The CBC IV generator: one AES-128 block per packet.
        let ecb = EncryptingKey::ecb(UnboundCipherKey::new(&AES_128, &[5; 16]).unwrap()).unwrap();
        let mut seq = 0u64;
        run("ivgen-awslc", &mut || {
            seq += 1;
            let mut block = [0u8; 16];
            block[8..].copy_from_slice(&seq.to_be_bytes());
            ecb.less_safe_encrypt(&mut block, EncryptionContext::None)
                .unwrap();
            black_box(block);
        });
    }

    // HMAC-SHA1 over header + IV + ciphertext (1432 bytes), key processed once.
    let mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&[9; 20]).unwrap();
    run("hmacsha1-rustcrypto", &mut || {
        let mut m = mac.clone();
        m.update(&buf);
        black_box(m.finalize());
    });
    {
        use sha1::Digest;
        run("sha1-rustcrypto", &mut || {
            black_box(sha1::Sha1::digest(&buf));
        });
    }
    // SHA-2 HMACs (SHA-NI for SHA-256; SHA-512 has no hardware support on Zen 3).
    let mac256 = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[9; 32]).unwrap();
    run("hmacsha256-rustcrypto", &mut || {
        let mut m = mac256.clone();
        m.update(&buf);
        black_box(m.finalize());
    });
    let mac512 = hmac::Hmac::<sha2::Sha512>::new_from_slice(&[9; 64]).unwrap();
    run("hmacsha512-rustcrypto", &mut || {
        let mut m = mac512.clone();
        m.update(&buf);
        black_box(m.finalize());
    });

    // AES-128-GCM seal and open (ring), 1400 bytes, warm buffer.
    let mut data = vec![0u8; size + 16];
    let mut n = 0u64;
    let mut nonce = move || {
        n += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        nonce
    };
    let rk = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &[7; 16]).unwrap(),
    );
    // One sealed packet to open again and again (same nonce: fine for a benchmark of the
    // decrypt cost; the tag check passes every time).
    let fixed = [0u8; 12];
    let mut sealed = vec![0u8; size];
    let t = rk
        .seal_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(fixed),
            ring::aead::Aad::from([0u8; 8]),
            &mut sealed,
        )
        .unwrap();
    sealed.extend_from_slice(t.as_ref());
    run("gcm128-copy-only", &mut || {
        data.copy_from_slice(&sealed);
        black_box(&data);
    });
    run("gcm128-seal-ring", &mut || {
        let t = rk
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce()),
                ring::aead::Aad::from([0u8; 8]),
                &mut data[..size],
            )
            .unwrap();
        let _ = black_box(t);
    });
    run("gcm128-open-ring", &mut || {
        data.copy_from_slice(&sealed);
        let p = rk
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(fixed),
                ring::aead::Aad::from([0u8; 8]),
                &mut data,
            )
            .unwrap();
        black_box(p.len());
    });

    #[cfg(feature = "bench")]
    candidates::bench(&mut run, &mut buf, &mut data, &sealed, &mut nonce);
    group.finish();
}

/// Per size: aws-lc-rs AES-128-GCM seal and RustCrypto AES-128-CBC + HMAC-SHA1 seal.
#[cfg(feature = "bench")]
fn bench_raw_sizes(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use cbc::cipher::{Array, BlockModeEncrypt, InnerIvInit};
    use hmac::{KeyInit, Mac};

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
                        let (blocks, _) = Array::slice_as_chunks_mut(&mut pkt[24..]);
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
}

/// The libraries each primitive was chosen against (feature `bench`), at 1400 bytes.
#[cfg(feature = "bench")]
mod candidates {
    use std::hint::black_box;

    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use cbc::cipher::{Array, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
    use hmac::{KeyInit, Mac};

    pub(crate) fn bench(
        run: &mut dyn FnMut(&str, &mut dyn FnMut()),
        buf: &mut [u8],
        data: &mut [u8],
        sealed: &[u8],
        nonce: &mut dyn FnMut() -> [u8; 12],
    ) {
        let size = sealed.len() - 16;

        // AES-128-CBC and the IV generator's block on RustCrypto.
        let aes = aes::Aes128::new(&[7; 16].into());
        run("cbc128-enc-rustcrypto", &mut || {
            let (blocks, _) = Array::slice_as_chunks_mut(&mut buf[24..]);
            cbc::Encryptor::<&aes::Aes128>::inner_iv_init(&aes, &[1; 16].into())
                .encrypt_blocks(blocks);
            black_box(&buf);
        });
        run("cbc128-dec-rustcrypto", &mut || {
            let (blocks, _) = Array::slice_as_chunks_mut(&mut buf[24..]);
            cbc::Decryptor::<&aes::Aes128>::inner_iv_init(&aes, &[1; 16].into())
                .decrypt_blocks(blocks);
            black_box(&buf);
        });
        let iv_key = aes::Aes128::new(&[5; 16].into());
        let mut seq = 0u64;
        run("ivgen-rustcrypto", &mut || {
            seq += 1;
            let mut block = Array::from([0u8; 16]);
            block[8..].copy_from_slice(&seq.to_be_bytes());
            iv_key.encrypt_block(&mut block);
            black_box(block);
        });

        // HMACs on aws-lc-rs and ring.
        let awskey =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[9; 20]);
        run("hmacsha1-awslc", &mut || {
            let mut m = aws_lc_rs::hmac::Context::with_key(&awskey);
            m.update(buf);
            black_box(m.sign());
        });
        for (name, alg) in [
            ("hmacsha256-awslc", aws_lc_rs::hmac::HMAC_SHA256),
            ("hmacsha512-awslc", aws_lc_rs::hmac::HMAC_SHA512),
        ] {
            let key = aws_lc_rs::hmac::Key::new(alg, &[9; 32]);
            run(name, &mut || {
                let mut m = aws_lc_rs::hmac::Context::with_key(&key);
                m.update(buf);
                black_box(m.sign());
            });
        }
        let ringkey = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[9; 20]);
        run("hmacsha1-ring", &mut || {
            let mut m = ring::hmac::Context::with_key(&ringkey);
            m.update(buf);
            black_box(m.sign());
        });

        let mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&[9; 20]).unwrap();
        run("cbc128-hmacsha1-sequential", &mut || {
            let (blocks, _) = Array::slice_as_chunks_mut(&mut buf[24..]);
            cbc::Encryptor::<&aes::Aes128>::inner_iv_init(&aes, &[1; 16].into())
                .encrypt_blocks(blocks);
            let mut m = mac.clone();
            m.update(buf);
            black_box(m.finalize());
        });

        // AES-128-GCM on aws-lc-rs and RustCrypto (the packet was sealed by ring: the
        // same bytes, as the ESP tests prove).
        let fixed = [0u8; 12];
        let aws = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7; 16]).unwrap());
        run("gcm128-seal-awslc", &mut || {
            let t = aws
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce()),
                    Aad::from([0u8; 8]),
                    &mut data[..size],
                )
                .unwrap();
            let _ = black_box(t);
        });
        run("gcm128-open-awslc", &mut || {
            data.copy_from_slice(sealed);
            let p = aws
                .open_in_place(
                    Nonce::assume_unique_for_key(fixed),
                    Aad::from([0u8; 8]),
                    data,
                )
                .unwrap();
            black_box(p.len());
        });
        let rc = <aes_gcm::Aes128Gcm as aes_gcm::KeyInit>::new_from_slice(&[7; 16]).unwrap();
        {
            use aes_gcm::aead::AeadInOut;
            run("gcm128-seal-rustcrypto", &mut || {
                let nn = nonce();
                let t = rc
                    .encrypt_inout_detached(&nn.into(), &[0u8; 8], (&mut data[..size]).into())
                    .unwrap();
                black_box(t);
            });
            run("gcm128-open-rustcrypto", &mut || {
                data.copy_from_slice(sealed);
                let (d, t) = data.split_at_mut(size);
                let t = aes_gcm::aead::Tag::<aes_gcm::Aes128Gcm>::try_from(&t[..]).unwrap();
                rc.decrypt_inout_detached(&fixed.into(), &[0u8; 8], d.into(), &t)
                    .unwrap();
                black_box(&d);
            });
        }
    }
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
        // The default is ring; with `--features bench`, the other two in the same ESP
        // path, for comparison.
        #[cfg(feature = "bench")]
        if suite.encryption().is_aead() {
            for (backend, name) in [
                (GcmBackend::AwsLc, "awslc"),
                (GcmBackend::RustCrypto, "rustcrypto"),
            ] {
                let other = format!("{label}-{name}");
                bench_suite(c, suite, backend, &other);
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
