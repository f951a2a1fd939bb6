//! The users-file parser and the inner UDP (1701) header check: arbitrary bytes never
//! panic, and an accepted inner header's payload range lies inside the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(db) = gateway_core::users::UserDb::parse(text) {
            for u in db.iter() {
                let _ = u.nt_hash();
            }
        }
        for line in text.lines() {
            let _ = gateway_core::users::parse_user_flag(line);
        }
    }
    let addrs = Some(("192.0.2.1".parse().unwrap(), "198.51.100.7".parse().unwrap()));
    for a in [None, addrs] {
        if let Ok(inner) = gateway_core::transport::parse_inner(data, a) {
            assert!(inner.payload.end <= data.len());
        }
    }
});
