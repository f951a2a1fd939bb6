//! L2TP AVPs one by one: iteration is bounded and never panics; every AVP that decodes
//! (with or without the secret) encodes and decodes back to itself.
#![no_main]

use l2tp::msgs::{Avp, AvpIter, AvpValue, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let secret = Secret::new(b"fuzz".to_vec());
    let rv = [0x5au8; 16];
    let mut count = 0;
    for raw in AvpIter::new(data) {
        count += 1;
        assert!(count <= data.len() / 6 + 1);
        let Ok(raw) = raw else { break };
        for (secret, rv) in [(None, None), (Some(&secret), Some(&rv[..]))] {
            let Ok(avp) = Avp::decode(&raw, secret, rv) else {
                continue;
            };
            let mut out = Vec::new();
            avp.encode(&mut out, secret, rv).unwrap();
            let again = AvpIter::new(&out).next().unwrap().unwrap();
            assert_eq!(Avp::decode(&again, secret, rv).unwrap(), avp);
            // Uninterpreted AVPs are kept byte for byte.
            if let AvpValue::Raw { .. } = avp.value {
                assert_eq!(again, raw);
            }
        }
    }
});
