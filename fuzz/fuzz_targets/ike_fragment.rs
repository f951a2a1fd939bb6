#![no_main]
//! IKE fragment codec and reassembler: a datagram that decodes re-encodes to the same
//! bytes; a stream of fragments (numbers, flags, IDs, sizes, paths and times chosen by
//! the input) never makes the reassembler exceed its limits, and whatever it returns is
//! the fragments' data in number order.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike::fragment::{FLAG_LAST, FragmentConfig, FragmentMessage, FragmentPayload, Reassembler};
use ike::msgs::{Cookie, ExchangeType, Flags, Header, MessageId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 1. The codec on the raw input.
    if let Ok(m) = FragmentMessage::decode(data) {
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out.as_slice(), &data[..m.header.length as usize]);
        assert_eq!(FragmentMessage::decode(&out), Ok(m));
    }

    // 2. The reassembler fed with 4-byte records: path, number, flags|id, data length.
    let cfg = FragmentConfig {
        max_fragments: 8,
        max_message_len: 2048,
        max_per_source: 3,
        max_total: 5,
        timeout: Duration::from_millis(50),
        ..FragmentConfig::default()
    };
    let mut r = Reassembler::new(cfg.clone());
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    for rec in data.chunks_exact(4) {
        let (who, number, flags_id, len) = (rec[0], rec[1], rec[2], rec[3]);
        now += Duration::from_millis(u64::from(who >> 4));
        if who & 0x08 != 0 {
            r.handle_timeout(now);
        }
        let path = ike::Path {
            local: SocketAddr::from(([192, 0, 2, 1], 4500)),
            remote: SocketAddr::from(([198, 51, 100, who & 0x03], 4500 + u16::from(who & 0x04))),
        };
        let number = number % 10;
        // Data derived from the number, so the expected reassembly is known.
        let data = vec![number; usize::from(len) * 4];
        let header = Header {
            icookie: Cookie([1; 8]),
            rcookie: Cookie([2; 8]),
            next_payload: ike::fragment::PAYLOAD_TYPE,
            version: Header::VERSION,
            exchange: ExchangeType::IdentityProtection,
            flags: Flags(0),
            message_id: MessageId(0),
            length: 0,
        };
        let msg = FragmentMessage {
            header,
            fragment: FragmentPayload {
                id: u16::from(flags_id >> 1),
                number,
                flags: flags_id & FLAG_LAST,
                data: &data,
            },
        };
        if let Ok(Some(whole)) = r.insert(now, path, &msg) {
            assert!(whole.len() <= cfg.max_message_len);
            // Runs of each number, non-decreasing: fragments were joined in order.
            assert!(whole.windows(2).all(|w| w[0] <= w[1]));
        }
        assert!(r.in_progress() <= cfg.max_total);
        if let Some(t) = r.poll_timeout() {
            assert!(t <= now + cfg.timeout);
        }
    }
});
