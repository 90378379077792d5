//! One direction of a TCP connection: segments in any order -> in-order bytes (`pcaptls/tcp/reassembly.py`).
//!
//! Sequence numbers are compared modulo 2^32, so streams may wrap. Out-of-order segments wait
//! (copied, the only copy of payload this stage makes) until the hole before them fills; a hole
//! becomes a reported gap when the peer acknowledged bytes past it, when waiting data exceeds
//! [`MAX_OOO_BYTES`] / [`MAX_OOO_SEGMENTS`], or when the connection ends. Retransmissions and
//! overlaps are trimmed to the bytes not yet delivered (first copy wins).
//!
//! The waiting segments live in a `Vec` in the insertion order of Python's `ooo` dict (a
//! replaced key keeps its place, a popped one that comes back goes last), because `_drain`
//! walks that order; at most 512 entries, so a linear search is cheap.
#![forbid(unsafe_code)]

/// Bytes waiting behind a hole per direction before the hole is given up (`MAX_OOO_BYTES`).
pub const MAX_OOO_BYTES: usize = 1 << 18;
/// Segments waiting behind a hole per direction (`MAX_OOO_SEGMENTS`).
pub const MAX_OOO_SEGMENTS: usize = 512;

const HALF: u32 = 0x8000_0000;

/// Where in-order bytes go (Python's `Consumer` protocol: the TLS record reader of one side).
pub trait Consumer {
    fn data(&mut self, chunk: &[u8], t: f64, frame: u64);
    fn gap(&mut self, nbytes: u64, t: Option<f64>);
}

/// Signed distance `a - b` in 32-bit sequence space (`seq_diff`).
#[inline]
pub fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// Python's `payload[k:]` for any int `k` (negative counts from the end, clamped to the ends).
#[inline]
fn py_from(payload: &[u8], k: i64) -> &[u8] {
    let len = payload.len() as i64;
    let start = if k >= 0 { k.min(len) } else { (len + k).max(0) };
    payload.get(start as usize..).unwrap_or(&[])
}

/// One waiting segment: Python's `ooo[seq] = (payload, missing, t, frame)`.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub seq: u32,
    pub missing: u32,
    pub payload: Box<[u8]>,
    pub t: f64,
    pub frame: u64,
}

/// Reassembles one direction and feeds a [`Consumer`] (`HalfStream`). The consumer is passed to
/// each call rather than held, so a connection can make its TLS layer lazily and own it once.
#[derive(Debug, Default, Clone)]
pub struct HalfStream {
    /// Next expected sequence number (`None` until the SYN or the first data).
    pub next: Option<u32>,
    /// Highest ack the peer sent for this direction.
    pub acked: Option<u32>,
    /// Waiting segments, in the Python dict's insertion order.
    pub ooo: Vec<Waiting>,
    pub ooo_bytes: usize,
    pub retransmitted: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub delivered: u64,
}

impl HalfStream {
    pub fn new() -> HalfStream {
        HalfStream::default()
    }

    /// `HalfStream.syn`: the data starts one after the SYN's sequence number.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Advance `next` by `n` modulo 2^32 (`(self.next + n) & _MASK`).
    #[inline]
    fn advance(&mut self, n: u64) {
        if let Some(x) = self.next {
            self.next = Some((u64::from(x).wrapping_add(n)) as u32);
        }
    }

    /// `HalfStream.segment`: `payload` at `seq`; `missing` more bytes were on the wire but not
    /// captured. The common case (in order, nothing waiting) copies nothing and allocates nothing.
    pub fn segment<C: Consumer + ?Sized>(
        &mut self,
        c: &mut C,
        seq: u32,
        payload: &[u8],
        missing: u32,
        t: f64,
        frame: u64,
    ) {
        let nxt = match self.next {
            Some(n) => n,
            None => {
                // First data of a capture that started mid-connection.
                self.next = Some(seq);
                seq
            }
        };
        let d = seq.wrapping_sub(nxt);
        if d == 0 {
            self.deliver(c, payload, u64::from(missing), t, frame);
            if !self.ooo.is_empty() {
                self.drain(c);
            }
            return;
        }
        let plen = payload.len() as i64;
        if d >= HALF {
            // Behind: retransmission or overlap.
            let d = i64::from(d) - (1i64 << 32);
            let n = plen + i64::from(missing);
            if d + n <= 0 {
                self.retransmitted += 1;
                return;
            }
            if -d < plen {
                self.deliver(c, py_from(payload, -d), u64::from(missing), t, frame);
            } else {
                // Only the uncaptured tail is new.
                self.deliver(c, &[], (n + d) as u64, t, frame);
            }
            if !self.ooo.is_empty() {
                self.drain(c);
            }
            return;
        }
        // Ahead of a hole.
        let d = i64::from(d);
        if let Some(acked) = self.acked {
            let a = seq_diff(acked, nxt);
            if 0 < a && a >= d {
                // The peer already acknowledged the hole: the capture lost it, the network did not.
                self.gap(c, d as u64, Some(t));
                self.deliver(c, payload, u64::from(missing), t, frame);
                if !self.ooo.is_empty() {
                    self.drain(c);
                }
                return;
            }
        }
        let wanted = plen + i64::from(missing);
        match self.ooo.iter().position(|w| w.seq == seq) {
            Some(i) => {
                let Some(old) = self.ooo.get_mut(i) else {
                    return;
                };
                if (old.payload.len() as i64) + i64::from(old.missing) >= wanted {
                    return;
                }
                self.ooo_bytes = self.ooo_bytes.saturating_sub(old.payload.len());
                // A replaced key keeps its place in the dict.
                *old = Waiting {
                    seq,
                    missing,
                    payload: payload.into(),
                    t,
                    frame,
                };
            }
            None => self.ooo.push(Waiting {
                seq,
                missing,
                payload: payload.into(),
                t,
                frame,
            }),
        }
        self.ooo_bytes = self.ooo_bytes.saturating_add(payload.len());
        if self.ooo_bytes > MAX_OOO_BYTES || self.ooo.len() > MAX_OOO_SEGMENTS {
            self.skip_hole(c, Some(t));
        }
    }

    /// `HalfStream.ack`: the peer acknowledged up to `ack`; a hole it covers will never be filled.
    pub fn ack<C: Consumer + ?Sized>(&mut self, c: &mut C, ack: u32) {
        self.acked = Some(ack);
        if let Some(nxt) = self.next {
            let lowest = self.ooo.iter().map(|w| seq_diff(w.seq, nxt)).min();
            if let Some(lowest) = lowest {
                if seq_diff(ack, nxt) >= lowest && lowest > 0 {
                    self.skip_hole(c, None);
                }
            }
        }
    }

    /// `HalfStream._deliver`.
    #[inline]
    fn deliver<C: Consumer + ?Sized>(
        &mut self,
        c: &mut C,
        payload: &[u8],
        missing: u64,
        t: f64,
        frame: u64,
    ) {
        let n = payload.len() as u64;
        if n != 0 {
            self.delivered = self.delivered.wrapping_add(n);
            c.data(payload, t, frame);
        }
        self.advance(n);
        if missing != 0 {
            self.gap(c, missing, Some(t));
        }
    }

    /// `HalfStream._gap`.
    fn gap<C: Consumer + ?Sized>(&mut self, c: &mut C, n: u64, t: Option<f64>) {
        self.gaps = self.gaps.wrapping_add(1);
        self.gap_bytes = self.gap_bytes.wrapping_add(n);
        self.advance(n);
        c.gap(n, t);
    }

    /// `HalfStream._drain`: deliver what the last delivery made contiguous.
    fn drain<C: Consumer + ?Sized>(&mut self, c: &mut C) {
        while !self.ooo.is_empty() {
            let Some(nxt) = self.next else { return };
            if let Some(i) = self.ooo.iter().position(|w| w.seq == nxt) {
                let w = self.ooo.remove(i);
                self.ooo_bytes = self.ooo_bytes.saturating_sub(w.payload.len());
                self.deliver(c, &w.payload, u64::from(w.missing), w.t, w.frame);
                continue;
            }
            // Segments that start before `next` (overlaps): deliver their new tail or drop them,
            // in dict order. Python lists them first (`behind`), then pops each; delivering does
            // not touch `ooo`, so one in-place pass over the entries behind `nxt` is the same.
            let mut any = false;
            let mut i = 0;
            while i < self.ooo.len() {
                let behind = self.ooo.get(i).is_some_and(|w| seq_diff(w.seq, nxt) < 0);
                if !behind {
                    i += 1;
                    continue;
                }
                any = true;
                let w = self.ooo.remove(i);
                let len = w.payload.len() as i64;
                self.ooo_bytes = self.ooo_bytes.saturating_sub(w.payload.len());
                let d = match self.next {
                    Some(x) => seq_diff(w.seq, x),
                    None => 0,
                };
                let missing = i64::from(w.missing);
                if d + len + missing > 0 {
                    if -d < len {
                        self.deliver(c, py_from(&w.payload, -d), missing as u64, w.t, w.frame);
                    } else {
                        self.deliver(c, &[], (len + missing + d) as u64, w.t, w.frame);
                    }
                } else {
                    self.retransmitted += 1;
                }
            }
            if !any {
                return;
            }
        }
    }

    /// `HalfStream.skip_hole`: give up waiting for the hole before the earliest waiting segment.
    pub fn skip_hole<C: Consumer + ?Sized>(&mut self, c: &mut C, t: Option<f64>) {
        let Some(nxt) = self.next else { return };
        let Some(first) = self.ooo.iter().min_by_key(|w| seq_diff(w.seq, nxt)) else {
            return;
        };
        let d = seq_diff(first.seq, nxt);
        let ft = first.t;
        if d > 0 {
            self.gap(c, d as u64, Some(t.unwrap_or(ft)));
        }
        self.drain(c);
    }

    /// `HalfStream.flush`: end of connection or capture: deliver what waits, reporting the holes.
    pub fn flush<C: Consumer + ?Sized>(&mut self, c: &mut C) {
        while !self.ooo.is_empty() {
            if self.next.is_none() {
                return; // cannot happen (data sets `next` first); never loop forever
            }
            self.skip_hole(c, None);
        }
    }

    /// Forget what waits (the connection turned out not to be TLS): `ooo.clear(); ooo_bytes = 0`.
    pub fn clear(&mut self) {
        self.ooo = Vec::new();
        self.ooo_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records bytes, with '?' standing for each byte lost in a gap (the Python tests' `Sink`).
    #[derive(Default)]
    struct Sink {
        buf: Vec<u8>,
        gaps: Vec<u64>,
    }

    impl Consumer for Sink {
        fn data(&mut self, chunk: &[u8], _t: f64, _frame: u64) {
            self.buf.extend_from_slice(chunk);
        }
        fn gap(&mut self, n: u64, _t: Option<f64>) {
            self.gaps.push(n);
            self.buf.extend(std::iter::repeat_n(b'?', n as usize));
        }
    }

    fn stream(isn: u32) -> (HalfStream, Sink) {
        let mut h = HalfStream::new();
        h.syn(isn.wrapping_sub(1));
        (h, Sink::default())
    }

    #[test]
    fn seq_diff_wraps() {
        assert_eq!(seq_diff(5, 0xFFFF_FFFB), 10);
        assert_eq!(seq_diff(0xFFFF_FFFB, 5), -10);
    }

    #[test]
    fn in_order_out_of_order_and_retransmission() {
        let (mut h, mut s) = stream(1000);
        h.segment(&mut s, 1005, b"world", 0, 0.0, 2);
        h.segment(&mut s, 1000, b"hello", 0, 0.0, 1);
        h.segment(&mut s, 1000, b"hello", 0, 0.0, 3); // retransmission
        h.segment(&mut s, 1003, b"loworld!!", 0, 0.0, 4); // overlap with new tail
        assert_eq!(s.buf, b"helloworld!!");
        assert_eq!(h.retransmitted, 1);
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn sequence_wraparound() {
        let (mut h, mut s) = stream(0xFFFF_FFF0);
        let data: Vec<u8> = (0..64).collect();
        h.segment(
            &mut s,
            0xFFFF_FFF0u32.wrapping_add(32),
            &data[32..],
            0,
            0.0,
            2,
        );
        h.segment(&mut s, 0xFFFF_FFF0, &data[..32], 0, 0.0, 1);
        assert_eq!(s.buf, data);
    }

    #[test]
    fn hole_acked_by_peer_is_a_capture_gap() {
        let (mut h, mut s) = stream(1000);
        h.segment(&mut s, 1000, b"aaaa", 0, 0.0, 1);
        h.segment(&mut s, 1010, b"cccc", 0, 0.0, 3); // 6 bytes never captured
        assert!(s.gaps.is_empty());
        h.ack(&mut s, 1014); // the receiver got them: the capture lost them
        assert_eq!(s.gaps, vec![6]);
        assert_eq!(s.buf, b"aaaa??????cccc");
    }

    #[test]
    fn hole_reported_at_flush() {
        let (mut h, mut s) = stream(1000);
        h.segment(&mut s, 1000, b"aaaa", 0, 0.0, 1);
        h.segment(&mut s, 1008, b"cccc", 0, 0.0, 3);
        h.flush(&mut s);
        assert_eq!(s.gaps, vec![4]);
        assert_eq!(s.buf, b"aaaa????cccc");
    }

    #[test]
    fn snapped_segment_is_a_gap() {
        let (mut h, mut s) = stream(1000);
        h.segment(&mut s, 1000, b"ab", 3, 0.0, 1);
        h.segment(&mut s, 1005, b"fg", 0, 0.0, 2);
        assert_eq!(s.buf, b"ab???fg");
        assert_eq!(s.gaps, vec![3]);
    }

    #[test]
    fn waiting_data_is_bounded() {
        let (mut h, mut s) = stream(1000);
        let chunk = [b'x'; 1000];
        for i in 1..(MAX_OOO_BYTES / 1000 + 10) as u32 {
            h.segment(&mut s, 1000 + 10 + i * 1000, &chunk, 0, 0.0, u64::from(i));
        }
        assert!(h.ooo_bytes <= MAX_OOO_BYTES);
        assert!(!s.gaps.is_empty()); // gave up on the hole instead of growing
    }

    #[test]
    fn waiting_segments_are_bounded() {
        let (mut h, mut s) = stream(1000);
        for i in 1..=(MAX_OOO_SEGMENTS as u32 + 1) {
            h.segment(&mut s, 1000 + 2 * i, b"x", 0, 0.0, u64::from(i));
        }
        assert!(h.ooo.len() <= MAX_OOO_SEGMENTS);
        assert_eq!(s.gaps.first(), Some(&2));
    }

    #[test]
    fn midstream_start_takes_first_seq() {
        let mut h = HalfStream::new();
        let mut s = Sink::default();
        h.segment(&mut s, 777, b"mid", 0, 0.0, 1);
        h.segment(&mut s, 780, b"dle", 0, 0.0, 2);
        assert_eq!(s.buf, b"middle");
    }

    /// A small deterministic generator (splitmix64) for the property test below.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// `test_any_segmentation_and_order_reassembles`: any cut, duplicates, order -> the data.
    #[test]
    fn any_segmentation_and_order_reassembles() {
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let len = 1 + rng.below(3000) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut points: Vec<usize> = (0..rng.below(31))
                .map(|_| 1 + rng.below(3000) as usize)
                .filter(|&c| c < len)
                .collect();
            points.push(0);
            points.push(len);
            points.sort_unstable();
            points.dedup();
            let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            let dup = rng.below(50);
            let mut extra = Vec::new();
            for &(a, _) in &segs {
                if rng.below(100) < dup {
                    extra.push((a, (a + 1 + rng.below(200) as usize).min(len)));
                }
            }
            segs.extend(extra);
            for i in (1..segs.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                segs.swap(i, j);
            }
            let isn = rng.next() as u32;
            let (mut h, mut s) = stream(isn);
            for (a, b) in segs {
                h.segment(&mut s, isn.wrapping_add(a as u32), &data[a..b], 0, 0.0, 1);
            }
            h.flush(&mut s);
            assert_eq!(s.buf, data);
            assert!(s.gaps.is_empty());
        }
    }
}
