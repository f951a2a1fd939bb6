//! What `l2tpgw status` and the metrics endpoint show: the report the driver builds from
//! the core, its JSON form on the status socket, the table, and the Prometheus text.
//!
//! The status socket protocol is one JSON line each way: the client sends
//! `{"command":"status"}`, the server answers with a [`StatusReport`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// A request on the status socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum StatusRequest {
    /// Sessions and counters.
    Status,
}

use gateway_core::status::{SessionStatus, StatusReport};

/// The table and Prometheus forms of a [`StatusReport`].
pub trait Render {
    /// The table `l2tpgw status` prints.
    fn to_table(&self) -> String;
    /// The Prometheus text exposition (format 0.0.4) without anything that names a user
    /// or an address: uptime, the session count and the counters.
    fn to_prometheus(&self) -> String {
        self.to_prometheus_with(false)
    }
    /// The same; with `detailed` (`metrics.detailed = true`) also one series per session,
    /// labelled with its user name and inner address.
    fn to_prometheus_with(&self, detailed: bool) -> String;
}

impl Render for StatusReport {
    fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "l2tpgw {}, up {}, {} session(s)",
            self.version,
            human_duration(self.uptime_secs),
            self.sessions.len()
        );
        if !self.sessions.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<16} {:<24} {:<15} {:>9} {:>12} {:>12} {:>9} {:>9} {:<28} {:>7} {:>11}",
                "USER",
                "OUTER",
                "INNER",
                "UPTIME",
                "BYTES IN",
                "BYTES OUT",
                "PKTS IN",
                "PKTS OUT",
                "ESP",
                "SA AGE",
                "L2TP T/S"
            );
            for s in &self.sessions {
                let (suite, age) = s
                    .esp
                    .as_ref()
                    .map_or(("-".to_owned(), "-".to_owned()), |e| {
                        (
                            format!(
                                "{}{}",
                                e.suite,
                                if e.udp_encapsulated {
                                    " udp"
                                } else {
                                    " raw-esp"
                                }
                            ),
                            human_duration(e.age_secs),
                        )
                    });
                let _ = writeln!(
                    out,
                    "{:<16} {:<24} {:<15} {:>9} {:>12} {:>12} {:>9} {:>9} {:<28} {:>7} {:>11}",
                    truncate(&s.user, 16),
                    s.outer.to_string(),
                    s.inner.map_or("-".to_owned(), |a| a.to_string()),
                    human_duration(s.uptime_secs),
                    s.bytes_in,
                    s.bytes_out,
                    s.packets_in,
                    s.packets_out,
                    truncate(&suite, 28),
                    age,
                    format!("{}/{}", s.l2tp_tunnel, s.l2tp_session),
                );
            }
        }
        if !self.counters.is_empty() {
            let _ = writeln!(out, "\ncounters:");
            for (k, v) in &self.counters {
                let _ = writeln!(out, "  {k:<40} {v}");
            }
        }
        out
    }

    fn to_prometheus_with(&self, detailed: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP l2tpgw_uptime_seconds Seconds since the gateway started."
        );
        let _ = writeln!(out, "# TYPE l2tpgw_uptime_seconds gauge");
        let _ = writeln!(out, "l2tpgw_uptime_seconds {}", self.uptime_secs);
        let _ = writeln!(out, "# HELP l2tpgw_sessions Client sessions.");
        let _ = writeln!(out, "# TYPE l2tpgw_sessions gauge");
        let _ = writeln!(out, "l2tpgw_sessions {}", self.sessions.len());
        let mut families: BTreeMap<String, Vec<(Option<&str>, u64)>> = BTreeMap::new();
        for (k, v) in &self.counters {
            let (family, reason) = match k.split_once('.') {
                Some((f, r)) => (f, Some(r)),
                None => (k.as_str(), None),
            };
            families
                .entry(sanitize(family))
                .or_default()
                .push((reason, *v));
        }
        for (family, values) in families {
            let _ = writeln!(out, "# TYPE l2tpgw_{family} untyped");
            for (reason, v) in values {
                match reason {
                    Some(r) => {
                        let _ =
                            writeln!(out, "l2tpgw_{family}{{reason=\"{}\"}} {v}", escape_label(r));
                    }
                    None => {
                        let _ = writeln!(out, "l2tpgw_{family} {v}");
                    }
                }
            }
        }
        for (name, help, get) in [
            (
                "session_bytes_in",
                "Bytes received from the client.",
                (|s: &SessionStatus| s.bytes_in) as fn(&SessionStatus) -> u64,
            ),
            ("session_bytes_out", "Bytes sent to the client.", |s| {
                s.bytes_out
            }),
            (
                "session_packets_in",
                "Packets received from the client.",
                |s| s.packets_in,
            ),
            ("session_packets_out", "Packets sent to the client.", |s| {
                s.packets_out
            }),
        ] {
            if !detailed || self.sessions.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP l2tpgw_{name} {help}");
            let _ = writeln!(out, "# TYPE l2tpgw_{name} counter");
            for s in &self.sessions {
                let inner = s.inner.map_or(String::new(), |a| a.to_string());
                let _ = writeln!(
                    out,
                    "l2tpgw_{name}{{user=\"{}\",inner=\"{inner}\"}} {}",
                    escape_label(&s.user),
                    get(s)
                );
            }
        }
        out
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n.saturating_sub(1)).chain(['…']).collect()
    }
}

/// `3d4h`, `2h05m`, `4m10s`, `12s`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Asks the server listening on `socket` for its report.
pub async fn query(socket: &std::path::Path) -> std::io::Result<StatusReport> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot reach the gateway at {}: {e} (is `l2tpgw serve` running?)",
                socket.display()
            ),
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut req = serde_json::to_string(&StatusRequest::Status).map_err(std::io::Error::other)?;
    req.push('\n');
    write.write_all(req.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read)
        .take(16 << 20)
        .read_line(&mut line)
        .await?;
    serde_json::from_str(&line)
        .map_err(|e| std::io::Error::other(format!("bad answer from the gateway: {e}")))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use gateway_core::status::EspStatus;

    use super::*;

    fn sample() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            uptime_secs: 3725,
            sessions: vec![SessionStatus {
                user: "alice".into(),
                outer: "198.51.100.7:4500".parse().unwrap(),
                inner: Some(Ipv4Addr::new(10, 77, 0, 2)),
                uptime_secs: 61,
                bytes_in: 1000,
                bytes_out: 2000,
                packets_in: 10,
                packets_out: 20,
                esp: Some(EspStatus {
                    suite: "aes-cbc-256/hmac-sha1-96".into(),
                    inbound_spi: "0xc1a2b3c4".into(),
                    outbound_spi: "0x01020304".into(),
                    age_secs: 59,
                    udp_encapsulated: true,
                }),
                l2tp_tunnel: 7,
                l2tp_session: 9,
            }],
            counters: [("dropped.spoofed_source".into(), 3), ("ike_sas".into(), 1)].into(),
        }
    }

    #[test]
    fn json_round_trip_and_request_form() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&StatusRequest::Status).unwrap(),
            r#"{"command":"status"}"#
        );
    }

    #[test]
    fn table_shows_every_column() {
        let t = sample().to_table();
        for needle in [
            "up 1h02m",
            "1 session(s)",
            "alice",
            "198.51.100.7:4500",
            "10.77.0.2",
            "1m01s",
            "1000",
            "2000",
            "aes-cbc-256/hmac-sha1-96 udp",
            "59s",
            "7/9",
            "dropped.spoofed_source",
            "ike_sas",
        ] {
            assert!(t.contains(needle), "missing {needle:?} in\n{t}");
        }
    }

    #[test]
    fn prometheus_text_has_reason_labels() {
        let p = sample().to_prometheus();
        assert!(p.contains("l2tpgw_sessions 1\n"), "{p}");
        assert!(
            p.contains("l2tpgw_dropped{reason=\"spoofed_source\"} 3\n"),
            "{p}"
        );
        assert!(p.contains("l2tpgw_ike_sas 1\n"), "{p}");
        // Not detailed (the default): nothing names a user or an address.
        for secret in ["alice", "10.77.0.2", "198.51.100.7", "user=", "inner="] {
            assert!(!p.contains(secret), "{secret} in\n{p}");
        }
        assert_eq!(p, sample().to_prometheus_with(false));
        let d = sample().to_prometheus_with(true);
        assert!(
            d.contains("l2tpgw_session_bytes_in{user=\"alice\",inner=\"10.77.0.2\"} 1000\n"),
            "{d}"
        );
        assert!(d.starts_with(&p), "detailed adds to the same text:\n{d}");
        assert_eq!(escape_label("a\"b\\"), "a\\\"b\\\\");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(250), "4m10s");
        assert_eq!(human_duration(7500), "2h05m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3d4h");
    }
}
