//! The `l2tpgw` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    match cmd.as_str() {
        "serve" | "connect" | "status" => {
            eprintln!(
                "l2tpgw {cmd}: not built yet. The protocol crates are being written; see README.md."
            );
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: l2tpgw <serve|connect|status> [options]");
            ExitCode::from(2)
        }
    }
}
