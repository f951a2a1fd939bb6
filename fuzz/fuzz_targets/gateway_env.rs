//! The L2TPGW_* environment variables, through the functions `l2tpgw` reads them with
//! (each takes the environment as a function, so the process environment is never
//! touched): `--config`'s fallback, the quick-start overrides applied to the default
//! configuration, the log format and the log output. Nothing may panic.
//!
//! Input: lines of [name byte][value]; the name byte picks one of the variables `l2tpgw`
//! reads, or (last choice) the value is `NAME=VALUE` with a name of its own.
#![no_main]

use std::collections::HashMap;

use clap::Parser as _;
use gateway::cli::{Cli, Command};
use gateway::config::{Config, Overrides};
use gateway::logging::LogOutput;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 11] = [
    "L2TPGW_CONFIG",
    "L2TPGW_PSK",
    "L2TPGW_PSK_FILE",
    "L2TPGW_USERS",
    "L2TPGW_USERS_FILE",
    "L2TPGW_POOL",
    "L2TPGW_DNS",
    "L2TPGW_LISTEN",
    "L2TPGW_LOG_FORMAT",
    "L2TPGW_LOG_OUTPUT",
    "RUST_LOG",
];

fuzz_target!(|data: &[u8]| {
    let mut vars: HashMap<String, String> = HashMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some((&sel, value)) = line.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match NAMES.get(usize::from(sel) % (NAMES.len() + 1)) {
            Some(name) => vars.insert((*name).to_owned(), value),
            None => match value.split_once('=') {
                Some((k, v)) => vars.insert(k.to_owned(), v.to_owned()),
                None => continue,
            },
        };
    }
    let env = |k: &str| vars.get(k).cloned();
    let Ok(cli) = Cli::try_parse_from(["l2tpgw", "serve"]) else {
        panic!("`l2tpgw serve` parses");
    };
    let _ = cli.log_format(&env);
    for serve in [true, false] {
        let _ = LogOutput::from_env(serve, &env).map(LogOutput::secrets_to_stderr);
    }
    let Command::Serve(args) = &cli.command else {
        panic!("`l2tpgw serve` is serve");
    };
    let _ = args.config_path(&env);
    if let Ok(o) = Overrides::resolve(args.quick_start(), &env) {
        let mut config = Config::default();
        config.apply(o);
        let _ = config.validate();
    }
});
