//! Log flooding (issue 14): a refused first message writes one line, with the peer's
//! address and every reason summarised, at info at most once per source in a while
//! (then at debug); never a line per refused transform above trace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "test code"
)]

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ike::msgs::{
    self, Attribute, Body, Cookie, ExchangeType, Header, Message, Payload, Phase1Attr, Proposal,
    ProtocolId, SaPayload, Transform,
};
use ike::{Config, Endpoint, Error, Path, Psk, StaticPskStore};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use wire::random::DeterministicRandom;

/// Keeps every event as (level, "message field=value ...").
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Level, String)>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value} ");
        } else {
            let _ = write!(self.0, "{}={value} ", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), line.0));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn take(&self) -> Vec<(Level, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    Instant::now()
}

/// A first Main Mode message of 31 proposals of 64 transforms, none acceptable: bare
/// transforms (no encryption algorithm), and in the last proposal 32 with single DES.
fn hostile_first_message(icookie: u8) -> Vec<u8> {
    let bare = |n: u8| Transform {
        number: n,
        id: 1,
        attributes: Vec::new(),
    };
    let des = |n: u8| Transform {
        number: n,
        id: 1,
        attributes: vec![Attribute::short(Phase1Attr::EncryptionAlgorithm.value(), 1)],
    };
    let proposals = (1..=31u8)
        .map(|number| Proposal {
            number,
            protocol: ProtocolId::Isakmp,
            spi: Vec::new(),
            transforms: (1..=64u8)
                .map(|n| {
                    if number == 31 && n > 32 {
                        des(n)
                    } else {
                        bare(n)
                    }
                })
                .collect(),
        })
        .collect();
    let mut out = Vec::new();
    Message {
        header: Header {
            icookie: Cookie([icookie; 8]),
            rcookie: Cookie::ZERO,
            next_payload: msgs::PayloadType::Sa,
            version: Header::VERSION,
            exchange: ExchangeType::IdentityProtection,
            flags: msgs::Flags(0),
            message_id: msgs::MessageId(0),
            length: 0,
        },
        body: Body::Plain(vec![Payload::Sa(SaPayload {
            doi: msgs::DOI_IPSEC,
            situation: 1,
            proposals,
        })]),
    }
    .encode(&mut out);
    out
}

#[test]
fn a_refused_first_message_writes_one_summarised_line_rate_limited_per_source() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut s = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(1)),
    );
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), 500);
    let path = Path {
        local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500),
        remote: peer,
    };
    let now = t0();
    let mm1 = hostile_first_message(1);
    assert!(mm1.len() <= msgs::MAX_MESSAGE_LEN);
    assert_eq!(
        s.handle_datagram(now, path, &mm1),
        Err(Error::NoProposalChosen)
    );
    let lines: Vec<_> = capture
        .take()
        .into_iter()
        .filter(|(l, _)| *l <= Level::DEBUG)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let (level, line) = &lines[0];
    assert_eq!(*level, Level::INFO);
    for part in [
        "203.0.113.7:500",
        "31 proposals",
        "1984 transforms",
        "no encryption algorithm x1952",
        "encryption algorithm not supported x32",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    // The next ones from that source within the minute: one line each, at debug.
    for i in 2..5u8 {
        let at = now + Duration::from_secs(u64::from(i));
        let _ = s.handle_datagram(at, path, &hostile_first_message(i));
        let lines: Vec<_> = capture
            .take()
            .into_iter()
            .filter(|(l, _)| *l <= Level::DEBUG)
            .collect();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0].0, Level::DEBUG);
        assert!(lines[0].1.contains("1984 transforms"));
    }
    // Another source gets its info line.
    let other = Path {
        remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 8)), 500),
        ..path
    };
    let _ = s.handle_datagram(
        now + Duration::from_secs(5),
        other,
        &hostile_first_message(9),
    );
    let lines = capture.take();
    assert_eq!(
        lines
            .iter()
            .filter(|(l, _)| *l <= Level::INFO)
            .map(|(_, t)| t.contains("203.0.113.8:500"))
            .collect::<Vec<_>>(),
        [true]
    );
}
