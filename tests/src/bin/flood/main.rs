//! The traffic of `scripts/flood.sh` (issue 14): attacks on `l2tpgw serve`, a legitimate
//! prober that measures how the gateway answers real clients meanwhile, and the report
//! that puts the measurements next to the targets.
//!
//! * `flood attack KIND --target IP --rate R --seconds N --spoof CIDR --real IP`: one
//!   attack (kinds below) for N seconds at R packets per second; prints `key=value`
//!   lines (packets sent, rate achieved, what came back).
//! * `flood probe --target IP --from CIDR --interval-ms 10 --seconds N`: a fresh first
//!   Main Mode message every interval, each from the next address of CIDR; prints how
//!   many were answered by a second message within `--timeout-ms` (default 1000) and the
//!   median answer time.
//! * `flood report [--json] [--check] FILE...`: one file of `key=value` lines per run
//!   (what `attack` and `probe` printed plus the gateway's figures the script read);
//!   prints the table, optionally JSON, and with `--check` exits 1 when a target fails.
//!
//! The attacks (`KIND`):
//! * `none`: nothing (the baseline: the prober, the session and the gateway's idle CPU).
//! * `bad-mm3`: one real first/second Main Mode exchange from `--real` proposing
//!   MODP-4096, then the same third message with a KE of all 0xff bytes, again and again.
//! * `spoofed-mm1`: acceptable first messages, each from a random address of `--spoof`.
//! * `junk-4500`: UDP 4500 datagrams from random addresses: ESP with random SPIs, random
//!   bytes, and IKE headers after the non-ESP marker with random content.
//! * `fragments`: one real exchange from `--real` for a half-open SA (announcing IKE
//!   fragmentation), then IKE fragments that never complete from random addresses, every
//!   other one under that SA's cookies, the rest under random cookies.
//! * `big-proposal`: first messages with 31 proposals of 64 unacceptable transforms from
//!   random addresses (the log-flooding case; run it at a modest rate).

mod msgs;
mod net;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ike::msgs::Cookie;
use wire::random::{DeterministicRandom, SecureRandom};

use crate::msgs::Answer;
use crate::net::{Pacer, Range, Sender};

const USAGE: &str =
    "usage: flood attack KIND --target IP --rate R --seconds N [--spoof CIDR] [--real IP]
       flood probe --target IP --from CIDR --seconds N [--interval-ms 10] [--timeout-ms 1000]
       flood report [--json] [--check] FILE...
KIND: none bad-mm3 spoofed-mm1 junk-4500 fragments big-proposal";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "attack" => Options::parse(rest).and_then(|o| attack(&o)),
        Some((cmd, rest)) if cmd == "probe" => Options::parse(rest).and_then(|o| probe(&o)),
        Some((cmd, rest)) if cmd == "report" => Options::parse(rest).and_then(|o| report::run(&o)),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("flood: {e}");
            ExitCode::from(2)
        }
    }
}

/// The options that take no value.
const FLAGS: [&str; 2] = ["json", "check"];

/// `--key value` pairs (a flag of [`FLAGS`] is `"true"`) and the positional words.
#[derive(Debug, Default)]
pub(crate) struct Options {
    named: BTreeMap<String, String>,
    /// Words that are not options, in order.
    pub(crate) positional: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self::default();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--") {
                let value = if FLAGS.contains(&key) {
                    "true".to_owned()
                } else {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("--{key} needs a value\n{USAGE}"))?
                };
                o.named.insert(key.to_owned(), value);
            } else {
                o.positional.push(a.clone());
            }
        }
        Ok(o)
    }

    /// Whether `--key` was given.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.named.get(key).is_some_and(|v| v == "true")
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: Option<T>) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.named.get(key) {
            Some(v) => v.parse().map_err(|e| format!("--{key} {v}: {e}")),
            None => default.ok_or_else(|| format!("--{key} is required\n{USAGE}")),
        }
    }
}

/// A generator seeded from the OS (`/dev/urandom`): cookies and addresses need only be
/// distinct, not secret.
fn seeded_rng() -> Result<DeterministicRandom, String> {
    use std::io::Read;
    let mut seed = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(DeterministicRandom::new(u64::from_le_bytes(seed)))
}

/// One datagram of an attack: from where, to where, what.
struct Packet {
    src: Ipv4Addr,
    dst: SocketAddrV4,
    data: Vec<u8>,
}

/// What one attack run did.
#[derive(Debug, Default)]
struct Sent {
    packets: u64,
    bytes: u64,
    largest: usize,
    /// Sends refused by a full socket buffer (not counted as sent).
    failures: u64,
    elapsed: Duration,
}

/// Sends what `next` makes at `rate` per second for `length`, reading (and counting)
/// whatever comes back meanwhile.
fn run_paced(
    sender: &mut Sender,
    rate: f64,
    length: Duration,
    mut next: impl FnMut(u64) -> Packet,
) -> Result<Sent, String> {
    let pacer = Pacer::new(rate, length);
    let mut sent = Sent::default();
    let mut attempts = 0u64;
    while let Some(due) = pacer.due() {
        while attempts < due {
            let p = next(attempts);
            attempts += 1;
            if sender.send_from(p.src, p.dst, &p.data)? {
                sent.packets += 1;
                sent.bytes += p.data.len() as u64;
                sent.largest = sent.largest.max(p.data.len());
            } else {
                sent.failures += 1;
            }
        }
        sender.drain()?;
        std::thread::sleep(Duration::from_micros(200));
    }
    sent.elapsed = pacer.elapsed();
    Ok(sent)
}

/// One real first/second Main Mode exchange from `real`: the cookies of the half-open SA
/// the gateway now holds. The first message is resent every second, three times.
fn half_open_sa(
    sender: &mut Sender,
    real: Ipv4Addr,
    target: SocketAddrV4,
    rng: &mut dyn SecureRandom,
) -> Result<(Cookie, Cookie), String> {
    let icookie = msgs::random_cookie(rng);
    let mm1 = msgs::attacker_main_mode_1(icookie);
    for _ in 0..3 {
        sender.send_from(real, target, &mm1)?;
        let deadline = ::tests::interop::now() + Duration::from_secs(1);
        while ::tests::interop::now() < deadline {
            if let Some(d) = sender.recv()?
                && let Some(rcookie) = msgs::responder_cookie(d, icookie)
            {
                return Ok((icookie, rcookie));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Err(format!(
        "no second Main Mode message from {target} to {real}: is the gateway up, with MODP-4096 allowed?"
    ))
}

fn attack(o: &Options) -> Result<bool, String> {
    let kind = o
        .positional
        .first()
        .ok_or_else(|| USAGE.to_owned())?
        .clone();
    let target: Ipv4Addr = o.get("target", None)?;
    let rate: f64 = o.get("rate", Some(5000.0))?;
    let seconds: f64 = o.get("seconds", Some(10.0))?;
    let spoof = Range::parse(&o.get::<String>("spoof", Some("198.18.0.0/15".into()))?)?;
    let real: Ipv4Addr = o.get("real", Some(Ipv4Addr::UNSPECIFIED))?;
    if !(rate > 0.0 && rate.is_finite() && seconds > 0.0 && seconds.is_finite()) {
        return Err("--rate and --seconds must be positive".into());
    }
    let length = Duration::from_secs_f64(seconds);
    let ike = SocketAddrV4::new(target, 500);
    let nat_t = SocketAddrV4::new(target, 4500);
    let mut rng = seeded_rng()?;
    let mut sender = Sender::bind(0)?;
    let need_real = || {
        if real.is_unspecified() {
            Err(format!("{kind} needs --real (the attacker's own address)"))
        } else {
            Ok(real)
        }
    };
    let sent = match kind.as_str() {
        "none" => {
            let pacer = Pacer::new(1.0, length);
            while pacer.due().is_some() {
                std::thread::sleep(Duration::from_millis(50));
            }
            Sent {
                elapsed: pacer.elapsed(),
                ..Sent::default()
            }
        }
        "bad-mm3" => {
            let real = need_real()?;
            let (ic, rc) = half_open_sa(&mut sender, real, ike, &mut rng)?;
            let mut nonce = [0u8; 32];
            rng.fill(&mut nonce);
            // The very same datagram every time: a replay costs the attacker nothing.
            let mm3 = msgs::invalid_ke_main_mode_3(ic, rc, nonce);
            run_paced(&mut sender, rate, length, |_| Packet {
                src: real,
                dst: ike,
                data: mm3.clone(),
            })?
        }
        "spoofed-mm1" => run_paced(&mut sender, rate, length, |_| Packet {
            src: spoof.random(&mut rng),
            dst: ike,
            data: msgs::legit_main_mode_1(msgs::random_cookie(&mut rng)),
        })?,
        "junk-4500" => run_paced(&mut sender, rate, length, |n| Packet {
            src: spoof.random(&mut rng),
            dst: nat_t,
            data: msgs::junk_4500(msgs::Junk::nth(n), &mut rng),
        })?,
        "fragments" => {
            let real = need_real()?;
            let (ic, rc) = half_open_sa(&mut sender, real, ike, &mut rng)?;
            run_paced(&mut sender, rate, length, |n| {
                let (i, r) = if n % 2 == 0 {
                    (ic, rc)
                } else {
                    (msgs::random_cookie(&mut rng), msgs::random_cookie(&mut rng))
                };
                Packet {
                    src: spoof.random(&mut rng),
                    dst: ike,
                    data: msgs::fragment(i, r, &mut rng),
                }
            })?
        }
        "big-proposal" => run_paced(&mut sender, rate, length, |_| Packet {
            src: spoof.random(&mut rng),
            dst: ike,
            data: msgs::big_proposal_main_mode_1(msgs::random_cookie(&mut rng)),
        })?,
        other => return Err(format!("unknown attack {other:?}\n{USAGE}")),
    };
    // Answers still in flight.
    std::thread::sleep(Duration::from_millis(300));
    sender.drain()?;
    let secs = sent.elapsed.as_secs_f64();
    println!("attack={kind}");
    println!("target_rate={rate}");
    println!("sent={}", sent.packets);
    println!("sent_bytes={}", sent.bytes);
    println!("sent_max={}", sent.largest);
    println!("send_failures={}", sent.failures);
    println!("attack_s={secs:.3}");
    println!(
        "rate={:.1}",
        if secs > 0.0 {
            sent.packets as f64 / secs
        } else {
            0.0
        }
    );
    println!("replies={}", sender.replies.count);
    println!("reply_bytes={}", sender.replies.bytes);
    println!("reply_max={}", sender.replies.max);
    Ok(true)
}

fn probe(o: &Options) -> Result<bool, String> {
    let target = SocketAddrV4::new(o.get("target", None)?, 500);
    let from = Range::parse(&o.get::<String>("from", None)?)?;
    let seconds: f64 = o.get("seconds", Some(10.0))?;
    let interval = Duration::from_millis(o.get("interval-ms", Some(10))?);
    let timeout = Duration::from_millis(o.get("timeout-ms", Some(1000))?);
    if !(seconds > 0.0 && seconds.is_finite()) || interval.is_zero() {
        return Err("--seconds and --interval-ms must be positive".into());
    }
    let mut rng = seeded_rng()?;
    let mut sender = Sender::bind(0)?;
    let mut pending: HashMap<Cookie, Instant> = HashMap::new();
    let mut answered: Vec<Duration> = Vec::new();
    let (mut probes, mut late, mut refused, mut unsent) = (0u64, 0u64, 0u64, 0u64);
    let start = ::tests::interop::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut next_send = start;
    loop {
        let now = ::tests::interop::now();
        if now >= end + timeout {
            break;
        }
        if now >= next_send && now < end {
            let icookie = msgs::random_cookie(&mut rng);
            let src = from.host(u32::try_from(probes).unwrap_or(0));
            probes += 1;
            if sender.send_from(src, target, &msgs::legit_main_mode_1(icookie))? {
                pending.insert(icookie, now);
            } else {
                unsent += 1;
            }
            next_send += interval;
        }
        while let Some(d) = sender.recv()? {
            let at = ::tests::interop::now();
            match msgs::classify_answer(d) {
                Some(Answer::MainMode2(c)) => {
                    if let Some(sent_at) = pending.remove(&c) {
                        let took = at.duration_since(sent_at);
                        if took <= timeout {
                            answered.push(took);
                        } else {
                            late += 1;
                        }
                    }
                }
                Some(Answer::Other(c)) if pending.remove(&c).is_some() => refused += 1,
                Some(Answer::Other(_)) | None => {}
            }
        }
        std::thread::sleep(Duration::from_micros(250));
    }
    answered.sort_unstable();
    let ms = |d: Option<&Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
    let pct = |p: usize| answered.get((answered.len().saturating_sub(1)) * p / 100);
    println!("probes={probes}");
    println!("probe_unsent={unsent}");
    println!("answered={}", answered.len());
    println!("late={late}");
    println!("refused={refused}");
    println!("median_ms={:.2}", ms(pct(50)));
    println!("p95_ms={:.2}", ms(pct(95)));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_take_no_value_and_options_take_one() {
        let o = Options::parse(&words("--json --check a.txt --rate 10 b.txt")).unwrap();
        assert!(o.flag("json") && o.flag("check"));
        assert_eq!(o.positional, ["a.txt", "b.txt"]);
        assert_eq!(o.get::<u32>("rate", None), Ok(10));
        assert_eq!(o.get::<u32>("seconds", Some(3)), Ok(3));
        assert!(o.get::<u32>("target", None).is_err());
        assert!(Options::parse(&words("bad-mm3 --rate")).is_err());
    }
}
