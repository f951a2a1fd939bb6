//! Logging through `tracing-subscriber`: `RUST_LOG` picks the levels (default `info`),
//! `--log-format` (or `L2TPGW_LOG_FORMAT`) picks plain lines or JSON, one object per
//! line, and `L2TPGW_LOG_OUTPUT` picks the stream of `serve`'s logs ([`LogOutput`]).
//!
//! By default logs go to stderr: stdout stays for what a script may parse (the generated
//! PSK and user, `status`, `connect`'s result). The container image sets
//! `L2TPGW_LOG_OUTPUT=stdout` for `serve`, the usual place for a container's logs; the
//! generated PSK and user then go to stderr ([`LogOutput::secrets_to_stderr`]), so stdout
//! holds nothing but log lines and, with JSON, every line of it parses. `status`,
//! `connect` and `pki` always log to stderr: their stdout is their result. Colours only
//! when the log stream is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::cli::LogFormat;

/// Where the logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard error (the default).
    Stderr,
    /// Standard output (`L2TPGW_LOG_OUTPUT=stdout`, `serve` only; the container image).
    Stdout,
}

impl LogOutput {
    /// `L2TPGW_LOG_OUTPUT` (`stdout` or `stderr`, any case; empty counts as unset) for
    /// `serve`; any other subcommand logs to stderr whatever it says.
    pub fn from_env(serve: bool, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let value = env("L2TPGW_LOG_OUTPUT").filter(|v| !v.trim().is_empty());
        let output = match value.as_deref().map(str::trim) {
            None => Self::Stderr,
            Some(v) if v.eq_ignore_ascii_case("stderr") => Self::Stderr,
            Some(v) if v.eq_ignore_ascii_case("stdout") => Self::Stdout,
            Some(v) => {
                return Err(format!(
                    "L2TPGW_LOG_OUTPUT: {v:?} is neither \"stdout\" nor \"stderr\""
                ));
            }
        };
        Ok(if serve { output } else { Self::Stderr })
    }

    /// Whether the once-printed generated PSK and user go to stderr: when the logs use
    /// stdout, so that they never sit between (JSON) log lines.
    pub fn secrets_to_stderr(self) -> bool {
        self == Self::Stdout
    }
}

/// Installs the global subscriber. Call once, first thing.
pub fn init(format: LogFormat, output: LogOutput) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, terminal) = match output {
        LogOutput::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
        LogOutput::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Plain => builder.with_ansi(terminal).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(value: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |k| {
            (k == "L2TPGW_LOG_OUTPUT")
                .then(|| value.map(str::to_owned))
                .flatten()
        }
    }

    #[test]
    fn serve_logs_to_the_stream_l2tpgw_log_output_names() {
        assert_eq!(
            LogOutput::from_env(true, &env_of(None)),
            Ok(LogOutput::Stderr)
        );
        assert_eq!(
            LogOutput::from_env(true, &env_of(Some(" "))),
            Ok(LogOutput::Stderr)
        );
        assert_eq!(
            LogOutput::from_env(true, &env_of(Some("stderr"))),
            Ok(LogOutput::Stderr)
        );
        assert_eq!(
            LogOutput::from_env(true, &env_of(Some("STDOUT"))),
            Ok(LogOutput::Stdout)
        );
        let err = LogOutput::from_env(true, &env_of(Some("syslog"))).unwrap_err();
        assert!(
            err.contains("L2TPGW_LOG_OUTPUT") && err.contains("syslog"),
            "{err}"
        );
    }

    #[test]
    fn other_subcommands_keep_stdout_for_their_result() {
        assert_eq!(
            LogOutput::from_env(false, &env_of(Some("stdout"))),
            Ok(LogOutput::Stderr)
        );
        // A bad value is still an error, whatever the subcommand.
        assert!(LogOutput::from_env(false, &env_of(Some("file"))).is_err());
    }

    #[test]
    fn generated_secrets_take_the_stream_the_logs_do_not_use() {
        assert!(LogOutput::Stdout.secrets_to_stderr());
        assert!(!LogOutput::Stderr.secrets_to_stderr());
    }
}
