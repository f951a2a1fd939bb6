//! The flood's report: one row per run, the targets next to the figures.
//!
//! Each run is a file of `key=value` lines: what `flood attack` and `flood probe` printed,
//! and what `scripts/flood.sh` read from the gateway around the attack (`cpu_ticks`,
//! `clk_tck`, `window_ns`, `rss_before_kb`, `hwm_after_kb`, `if_rx_packets`,
//! `if_rx_bytes`, `if_tx_packets`, `if_tx_bytes` on the gateway's link to the attacker,
//! `log_lines`, `rcvbuf_drops`, `ping_tx`, `ping_rx`, `load`). The run of attack `none`
//! is the baseline: its CPU per second (the prober's and the session's share) is
//! subtracted from every attack's before dividing by the packets sent.
//!
//! Amplification is judged on UDP payloads as the attacker counted them (`sent_bytes`,
//! `replies`, `reply_bytes`: every answer to any spoofed address reaches its socket);
//! the link's counters, which count IP fragments and Ethernet headers, go to the JSON.
//!
//! When the gateway cannot keep up, the kernel drops datagrams at its full socket
//! buffers (`rcvbuf_drops`, from the server namespace's `/proc/net/snmp`): CPU per packet
//! *sent* then understates what one packet costs, so the CPU target is judged per packet
//! the gateway took in (sent less those drops).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Options;

/// The targets.
const CPU_MS_BAD_MM3: f64 = 0.05;
const LEGIT_ANSWERED_PCT: f64 = 95.0;
const SESSION_LOSS_PCT: f64 = 5.0;
const RSS_GROWTH_MB: f64 = 64.0;
const LOG_LINES_PER_MESSAGE: f64 = 1.0;
/// Share of the requested rate an attack must reach for its figures to count as "at
/// that rate".
const RATE_SHARE: f64 = 0.95;

/// One run's raw `key=value` figures.
#[derive(Debug, Clone, Default)]
struct Run(BTreeMap<String, String>);

impl Run {
    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.0.get(key).and_then(|v| v.parse().ok())
    }

    fn text(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
}

/// One target: its name, the figure, the limit as text, and whether it holds (`None`
/// when the figure is missing).
#[derive(Debug, Clone, PartialEq)]
struct Check {
    name: &'static str,
    value: Option<f64>,
    limit: String,
    pass: Option<bool>,
}

fn check(name: &'static str, value: Option<f64>, limit: String, ok: impl Fn(f64) -> bool) -> Check {
    Check {
        name,
        value,
        limit,
        pass: value.map(ok),
    }
}

/// The derived figures of one run.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row {
    attack: String,
    target_rate: Option<f64>,
    rate: Option<f64>,
    sent: Option<f64>,
    cpu_s: Option<f64>,
    window_s: Option<f64>,
    cpu_ms_per_packet: Option<f64>,
    cpu_ms_per_taken: Option<f64>,
    cpu_pct: Option<f64>,
    drop_pct: Option<f64>,
    legit_answered_pct: Option<f64>,
    legit_median_ms: Option<f64>,
    ping_loss_pct: Option<f64>,
    rss_growth_mb: Option<f64>,
    reply_bytes_ratio: Option<f64>,
    reply_packets_ratio: Option<f64>,
    link_bytes_ratio: Option<f64>,
    link_frames_ratio: Option<f64>,
    log_lines_per_packet: Option<f64>,
    load: String,
    /// The gateway's counters at the end of the run (`gw.NAME` keys, from `l2tpgw status`).
    counters: Vec<(String, f64)>,
    checks: Vec<Check>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// CPU seconds per second of wall time of a run.
fn cpu_rate(r: &Run) -> Option<f64> {
    let cpu = r.num("cpu_ticks")? / r.num("clk_tck")?;
    let window = r.num("window_ns")? / 1e9;
    (window > 0.0).then_some(cpu / window)
}

fn row(r: &Run, baseline_cpu_rate: Option<f64>) -> Row {
    let attack = r.text("attack").to_owned();
    let window_s = r.num("window_ns").map(|n| n / 1e9);
    let cpu_s = ratio(r.num("cpu_ticks"), r.num("clk_tck"));
    let sent = r.num("sent");
    let net_cpu = match (cpu_s, window_s) {
        (Some(c), Some(w)) => Some(c - baseline_cpu_rate.unwrap_or(0.0) * w),
        _ => None,
    };
    let cpu_ms_per_packet = ratio(net_cpu, sent).map(|s| (s * 1000.0).max(0.0));
    let drops = r.num("rcvbuf_drops");
    let taken = match (sent, drops) {
        (Some(s), Some(d)) => Some((s - d).max(0.0)),
        _ => None,
    };
    let cpu_ms_per_taken = ratio(net_cpu, taken).map(|s| (s * 1000.0).max(0.0));
    let cpu_pct = ratio(cpu_s, window_s).map(|x| x * 100.0);
    let drop_pct = ratio(drops, sent).map(|x| (x * 100.0).min(100.0));
    let legit_answered_pct = ratio(r.num("answered"), r.num("probes")).map(|x| x * 100.0);
    let legit_median_ms = r.num("median_ms").filter(|m| *m >= 0.0);
    let ping_loss_pct = match (r.num("ping_tx"), r.num("ping_rx")) {
        (Some(tx), Some(rx)) if tx > 0.0 => Some((1.0 - rx / tx) * 100.0),
        _ => None,
    };
    let rss_growth_mb = match (r.num("hwm_after_kb"), r.num("rss_before_kb")) {
        (Some(h), Some(b)) => Some(((h - b) / 1024.0).max(0.0)),
        _ => None,
    };
    // UDP payloads as the attacker counted them: the link's frames would count a 16 KB
    // datagram as a dozen IP fragments.
    let reply_bytes_ratio = ratio(r.num("reply_bytes"), r.num("sent_bytes"));
    let reply_packets_ratio = ratio(r.num("replies"), sent);
    let link_bytes_ratio = ratio(r.num("if_tx_bytes"), r.num("if_rx_bytes"));
    let link_frames_ratio = ratio(r.num("if_tx_packets"), r.num("if_rx_packets"));
    let log_lines_per_packet = ratio(r.num("log_lines"), sent);
    let mut row = Row {
        attack,
        target_rate: r.num("target_rate"),
        rate: r.num("rate"),
        sent,
        cpu_s,
        window_s,
        cpu_ms_per_packet,
        cpu_ms_per_taken,
        cpu_pct,
        drop_pct,
        legit_answered_pct,
        legit_median_ms,
        ping_loss_pct,
        rss_growth_mb,
        reply_bytes_ratio,
        reply_packets_ratio,
        link_bytes_ratio,
        link_frames_ratio,
        log_lines_per_packet,
        load: r.text("load").to_owned(),
        counters: r
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("gw.")?.to_owned(), v.parse().ok()?)))
            .collect(),
        checks: Vec::new(),
    };
    row.checks = checks(&row);
    row
}

/// The targets that apply to a row.
fn checks(row: &Row) -> Vec<Check> {
    let mut c = Vec::new();
    let attacking = row.attack != "none";
    if attacking && let Some(target) = row.target_rate {
        c.push(check(
            "rate achieved",
            row.rate,
            format!(">= {:.0}/s", target * RATE_SHARE),
            |v| v >= target * RATE_SHARE,
        ));
    }
    if row.attack == "bad-mm3" {
        c.push(check(
            "CPU per bad MM3 taken in",
            row.cpu_ms_per_taken,
            format!("< {CPU_MS_BAD_MM3} ms"),
            |v| v < CPU_MS_BAD_MM3,
        ));
    }
    c.push(check(
        "legit first messages answered within 1 s",
        row.legit_answered_pct,
        format!(">= {LEGIT_ANSWERED_PCT} %"),
        |v| v >= LEGIT_ANSWERED_PCT,
    ));
    c.push(check(
        "session ping loss",
        row.ping_loss_pct,
        format!("< {SESSION_LOSS_PCT} %"),
        |v| v < SESSION_LOSS_PCT,
    ));
    c.push(check(
        "RSS growth",
        row.rss_growth_mb,
        format!("< {RSS_GROWTH_MB} MB"),
        |v| v < RSS_GROWTH_MB,
    ));
    if attacking {
        c.push(check(
            "reply bytes / attack bytes",
            row.reply_bytes_ratio,
            "<= 1".into(),
            |v| v <= 1.0,
        ));
        c.push(check(
            "reply packets / attack packets",
            row.reply_packets_ratio,
            "<= 1".into(),
            |v| v <= 1.0,
        ));
    }
    if row.attack == "big-proposal" {
        c.push(check(
            "log lines per message",
            row.log_lines_per_packet,
            format!("<= {LOG_LINES_PER_MESSAGE}"),
            |v| v <= LOG_LINES_PER_MESSAGE,
        ));
    }
    c
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "n/a",
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:>8} {:>9} {:>6} {:>6} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>9} {:>17}  verdict",
        "attack",
        "rate/s",
        "CPU ms/p",
        "CPU %",
        "drop %",
        "legit %",
        "legit ms",
        "ping %",
        "RSS MB",
        "reply B",
        "reply p",
        "log l/p",
        "load 1/5/15",
    );
    for r in rows {
        let failed = r.checks.iter().any(|c| c.pass == Some(false));
        let _ = writeln!(
            out,
            "{:<13} {:>8} {:>9} {:>6} {:>6} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>9} {:>17}  {}",
            r.attack,
            cell(r.rate, 0),
            cell(r.cpu_ms_per_packet, 4),
            cell(r.cpu_pct, 0),
            cell(r.drop_pct, 1),
            cell(r.legit_answered_pct, 1),
            cell(r.legit_median_ms, 2),
            cell(r.ping_loss_pct, 1),
            cell(r.rss_growth_mb, 1),
            cell(r.reply_bytes_ratio, 3),
            cell(r.reply_packets_ratio, 3),
            cell(r.log_lines_per_packet, 2),
            r.load,
            if failed { "FAIL" } else { "PASS" },
        );
    }
    let _ = writeln!(out, "\ntargets:");
    for r in rows {
        for c in &r.checks {
            let _ = writeln!(
                out,
                "  {:<13} {:<42} {:>10}  {:<10} {}",
                r.attack,
                c.name,
                cell(c.value, 4),
                c.limit,
                verdict(c.pass),
            );
        }
    }
    out
}

fn json_num(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "null".to_owned(), |v| format!("{v}"))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json(rows: &[Row], meta: &Run) -> String {
    let mut out = String::from("{");
    for key in ["commit", "cpu_model", "cores"] {
        let _ = write!(out, "{}:{},", json_str(key), json_str(meta.text(key)));
    }
    out.push_str("\"runs\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"attack\":{},\"target_rate\":{},\"rate\":{},\"sent\":{},\"cpu_s\":{},\"window_s\":{},\
             \"cpu_ms_per_packet\":{},\"cpu_ms_per_taken\":{},\"cpu_pct\":{},\"drop_pct\":{},\"legit_answered_pct\":{},\"legit_median_ms\":{},\
             \"ping_loss_pct\":{},\"rss_growth_mb\":{},\"reply_bytes_ratio\":{},\
             \"reply_packets_ratio\":{},\"link_bytes_ratio\":{},\"link_frames_ratio\":{},\
             \"log_lines_per_packet\":{},\"load\":{},\"checks\":[",
            json_str(&r.attack),
            json_num(r.target_rate),
            json_num(r.rate),
            json_num(r.sent),
            json_num(r.cpu_s),
            json_num(r.window_s),
            json_num(r.cpu_ms_per_packet),
            json_num(r.cpu_ms_per_taken),
            json_num(r.cpu_pct),
            json_num(r.drop_pct),
            json_num(r.legit_answered_pct),
            json_num(r.legit_median_ms),
            json_num(r.ping_loss_pct),
            json_num(r.rss_growth_mb),
            json_num(r.reply_bytes_ratio),
            json_num(r.reply_packets_ratio),
            json_num(r.link_bytes_ratio),
            json_num(r.link_frames_ratio),
            json_num(r.log_lines_per_packet),
            json_str(&r.load),
        );
        for (j, c) in r.checks.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"name\":{},\"value\":{},\"limit\":{},\"pass\":{}}}",
                json_str(c.name),
                json_num(c.value),
                json_str(&c.limit),
                c.pass.map_or("null", |p| if p { "true" } else { "false" }),
            );
        }
        out.push_str("],\"counters\":{");
        for (j, (name, value)) in r.counters.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:{}", json_str(name), json_num(Some(*value)));
        }
        out.push_str("}}");
    }
    out.push_str("]}");
    out
}

fn rows(runs: &[Run]) -> Vec<Row> {
    let baseline = runs
        .iter()
        .find(|r| r.text("attack") == "none")
        .and_then(cpu_rate);
    runs.iter().map(|r| row(r, baseline)).collect()
}

/// `flood report`: reads the run files, prints the table (and JSON with `--json`);
/// returns false when `--check` is given and a target failed.
pub(crate) fn run(o: &Options) -> Result<bool, String> {
    if o.positional.is_empty() {
        return Err("report: no run files".into());
    }
    let runs = o
        .positional
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| Run::parse(&t))
                .map_err(|e| format!("{p}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows = rows(&runs);
    if o.flag("json") {
        println!("{}", json(&rows, runs.first().unwrap_or(&Run::default())));
    } else {
        print!("{}", table(&rows));
    }
    let failed = rows
        .iter()
        .flat_map(|r| &r.checks)
        .any(|c| c.pass == Some(false));
    Ok(!(o.flag("check") && failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASELINE: &str = "attack=none\nsent=0\ncpu_ticks=10\nclk_tck=100\nwindow_ns=10000000000\n\
        probes=1000\nanswered=1000\nmedian_ms=0.4\nping_tx=200\nping_rx=200\n\
        rss_before_kb=10240\nhwm_after_kb=11264\n";

    #[test]
    fn a_slow_bad_mm3_fails_and_the_baseline_cpu_is_subtracted() {
        let attack = Run::parse(
            "attack=bad-mm3\ntarget_rate=5000\nrate=4990\nsent=50000\ncpu_ticks=1010\nclk_tck=100\n\
             window_ns=10000000000\nprobes=1000\nanswered=600\nmedian_ms=229\nping_tx=200\n\
             ping_rx=150\nrss_before_kb=10240\nhwm_after_kb=20480\nsent_bytes=30000000\n\
             reply_bytes=0\nreplies=0\nlog_lines=3\nrcvbuf_drops=40000\n",
        );
        let rows = rows(&[Run::parse(BASELINE), attack]);
        let r = &rows[1];
        // 10.1 s of CPU less 0.1 s/s of baseline over 10 s = 10 s for 50000 packets.
        assert!((r.cpu_ms_per_packet.unwrap() - 0.2).abs() < 1e-9);
        // The gateway took in 10000 of them: 1 ms each, the figure judged.
        assert!((r.cpu_ms_per_taken.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(r.drop_pct, Some(80.0));
        assert!((r.cpu_pct.unwrap() - 101.0).abs() < 1e-9);
        assert_eq!(r.legit_answered_pct, Some(60.0));
        assert_eq!(r.ping_loss_pct, Some(25.0));
        assert_eq!(r.rss_growth_mb, Some(10.0));
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| c.pass == Some(false))
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            [
                "CPU per bad MM3 taken in",
                "legit first messages answered within 1 s",
                "session ping loss"
            ]
        );
        assert!(rows[0].checks.iter().all(|c| c.pass == Some(true)));
    }

    #[test]
    fn amplification_rate_and_log_lines_are_judged() {
        let r = &rows(&[Run::parse(
            "attack=big-proposal\ntarget_rate=20\nrate=10\nsent=100\nlog_lines=198400\n\
             sent_bytes=1000\nreply_bytes=1500\nreplies=100\nif_rx_bytes=1000\nif_tx_bytes=1\n",
        )])[0];
        let verdicts: BTreeMap<&str, Option<bool>> =
            r.checks.iter().map(|c| (c.name, c.pass)).collect();
        assert_eq!(verdicts["rate achieved"], Some(false));
        assert_eq!(verdicts["reply bytes / attack bytes"], Some(false));
        assert_eq!(verdicts["reply packets / attack packets"], Some(true));
        assert_eq!(verdicts["log lines per message"], Some(false));
        assert_eq!(verdicts["RSS growth"], None, "missing figures are n/a");
        assert!((r.log_lines_per_packet.unwrap() - 1984.0).abs() < 1e-9);
        assert_eq!(
            r.link_bytes_ratio,
            Some(0.001),
            "the link's figures are kept apart"
        );
    }

    #[test]
    fn json_is_well_formed_enough_and_escapes() {
        let rows = rows(&[Run::parse(&format!(
            "{BASELINE}gw.dropped.ike_limited=7\ngw.peers=1\n"
        ))]);
        let meta = Run::parse("commit=04ec4e7\ncpu_model=AMD \"EPYC\"\n");
        let j = json(&rows, &meta);
        assert!(j.starts_with("{\"commit\":\"04ec4e7\",\"cpu_model\":\"AMD \\\"EPYC\\\"\""));
        assert!(j.contains("\"legit_answered_pct\":100"));
        assert!(j.contains("\"pass\":true"));
        assert!(j.ends_with("\"counters\":{\"dropped.ike_limited\":7,\"peers\":1}}]}"));
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
    }
}
