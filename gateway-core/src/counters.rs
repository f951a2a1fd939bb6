//! Counters for every dropped packet by reason, and a few events, exported by
//! `l2tpgw status` and the metrics endpoint. Names starting with a known drop reason are
//! reported as `dropped.<reason>`.

use std::collections::BTreeMap;

/// Counters by name. Incrementing allocates only the first time a name is seen.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    by_name: BTreeMap<&'static str, u64>,
}

/// Names that count events rather than drops.
const EVENTS: &[&str] = &[
    "sa_pairs_installed",
    "ike_sas_up",
    "l2tp_tunnels_up",
    "sessions_started",
    "sessions_ended",
    "sessions_replaced",
    "auth_failures",
    "dead_peers_released",
    "tcp_mss_clamped",
];

impl Counters {
    /// Adds one to `name`.
    pub fn bump(&mut self, name: &'static str) {
        *self.by_name.entry(name).or_insert(0) += 1;
    }

    /// Counts an ESP refusal under its metrics label.
    pub fn bump_esp(&mut self, e: esp::Error) {
        self.bump(match e.kind() {
            "unknown_spi" => "esp_unknown_spi",
            "replayed" => "esp_replayed",
            "bad_icv" => "esp_bad_icv",
            "bad_padding" => "esp_bad_padding",
            "truncated" => "esp_truncated",
            "seq_exhausted" => "esp_seq_exhausted",
            "bad_length" => "esp_bad_length",
            "bad_next_header" => "esp_bad_next_header",
            "buffer_too_small" => "esp_buffer_too_small",
            "payload_too_large" => "esp_payload_too_large",
            _ => "esp_other",
        });
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> u64 {
        self.by_name.get(name).copied().unwrap_or(0)
    }

    /// All counters, drops as `dropped.<reason>`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_name
            .iter()
            .map(|(k, v)| {
                let name = if EVENTS.contains(k) {
                    (*k).to_owned()
                } else {
                    format!("dropped.{k}")
                };
                (name, *v)
            })
            .collect()
    }
}
