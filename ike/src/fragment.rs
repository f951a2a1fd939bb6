//! IKE fragmentation: the proprietary IKEv1 format of Microsoft and Cisco, which Windows,
//! strongSwan, libreswan and racoon also speak. (IKEv2's RFC 7383 is a different format.)
//!
//! A peer announces it with the vendor ID [`vendor::FRAGMENTATION`], either alone (16
//! bytes: Windows) or followed by 4 bytes of capability flags, of which `0x80000000`
//! means "Main and Aggressive Mode messages" (strongSwan sends `80000000`, Cisco
//! `c0000000`). A fragmented message travels as datagrams that each hold an ISAKMP
//! header (the original cookies, exchange type Identity Protection, or Aggressive for an
//! Aggressive Mode message, flags 0, message ID 0) and exactly one payload of type 132:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ! Next Payload  !   RESERVED    !        Payload Length         !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !          Fragment ID          ! Fragment Num  !     Flags     !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                         Fragment Data                         ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Fragment numbers start at 1; flag `0x01` marks the last. The data of fragments 1..=last,
//! concatenated, is the whole original datagram, its header included and its body still
//! encrypted, so reassembly needs no keys: the [`Endpoint`](crate::Endpoint) reassembles
//! before it decodes, then handles the result as if it had arrived in one piece.
//!
//! * [`Reassembler`] collects fragments per (path, cookies, fragment ID), in any order,
//!   ignoring duplicates, within [`FragmentConfig`]'s limits on fragments per message,
//!   message size, reassemblies per source and in total, and time. Every limit that is
//!   hit is counted in [`FragmentStats`] and logged at debug.
//! * [`Reassembler::split_outgoing`] follows strongSwan's rule
//!   (`ike_sa.c: generate_message_fragmented`, with `fragmentation = yes`): fragment when
//!   the peer announced support and the datagram would exceed
//!   [`FragmentConfig::fragment_size`]; for Windows peers only messages that carry a
//!   CERT (strongSwan found that Windows 7 and 8 accept fragments only when they expect
//!   certificates). Our only messages that can carry a CERT are the encrypted Main Mode
//!   messages 5 and 6 and the Aggressive Mode messages, so for Windows those are the ones
//!   fragmented. Every fragment carries fragment ID 1, as strongSwan and libreswan send.
//!   The decision is taken when a datagram is polled, so retransmissions are fragmented
//!   the same way.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use wire::{DecodeError, Reader, Writer};

use crate::Path;
use crate::error::{Error, PeerMisbehaved};
use crate::msgs::vendor;
use crate::msgs::{self, Cookie, ExchangeType, Flags, HEADER_LEN, Header, MessageId, PayloadType};

/// The fragment payload's type number.
pub const PAYLOAD_TYPE: PayloadType = PayloadType::Fragment;
/// Length of the fragment payload's header (generic header, ID, number, flags).
pub const PAYLOAD_HEADER_LEN: usize = 8;
/// The flag of the last fragment.
pub const FLAG_LAST: u8 = 0x01;
/// The fragment ID we send (strongSwan and libreswan always send 1).
pub const SENT_ID: u16 = 1;
/// Capability flags we announce after the vendor ID: fragmentation of Main and
/// Aggressive Mode messages (what strongSwan sends).
pub const CAPABILITIES: [u8; 4] = [0x80, 0, 0, 0];

/// The vendor ID we announce: [`vendor::FRAGMENTATION`] and [`CAPABILITIES`].
pub fn vendor_id() -> Vec<u8> {
    [&vendor::FRAGMENTATION[..], &CAPABILITIES[..]].concat()
}

/// Settings and limits of fragmentation, in both directions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentConfig {
    /// Announce the vendor ID (to peers that announced it), accept fragments, and
    /// fragment large messages to peers that support it. Default on.
    pub enabled: bool,
    /// Largest IP datagram an IKE message is sent in before it is fragmented, IP and UDP
    /// headers and the non-ESP marker included (strongSwan's `fragment_size`, default
    /// 1280; Windows itself fragments at 576 for IPv4).
    pub fragment_size: usize,
    /// Most fragments of one message: a higher fragment number is refused and the
    /// reassembly dropped. Default 32 (libreswan's limit: Windows has been seen sending
    /// 29; a 16 KiB message in Windows' 576-byte fragments needs 33).
    pub max_fragments: u8,
    /// Largest reassembled message, in bytes (default [`msgs::MAX_MESSAGE_LEN`], the
    /// largest message the decoder accepts anyway).
    pub max_message_len: usize,
    /// Reassemblies in progress from one source address (default 8).
    pub max_per_source: usize,
    /// Reassemblies in progress in total (default 128, so at most 2 MiB are buffered).
    pub max_total: usize,
    /// Time from a reassembly's first fragment to its end (default 10 s).
    pub timeout: Duration,
}

impl Default for FragmentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            fragment_size: 1280,
            max_fragments: 32,
            max_message_len: msgs::MAX_MESSAGE_LEN,
            max_per_source: 8,
            max_total: 128,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of fragmentation, part of [`crate::Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Fragments taken into a reassembly.
    pub received: u64,
    /// Messages reassembled.
    pub reassembled: u64,
    /// Duplicate fragments, ignored.
    pub duplicates: u64,
    /// Malformed or inconsistent fragments (number 0, two last ones, past the last).
    pub invalid: u64,
    /// Fragments for no ISAKMP SA we have (nothing is buffered for them).
    pub unknown_sa: u64,
    /// Refused: a fragment number above [`FragmentConfig::max_fragments`].
    pub too_many_fragments: u64,
    /// Refused: the message grew past [`FragmentConfig::max_message_len`].
    pub too_large: u64,
    /// Refused: [`FragmentConfig::max_per_source`] or [`FragmentConfig::max_total`]
    /// reassemblies were in progress.
    pub too_many_reassemblies: u64,
    /// Reassemblies dropped incomplete at [`FragmentConfig::timeout`].
    pub timed_out: u64,
    /// Messages we sent fragmented.
    pub messages_fragmented: u64,
    /// Fragments we sent.
    pub sent: u64,
    /// Fragments refused because they came from another address than the one the
    /// ISAKMP SA is proven on (for a half-open SA: its first message's).
    pub wrong_source: u64,
}

/// The fragment payload (type 132), borrowing its data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragmentPayload<'a> {
    /// The same for every fragment of one message.
    pub id: u16,
    /// 1, 2, …
    pub number: u8,
    /// [`FLAG_LAST`] on the last fragment.
    pub flags: u8,
    /// This fragment's part of the original message.
    pub data: &'a [u8],
}

impl FragmentPayload<'_> {
    /// True on the last fragment.
    pub fn is_last(&self) -> bool {
        self.flags & FLAG_LAST != 0
    }
}

/// A datagram that carries one fragment: ISAKMP header and fragment payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragmentMessage<'a> {
    /// The datagram's own header (the cookies of the fragmented message).
    pub header: Header,
    /// The fragment.
    pub fragment: FragmentPayload<'a>,
}

/// True when `datagram` is an ISAKMP message whose first payload is a fragment (checked
/// on the header only; [`FragmentMessage::decode`] checks the rest).
pub fn is_fragment(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram.get(16) == Some(&PAYLOAD_TYPE.value())
}

impl<'a> FragmentMessage<'a> {
    /// Decodes a fragment datagram. The fragment payload must be the only payload and
    /// end where the header's length ends; fragment number 0 is refused.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, body) = msgs::split(datagram)?;
        if header.next_payload != PAYLOAD_TYPE {
            return Err(DecodeError::Invalid {
                what: "fragment message",
                reason: "first payload is not a fragment",
            });
        }
        let mut r = Reader::new(body);
        let next = PayloadType::from(r.u8("fragment payload header")?);
        let _reserved = r.u8("fragment payload header")?;
        let len = usize::from(r.u16("fragment payload length")?);
        if len < PAYLOAD_HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "fragment payload length",
                len,
            });
        }
        let id = r.u16("fragment id")?;
        let number = r.u8("fragment number")?;
        let flags = r.u8("fragment flags")?;
        let data = r.take(len - PAYLOAD_HEADER_LEN, "fragment data")?;
        r.finish("fragment message")?;
        if next != PayloadType::None {
            return Err(DecodeError::Invalid {
                what: "fragment payload",
                reason: "not the only payload",
            });
        }
        if number == 0 {
            return Err(DecodeError::Invalid {
                what: "fragment number",
                reason: "zero",
            });
        }
        Ok(Self {
            header,
            fragment: FragmentPayload {
                id,
                number,
                flags,
                data,
            },
        })
    }

    /// Appends the datagram to `out`; the header's length and next payload are set here.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut header = self.header;
        header.next_payload = PAYLOAD_TYPE;
        let mut w = Writer::new(out);
        header.encode(&mut w);
        w.u8(PayloadType::None.value());
        w.u8(0);
        let len = w.placeholder_u16();
        w.u16(self.fragment.id);
        w.u8(self.fragment.number);
        w.u8(self.fragment.flags);
        w.bytes(self.fragment.data);
        // Fragments are built from chunks far below 64 KiB (split_message's callers
        // size them from a datagram size), so the length always fits.
        let _ = w.patch_u16(len, PAYLOAD_HEADER_LEN + self.fragment.data.len());
        msgs::header::patch_length(out, start);
    }
}

/// Splits a whole IKE message into fragment datagrams of at most `max_ike_len` bytes each
/// (the UDP payload without the non-ESP marker). None when it fits as it is, when it
/// does not parse as a message, or when it would need more than 255 fragments.
pub fn split_message(message: &[u8], max_ike_len: usize, id: u16) -> Option<Vec<Vec<u8>>> {
    if message.len() <= max_ike_len {
        return None;
    }
    let (orig, _) = msgs::split(message).ok()?;
    let chunk = max_ike_len
        .saturating_sub(HEADER_LEN + PAYLOAD_HEADER_LEN)
        .max(1);
    let count = message.len().div_ceil(chunk);
    if count > usize::from(u8::MAX) {
        return None;
    }
    // strongSwan: "always use the initial message type for fragments", message ID 0.
    let exchange = if orig.exchange == ExchangeType::Aggressive {
        ExchangeType::Aggressive
    } else {
        ExchangeType::IdentityProtection
    };
    let header = Header {
        icookie: orig.icookie,
        rcookie: orig.rcookie,
        next_payload: PAYLOAD_TYPE,
        version: Header::VERSION,
        exchange,
        flags: Flags(0),
        message_id: MessageId(0),
        length: 0,
    };
    let mut out = Vec::with_capacity(count);
    for (i, data) in message.chunks(chunk).enumerate() {
        let number = u8::try_from(i + 1).ok()?;
        let mut d = Vec::with_capacity(HEADER_LEN + PAYLOAD_HEADER_LEN + data.len());
        FragmentMessage {
            header,
            fragment: FragmentPayload {
                id,
                number,
                flags: if i + 1 == count { FLAG_LAST } else { 0 },
                data,
            },
        }
        .encode(&mut d);
        out.push(d);
    }
    Some(out)
}

/// The largest IKE message (UDP payload without the non-ESP marker) that fits a
/// datagram of `fragment_size` bytes on `path`, as strongSwan computes it: minus the IP
/// header (20 or 40), UDP (8) and the non-ESP marker (4) when on the NAT-T port.
pub fn max_ike_len(fragment_size: usize, path: &Path, non_esp_marker: bool) -> usize {
    let ip = if path.remote.is_ipv4() { 20 } else { 40 };
    let marker = if non_esp_marker { 4 } else { 0 };
    fragment_size.saturating_sub(ip + 8 + marker).max(1)
}

/// What the sender knows about a peer that announced fragmentation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragmentPeer {
    /// The peer is Windows (fragments only for messages that carry a CERT).
    pub windows: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Key {
    path: Path,
    icookie: Cookie,
    rcookie: Cookie,
    id: u16,
}

/// What to do with a fragment of a reassembly in progress.
enum Step {
    Insert(usize),
    Duplicate,
    Invalid(&'static str),
    TooLarge(usize),
}

/// One message being reassembled.
struct Partial {
    key: Key,
    deadline: Instant,
    /// The last fragment's number, once it came.
    last: Option<u8>,
    /// Bytes of data held.
    len: usize,
    /// The fragments so far, by number, without duplicates.
    parts: Vec<(u8, Vec<u8>)>,
}

/// Reassembles received fragments, bounded in count, size, concurrency and time, and
/// splits outgoing messages. Sans-IO: time comes in as `now`.
pub struct Reassembler {
    config: FragmentConfig,
    partial: HashMap<u64, Partial>,
    by_key: HashMap<Key, u64>,
    per_source: HashMap<IpAddr, usize>,
    /// (deadline, reassembly), earliest first.
    timers: BTreeSet<(Instant, u64)>,
    next: u64,
    stats: FragmentStats,
}

impl core::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembler")
            .field("in_progress", &self.partial.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(config: FragmentConfig) -> Self {
        Self {
            config,
            partial: HashMap::new(),
            by_key: HashMap::new(),
            per_source: HashMap::new(),
            timers: BTreeSet::new(),
            next: 0,
            stats: FragmentStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &FragmentConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> FragmentStats {
        self.stats
    }

    /// Reassemblies in progress.
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Counts a fragment refused before reassembly because it was malformed.
    pub fn note_invalid(&mut self) {
        self.stats.invalid += 1;
    }

    /// Counts a fragment refused before reassembly because no ISAKMP SA matches it.
    pub fn note_unknown_sa(&mut self) {
        self.stats.unknown_sa += 1;
    }

    /// Counts a fragment refused before reassembly because it came from another address
    /// than its ISAKMP SA's proven one.
    pub fn note_wrong_source(&mut self) {
        self.stats.wrong_source += 1;
    }

    /// Takes one fragment that arrived on `path`. Returns the whole message when this
    /// fragment completed it, None while fragments are missing (or for a duplicate).
    /// A refused fragment is an error, counted and logged at debug; a reassembly that
    /// can no longer complete within the limits is dropped.
    pub fn insert(
        &mut self,
        now: Instant,
        path: Path,
        frag: &FragmentMessage<'_>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let f = &frag.fragment;
        let key = Key {
            path,
            icookie: frag.header.icookie,
            rcookie: frag.header.rcookie,
            id: f.id,
        };
        if f.number == 0 {
            return Err(self.invalid(&key, "fragment number 0"));
        }
        if f.number > self.config.max_fragments {
            self.stats.too_many_fragments += 1;
            tracing::debug!(peer = %path.remote, number = f.number,
                max = self.config.max_fragments, "IKE fragment refused: too many fragments");
            self.drop_key(&key);
            return Err(Error::LimitExceeded("IKE fragments per message"));
        }
        let seq = match self.by_key.get(&key) {
            Some(s) => *s,
            None => self.start(now, key, f.data.len())?,
        };
        let step = match self.partial.get(&seq) {
            Some(p) => Self::check(p, f, self.config.max_message_len),
            None => return Ok(None),
        };
        let pos = match step {
            Step::Insert(pos) => pos,
            Step::Invalid(why) => return Err(self.invalid(&key, why)),
            Step::Duplicate => {
                self.stats.duplicates += 1;
                tracing::debug!(peer = %path.remote, number = f.number,
                    "duplicate IKE fragment ignored");
                return Ok(None);
            }
            Step::TooLarge(len) => {
                self.stats.too_large += 1;
                tracing::debug!(peer = %path.remote, len, max = self.config.max_message_len,
                    "IKE fragments refused: message too large");
                self.remove(seq);
                return Err(Error::LimitExceeded("reassembled IKE message size"));
            }
        };
        let Some(p) = self.partial.get_mut(&seq) else {
            return Ok(None);
        };
        p.parts.insert(pos, (f.number, f.data.to_vec()));
        p.len += f.data.len();
        if f.is_last() {
            p.last = Some(f.number);
        }
        self.stats.received += 1;
        let complete = p.last.is_some_and(|l| usize::from(l) == p.parts.len());
        if !complete {
            return Ok(None);
        }
        let Some(p) = self.remove(seq) else {
            return Ok(None);
        };
        let mut whole = Vec::with_capacity(p.len);
        for (_, d) in &p.parts {
            whole.extend_from_slice(d);
        }
        self.stats.reassembled += 1;
        tracing::debug!(peer = %path.remote, fragments = p.parts.len(), len = whole.len(),
            "IKE message reassembled");
        Ok(Some(whole))
    }

    /// Where fragment `f` goes in `p`, or why it does not.
    fn check(p: &Partial, f: &FragmentPayload<'_>, max_len: usize) -> Step {
        if let Some(last) = p.last {
            if f.is_last() && f.number != last {
                return Step::Invalid("a second last fragment");
            }
            if f.number > last {
                return Step::Invalid("a fragment past the last");
            }
        } else if f.is_last() && p.parts.iter().any(|(n, _)| *n > f.number) {
            return Step::Invalid("a last fragment before others");
        }
        match p.parts.binary_search_by_key(&f.number, |(n, _)| *n) {
            Ok(_) => Step::Duplicate,
            Err(_) if p.len + f.data.len() > max_len => Step::TooLarge(p.len + f.data.len()),
            Err(pos) => Step::Insert(pos),
        }
    }

    /// Starts a reassembly for `key`, within the concurrency limits.
    fn start(&mut self, now: Instant, key: Key, first_len: usize) -> Result<u64, Error> {
        let source = key.path.remote.ip();
        if self.partial.len() >= self.config.max_total {
            self.stats.too_many_reassemblies += 1;
            tracing::debug!(peer = %key.path.remote, max = self.config.max_total,
                "IKE fragment refused: too many reassemblies in total");
            return Err(Error::LimitExceeded("IKE fragment reassemblies"));
        }
        let from_source = self.per_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.config.max_per_source {
            self.stats.too_many_reassemblies += 1;
            tracing::debug!(peer = %key.path.remote, max = self.config.max_per_source,
                "IKE fragment refused: too many reassemblies from this source");
            return Err(Error::LimitExceeded("IKE fragment reassemblies per source"));
        }
        if first_len > self.config.max_message_len {
            self.stats.too_large += 1;
            tracing::debug!(peer = %key.path.remote, len = first_len,
                "IKE fragment refused: message too large");
            return Err(Error::LimitExceeded("reassembled IKE message size"));
        }
        let seq = self.next;
        self.next += 1;
        let deadline = now + self.config.timeout;
        self.partial.insert(
            seq,
            Partial {
                key,
                deadline,
                last: None,
                len: 0,
                parts: Vec::new(),
            },
        );
        self.by_key.insert(key, seq);
        *self.per_source.entry(source).or_insert(0) += 1;
        self.timers.insert((deadline, seq));
        Ok(seq)
    }

    fn invalid(&mut self, key: &Key, why: &'static str) -> Error {
        self.stats.invalid += 1;
        tracing::debug!(peer = %key.path.remote, reason = why, "IKE fragment refused");
        PeerMisbehaved::UnexpectedMessage(why).into()
    }

    fn drop_key(&mut self, key: &Key) {
        if let Some(seq) = self.by_key.get(key).copied() {
            self.remove(seq);
        }
    }

    fn remove(&mut self, seq: u64) -> Option<Partial> {
        let p = self.partial.remove(&seq)?;
        self.by_key.remove(&p.key);
        self.timers.remove(&(p.deadline, seq));
        let source = p.key.path.remote.ip();
        if let Some(n) = self.per_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
        Some(p)
    }

    /// The next time [`Reassembler::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Drops the reassemblies whose time is up.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, seq)) = self.timers.first()
            && t <= now
        {
            self.timers.pop_first();
            if let Some(p) = self.remove(seq) {
                self.stats.timed_out += 1;
                tracing::debug!(peer = %p.key.path.remote, have = p.parts.len(),
                    last = ?p.last, "IKE fragment reassembly timed out");
            }
        }
    }

    /// The fragments to send instead of `message` on `path`, if it must be fragmented
    /// for `peer` (None: send it whole). See the module documentation for the rule.
    pub fn split_outgoing(
        &mut self,
        path: &Path,
        non_esp_marker: bool,
        message: &[u8],
        peer: FragmentPeer,
    ) -> Option<Vec<Vec<u8>>> {
        if !self.config.enabled {
            return None;
        }
        let max = max_ike_len(self.config.fragment_size, path, non_esp_marker);
        if message.len() <= max {
            return None;
        }
        if peer.windows {
            let (h, _) = msgs::split(message).ok()?;
            let may_carry_cert = h.message_id.0 == 0
                && ((h.exchange == ExchangeType::IdentityProtection && h.flags.encrypted())
                    || h.exchange == ExchangeType::Aggressive);
            if !may_carry_cert {
                return None;
            }
        }
        let frags = split_message(message, max, SENT_ID)?;
        self.stats.messages_fragmented += 1;
        self.stats.sent += frags.len() as u64;
        tracing::debug!(peer = %path.remote, len = message.len(), fragments = frags.len(),
            "IKE message sent in fragments");
        Some(frags)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn path(last_octet: u8, port: u16) -> Path {
        Path {
            local: "198.51.100.1:4500".parse::<SocketAddr>().unwrap(),
            remote: SocketAddr::from(([203, 0, 113, last_octet], port)),
        }
    }

    fn now() -> Instant {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        Instant::now()
    }

    const IC: Cookie = Cookie([1, 2, 3, 4, 5, 6, 7, 8]);
    const RC: Cookie = Cookie([9, 10, 11, 12, 13, 14, 15, 16]);

    /// A plausible encrypted Main Mode message of `len` bytes.
    fn message(len: usize) -> Vec<u8> {
        let header = Header {
            icookie: IC,
            rcookie: RC,
            next_payload: PayloadType::Id,
            version: Header::VERSION,
            exchange: ExchangeType::IdentityProtection,
            flags: Flags(Flags::ENCRYPTION),
            message_id: MessageId(0),
            length: 0,
        };
        let mut out = Vec::new();
        header.encode(&mut Writer::new(&mut out));
        out.extend((0..len - HEADER_LEN).map(|i| (i * 7 + 3) as u8));
        msgs::header::patch_length(&mut out, 0);
        out
    }

    fn frag(number: u8, last: bool, data: &[u8]) -> Vec<u8> {
        frag_id(1, number, last, data)
    }

    fn frag_id(id: u16, number: u8, last: bool, data: &[u8]) -> Vec<u8> {
        let header = Header {
            icookie: IC,
            rcookie: RC,
            next_payload: PAYLOAD_TYPE,
            version: Header::VERSION,
            exchange: ExchangeType::IdentityProtection,
            flags: Flags(0),
            message_id: MessageId(0),
            length: 0,
        };
        let mut out = Vec::new();
        FragmentMessage {
            header,
            fragment: FragmentPayload {
                id,
                number,
                flags: if last { FLAG_LAST } else { 0 },
                data,
            },
        }
        .encode(&mut out);
        out
    }

    fn feed(r: &mut Reassembler, t: Instant, p: Path, d: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        r.insert(t, p, &FragmentMessage::decode(d).unwrap())
    }

    /// Built by hand from the format (strongSwan's fragment_payload.c, libreswan's
    /// `struct isakmp_ikefrag`): header with next payload 132, exchange 2, flags 0,
    /// message ID 0, length 0x2b; payload: next 0, reserved 0, length 0x000f, ID 0x0001,
    /// number 2, flags 0x01 (last), 7 data bytes.
    const KNOWN: &str = concat!(
        "0102030405060708",
        "090a0b0c0d0e0f10",
        "84", // next payload: fragment (132)
        "10", // version 1.0
        "02", // Identity Protection
        "00", // flags
        "00000000",
        "0000002b",       // 28 + 8 + 7
        "00",             // next payload: none
        "00",             // reserved
        "000f",           // payload length 8 + 7
        "0001",           // fragment ID
        "02",             // fragment number
        "01",             // flags: last
        "6672616776697a", // "fragviz"
    );

    #[test]
    fn known_answer_bytes_encode_and_decode() {
        let bytes = hex::decode(KNOWN).unwrap();
        assert!(is_fragment(&bytes));
        let m = FragmentMessage::decode(&bytes).unwrap();
        assert_eq!(m.header.icookie, IC);
        assert_eq!(m.header.rcookie, RC);
        assert_eq!(m.header.exchange, ExchangeType::IdentityProtection);
        assert_eq!(m.header.length, 0x2b);
        assert_eq!(m.fragment.id, 1);
        assert_eq!(m.fragment.number, 2);
        assert!(m.fragment.is_last());
        assert_eq!(m.fragment.data, b"fragviz");
        assert_eq!(frag(2, true, b"fragviz"), bytes);
    }

    #[test]
    fn malformed_fragments_are_typed_errors() {
        let good = hex::decode(KNOWN).unwrap();
        // Fragment number 0.
        let mut b = good.clone();
        b[28 + 6] = 0;
        assert!(FragmentMessage::decode(&b).is_err());
        // Not the only payload.
        let mut b = good.clone();
        b[28] = PayloadType::VendorId.value();
        assert!(FragmentMessage::decode(&b).is_err());
        // Payload length past the message, and below the payload header.
        for len in [0x10u16, 0x07] {
            let mut b = good.clone();
            b[30..32].copy_from_slice(&len.to_be_bytes());
            assert!(FragmentMessage::decode(&b).is_err());
        }
        // Trailing bytes inside the header's length.
        let mut b = good.clone();
        b.push(0);
        b[24..28].copy_from_slice(&0x2cu32.to_be_bytes());
        assert!(FragmentMessage::decode(&b).is_err());
        // Truncated everywhere.
        for n in 0..good.len() {
            assert!(FragmentMessage::decode(&good[..n]).is_err());
        }
    }

    #[test]
    fn split_follows_strongswan_sizes() {
        let msg = message(1500);
        let p = path(7, 4500);
        let max = max_ike_len(1280, &p, true);
        assert_eq!(max, 1280 - 20 - 8 - 4);
        let frags = split_message(&msg, max, SENT_ID).unwrap();
        assert_eq!(frags.len(), 2);
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= max);
            let m = FragmentMessage::decode(f).unwrap();
            assert_eq!(m.fragment.number as usize, i + 1);
            assert_eq!(m.fragment.is_last(), i == 1);
            assert_eq!(m.header.message_id, MessageId(0));
            assert_eq!(m.header.flags, Flags(0));
            assert_eq!(m.header.exchange, ExchangeType::IdentityProtection);
        }
        assert_eq!(frags[0].len(), max);
        assert!(split_message(&msg, 1500, SENT_ID).is_none());
        // IPv6: 40-byte IP header; no marker on port 500.
        let p6 = Path {
            local: "[2001:db8::1]:500".parse().unwrap(),
            remote: "[2001:db8::2]:500".parse().unwrap(),
        };
        assert_eq!(max_ike_len(1280, &p6, false), 1280 - 40 - 8);
    }

    #[test]
    fn out_of_order_with_duplicates_reassembles_the_original() {
        let msg = message(2000);
        let frags = split_message(&msg, 300, 1).unwrap();
        assert_eq!(frags.len(), 8);
        let mut r = Reassembler::new(FragmentConfig::default());
        let t = now();
        let p = path(7, 4500);
        let order = [7usize, 3, 0, 3, 5, 1, 7, 6, 2];
        for &i in &order {
            assert_eq!(feed(&mut r, t, p, &frags[i]).unwrap(), None);
        }
        assert_eq!(r.stats().duplicates, 2);
        assert_eq!(feed(&mut r, t, p, &frags[4]).unwrap(), Some(msg));
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.poll_timeout(), None);
        let s = r.stats();
        assert_eq!((s.received, s.reassembled), (8, 1));
    }

    #[test]
    fn fragments_of_different_paths_and_ids_are_kept_apart() {
        let a = message(700);
        let b = message(900);
        let fa = split_message(&a, 300, 1).unwrap();
        let fb = split_message(&b, 300, 2).unwrap();
        let mut r = Reassembler::new(FragmentConfig::default());
        let t = now();
        let (p1, p2) = (path(7, 4500), path(8, 4500));
        // The same message from two paths, and a second message from p1 under another ID.
        for f in &fa[..fa.len() - 1] {
            assert_eq!(feed(&mut r, t, p1, f).unwrap(), None);
            assert_eq!(feed(&mut r, t, p2, f).unwrap(), None);
        }
        for f in &fb[..fb.len() - 1] {
            assert_eq!(feed(&mut r, t, p1, f).unwrap(), None);
        }
        assert_eq!(r.in_progress(), 3);
        let last_a = fa.last().unwrap();
        assert_eq!(feed(&mut r, t, p2, last_a).unwrap(), Some(a.clone()));
        assert_eq!(feed(&mut r, t, p1, last_a).unwrap(), Some(a));
        assert_eq!(feed(&mut r, t, p1, fb.last().unwrap()).unwrap(), Some(b));
    }

    #[test]
    fn a_missing_fragment_times_out_on_the_virtual_clock() {
        let msg = message(1000);
        let frags = split_message(&msg, 300, 1).unwrap();
        let mut r = Reassembler::new(FragmentConfig::default());
        let t0 = now();
        let p = path(7, 4500);
        for f in frags.iter().skip(1) {
            assert_eq!(feed(&mut r, t0, p, f).unwrap(), None);
        }
        let deadline = r.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(10));
        r.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(r.in_progress(), 1);
        r.handle_timeout(deadline);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().timed_out, 1);
        assert_eq!(r.poll_timeout(), None);
        // The late first fragment starts a new reassembly; it does not complete the old.
        assert_eq!(feed(&mut r, deadline, p, &frags[0]).unwrap(), None);
        assert_eq!(r.in_progress(), 1);
    }

    #[test]
    fn more_fragments_than_allowed_are_refused() {
        let cfg = FragmentConfig {
            max_fragments: 4,
            ..FragmentConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let t = now();
        let p = path(7, 4500);
        for n in 1..=4 {
            assert_eq!(feed(&mut r, t, p, &frag(n, false, &[n; 10])).unwrap(), None);
        }
        assert_eq!(r.in_progress(), 1);
        let e = feed(&mut r, t, p, &frag(5, true, &[5; 10])).unwrap_err();
        assert_eq!(e, Error::LimitExceeded("IKE fragments per message"));
        // The reassembly that could never complete is dropped.
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().too_many_fragments, 1);
        // 255 is refused without creating anything.
        assert!(feed(&mut r, t, p, &frag(255, true, &[0; 10])).is_err());
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn oversize_is_refused() {
        let cfg = FragmentConfig {
            max_message_len: 1000,
            ..FragmentConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let t = now();
        let p = path(7, 4500);
        assert_eq!(
            feed(&mut r, t, p, &frag(1, false, &[1; 600])).unwrap(),
            None
        );
        let e = feed(&mut r, t, p, &frag(2, false, &[2; 401])).unwrap_err();
        assert_eq!(e, Error::LimitExceeded("reassembled IKE message size"));
        assert_eq!(r.in_progress(), 0);
        // A single fragment over the limit creates nothing.
        assert!(feed(&mut r, t, p, &frag(1, false, &[1; 1001])).is_err());
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().too_large, 2);
        // Exactly at the limit is fine.
        assert_eq!(
            feed(&mut r, t, p, &frag(1, false, &[1; 600])).unwrap(),
            None
        );
        let whole = feed(&mut r, t, p, &frag(2, true, &[2; 400]))
            .unwrap()
            .unwrap();
        assert_eq!(whole.len(), 1000);
    }

    #[test]
    fn reassemblies_are_bounded_per_source_and_in_total() {
        let cfg = FragmentConfig {
            max_per_source: 2,
            max_total: 3,
            ..FragmentConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let t = now();
        let p = path(7, 4500);
        for id in 1..=2 {
            assert_eq!(
                feed(&mut r, t, p, &frag_id(id, 1, false, &[0; 8])).unwrap(),
                None
            );
        }
        // A third from the same address (another port too) is refused...
        let other_port = path(7, 4501);
        assert!(feed(&mut r, t, other_port, &frag_id(3, 1, false, &[0; 8])).is_err());
        // ...but fragments of the ones in progress still count.
        assert_eq!(
            feed(&mut r, t, p, &frag_id(1, 2, false, &[0; 8])).unwrap(),
            None
        );
        assert_eq!(
            feed(&mut r, t, path(8, 4500), &frag(1, false, &[0; 8])).unwrap(),
            None
        );
        assert!(feed(&mut r, t, path(9, 4500), &frag(1, false, &[0; 8])).is_err());
        assert_eq!(r.stats().too_many_reassemblies, 2);
        assert_eq!(r.in_progress(), 3);
        // Completing one frees its slot.
        assert!(
            feed(&mut r, t, p, &frag_id(1, 3, true, &[0; 8]))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            feed(&mut r, t, path(9, 4500), &frag(1, false, &[0; 8])).unwrap(),
            None
        );
    }

    #[test]
    fn inconsistent_last_flags_are_refused() {
        let mut r = Reassembler::new(FragmentConfig::default());
        let t = now();
        let p = path(7, 4500);
        assert_eq!(feed(&mut r, t, p, &frag(3, true, b"c")).unwrap(), None);
        assert!(feed(&mut r, t, p, &frag(4, false, b"d")).is_err());
        assert!(feed(&mut r, t, p, &frag(2, true, b"b")).is_err());
        assert_eq!(r.stats().invalid, 2);
        assert_eq!(feed(&mut r, t, p, &frag(2, false, b"b")).unwrap(), None);
        let mut r2 = Reassembler::new(FragmentConfig::default());
        assert_eq!(feed(&mut r2, t, p, &frag(5, false, b"e")).unwrap(), None);
        assert!(feed(&mut r2, t, p, &frag(3, true, b"c")).is_err());
        assert_eq!(
            feed(&mut r, t, p, &frag(1, false, b"a")).unwrap(),
            Some(b"abc".to_vec())
        );
    }

    #[test]
    fn windows_peers_get_fragments_only_for_messages_that_may_carry_a_cert() {
        let mut r = Reassembler::new(FragmentConfig {
            fragment_size: 576,
            ..FragmentConfig::default()
        });
        let p = path(7, 4500);
        let encrypted_mm = message(1200);
        let windows = FragmentPeer { windows: true };
        let other = FragmentPeer { windows: false };
        assert_eq!(
            r.split_outgoing(&p, true, &encrypted_mm, windows)
                .unwrap()
                .len(),
            3
        );
        // A plaintext Main Mode message (a big KE) or a Quick Mode message: whole.
        let mut plain = encrypted_mm.clone();
        plain[19] = 0;
        assert!(r.split_outgoing(&p, true, &plain, windows).is_none());
        assert!(r.split_outgoing(&p, true, &plain, other).is_some());
        let mut quick = encrypted_mm.clone();
        quick[18] = ExchangeType::QuickMode.value();
        quick[20..24].copy_from_slice(&7u32.to_be_bytes());
        assert!(r.split_outgoing(&p, true, &quick, windows).is_none());
        let qf = r.split_outgoing(&p, true, &quick, other).unwrap();
        // Fragments of a Quick Mode message still say Identity Protection, message ID 0.
        let m = FragmentMessage::decode(&qf[0]).unwrap();
        assert_eq!(m.header.exchange, ExchangeType::IdentityProtection);
        assert_eq!(m.header.message_id, MessageId(0));
        // Small messages are never fragmented.
        assert!(r.split_outgoing(&p, true, &message(500), windows).is_none());
        let s = r.stats();
        assert_eq!(s.messages_fragmented, 3);
        // Disabled: nothing is fragmented.
        let mut off = Reassembler::new(FragmentConfig {
            enabled: false,
            ..FragmentConfig::default()
        });
        assert!(
            off.split_outgoing(&p, true, &message(5000), other)
                .is_none()
        );
    }

    #[test]
    fn peer_support_is_read_as_strongswan_reads_it() {
        let seen = |caps: &[u8]| {
            let mut v = vendor::PeerVendor::default();
            v.observe(&[&vendor::FRAGMENTATION[..], caps].concat());
            v.fragmentation
        };
        assert!(seen(&[])); // Windows: no capabilities
        assert!(seen(&[0x80, 0, 0, 0])); // strongSwan
        assert!(seen(&[0xc0, 0, 0, 0])); // Cisco
        assert!(!seen(&[0x40, 0, 0, 0])); // base ISAKMP messages only
        assert!(!seen(&[0x80])); // neither 16 nor 20 bytes
        assert!(!seen(&[0x80, 0, 0, 0, 0]));
    }

    #[test]
    fn vendor_id_is_strongswans() {
        assert_eq!(
            hex::encode(vendor_id()),
            "4048b7d56ebce88525e7de7f00d6c2d380000000"
        );
    }
}
