//! The authenticator: sends CHAP challenges (or waits for a PAP request), hands what the
//! peer sent to the caller, and answers with Success/Failure once the caller decides.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::auth::{AuthData, AuthDecision, AuthMethod, Password};
use crate::config::ChallengePool;
use crate::msgs::chap::{self, ChallengeResponse, MsChapV2Response};
use crate::msgs::cp::{Code, CpPacket};
use crate::msgs::frame::Protocol;
use crate::msgs::pap::{self, AuthenticateRequest};
use crate::outbox::Outbox;

/// The longest user name we pass on (RFC 2759 allows 256).
pub(crate) const MAX_USER_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's Response / Authenticate-Request.
    AwaitResponse,
    /// The caller has the request; waiting for `auth_result`.
    AwaitDecision,
    Succeeded,
    Failed,
}

/// What the session should do after an authenticator step.
#[derive(Debug)]
pub(crate) enum ServerOutput {
    None,
    /// Ask the caller.
    Request {
        user: String,
        data: AuthData,
    },
    /// The peer is authenticated.
    Success {
        user: String,
    },
    /// The peer failed for good (or never answered): close the link.
    Failed,
}

#[derive(Debug)]
pub(crate) struct Authenticator {
    method: AuthMethod,
    name: Vec<u8>,
    max_attempts: u8,
    attempts: u8,
    challenges: ChallengePool,
    id: u8,
    challenge: [u8; 16],
    state: State,
    restart: Duration,
    max_transmits: u8,
    transmits: u8,
    timer: Option<Instant>,
    user: String,
    /// The Success/Ack we sent, resent if the peer repeats its response (lost reply).
    reply: Option<(Protocol, Code, u8, Vec<u8>)>,
}

fn code(c: u8) -> Code {
    Code::from(c)
}

impl Authenticator {
    pub(crate) fn new(
        method: AuthMethod,
        name: &str,
        max_attempts: u8,
        challenges: ChallengePool,
        first_id: u8,
        restart: Duration,
        max_transmits: u8,
    ) -> Self {
        Self {
            method,
            name: name.as_bytes().to_vec(),
            max_attempts: max_attempts.max(1),
            attempts: 0,
            challenges,
            id: first_id.wrapping_sub(1),
            challenge: [0; 16],
            state: State::AwaitResponse,
            restart,
            max_transmits: max_transmits.max(1),
            transmits: 0,
            timer: None,
            user: String::new(),
            reply: None,
        }
    }

    /// The unused challenges, when authentication restarts after an LCP renegotiation.
    pub(crate) fn into_pool(self) -> ChallengePool {
        self.challenges
    }

    /// LCP is renegotiating: stop retransmitting until [`Self::resume`].
    pub(crate) fn pause(&mut self) {
        self.timer = None;
    }

    /// LCP is open again: re-send the pending challenge (same identifier and value, so
    /// a response already on its way stays valid); a pending decision stays pending.
    pub(crate) fn resume(&mut self, now: Instant, out: &mut Outbox) {
        if self.state == State::AwaitResponse && self.method != AuthMethod::Pap {
            self.transmits = 0;
            self.send_challenge(now, out);
        }
    }

    pub(crate) fn method(&self) -> AuthMethod {
        self.method
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Starts: a CHAP challenge goes out; PAP waits for the peer.
    pub(crate) fn start(&mut self, now: Instant, out: &mut Outbox) -> ServerOutput {
        self.state = State::AwaitResponse;
        if self.method == AuthMethod::Pap {
            return ServerOutput::None;
        }
        match self.challenges.take() {
            Some(c) => {
                self.challenge = c;
                self.id = self.id.wrapping_add(1);
                self.transmits = 0;
                self.send_challenge(now, out);
                ServerOutput::None
            }
            None => {
                self.state = State::Failed;
                ServerOutput::Failed
            }
        }
    }

    fn send_challenge(&mut self, now: Instant, out: &mut Outbox) {
        self.transmits += 1;
        self.timer = Some(now + self.restart);
        let (challenge, name) = (self.challenge, &self.name);
        out.push_cp(Protocol::Chap, code(chap::CHALLENGE), self.id, |w| {
            ChallengeResponse {
                value: &challenge,
                name,
            }
            .encode(w);
        });
    }

    /// Retransmits an unanswered challenge; gives up after Max-Configure transmissions.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) -> ServerOutput {
        match self.timer {
            Some(t) if t <= now => {
                self.timer = None;
                if self.state != State::AwaitResponse {
                    return ServerOutput::None;
                }
                if self.transmits >= self.max_transmits {
                    self.state = State::Failed;
                    return ServerOutput::Failed;
                }
                self.send_challenge(now, out);
                ServerOutput::None
            }
            _ => ServerOutput::None,
        }
    }

    /// A PAP or CHAP packet from the peer.
    pub(crate) fn receive(&mut self, packet: &CpPacket<'_>, out: &mut Outbox) -> ServerOutput {
        let expected_code = match self.method {
            AuthMethod::Pap => pap::AUTHENTICATE_REQUEST,
            _ => chap::RESPONSE,
        };
        if packet.code.value() != expected_code {
            return ServerOutput::None;
        }
        match self.state {
            State::AwaitResponse => {}
            State::Succeeded => {
                // The peer did not see our Success: send it again.
                if let Some((p, c, id, data)) = &self.reply
                    && *id == packet.id
                {
                    out.push_cp(*p, *c, *id, |w| w.bytes(data));
                }
                return ServerOutput::None;
            }
            State::AwaitDecision | State::Failed => return ServerOutput::None,
        }
        let (user, data) = match self.method {
            AuthMethod::Pap => {
                let Ok(req) = AuthenticateRequest::decode(packet.data) else {
                    return ServerOutput::None;
                };
                self.id = packet.id;
                (
                    req.peer_id,
                    AuthData::Pap {
                        password: Password::new(req.password),
                    },
                )
            }
            AuthMethod::ChapMd5 | AuthMethod::MsChapV2 => {
                if packet.id != self.id {
                    return ServerOutput::None;
                }
                let Ok(cr) = ChallengeResponse::decode(packet.data) else {
                    return ServerOutput::None;
                };
                let data = if self.method == AuthMethod::ChapMd5 {
                    let Ok(response) = <[u8; 16]>::try_from(cr.value) else {
                        return ServerOutput::None;
                    };
                    AuthData::ChapMd5 {
                        id: self.id,
                        challenge: self.challenge,
                        response,
                    }
                } else {
                    let Ok(r) = MsChapV2Response::decode(cr.value) else {
                        return ServerOutput::None;
                    };
                    AuthData::MsChapV2 {
                        auth_challenge: self.challenge,
                        peer_challenge: r.peer_challenge,
                        nt_response: r.nt_response,
                    }
                };
                (cr.name, data)
            }
        };
        let user = user.get(..MAX_USER_LEN).unwrap_or(user);
        self.user = String::from_utf8_lossy(user).into_owned();
        self.state = State::AwaitDecision;
        self.timer = None;
        ServerOutput::Request {
            user: self.user.clone(),
            data,
        }
    }

    /// The caller's decision.
    pub(crate) fn decide(
        &mut self,
        now: Instant,
        decision: AuthDecision,
        out: &mut Outbox,
    ) -> ServerOutput {
        if self.state != State::AwaitDecision {
            return ServerOutput::None;
        }
        let accepted = match (self.method, decision) {
            (AuthMethod::MsChapV2, AuthDecision::AcceptMsChapV2(r)) => {
                Some(format!("{r} M=Access granted"))
            }
            (
                AuthMethod::Pap | AuthMethod::ChapMd5,
                AuthDecision::Accept | AuthDecision::AcceptMsChapV2(_),
            ) => Some("Access granted".to_owned()),
            _ => None,
        };
        if let Some(msg) = accepted {
            self.state = State::Succeeded;
            let (proto, c) = match self.method {
                AuthMethod::Pap => (Protocol::Pap, code(pap::AUTHENTICATE_ACK)),
                _ => (Protocol::Chap, code(chap::SUCCESS)),
            };
            let mut data = Vec::new();
            if self.method == AuthMethod::Pap {
                pap::encode_message(msg.as_bytes(), &mut wire::Writer::new(&mut data));
            } else {
                data.extend_from_slice(msg.as_bytes());
            }
            out.push_cp(proto, c, self.id, |w| w.bytes(&data));
            self.reply = Some((proto, c, self.id, data));
            return ServerOutput::Success {
                user: self.user.clone(),
            };
        }
        self.attempts += 1;
        let retry = self.attempts < self.max_attempts;
        // A fresh challenge: the retry's (MS-CHAPv2 announces it in C=, even when no
        // retry is allowed, as Windows servers do).
        let next = if self.method == AuthMethod::Pap {
            None
        } else {
            self.challenges.take()
        };
        match self.method {
            AuthMethod::Pap => {
                out.push_cp(Protocol::Pap, code(pap::AUTHENTICATE_NAK), self.id, |w| {
                    pap::encode_message(b"Authentication failed", w);
                });
            }
            AuthMethod::ChapMd5 => {
                out.push_cp(Protocol::Chap, code(chap::FAILURE), self.id, |w| {
                    w.bytes(b"Authentication failed");
                });
            }
            AuthMethod::MsChapV2 => {
                // RFC 2759 §6: E=691 (bad credentials), R=retry allowed, C=the challenge a
                // retry must use, V=3.
                let mut msg = format!("E=691 R={} C=", u8::from(retry && next.is_some()));
                for b in next.unwrap_or(self.challenge) {
                    let _ = write!(msg, "{b:02X}");
                }
                msg.push_str(" V=3 M=Authentication failed");
                out.push_cp(Protocol::Chap, code(chap::FAILURE), self.id, |w| {
                    w.bytes(msg.as_bytes())
                });
            }
        }
        if !retry {
            self.state = State::Failed;
            return ServerOutput::Failed;
        }
        self.state = State::AwaitResponse;
        if self.method != AuthMethod::Pap {
            match next {
                Some(c) => {
                    self.challenge = c;
                    self.id = self.id.wrapping_add(1);
                    self.transmits = 0;
                    self.send_challenge(now, out);
                }
                None => {
                    self.state = State::Failed;
                    return ServerOutput::Failed;
                }
            }
        }
        ServerOutput::None
    }
}
