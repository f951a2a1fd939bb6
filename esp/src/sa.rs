//! Inbound and outbound SAs: the in-place ESP transforms (RFC 4303 §3.3, §3.4).

use core::fmt;
use core::ops::Range;
use std::time::Instant;

use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::SecureRandom;

use crate::crypto::{GcmBackend, IvGen, Transform};
use crate::replay::ReplayWindow;
use crate::suite::ESP_HEADER_LEN;
use crate::{Error, Mode, SaParams, Spi, Suite, SuiteError};

/// The next-header value of a dummy packet (RFC 4303 §2.6), which receivers discard.
pub const NEXT_HEADER_NONE: u8 = 59;

/// The largest ESP packet [`OutboundSa::seal`] produces (the IPv4 total-length limit).
pub const MAX_PACKET_LEN: usize = 65_535;

/// The hard byte limit of every 3DES SA, negotiated or not: 2³⁰ bytes (1 GiB, 2²⁷
/// 64-bit blocks). Sweet32 (Bhargavan and Leurent, CCS 2016) recovers plaintext from
/// the block collisions a 64-bit cipher starts to produce around 2³² blocks under one
/// key; NIST SP 800-67r2 limits 3DES to 2²⁰ blocks per key for new designs. 2²⁷
/// blocks is 1/32 of the birthday bound: the chance of any collision in one SA is about
/// (2²⁷)²/2⁶⁵ = 2⁻¹¹, while a client on a fast link rekeys every minute or so rather
/// than every second (2²⁰ blocks is 8 MiB, about one second at 100 Mbit/s), and
/// Windows' own 250 000 KB (2²⁷·⁹ bytes) stays under it when it negotiates 3DES.
pub const TRIPLE_DES_MAX_BYTES: u64 = 1 << 30;

/// The outbound sequence number from which an SA without extended sequence numbers
/// reports [`Expiry::Soft`]: 2³² − 2²⁰, a million packets before the counter runs out
/// (RFC 4303 §3.3.3: the SA must be rekeyed before then).
pub const SEQ_SOFT_LIMIT: u32 = u32::MAX - (1 << 20) + 1;

/// Traffic limits of one SA direction (RFC 2407 §4.5 kilobytes; IKEv1 has no packet
/// lifetime, but an SA may be given one). Time limits are the IKE layer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Payload bytes after which the SA refuses traffic (`None`: no limit).
    pub bytes: Option<u64>,
    /// Packets after which the SA refuses traffic (`None`: no limit).
    pub packets: Option<u64>,
    /// Where the soft limit lies, in percent of each hard limit (1..=100).
    pub soft_percent: u8,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            bytes: None,
            packets: None,
            soft_percent: Self::DEFAULT_SOFT_PERCENT,
        }
    }
}

impl Lifetime {
    /// The default soft limit: 90 % of the hard one.
    pub const DEFAULT_SOFT_PERCENT: u8 = 90;

    /// A lifetime of `kb` kilobytes (1024 bytes each, saturating), as IKE negotiates it;
    /// `None`: no byte limit.
    pub fn from_kilobytes(kb: Option<u64>) -> Self {
        Self {
            bytes: kb.map(|kb| kb.saturating_mul(1024)),
            ..Self::default()
        }
    }
}

/// How far an SA is through its traffic lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expiry {
    /// Within its limits.
    Live,
    /// Past a soft limit (bytes or packets at [`Lifetime::soft_percent`], or the
    /// sequence counter past [`SEQ_SOFT_LIMIT`]): start a rekey now; traffic still flows.
    Soft,
    /// At a hard limit: `seal`/`open` refuse with [`Error::LifetimeExpired`] (or
    /// [`Error::SeqExhausted`]); traffic must move to the rekeyed SA.
    Hard,
}

/// A lifetime turned into counts compared per packet (`u64::MAX`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    hard_bytes: u64,
    soft_bytes: u64,
    hard_packets: u64,
    soft_packets: u64,
}

impl Limits {
    fn new(params: &SaParams) -> Self {
        let l = params.lifetime;
        let mut hard_bytes = l.bytes.unwrap_or(u64::MAX);
        if params.suite.encryption() == crate::Encryption::TripleDesCbc {
            hard_bytes = hard_bytes.min(TRIPLE_DES_MAX_BYTES);
        }
        let hard_packets = l.packets.unwrap_or(u64::MAX);
        let pct = u128::from(l.soft_percent.clamp(1, 100));
        let soft = |hard: u64| {
            if hard == u64::MAX {
                u64::MAX
            } else {
                // At most `hard`, so the conversion cannot fail.
                u64::try_from(u128::from(hard) * pct / 100).unwrap_or(hard)
            }
        };
        Self {
            hard_bytes,
            soft_bytes: soft(hard_bytes),
            hard_packets,
            soft_packets: soft(hard_packets),
        }
    }

    fn expiry(&self, u: &Usage) -> Expiry {
        if u.bytes >= self.hard_bytes || u.packets >= self.hard_packets {
            Expiry::Hard
        } else if u.bytes >= self.soft_bytes || u.packets >= self.soft_packets {
            Expiry::Soft
        } else {
            Expiry::Live
        }
    }

    fn lifetime(&self, soft_percent: u8) -> Lifetime {
        let limit = |v: u64| (v != u64::MAX).then_some(v);
        Lifetime {
            bytes: limit(self.hard_bytes),
            packets: limit(self.hard_packets),
            soft_percent,
        }
    }
}

/// Traffic an SA has carried, for lifetimes (RFC 2407 §4.5: seconds and kilobytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Payload bytes sealed or successfully opened (before padding, without headers).
    pub bytes: u64,
    /// Packets sealed or successfully opened.
    pub packets: u64,
    /// When the SA was created (the `now` given to `new`).
    pub created: Instant,
}

impl Usage {
    fn new(created: Instant) -> Self {
        Self {
            bytes: 0,
            packets: 0,
            created,
        }
    }

    /// Time since the SA was created (zero if `now` is earlier).
    pub fn age(&self, now: Instant) -> core::time::Duration {
        now.saturating_duration_since(self.created)
    }

    fn count(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.packets = self.packets.saturating_add(1);
    }
}

/// A packet [`InboundSa::open`] decrypted and verified.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The SPI the packet carried.
    pub spi: Spi,
    /// Its sequence number.
    pub seq: u64,
    /// The trailer's next header: UDP (17) for L2TP in transport mode, IPv4 (4) or IPv6
    /// (41) in tunnel mode. 59 marks a dummy packet (RFC 4303 §2.6) to be discarded.
    pub next_header: IpProtocol,
    /// The decrypted payload, in place in the caller's buffer.
    pub payload: &'a [u8],
    /// Where [`Self::payload`] lies in the buffer given to `open`, for callers that go
    /// on working on that buffer in place.
    pub range: Range<usize>,
}

impl Opened<'_> {
    /// True for a dummy packet (next header 59), which carries nothing.
    pub fn is_dummy(&self) -> bool {
        self.next_header.value() == NEXT_HEADER_NONE
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn key_error(params: &SaParams) -> SuiteError {
    let expected = params.suite.keymat_len();
    let got = params.enc_key().len() + params.salt().len() + params.auth_key().len();
    if expected == got {
        SuiteError::KeyRejected
    } else {
        SuiteError::KeyLength { expected, got }
    }
}

/// The receiving half of an ESP SA: verifies, decrypts and replay-checks packets.
pub struct InboundSa {
    spi: Spi,
    suite: Suite,
    mode: Mode,
    transform: Transform,
    replay: ReplayWindow,
    usage: Usage,
    limits: Limits,
    soft_percent: u8,
}

impl fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &self.spi)
            .field("suite", &self.suite)
            .field("mode", &self.mode)
            .field("replay_top", &self.replay.top())
            .field("usage", &self.usage)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl InboundSa {
    /// Keys the SA. The key schedules and HMAC pads are computed here, once.
    pub fn new(params: &SaParams, now: Instant) -> Result<Self, SuiteError> {
        Self::with_gcm_backend(params, now, GcmBackend::DEFAULT)
    }

    /// [`Self::new`] with a chosen AES-GCM library (for benchmarks).
    #[doc(hidden)]
    pub fn with_gcm_backend(
        params: &SaParams,
        now: Instant,
        backend: GcmBackend,
    ) -> Result<Self, SuiteError> {
        Ok(Self {
            spi: params.spi,
            suite: params.suite,
            mode: params.mode,
            transform: Transform::new(params, backend).ok_or_else(|| key_error(params))?,
            replay: ReplayWindow::new(),
            usage: Usage::new(now),
            limits: Limits::new(params),
            soft_percent: params.lifetime.soft_percent,
        })
    }

    /// The SPI.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Transport or tunnel.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes and packets opened so far, and when the SA was created.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The highest sequence number accepted so far.
    pub fn highest_seq(&self) -> u64 {
        self.replay.top()
    }

    /// The traffic limits in force: the negotiated ones, capped for 3DES.
    pub fn lifetime(&self) -> Lifetime {
        self.limits.lifetime(self.soft_percent)
    }

    /// Where the SA stands against its traffic limits: bytes and packets opened, and
    /// the peer's sequence counter (past [`SEQ_SOFT_LIMIT`] the peer must rekey soon,
    /// so this side may start it). Hard: [`Self::open`] refuses everything.
    pub fn expiry(&self) -> Expiry {
        let e = self.limits.expiry(&self.usage);
        if e == Expiry::Live && self.replay.top() >= u64::from(SEQ_SOFT_LIMIT) {
            return Expiry::Soft;
        }
        e
    }

    /// Opens one ESP packet in place. `pkt` starts at the SPI (after the outer IP
    /// header, or after the UDP header when encapsulated in UDP 4500).
    ///
    /// The order is the one RFC 4303 §3.4 requires: length checks, then the replay
    /// window, then the ICV (or AEAD tag), then the window is advanced, then the payload
    /// is decrypted and its padding checked. Nothing is committed for a packet that
    /// fails authentication, and nothing here allocates.
    pub fn open<'a>(&mut self, pkt: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        let enc = self.suite.encryption();
        let (iv_len, icv_len, block) = (enc.iv_len(), self.suite.icv_len(), enc.block_len());
        let min = self.suite.min_packet_len();
        if pkt.len() < min {
            return Err(Error::Truncated {
                len: pkt.len(),
                min,
            });
        }
        let spi = Spi(be32(pkt, 0));
        if spi != self.spi {
            return Err(Error::UnknownSpi(spi));
        }
        if self.limits.expiry(&self.usage) == Expiry::Hard {
            return Err(Error::LifetimeExpired);
        }
        let seq = u64::from(be32(pkt, 4));
        let ct_start = ESP_HEADER_LEN + iv_len;
        let ct_end = pkt.len() - icv_len;
        let ct_len = ct_end - ct_start;
        if !ct_len.is_multiple_of(block) {
            return Err(Error::BadLength { len: ct_len, block });
        }
        if !self.replay.check(seq) {
            return Err(Error::Replayed { seq });
        }

        match &self.transform {
            Transform::Cbc { cipher, mac } => {
                let (covered, icv) = pkt.split_at_mut(ct_end);
                if !mac.verify(covered, icv) {
                    return Err(Error::BadIcv);
                }
                self.replay.commit(seq);
                let (head, ct) = covered.split_at_mut(ct_start);
                let iv = head.get(ESP_HEADER_LEN..).unwrap_or_default();
                cipher
                    .decrypt(iv, ct)
                    .map_err(|_| Error::BadLength { len: ct_len, block })?;
            }
            Transform::Gcm(gcm) => {
                let (head, body) = pkt.split_at_mut(ct_start);
                let mut iv = [0u8; 8];
                iv.copy_from_slice(head.get(ESP_HEADER_LEN..).unwrap_or_default());
                let aad = head.get(..ESP_HEADER_LEN).unwrap_or_default();
                gcm.open(&iv, aad, body).map_err(|_| Error::BadIcv)?;
                self.replay.commit(seq);
            }
        }

        // The trailer: padding 1, 2, 3, …, pad length, next header (RFC 4303 §2.4).
        let plain = pkt.get(ct_start..ct_end).unwrap_or_default();
        let (pad_len, next_header) = match plain {
            [.., p, n] => (usize::from(*p), *n),
            _ => return Err(Error::BadPadding),
        };
        let payload_len = ct_len.checked_sub(pad_len + 2).ok_or(Error::BadPadding)?;
        let padding = plain
            .get(payload_len..payload_len + pad_len)
            .unwrap_or_default();
        if padding
            .iter()
            .zip(1u8..=255)
            .any(|(&byte, expected)| byte != expected)
        {
            return Err(Error::BadPadding);
        }
        if self.mode == Mode::Tunnel && !matches!(next_header, 4 | 41 | NEXT_HEADER_NONE) {
            return Err(Error::BadNextHeader(next_header));
        }
        self.usage.count(payload_len);
        let range = ct_start..ct_start + payload_len;
        let pkt: &'a [u8] = pkt;
        Ok(Opened {
            spi,
            seq,
            next_header: IpProtocol::from(next_header),
            payload: pkt.get(range.clone()).unwrap_or_default(),
            range,
        })
    }
}

/// The sending half of an ESP SA: pads, encrypts and authenticates in place.
pub struct OutboundSa {
    spi: Spi,
    suite: Suite,
    mode: Mode,
    transform: Transform,
    iv_gen: IvGen,
    /// The last sequence number sent (0: none yet).
    seq: u32,
    usage: Usage,
    limits: Limits,
    soft_percent: u8,
    #[cfg(test)]
    fixed_iv: Option<[u8; 16]>,
}

impl fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &self.spi)
            .field("suite", &self.suite)
            .field("mode", &self.mode)
            .field("seq", &self.seq)
            .field("usage", &self.usage)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl OutboundSa {
    /// Keys the SA. `rng` is asked once, here, for the key of the CBC IV generator (see
    /// [`Self::seal`]); never per packet.
    pub fn new(
        params: &SaParams,
        now: Instant,
        rng: &mut dyn SecureRandom,
    ) -> Result<Self, SuiteError> {
        Self::with_gcm_backend(params, now, rng, GcmBackend::DEFAULT)
    }

    /// [`Self::new`] with a chosen AES-GCM library (for benchmarks).
    #[doc(hidden)]
    pub fn with_gcm_backend(
        params: &SaParams,
        now: Instant,
        rng: &mut dyn SecureRandom,
        backend: GcmBackend,
    ) -> Result<Self, SuiteError> {
        Ok(Self {
            spi: params.spi,
            suite: params.suite,
            mode: params.mode,
            transform: Transform::new(params, backend).ok_or_else(|| key_error(params))?,
            iv_gen: IvGen::new(rng).ok_or(SuiteError::KeyRejected)?,
            seq: 0,
            usage: Usage::new(now),
            limits: Limits::new(params),
            soft_percent: params.lifetime.soft_percent,
            #[cfg(test)]
            fixed_iv: None,
        })
    }

    /// The SPI.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Transport or tunnel.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes and packets sealed so far, and when the SA was created.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The sequence number of the last packet sealed (0 before the first).
    pub fn last_seq(&self) -> u32 {
        self.seq
    }

    /// Sequence numbers left before [`Error::SeqExhausted`]; IKE rekeys well before 0.
    pub fn remaining_seq(&self) -> u32 {
        u32::MAX - self.seq
    }

    /// The traffic limits in force: the negotiated ones, capped for 3DES.
    pub fn lifetime(&self) -> Lifetime {
        self.limits.lifetime(self.soft_percent)
    }

    /// Where the SA stands against its limits: bytes and packets sealed, and the
    /// sequence counter (soft from [`SEQ_SOFT_LIMIT`], "rekey needed"; hard when
    /// exhausted). Hard: [`Self::seal`] refuses everything.
    pub fn expiry(&self) -> Expiry {
        if self.seq == u32::MAX {
            return Expiry::Hard;
        }
        let e = self.limits.expiry(&self.usage);
        if e == Expiry::Live && self.seq >= SEQ_SOFT_LIMIT {
            return Expiry::Soft;
        }
        e
    }

    /// Moves the sequence counter forward so the next packet carries `next` (tests and
    /// fuzzing reach the 2³² edge with it). It never moves backwards: a sequence number,
    /// and with it a GCM nonce, is never used twice.
    #[doc(hidden)]
    pub fn skip_to_seq(&mut self, next: u32) {
        self.seq = self.seq.max(next.saturating_sub(1));
    }

    /// Seals the payload of `buf` in place: the ESP header and IV go into the headroom,
    /// padding, pad length, `next_header` and the ICV into the tailroom. On success the
    /// payload of `buf` is the ESP packet.
    ///
    /// Needs [`Suite::header_len`] headroom and [`Suite::trailer_len`] tailroom. CBC
    /// IVs come from a per-SA keyed counter (unpredictable without the SA's random IV
    /// key, unique because sequence numbers are); the GCM IV is the 64-bit sequence
    /// number (RFC 4106 §3.1). After 2³²−1 packets this refuses with
    /// [`Error::SeqExhausted`] and the caller must rekey. A packet refused for its size,
    /// the buffer's room or sequence exhaustion leaves `buf` unchanged.
    pub fn seal(&mut self, next_header: IpProtocol, buf: &mut PacketBuf) -> Result<(), Error> {
        let enc = self.suite.encryption();
        let (iv_len, icv_len) = (enc.iv_len(), self.suite.icv_len());
        let payload_len = buf.len();
        let header_len = self.suite.header_len();
        let trailer_len = self.suite.trailer_len(payload_len);
        let pad_len = trailer_len - 2 - icv_len;
        if header_len + payload_len + trailer_len > MAX_PACKET_LEN {
            return Err(Error::PayloadTooLarge(payload_len));
        }
        if buf.headroom() < header_len {
            return Err(Error::BufferTooSmall {
                needed: header_len,
                available: buf.headroom(),
            });
        }
        if buf.tailroom() < trailer_len {
            return Err(Error::BufferTooSmall {
                needed: trailer_len,
                available: buf.tailroom(),
            });
        }
        if self.limits.expiry(&self.usage) == Expiry::Hard {
            return Err(Error::LifetimeExpired);
        }
        let seq = self.seq.checked_add(1).ok_or(Error::SeqExhausted)?;
        self.seq = seq;

        let too_small = |e: wire::BufError| Error::BufferTooSmall {
            needed: e.needed,
            available: e.available,
        };
        let trailer = buf.append(pad_len + 2).map_err(too_small)?;
        for (byte, value) in trailer.iter_mut().zip(1u8..) {
            *byte = value;
        }
        if let [.., p, n] = trailer {
            // pad_len < 16 by construction.
            *p = pad_len as u8;
            *n = next_header.value();
        }
        let header = buf.prepend(header_len).map_err(too_small)?;
        let (esp, iv) = header.split_at_mut(ESP_HEADER_LEN);
        let [s0, s1, s2, s3] = self.spi.0.to_be_bytes();
        let [q0, q1, q2, q3] = seq.to_be_bytes();
        esp.copy_from_slice(&[s0, s1, s2, s3, q0, q1, q2, q3]);
        match &self.transform {
            Transform::Cbc { .. } => {
                self.iv_gen
                    .fill(u64::from(seq), iv)
                    .map_err(|_| Error::BadLength {
                        len: iv.len(),
                        block: enc.block_len(),
                    })?;
                #[cfg(test)]
                if let Some(fixed) = self.fixed_iv {
                    iv.copy_from_slice(fixed.get(..iv.len()).unwrap_or_default());
                }
            }
            Transform::Gcm(_) => iv.copy_from_slice(&u64::from(seq).to_be_bytes()),
        }
        buf.append(icv_len).map_err(too_small)?;

        let pkt = buf.payload_mut();
        let ct_start = ESP_HEADER_LEN + iv_len;
        let ct_end = pkt.len() - icv_len;
        let (covered, icv) = pkt.split_at_mut(ct_end);
        let (head, body) = covered.split_at_mut(ct_start);
        let iv = head.get(ESP_HEADER_LEN..).unwrap_or_default();
        let bad_len = Error::BadLength {
            len: body.len(),
            block: enc.block_len(),
        };
        match &self.transform {
            Transform::Cbc { cipher, mac } => {
                cipher.encrypt(iv, body).map_err(|_| bad_len)?;
                mac.sign(covered, icv);
            }
            Transform::Gcm(gcm) => {
                let mut gcm_iv = [0u8; 8];
                gcm_iv.copy_from_slice(iv);
                let aad = head.get(..ESP_HEADER_LEN).unwrap_or_default();
                gcm.seal(&gcm_iv, aad, body, icv).map_err(|_| bad_len)?;
            }
        }
        self.usage.count(payload_len);
        Ok(())
    }

    /// Uses `iv` instead of the keyed counter, so tests can reproduce published packets.
    #[cfg(test)]
    pub(crate) fn set_fixed_iv(&mut self, iv: [u8; 16]) {
        self.fixed_iv = Some(iv);
    }
}
