//! Logging through `tracing-subscriber`: `RUST_LOG` picks the levels (default `info`),
//! `--log-format` (or `L2TPGW_LOG_FORMAT`) picks plain lines or JSON, one object per
//! line. Logs go to stderr, which container runtimes collect like stdout (`docker logs`,
//! `kubectl logs`); stdout stays for what a script may parse (the generated PSK and user,
//! `status`, `connect`'s result). Colours only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Call once, first thing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Plain => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
