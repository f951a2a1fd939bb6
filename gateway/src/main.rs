//! The `l2tpgw` binary: `serve`, `connect`, `status` and `pki`.

use std::process::ExitCode;

use clap::Parser;
use gateway::cli::{Cli, Command, ConnectArgs, ServeArgs, StatusArgs};
use gateway::config::{Config, Overrides, Resolved};
use gateway::logging::LogOutput;
use gateway::random::OsRandom;
use gateway::status::Render as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    let serving = matches!(cli.command, Command::Serve(_));
    match cli
        .log_format(&env)
        .and_then(|f| Ok((f, LogOutput::from_env(serving, &env)?)))
    {
        Ok((format, output)) => gateway::logging::init(format, output),
        Err(e) => {
            eprintln!("l2tpgw: {e}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("l2tpgw: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Connect(args) => runtime.block_on(connect(&args)),
        Command::Status(args) => runtime.block_on(status(&args)),
        Command::Pki(args) => pki(&args),
    }
}

/// `l2tpgw pki`: writes the files and names them (and a generated PKCS#12 password).
fn pki(args: &gateway::cli::PkiArgs) -> ExitCode {
    use gateway::cli::PkiCommand;
    #[allow(
        clippy::disallowed_methods,
        reason = "certificate validity starts now; the CLI reads the wall clock"
    )]
    let now = std::time::SystemTime::now();
    let days = args.days.unwrap_or(match args.command {
        PkiCommand::Ca { .. } => 3650,
        _ => 825,
    });
    let opts = gateway::pki::Options {
        dir: args.dir.clone(),
        key_type: args.key_type,
        days,
        force: args.force,
        now,
    };
    let result = match &args.command {
        PkiCommand::Ca { name } => gateway::pki::create_ca(&opts, name),
        PkiCommand::Server { name } => gateway::pki::create_server(&opts, name),
        PkiCommand::Client {
            name,
            password,
            legacy_p12,
        } => gateway::pki::create_client(&opts, name, password.as_deref(), *legacy_p12).map(|c| {
            if let Some(p) = &c.generated_password {
                println!("PKCS#12 password (shown once): {}", p.as_str());
            }
            c.files
        }),
    };
    match result {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("l2tpgw pki: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration with its overrides and resolves the secrets.
fn load(args: &ServeArgs) -> Result<Resolved, String> {
    let env = |k: &str| std::env::var(k).ok();
    let mut config = match args.config_path(&env) {
        Some(path) => Config::load(&path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let overrides = Overrides::resolve(args.quick_start(), &env).map_err(|e| e.to_string())?;
    let flag_users = overrides.users.clone();
    config.apply(overrides);
    Resolved::new(config, flag_users, &mut OsRandom).map_err(|e| e.to_string())
}

async fn serve(args: ServeArgs) -> ExitCode {
    let resolved = match load(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("l2tpgw serve: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &resolved.warnings {
        tracing::warn!("{w}");
    }
    // Printed once, never logged: to stdout so it can be captured, or to stderr when the
    // logs use stdout (L2TPGW_LOG_OUTPUT=stdout, the container), so that stdout holds
    // only log lines.
    let env = |k: &str| std::env::var(k).ok();
    let to_stderr = LogOutput::from_env(true, &env).is_ok_and(LogOutput::secrets_to_stderr);
    let say = |line: std::fmt::Arguments<'_>| {
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if resolved.psk_generated {
        say(format_args!(
            "generated pre-shared key: {}",
            resolved.psk.expose()
        ));
    }
    if let Some(name) = &resolved.generated_user
        && let Some(pw) = resolved.users.get(name).and_then(|u| u.password())
    {
        say(format_args!(
            "generated user: {name}  password: {}",
            pw.expose()
        ));
    }
    match run_server(&resolved).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2tpgw serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(resolved: &Resolved) -> std::io::Result<()> {
    use gateway::io::tun::{Tun, TunConfig};
    use gateway_core::Core;
    let c = &resolved.config;
    let core_config = resolved.core_config().map_err(std::io::Error::other)?;
    let sockets = gateway::io::udp::bind_all(&c.listen, c.ike_port, c.nat_t_port)?;
    let mut esp = Vec::new();
    if c.ike.raw_esp {
        // One raw socket per family that `listen` names: bound to the address when the
        // family has exactly one, else to all (replies name their source per packet).
        for v6 in [false, true] {
            let family: Vec<std::net::IpAddr> = c
                .listen
                .iter()
                .filter(|a| a.is_ipv6() == v6)
                .copied()
                .collect();
            let bind = match family.as_slice() {
                [] => continue,
                [one] => *one,
                _ if v6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
                _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
            };
            esp.push(gateway::io::esp::EspSocket::bind(bind)?);
            tracing::info!(address = %bind, "raw ESP (IP protocol 50) socket open");
        }
    }
    let pool = core_config.pool.cidr();
    let tun = Tun::create(&TunConfig {
        name: c.network.tun_name.clone(),
        address: core_config.pool.gateway(),
        netmask: pool.netmask(),
        mtu: c.ppp.mru,
    })?;
    let masquerade = if c.network.masquerade {
        Some(gateway::io::nft::Masquerade::install(pool, tun.name())?)
    } else {
        None
    };
    let (control_tx, control_rx) = tokio::sync::mpsc::channel(16);
    let status_socket =
        gateway::io::control::StatusSocket::bind(&c.status_socket, control_tx.clone()).await?;
    let metrics = match c.metrics_listen {
        Some(addr) => {
            let (bound, task) =
                gateway::io::control::serve_metrics(addr, control_tx.clone(), c.metrics.detailed)
                    .await?;
            tracing::info!(
                detailed = c.metrics.detailed,
                "metrics on http://{bound}/metrics"
            );
            Some(task)
        }
        None => None,
    };
    drop(control_tx);
    // Set up: TUN, sockets, nftables, status socket and metrics. CAP_NET_ADMIN stays
    // only for masquerade's removal at exit (see gateway::privileges).
    let dropped = gateway::privileges::drop_after_setup(masquerade.is_some())?;
    tracing::info!(
        kept = ?dropped.kept,
        bounding_set_narrowed = dropped.bounding_narrowed,
        no_new_privs = gateway::privileges::no_new_privs(),
        "capabilities dropped"
    );
    tracing::info!(
        listen = ?c.listen,
        pool = %pool,
        tun = tun.name(),
        users = resolved.users.len(),
        "l2tpgw serving on UDP {} and {}",
        c.ike_port,
        c.nat_t_port
    );
    #[allow(
        clippy::disallowed_methods,
        reason = "the core's start time; the binary is the runtime"
    )]
    let now = std::time::Instant::now();
    #[allow(
        clippy::disallowed_methods,
        reason = "certificate validity needs the wall clock, read with `now`"
    )]
    let wall = std::time::SystemTime::now();
    let mut core_config = core_config;
    core_config.ike.wall_clock = Some(ike::WallClock::new(now, wall));
    let mut core = Core::new(core_config, now, gateway::random::os_random());
    let io = gateway::driver::DriverIo {
        sockets,
        esp,
        tun: Some(tun),
        control: control_rx,
        users_file: c.users_file.clone(),
        secret_files: c.secret_files,
        shutdown_grace: std::time::Duration::from_secs(3),
    };
    let result = gateway::driver::run(&mut core, io).await;
    // Undo in reverse order: metrics, status socket, nftables; the TUN went with `io`.
    if let Some(task) = metrics {
        task.abort();
    }
    drop(status_socket);
    if let Some(mut m) = masquerade
        && let Err(e) = m.remove()
    {
        tracing::warn!("removing the nftables table: {e}");
    }
    let stopped = result?;
    tracing::info!(?stopped, "l2tpgw stopped");
    Ok(())
}

/// The address this host sends from toward `server` (the local address of a connected
/// UDP socket; nothing is sent), or `any` when there is no route.
fn source_toward(server: std::net::SocketAddr, any: std::net::IpAddr) -> std::net::IpAddr {
    std::net::UdpSocket::bind(std::net::SocketAddr::new(any, 0))
        .and_then(|s| {
            s.connect(server)?;
            s.local_addr()
        })
        .map_or(any, |a| a.ip())
}

/// The client's raw ESP socket (IP protocol 50), opened whenever it can be: a server
/// that sends honest NAT-D (`force_encapsulation = false`) with no NAT in between agrees
/// on raw ESP, which only this socket carries. Without CAP_NET_RAW the client goes on
/// without it; it then reaches only servers that make it float to UDP 4500.
fn client_raw_esp(server: std::net::SocketAddr) -> Vec<gateway::io::esp::EspSocket> {
    let any: std::net::IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    match gateway::io::esp::EspSocket::bind(any) {
        Ok(s) => {
            tracing::debug!("raw ESP (IP protocol 50) socket open");
            vec![s]
        }
        Err(e) => {
            tracing::info!(
                "no raw ESP: {e}; ESP works only in UDP 4500 (behind a NAT or a server that forces encapsulation)"
            );
            Vec::new()
        }
    }
}

async fn connect(args: &ConnectArgs) -> ExitCode {
    match run_client(args).await {
        Ok(Some(addr)) => {
            println!("connected: inner address {addr}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("l2tpgw connect: the session never came up (see the log)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("l2tpgw connect: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_client(args: &ConnectArgs) -> std::io::Result<Option<std::net::Ipv4Addr>> {
    use gateway_core::client::{ClientConfig, ClientCore};
    let server = match args.server.parse::<std::net::SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            let ip: std::net::IpAddr = args
                .server
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| {
                std::io::Error::other(format!(
                    "{:?} is not an address (a name lookup is not built)",
                    args.server
                ))
            })?;
            std::net::SocketAddr::new(ip, 500)
        }
    };
    let any: std::net::IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    // The machine's name, for the Host Name AVP (Windows and xl2tpd send theirs).
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host_name = if host_name.is_empty() {
        "l2tpgw".to_owned()
    } else {
        host_name
    };
    let (mut profile, l2tp_config, ppp_config) =
        gateway_core::client::profile_configs(args.profile.into(), &host_name);
    gateway_core::client::set_lifetimes(
        &mut profile,
        args.ike_lifetime.map(std::time::Duration::from_secs),
        args.esp_lifetime.map(std::time::Duration::from_secs),
    );
    // With --cert, IKE authenticates with the certificate instead of the PSK.
    let certificates = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let files = gateway::config::CertificatesConfig {
                ca: args.ca.clone(),
                cert: vec![cert.clone()],
                key: vec![key.clone()],
                crl: Vec::new(),
            };
            let env = |k: &str| std::env::var(k).ok();
            let policy =
                gateway::secret_file::Policy::from_env(&env).map_err(std::io::Error::other)?;
            let mut warnings = Vec::new();
            let certs = files
                .load(policy, &mut warnings)
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::other("--cert: nothing loaded"))?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            let id = certs
                .identities()
                .first()
                .ok_or_else(|| std::io::Error::other("--cert: nothing loaded"))?;
            tracing::info!(
                subject = id.description(),
                "IKE authenticates with a certificate"
            );
            profile = profile.with_certificate(id.kind());
            Some(std::sync::Arc::new(certs))
        }
        _ => None,
    };
    let (ike_port, nat_t_port) = if args.standard_ports {
        (500, 4500)
    } else {
        (0, 0)
    };
    let mut reached = None;
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let ike_socket =
            gateway::io::udp::UdpSocket::bind(std::net::SocketAddr::new(any, ike_port))?;
        let nat_t_socket =
            gateway::io::udp::UdpSocket::bind(std::net::SocketAddr::new(any, nat_t_port))?;
        // Our real address toward the server (the sockets are bound to the wildcard):
        // IKE's NAT-D for us hashes it, so a server with honest NAT-D sees no NAT when
        // there is none (and raw ESP follows).
        let source = source_toward(server, any);
        let config = ClientConfig {
            server,
            local_ike: std::net::SocketAddr::new(source, ike_socket.local_addr().port()),
            local_nat_t: std::net::SocketAddr::new(source, nat_t_socket.local_addr().port()),
            psk: gateway_core::secret::Secret::new(args.psk.clone().unwrap_or_default()),
            user: args.user.clone(),
            password: gateway_core::secret::Secret::new(args.password.clone()),
            profile: profile.clone(),
            l2tp: l2tp_config.clone(),
            ppp: ppp_config.clone(),
            exit_when_up: args.once,
        };
        #[allow(
            clippy::disallowed_methods,
            reason = "the client's start time; the binary is the runtime"
        )]
        let now = std::time::Instant::now();
        let tun = if args.no_tun {
            None
        } else {
            Some(gateway::io::tun::Tun::create_unaddressed(
                &args.tun_name,
                1400,
            )?)
        };
        #[allow(
            clippy::disallowed_methods,
            reason = "certificate validity needs the wall clock, read with `now`"
        )]
        let wall = std::time::SystemTime::now();
        let ike_config = ike::Config {
            certificates: certificates.clone(),
            wall_clock: Some(ike::WallClock::new(now, wall)),
            ..ike::Config::default()
        };
        let mut client =
            ClientCore::with_ike_config(config, ike_config, now, gateway::random::os_random())
                .map_err(std::io::Error::other)?;
        let (_control_tx, control_rx) = tokio::sync::mpsc::channel(1);
        let io = gateway::driver::DriverIo {
            sockets: vec![ike_socket, nat_t_socket],
            esp: client_raw_esp(server),
            tun,
            control: control_rx,
            users_file: None,
            secret_files: gateway::secret_file::Policy::default(),
            shutdown_grace: std::time::Duration::from_secs(3),
        };
        let stopped = gateway::driver::run(&mut client, io).await?;
        if client.reached().is_some() {
            reached = client.reached();
            backoff = std::time::Duration::from_secs(1);
        }
        if stopped == gateway::driver::Stopped::Signal || !args.reconnect || args.once {
            return Ok(reached);
        }
        tracing::info!("session ended; reconnecting in {backoff:?}");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = tokio::signal::ctrl_c() => return Ok(reached),
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
    }
}

async fn status(args: &StatusArgs) -> ExitCode {
    match gateway::status::query(&args.socket).await {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("l2tpgw status: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.to_table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("l2tpgw status: {e}");
            ExitCode::FAILURE
        }
    }
}
