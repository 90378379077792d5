//! Drives `tcp::flows::FlowTable` (with a recording TLS double) with operations read from stdin
//! and prints each finished connection, for `tests_py/compare_flows.py` (which runs the Python
//! `FlowTable` with the same double and compares). One operation a line:
//!
//! ```text
//! C <shares>                                        new case (a fresh table); echoed
//! G <src> <dst> <sport> <dport> <seq> <ack> <flags> <hex|-> <missing> <t> <frame>
//! W <now>                                           sweep(now)
//! X                                                 close_all()
//! E                                                 counters: Z packets connections evicted entries
//! ```
//!
//! `src`/`dst` are IPv4 addresses as one u32; times are f64 bits in hex. A result is printed as
//! `R <text>`, where the double's `build` made the text (ends, times, sides, anomalies, and
//! everything the two record readers received).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{self, BufRead, BufWriter, Write};

use pcaptls_core::capture::Segment;
use pcaptls_core::model::{ConnResult, Ip, TcpFacts};
use pcaptls_core::tcp::flows::{FlowTable, TlsLayer};
use pcaptls_core::tls::State;

fn fb(t: f64) -> String {
    format!("{:x}", t.to_bits())
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// The double: a side whose first byte is 'X' is not TLS (IGNORE); a connection is reportable
/// when side 0's first byte is not 'N' and something arrived.
struct Double {
    midstream: bool,
    first: [Option<u8>; 2],
    log: String,
}

impl TlsLayer for Double {
    fn start(midstream: bool) -> Self {
        Double {
            midstream,
            first: [None, None],
            log: String::new(),
        }
    }
    fn data(&mut self, side: usize, chunk: &[u8], t: f64, frame: u64) {
        if let Some(f) = self.first.get_mut(side) {
            if f.is_none() {
                *f = chunk.first().copied();
            }
        }
        let _ = write!(self.log, " d{side}:{}:{}:{frame}", hex(chunk), fb(t));
    }
    fn gap(&mut self, side: usize, nbytes: u64, t: Option<f64>) {
        if let Some(f) = self.first.get_mut(side) {
            if f.is_none() {
                *f = Some(b'?');
            }
        }
        let _ = write!(
            self.log,
            " g{side}:{nbytes}:{}",
            t.map_or_else(|| "N".to_string(), fb)
        );
    }
    fn state(&self, side: usize) -> State {
        if self.first.get(side).copied().flatten() == Some(b'X') {
            State::Ignore
        } else {
            State::Records
        }
    }
    fn settle(&mut self) {
        self.log.push_str(" settle");
    }
    fn reportable(&self) -> bool {
        self.first[0] != Some(b'N') && (self.first[0].is_some() || self.first[1].is_some())
    }
    fn build(&mut self, tcp: TcpFacts) -> ConnResult {
        let TcpFacts {
            ends,
            start,
            end,
            first_frame,
            syn_side,
            close,
            last_frame,
            anomalies: tcp_anomalies,
            ..
        } = tcp;
        let ip = |i: &Ip| {
            i.as_slice()
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(".")
        };
        let mut s = format!(
            "{}:{} {}:{} {} {} {} {} {} {} {}",
            ip(&ends[0].0),
            ends[0].1,
            ip(&ends[1].0),
            ends[1].1,
            fb(start),
            fb(end),
            first_frame,
            last_frame,
            syn_side.map_or_else(|| "N".to_string(), |s| s.to_string()),
            close.map_or_else(|| "N".to_string(), |(s, k)| format!("{s}{}", k.name())),
            if self.midstream { "mid" } else { "syn" },
        );
        for a in &tcp_anomalies {
            let _ = write!(
                s,
                " A[{}|{}|{}|{}]",
                a.kind,
                a.detail,
                a.time.map_or_else(|| "N".to_string(), fb),
                a.side.map_or_else(|| "N".to_string(), |x| x.to_string())
            );
        }
        s.push_str(&self.log);
        ConnResult {
            client: ends[0],
            server: ends[1],
            start,
            end,
            first_frame,
            sni: Some(s),
            client_version: None,
            offered_versions: vec![],
            offered_ciphers: vec![],
            offered_groups: vec![],
            offered_sigalgs: vec![],
            alpn_offered: vec![],
            alpn: None,
            version_id: None,
            cipher_id: None,
            hello_retry: false,
            server_certs: vec![],
            client_certs: vec![],
            certificate_request: false,
            kex_group: None,
            alerts: vec![],
            handshake: vec![],
            closed_by: None,
            close_kind: None,
            starttls: None,
            saw_syn: false,
            client_hello_seen: false,
            server_hello_seen: false,
            appdata: (0, 0),
            client_appdata_first: None,
            server_appdata_last: None,
            client_extensions: vec![],
            client_point_formats: vec![],
            client_hello_sslv2: false,
            server_legacy_version: None,
            server_extensions: vec![],
            session_id_echoed: false,
            ticket_offered: false,
            close_frame: None,
            close_time: None,
            last_frame: 0,
            anomalies: vec![],
            sealed: None,
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2))
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect()
}

fn float(s: &str) -> f64 {
    u64::from_str_radix(s, 16)
        .map(f64::from_bits)
        .unwrap_or(0.0)
}

fn main() {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut ft: FlowTable<Double> = FlowTable::with_layer(1);
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let field = |i: usize| f.get(i).copied().unwrap_or("-");
        match f.first().copied() {
            Some("C") => {
                ft = FlowTable::with_layer(num(1) as usize);
                let _ = writeln!(out, "C");
            }
            Some("G") => {
                let payload = unhex(field(8));
                let seg = Segment {
                    src: Ip::v4(&(num(1) as u32).to_be_bytes()),
                    dst: Ip::v4(&(num(2) as u32).to_be_bytes()),
                    sport: num(3) as u16,
                    dport: num(4) as u16,
                    seq: num(5) as u32,
                    ack: num(6) as u32,
                    flags: num(7) as u8,
                    payload: &payload,
                    missing: num(9) as u32,
                };
                ft.segment(&seg, float(field(10)), num(11));
            }
            Some("W") => ft.sweep(float(field(1))),
            Some("X") => ft.close_all(),
            Some("E") => {
                let _ = writeln!(
                    out,
                    "Z {} {} {} {}",
                    ft.packets,
                    ft.connections,
                    ft.evicted,
                    ft.entries()
                );
            }
            _ => {}
        }
        for r in ft.done.drain(..) {
            let _ = writeln!(out, "R {}", r.sni.unwrap_or_default());
        }
    }
    let _ = out.flush();
}
