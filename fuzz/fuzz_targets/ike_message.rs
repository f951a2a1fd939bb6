#![no_main]
//! ISAKMP message codec: decode → encode → decode must give the same message.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ike::msgs::Message::decode(data) {
        let mut out = Vec::new();
        m.encode(&mut out);
        let again = ike::msgs::Message::decode(&out).expect("re-encoded message decodes");
        assert_eq!(m.body, again.body);
        // Chains inside an encrypted body are parsed by the engine after decryption.
        if let ike::msgs::Body::Plain(_) = m.body {
            let chain = ike::msgs::parse_chain(m.header.next_payload, &data[28..m.header.length as usize]);
            assert!(chain.is_ok());
        }
    }
});
