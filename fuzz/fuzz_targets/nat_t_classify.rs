//! The UDP 4500 classifier (RFC 3948) on arbitrary datagrams: never panics, and its
//! answer agrees with the marker rules.
#![no_main]

use esp::nat_t::{Udp4500, classify_4500, spi};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match classify_4500(data) {
        Ok(Udp4500::Keepalive) => assert_eq!(data, [0xff]),
        Ok(Udp4500::Ike(rest)) => {
            assert_eq!(&data[..4], [0, 0, 0, 0]);
            assert_eq!(rest, &data[4..]);
        }
        Ok(Udp4500::Esp { spi: s, packet }) => {
            assert_ne!(s.0, 0, "an ESP SPI is never zero");
            assert_eq!(packet, data);
            assert_eq!(spi(data), Ok(s));
        }
        Err(_) => assert!(data.len() < 8),
    }
});
