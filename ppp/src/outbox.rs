//! The queue of frames waiting for `poll_transmit`, bounded so a peer that makes us
//! reply faster than the caller drains cannot grow it without limit.

use std::collections::VecDeque;

use crate::msgs::cp::{Code, CpPacket};
use crate::msgs::frame::{self, Protocol};

/// Frames held at most; beyond this new frames are dropped and counted.
pub(crate) const MAX_QUEUED: usize = 64;

/// The largest control packet we build (Code-Reject and Protocol-Reject copy the
/// offending packet only up to this).
pub(crate) const MAX_CP_LEN: usize = 1400;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    frames: VecDeque<Vec<u8>>,
    pub(crate) dropped: u64,
}

impl Outbox {
    /// Queues a control packet. Control protocols always carry `FF 03` and a two-byte
    /// protocol field (RFC 1661 §6.6: ACFC never applies to LCP).
    pub(crate) fn push_cp(
        &mut self,
        protocol: Protocol,
        code: Code,
        id: u8,
        f: impl FnOnce(&mut wire::Writer<'_>),
    ) {
        let mut out = Vec::with_capacity(64);
        frame::write_header(protocol, false, false, &mut out);
        CpPacket::encode_with(code, id, &mut out, f);
        self.push(out);
    }

    /// Queues a complete frame.
    pub(crate) fn push(&mut self, frame: Vec<u8>) {
        if self.frames.len() >= MAX_QUEUED {
            self.dropped += 1;
            return;
        }
        self.frames.push_back(frame);
    }

    pub(crate) fn pop(&mut self) -> Option<Vec<u8>> {
        self.frames.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
