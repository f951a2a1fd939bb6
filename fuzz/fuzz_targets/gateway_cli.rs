//! The command line: arbitrary argv (NUL-separated arguments after `l2tpgw`) through
//! clap (`try_parse_from`, errors rendered as the binary would print them), then what
//! `l2tpgw` derives from the parsed arguments without I/O: the quick-start overrides on
//! the default configuration, and for `connect` the client profile with its lifetimes.
//! Nothing may panic.
#![no_main]

use clap::Parser as _;
use gateway::cli::{Cli, Command};
use gateway::config::{Config, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args = std::iter::once(std::ffi::OsString::from("l2tpgw")).chain(
        data.split(|b| *b == 0)
            .map(|a| std::ffi::OsString::from(String::from_utf8_lossy(a).into_owned())),
    );
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.render().to_string();
            return;
        }
    };
    let no_env = |_: &str| None;
    let _ = cli.log_format(&no_env);
    match &cli.command {
        Command::Serve(args) => {
            let _ = args.config_path(&no_env);
            if let Ok(o) = Overrides::resolve(args.quick_start(), &no_env) {
                let mut config = Config::default();
                config.apply(o);
                let _ = config.validate();
            }
        }
        Command::Connect(args) => {
            let (mut profile, _, _) =
                gateway_core::client::profile_configs(args.profile.into(), "fuzz");
            gateway_core::client::set_lifetimes(
                &mut profile,
                args.ike_lifetime.map(std::time::Duration::from_secs),
                args.esp_lifetime.map(std::time::Duration::from_secs),
            );
        }
        _ => {}
    }
});
