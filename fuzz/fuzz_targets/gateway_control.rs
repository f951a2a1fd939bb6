//! The local control surfaces: the status socket's request line, the metrics endpoint's
//! HTTP request head, and on the client side (`l2tpgw status`) the JSON report read
//! back, rendered as the table and as Prometheus text. Nothing may panic; a request
//! routed to the metrics is a GET; every Prometheus line is a comment or a sample of an
//! `l2tpgw_` family (label values escaped: no name can start a line of its own).
#![no_main]

use gateway::io::control::{http_head_complete, is_metrics_request, parse_status_request};
use gateway::status::Render as _;
use gateway_core::status::StatusReport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let _ = parse_status_request(&line);

    let head = &data[..data.len().min(2048)];
    let _ = http_head_complete(head);
    if is_metrics_request(head) {
        assert!(
            String::from_utf8_lossy(head)
                .trim_start()
                .starts_with("GET")
        );
    }

    if let Ok(report) = serde_json::from_slice::<StatusReport>(data) {
        let _ = report.to_table();
        for detailed in [false, true] {
            for l in report.to_prometheus_with(detailed).split('\n') {
                assert!(
                    l.is_empty() || l.starts_with('#') || l.starts_with("l2tpgw_"),
                    "{l:?}"
                );
            }
        }
    }
});
