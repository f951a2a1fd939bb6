//! The `l2tpgw` command line (clap derive). Environment fallbacks for the quick-start
//! flags are resolved by [`crate::config::Overrides::resolve`], and those for
//! `--config` and `--log-format` by [`ServeArgs::config_path`] and [`Cli::log_format`],
//! so tests can pass an environment of their own (a flag always wins over its variable;
//! an empty variable counts as unset).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// l2tpgw: a userspace L2TP/IPsec VPN gateway (and client).
#[derive(Debug, Parser)]
#[command(name = "l2tpgw", version, about)]
pub struct Cli {
    /// Log format [env: L2TPGW_LOG_FORMAT; default: plain]. The level comes
    /// from RUST_LOG (default `info`); logs go to stderr (`serve`: to stdout with
    /// L2TPGW_LOG_OUTPUT=stdout, as in the container image).
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--log-format`, else `L2TPGW_LOG_FORMAT` (`plain` or `json`, any case), else plain.
    pub fn log_format(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<LogFormat, String> {
        if let Some(f) = self.log_format {
            return Ok(f);
        }
        match env("L2TPGW_LOG_FORMAT").filter(|v| !v.trim().is_empty()) {
            None => Ok(LogFormat::Plain),
            Some(v) => LogFormat::from_str(v.trim(), true)
                .map_err(|_| format!("L2TPGW_LOG_FORMAT: {v:?} is neither \"plain\" nor \"json\"")),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Connect to an L2TP/IPsec server as a client.
    Connect(ConnectArgs),
    /// Show the sessions and counters of the running gateway.
    Status(StatusArgs),
    /// Make certificates: a CA, server and client certificates (PEM, PKCS#12).
    Pki(PkiArgs),
}

/// `l2tpgw pki`.
#[derive(Debug, clap::Args)]
pub struct PkiArgs {
    /// What to make.
    #[command(subcommand)]
    pub command: PkiCommand,
    /// Directory of the CA and the files written.
    #[arg(long, value_name = "DIR", default_value = "pki", global = true)]
    pub dir: PathBuf,
    /// Key type of the new key.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub key_type: crate::pki::KeyType,
    /// Validity in days [default: 3650 for the CA, 825 otherwise].
    #[arg(long, global = true)]
    pub days: Option<u32>,
    /// Replace existing files.
    #[arg(long, global = true)]
    pub force: bool,
}

/// The `pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// A CA (ca.pem, ca.key.pem): make it first.
    Ca {
        /// The CA's common name.
        #[arg(long, default_value = "l2tpgw CA")]
        name: String,
    },
    /// A server certificate (NAME.pem, NAME.key.pem) for the gateway's DNS name or
    /// address, with the serverAuth and IKE intermediate EKUs.
    Server {
        /// The name clients connect to (a DNS name or an IP address).
        #[arg(long)]
        name: String,
    },
    /// A client certificate (NAME.pem, NAME.key.pem, NAME.p12).
    Client {
        /// The client's name (common name and subjectAltName).
        #[arg(long)]
        name: String,
        /// Password of the PKCS#12 file (generated and printed when not given).
        #[arg(long)]
        password: Option<String>,
        /// Write the PKCS#12 file with 3DES and an HMAC-SHA1 MAC (Windows before 10
        /// 1709, older macOS/iOS) instead of AES-256 and HMAC-SHA256.
        #[arg(long)]
        legacy_p12: bool,
    },
}

/// `l2tpgw serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see gateway.example.toml) [env: L2TPGW_CONFIG]. Without
    /// it the embedded default is used.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Pre-shared key [env: L2TPGW_PSK]. Visible to other local users in the process
    /// list: prefer --psk-file.
    #[arg(long, value_name = "KEY")]
    pub psk: Option<String>,
    /// File whose first line is the pre-shared key [env: L2TPGW_PSK_FILE].
    #[arg(long, value_name = "FILE")]
    pub psk_file: Option<PathBuf>,
    /// A user, repeatable [env: L2TPGW_USERS, comma-separated]. Added to the users of the
    /// users file (and kept across SIGHUP reloads).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// The users file, replacing the config file's `users_file` [env: L2TPGW_USERS_FILE].
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Client address pool [env: L2TPGW_POOL].
    #[arg(long, value_name = "CIDR")]
    pub pool: Option<String>,
    /// DNS server pushed to clients, repeatable [env: L2TPGW_DNS, comma-separated].
    #[arg(long, value_name = "ADDR")]
    pub dns: Vec<String>,
    /// Address to listen on, repeatable [env: L2TPGW_LISTEN, comma-separated].
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
}

impl ServeArgs {
    /// `--config`, else `L2TPGW_CONFIG`; `None`: the embedded default.
    pub fn config_path(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            env("L2TPGW_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// The quick-start part, for [`crate::config::Overrides::resolve`].
    pub fn quick_start(&self) -> crate::config::QuickStart {
        crate::config::QuickStart {
            psk: self.psk.clone(),
            psk_file: self.psk_file.clone(),
            users: self.users.clone(),
            users_file: self.users_file.clone(),
            pool: self.pool.clone(),
            dns: self.dns.clone(),
            listen: self.listen.clone(),
        }
    }
}

/// Which client to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// strongSwan + xl2tpd + pppd.
    Linux,
    /// The Windows 10/11 built-in client.
    Windows,
    /// iOS / macOS.
    Ios,
    /// Android.
    Android,
}

impl From<Profile> for gateway_core::ClientProfile {
    fn from(p: Profile) -> Self {
        match p {
            Profile::Linux => Self::Linux,
            Profile::Windows => Self::Windows,
            Profile::Ios => Self::Ios,
            Profile::Android => Self::Android,
        }
    }
}

/// `l2tpgw connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The server (address, or address:port for IKE).
    pub server: String,
    /// Pre-shared key [env: L2TPGW_PSK]; not needed with --cert.
    #[arg(
        long,
        env = "L2TPGW_PSK",
        hide_env_values = true,
        required_unless_present = "cert"
    )]
    pub psk: Option<String>,
    /// Authenticate IKE with this X.509 certificate (PEM, followed by any intermediate
    /// CAs) and --key instead of the pre-shared key; RSA or ECDSA P-256/P-384.
    #[arg(long, value_name = "FILE", requires_all = ["key", "ca"])]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (unencrypted PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// A CA the server's certificate must chain to (PEM; repeatable).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub ca: Vec<PathBuf>,
    /// PPP user name.
    #[arg(long)]
    pub user: String,
    /// PPP password [env: L2TPGW_PASSWORD].
    #[arg(long, env = "L2TPGW_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Which client to imitate (proposals, vendor IDs, L2TP and PPP behaviour).
    #[arg(long, value_enum, default_value_t = Profile::Linux)]
    pub profile: Profile,
    /// Do not create a TUN device (for tests).
    #[arg(long)]
    pub no_tun: bool,
    /// The client's TUN device (addressed as PPP assigns; no routes are added besides
    /// the point-to-point one to the server's inner address).
    #[arg(long, default_value = "l2tpgwc0")]
    pub tun_name: String,
    /// When the session ends (not by a signal), connect again, with backoff from 1 s
    /// doubling to 60 s (reset after every session that came up).
    #[arg(long)]
    pub reconnect: bool,
    /// Exit (after a clean goodbye) as soon as the session is up: a connectivity check.
    #[arg(long)]
    pub once: bool,
    /// Propose this ISAKMP SA lifetime instead of the profile's (Main Mode is redone at
    /// about 90 % of it); for rekey tests.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(10..))]
    pub ike_lifetime: Option<u64>,
    /// Propose this ESP SA lifetime instead of the profile's (Quick Mode rekeys at about
    /// 90 % of it); for rekey tests.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(10..))]
    pub esp_lifetime: Option<u64>,
    /// Send from UDP 500 and 4500, as the built-in clients do (needs root or
    /// CAP_NET_BIND_SERVICE), instead of two ephemeral ports.
    #[arg(long)]
    pub standard_ports: bool,
}

/// `l2tpgw status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The gateway's status socket.
    #[arg(long, value_name = "PATH", default_value = "/run/l2tpgw.sock")]
    pub socket: PathBuf,
}

/// Where `--metrics` would go; kept for symmetry with the config key.
pub type MetricsAddr = SocketAddr;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "l2tpgw",
            "serve",
            "--config",
            "/etc/l2tpgw.toml",
            "--psk",
            "k",
            "--user",
            "a:1",
            "--user",
            "b:2",
            "--pool",
            "10.1.0.0/24",
            "--dns",
            "9.9.9.9",
            "--listen",
            "::1",
            "--listen",
            "127.0.0.1",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            s.config.as_deref(),
            Some(std::path::Path::new("/etc/l2tpgw.toml"))
        );
        assert_eq!(s.users, ["a:1", "b:2"]);
        assert_eq!(s.listen, ["::1", "127.0.0.1"]);
        let q = s.quick_start();
        assert_eq!(q.psk.as_deref(), Some("k"));
        assert_eq!(q.pool.as_deref(), Some("10.1.0.0/24"));
    }

    #[test]
    fn connect_and_status_parse() {
        let cli = Cli::try_parse_from([
            "l2tpgw",
            "connect",
            "192.0.2.1",
            "--psk",
            "k",
            "--user",
            "u",
            "--password",
            "p",
            "--profile",
            "windows",
            "--no-tun",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.log_format, Some(LogFormat::Json));
        let Command::Connect(c) = cli.command else {
            panic!("not connect")
        };
        assert_eq!(
            (c.profile, c.no_tun, c.server.as_str()),
            (Profile::Windows, true, "192.0.2.1")
        );

        let cli =
            Cli::try_parse_from(["l2tpgw", "status", "--json", "--socket", "/tmp/x.sock"]).unwrap();
        let Command::Status(s) = cli.command else {
            panic!("not status")
        };
        assert!(s.json);
        assert_eq!(s.socket, std::path::Path::new("/tmp/x.sock"));
        assert!(Cli::try_parse_from(["l2tpgw", "connect", "x", "--profile", "beos"]).is_err());
        // Certificates instead of the PSK: --cert needs --key and --ca.
        let base = ["l2tpgw", "connect", "x", "--user", "u", "--password", "p"];
        let with = |extra: &[&'static str]| {
            Cli::try_parse_from(base.iter().chain(extra).copied().collect::<Vec<_>>())
        };
        let Command::Connect(c) = with(&["--cert", "c.pem", "--key", "k.pem", "--ca", "ca.pem"])
            .unwrap()
            .command
        else {
            panic!("not connect")
        };
        assert_eq!(c.psk, None);
        assert_eq!(c.ca, [std::path::PathBuf::from("ca.pem")]);
        assert!(with(&["--cert", "c.pem", "--ca", "ca.pem"]).is_err());
        assert!(with(&["--cert", "c.pem", "--key", "k.pem"]).is_err());
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn log_format_flag_beats_environment_beats_plain() {
        let plain = Cli::try_parse_from(["l2tpgw", "status"]).unwrap();
        assert_eq!(plain.log_format(&env_of(&[])), Ok(LogFormat::Plain));
        assert_eq!(
            plain.log_format(&env_of(&[("L2TPGW_LOG_FORMAT", "")])),
            Ok(LogFormat::Plain),
            "an empty variable counts as unset"
        );
        assert_eq!(
            plain.log_format(&env_of(&[("L2TPGW_LOG_FORMAT", "JSON")])),
            Ok(LogFormat::Json)
        );
        let err = plain
            .log_format(&env_of(&[("L2TPGW_LOG_FORMAT", "xml")]))
            .unwrap_err();
        assert!(
            err.contains("L2TPGW_LOG_FORMAT") && err.contains("xml"),
            "{err}"
        );
        let flag = Cli::try_parse_from(["l2tpgw", "--log-format", "plain", "status"]).unwrap();
        assert_eq!(
            flag.log_format(&env_of(&[("L2TPGW_LOG_FORMAT", "json")])),
            Ok(LogFormat::Plain)
        );
    }

    #[test]
    fn config_and_users_file_from_flag_or_environment() {
        let serve = |args: &[&str]| {
            let cli = Cli::try_parse_from(["l2tpgw", "serve"].iter().chain(args)).unwrap();
            let Command::Serve(s) = cli.command else {
                panic!("not serve")
            };
            s
        };
        let env = env_of(&[("L2TPGW_CONFIG", "/etc/l2tpgw/gateway.toml")]);
        assert_eq!(
            serve(&[]).config_path(&env),
            Some(PathBuf::from("/etc/l2tpgw/gateway.toml"))
        );
        assert_eq!(
            serve(&["-c", "/x.toml"]).config_path(&env),
            Some(PathBuf::from("/x.toml"))
        );
        assert_eq!(serve(&[]).config_path(&env_of(&[])), None);
        assert_eq!(
            serve(&[]).config_path(&env_of(&[("L2TPGW_CONFIG", "")])),
            None
        );
        let q = serve(&["--users-file", "/run/secrets/users"]).quick_start();
        assert_eq!(q.users_file, Some(PathBuf::from("/run/secrets/users")));
    }
}
