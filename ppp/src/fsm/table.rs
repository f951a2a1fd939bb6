//! The state transition table of RFC 1661 §4.1, as data: states, events, actions, and
//! one `match` from (state, event) to (next state, actions), with text and Graphviz
//! renderings for the snapshot test.

use core::fmt;

/// The ten states of §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Lower layer down, no Open.
    Initial,
    /// Open issued, lower layer still down.
    Starting,
    /// Lower layer up, no Open.
    Closed,
    /// Open, waiting for Down after tlf, or after sending a Terminate-Ack.
    Stopped,
    /// Terminate-Request sent (after Close).
    Closing,
    /// Terminate-Request sent (Open still in force).
    Stopping,
    /// Configure-Request sent, no Ack yet either way.
    ReqSent,
    /// Our request acked, the peer's not yet.
    AckRcvd,
    /// The peer's request acked, ours not yet.
    AckSent,
    /// Both requests acked.
    Opened,
}

impl State {
    /// All states in the order of the RFC's table (0..=9).
    pub const ALL: [Self; 10] = [
        Self::Initial,
        Self::Starting,
        Self::Closed,
        Self::Stopped,
        Self::Closing,
        Self::Stopping,
        Self::ReqSent,
        Self::AckRcvd,
        Self::AckSent,
        Self::Opened,
    ];

    /// True in the states where the restart timer runs (§4.2).
    pub fn timer_runs(self) -> bool {
        matches!(
            self,
            Self::Closing | Self::Stopping | Self::ReqSent | Self::AckRcvd | Self::AckSent
        )
    }
}

/// The events of §4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsmEvent {
    /// The lower layer is up.
    Up,
    /// The lower layer is down.
    Down,
    /// Administrative Open.
    Open,
    /// Administrative Close.
    Close,
    /// Restart timer expired, counter still positive (TO+).
    TimeoutPlus,
    /// Restart timer expired, counter exhausted (TO-).
    TimeoutMinus,
    /// Receive acceptable Configure-Request (RCR+).
    RcrPlus,
    /// Receive unacceptable Configure-Request (RCR-).
    RcrMinus,
    /// Receive Configure-Ack (RCA).
    Rca,
    /// Receive Configure-Nak or Configure-Reject (RCN).
    Rcn,
    /// Receive Terminate-Request (RTR).
    Rtr,
    /// Receive Terminate-Ack (RTA).
    Rta,
    /// Receive unknown code (RUC).
    Ruc,
    /// Receive permitted Code-Reject or Protocol-Reject (RXJ+).
    RxjPlus,
    /// Receive catastrophic Code-Reject or Protocol-Reject (RXJ-).
    RxjMinus,
    /// Receive Echo-Request, Echo-Reply or Discard-Request (RXR).
    Rxr,
}

impl FsmEvent {
    /// All events in the order of the RFC's table.
    pub const ALL: [Self; 16] = [
        Self::Up,
        Self::Down,
        Self::Open,
        Self::Close,
        Self::TimeoutPlus,
        Self::TimeoutMinus,
        Self::RcrPlus,
        Self::RcrMinus,
        Self::Rca,
        Self::Rcn,
        Self::Rtr,
        Self::Rta,
        Self::Ruc,
        Self::RxjPlus,
        Self::RxjMinus,
        Self::Rxr,
    ];

    /// The RFC's abbreviation.
    pub fn name(self) -> &'static str {
        match self {
            Self::Up => "Up",
            Self::Down => "Down",
            Self::Open => "Open",
            Self::Close => "Close",
            Self::TimeoutPlus => "TO+",
            Self::TimeoutMinus => "TO-",
            Self::RcrPlus => "RCR+",
            Self::RcrMinus => "RCR-",
            Self::Rca => "RCA",
            Self::Rcn => "RCN",
            Self::Rtr => "RTR",
            Self::Rta => "RTA",
            Self::Ruc => "RUC",
            Self::RxjPlus => "RXJ+",
            Self::RxjMinus => "RXJ-",
            Self::Rxr => "RXR",
        }
    }
}

/// A set of the actions of §4.4. The RFC lets them run "in any convenient order"; `Fsm`
/// runs them in the order of [`Actions::ORDER`] (layer-down first, layer-up after the
/// Configure-Ack is queued).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u16);

impl Actions {
    /// No action.
    pub const NONE: Self = Self(0);
    /// This-Layer-Up.
    pub const TLU: Self = Self(1 << 0);
    /// This-Layer-Down.
    pub const TLD: Self = Self(1 << 1);
    /// This-Layer-Started.
    pub const TLS: Self = Self(1 << 2);
    /// This-Layer-Finished.
    pub const TLF: Self = Self(1 << 3);
    /// Initialize-Restart-Count.
    pub const IRC: Self = Self(1 << 4);
    /// Zero-Restart-Count.
    pub const ZRC: Self = Self(1 << 5);
    /// Send-Configure-Request.
    pub const SCR: Self = Self(1 << 6);
    /// Send-Configure-Ack.
    pub const SCA: Self = Self(1 << 7);
    /// Send-Configure-Nak/Rej.
    pub const SCN: Self = Self(1 << 8);
    /// Send-Terminate-Request.
    pub const STR: Self = Self(1 << 9);
    /// Send-Terminate-Ack.
    pub const STA: Self = Self(1 << 10);
    /// Send-Code-Reject.
    pub const SCJ: Self = Self(1 << 11);
    /// Send-Echo-Reply.
    pub const SER: Self = Self(1 << 12);

    /// The execution (and display) order.
    pub const ORDER: [(Self, &'static str); 13] = [
        (Self::TLD, "tld"),
        (Self::IRC, "irc"),
        (Self::ZRC, "zrc"),
        (Self::SCR, "scr"),
        (Self::SCA, "sca"),
        (Self::SCN, "scn"),
        (Self::STR, "str"),
        (Self::STA, "sta"),
        (Self::SCJ, "scj"),
        (Self::SER, "ser"),
        (Self::TLU, "tlu"),
        (Self::TLS, "tls"),
        (Self::TLF, "tlf"),
    ];

    /// True if every action of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The union.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// True when empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Actions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.with(rhs)
    }
}

impl core::ops::BitOrAssign for Actions {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.with(rhs);
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (a, name) in Self::ORDER {
            if self.contains(a) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actions({self})")
    }
}

/// One cell of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The next state (the current one for an illegal event).
    pub next: State,
    /// What to do.
    pub actions: Actions,
    /// False for the RFC's "-" cells: the event cannot happen in this state and is ignored.
    pub legal: bool,
    /// The RFC's footnote: 'r' (restart option, not taken), 'x' (crossed connection),
    /// 'p' (passive option, not taken), or ' '.
    pub note: char,
}

/// The state transition table of RFC 1661 §4.1.
pub const fn transition(state: State, event: FsmEvent) -> Transition {
    use Actions as A;
    use FsmEvent as E;
    use State as S;
    const fn t(next: State, actions: Actions) -> Transition {
        Transition {
            next,
            actions,
            legal: true,
            note: ' ',
        }
    }
    const fn n(next: State, actions: Actions, note: char) -> Transition {
        Transition {
            next,
            actions,
            legal: true,
            note,
        }
    }
    const fn a2(x: Actions, y: Actions) -> Actions {
        x.with(y)
    }
    const fn a3(x: Actions, y: Actions, z: Actions) -> Actions {
        x.with(y).with(z)
    }
    let none = A::NONE;
    match (state, event) {
        // Up
        (S::Initial, E::Up) => t(S::Closed, none),
        (S::Starting, E::Up) => t(S::ReqSent, a2(A::IRC, A::SCR)),
        // Down
        (S::Closed, E::Down) => t(S::Initial, none),
        (S::Stopped, E::Down) => t(S::Starting, A::TLS),
        (S::Closing, E::Down) => t(S::Initial, none),
        (S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::Down) => t(S::Starting, none),
        (S::Opened, E::Down) => t(S::Starting, A::TLD),
        // Open
        (S::Initial, E::Open) => t(S::Starting, A::TLS),
        (S::Starting, E::Open) => t(S::Starting, none),
        (S::Closed, E::Open) => t(S::ReqSent, a2(A::IRC, A::SCR)),
        (S::Stopped, E::Open) => n(S::Stopped, none, 'r'),
        (S::Closing | S::Stopping, E::Open) => n(S::Stopping, none, 'r'),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Open) => t(state, none),
        (S::Opened, E::Open) => n(S::Opened, none, 'r'),
        // Close
        (S::Initial, E::Close) => t(S::Initial, none),
        (S::Starting, E::Close) => t(S::Initial, A::TLF),
        (S::Closed | S::Stopped, E::Close) => t(S::Closed, none),
        (S::Closing | S::Stopping, E::Close) => t(S::Closing, none),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Close) => t(S::Closing, a2(A::IRC, A::STR)),
        (S::Opened, E::Close) => t(S::Closing, a3(A::TLD, A::IRC, A::STR)),
        // TO+
        (S::Closing | S::Stopping, E::TimeoutPlus) => t(state, A::STR),
        (S::ReqSent | S::AckRcvd, E::TimeoutPlus) => t(S::ReqSent, A::SCR),
        (S::AckSent, E::TimeoutPlus) => t(S::AckSent, A::SCR),
        // TO-
        (S::Closing, E::TimeoutMinus) => t(S::Closed, A::TLF),
        (S::Stopping, E::TimeoutMinus) => t(S::Stopped, A::TLF),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::TimeoutMinus) => n(S::Stopped, A::TLF, 'p'),
        // RCR+
        (S::Closed, E::RcrPlus | E::RcrMinus) => t(S::Closed, A::STA),
        (S::Stopped, E::RcrPlus) => t(S::AckSent, a3(A::IRC, A::SCR, A::SCA)),
        (S::Closing | S::Stopping, E::RcrPlus | E::RcrMinus) => t(state, none),
        (S::ReqSent | S::AckSent, E::RcrPlus) => t(S::AckSent, A::SCA),
        (S::AckRcvd, E::RcrPlus) => t(S::Opened, a2(A::SCA, A::TLU)),
        (S::Opened, E::RcrPlus) => t(S::AckSent, a3(A::TLD, A::SCR, A::SCA)),
        // RCR-
        (S::Stopped, E::RcrMinus) => t(S::ReqSent, a3(A::IRC, A::SCR, A::SCN)),
        (S::ReqSent | S::AckSent, E::RcrMinus) => t(S::ReqSent, A::SCN),
        (S::AckRcvd, E::RcrMinus) => t(S::AckRcvd, A::SCN),
        (S::Opened, E::RcrMinus) => t(S::ReqSent, a3(A::TLD, A::SCR, A::SCN)),
        // RCA
        (S::Closed | S::Stopped, E::Rca | E::Rcn) => t(state, A::STA),
        (S::Closing | S::Stopping, E::Rca | E::Rcn) => t(state, none),
        (S::ReqSent, E::Rca) => t(S::AckRcvd, A::IRC),
        (S::AckRcvd, E::Rca | E::Rcn) => n(S::ReqSent, A::SCR, 'x'),
        (S::AckSent, E::Rca) => t(S::Opened, a2(A::IRC, A::TLU)),
        (S::Opened, E::Rca | E::Rcn) => n(S::ReqSent, a2(A::TLD, A::SCR), 'x'),
        // RCN
        (S::ReqSent, E::Rcn) => t(S::ReqSent, a2(A::IRC, A::SCR)),
        (S::AckSent, E::Rcn) => t(S::AckSent, a2(A::IRC, A::SCR)),
        // RTR
        (S::Closed | S::Stopped | S::Closing | S::Stopping, E::Rtr) => t(state, A::STA),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Rtr) => t(S::ReqSent, A::STA),
        (S::Opened, E::Rtr) => t(S::Stopping, a3(A::TLD, A::ZRC, A::STA)),
        // RTA
        (S::Closed | S::Stopped, E::Rta) => t(state, none),
        (S::Closing, E::Rta) => t(S::Closed, A::TLF),
        (S::Stopping, E::Rta) => t(S::Stopped, A::TLF),
        (S::ReqSent | S::AckRcvd, E::Rta) => t(S::ReqSent, none),
        (S::AckSent, E::Rta) => t(S::AckSent, none),
        (S::Opened, E::Rta) => t(S::ReqSent, a2(A::TLD, A::SCR)),
        // RUC
        (
            S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckRcvd
            | S::AckSent
            | S::Opened,
            E::Ruc,
        ) => t(state, A::SCJ),
        // RXJ+
        (
            S::Closed | S::Stopped | S::Closing | S::Stopping | S::ReqSent | S::AckSent,
            E::RxjPlus,
        ) => t(state, none),
        (S::AckRcvd, E::RxjPlus) => t(S::ReqSent, none),
        (S::Opened, E::RxjPlus) => t(S::Opened, none),
        // RXJ-
        (S::Closed | S::Closing, E::RxjMinus) => t(S::Closed, A::TLF),
        (S::Stopped | S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::RxjMinus) => {
            t(S::Stopped, A::TLF)
        }
        (S::Opened, E::RxjMinus) => t(S::Stopping, a3(A::TLD, A::IRC, A::STR)),
        // RXR
        (
            S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckRcvd
            | S::AckSent,
            E::Rxr,
        ) => t(state, none),
        (S::Opened, E::Rxr) => t(S::Opened, A::SER),
        // The "-" cells.
        _ => Transition {
            next: state,
            actions: none,
            legal: false,
            note: ' ',
        },
    }
}

/// The whole table as text, one `state event -> next actions` row per cell, for the
/// snapshot test (`testdata/fsm_table.txt`) and for reading.
pub fn render_table() -> String {
    let mut s = String::new();
    for state in State::ALL {
        for event in FsmEvent::ALL {
            let t = transition(state, event);
            let line = if t.legal {
                let note = if t.note == ' ' {
                    String::new()
                } else {
                    format!(" [{}]", t.note)
                };
                format!(
                    "{:<9} {:<5} -> {:<9} {}{}",
                    format!("{state:?}"),
                    event.name(),
                    format!("{:?}", t.next),
                    t.actions,
                    note
                )
            } else {
                format!(
                    "{:<9} {:<5} -> (illegal)",
                    format!("{state:?}"),
                    event.name()
                )
            };
            s.push_str(line.trim_end());
            s.push('\n');
        }
    }
    s
}

/// The legal transitions as a Graphviz digraph.
pub fn render_dot() -> String {
    let mut s = String::from("digraph ppp_fsm {\n  rankdir=LR;\n");
    for state in State::ALL {
        for event in FsmEvent::ALL {
            let t = transition(state, event);
            if t.legal {
                s.push_str(&format!(
                    "  {:?} -> {:?} [label=\"{}/{}\"];\n",
                    state,
                    t.next,
                    event.name(),
                    t.actions
                ));
            }
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p ppp fsm`; then check every
    /// changed row against RFC 1661 §4.1 by hand.
    #[test]
    fn transition_table_matches_snapshot() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fsm_table.txt");
        let table = render_table();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &table).unwrap();
        }
        let expected = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            table, expected,
            "fsm table differs from testdata/fsm_table.txt"
        );
        assert_eq!(table.lines().count(), 160);
    }

    /// Spot checks written straight from the RFC's table, independent of the snapshot.
    #[test]
    fn cells_from_the_rfc() {
        let cell = |s, e| {
            let t = transition(s, e);
            (t.next, t.actions.to_string())
        };
        assert_eq!(
            cell(State::Starting, FsmEvent::Up),
            (State::ReqSent, "irc,scr".into())
        );
        assert_eq!(
            cell(State::Stopped, FsmEvent::Down),
            (State::Starting, "tls".into())
        );
        assert_eq!(
            cell(State::Stopped, FsmEvent::RcrPlus),
            (State::AckSent, "irc,scr,sca".into())
        );
        assert_eq!(
            cell(State::AckRcvd, FsmEvent::RcrPlus),
            (State::Opened, "sca,tlu".into())
        );
        assert_eq!(
            cell(State::AckSent, FsmEvent::Rca),
            (State::Opened, "irc,tlu".into())
        );
        assert_eq!(
            cell(State::Opened, FsmEvent::Rtr),
            (State::Stopping, "tld,zrc,sta".into())
        );
        assert_eq!(
            cell(State::Opened, FsmEvent::RxjMinus),
            (State::Stopping, "tld,irc,str".into())
        );
        assert_eq!(
            cell(State::Opened, FsmEvent::Close),
            (State::Closing, "tld,irc,str".into())
        );
        assert_eq!(
            cell(State::ReqSent, FsmEvent::TimeoutMinus),
            (State::Stopped, "tlf".into())
        );
        assert_eq!(
            cell(State::AckSent, FsmEvent::TimeoutPlus),
            (State::AckSent, "scr".into())
        );
        assert_eq!(
            cell(State::Opened, FsmEvent::Rxr),
            (State::Opened, "ser".into())
        );
        assert_eq!(
            cell(State::Starting, FsmEvent::Close),
            (State::Initial, "tlf".into())
        );
        assert!(!transition(State::Initial, FsmEvent::RcrPlus).legal);
        assert!(!transition(State::Opened, FsmEvent::Up).legal);
        let dot = render_dot();
        assert!(dot.starts_with("digraph"));
        assert!(dot.contains("AckRcvd -> Opened [label=\"RCR+/sca,tlu\"]"));
    }
}

#[cfg(test)]
mod rfc_table {
    use super::*;

    /// Parses the table as printed in RFC 1661 §4.1 (testdata/rfc1661_table.txt) and
    /// compares every one of the 160 cells with [`transition`].
    #[test]
    fn every_cell_matches_the_rfc_text() {
        let text = include_str!("../../testdata/rfc1661_table.txt");
        let mut blocks = text.split("\n#\n");
        let mut compared = 0;
        for base in [0usize, 6] {
            let block = blocks.next().unwrap();
            for line in block.lines().filter(|l| !l.starts_with('#')) {
                let (ev, cells) = line.split_once('|').unwrap();
                let event = *FsmEvent::ALL
                    .iter()
                    .find(|e| e.name() == ev.trim())
                    .unwrap();
                for (i, cell) in cells.split_whitespace().enumerate() {
                    let state = State::ALL[base + i];
                    let t = transition(state, event);
                    compared += 1;
                    if cell == "-" {
                        assert!(!t.legal, "{state:?} {ev}: expected illegal");
                        continue;
                    }
                    let (cell, note) = match cell.chars().last().unwrap() {
                        c @ ('r' | 'x' | 'p') => (&cell[..cell.len() - 1], c),
                        _ => (cell, ' '),
                    };
                    let (acts, next) = cell.split_once('/').unwrap_or(("", cell));
                    let mut expected = Actions::NONE;
                    for a in acts.split(',').filter(|a| !a.is_empty()) {
                        expected |= Actions::ORDER.iter().find(|(_, n)| *n == a).unwrap().0;
                    }
                    let next = State::ALL[next.parse::<usize>().unwrap()];
                    assert!(t.legal, "{state:?} {ev}");
                    assert_eq!(
                        (t.next, t.actions, t.note),
                        (next, expected, note),
                        "{state:?} {ev}"
                    );
                }
            }
        }
        assert_eq!(compared, 160);
    }
}
