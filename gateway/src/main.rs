//! The `l2tpgw` binary: `serve`, `connect` and `status`.

use std::process::ExitCode;

use clap::Parser;
use gateway::cli::{Cli, Command, ConnectArgs, ServeArgs, StatusArgs};
use gateway::config::{Config, Overrides, Resolved};
use gateway::secret::OsRandom;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gateway::logging::init(cli.log_format);
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
        Command::Connect(args) => connect(&args),
        Command::Status(args) => runtime.block_on(status(&args)),
    }
}

/// Loads the configuration with its overrides and resolves the secrets.
fn load(args: &ServeArgs) -> Result<Resolved, String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let env = |k: &str| std::env::var(k).ok();
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
    if resolved.psk_generated {
        // Printed once, to stdout, so it can be captured; never logged.
        println!("generated pre-shared key: {}", resolved.psk.expose());
    }
    if let Some(name) = &resolved.generated_user
        && let Some(pw) = resolved.users.get(name).and_then(|u| u.password())
    {
        println!("generated user: {name}  password: {}", pw.expose());
    }
    eprintln!(
        "l2tpgw serve: the configuration is valid ({} user(s), pool {}, listening on {} address(es)), \
         but the protocol core (gateway::core::Core: IKE, ESP, L2TP and PPP composed) is not built yet, \
         so the gateway cannot serve clients. Nothing was started.",
        resolved.users.len(),
        resolved.config.network.pool,
        resolved.config.listen.len()
    );
    ExitCode::from(2)
}

fn connect(args: &ConnectArgs) -> ExitCode {
    eprintln!(
        "l2tpgw connect {}: the client (IKE initiator, LAC, PPP peer) is not built yet; nothing was sent.",
        args.server
    );
    ExitCode::from(2)
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
