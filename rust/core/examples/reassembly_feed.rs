//! Drives `tcp::reassembly::HalfStream` with operations read from stdin and prints every call it
//! makes to its consumer, for `tests_py/compare_reassembly.py` (which does the same with the
//! Python `HalfStream` and compares). One operation a line:
//!
//! ```text
//! C                                  new case (a fresh HalfStream); echoed
//! S <seq>                            syn(seq)
//! G <seq> <hex|-> <missing> <t> <frame>   segment (t as the f64's bits in hex)
//! A <ack>                            ack(ack)
//! K <t|N>                            skip_hole(t or None)
//! F                                  flush()
//! E                                  print the state: Z next acked ooo_bytes retransmitted gaps
//!                                    gap_bytes delivered, then the waiting seqs in order
//! ```
//!
//! Calls come out as `D <hex> <t> <frame>` (data) and `P <n> <t|N>` (gap).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{self, BufRead, BufWriter, Write};

use pcaptls_core::tcp::reassembly::{Consumer, HalfStream};

struct Recorder {
    out: String,
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".to_string();
    }
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

impl Consumer for Recorder {
    fn data(&mut self, chunk: &[u8], t: f64, frame: u64) {
        let _ = writeln!(self.out, "D {} {:x} {}", hex(chunk), t.to_bits(), frame);
    }
    fn gap(&mut self, n: u64, t: Option<f64>) {
        match t {
            Some(t) => {
                let _ = writeln!(self.out, "P {} {:x}", n, t.to_bits());
            }
            None => {
                let _ = writeln!(self.out, "P {n} N");
            }
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

fn float(s: &str) -> Option<f64> {
    if s == "N" {
        None
    } else {
        u64::from_str_radix(s, 16).ok().map(f64::from_bits)
    }
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "N".to_string(), |x| x.to_string())
}

fn main() {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut h = HalfStream::new();
    let mut rec = Recorder { out: String::new() };
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        match f.first().copied() {
            Some("C") => {
                h = HalfStream::new();
                rec.out.push_str("C\n");
            }
            Some("S") => h.syn(num(1) as u32),
            Some("G") => {
                let payload = unhex(f.get(2).copied().unwrap_or("-"));
                let t = float(f.get(4).copied().unwrap_or("0")).unwrap_or(0.0);
                h.segment(&mut rec, num(1) as u32, &payload, num(3) as u32, t, num(5));
            }
            Some("A") => h.ack(&mut rec, num(1) as u32),
            Some("K") => h.skip_hole(&mut rec, float(f.get(1).copied().unwrap_or("N"))),
            Some("F") => h.flush(&mut rec),
            Some("E") => {
                let seqs: Vec<String> = h.ooo.iter().map(|w| w.seq.to_string()).collect();
                let _ = writeln!(
                    rec.out,
                    "Z {} {} {} {} {} {} {} [{}]",
                    opt(h.next),
                    opt(h.acked),
                    h.ooo_bytes,
                    h.retransmitted,
                    h.gaps,
                    h.gap_bytes,
                    h.delivered,
                    seqs.join(",")
                );
            }
            _ => {}
        }
        if rec.out.len() > 1 << 16 {
            let _ = out.write_all(rec.out.as_bytes());
            rec.out.clear();
        }
    }
    let _ = out.write_all(rec.out.as_bytes());
    let _ = out.flush();
}
