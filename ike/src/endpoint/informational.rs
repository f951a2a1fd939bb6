//! Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): DELETE both ways,
//! notifications, DPD (RFC 3706).

use std::time::Instant;

use super::sa::{IkeSa, Role, State};
use super::{
    DownReason, Endpoint, Event, IkeSaId, Path, checked_chain, hashed_chain, header_for, open, seal,
};
use crate::crypto::keys;
use crate::error::{Error, PeerMisbehaved};
use crate::msgs::{
    DOI_IPSEC, DeletePayload, ExchangeType, Header, NotifyPayload, NotifyType, Payload,
    PayloadType, ProtocolId,
};
use crate::phase1::auth::hash_matches;

impl Endpoint {
    pub(super) fn informational(
        &mut self,
        _now: Instant,
        sa: &mut IkeSa,
        path: Path,
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::Established(est) = &sa.state else {
            // Before keys are shared only an unencrypted error notification can come;
            // as initiator it ends our attempt (the peer refused us).
            if header.flags.encrypted() || sa.role != Role::Initiator {
                return Err(PeerMisbehaved::UnexpectedMessage(
                    "informational before establishment",
                )
                .into());
            }
            let chain = checked_chain(header.next_payload, body)?;
            for raw in chain
                .payloads
                .iter()
                .filter(|r| r.ty == PayloadType::Notify)
            {
                let n = NotifyPayload::decode(raw.body)?;
                if n.notify_type.is_error() {
                    tracing::info!(peer = %path.remote, notify = ?n.notify_type, "peer refused Main Mode");
                    self.kill(sa, DownReason::Refused(n.notify_type));
                    return Err(match n.notify_type {
                        NotifyType::AuthenticationFailed => Error::AuthenticationFailed,
                        NotifyType::NoProposalChosen => Error::NoProposalChosen,
                        _ => PeerMisbehaved::UnexpectedMessage("error notification").into(),
                    });
                }
            }
            return Ok(());
        };
        let mid = header.message_id.0;
        if mid == 0 {
            return Err(PeerMisbehaved::InvalidMessageId.into());
        }
        // Only from the path Main Mode proved: a DELETE or INITIAL-CONTACT, hashed with
        // a user's own ISAKMP SA but sent from another user's address, must neither act
        // nor move the SA there.
        if path != sa.path {
            tracing::debug!(peer = %path.remote, proven = %sa.path.remote, "informational exchange from another path than its ISAKMP SA's: dropped");
            return Err(PeerMisbehaved::WrongPath.into());
        }
        let p = self.provider();
        let iv = keys::phase2_iv(p, est.keys.hash, est.keys.cipher, &est.p1_last, mid);
        let (plain, _) = open(p, &est.keys, &iv, header, body)?;
        let chain = checked_chain(header.next_payload, &plain)?;
        let first = chain
            .payloads
            .first()
            .filter(|x| x.ty == PayloadType::Hash)
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Hash))?;
        let rest_start = chain.payloads.get(1).map_or(chain.end, |x| x.offset);
        let rest = plain.get(rest_start..chain.end).unwrap_or_default();
        let expected = p.prf(
            est.keys.hash,
            est.keys.skeyid_a.as_bytes(),
            &[&mid.to_be_bytes(), rest],
        );
        if !hash_matches(&expected, first.body) {
            return Err(PeerMisbehaved::BadHash.into());
        }
        for raw in chain.payloads.iter().skip(1) {
            match Payload::decode(raw.ty, raw.body)? {
                Payload::Delete(d) => self.peer_delete(sa, &d),
                Payload::Notify(n) => self.peer_notify(sa, &n),
                _ => {}
            }
        }
        Ok(())
    }

    fn peer_delete(&mut self, sa: &mut IkeSa, d: &DeletePayload) {
        match d.protocol {
            ProtocolId::Isakmp
                if d.spis
                    .iter()
                    .any(|s| s.as_slice() == [sa.icookie.0, sa.rcookie.0].concat()) =>
            {
                tracing::debug!(peer = %sa.path.remote, "peer deleted the ISAKMP SA");
                self.events.push_back(Event::IkeSaDown {
                    ike: sa.id,
                    path: sa.path,
                    reason: DownReason::DeletedByPeer,
                });
                // Its ESP SAs live on until deleted or expired (RFC 2409): Windows
                // deletes the old ISAKMP SA after a Main Mode rekey while traffic still
                // flows on ESP SAs it negotiated. The SA stays, unreachable by cookies,
                // until its last ESP SA is gone.
                self.by_cookies.remove(&(sa.icookie, sa.rcookie));
                if sa.children.is_empty() {
                    sa.dead = true;
                } else {
                    sa.orphaned = true;
                }
            }
            ProtocolId::Esp => {
                for spi in &d.spis {
                    let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                        continue;
                    };
                    // The peer names its own inbound SPI: our outbound. It is one of
                    // this ISAKMP SA's pairs, or one of an older ISAKMP SA of the same
                    // peer (after a Main Mode rekey Windows deletes the old pairs
                    // through the new SA): the same authenticated identity on the same
                    // proven path. Never another user's, whose SPIs anyone may name.
                    let spi = esp::Spi(u32::from_be_bytes(b));
                    let removed = if let Some(pos) =
                        sa.children.iter().position(|c| c.outbound == spi)
                    {
                        Some((sa.id, sa.children.remove(pos)))
                    } else if let Some(me) = sa.peer_id.as_ref() {
                        let remote = sa.path.remote;
                        self.sas
                            .values_mut()
                            .filter(|o| o.peer_id.as_ref() == Some(me) && o.path.remote == remote)
                            .find_map(|o| {
                                let pos = o.children.iter().position(|c| c.outbound == spi)?;
                                Some((o.id, o.children.remove(pos)))
                            })
                    } else {
                        None
                    };
                    if removed.is_none() {
                        tracing::debug!(peer = %sa.path.remote, %spi, "DELETE names no ESP SA of this peer: ignored");
                    }
                    if let Some((ike, c)) = removed {
                        self.events.push_back(Event::ChildSaDown {
                            ike,
                            inbound_spi: c.inbound,
                            outbound_spi: c.outbound,
                            reason: DownReason::DeletedByPeer,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn peer_notify(&mut self, sa: &mut IkeSa, n: &NotifyPayload) {
        match n.notify_type {
            NotifyType::RUThere if self.config.dpd => {
                let spi = [sa.icookie.0, sa.rcookie.0].concat();
                self.send_notify(
                    sa,
                    NotifyType::RUThereAck,
                    ProtocolId::Isakmp,
                    n.data.clone(),
                );
                let _ = spi;
            }
            NotifyType::RUThereAck => sa.dpd_unanswered = 0,
            NotifyType::InitialContact => self.initial_contact(sa),
            t if t.is_error() => {
                tracing::info!(peer = %sa.path.remote, notify = ?t, "peer sent an error notification");
            }
            _ => {}
        }
    }

    /// Sends an encrypted informational exchange with `rest` after HASH(1).
    pub(super) fn send_informational(&mut self, sa: &IkeSa, rest: &[Payload]) {
        let State::Established(est) = &sa.state else {
            return;
        };
        let p = self.provider();
        let mut mid = 0;
        while mid == 0 {
            mid = self.rng.next_u32();
        }
        let mut iv = keys::phase2_iv(p, est.keys.hash, est.keys.cipher, &est.p1_last, mid);
        let ska = est.keys.skeyid_a.clone();
        let h = est.keys.hash;
        let chain = hashed_chain(rest, |r| p.prf(h, ska.as_bytes(), &[&mid.to_be_bytes(), r]));
        let out = seal(
            p,
            &est.keys,
            &mut iv,
            header_for(sa, ExchangeType::Informational, mid),
            PayloadType::Hash,
            &chain,
        );
        self.send(sa.path, out);
    }

    /// Sends a notification inside the ISAKMP SA (encrypted; nothing before keys exist).
    pub(super) fn send_notify(
        &mut self,
        sa: &IkeSa,
        ty: NotifyType,
        protocol: ProtocolId,
        data: Vec<u8>,
    ) {
        let spi = if protocol == ProtocolId::Isakmp {
            [sa.icookie.0, sa.rcookie.0].concat()
        } else {
            Vec::new()
        };
        let n = Payload::Notify(NotifyPayload {
            doi: DOI_IPSEC,
            protocol,
            notify_type: ty,
            spi,
            data,
        });
        self.send_informational(sa, &[n]);
    }

    /// Deletes the ESP SA pair whose inbound (our) or outbound SPI is `spi`: tells the
    /// peer and reports [`Event::ChildSaDown`]. Returns false if no such SA exists.
    pub fn delete_child_sa(&mut self, spi: esp::Spi) -> bool {
        let Some(id) = self
            .sas
            .values()
            .find(|s| {
                s.children
                    .iter()
                    .any(|c| c.inbound == spi || c.outbound == spi)
            })
            .map(|s| s.id)
        else {
            return false;
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return false;
        };
        if let Some(pos) = sa
            .children
            .iter()
            .position(|c| c.inbound == spi || c.outbound == spi)
        {
            let c = sa.children.remove(pos);
            let d = Payload::Delete(DeletePayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Esp,
                spi_size: 4,
                spis: vec![c.inbound.0.to_be_bytes().to_vec()],
            });
            self.send_informational(&sa, &[d]);
            self.events.push_back(Event::ChildSaDown {
                ike: sa.id,
                inbound_spi: c.inbound,
                outbound_spi: c.outbound,
                reason: DownReason::DeletedLocally,
            });
        }
        self.reinsert(sa);
        true
    }

    /// Closes an ISAKMP SA: DELETEs for its ESP SAs and for itself, then events.
    pub fn close(&mut self, ike: IkeSaId) -> bool {
        let Some(mut sa) = self.sas.remove(&ike) else {
            return false;
        };
        let mut payloads: Vec<Payload> = sa
            .children
            .iter()
            .map(|c| {
                Payload::Delete(DeletePayload {
                    doi: DOI_IPSEC,
                    protocol: ProtocolId::Esp,
                    spi_size: 4,
                    spis: vec![c.inbound.0.to_be_bytes().to_vec()],
                })
            })
            .collect();
        for p in payloads.drain(..) {
            self.send_informational(&sa, &[p]);
        }
        let d = Payload::Delete(DeletePayload {
            doi: DOI_IPSEC,
            protocol: ProtocolId::Isakmp,
            spi_size: 16,
            spis: vec![[sa.icookie.0, sa.rcookie.0].concat()],
        });
        self.send_informational(&sa, &[d]);
        self.kill(&mut sa, DownReason::DeletedLocally);
        self.forget(&sa);
        true
    }

    /// Sends INITIAL-CONTACT (RFC 2407 §4.6.3.3) in an informational exchange of an
    /// established ISAKMP SA, as some initiators do right after Main Mode instead of in
    /// its fifth message: the responder then drops this peer's older SAs (only those of
    /// the same identity on the same proven path). False when the SA is unknown or not
    /// established.
    pub fn send_initial_contact(&mut self, ike: IkeSaId) -> bool {
        let Some(sa) = self.sas.remove(&ike) else {
            return false;
        };
        let sent = sa.is_established() && !sa.dead;
        if sent {
            self.send_notify(
                &sa,
                NotifyType::InitialContact,
                ProtocolId::Isakmp,
                Vec::new(),
            );
        }
        self.reinsert(sa);
        sent
    }

    /// Sends a DPD R-U-THERE (RFC 3706) on an established ISAKMP SA.
    pub fn send_dpd(&mut self, ike: IkeSaId) -> bool {
        let Some(mut sa) = self.sas.remove(&ike) else {
            return false;
        };
        let sent = self.send_r_u_there(&mut sa);
        self.reinsert(sa);
        sent
    }

    pub(super) fn send_r_u_there(&mut self, sa: &mut IkeSa) -> bool {
        let seq = match &mut sa.state {
            State::Established(est) => {
                est.dpd_seq = est.dpd_seq.wrapping_add(1);
                est.dpd_seq
            }
            _ => return false,
        };
        self.send_notify(
            sa,
            NotifyType::RUThere,
            ProtocolId::Isakmp,
            seq.to_be_bytes().to_vec(),
        );
        true
    }
}
