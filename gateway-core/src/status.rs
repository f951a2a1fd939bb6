//! The status data model: what a core reports for `l2tpgw status` and the metrics
//! endpoint ([`crate::Engine::status`]). The `l2tpgw` binary renders it as a table, JSON
//! and Prometheus text.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The ESP side of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EspStatus {
    /// Negotiated transforms, e.g. `aes-cbc-256/hmac-sha1-96`.
    pub suite: String,
    /// Our inbound SPI (hex).
    pub inbound_spi: String,
    /// Our outbound SPI (hex).
    pub outbound_spi: String,
    /// Seconds since the SA pair was installed.
    pub age_secs: u64,
    /// UDP-encapsulated (NAT-T) or raw ESP.
    pub udp_encapsulated: bool,
}

/// One client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The authenticated PPP user (empty until authenticated).
    pub user: String,
    /// The client's outer address and port.
    pub outer: SocketAddr,
    /// The inner address assigned (once IPCP is up).
    pub inner: Option<Ipv4Addr>,
    /// Seconds since the session started.
    pub uptime_secs: u64,
    /// Bytes received from the client (inner packets).
    pub bytes_in: u64,
    /// Bytes sent to the client (inner packets).
    pub bytes_out: u64,
    /// Packets received from the client.
    pub packets_in: u64,
    /// Packets sent to the client.
    pub packets_out: u64,
    /// The ESP SAs carrying the session.
    pub esp: Option<EspStatus>,
    /// Our L2TP tunnel ID.
    pub l2tp_tunnel: u16,
    /// Our L2TP session ID.
    pub l2tp_session: u16,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The gateway's version.
    pub version: String,
    /// Seconds since the gateway started.
    pub uptime_secs: u64,
    /// Sessions, ordered by inner address.
    pub sessions: Vec<SessionStatus>,
    /// Gauges and counters by name (`ike_sas`, `dropped.spoofed_source`, ...). Names
    /// with a dot are `family.reason`: exported as one metric with a `reason` label.
    pub counters: BTreeMap<String, u64>,
}
