//! Endpoint configuration: roles, identity, secret, timers and limits.

use std::time::Duration;

use crate::msgs::Secret;

/// How an [`crate::Endpoint`] behaves. [`Config::default`] is an LNS with the RFC 2661
/// recommended timers and limits sized for a gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// Answer SCCRQ and ICRQ (the server role).
    pub lns: bool,
    /// Allow [`crate::Endpoint::connect`] and [`crate::Endpoint::open_session`] (the
    /// client role, for `l2tpgw connect`).
    pub lac: bool,
    /// The Host Name AVP we send.
    pub host_name: Vec<u8>,
    /// The Vendor Name AVP we send (empty: none, as Android's mtpd sends none).
    pub vendor_name: Vec<u8>,
    /// The Framing Capabilities AVP we send (default 3: synchronous and asynchronous;
    /// Windows sends 1, synchronous only).
    pub framing_capabilities: u32,
    /// The Bearer Capabilities AVP we send (default `Some(0)`; `None`: none, as mtpd).
    pub bearer_capabilities: Option<u32>,
    /// The Firmware Revision AVP we send (default `Some(0x0100)`; Windows sends its NT
    /// version, `None`: none, as mtpd).
    pub firmware_revision: Option<u16>,
    /// The tunnel secret. With one, we challenge the peer (tunnel authentication) and
    /// can read its hidden AVPs; without one, a peer's Challenge is refused.
    pub secret: Option<Secret>,
    /// Hide the Assigned Session ID AVPs we send (needs `secret`).
    pub hide_avps: bool,
    /// Our Receive Window Size: how many out-of-order control messages we hold.
    pub receive_window: u16,
    /// The first retransmission timeout of a control message.
    pub retransmit_initial: Duration,
    /// The retransmission timeout doubles up to this cap.
    pub retransmit_cap: Duration,
    /// Retransmissions of one message before the tunnel is declared down.
    pub max_retransmits: u32,
    /// How long to wait for a message to piggyback an acknowledgement on before sending
    /// a ZLB.
    pub ack_delay: Duration,
    /// Send a HELLO after this long without control traffic; `None` sends none (a dead
    /// peer is then noticed only by the layers above, e.g. PPP echoes or IKE DPD). It is
    /// also how long a stalled handshake may stay silent before it is given up; with
    /// HELLO off that is [`DEFAULT_HELLO_INTERVAL`].
    pub hello_interval: Option<Duration>,
    /// How long a tunnel that received a StopCCN keeps acknowledging retransmissions of
    /// it before its state is freed.
    pub stop_linger: Duration,
    /// Tunnels in total.
    pub max_tunnels: usize,
    /// Tunnels of one peer.
    pub max_tunnels_per_peer: usize,
    /// Sessions in one tunnel.
    pub max_sessions_per_tunnel: usize,
    /// Sessions in total.
    pub max_sessions: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lns: true,
            lac: false,
            host_name: b"l2tpgw".to_vec(),
            vendor_name: b"l2tpgw".to_vec(),
            framing_capabilities: 3,
            bearer_capabilities: Some(0),
            firmware_revision: Some(0x0100),
            secret: None,
            hide_avps: false,
            receive_window: 16,
            retransmit_initial: Duration::from_secs(1),
            retransmit_cap: Duration::from_secs(8),
            max_retransmits: 5,
            ack_delay: Duration::from_millis(100),
            hello_interval: Some(DEFAULT_HELLO_INTERVAL),
            stop_linger: Duration::from_secs(31),
            max_tunnels: 4096,
            max_tunnels_per_peer: 4,
            max_sessions_per_tunnel: 16,
            max_sessions: 8192,
        }
    }
}

/// The default HELLO interval, and the handshake stall timeout when HELLO is off.
pub const DEFAULT_HELLO_INTERVAL: Duration = Duration::from_secs(60);

impl Config {
    /// How long a handshake with nothing in flight may stay silent before the tunnel is
    /// given up: the HELLO interval, or [`DEFAULT_HELLO_INTERVAL`] with HELLO off.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.hello_interval.unwrap_or(DEFAULT_HELLO_INTERVAL)
    }

    /// A LAC (client) configuration with the default timers.
    pub fn lac() -> Self {
        Self {
            lns: false,
            lac: true,
            ..Self::default()
        }
    }
}
