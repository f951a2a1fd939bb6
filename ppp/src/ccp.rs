//! A CCP (RFC 1962) negotiator for a client that imitates Windows: it asks for the MPPE
//! option (type 18, RFC 3078 §2.1) with the configured bits and rejects every option the
//! server asks for, since neither compression nor MPPE is implemented (IPsec protects
//! the link). The session closes CCP when the server Naks or rejects MPPE, as Windows
//! does.
//!
//! What Windows 7 sent to pppd 2.4.5 (an Ubuntu Forums thread on xl2tpd 1.2.6 +
//! Openswan, client "ENIGMA-PC"): the MPPE option with only the stateless bit, no key
//! strength and no MPPC, and after the Reject a Terminate-Request:
//!
//! ```text
//! rcvd [CCP ConfReq id=0x7 <mppe +H -M -S -L -D -C>]
//! sent [CCP ConfRej id=0x7 <mppe +H -M -S -L -D -C>]
//! rcvd [CCP TermReq id=0x9 ...]
//! ```

use wire::Writer;

use crate::fsm::{Negotiator, Verdict};
use crate::msgs::cp::{OptionIter, write_option};

/// The MPPE/MPPC option type (RFC 2118, RFC 3078).
pub const OPTION_MPPE: u8 = 18;
/// MPPE's stateless ("H") bit (RFC 3078 §2.1: 0x01 in the most significant octet).
pub const MPPE_STATELESS: u32 = 0x0100_0000;

#[derive(Debug)]
pub(crate) struct Ccp {
    mppe: Option<u32>,
    want_mppe: bool,
    /// The server Nak'd or rejected our MPPE option: nothing is left to negotiate.
    pub(crate) refused: bool,
}

impl Ccp {
    pub(crate) fn new(mppe: Option<u32>) -> Self {
        Self {
            mppe,
            want_mppe: mppe.is_some(),
            refused: false,
        }
    }
}

impl Negotiator for Ccp {
    fn reset(&mut self) {
        self.want_mppe = self.mppe.is_some();
        self.refused = false;
    }

    fn write_request(&mut self, w: &mut Writer<'_>) {
        if let Some(bits) = self.mppe.filter(|_| self.want_mppe) {
            write_option(w, OPTION_MPPE, &bits.to_be_bytes());
        }
    }

    fn check_request(
        &mut self,
        options: &[u8],
        _reject_naks: bool,
        reply: &mut Writer<'_>,
    ) -> Verdict {
        // No compression or MPPE here: every option the server wants is rejected; an
        // empty request is acked.
        let mut any = false;
        for opt in OptionIter::new(options).flatten() {
            opt.encode(reply);
            any = true;
        }
        if any { Verdict::Reject } else { Verdict::Ack }
    }

    fn on_ack(&mut self, _options: &[u8]) {}

    fn on_nak(&mut self, _options: &[u8]) {
        self.want_mppe = false;
        self.refused = true;
    }

    fn on_reject(&mut self, _options: &[u8]) {
        self.want_mppe = false;
        self.refused = true;
    }
}
