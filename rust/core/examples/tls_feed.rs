//! Differential driver for the TLS stage: reads cases from stdin (one command per line, made by
//! `tests_py/compare_tls.py`), feeds them to `Tls` and prints a text rendering of the result
//! that the Python side renders identically from `TlsSession.build`.
//!
//! ```text
//! C <midstream 0|1>                        new case
//! D <side> <t bits> <frame> <hex>          Tls::data
//! G <side> <nbytes> <t bits|N>             Tls::gap
//! A <kind> <side|N> <t bits|N> <hex>       a TCP anomaly for build
//! B <ip0> <port0> <ip1> <port1> <start bits> <end bits> <first_frame> <syn|N> <close side|N> <F|R>
//! T <hex>                                  render handshake::text(bytes)
//! ```
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use pcaptls_core::model::{CloseKind, ConnResult, Ip, SideAnomaly, TcpFacts};
use pcaptls_core::tls::{handshake, State, Tls};

fn unhex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    b.chunks(2)
        .map(|c| {
            let v = |x: u8| match x {
                b'0'..=b'9' => x - b'0',
                b'a'..=b'f' => x - b'a' + 10,
                _ => 0,
            };
            match c {
                [h, l] => (v(*h) << 4) | v(*l),
                _ => 0,
            }
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{:02x}", x);
    }
    s
}

fn fbits(s: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(s, 16).unwrap_or(0))
}

fn of(t: Option<f64>) -> String {
    t.map_or("N".to_string(), |t| format!("{:016x}", t.to_bits()))
}

fn on<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("N".to_string(), |v| v.to_string())
}

fn ints(v: &[u32]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn ip(i: &Ip) -> String {
    i.as_slice()
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn state(s: State) -> u8 {
    match s {
        State::Detect => 0,
        State::Records => 1,
        State::Resync => 2,
        State::Ignore => 3,
        State::Sslv2 => 4,
    }
}

fn kind(s: &str) -> &'static str {
    match s {
        "no_syn" => "no_syn",
        "retransmission" => "retransmission",
        _ => "other",
    }
}

fn render(c: &ConnResult, out: &mut String) {
    let _ = writeln!(out, "client {}:{}", ip(&c.client.0), c.client.1);
    let _ = writeln!(out, "server {}:{}", ip(&c.server.0), c.server.1);
    let _ = writeln!(
        out,
        "times {:016x} {:016x} {}",
        c.start.to_bits(),
        c.end.to_bits(),
        c.first_frame
    );
    let _ = writeln!(
        out,
        "sni {}",
        c.sni
            .as_ref()
            .map_or("N".to_string(), |s| hex(s.as_bytes()))
    );
    let _ = writeln!(out, "client_version {}", on(c.client_version));
    let _ = writeln!(out, "offered_versions {}", ints(&c.offered_versions));
    let _ = writeln!(out, "offered_ciphers {}", ints(&c.offered_ciphers));
    let _ = writeln!(out, "offered_groups {}", ints(&c.offered_groups));
    let _ = writeln!(out, "offered_sigalgs {}", ints(&c.offered_sigalgs));
    let alpn: Vec<String> = c.alpn_offered.iter().map(|s| hex(s.as_bytes())).collect();
    let _ = writeln!(out, "alpn_offered {}", alpn.join(","));
    let _ = writeln!(
        out,
        "alpn {}",
        c.alpn
            .as_ref()
            .map_or("N".to_string(), |s| hex(s.as_bytes()))
    );
    let _ = writeln!(
        out,
        "version {} cipher {}",
        on(c.version_id),
        on(c.cipher_id)
    );
    let _ = writeln!(out, "hello_retry {}", c.hello_retry);
    for (what, certs) in [
        ("server_cert", &c.server_certs),
        ("client_cert", &c.client_certs),
    ] {
        for d in certs.iter() {
            let _ = writeln!(out, "{} {}", what, hex(d));
        }
    }
    let _ = writeln!(out, "certificate_request {}", c.certificate_request);
    let _ = writeln!(out, "kex_group {}", on(c.kex_group));
    for a in &c.alerts {
        let _ = writeln!(
            out,
            "alert {:016x} {} {} {} {} {}",
            a.time.to_bits(),
            a.frame,
            a.sender.name(),
            on(a.level),
            on(a.code),
            a.encrypted
        );
    }
    for e in &c.handshake {
        let _ = writeln!(
            out,
            "event {:016x} {} {} {}",
            e.time.to_bits(),
            e.frame,
            e.sender.name(),
            e.htype
        );
    }
    let _ = writeln!(out, "closed_by {}", c.closed_by.map_or("N", |r| r.name()));
    let _ = writeln!(out, "close_kind {}", c.close_kind.map_or("N", |k| k.name()));
    let _ = writeln!(out, "starttls {}", c.starttls.unwrap_or("N"));
    let _ = writeln!(
        out,
        "flags {} {} {}",
        c.saw_syn, c.client_hello_seen, c.server_hello_seen
    );
    let _ = writeln!(out, "appdata {} {}", c.appdata.0, c.appdata.1);
    let _ = writeln!(
        out,
        "appdata_times {} {}",
        of(c.client_appdata_first),
        of(c.server_appdata_last)
    );
    for a in &c.anomalies {
        let _ = writeln!(
            out,
            "anomaly {} {} {} {}",
            a.kind,
            of(a.time),
            a.sender.map_or("N", |r| r.name()),
            a.detail
        );
    }
}

fn main() {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut tls = Tls::new(false);
    let mut tcp: Vec<SideAnomaly> = Vec::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split(' ').collect();
        let g = |i: usize| f.get(i).copied().unwrap_or("");
        match g(0) {
            "C" => {
                tls = Tls::new(g(1) == "1");
                tcp.clear();
            }
            "D" => tls.data(
                g(1).parse().unwrap_or(9),
                &unhex(g(4)),
                fbits(g(2)),
                g(3).parse().unwrap_or(0),
            ),
            "G" => {
                let t = if g(3) == "N" { None } else { Some(fbits(g(3))) };
                tls.gap(g(1).parse().unwrap_or(9), g(2).parse().unwrap_or(0), t)
            }
            "A" => tcp.push(SideAnomaly {
                kind: kind(g(1)),
                side: g(2).parse().ok(),
                time: if g(3) == "N" { None } else { Some(fbits(g(3))) },
                detail: String::from_utf8_lossy(&unhex(g(4))).into_owned(),
            }),
            "T" => {
                let _ = writeln!(
                    w,
                    "{}\n==END==",
                    hex(handshake::text(&unhex(g(1))).as_bytes())
                );
            }
            "B" => {
                let v4 = |s: &str| Ip::v4(&unhex(s));
                let ends = [
                    (v4(g(1)), g(2).parse().unwrap_or(0)),
                    (v4(g(3)), g(4).parse().unwrap_or(0)),
                ];
                let syn = g(8).parse().ok();
                let close = g(9).parse().ok().map(|s| {
                    (
                        s,
                        if g(10) == "R" {
                            CloseKind::Rst
                        } else {
                            CloseKind::Fin
                        },
                    )
                });
                let mut out = String::new();
                let _ = writeln!(
                    out,
                    "states {} {} reportable {} tls {}",
                    state(tls.state(0)),
                    state(tls.state(1)),
                    tls.reportable(),
                    tls.seen_tls()
                );
                let res = tls.build(TcpFacts {
                    ends,
                    start: fbits(g(5)),
                    end: fbits(g(6)),
                    first_frame: g(7).parse().unwrap_or(0),
                    syn_side: syn,
                    close,
                    close_frame: None,
                    close_time: None,
                    last_frame: 0,
                    anomalies: std::mem::take(&mut tcp),
                });
                render(&res, &mut out);
                let _ = writeln!(w, "{}==END==", out);
            }
            _ => {}
        }
    }
}
