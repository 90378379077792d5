//! Encrypted records kept for later decryption (`pcaptls/tls/sealed.py`, `SealedLog`).
//!
//! Only when the analysis has keys to try (the binding's `Scan(..., sealed=True)`): each
//! connection keeps a bounded copy of the records a key could open, numbered as their keys need,
//! and the hellos' randoms; Python decrypts them (`pcaptls.tls.unseal`). The same caps and
//! numbering as the reference, so both engines hand over the same bytes:
//!
//! - TLS 1.3: from the ServerHello on, every application_data record, numbered from the
//!   direction's first one (a client's 0-RTT records count);
//! - TLS <= 1.2: from the direction's first ChangeCipherSpec, every record from 0; handshake and
//!   alert bodies kept, application data only counted; a second ChangeCipherSpec ends it.
//!
//! The first `HEAD_RECORDS` records / `HEAD_BYTES` bytes are kept, then only records of at most
//! `SMALL` bytes, the last `TAIL` of them. A gap ends a direction's collection; a gap inside a
//! record drops that record.
#![forbid(unsafe_code)]

use crate::model::{Role, Sealed, SealedRecord};

pub const HEAD_RECORDS: usize = 32;
pub const HEAD_BYTES: usize = 32 << 10;
pub const SMALL: usize = 256;
pub const TAIL: usize = 8;
/// A ServerHello kept for its random and extensions; larger ones are not kept.
pub const MAX_HELLO: usize = 4096;

const CT_APPDATA: u8 = 23;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Mode {
    #[default]
    Off,
    Tls12,
    Tls13,
}

/// The record being copied.
#[derive(Debug)]
struct Pending {
    seq: u64,
    ct: u8,
    len: usize,
    buf: Vec<u8>,
    head: bool,
}

/// (seq, content type, time, frame, body)
type Kept = (u64, u8, f64, u64, Vec<u8>);

/// `SealedLog`: the collector of one connection.
#[derive(Debug, Default)]
pub struct SealedLog {
    mode: [Mode; 2],
    n: [u64; 2],
    head_n: [usize; 2],
    head_bytes: [usize; 2],
    pend: [Option<Pending>; 2],
    head: [Vec<Kept>; 2],
    tail: [Vec<Kept>; 2],
    client_random: Option<Vec<u8>>,
    server_hello: Option<Vec<u8>>,
}

fn idx(side: u8) -> usize {
    usize::from(side) & 1
}

impl SealedLog {
    pub fn new() -> SealedLog {
        SealedLog::default()
    }

    /// `hello`: a ClientHello's random (the first), a ServerHello's body (the last).
    pub fn hello(&mut self, client: bool, body: &[u8]) {
        if client {
            if self.client_random.is_none() && body.len() >= 34 {
                self.client_random = body.get(2..34).map(<[u8]>::to_vec);
            }
        } else if body.len() <= MAX_HELLO {
            self.server_hello = Some(body.to_vec());
        }
    }

    /// `start13`: a TLS 1.3 ServerHello; `appdata`: application_data records each side sent.
    pub fn start13(&mut self, appdata: [u64; 2]) {
        self.mode = [Mode::Tls13; 2];
        self.n = appdata;
    }

    /// `ccs`: a ChangeCipherSpec outside TLS 1.3.
    pub fn ccs(&mut self, side: u8) {
        let s = idx(side);
        if self.mode[s] == Mode::Off && self.n[s] == 0 && self.head[s].is_empty() {
            self.mode[s] = Mode::Tls12;
        } else {
            self.mode[s] = Mode::Off;
            self.pend[s] = None;
        }
    }

    /// `record`: a header whose body the reader passes over; true: copy the body.
    pub fn record(&mut self, side: u8, ct: u8, len: usize) -> bool {
        let s = idx(side);
        let mode = self.mode[s];
        if mode == Mode::Off || (mode == Mode::Tls13 && ct != CT_APPDATA) {
            return false;
        }
        let seq = self.n[s];
        self.n[s] = seq + 1;
        if mode == Mode::Tls12 && ct == CT_APPDATA {
            return false;
        }
        let head = self.head_n[s] < HEAD_RECORDS && self.head_bytes[s] + len <= HEAD_BYTES;
        if head {
            self.head_n[s] += 1;
            self.head_bytes[s] += len;
        } else if len > SMALL {
            return false;
        }
        self.pend[s] = Some(Pending {
            seq,
            ct,
            len,
            buf: Vec::with_capacity(len),
            head,
        });
        true
    }

    /// `body`: bytes of the body being copied.
    pub fn body(&mut self, side: u8, data: &[u8], t: f64, frame: u64) {
        let s = idx(side);
        let Some(p) = self.pend[s].as_mut() else {
            return;
        };
        let want = p.len - p.buf.len();
        p.buf.extend_from_slice(data.get(..want).unwrap_or(data));
        if p.buf.len() >= p.len {
            if let Some(p) = self.pend[s].take() {
                let kept = (p.seq, p.ct, t, frame, p.buf);
                if p.head {
                    self.head[s].push(kept);
                } else {
                    let tail = &mut self.tail[s];
                    tail.push(kept);
                    if tail.len() > TAIL {
                        tail.remove(0);
                    }
                }
            }
        }
    }

    pub fn copying(&self, side: u8) -> bool {
        self.pend[idx(side)].is_some()
    }

    /// `lost`: a gap inside the record passed over (`whole_stream` false) or elsewhere.
    pub fn lost(&mut self, side: u8, whole_stream: bool) {
        let s = idx(side);
        self.pend[s] = None;
        if whole_stream {
            self.mode[s] = Mode::Off;
        }
    }

    /// `result`: the carry (client's records, then server's); `None` when nothing was kept.
    pub fn result(&mut self, client_side: u8) -> Option<Box<Sealed>> {
        let c = idx(client_side);
        let mut records = Vec::new();
        for (side, role) in [(c, Role::Client), (1 - c, Role::Server)] {
            let head = std::mem::take(&mut self.head[side]);
            let tail = std::mem::take(&mut self.tail[side]);
            for (seq, ctype, time, frame, body) in head.into_iter().chain(tail) {
                records.push(SealedRecord {
                    sender: role,
                    seq,
                    ctype,
                    time,
                    frame,
                    body,
                });
            }
        }
        if records.is_empty() {
            return None;
        }
        Some(Box::new(Sealed {
            client_random: self.client_random.take(),
            server_hello: self.server_hello.take(),
            records,
        }))
    }
}

/// Mirrors `tests/tls/test_sealed.py`.
#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut SealedLog, side: u8, ct: u8, len: usize, frame: u64) {
        if s.record(side, ct, len) {
            s.body(side, &vec![7u8; len], frame as f64, frame);
        }
    }

    #[test]
    fn caps_numbering_and_epochs() {
        let mut s = SealedLog::new();
        s.hello(true, &[3u8; 40]);
        s.ccs(1); // TLS 1.2, server
        feed(&mut s, 1, 22, 40, 1); // Finished: seq 0, kept
        feed(&mut s, 1, 23, 100, 2); // application data: numbered, not kept
        for i in 0..40 {
            feed(&mut s, 1, 21, 26, 3 + i); // alerts: 31 more fill the head, 8 stay in the tail
        }
        s.ccs(1); // renegotiated keys: the collection ends
        feed(&mut s, 1, 21, 26, 99);
        s.start13([2, 0]); // a TLS 1.3 ServerHello (client sent 2 0-RTT records)
        feed(&mut s, 0, 21, 2, 100); // plaintext alert: not a protected record
        feed(&mut s, 0, 23, 40_000, 101); // beyond the head's bytes, not small: numbered only
        feed(&mut s, 0, 23, 30, 102);
        s.record(0, 23, 50); // cut by a gap inside it: lost
        s.body(0, &[1u8; 10], 103.0, 103);
        s.lost(0, false);
        feed(&mut s, 0, 23, 30, 104);
        let r = s.result(0).expect("records kept");
        let seqs: Vec<(Role, u64)> = r.records.iter().map(|x| (x.sender, x.seq)).collect();
        assert_eq!(&seqs[..2], &[(Role::Client, 3), (Role::Client, 5)]);
        let server: Vec<u64> = r
            .records
            .iter()
            .filter(|x| x.sender == Role::Server)
            .map(|x| x.seq)
            .collect();
        assert_eq!(server.len(), 32 + 8);
        assert_eq!(server[..2], [0, 2]);
        assert_eq!(server[32..], [34, 35, 36, 37, 38, 39, 40, 41]);
        assert_eq!(r.client_random.as_deref(), Some(&[3u8; 32][..]));
        assert_eq!(r.server_hello, None);
    }
}
