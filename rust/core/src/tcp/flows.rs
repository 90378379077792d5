//! TCP segments -> connections: who opened, port reuse, FIN/RST, idle eviction (`pcaptls/tcp/flows.py`).
//!
//! A connection is keyed by its 4-tuple in both directions. Side 0 is the sender of the first
//! segment seen. A new SYN on a 4-tuple whose connection has closed, or with a different initial
//! sequence number once data has flowed, starts a new connection (port reuse). Connections that
//! turn out not to carry TLS stop buffering at once and are forgotten when they close or go
//! idle; memory is bounded by [`MAX_CONNECTIONS`].
//!
//! Python iterates its table dict (insertion order) to sweep, evict and close; here each
//! connection carries the number of its opening (`open_seq`), and those walks sort by it, so
//! finished connections come out in the same order.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::capture::Segment;
use crate::model::{CloseKind, ConnResult, Ip, SideAnomaly, TcpFacts};
use crate::tcp::reassembly::{Consumer, HalfStream};
use crate::tls::{State, Tls};

pub const IDLE_TIMEOUT: f64 = 600.0;
/// A closed connection quiet this long, nothing waiting, is handed on (`flows.CLOSE_DELAY`).
pub const CLOSE_DELAY: f64 = 5.0;
pub const CLOSED_LINGER: f64 = 60.0;
pub const SWEEP_EVERY: u64 = 1 << 16;
pub const MAX_CONNECTIONS: usize = 200_000;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// What a connection needs of its TLS layer. The engine uses [`crate::tls::Tls`]; the trait
/// exists so this stage's unit tests can run with a recording double.
pub trait TlsLayer {
    fn start(midstream: bool) -> Self;
    fn data(&mut self, side: usize, chunk: &[u8], t: f64, frame: u64);
    fn gap(&mut self, side: usize, nbytes: u64, t: Option<f64>);
    fn state(&self, side: usize) -> State;
    fn settle(&mut self);
    fn reportable(&self) -> bool;
    fn build(&mut self, tcp: TcpFacts) -> ConnResult;
    /// Copy encrypted records for a key log (see `crate::tls::sealed`); doubles ignore it.
    fn keep_sealed(&mut self) {}
}

impl TlsLayer for Tls {
    #[inline]
    fn start(midstream: bool) -> Self {
        Tls::new(midstream)
    }
    fn keep_sealed(&mut self) {
        Tls::keep_sealed(self)
    }
    #[inline]
    fn data(&mut self, side: usize, chunk: &[u8], t: f64, frame: u64) {
        Tls::data(self, side, chunk, t, frame)
    }
    #[inline]
    fn gap(&mut self, side: usize, nbytes: u64, t: Option<f64>) {
        Tls::gap(self, side, nbytes, t)
    }
    #[inline]
    fn state(&self, side: usize) -> State {
        Tls::state(self, side)
    }
    fn settle(&mut self) {
        Tls::settle(self)
    }
    fn reportable(&self) -> bool {
        Tls::reportable(self)
    }
    fn build(&mut self, tcp: TcpFacts) -> ConnResult {
        Tls::build(self, tcp)
    }
}

/// One side's record reader as the half stream's consumer (`half.consumer = session.readers[side]`).
struct SideOf<'a, T> {
    tls: &'a mut T,
    side: usize,
}

impl<T: TlsLayer> Consumer for SideOf<'_, T> {
    #[inline]
    fn data(&mut self, chunk: &[u8], t: f64, frame: u64) {
        self.tls.data(self.side, chunk, t, frame)
    }
    #[inline]
    fn gap(&mut self, nbytes: u64, t: Option<f64>) {
        self.tls.gap(self.side, nbytes, t)
    }
}

/// Stands in when there is no TLS layer: cannot be reached (a half stream holds waiting data
/// only after a payload made the layer), but keeps every path total.
struct Nobody;

impl Consumer for Nobody {
    fn data(&mut self, _chunk: &[u8], _t: f64, _frame: u64) {}
    fn gap(&mut self, _nbytes: u64, _t: Option<f64>) {}
}

/// The table key `(src, sport, dst, dport)`, hashed as five words.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    a: Ip,
    b: Ip,
    ap: u16,
    bp: u16,
}

impl Key {
    fn rev(self) -> Key {
        Key {
            a: self.b,
            b: self.a,
            ap: self.bp,
            bp: self.ap,
        }
    }
}

fn word(b: &[u8; 16], half: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(half * 8..half * 8 + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(word(&self.a.bytes, 0));
        h.write_u64(word(&self.a.bytes, 1));
        h.write_u64(word(&self.b.bytes, 0));
        h.write_u64(word(&self.b.bytes, 1));
        h.write_u64(
            u64::from(self.ap)
                | u64::from(self.bp) << 16
                | u64::from(self.a.len) << 32
                | u64::from(self.b.len) << 40,
        );
    }
}

/// A fast keyed hash for the table: folded 64x64->128 multiplies (the foldhash/ahash idea),
/// seeded per table from std's random keys, so a crafted capture cannot aim at collisions the
/// way it could with an unkeyed FxHash. Several times cheaper than SipHash for this key.
#[derive(Clone, Copy)]
struct FoldState {
    seed: u64,
}

impl FoldState {
    fn new() -> FoldState {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64);
        FoldState { seed: seed | 1 }
    }
}

struct FoldHasher {
    h: u64,
}

const FOLD_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..c.len()) {
                dst.copy_from_slice(c);
            }
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.h = fold(self.h ^ i, FOLD_MUL);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold(self.h, FOLD_MUL ^ 0xA076_1D64_78BD_642F)
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { h: self.seed }
    }
}

/// Python's `Connection`: both half streams, the lazily made TLS layer, the TCP facts.
pub struct Connection<T> {
    /// `ends_raw`: side 0's and side 1's endpoints.
    ends: [(Ip, u16); 2],
    /// The TLS layer (`session` + readers), made at the first payload (`start_tls`).
    tls: Option<Box<T>>,
    half: [HalfStream; 2],
    start: f64,
    last: f64,
    last_frame: u64,
    first_frame: u64,
    segments: u64,
    /// Order of opening: Python's table dict order (see the module doc).
    open_seq: u64,
    isn: [Option<u32>; 2],
    syn_side: Option<u8>,
    close: Option<(u8, CloseKind)>,
    /// Frame and time of that FIN/RST (meaningful only with `close`; not Options: 16 bytes less).
    close_frame: u64,
    close_time: f64,
    fins: [bool; 2],
    /// A RST was seen (after a FIN too: `close` keeps only the first).
    reset: bool,
    /// Both directions are not TLS (or it settled): nothing more to look at.
    dead: bool,
    /// `Connection.settled`: both FINs seen, nothing waiting; it stays for its linger.
    settled: bool,
    midstream: bool,
    /// Source and destination are the same endpoint: Python's second table entry overwrote
    /// the first, so the connection has only a side-1 entry and its `_conns()` never lists it.
    self_loop: bool,
    anomalies: Vec<SideAnomaly>,
}

impl<T: TlsLayer> Connection<T> {
    fn new(key: Key, t: f64, frame: u64, midstream: bool, open_seq: u64) -> Self {
        Connection {
            ends: [(key.a, key.ap), (key.b, key.bp)],
            tls: None,
            half: [HalfStream::new(), HalfStream::new()],
            start: t,
            last: t,
            last_frame: frame,
            first_frame: frame,
            segments: 0,
            open_seq,
            isn: [None, None],
            syn_side: None,
            close: None,
            close_frame: 0,
            close_time: 0.0,
            fins: [false, false],
            reset: false,
            dead: false,
            settled: false,
            midstream,
            self_loop: false,
            anomalies: Vec::new(),
        }
    }

    /// `Connection.closed`: reset (even after a FIN), or FIN sent both ways.
    fn closed(&self) -> bool {
        self.reset || (self.fins[0] && self.fins[1])
    }

    /// `Connection.quiet`: closed, still to be reported, nothing waiting behind a hole.
    fn quiet(&self) -> bool {
        self.tls.is_some()
            && self.closed()
            && self.half[0].ooo.is_empty()
            && self.half[1].ooo.is_empty()
    }

    /// `Connection.settle`: no more bytes reach TLS; its buffers go now, its facts stay.
    fn settle(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.settle();
        }
        self.settled = true;
        self.dead = true;
    }

    /// `Connection.finish`: flush waiting segments and build the result, or `None` when the
    /// connection carried no TLS.
    fn finish(mut self) -> Option<ConnResult> {
        self.result()
    }

    /// The result, once: afterwards the connection holds no TLS layer and reports nothing.
    fn result(&mut self) -> Option<ConnResult> {
        let mut tls = self.tls.take()?;
        if !self.dead {
            for (side, h) in self.half.iter_mut().enumerate() {
                h.flush(&mut SideOf {
                    tls: &mut *tls,
                    side,
                });
            }
        }
        if !tls.reportable() {
            return None;
        }
        for (side, h) in self.half.iter().enumerate() {
            if h.retransmitted != 0 {
                self.anomalies.push(SideAnomaly {
                    kind: "retransmission",
                    detail: format!("{} retransmitted segments", h.retransmitted),
                    time: None,
                    side: Some(side as u8),
                });
            }
        }
        if self.syn_side.is_none() {
            self.anomalies.insert(
                0,
                SideAnomaly {
                    kind: "no_syn",
                    detail: "capture starts after the TCP handshake".to_string(),
                    time: Some(self.start),
                    side: None,
                },
            );
        }
        let anomalies = std::mem::take(&mut self.anomalies);
        Some(tls.build(TcpFacts {
            ends: self.ends,
            start: self.start,
            end: self.last,
            first_frame: self.first_frame,
            syn_side: self.syn_side,
            close: self.close,
            close_frame: self.close.map(|_| self.close_frame),
            close_time: self.close.map(|_| self.close_time),
            last_frame: self.last_frame,
            anomalies,
        }))
    }
}

/// Routes decoded segments to connections; finished TLS connections go to `done`
/// (Python's `FlowTable`, with `on_done` replaced by the `done` queue).
pub struct FlowTable<T = Tls> {
    pub packets: u64,
    pub connections: u64,
    pub evicted: u64,
    /// Finished TLS connections not yet taken by the caller (drained by `scan`).
    pub done: Vec<ConnResult>,
    shares: usize,
    /// Both directions of every live connection -> (slot in `conns`, side).
    table: HashMap<Key, (u32, u8), FoldState>,
    /// Live connections; `None` slots are free (listed in `free`).
    conns: Vec<Option<Connection<T>>>,
    free: Vec<u32>,
    opened: u64,
    /// Copy encrypted records for a key log (Python's `FlowTable.sealed`).
    pub sealed: bool,
}

impl FlowTable<Tls> {
    /// `shares`: this table holds one of that many shares of the capture's connections; its
    /// cap is that share of MAX_CONNECTIONS (as in Python).
    pub fn new(shares: usize) -> FlowTable<Tls> {
        FlowTable::with_layer(shares)
    }
}

impl<T: TlsLayer> FlowTable<T> {
    /// A table whose connections use TLS layer `T` (tests use a double).
    pub fn with_layer(shares: usize) -> FlowTable<T> {
        FlowTable {
            packets: 0,
            connections: 0,
            evicted: 0,
            done: Vec::new(),
            shares,
            table: HashMap::with_hasher(FoldState::new()),
            conns: Vec::new(),
            free: Vec::new(),
            opened: 0,
            sealed: false,
        }
    }

    /// Live connections (what Python's `len(self.table) // 2` estimates).
    pub fn live(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Entries in the table (Python's `len(self.table)`).
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// One segment at time `t` in frame `frame` (`FlowTable.segment`).
    pub fn segment(&mut self, seg: &Segment<'_>, t: f64, frame: u64) {
        self.packets += 1;
        let flags = seg.flags;
        let key = Key {
            a: seg.src,
            b: seg.dst,
            ap: seg.sport,
            bp: seg.dport,
        };
        let (slot, side) = match self.table.get(&key) {
            None => {
                if flags & RST != 0 && seg.payload.is_empty() {
                    return; // a reset for a connection we never saw tells nothing
                }
                (self.open(key, t, frame, flags & SYN == 0), 0usize)
            }
            Some(&(slot, side)) => {
                let reused = flags & SYN != 0
                    && flags & ACK == 0
                    && self
                        .conn(slot)
                        .is_some_and(|c| Self::reused(c, usize::from(side), seg.seq));
                if reused {
                    self.retire(slot);
                    (self.open(key, t, frame, false), 0)
                } else {
                    if self
                        .conn(slot)
                        .is_some_and(|c| t - c.last > CLOSE_DELAY && c.quiet())
                    {
                        // A late packet: the record ended before it, sweep or no sweep.
                        self.hand_on(slot);
                    }
                    (slot, usize::from(side))
                }
            }
        };
        let Some(conn) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        conn.last = t;
        conn.last_frame = frame;
        conn.segments += 1;
        let other = side ^ 1; // Python: 1 - side (side is 0 or 1)
        if flags & SYN != 0 {
            if let Some(isn) = conn.isn.get_mut(side) {
                if isn.is_none() {
                    *isn = Some(seg.seq);
                    if let Some(h) = conn.half.get_mut(side) {
                        h.syn(seg.seq);
                    }
                    if flags & ACK == 0 {
                        conn.syn_side = Some(side as u8);
                    } else if conn.syn_side.is_none() {
                        conn.syn_side = Some(other as u8);
                    }
                }
            }
        }
        if flags & ACK != 0 {
            if let Some(h) = conn.half.get_mut(other) {
                if h.ooo.is_empty() {
                    h.acked = Some(seg.ack);
                } else {
                    match conn.tls.as_mut() {
                        Some(tls) => h.ack(
                            &mut SideOf {
                                tls: &mut **tls,
                                side: other,
                            },
                            seg.ack,
                        ),
                        None => h.ack(&mut Nobody, seg.ack),
                    }
                }
            }
        }
        if (!seg.payload.is_empty() || seg.missing != 0) && !conn.dead {
            let midstream = conn.midstream;
            let sealed = self.sealed;
            let tls = conn.tls.get_or_insert_with(|| {
                let mut t = Box::new(T::start(midstream));
                if sealed {
                    t.keep_sealed();
                }
                t
            });
            let seq = if flags & SYN != 0 {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            if let Some(h) = conn.half.get_mut(side) {
                h.segment(
                    &mut SideOf {
                        tls: &mut **tls,
                        side,
                    },
                    seq,
                    seg.payload,
                    seg.missing,
                    t,
                    frame,
                );
            }
            if tls.state(0) == State::Ignore && tls.state(1) == State::Ignore {
                conn.dead = true;
                for h in conn.half.iter_mut() {
                    h.clear();
                }
            }
        }
        if flags & (FIN | RST) != 0 {
            if conn.close.is_none() {
                conn.close_frame = frame;
                conn.close_time = t;
                conn.close = Some((
                    side as u8,
                    if flags & RST != 0 {
                        CloseKind::Rst
                    } else {
                        CloseKind::Fin
                    },
                ));
            }
            if flags & FIN != 0 {
                if let Some(f) = conn.fins.get_mut(side) {
                    *f = true;
                }
            }
            if flags & RST != 0 {
                conn.reset = true;
            }
            if flags & RST != 0 || (conn.fins[0] && conn.fins[1]) {
                // A settled connection stays for its linger: a FIN sent again or a late RST
                // is part of it, not the start of a phantom one.
                if conn.dead && !conn.settled {
                    self.retire(slot);
                } else if flags & FIN != 0
                    && conn.half[0].ooo.is_empty()
                    && conn.half[1].ooo.is_empty()
                {
                    conn.settle();
                }
            }
        }
    }

    fn conn(&self, slot: u32) -> Option<&Connection<T>> {
        self.conns.get(slot as usize).and_then(Option::as_ref)
    }

    /// `FlowTable._reused`: does a SYN from `side` start a new connection on the same 4-tuple?
    fn reused(conn: &Connection<T>, side: usize, seq: u32) -> bool {
        if conn.closed() {
            return true;
        }
        matches!(conn.isn.get(side), Some(Some(isn)) if *isn != seq) && conn.segments > 3
    }

    /// `FlowTable._open`: make room if the table is full, then enter both directions.
    fn open(&mut self, key: Key, t: f64, frame: u64, midstream: bool) -> u32 {
        let cap = MAX_CONNECTIONS / self.shares.max(1);
        if self.table.len() >= 2 * cap.max(1) {
            self.evict_idlest(t);
        }
        let mut conn = Connection::new(key, t, frame, midstream, self.opened);
        self.opened += 1;
        let rev = key.rev();
        conn.self_loop = rev == key;
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(x) = self.conns.get_mut(s as usize) {
                    *x = Some(conn);
                }
                s
            }
            None => {
                self.conns.push(Some(conn));
                (self.conns.len() - 1) as u32
            }
        };
        // For a self-connection the second insert replaces the first, as in Python.
        self.table.insert(key, (slot, 0));
        self.table.insert(rev, (slot, 1));
        self.connections += 1;
        slot
    }

    /// `FlowTable._retire`: forget the connection, finish it, queue its result.
    fn retire(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        let key = Key {
            a: conn.ends[0].0,
            ap: conn.ends[0].1,
            b: conn.ends[1].0,
            bp: conn.ends[1].1,
        };
        for k in [key, key.rev()] {
            if self.table.get(&k).is_some_and(|&(s, _)| s == slot) {
                self.table.remove(&k);
            }
        }
        if let Some(result) = conn.finish() {
            self.done.push(result);
        }
    }

    /// `FlowTable._hand_on`: report a quiet connection now; it stays, emptied, for its linger.
    fn hand_on(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        let result = conn.result();
        conn.dead = true; // a late payload starts no new layer
        if let Some(result) = result {
            self.done.push(result);
        }
    }

    /// `FlowTable._conns()`: the live connections in table order, as (open_seq, last, slot),
    /// restricted to those `keep` selects.
    fn conns_where(&self, keep: impl Fn(&Connection<T>) -> bool) -> Vec<(u64, f64, u32)> {
        let mut v: Vec<(u64, f64, u32)> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| !c.self_loop && keep(c))
            .map(|(i, c)| (c.open_seq, c.last, i as u32))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Retire idle and lingering closed connections (`FlowTable.sweep`): connections idle for
    /// IDLE_TIMEOUT seconds of capture time (counted as evicted), closed ones idle for
    /// CLOSED_LINGER (they ended); hand on closed ones quiet for CLOSE_DELAY.
    pub fn sweep(&mut self, now: f64) {
        let limit = now - IDLE_TIMEOUT;
        let lingered = now - CLOSED_LINGER;
        let settled = now - CLOSE_DELAY;
        // Nothing in the walk changes another connection, so select first, then act in order.
        for (_, _, slot) in self.conns_where(|c| c.last < settled) {
            let Some(conn) = self.conn(slot) else {
                continue;
            };
            if conn.last < lingered && conn.closed() {
                self.retire(slot);
            } else if conn.last < limit {
                self.evicted += 1;
                self.retire(slot);
            } else if conn.quiet() {
                self.hand_on(slot);
            }
        }
    }

    /// `FlowTable._evict_idlest`: the table is full; retire the idlest tenth (stable by opening).
    fn evict_idlest(&mut self, now: f64) {
        let mut conns = self.conns_where(|_| true);
        conns.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.0.cmp(&b.0))
        });
        let n = (conns.len() / 10).max(1);
        for &(_, _, slot) in conns.iter().take(n) {
            self.evicted += 1;
            if let Some(conn) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) {
                if !conn.closed() {
                    // Still open: what it sends later is not part of this record.
                    conn.anomalies.push(SideAnomaly {
                        kind: "cap",
                        detail: format!(
                            "retired early: connection table full ({MAX_CONNECTIONS} live connections); \
                             later packets of it start a new record"
                        ),
                        time: Some(now),
                        side: None,
                    });
                }
            }
            self.retire(slot);
        }
    }

    /// End of capture: every connection still open is finished as it stands (`close_all`).
    pub fn close_all(&mut self) {
        for (_, _, slot) in self.conns_where(|_| true) {
            self.retire(slot);
        }
    }
}

#[cfg(test)]
mod tests;
