//! A tiny UDP helper the interop harness runs inside its network namespaces (the test
//! process itself stays in the host namespace and has no unsafe `setns`):
//!
//! * `interop_udp sink ADDR:PORT TIMEOUT_SECS OUT_FILE`: binds, waits for one datagram,
//!   writes it to OUT_FILE and its source to OUT_FILE.from; exit 0, or 3 on timeout.
//!   Stands in for a gateway that is not there, to catch a client's first IKE message.
//! * `interop_udp probe ADDR:PORT TIMEOUT_SECS MM1_HEX_FILE`: sends the Main Mode message
//!   1 from the file (with a fresh initiator cookie) and waits for a Main Mode message 2
//!   that echoes the cookie; exit 0 if one came, 3 if nothing came, 4 if the answer is
//!   not a valid message 2.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use tests::interop::isakmp;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["sink", addr, secs, out] => sink(addr, secs, out),
        ["probe", addr, secs, mm1] => probe(addr, secs, mm1),
        _ => Err(
            "usage: interop_udp sink ADDR:PORT SECS OUT | probe ADDR:PORT SECS MM1_HEX".to_owned(),
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("interop_udp: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse(addr: &str, secs: &str) -> Result<(SocketAddr, Duration), String> {
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let secs: u64 = secs.parse().map_err(|e| format!("{secs}: {e}"))?;
    Ok((addr, Duration::from_secs(secs.max(1))))
}

fn sink(addr: &str, secs: &str, out: &str) -> Result<u8, String> {
    let (addr, timeout) = parse(addr, secs)?;
    let socket = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    match socket.recv_from(&mut buf) {
        Ok((n, from)) => {
            let data = buf.get(..n).unwrap_or_default();
            std::fs::write(out, data).map_err(|e| format!("{out}: {e}"))?;
            std::fs::write(format!("{out}.from"), from.to_string())
                .map_err(|e| format!("{out}.from: {e}"))?;
            println!("received {n} bytes from {from}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("no datagram within {timeout:?}: {e}");
            Ok(3)
        }
    }
}

fn probe(addr: &str, secs: &str, mm1: &str) -> Result<u8, String> {
    let (addr, timeout) = parse(addr, secs)?;
    let text = std::fs::read_to_string(mm1).map_err(|e| format!("{mm1}: {e}"))?;
    let mut msg = isakmp::from_hex(&text).ok_or("bad hex in the message file")?;
    // A fresh initiator cookie per probe, so a gateway never takes it for a retransmission.
    let cookie = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    msg.get_mut(..8)
        .ok_or("message shorter than a header")?
        .copy_from_slice(&cookie.to_be_bytes());
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket
        .send_to(&msg, addr)
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = vec![0u8; 65536];
    let (n, from) = match socket.recv_from(&mut buf) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("no answer from {addr} within {timeout:?}: {e}");
            return Ok(3);
        }
    };
    let reply = buf.get(..n).unwrap_or_default();
    match isakmp::decode_main_mode_sa(reply) {
        Ok(mm2)
            if mm2.header.initiator_cookie == cookie.to_be_bytes()
                && mm2.header.responder_cookie != [0; 8]
                && mm2.transforms.len() == 1 =>
        {
            println!(
                "Main Mode message 2 from {from}: chose {}",
                mm2.transforms
                    .first()
                    .map(isakmp::Transform::strongswan_name)
                    .unwrap_or_default()
            );
            Ok(0)
        }
        Ok(mm2) => {
            eprintln!("answer from {from} is not a valid message 2 for our cookie: {mm2:?}");
            Ok(4)
        }
        Err(e) => {
            eprintln!("answer from {from} ({n} bytes) does not decode as Main Mode: {e}");
            Ok(4)
        }
    }
}
