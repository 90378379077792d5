//! One direction of a TCP stream -> TLS records -> handshake messages, alerts, CCS
//! (`pcaptls/tls/records.py`, `RecordReader`).
//!
//! Fed the direction's in-order bytes (and told about gaps), it finds where TLS starts (first
//! byte, after STARTTLS, or by resynchronising on record headers), reassembles handshake
//! messages across records and reports to the connection's `Session` (the Python listener).
//! Memory is bounded as in Python: application-data and sealed record bodies are skipped by
//! count (here not even copied: records are read straight from the chunk when nothing waits),
//! a handshake message may grow to `MAX_HANDSHAKE`, plaintext is scanned up to `DETECT_LIMIT`.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fmt::Write as _;

use super::session::Session;
use super::State;

/// RFC 5246 6.2.3: ciphertext may exceed 2^14 by 2048.
pub const MAX_RECORD: usize = (1 << 14) + 2048;
/// 512 KiB: far above real certificate chains, small enough to bound memory.
pub const MAX_HANDSHAKE: usize = 1 << 19;
/// Plaintext scanned for the start of TLS before giving up on a direction.
pub const DETECT_LIMIT: usize = 1 << 16;

/// An emptied buffer keeps at most this much allocated (Rust-only: no effect on results).
const KEEP_CAPACITY: usize = 4096;

pub const CT_CCS: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APPDATA: u8 = 23;
pub const CT_HEARTBEAT: u8 = 24;

fn byte(b: &[u8], i: usize) -> usize {
    usize::from(b.get(i).copied().unwrap_or(0))
}

/// `_plausible_start`: is there a TLS record header at `b[i]`? `strict`: only a handshake
/// record holding a ClientHello or ServerHello (how TLS starts on a fresh stream or after
/// STARTTLS); otherwise any record type, as when resynchronising.
pub fn plausible_start(b: &[u8], i: usize, strict: bool) -> bool {
    let s = match b.get(i..) {
        Some(s) if s.len() >= 5 => s,
        _ => return false,
    };
    let n = s.len();
    let ct = byte(s, 0);
    if byte(s, 1) != 3 || byte(s, 2) > 4 {
        return false;
    }
    let ln = (byte(s, 3) << 8) | byte(s, 4);
    if ln == 0 || ln > MAX_RECORD {
        return false;
    }
    if strict {
        if ct != usize::from(CT_HANDSHAKE) || n < 6 || !matches!(byte(s, 5), 1 | 2) {
            return false;
        }
        if n >= 9 {
            let hlen = (byte(s, 6) << 16) | (byte(s, 7) << 8) | byte(s, 8);
            // Shorter than the fixed fields of a hello: not one. (A huge claimed length is
            // still TLS, and is reported as capped rather than ignored.)
            if hlen < 38 {
                return false;
            }
            if n >= 11 && !matches!(byte(s, 9), 2 | 3 | 0x7F | 0xFE) {
                return false;
            }
        }
        return true;
    }
    if ct < usize::from(CT_CCS) || ct > usize::from(CT_HEARTBEAT) {
        return false;
    }
    let nxt = 5 + ln;
    if n >= nxt + 3 {
        // confirm with the following header when it is there
        let c = byte(s, nxt);
        return (usize::from(CT_CCS)..=usize::from(CT_HEARTBEAT)).contains(&c)
            && byte(s, nxt + 1) == 3
            && byte(s, nxt + 2) <= 4;
    }
    true
}

/// `_sslv2_hello`: SSLv2-compatible ClientHello (2-byte header, msg type 1) or SSLv2
/// ServerHello (type 4).
pub fn sslv2_hello(b: &[u8]) -> bool {
    if b.len() < 5 || byte(b, 0) & 0x80 == 0 {
        return false;
    }
    let ln = ((byte(b, 0) & 0x7F) << 8) | byte(b, 1);
    if ln < 9 {
        return false;
    }
    match byte(b, 2) {
        1 => (byte(b, 3) == 0 && byte(b, 4) == 2) || (byte(b, 3) == 3 && byte(b, 4) <= 4),
        4 if b.len() >= 7 => byte(b, 5) == 0 && byte(b, 6) == 2,
        _ => false,
    }
}

/// The bytes waiting in the reader followed by the new chunk, read as one buffer without
/// joining them (Python's `buf += chunk`, minus the copy).
#[derive(Clone, Copy)]
struct Cat<'a> {
    a: &'a [u8],
    b: &'a [u8],
}

impl<'a> Cat<'a> {
    fn len(&self) -> usize {
        self.a.len() + self.b.len()
    }
    fn at(&self, i: usize) -> usize {
        match i.checked_sub(self.a.len()) {
            None => byte(self.a, i),
            Some(k) => byte(self.b, k),
        }
    }
    fn slice(&self, i: usize, j: usize) -> Cow<'a, [u8]> {
        let la = self.a.len();
        if j <= la {
            Cow::Borrowed(self.a.get(i..j).unwrap_or(&[]))
        } else if i >= la {
            Cow::Borrowed(self.b.get(i - la..j - la).unwrap_or(&[]))
        } else {
            let mut v = Vec::with_capacity(j - i);
            v.extend_from_slice(self.a.get(i..).unwrap_or(&[]));
            v.extend_from_slice(self.b.get(..j - la).unwrap_or(&[]));
            Cow::Owned(v)
        }
    }
}

/// `buf = (buf + chunk)[pos:]`, copying only what stays.
fn keep_from(buf: &mut Vec<u8>, chunk: &[u8], pos: usize) {
    if pos <= buf.len() {
        buf.drain(..pos);
        buf.extend_from_slice(chunk);
    } else {
        let k = pos - buf.len();
        buf.clear();
        buf.extend_from_slice(chunk.get(k..).unwrap_or(&[]));
    }
}

enum Stop {
    /// The loop ran out of whole records; everything before `pos` is consumed.
    Done(usize),
    /// The header at `pos` is not a record header (anomaly already reported).
    Desync(usize),
}

/// `RecordReader`: the TLS record layer of one direction of one connection.
#[derive(Debug)]
pub struct RecordReader {
    pub side: u8,
    pub state: State,
    pub buf: Vec<u8>,
    /// Bytes of the current record body still to pass over unbuffered.
    pub skip: u64,
    /// Handshake-layer bytes not yet forming a whole message.
    pub hs: Vec<u8>,
    /// A message exceeded the cap or was lost: stop collecting.
    pub hs_dead: bool,
    /// After this side's ChangeCipherSpec (TLS <= 1.2).
    pub encrypted: bool,
    pub detected: bool,
    pub scanned: u64,
    pub strict: bool,
    pub records: u64,
}

impl RecordReader {
    pub fn new(side: u8, midstream: bool) -> RecordReader {
        RecordReader {
            side,
            state: if midstream {
                State::Resync
            } else {
                State::Detect
            },
            buf: Vec::new(),
            skip: 0,
            hs: Vec::new(),
            hs_dead: false,
            encrypted: false,
            detected: false,
            scanned: 0,
            strict: !midstream,
            records: 0,
        }
    }

    /// `RecordReader.data`: in-order bytes that arrived in `frame` at time `t`.
    pub fn data(&mut self, sess: &mut Session, chunk: &[u8], t: f64, frame: u64) {
        let mut chunk = chunk;
        let skip = self.skip;
        if skip != 0 {
            let n = chunk.len() as u64;
            if n <= skip {
                // hot path: inside an application-data record
                self.skip = skip - n;
                if let Some(s) = sess.sealed.as_deref_mut() {
                    if s.copying(self.side) {
                        s.body(self.side, chunk, t, frame);
                    }
                }
                return;
            }
            if let Some(s) = sess.sealed.as_deref_mut() {
                if s.copying(self.side) {
                    s.body(
                        self.side,
                        chunk.get(..skip as usize).unwrap_or(&[]),
                        t,
                        frame,
                    );
                }
            }
            chunk = chunk.get(skip as usize..).unwrap_or(&[]);
            self.skip = 0;
        }
        match self.state {
            State::Records => self.records(sess, chunk, t, frame),
            State::Ignore => {}
            State::Sslv2 => {
                self.buf.extend_from_slice(chunk);
                if self.buf.len() > MAX_RECORD * 2 {
                    self.buf.clear();
                }
                self.sslv2_records(sess, t, frame);
            }
            State::Detect | State::Resync => {
                let start = self.buf.len();
                self.buf.extend_from_slice(chunk);
                if self.search(sess, start, chunk.len(), t, frame) {
                    self.records(sess, &[], t, frame);
                }
            }
        }
    }

    /// `RecordReader.gap`: `nbytes` of this direction were not captured.
    pub fn gap(&mut self, sess: &mut Session, nbytes: u64, t: Option<f64>) {
        if self.state == State::Ignore {
            return;
        }
        if self.skip >= nbytes {
            // the hole is inside a record we were skipping anyway
            self.skip -= nbytes;
            if let Some(s) = sess.sealed.as_deref_mut() {
                s.lost(self.side, false);
            }
            return;
        }
        if let Some(s) = sess.sealed.as_deref_mut() {
            s.lost(self.side, true);
        }
        if self.state == State::Records || self.detected {
            sess.on_anomaly(
                self.side,
                "gap",
                format!(
                    "{} bytes not captured; resynchronising on the next record",
                    nbytes
                ),
                t,
            );
            if !self.hs.is_empty() {
                sess.on_anomaly(
                    self.side,
                    "lost_handshake",
                    "a handshake message was cut by the gap".to_string(),
                    t,
                );
            }
        }
        self.skip = 0;
        self.buf.clear();
        self.hs.clear();
        if self.state == State::Records {
            self.state = State::Resync;
        }
        if self.detected {
            self.strict = false;
        }
    }

    /// Drop the buffers (`Connection.settle`): no more bytes come.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.hs = Vec::new();
    }

    // -- finding TLS ----------------------------------------------------------------------

    /// `_search`, with the chunk already appended to `buf` at `start` (`chunk_len` bytes).
    /// Returns true when TLS records start at `buf[0]` and `_records` is to run next (Python
    /// calls it from here; the caller does, so a desync/resync chain is a loop, not recursion).
    fn search(
        &mut self,
        sess: &mut Session,
        start: usize,
        chunk_len: usize,
        t: f64,
        frame: u64,
    ) -> bool {
        let strict = self.state == State::Detect && self.strict;
        if strict && self.scanned == 0 {
            if sslv2_hello(&self.buf) {
                return self.sslv2(sess, t, frame);
            }
            // The peer already speaks TLS: this side may answer with any record (an alert).
            if sess.tls && plausible_start(&self.buf, 0, false) {
                self.start(sess, 0, t);
                return true;
            }
        }
        // A header may straddle the previous chunk's end, or be one we waited on: look back.
        let mut i = start.saturating_sub(10);
        loop {
            // the version's major byte; the content type sits before it
            let from = i + 1;
            let found = self.buf.get(from..).and_then(|s| memchr::memchr(3, s));
            let Some(k) = found else { break };
            i = from + k;
            let j = i - 1; // i >= 1
            if plausible_start(&self.buf, j, strict) {
                if self.buf.len() - j < 11 && strict {
                    return false; // not enough to judge yet; wait for more bytes
                }
                self.start(sess, j, t);
                return true;
            }
        }
        self.scanned = self.scanned.saturating_add(chunk_len as u64);
        if self.state == State::Detect && self.scanned > DETECT_LIMIT as u64 {
            self.state = State::Ignore;
            self.buf = Vec::new();
            return false;
        }
        // Keep only what may hold the start of a header; remember plaintext for STARTTLS naming.
        if self.state == State::Resync {
            let cut = self.buf.len().saturating_sub(4);
            self.buf.drain(..cut);
        } else if self.buf.len() > DETECT_LIMIT {
            let cut = self.buf.len() - DETECT_LIMIT;
            self.buf.drain(..cut);
        }
        if self.buf.capacity() > 4 * MAX_RECORD && self.buf.len() < MAX_RECORD {
            self.buf.shrink_to(MAX_RECORD);
        }
        false
    }

    /// `_start`
    fn start(&mut self, sess: &mut Session, offset: usize, t: f64) {
        if self.state == State::Detect {
            sess.on_tls_start(self.side, self.buf.get(..offset).unwrap_or(&[]));
        } else if self.detected {
            sess.on_anomaly(
                self.side,
                "resync",
                "resynchronised on a record header".to_string(),
                Some(t),
            );
        } else {
            sess.on_tls_start(self.side, &[]);
        }
        self.detected = true;
        self.buf.drain(..offset.min(self.buf.len()));
        self.state = State::Records;
    }

    /// `_sslv2`: the stream starts with an SSLv2-format hello. Returns true when TLS records
    /// follow it (a TLS client that only wrapped its hello in SSLv2).
    fn sslv2(&mut self, sess: &mut Session, t: f64, frame: u64) -> bool {
        let b = &self.buf;
        let ln = ((byte(b, 0) & 0x7F) << 8) | byte(b, 1);
        if b.len() < 2 + ln {
            return false; // wait for the whole hello
        }
        sess.on_tls_start(self.side, &[]);
        self.detected = true;
        // A real SSL 2.0 peer (version 0x0002, or any SERVER-HELLO) goes on in SSLv2 records;
        // a TLS client that only wrapped its hello in SSLv2 goes on with TLS records.
        let v2 = byte(b, 2) == 4 || (byte(b, 3) == 0 && byte(b, 4) == 2);
        if v2 {
            self.state = State::Sslv2;
            self.sslv2_records(sess, t, frame);
            return false;
        }
        self.state = State::Records;
        sess.on_sslv2(self.side, self.buf.get(2..2 + ln).unwrap_or(&[]), t, frame);
        self.buf.drain(..2 + ln);
        true
    }

    /// `_sslv2_records`: 2- or 3-byte SSLv2 record headers; the first two records (hellos,
    /// master key) are in clear.
    fn sslv2_records(&mut self, sess: &mut Session, t: f64, frame: u64) {
        let buf = &self.buf;
        let n = buf.len();
        let mut pos = 0usize;
        while n - pos >= 3 {
            let (ln, hdr) = if byte(buf, pos) & 0x80 != 0 {
                (((byte(buf, pos) & 0x7F) << 8) | byte(buf, pos + 1), 2)
            } else {
                (((byte(buf, pos) & 0x3F) << 8) | byte(buf, pos + 1), 3)
            };
            if n - pos - hdr < ln {
                break;
            }
            if self.records < 2 {
                sess.on_sslv2(
                    self.side,
                    buf.get(pos + hdr..pos + hdr + ln).unwrap_or(&[]),
                    t,
                    frame,
                );
            }
            self.records += 1;
            pos += hdr + ln;
        }
        if pos != 0 {
            self.buf.drain(..pos);
        }
    }

    // -- records ---------------------------------------------------------------------------

    /// Python's `self.buf += chunk; self._records(t, frame)`, including the desync path that
    /// re-feeds `buf[1:]` to `_search` (and, when that finds a header, `_records` again).
    fn records(&mut self, sess: &mut Session, chunk: &[u8], t: f64, frame: u64) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut chunk = chunk;
        loop {
            match self.record_loop(sess, Cat { a: &buf, b: chunk }, t, frame) {
                Stop::Done(pos) => {
                    keep_from(&mut buf, chunk, pos);
                    if buf.is_empty() && buf.capacity() > KEEP_CAPACITY {
                        buf = Vec::new(); // a long record was buffered: don't hold its memory
                    }
                    self.buf = buf;
                    return;
                }
                Stop::Desync(pos) => {
                    self.state = State::Resync;
                    self.hs.clear();
                    keep_from(&mut buf, chunk, pos + 1); // head = buf[1:]
                    chunk = &[];
                    self.buf = buf;
                    if self.buf.is_empty() {
                        return;
                    }
                    let len = self.buf.len();
                    if !self.search(sess, 0, len, t, frame) {
                        return;
                    }
                    buf = std::mem::take(&mut self.buf);
                }
            }
        }
    }

    /// The `while` loop of `_records` over `cat` (waiting bytes + new chunk).
    fn record_loop(&mut self, sess: &mut Session, cat: Cat<'_>, t: f64, frame: u64) -> Stop {
        let n = cat.len();
        let side = self.side;
        let mut pos = 0usize;
        while n - pos >= 5 {
            let ct = cat.at(pos) as u8;
            let ln = (cat.at(pos + 3) << 8) | cat.at(pos + 4);
            if !(CT_CCS..=CT_HEARTBEAT).contains(&ct) || cat.at(pos + 1) != 3 || ln > MAX_RECORD {
                let mut hex = String::with_capacity(10);
                for k in pos..pos + 5 {
                    let _ = write!(hex, "{:02x}", cat.at(k));
                }
                sess.on_anomaly(
                    side,
                    "desync",
                    format!("bytes {} are not a TLS record header", hex),
                    Some(t),
                );
                return Stop::Desync(pos);
            }
            let body_at = pos + 5;
            let have = n - body_at;
            self.records += 1;
            // `RecordReader.tls13` is set on both readers exactly when the session's flag is.
            let sealed = self.encrypted && !sess.version13;
            if ct == CT_APPDATA
                || ct == CT_HEARTBEAT
                || (ct == CT_HANDSHAKE && sealed)
                || (ct == CT_ALERT && (ln != 2 || sealed))
            {
                // Only the header matters: the body is passed over without being buffered.
                if ct == CT_APPDATA {
                    sess.on_appdata(side, t);
                } else if ct == CT_HEARTBEAT {
                    sess.on_anomaly(
                        side,
                        "heartbeat",
                        format!("heartbeat record of {} bytes", ln),
                        Some(t),
                    );
                } else if ct == CT_ALERT {
                    sess.on_alert(side, None, None, t, frame);
                }
                if let Some(s) = sess.sealed.as_deref_mut() {
                    if s.record(side, ct, ln) {
                        s.body(side, &cat.slice(body_at, body_at + have.min(ln)), t, frame);
                    }
                }
                if have < ln {
                    self.skip = (ln - have) as u64;
                    return Stop::Done(n);
                }
                pos = body_at + ln;
                continue;
            }
            if have < ln {
                if ct == CT_HANDSHAKE && !self.hs_dead && self.hs.len() + ln > MAX_HANDSHAKE {
                    self.cap(sess, t);
                }
                break;
            }
            pos = body_at + ln;
            if ct == CT_HANDSHAKE {
                let body = cat.slice(body_at, pos);
                self.handshake(sess, &body, t, frame);
            } else if ct == CT_ALERT {
                sess.on_alert(
                    side,
                    Some(cat.at(body_at) as u8),
                    Some(cat.at(body_at + 1) as u8),
                    t,
                    frame,
                );
            } else if ct == CT_CCS {
                if !sess.version13 {
                    self.encrypted = true;
                }
                sess.on_ccs(side, t, frame);
            }
        }
        Stop::Done(pos)
    }

    /// `_cap`
    fn cap(&mut self, sess: &mut Session, t: f64) {
        self.hs_dead = true;
        self.hs = Vec::new();
        sess.on_anomaly(
            self.side,
            "cap",
            format!("handshake data beyond {} bytes not kept", MAX_HANDSHAKE),
            Some(t),
        );
    }

    /// `_handshake`: one handshake record's body; messages may span records.
    fn handshake(&mut self, sess: &mut Session, body: &[u8], t: f64, frame: u64) {
        if self.hs_dead {
            return;
        }
        let joined = !self.hs.is_empty();
        let mut hs = std::mem::take(&mut self.hs);
        if joined {
            hs.extend_from_slice(body);
        }
        let data: &[u8] = if joined { &hs } else { body };
        let n = data.len();
        let mut pos = 0usize;
        while n - pos >= 4 {
            let htype = byte(data, pos) as u8;
            let hlen =
                (byte(data, pos + 1) << 16) | (byte(data, pos + 2) << 8) | byte(data, pos + 3);
            if hlen > MAX_HANDSHAKE {
                self.cap(sess, t); // leaves `self.hs` empty
                return;
            }
            if n - pos - 4 < hlen {
                break;
            }
            sess.on_handshake(
                self.side,
                htype,
                data.get(pos + 4..pos + 4 + hlen).unwrap_or(&[]),
                t,
                frame,
            );
            pos += 4 + hlen;
        }
        if joined {
            hs.drain(..pos);
            if hs.is_empty() && hs.capacity() > KEEP_CAPACITY {
                hs = Vec::new(); // a long message was reassembled: don't hold its memory
            }
        } else {
            hs.extend_from_slice(body.get(pos..).unwrap_or(&[]));
        }
        self.hs = hs;
    }
}
