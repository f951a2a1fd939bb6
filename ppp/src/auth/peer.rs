//! The authenticating peer (client): answers CHAP challenges, or sends PAP
//! Authenticate-Requests until acknowledged, and checks the MS-CHAPv2 server proof.

use std::time::{Duration, Instant};

use crate::auth::{AuthMethod, Credentials, chap_md5, mschapv2};
use crate::config::ChallengePool;
use crate::msgs::chap::{self, ChallengeResponse, MsChapV2Response};
use crate::msgs::cp::{Code, CpPacket};
use crate::msgs::frame::Protocol;
use crate::msgs::pap::{self, AuthenticateRequest};
use crate::outbox::Outbox;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PeerOutput {
    None,
    Success,
    /// The server refused us, or failed to prove itself (MS-CHAPv2).
    Failed,
}

#[derive(Debug)]
pub(crate) struct AuthPeer {
    method: AuthMethod,
    creds: Credentials,
    nt_hash: mschapv2::NtHash,
    challenges: ChallengePool,
    /// The last challenge answered: id, value, and the response frame data.
    last: Option<(u8, Vec<u8>, Vec<u8>)>,
    expected: Option<mschapv2::AuthenticatorResponse>,
    done: bool,
    // PAP retransmission.
    id: u8,
    restart: Duration,
    max_transmits: u8,
    transmits: u8,
    timer: Option<Instant>,
}

impl AuthPeer {
    pub(crate) fn new(
        method: AuthMethod,
        creds: Credentials,
        challenges: ChallengePool,
        restart: Duration,
        max_transmits: u8,
    ) -> Self {
        let nt_hash = match core::str::from_utf8(creds.password.expose()) {
            Ok(p) => mschapv2::NtHash::from_password(p),
            Err(_) => mschapv2::NtHash([0; 16]),
        };
        Self {
            method,
            creds,
            nt_hash,
            challenges,
            last: None,
            expected: None,
            done: false,
            id: 0,
            restart,
            max_transmits: max_transmits.max(1),
            transmits: 0,
            timer: None,
        }
    }

    pub(crate) fn method(&self) -> AuthMethod {
        self.method
    }

    /// LCP is renegotiating: stop retransmitting until [`Self::resume`].
    pub(crate) fn pause(&mut self) {
        self.timer = None;
    }

    /// LCP is open again: PAP sends its request again; CHAP waits for a challenge.
    pub(crate) fn resume(&mut self, now: Instant, out: &mut Outbox) {
        if self.method == AuthMethod::Pap && !self.done {
            self.transmits = 0;
            self.send_pap(now, out);
        }
    }

    /// The unused peer challenges, when authentication restarts.
    pub(crate) fn into_pool(self) -> ChallengePool {
        self.challenges
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub(crate) fn start(&mut self, now: Instant, out: &mut Outbox) {
        if self.method == AuthMethod::Pap {
            self.id = self.id.wrapping_add(1);
            self.send_pap(now, out);
        }
    }

    fn send_pap(&mut self, now: Instant, out: &mut Outbox) {
        self.transmits += 1;
        self.timer = Some(now + self.restart);
        let req = AuthenticateRequest {
            peer_id: self.creds.user.as_bytes(),
            password: self.creds.password.expose(),
        };
        out.push_cp(
            Protocol::Pap,
            Code::from(pap::AUTHENTICATE_REQUEST),
            self.id,
            |w| req.encode(w),
        );
    }

    /// Retransmits the PAP request or the last CHAP response (its Success may have been
    /// lost: the server answers a repeated response with the same Success).
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) -> PeerOutput {
        match self.timer {
            Some(t) if t <= now && !self.done => {
                self.timer = None;
                if self.transmits >= self.max_transmits {
                    self.done = true;
                    return PeerOutput::Failed;
                }
                if self.method == AuthMethod::Pap {
                    self.send_pap(now, out);
                } else if let Some((id, _, resp)) = &self.last {
                    out.push_cp(Protocol::Chap, Code::from(chap::RESPONSE), *id, |w| {
                        w.bytes(resp)
                    });
                    self.transmits += 1;
                    self.timer = Some(now + self.restart);
                }
                PeerOutput::None
            }
            _ => PeerOutput::None,
        }
    }

    pub(crate) fn receive(
        &mut self,
        now: Instant,
        protocol: Protocol,
        packet: &CpPacket<'_>,
        out: &mut Outbox,
    ) -> PeerOutput {
        if self.done {
            return PeerOutput::None;
        }
        match (protocol, self.method) {
            (Protocol::Pap, AuthMethod::Pap) => {
                if packet.id != self.id {
                    return PeerOutput::None;
                }
                self.timer = None;
                self.done = true;
                match packet.code.value() {
                    pap::AUTHENTICATE_ACK => PeerOutput::Success,
                    _ => PeerOutput::Failed,
                }
            }
            (Protocol::Chap, AuthMethod::ChapMd5 | AuthMethod::MsChapV2) => {
                match packet.code.value() {
                    chap::CHALLENGE => {
                        self.answer(now, packet, out);
                        PeerOutput::None
                    }
                    chap::SUCCESS => {
                        if self.last.as_ref().map(|l| l.0) != Some(packet.id) {
                            return PeerOutput::None;
                        }
                        self.timer = None;
                        if self.method == AuthMethod::MsChapV2 {
                            let proof = mschapv2::AuthenticatorResponse::parse(packet.data);
                            let ok = match (proof, self.expected) {
                                (Some(p), Some(e)) => p.ct_eq(&e),
                                _ => false,
                            };
                            if !ok {
                                self.done = true;
                                return PeerOutput::Failed;
                            }
                        }
                        self.done = true;
                        PeerOutput::Success
                    }
                    chap::FAILURE => {
                        if self.last.as_ref().map(|l| l.0) != Some(packet.id) {
                            return PeerOutput::None;
                        }
                        self.timer = None;
                        // MS-CHAPv2 "R=1": the server will send a new challenge; wait for it.
                        let retry = self.method == AuthMethod::MsChapV2
                            && packet.data.windows(3).any(|w| w == b"R=1");
                        if retry {
                            return PeerOutput::None;
                        }
                        self.done = true;
                        PeerOutput::Failed
                    }
                    _ => PeerOutput::None,
                }
            }
            _ => PeerOutput::None,
        }
    }

    fn answer(&mut self, now: Instant, packet: &CpPacket<'_>, out: &mut Outbox) {
        let Ok(ch) = ChallengeResponse::decode(packet.data) else {
            return;
        };
        if let Some((id, value, resp)) = &self.last
            && *id == packet.id
            && value.as_slice() == ch.value
        {
            // A retransmitted challenge: the same answer (our response was lost).
            out.push_cp(Protocol::Chap, Code::from(chap::RESPONSE), *id, |w| {
                w.bytes(resp)
            });
            return;
        }
        let user = self.creds.user.as_bytes();
        let mut data = Vec::new();
        let mut w = wire::Writer::new(&mut data);
        match self.method {
            AuthMethod::ChapMd5 => {
                let r = chap_md5::response(packet.id, self.creds.password.expose(), ch.value);
                ChallengeResponse {
                    value: &r,
                    name: user,
                }
                .encode(&mut w);
            }
            _ => {
                let Ok(auth_challenge) = <[u8; 16]>::try_from(ch.value) else {
                    return;
                };
                let Some(peer_challenge) = self.challenges.take() else {
                    return;
                };
                let nt_response =
                    mschapv2::nt_response(&self.nt_hash, &auth_challenge, &peer_challenge, user);
                self.expected = Some(mschapv2::authenticator_response(
                    &self.nt_hash,
                    &nt_response,
                    &peer_challenge,
                    &auth_challenge,
                    user,
                ));
                let value = MsChapV2Response {
                    peer_challenge,
                    nt_response,
                    flags: 0,
                }
                .encode();
                ChallengeResponse {
                    value: &value,
                    name: user,
                }
                .encode(&mut w);
            }
        }
        out.push_cp(Protocol::Chap, Code::from(chap::RESPONSE), packet.id, |w| {
            w.bytes(&data)
        });
        self.last = Some((packet.id, ch.value.to_vec(), data));
        self.transmits = 1;
        self.timer = Some(now + self.restart);
    }
}
