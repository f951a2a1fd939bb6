//! The gateway's configuration: a TOML file where every key has a default, plus the
//! quick-start flags and environment variables that override it.
//!
//! Precedence, highest first: command-line flag, environment variable, config file,
//! embedded default ([`Config::default`]). `gateway.example.toml` at the repository root
//! lists every key with its default and a comment; a test checks that it parses to
//! exactly [`Config::default`].

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_core::CoreConfig;
use gateway_core::pool::{AddressPool, Ipv4Cidr, PoolError};
use gateway_core::secret::Secret;
use gateway_core::users::{User, UserDb};
use serde::Deserialize;

use crate::secret_file::{self, Access, Policy};

/// The whole configuration. See `gateway.example.toml` for every key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Addresses to listen on (UDP `ike_port` and `nat_t_port` on each).
    pub listen: Vec<IpAddr>,
    /// The IKE port (500).
    pub ike_port: u16,
    /// The NAT-T port (4500).
    pub nat_t_port: u16,
    /// The pre-shared key. Generated and printed at start when neither this nor
    /// `psk_file` is set.
    pub psk: Option<Secret>,
    /// A file holding the pre-shared key (its first line).
    pub psk_file: Option<PathBuf>,
    /// The users file (see [`gateway_core::users`]). Without it and without `--user`, one user
    /// is generated and printed at start.
    pub users_file: Option<PathBuf>,
    /// The Unix socket `l2tpgw status` talks to.
    pub status_socket: PathBuf,
    /// Where to serve Prometheus metrics (`/metrics`), if anywhere. A port alone
    /// (`9477`, `"9477"` or `":9477"`) means localhost (127.0.0.1).
    #[serde(deserialize_with = "metrics_address")]
    pub metrics_listen: Option<SocketAddr>,
    /// What `/metrics` shows.
    pub metrics: MetricsConfig,
    /// IKE and ESP.
    pub ike: IkeConfig,
    /// Inner network: pool, TUN, DNS, forwarding.
    pub network: NetworkConfig,
    /// PPP.
    pub ppp: PppConfig,
    /// L2TP.
    pub l2tp: L2tpConfig,
    /// Limits against floods and misbehaving clients.
    pub limits: Limits,
    /// X.509 certificates for IKE (machine-certificate L2TP/IPsec).
    pub certificates: CertificatesConfig,
    /// What to do with secret files others can read (not a key: from
    /// `L2TPGW_ALLOW_INSECURE_SECRET_FILES`, see [`crate::secret_file`]).
    #[serde(skip)]
    pub secret_files: Policy,
    /// The config file this was loaded from, with its permissions, when it holds a
    /// secret (an inline `psk`); [`Resolved::new`] checks them.
    #[serde(skip)]
    pub file_with_secret: Option<(PathBuf, Access)>,
}

/// `[metrics]`: what the Prometheus endpoint (`metrics_listen`) shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Per-session series labelled with the user name and inner address. Off: only
    /// totals and counters, nothing that names a user or an address.
    pub detailed: bool,
}

/// `metrics_listen`: `ADDRESS:PORT`, `[IPv6]:PORT`, `localhost:PORT`, or a port alone
/// (a number or a string, with or without a leading `:`), which means 127.0.0.1.
pub fn parse_metrics_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let port = t
        .strip_prefix("localhost:")
        .or_else(|| t.strip_prefix(':'))
        .unwrap_or(t);
    if let Ok(port) = port.parse::<u16>() {
        return Ok(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!("metrics_listen: {text:?} is not PORT, ADDRESS:PORT, [IPv6]:PORT or localhost:PORT")
    })
}

fn metrics_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<SocketAddr>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number or an address with a port")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            let port = u16::try_from(v)
                .map_err(|_| E::custom(format!("metrics_listen: port {v} is above 65535")))?;
            Ok(Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("metrics_listen: port {v} is negative")))
                .and_then(|v| self.visit_u64(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_metrics_listen(v).map(Some).map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

/// A phase-1 authentication method clients may use (`ike.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IkeAuth {
    /// The pre-shared key.
    Psk,
    /// Certificates (RSA or ECDSA signatures), with `[certificates]` configured.
    Cert,
}

/// X.509 certificates: the CAs clients' certificates must chain to, the server's own
/// certificates and keys, and CRLs. PEM files, read at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificatesConfig {
    /// Trusted CA certificates (one or more PEM files; a file may hold several).
    #[serde(deserialize_with = "one_or_many")]
    pub ca: Vec<PathBuf>,
    /// The server's certificate, followed in the same file by any intermediate CAs;
    /// one per key type (an RSA one for RSA clients, an ECDSA one for ECDSA clients).
    #[serde(deserialize_with = "one_or_many")]
    pub cert: Vec<PathBuf>,
    /// The unencrypted private key of each `cert`, in the same order (PKCS#8, PKCS#1
    /// or SEC1 PEM).
    #[serde(deserialize_with = "one_or_many")]
    pub key: Vec<PathBuf>,
    /// Certificate revocation lists (PEM or DER), each checked against its CA.
    #[serde(deserialize_with = "one_or_many")]
    pub crl: Vec<PathBuf>,
}

/// A path or a list of paths.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

impl CertificatesConfig {
    /// Reads the CAs, certificates, keys and CRLs; `None` when nothing is configured.
    /// The private keys are secret files (see [`crate::secret_file`]): refused when
    /// others can read them, unless `policy` allows it (then a line in `warnings`).
    pub fn load(
        &self,
        policy: Policy,
        warnings: &mut Vec<String>,
    ) -> Result<Option<ike::Certificates>, ConfigError> {
        if self.ca.is_empty() && self.cert.is_empty() {
            return Ok(None);
        }
        let read = |what: &str, p: &Path| {
            std::fs::read(p).map_err(|e| {
                ConfigError::Invalid(format!(
                    "certificates.{what}: cannot read {}: {e}",
                    p.display()
                ))
            })
        };
        let bad = |what: &str, p: &Path, e: ike::phase1::cert::LoadError| {
            ConfigError::Invalid(format!("certificates.{what}: {}: {e}", p.display()))
        };
        let mut certs = ike::Certificates::new();
        for p in &self.ca {
            certs
                .add_ca_pem(&read("ca", p)?)
                .map_err(|e| bad("ca", p, e))?;
        }
        for (c, k) in self.cert.iter().zip(&self.key) {
            let (key, warning) = secret_file::read("certificates.key", k, policy)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            warnings.extend(warning);
            let id =
                ike::Identity::from_pem(&read("cert", c)?, &key).map_err(|e| bad("cert", c, e))?;
            certs.add_identity(id);
        }
        for p in &self.crl {
            certs
                .add_crl(&read("crl", p)?)
                .map_err(|e| bad("crl", p, e))?;
        }
        Ok(Some(certs))
    }
}

/// IKE and ESP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IkeConfig {
    /// Accept weak legacy algorithms for old clients: 3DES (IKE and ESP), MD5 (IKE hash,
    /// ESP HMAC-MD5-96) and MODP 1024/1536 (DH groups 2 and 5). Single DES is never
    /// accepted.
    pub legacy: bool,
    /// Answer Aggressive Mode (exposes the PSK hash to offline guessing).
    pub aggressive_mode: bool,
    /// Claim to be behind NAT (fake NAT-D) so every client uses UDP 4500. `false` needs
    /// `raw_esp` (clients without a NAT then use raw ESP).
    pub force_encapsulation: bool,
    /// Accept Windows clients when the *server* is behind NAT (Windows needs the
    /// AssumeUDPEncapsulationContextOnSendRule registry key otherwise).
    pub windows_server_behind_nat: bool,
    /// Open raw ESP sockets (IP protocol 50, one per family in `listen`) for clients
    /// not behind a NAT; needs CAP_NET_RAW. Used only with `force_encapsulation = false`.
    pub raw_esp: bool,
    /// Dead peer detection interval for peers that support DPD, in seconds (0: off).
    pub dpd_interval_secs: u64,
    /// Phase-1 authentication clients may use: "psk" and/or "cert" (certificates need
    /// `[certificates]`).
    pub auth: Vec<IkeAuth>,
}

/// The inner network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// The client address pool.
    pub pool: Ipv4Cidr,
    /// The gateway's own inner address; the pool's first host when unset.
    pub gateway_address: Option<Ipv4Addr>,
    /// DNS servers pushed to clients (IPCP, RFC 1877); none when empty.
    pub dns: Vec<Ipv4Addr>,
    /// The TUN device name.
    pub tun_name: String,
    /// Set up forwarding and NAT for the pool with nftables (removed on exit).
    pub masquerade: bool,
    /// Let clients reach each other through the gateway.
    pub client_to_client: bool,
}

/// An authentication protocol PPP may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthMethod {
    /// MS-CHAPv2 (RFC 2759).
    #[serde(rename = "mschapv2")]
    MsChapV2,
    /// CHAP with MD5 (RFC 1994).
    #[serde(rename = "chap-md5")]
    ChapMd5,
    /// PAP (RFC 1334): the password in clear inside the IPsec tunnel.
    #[serde(rename = "pap")]
    Pap,
}

/// PPP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PppConfig {
    /// Authentication protocols to ask for, most preferred first.
    pub auth_order: Vec<AuthMethod>,
    /// Allow PAP (added last to `auth_order` when not listed).
    pub pap: bool,
    /// The MRU we announce and the MTU the TUN gets.
    pub mru: u16,
    /// Seconds between LCP echo requests (0: off).
    pub lcp_echo_interval_secs: u64,
    /// Unanswered echoes before the session is closed.
    pub lcp_echo_failures: u32,
    /// Seconds without traffic from the client before the session is closed (0: never).
    pub idle_timeout_secs: u64,
}

/// L2TP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L2tpConfig {
    /// Seconds of control-channel silence before we send HELLO (0: off).
    pub hello_interval_secs: u64,
}

/// Limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Half-open (not yet authenticated) IKE SAs in all.
    pub half_open_ike_sas: u32,
    /// Half-open IKE SAs from one source address.
    pub half_open_ike_sas_per_source: u32,
    /// PPP sessions in all.
    pub sessions: u32,
    /// Sessions one user may hold; a new login past it replaces the oldest.
    pub sessions_per_user: u32,
    /// L2TP tunnels per IPsec peer (SA pair).
    pub tunnels_per_peer: u32,
    /// IKE SAs (any state) from one source address.
    pub ike_sas_per_source: u32,
    /// New IKE exchanges accepted from one source address per second.
    pub new_ike_exchanges_per_source_per_second: u32,
    /// Seconds a half-open IKE SA or an unfinished Quick Mode is kept.
    pub half_open_timeout_secs: u64,
    /// Unproven first Main Mode messages remembered (oldest dropped for new ones).
    pub first_messages: u32,
    /// Bytes the unproven first messages may hold.
    pub first_messages_bytes: u64,
    /// Expensive operations (DH, signatures) per second, in units of about 0.1 ms.
    pub expensive_ops_per_second: u32,
    /// The part of `expensive_ops_per_second` kept for established peers.
    pub expensive_ops_reserved: u32,
    /// PPP sessions not yet authenticated per IPsec peer (IKE SA).
    pub unauthenticated_sessions_per_ike_sa: u32,
    /// Authentication failures of one user within the window before backoff (0: off).
    pub auth_failures_per_user: u32,
    /// Authentication failures from one source address within the window before
    /// backoff (0: off).
    pub auth_failures_per_source: u32,
    /// The window authentication failures are counted in, in seconds.
    pub auth_failure_window_secs: u64,
    /// The first backoff in seconds; it doubles for each further one (up to 64 times).
    pub auth_backoff_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ],
            ike_port: 500,
            nat_t_port: 4500,
            psk: None,
            psk_file: None,
            users_file: None,
            status_socket: PathBuf::from("/run/l2tpgw.sock"),
            metrics_listen: None,
            metrics: MetricsConfig::default(),
            ike: IkeConfig::default(),
            network: NetworkConfig::default(),
            ppp: PppConfig::default(),
            l2tp: L2tpConfig::default(),
            limits: Limits::default(),
            certificates: CertificatesConfig::default(),
            secret_files: Policy::default(),
            file_with_secret: None,
        }
    }
}

impl Default for IkeConfig {
    fn default() -> Self {
        Self {
            legacy: false,
            aggressive_mode: false,
            force_encapsulation: true,
            windows_server_behind_nat: true,
            raw_esp: false,
            dpd_interval_secs: 30,
            auth: vec![IkeAuth::Psk, IkeAuth::Cert],
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            pool: Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 0), 24).unwrap_or_else(|_| unreachable!()),
            gateway_address: None,
            dns: Vec::new(),
            tun_name: "l2tpgw0".into(),
            masquerade: false,
            client_to_client: false,
        }
    }
}

impl Default for PppConfig {
    fn default() -> Self {
        Self {
            auth_order: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5],
            pap: false,
            mru: 1400,
            lcp_echo_interval_secs: 20,
            lcp_echo_failures: 3,
            idle_timeout_secs: 3600,
        }
    }
}

impl Default for L2tpConfig {
    fn default() -> Self {
        Self {
            hello_interval_secs: 60,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            half_open_ike_sas: 1024,
            half_open_ike_sas_per_source: 16,
            sessions: 1024,
            sessions_per_user: 4,
            tunnels_per_peer: 2,
            ike_sas_per_source: 256,
            new_ike_exchanges_per_source_per_second: 20,
            half_open_timeout_secs: 30,
            first_messages: 8192,
            first_messages_bytes: 16 * 1024 * 1024,
            expensive_ops_per_second: 4000,
            expensive_ops_reserved: 1000,
            unauthenticated_sessions_per_ike_sa: 4,
            auth_failures_per_user: 5,
            auth_failures_per_source: 20,
            auth_failure_window_secs: 600,
            auth_backoff_secs: 60,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key or a wrongly typed value.
    Parse(String),
    /// A value is out of range or contradicts another.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Parse(e) => write!(f, "invalid configuration: {e}"),
            Self::Invalid(e) => write!(f, "invalid configuration: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses TOML text (unknown keys are errors). Does not validate; see [`Self::validate`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Reads and parses `path`. When the file holds a secret (an inline `psk`), its
    /// permissions are kept for [`Resolved::new`] to check, as a `psk_file`'s are.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        let (bytes, access) = secret_file::read_with_access(path).map_err(io)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut config = Self::from_toml(text).map_err(|e| match e {
            ConfigError::Parse(m) => ConfigError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })?;
        if config.psk.is_some() {
            config.file_with_secret = Some((path.to_owned(), access));
        }
        Ok(config)
    }

    /// Applies command-line and environment overrides.
    pub fn apply(&mut self, o: Overrides) {
        if let Some(listen) = o.listen {
            self.listen = listen;
        }
        if let Some(pool) = o.pool {
            self.network.pool = pool;
            // A gateway address from the file belongs to the file's pool.
            if self
                .network
                .gateway_address
                .is_some_and(|g| !pool.is_host(g))
            {
                self.network.gateway_address = None;
            }
        }
        if let Some(dns) = o.dns {
            self.network.dns = dns;
        }
        if let Some(file) = o.users_file {
            self.users_file = Some(file);
        }
        self.secret_files = o.secret_files;
        if let Some(psk) = o.psk {
            self.psk = Some(psk);
            self.psk_file = None;
        } else if let Some(file) = o.psk_file {
            self.psk = None;
            self.psk_file = Some(file);
        }
    }

    /// The authentication protocols in the order PPP should ask for them.
    pub fn auth_methods(&self) -> Vec<AuthMethod> {
        let mut order: Vec<AuthMethod> = Vec::new();
        for m in &self.ppp.auth_order {
            if !order.contains(m) {
                order.push(*m);
            }
        }
        if self.ppp.pap && !order.contains(&AuthMethod::Pap) {
            order.push(AuthMethod::Pap);
        }
        order
    }

    /// Checks ranges and consistency; the error says which key and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listen.is_empty() {
            return bad("listen: at least one address is needed".into());
        }
        for (i, a) in self.listen.iter().enumerate() {
            if self.listen.iter().skip(i + 1).any(|b| b == a) {
                return bad(format!("listen: {a} is listed twice"));
            }
            if a.is_multicast() {
                return bad(format!("listen: {a} is a multicast address"));
            }
        }
        if self.ike_port == self.nat_t_port {
            return bad(format!(
                "ike_port and nat_t_port are both {}; they must differ",
                self.ike_port
            ));
        }
        if self.psk.as_ref().is_some_and(|p| p.expose().is_empty()) {
            return bad("psk: must not be empty".into());
        }
        if !self.ike.force_encapsulation {
            // Honest NAT-D: a client that is not behind a NAT keeps IKE on port 500 and
            // sends raw ESP (IP protocol 50), which only the raw ESP socket receives.
            if !self.ike.raw_esp {
                return bad(
                    "ike.force_encapsulation = false sends honest NAT-D, so clients \
                     not behind a NAT use raw ESP (IP protocol 50): set ike.raw_esp = true \
                     (needs CAP_NET_RAW), or keep force_encapsulation = true"
                        .into(),
                );
            }
        }
        let certs = &self.certificates;
        if certs.cert.len() != certs.key.len() {
            return bad(format!(
                "certificates: {} cert file(s) but {} key file(s); give one key per cert",
                certs.cert.len(),
                certs.key.len()
            ));
        }
        if !certs.cert.is_empty() && certs.ca.is_empty() {
            return bad(
                "certificates.cert needs certificates.ca (the CAs client certificates chain to)"
                    .into(),
            );
        }
        if self.ike.auth.is_empty() {
            return bad("ike.auth: name at least one of \"psk\", \"cert\"".into());
        }
        if self.ike.auth == [IkeAuth::Cert] && certs.cert.is_empty() {
            return bad("ike.auth = [\"cert\"] needs certificates.cert, .key and .ca".into());
        }
        AddressPool::new(self.network.pool, self.network.gateway_address, [])
            .map_err(|e| ConfigError::Invalid(format!("network.pool: {e}")))?;
        for d in &self.network.dns {
            if d.is_unspecified() || d.is_multicast() || d.is_broadcast() {
                return bad(format!("network.dns: {d} cannot be a DNS server"));
            }
        }
        let name = &self.network.tun_name;
        if name.is_empty()
            || name.len() > 15
            || name
                .chars()
                .any(|c| c == '/' || c.is_whitespace() || c.is_control())
        {
            return bad(format!(
                "network.tun_name: {name:?} is not a valid interface name (1-15 characters, no '/' or blanks)"
            ));
        }
        if !(576..=1500).contains(&self.ppp.mru) {
            return bad(format!("ppp.mru: {} is outside 576..=1500", self.ppp.mru));
        }
        if self.auth_methods().is_empty() {
            return bad("ppp.auth_order: empty and pap = false; no client could log in".into());
        }
        if self.ppp.auth_order.contains(&AuthMethod::Pap) && !self.ppp.pap {
            return bad("ppp.auth_order lists \"pap\" but ppp.pap = false".into());
        }
        if self.ppp.lcp_echo_interval_secs > 0 && self.ppp.lcp_echo_failures == 0 {
            return bad("ppp.lcp_echo_failures: must be at least 1 when echoes are on".into());
        }
        let l = &self.limits;
        for (key, v) in [
            ("half_open_ike_sas", l.half_open_ike_sas),
            (
                "half_open_ike_sas_per_source",
                l.half_open_ike_sas_per_source,
            ),
            ("sessions", l.sessions),
            ("sessions_per_user", l.sessions_per_user),
            ("tunnels_per_peer", l.tunnels_per_peer),
            ("ike_sas_per_source", l.ike_sas_per_source),
            (
                "new_ike_exchanges_per_source_per_second",
                l.new_ike_exchanges_per_source_per_second,
            ),
            ("first_messages", l.first_messages),
            ("expensive_ops_per_second", l.expensive_ops_per_second),
            (
                "unauthenticated_sessions_per_ike_sa",
                l.unauthenticated_sessions_per_ike_sa,
            ),
        ] {
            if v == 0 {
                return bad(format!("limits.{key}: must be at least 1"));
            }
        }
        for (key, v) in [
            ("half_open_timeout_secs", l.half_open_timeout_secs),
            ("auth_failure_window_secs", l.auth_failure_window_secs),
            ("auth_backoff_secs", l.auth_backoff_secs),
        ] {
            if v == 0 {
                return bad(format!("limits.{key}: must be at least 1"));
            }
        }
        if l.first_messages_bytes < 64 * 1024 {
            return bad("limits.first_messages_bytes: must be at least 65536".into());
        }
        if l.half_open_ike_sas_per_source > l.half_open_ike_sas {
            return bad(
                "limits.half_open_ike_sas_per_source is above limits.half_open_ike_sas".into(),
            );
        }
        if l.expensive_ops_reserved >= l.expensive_ops_per_second {
            return bad(
                "limits.expensive_ops_reserved must be below limits.expensive_ops_per_second \
                 (else no new client could ever authenticate)"
                    .into(),
            );
        }
        if self.status_socket.as_os_str().is_empty() {
            return bad("status_socket: must not be empty".into());
        }
        Ok(())
    }

    /// Reads the PSK from `psk` or `psk_file`; `None` when neither is set. The file is
    /// refused when others can read it, unless [`Self::secret_files`] allows it (then
    /// a line in `warnings`).
    pub fn read_psk(&self, warnings: &mut Vec<String>) -> Result<Option<Secret>, ConfigError> {
        if let Some(p) = &self.psk {
            return Ok(Some(p.clone()));
        }
        let Some(path) = &self.psk_file else {
            return Ok(None);
        };
        let (bytes, warning) =
            secret_file::read("psk_file", path, self.secret_files).map_err(|e| match e {
                secret_file::ReadError::Io { path, source } => ConfigError::Io { path, source },
                e @ secret_file::ReadError::Insecure(_) => ConfigError::Invalid(e.to_string()),
            })?;
        warnings.extend(warning);
        let text = std::str::from_utf8(&bytes).map_err(|e| ConfigError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "psk_file {}: the first line is empty",
                path.display()
            )));
        }
        Ok(Some(Secret::new(line)))
    }
}

/// Values from command-line flags and environment variables, already merged (a flag
/// wins over its variable). `None` leaves the config file's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--psk` / `L2TPGW_PSK`.
    pub psk: Option<Secret>,
    /// `--psk-file` / `L2TPGW_PSK_FILE`.
    pub psk_file: Option<PathBuf>,
    /// `--user` / `L2TPGW_USERS`.
    pub users: Vec<User>,
    /// `--users-file` / `L2TPGW_USERS_FILE`.
    pub users_file: Option<PathBuf>,
    /// `--pool` / `L2TPGW_POOL`.
    pub pool: Option<Ipv4Cidr>,
    /// `--dns` / `L2TPGW_DNS`.
    pub dns: Option<Vec<Ipv4Addr>>,
    /// `--listen` / `L2TPGW_LISTEN`.
    pub listen: Option<Vec<IpAddr>>,
    /// `L2TPGW_ALLOW_INSECURE_SECRET_FILES` (see [`crate::secret_file`]).
    pub secret_files: Policy,
}

/// Quick-start values as given on the command line (before environment fallbacks).
#[derive(Debug, Clone, Default)]
pub struct QuickStart {
    /// `--psk`.
    pub psk: Option<String>,
    /// `--psk-file`.
    pub psk_file: Option<PathBuf>,
    /// `--user`, repeatable.
    pub users: Vec<String>,
    /// `--users-file`.
    pub users_file: Option<PathBuf>,
    /// `--pool`.
    pub pool: Option<String>,
    /// `--dns`, repeatable.
    pub dns: Vec<String>,
    /// `--listen`, repeatable.
    pub listen: Vec<String>,
}

impl Overrides {
    /// Merges flags with environment variables read through `env` (tests pass a map;
    /// the binary passes `std::env::var`). Lists in variables are comma-separated.
    pub fn resolve(
        flags: QuickStart,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let pick_one =
            |flag: Option<String>, var: &str| flag.or_else(|| env(var).filter(|v| !v.is_empty()));
        let pick_list = |flag: Vec<String>, var: &str| -> Option<Vec<String>> {
            if !flag.is_empty() {
                return Some(flag);
            }
            let v = env(var)?;
            let items: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (!items.is_empty()).then_some(items)
        };
        let invalid = |m: String| ConfigError::Invalid(m);

        let psk = pick_one(flags.psk, "L2TPGW_PSK").map(Secret::new);
        let psk_file = flags.psk_file.or_else(|| {
            env("L2TPGW_PSK_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let users_file = flags.users_file.or_else(|| {
            env("L2TPGW_USERS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let users = pick_list(flags.users, "L2TPGW_USERS")
            .unwrap_or_default()
            .iter()
            .map(|u| {
                gateway_core::users::parse_user_flag(u).map_err(|e| invalid(format!("--user: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pool = pick_one(flags.pool, "L2TPGW_POOL")
            .map(|p| {
                p.parse::<Ipv4Cidr>()
                    .map_err(|e| invalid(format!("--pool: {e}")))
            })
            .transpose()?;
        let dns = pick_list(flags.dns, "L2TPGW_DNS")
            .map(|l| {
                l.iter()
                    .map(|a| {
                        a.parse::<Ipv4Addr>()
                            .map_err(|_| invalid(format!("--dns: {a:?} is not an IPv4 address")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let listen = pick_list(flags.listen, "L2TPGW_LISTEN")
            .map(|l| {
                l.iter()
                    .map(|a| {
                        a.trim_matches(|c| c == '[' || c == ']')
                            .parse::<IpAddr>()
                            .map_err(|_| invalid(format!("--listen: {a:?} is not an IP address")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let secret_files = Policy::from_env(env).map_err(invalid)?;
        Ok(Self {
            psk,
            psk_file,
            users,
            users_file,
            pool,
            dns,
            listen,
            secret_files,
        })
    }
}

/// What `serve` runs with once secrets are resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The validated configuration.
    pub config: Config,
    /// The PSK (configured or generated).
    pub psk: Secret,
    /// True when the PSK was generated (print it once).
    pub psk_generated: bool,
    /// The users (file, flags, or one generated).
    pub users: UserDb,
    /// Users from flags and the environment (and the generated one): kept when the
    /// users file is reloaded.
    pub pinned_users: Vec<User>,
    /// The generated user's name, when one was generated (print it once).
    pub generated_user: Option<String>,
    /// Warnings to log (secret files accepted by `L2TPGW_ALLOW_INSECURE_SECRET_FILES`,
    /// a metrics address reachable from other machines).
    pub warnings: Vec<String>,
    /// The certificates of `[certificates]`, loaded.
    pub certificates: Option<std::sync::Arc<ike::Certificates>>,
}

impl Resolved {
    /// The core's configuration: everything gateway-core needs, resolved from this one.
    pub fn core_config(&self) -> Result<CoreConfig, PoolError> {
        let r = self;
        let c = &r.config;
        let pool = AddressPool::new(
            c.network.pool,
            c.network.gateway_address,
            r.users.static_addresses(),
        )?;
        let auth_methods = c
            .auth_methods()
            .into_iter()
            .map(|m| match m {
                AuthMethod::MsChapV2 => ppp::AuthMethod::MsChapV2,
                AuthMethod::ChapMd5 => ppp::AuthMethod::ChapMd5,
                AuthMethod::Pap => ppp::AuthMethod::Pap,
            })
            .collect();
        let ppp = ppp::Config {
            mru: c.ppp.mru,
            auth_methods,
            echo_interval: (c.ppp.lcp_echo_interval_secs > 0)
                .then(|| Duration::from_secs(c.ppp.lcp_echo_interval_secs)),
            echo_failures: u8::try_from(c.ppp.lcp_echo_failures).unwrap_or(u8::MAX),
            ..ppp::Config::default()
        };
        let mut l2tp = l2tp::Config::default();
        // 0 switches HELLOs off.
        l2tp.hello_interval = (c.l2tp.hello_interval_secs > 0)
            .then(|| Duration::from_secs(c.l2tp.hello_interval_secs));
        let mut ike = ike::Config {
            legacy: c.ike.legacy,
            force_encapsulation: c.ike.force_encapsulation,
            windows_nat_compat: c.ike.windows_server_behind_nat,
            aggressive_mode: c.ike.aggressive_mode,
            dpd: c.ike.dpd_interval_secs > 0,
            // 0 switches DPD off (no announcement, no R-U-THERE).
            dpd_interval: (c.ike.dpd_interval_secs > 0)
                .then(|| Duration::from_secs(c.ike.dpd_interval_secs)),
            nat_t_port: c.nat_t_port,
            limits: ike::Limits {
                half_open: usize::try_from(c.limits.half_open_ike_sas).unwrap_or(usize::MAX),
                half_open_per_source: usize::try_from(c.limits.half_open_ike_sas_per_source)
                    .unwrap_or(usize::MAX),
                sas_per_source: usize::try_from(c.limits.ike_sas_per_source).unwrap_or(usize::MAX),
                new_per_source_per_second: c.limits.new_ike_exchanges_per_source_per_second,
                half_open_timeout: Duration::from_secs(c.limits.half_open_timeout_secs),
                first_messages: usize::try_from(c.limits.first_messages).unwrap_or(usize::MAX),
                first_messages_bytes: usize::try_from(c.limits.first_messages_bytes)
                    .unwrap_or(usize::MAX),
                expensive_ops_per_second: c.limits.expensive_ops_per_second,
                expensive_ops_reserved: c.limits.expensive_ops_reserved,
            },
            ..ike::Config::default()
        };
        r.apply_ike_auth(&mut ike);
        l2tp.max_tunnels_per_peer =
            usize::try_from(c.limits.tunnels_per_peer).unwrap_or(usize::MAX);
        l2tp.max_sessions = usize::try_from(c.limits.sessions).unwrap_or(usize::MAX);
        Ok(CoreConfig {
            pool,
            dns: [
                c.network.dns.first().copied(),
                c.network.dns.get(1).copied(),
            ],
            client_to_client: c.network.client_to_client,
            max_sessions: usize::try_from(c.limits.sessions).unwrap_or(usize::MAX),
            sessions_per_user: usize::try_from(c.limits.sessions_per_user).unwrap_or(usize::MAX),
            idle_timeout: (c.ppp.idle_timeout_secs > 0)
                .then(|| Duration::from_secs(c.ppp.idle_timeout_secs)),
            ike_port: c.ike_port,
            nat_t_port: c.nat_t_port,
            ppp: Arc::new(ppp),
            l2tp,
            users: r.users.clone(),
            pinned_users: r.pinned_users.clone(),
            ike,
            psk: r.psk.clone(),
            unauthenticated_sessions_per_ike_sa: usize::try_from(
                c.limits.unauthenticated_sessions_per_ike_sa,
            )
            .unwrap_or(usize::MAX),
            auth_limits: gateway_core::throttle::AuthLimits {
                failures_per_user: c.limits.auth_failures_per_user,
                failures_per_source: c.limits.auth_failures_per_source,
                window: Duration::from_secs(c.limits.auth_failure_window_secs),
                backoff: Duration::from_secs(c.limits.auth_backoff_secs),
                ..gateway_core::throttle::AuthLimits::default()
            },
        })
    }

    /// Sets what IKE needs for authentication: the methods clients may use and the
    /// certificates (the caller adds the wall clock).
    pub fn apply_ike_auth(&self, ike: &mut ike::Config) {
        ike.auth = ike::AuthPolicy {
            psk: self.config.ike.auth.contains(&IkeAuth::Psk),
            certificates: self.config.ike.auth.contains(&IkeAuth::Cert),
        };
        ike.certificates.clone_from(&self.certificates);
    }

    /// Validates `config`, reads the PSK and users, generates what is missing.
    pub fn new(
        config: Config,
        flag_users: Vec<User>,
        rng: &mut dyn wire::random::SecureRandom,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut warnings = Vec::new();
        if let Some((path, access)) = &config.file_with_secret {
            warnings.extend(
                secret_file::check(
                    "config file (it holds `psk`)",
                    path,
                    *access,
                    config.secret_files,
                )
                .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            );
        }
        let (psk, psk_generated) = match config.read_psk(&mut warnings)? {
            Some(p) => (p, false),
            None => (Secret::generate(rng, 24), true),
        };
        let mut users = match &config.users_file {
            Some(path) => {
                let (users, w) = crate::users_file::load(path, config.secret_files)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                warnings.extend(w);
                users
            }
            None => UserDb::new(),
        };
        if let Some(addr) = config.metrics_listen
            && !addr.ip().is_loopback()
        {
            warnings.push(format!(
                "metrics_listen {addr} is not a loopback address: /metrics has no access \
                 control, so anyone who reaches it reads the gateway's counters{}; prefer \
                 127.0.0.1 behind a proxy, or a firewall",
                if config.metrics.detailed {
                    ", user names and inner addresses (metrics.detailed = true)"
                } else {
                    ""
                }
            ));
        }
        let mut pinned_users = flag_users;
        let mut generated_user = None;
        if users.is_empty() && pinned_users.is_empty() {
            let name = "vpn".to_owned();
            pinned_users.push(User {
                name: name.clone(),
                credential: gateway_core::users::Credential::Password(Secret::generate(rng, 16)),
                static_ip: None,
            });
            generated_user = Some(name);
        }
        for u in &pinned_users {
            users.upsert(u.clone());
        }
        AddressPool::new(
            config.network.pool,
            config.network.gateway_address,
            users.static_addresses(),
        )
        .map_err(|e| ConfigError::Invalid(format!("static addresses in the users: {e}")))?;
        let certificates = config
            .certificates
            .load(config.secret_files, &mut warnings)?
            .map(std::sync::Arc::new);
        Ok(Self {
            certificates,
            config,
            psk,
            psk_generated,
            users,
            pinned_users,
            generated_user,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const EXAMPLE: &str = include_str!("../../gateway.example.toml");

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn embedded_default_is_what_the_brief_says() {
        let c = Config::default();
        assert_eq!(
            c.listen,
            ["::".parse::<IpAddr>().unwrap(), "0.0.0.0".parse().unwrap()]
        );
        assert_eq!((c.ike_port, c.nat_t_port), (500, 4500));
        assert_eq!(c.network.pool.to_string(), "10.77.0.0/24");
        assert_eq!(c.network.tun_name, "l2tpgw0");
        assert!(c.network.dns.is_empty());
        assert!(!c.ike.legacy && !c.ike.aggressive_mode && !c.ike.raw_esp);
        assert!(c.ike.force_encapsulation && c.ike.windows_server_behind_nat);
        assert!(!c.network.masquerade && !c.network.client_to_client);
        assert!(!c.ppp.pap);
        assert_eq!(
            c.auth_methods(),
            [AuthMethod::MsChapV2, AuthMethod::ChapMd5]
        );
        assert_eq!(c.ppp.mru, 1400);
        assert_eq!(c.status_socket, Path::new("/run/l2tpgw.sock"));
        assert_eq!(c.metrics_listen, None);
        c.validate().unwrap();
        let pool = AddressPool::new(c.network.pool, c.network.gateway_address, []).unwrap();
        assert_eq!(pool.gateway(), Ipv4Addr::new(10, 77, 0, 1));
    }

    #[test]
    fn example_file_names_exactly_what_legacy_enables() {
        // The comment block right above `legacy = ...`.
        let lines: Vec<&str> = EXAMPLE.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("legacy ="))
            .unwrap();
        let comment: String = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        for alg in ["3DES", "MD5", "MODP 1024/1536"] {
            assert!(comment.contains(alg), "{alg} missing from {comment:?}");
        }
        // ike refuses single DES and MODP 768 even with `legacy`.
        assert!(
            !comment.contains("DES,") && !comment.contains("768"),
            "{comment:?}"
        );
        use ike::crypto::dh::DhGroup;
        let legacy_groups: Vec<DhGroup> =
            DhGroup::ALL.into_iter().filter(|g| g.is_legacy()).collect();
        assert_eq!(legacy_groups, [DhGroup::Modp1024, DhGroup::Modp1536]);
    }

    #[test]
    fn certificates_load_and_refuse_with_clear_errors() {
        let fx = |n: &str| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../ike/tests/fixtures"
            ))
            .join(n)
        };
        let good = CertificatesConfig {
            ca: vec![fx("ca.pem")],
            cert: vec![fx("server-rsa.pem"), fx("server-p256.pem")],
            key: vec![fx("server-rsa.key"), fx("server-p256.key")],
            crl: vec![fx("inter.crl.pem")],
        };
        let c = Config {
            certificates: good.clone(),
            ..Config::default()
        };
        c.validate().unwrap();
        // The fixtures' keys are as git checked them out (0644 with the usual umask).
        let mut warnings = Vec::new();
        let certs = c
            .certificates
            .load(Policy::Warn, &mut warnings)
            .unwrap()
            .unwrap();
        assert_eq!(certs.ca_count(), 1);
        let kinds: Vec<ike::KeyKind> = certs.identities().iter().map(|i| i.kind()).collect();
        assert_eq!(kinds, [ike::KeyKind::Rsa, ike::KeyKind::EcdsaP256]);
        assert!(
            CertificatesConfig::default()
                .load(Policy::Refuse, &mut warnings)
                .unwrap()
                .is_none()
        );

        // A key others can read is refused, naming the file and the fix; 0600 loads.
        {
            use std::os::unix::fs::PermissionsExt as _;
            let dir = tempfile::tempdir().unwrap();
            let key = dir.path().join("server-rsa.key");
            std::fs::copy(fx("server-rsa.key"), &key).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let one = CertificatesConfig {
                ca: vec![fx("ca.pem")],
                cert: vec![fx("server-rsa.pem")],
                key: vec![key.clone()],
                crl: Vec::new(),
            };
            let e = one
                .load(Policy::Refuse, &mut Vec::new())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("certificates.key")
                    && e.contains(&format!("chmod 600 {}", key.display())),
                "{e}"
            );
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            let mut w = Vec::new();
            assert!(one.load(Policy::Refuse, &mut w).unwrap().is_some());
            assert!(w.is_empty(), "{w:?}");
        }

        // One path or a list.
        let t = Config::from_toml(
            "[certificates]\nca = \"/a.pem\"\ncert = [\"/b.pem\"]\nkey = \"/c.pem\"\n",
        )
        .unwrap();
        assert_eq!(t.certificates.ca, [PathBuf::from("/a.pem")]);
        assert_eq!(t.certificates.key, [PathBuf::from("/c.pem")]);
        assert_eq!(t.ike.auth, [IkeAuth::Psk, IkeAuth::Cert]);

        let err = |cc: CertificatesConfig| {
            cc.load(Policy::Warn, &mut Vec::new())
                .unwrap_err()
                .to_string()
        };
        let e = err(CertificatesConfig {
            key: vec![fx("server-p256.key"), fx("server-rsa.key")],
            ..good.clone()
        });
        assert!(
            e.contains("server-rsa.pem") && e.contains("does not belong"),
            "{e}"
        );
        let e = err(CertificatesConfig {
            ca: vec![fx("missing.pem")],
            ..good.clone()
        });
        assert!(
            e.contains("certificates.ca") && e.contains("missing.pem"),
            "{e}"
        );
        let e = err(CertificatesConfig {
            ca: vec![fx("client-rsa.pem")],
            ..good.clone()
        });
        assert!(e.contains("not a CA"), "{e}");

        let invalid = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(invalid(&|c| c.certificates.cert = vec![fx("x")]).contains("key file"));
        assert!(
            invalid(&|c| {
                c.certificates.cert = vec![fx("x")];
                c.certificates.key = vec![fx("y")];
            })
            .contains("needs certificates.ca")
        );
        assert!(invalid(&|c| c.ike.auth.clear()).contains("ike.auth"));
        assert!(invalid(&|c| c.ike.auth = vec![IkeAuth::Cert]).contains("needs certificates"));
    }

    #[test]
    fn example_file_documents_exactly_the_defaults() {
        assert_eq!(Config::from_toml(EXAMPLE).unwrap(), Config::default());
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
        // Every key in the example is uncommented, so a key added to Config without a
        // line in the example shows up here as a missing name.
        for key in [
            "listen",
            "ike_port",
            "nat_t_port",
            "users_file",
            "status_socket",
            "legacy",
            "aggressive_mode",
            "force_encapsulation",
            "windows_server_behind_nat",
            "raw_esp",
            "dpd_interval_secs",
            "pool",
            "dns",
            "tun_name",
            "masquerade",
            "client_to_client",
            "auth_order",
            "pap",
            "mru",
            "lcp_echo_interval_secs",
            "lcp_echo_failures",
            "idle_timeout_secs",
            "hello_interval_secs",
            "half_open_ike_sas",
            "half_open_ike_sas_per_source",
            "sessions",
            "sessions_per_user",
            "tunnels_per_peer",
            "ike_sas_per_source",
            "new_ike_exchanges_per_source_per_second",
            "half_open_timeout_secs",
            "first_messages",
            "first_messages_bytes",
            "expensive_ops_per_second",
            "expensive_ops_reserved",
            "unauthenticated_sessions_per_ike_sa",
            "auth_failures_per_user",
            "auth_failures_per_source",
            "auth_failure_window_secs",
            "auth_backoff_secs",
            "psk",
            "psk_file",
            "metrics_listen",
            "gateway_address",
            "auth",
            "ca",
            "cert",
            "key",
            "crl",
            "detailed",
        ] {
            assert!(
                EXAMPLE.contains(&format!("{key} =")),
                "gateway.example.toml lacks {key}"
            );
        }
    }

    #[test]
    fn parses_a_full_file() {
        let c = Config::from_toml(
            r#"
            listen = ["192.0.2.1"]
            psk = "sekrit"
            metrics_listen = "127.0.0.1:9477"
            [ike]
            legacy = true
            [network]
            pool = "10.9.0.0/16"
            gateway_address = "10.9.255.254"
            dns = ["9.9.9.9", "1.1.1.1"]
            masquerade = true
            [ppp]
            auth_order = ["chap-md5"]
            pap = true
            mru = 1280
            [limits]
            sessions_per_user = 1
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.listen, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.psk.as_ref().unwrap().expose(), "sekrit");
        assert_eq!(
            format!("{c:?}").matches("sekrit").count(),
            0,
            "Debug must not print the PSK"
        );
        assert!(c.ike.legacy);
        assert_eq!(c.network.dns.len(), 2);
        assert_eq!(c.auth_methods(), [AuthMethod::ChapMd5, AuthMethod::Pap]);
        assert_eq!(c.limits.sessions_per_user, 1);
        assert_eq!(
            c.limits.sessions, 1024,
            "untouched keys keep their defaults"
        );
    }

    #[test]
    fn unknown_keys_and_bad_types_are_refused() {
        for (text, needle) in [
            ("lisen = []", "lisen"),
            ("[ppp]\nmtu = 1400", "mtu"),
            ("[network]\npool = \"10.0.0.1/24\"", "host bits"),
            ("[network]\npool = \"banana\"", "CIDR"),
            ("ike_port = \"500\"", "ike_port"),
            ("[ppp]\nauth_order = [\"eap\"]", "eap"),
        ] {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn validation_names_the_key() {
        type Mutation = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.listen.clear()), "listen"),
            (Box::new(|c| c.nat_t_port = 500), "must differ"),
            (
                Box::new(|c| c.network.pool = "10.0.0.0/30".parse().unwrap()),
                "too small",
            ),
            (
                Box::new(|c| c.network.gateway_address = Some(Ipv4Addr::new(10, 0, 0, 1))),
                "not a host",
            ),
            (
                Box::new(|c| c.network.dns = vec![Ipv4Addr::UNSPECIFIED]),
                "network.dns",
            ),
            (Box::new(|c| c.network.tun_name = "a/b".into()), "tun_name"),
            (
                Box::new(|c| c.network.tun_name = "sixteen-chars-xx".into()),
                "tun_name",
            ),
            (Box::new(|c| c.ppp.mru = 100), "ppp.mru"),
            (
                Box::new(|c| c.ppp.auth_order.clear()),
                "no client could log in",
            ),
            (
                Box::new(|c| c.ppp.auth_order = vec![AuthMethod::Pap]),
                "pap = false",
            ),
            (Box::new(|c| c.limits.sessions = 0), "limits.sessions"),
            (Box::new(|c| c.limits.half_open_ike_sas = 4), "per_source"),
            (
                Box::new(|c| c.limits.expensive_ops_reserved = 4000),
                "expensive_ops_reserved",
            ),
            (
                Box::new(|c| c.limits.unauthenticated_sessions_per_ike_sa = 0),
                "unauthenticated_sessions_per_ike_sa",
            ),
            (
                Box::new(|c| c.limits.first_messages_bytes = 1000),
                "first_messages_bytes",
            ),
            (
                Box::new(|c| c.limits.auth_backoff_secs = 0),
                "auth_backoff_secs",
            ),
            (Box::new(|c| c.psk = Some(Secret::new(""))), "psk"),
            (
                Box::new(|c| c.ike.force_encapsulation = false),
                "set ike.raw_esp = true",
            ),
        ];
        for (mutate, needle) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "expected {needle:?} in {err}");
        }
    }

    #[test]
    fn flags_beat_environment_beats_file() {
        let mut file = Config::from_toml(
            "psk = \"from-file\"\n[network]\npool = \"10.1.0.0/24\"\ndns = [\"10.1.0.53\"]",
        )
        .unwrap();
        let env = env_of(&[
            ("L2TPGW_PSK", "from-env"),
            ("L2TPGW_POOL", "10.2.0.0/24"),
            ("L2TPGW_USERS", "a:1, b:2"),
            ("L2TPGW_DNS", "9.9.9.9,1.1.1.1"),
            ("L2TPGW_LISTEN", "[::1],127.0.0.1"),
        ]);
        let flags = QuickStart {
            pool: Some("10.3.0.0/24".into()),
            users: vec!["c:3".into()],
            ..QuickStart::default()
        };
        let o = Overrides::resolve(flags, &env).unwrap();
        assert_eq!(o.users.len(), 1, "--user replaces L2TPGW_USERS");
        assert_eq!(o.users[0].name, "c");
        file.apply(o);
        assert_eq!(file.psk.as_ref().unwrap().expose(), "from-env");
        assert_eq!(file.network.pool.to_string(), "10.3.0.0/24");
        assert_eq!(
            file.network.dns,
            [Ipv4Addr::new(9, 9, 9, 9), Ipv4Addr::new(1, 1, 1, 1)]
        );
        assert_eq!(
            file.listen,
            [
                "::1".parse::<IpAddr>().unwrap(),
                "127.0.0.1".parse().unwrap()
            ]
        );

        // Nothing given: the file's values stay.
        let mut file2 = Config::from_toml("psk = \"from-file\"").unwrap();
        file2.apply(Overrides::resolve(QuickStart::default(), &env_of(&[])).unwrap());
        assert_eq!(file2.psk.as_ref().unwrap().expose(), "from-file");
        assert_eq!(file2.network.pool.to_string(), "10.77.0.0/24");

        // Env users, comma-separated.
        let o = Overrides::resolve(
            QuickStart::default(),
            &env_of(&[("L2TPGW_USERS", "a:1,b:2")]),
        )
        .unwrap();
        assert_eq!(
            o.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );

        // A PSK file from the environment replaces the file's inline PSK.
        let mut file3 = Config::from_toml("psk = \"from-file\"").unwrap();
        file3.apply(
            Overrides::resolve(QuickStart::default(), &env_of(&[("L2TPGW_PSK_FILE", "/x")]))
                .unwrap(),
        );
        assert_eq!(
            (file3.psk, file3.psk_file),
            (None, Some(PathBuf::from("/x")))
        );
    }

    #[test]
    fn bad_override_values_are_errors() {
        for (var, val, needle) in [
            ("L2TPGW_POOL", "10.0.0.0", "--pool"),
            ("L2TPGW_DNS", "dns.example", "--dns"),
            ("L2TPGW_LISTEN", "any", "--listen"),
            ("L2TPGW_USERS", "nopassword", "--user"),
        ] {
            let err = Overrides::resolve(QuickStart::default(), &env_of(&[(var, val)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{var}={val}: {err}");
        }
    }

    #[test]
    fn secrets_from_files_named_by_the_environment() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let psk_path = dir.path().join("psk");
        let users_path = dir.path().join("users");
        std::fs::write(&psk_path, "from-secret-file\n").unwrap();
        std::fs::write(&users_path, "bob s3cret\n").unwrap();
        std::fs::set_permissions(&psk_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&users_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (psk_var, users_var) = (
            psk_path.to_str().unwrap().to_owned(),
            users_path.to_str().unwrap().to_owned(),
        );
        let env = move |k: &str| match k {
            "L2TPGW_PSK_FILE" => Some(psk_var.clone()),
            "L2TPGW_USERS_FILE" => Some(users_var.clone()),
            _ => None,
        };
        let mut c = Config::from_toml("users_file = \"/from/config\"").unwrap();
        c.apply(Overrides::resolve(QuickStart::default(), &env).unwrap());
        assert_eq!(c.users_file.as_deref(), Some(users_path.as_path()));
        let mut rng = wire::random::DeterministicRandom::new(2);
        let r = Resolved::new(c, vec![], &mut rng).unwrap();
        assert!(!r.psk_generated);
        assert_eq!(r.psk.expose(), "from-secret-file");
        assert_eq!(r.generated_user, None, "users came from the file");
        let bob = r.users.get("bob").unwrap();
        assert_eq!(bob.password().unwrap().expose(), "s3cret");

        // The flag beats the variable; an empty variable is unset.
        let flags = QuickStart {
            users_file: Some("/flag".into()),
            ..QuickStart::default()
        };
        assert_eq!(
            Overrides::resolve(flags, &env).unwrap().users_file,
            Some(PathBuf::from("/flag"))
        );
        let o = Overrides::resolve(QuickStart::default(), &env_of(&[("L2TPGW_USERS_FILE", "")]))
            .unwrap();
        assert_eq!(o.users_file, None);
    }

    #[test]
    fn resolve_generates_psk_and_user_only_when_missing() {
        let mut rng = wire::random::DeterministicRandom::new(1);
        let r = Resolved::new(Config::default(), vec![], &mut rng).unwrap();
        assert!(r.psk_generated);
        assert_eq!(r.generated_user.as_deref(), Some("vpn"));
        assert_eq!(r.users.len(), 1);
        assert!(r.psk.expose().len() >= 20);

        let c = Config {
            psk: Some(Secret::new("given")),
            ..Config::default()
        };
        let u = gateway_core::users::parse_user_flag("alice:pw").unwrap();
        let r = Resolved::new(c, vec![u], &mut rng).unwrap();
        assert!(!r.psk_generated);
        assert_eq!(r.psk.expose(), "given");
        assert_eq!(r.generated_user, None);
        assert!(r.users.get("alice").is_some());
    }

    #[test]
    fn psk_file_and_users_file_are_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let psk = dir.path().join("psk");
        std::fs::write(&psk, "  file-psk  \nignored\n").unwrap();
        std::fs::set_permissions(&psk, std::fs::Permissions::from_mode(0o600)).unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, "bob pw 10.77.0.1\n").unwrap();
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = Config {
            psk_file: Some(psk),
            ..Config::default()
        };
        let mut warnings = Vec::new();
        assert_eq!(
            c.read_psk(&mut warnings).unwrap().unwrap().expose(),
            "file-psk"
        );
        assert!(warnings.is_empty());
        c.users_file = Some(users);
        let mut rng = wire::random::DeterministicRandom::new(1);
        let err = Resolved::new(c, vec![], &mut rng).unwrap_err().to_string();
        assert!(
            err.contains("10.77.0.1"),
            "a static address equal to the gateway's: {err}"
        );
    }

    #[test]
    fn raw_esp_without_forced_encapsulation_is_valid() {
        let mut c = Config::default();
        c.ike.force_encapsulation = false;
        c.ike.raw_esp = true;
        c.validate().unwrap();
        // raw_esp alone (NAT-D still faked) is allowed: the socket just stays idle.
        let mut c = Config::default();
        c.ike.raw_esp = true;
        c.validate().unwrap();
    }

    #[test]
    fn hello_interval_zero_switches_l2tp_hellos_off() {
        let cc = |secs: u64| {
            let mut config = Config::default();
            config.l2tp.hello_interval_secs = secs;
            let mut rng = wire::random::DeterministicRandom::new(1);
            let resolved = Resolved::new(config, Vec::new(), &mut rng).unwrap();
            resolved.core_config().unwrap()
        };
        assert_eq!(cc(0).l2tp.hello_interval, None);
        assert_eq!(cc(45).l2tp.hello_interval, Some(Duration::from_secs(45)));
    }

    #[test]
    fn dpd_interval_and_nat_t_port_reach_ike() {
        let cc = |mutate: &dyn Fn(&mut Config)| {
            let mut config = Config::default();
            mutate(&mut config);
            let mut rng = wire::random::DeterministicRandom::new(1);
            let resolved = Resolved::new(config, Vec::new(), &mut rng).unwrap();
            resolved.core_config().unwrap()
        };
        let d = cc(&|_| {});
        assert_eq!(d.ike.dpd_interval, Some(Duration::from_secs(30)));
        assert!(d.ike.dpd);
        assert_eq!(d.ike.nat_t_port, 4500);
        let off = cc(&|c| c.ike.dpd_interval_secs = 0);
        assert_eq!(off.ike.dpd_interval, None);
        assert!(!off.ike.dpd);
        let port = cc(&|c| c.nat_t_port = 14_500);
        assert_eq!((port.nat_t_port, port.ike.nat_t_port), (14_500, 14_500));
    }

    #[test]
    fn limits_reach_ike_and_the_core() {
        let mut config = Config::from_toml(
            "[limits]\nike_sas_per_source = 7\nnew_ike_exchanges_per_source_per_second = 3\n\
             half_open_timeout_secs = 9\nfirst_messages = 100\nfirst_messages_bytes = 70000\n\
             expensive_ops_per_second = 500\nexpensive_ops_reserved = 50\n\
             unauthenticated_sessions_per_ike_sa = 2\nauth_failures_per_user = 3\n\
             auth_failures_per_source = 0\nauth_failure_window_secs = 30\nauth_backoff_secs = 5\n",
        )
        .unwrap();
        config.psk = Some(Secret::new("k"));
        let mut rng = wire::random::DeterministicRandom::new(1);
        let cc = Resolved::new(config, Vec::new(), &mut rng)
            .unwrap()
            .core_config()
            .unwrap();
        let l = &cc.ike.limits;
        assert_eq!(
            (
                l.sas_per_source,
                l.new_per_source_per_second,
                l.half_open_timeout
            ),
            (7, 3, Duration::from_secs(9))
        );
        assert_eq!((l.first_messages, l.first_messages_bytes), (100, 70_000));
        assert_eq!(
            (l.expensive_ops_per_second, l.expensive_ops_reserved),
            (500, 50)
        );
        assert_eq!(cc.unauthenticated_sessions_per_ike_sa, 2);
        let a = &cc.auth_limits;
        assert_eq!((a.failures_per_user, a.failures_per_source), (3, 0));
        assert_eq!(
            (a.window, a.backoff),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
    }

    /// `CoreConfig::new` documents the gateway's defaults: resolving an empty
    /// configuration gives exactly it (given the same pool, PSK and users).
    #[test]
    fn default_config_resolves_to_core_config_new() {
        let mut rng = wire::random::DeterministicRandom::new(1);
        let resolved = Resolved::new(Config::default(), Vec::new(), &mut rng).unwrap();
        let from_file = resolved.core_config().unwrap();
        let new = CoreConfig {
            pinned_users: from_file.pinned_users.clone(),
            ..CoreConfig::new(
                from_file.pool.clone(),
                from_file.psk.clone(),
                from_file.users.clone(),
            )
        };
        assert_eq!(format!("{from_file:?}"), format!("{new:?}"));
    }

    /// psk_file, the users file and a config file with an inline `psk` are refused when
    /// others can read them, naming the file and `chmod 600`; a config file without a
    /// secret is not; `L2TPGW_ALLOW_INSECURE_SECRET_FILES=1` turns refusals into warnings.
    #[test]
    fn secret_files_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        let psk = dir.path().join("psk");
        std::fs::write(&psk, "file-psk\n").unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, "bob pw\n").unwrap();
        let inline = dir.path().join("inline.toml");
        std::fs::write(&inline, "psk = \"inline-psk\"\n").unwrap();
        let plain = dir.path().join("plain.toml");
        std::fs::write(&plain, "listen = [\"127.0.0.1\"]\n").unwrap();
        for p in [&psk, &users, &inline, &plain] {
            mode(p, 0o644);
        }
        let resolve = |c: Config| {
            let mut rng = wire::random::DeterministicRandom::new(3);
            Resolved::new(c, Vec::new(), &mut rng)
        };
        let refused = |c: Config, path: &Path, what: &str| {
            let e = resolve(c).unwrap_err().to_string();
            assert!(
                e.contains(what) && e.contains(&format!("chmod 600 {}", path.display())),
                "{what}: {e}"
            );
        };
        refused(
            Config {
                psk_file: Some(psk.clone()),
                ..Config::default()
            },
            &psk,
            "psk_file",
        );
        refused(
            Config {
                users_file: Some(users.clone()),
                ..Config::default()
            },
            &users,
            "users file",
        );
        refused(Config::load(&inline).unwrap(), &inline, "config file");
        // The inline PSK overridden by the environment: the file still holds it.
        let mut c = Config::load(&inline).unwrap();
        c.apply(
            Overrides::resolve(QuickStart::default(), &env_of(&[("L2TPGW_PSK", "env")])).unwrap(),
        );
        refused(c, &inline, "config file");
        // No secret in the file: its mode does not matter.
        let r = resolve(Config::load(&plain).unwrap()).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);

        // The escape hatch, from the environment: everything loads, one warning each.
        let env = env_of(&[("L2TPGW_ALLOW_INSECURE_SECRET_FILES", "1")]);
        let mut c = Config::load(&inline).unwrap();
        c.psk = None;
        c.psk_file = Some(psk.clone());
        c.users_file = Some(users.clone());
        c.file_with_secret = Config::load(&inline).unwrap().file_with_secret;
        c.apply(Overrides::resolve(QuickStart::default(), &env).unwrap());
        let r = resolve(c).unwrap();
        assert_eq!(r.psk.expose(), "file-psk");
        assert!(r.users.get("bob").is_some());
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(
            r.warnings
                .iter()
                .all(|w| w.contains("L2TPGW_ALLOW_INSECURE_SECRET_FILES=1")),
            "{:?}",
            r.warnings
        );
        let bad = Overrides::resolve(
            QuickStart::default(),
            &env_of(&[("L2TPGW_ALLOW_INSECURE_SECRET_FILES", "yes")]),
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("L2TPGW_ALLOW_INSECURE_SECRET_FILES"), "{bad}");

        // chmod 600 is the fix.
        for p in [&psk, &users, &inline] {
            mode(p, 0o600);
        }
        let mut c = Config::load(&inline).unwrap();
        c.users_file = Some(users.clone());
        let r = resolve(c).unwrap();
        assert_eq!(r.psk.expose(), "inline-psk");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn metrics_listen_port_alone_means_localhost() {
        let at = |toml: &str| Config::from_toml(toml).map(|c| c.metrics_listen);
        let local = |p: u16| Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p));
        assert_eq!(at("metrics_listen = 9477").unwrap(), local(9477));
        assert_eq!(at("metrics_listen = \"9477\"").unwrap(), local(9477));
        assert_eq!(at("metrics_listen = \":9477\"").unwrap(), local(9477));
        assert_eq!(
            at("metrics_listen = \"localhost:9477\"").unwrap(),
            local(9477)
        );
        assert_eq!(
            at("metrics_listen = \"[::1]:9477\"").unwrap(),
            Some("[::1]:9477".parse().unwrap())
        );
        assert_eq!(
            at("metrics_listen = \"0.0.0.0:9477\"").unwrap(),
            Some("0.0.0.0:9477".parse().unwrap())
        );
        assert_eq!(at("").unwrap(), None);
        for bad in [
            "metrics_listen = 70000",
            "metrics_listen = -1",
            "metrics_listen = \"metrics.example:9477\"",
            "metrics_listen = \"\"",
            "metrics_listen = true",
        ] {
            let e = at(bad).unwrap_err().to_string();
            assert!(e.contains("metrics_listen"), "{bad}: {e}");
        }
        let c = Config::from_toml("[metrics]\ndetailed = true").unwrap();
        assert!(c.metrics.detailed);
        assert!(!Config::default().metrics.detailed);
    }

    #[test]
    fn a_metrics_address_others_can_reach_is_warned_about() {
        let warnings = |toml: &str| {
            let mut rng = wire::random::DeterministicRandom::new(4);
            Resolved::new(Config::from_toml(toml).unwrap(), Vec::new(), &mut rng)
                .unwrap()
                .warnings
        };
        assert!(warnings("metrics_listen = 9477").is_empty());
        assert!(warnings("metrics_listen = \"[::1]:9477\"").is_empty());
        let w = warnings("metrics_listen = \"0.0.0.0:9477\"");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("0.0.0.0:9477") && w[0].contains("not a loopback"),
            "{w:?}"
        );
        assert!(!w[0].contains("user names"), "{w:?}");
        let w = warnings("metrics_listen = \"192.0.2.1:9477\"\n[metrics]\ndetailed = true");
        assert!(w[0].contains("user names"), "{w:?}");
    }
}
