//! The frame loop: capture reader -> link decode -> flow table, as `pcaptls.pipeline.analysis._pipeline`
//! (and its one-loop twin `_ethernet_pcap`) does it in Python.
//!
//! Runs in steps so a caller can hand finished connections on while the scan goes on (the
//! binding runs it on its own thread and passes batches to Python).

use crate::capture::{decode, Counts, FrameReader, ReadStats};
use crate::model::ConnResult;
use crate::tcp::flows::{FlowTable, SWEEP_EVERY};

/// One share of one capture being scanned.
pub struct Scanner {
    reader: FrameReader,
    flows: FlowTable,
    /// Frames without TCP, by why: counted by share 0 only, which decodes every frame.
    counts: Counts,
    scratch: Counts,
    part: u32,
    parts: u32,
    finished: bool,
}

/// What one share saw, besides its connections (`pcaptls.pipeline.result.Analysis` without them).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub stats: ReadStats,
    pub counts: Counts,
    pub tcp_segments: u64,
    pub tcp_connections: u64,
    pub evicted: u64,
}

impl Scanner {
    /// Scan `reader`, following only the TCP connections in share `part` of `parts`
    /// (`(sport ^ dport) % parts == part`, the same for both directions).
    pub fn new(reader: FrameReader, part: u32, parts: u32) -> Scanner {
        let parts = parts.max(1);
        Scanner {
            reader,
            flows: FlowTable::new(parts as usize),
            counts: Counts::default(),
            scratch: Counts::default(),
            part: part.min(parts - 1),
            parts,
            finished: false,
        }
    }

    /// Copy encrypted records for a key log (`pcaptls.tls.sealed`): the results carry them.
    pub fn keep_sealed(&mut self) {
        self.flows.sealed = true;
    }

    /// Read up to `max_frames` frames. Returns `false` once the capture is exhausted (then every
    /// connection has been finished and is in `take`).
    pub fn step(&mut self, max_frames: u64) -> bool {
        if self.finished {
            return false;
        }
        let split = self.parts > 1;
        let counts = if self.part == 0 {
            &mut self.counts
        } else {
            &mut self.scratch
        };
        let mut left = max_frames;
        while left > 0 {
            left -= 1;
            let Some(frame) = self.reader.next_frame() else {
                self.flows.close_all();
                self.finished = true;
                return false;
            };
            if frame.num & (SWEEP_EVERY - 1) == 0 {
                self.flows.sweep(frame.ts);
            }
            if let Some(seg) = decode(frame.linktype, frame.data, counts) {
                if split && u32::from(seg.sport ^ seg.dport) % self.parts != self.part {
                    continue;
                }
                self.flows.segment(&seg, frame.ts, frame.num);
            }
        }
        true
    }

    /// Connections finished since the last call, in the order they finished.
    pub fn take(&mut self) -> Vec<ConnResult> {
        std::mem::take(&mut self.flows.done)
    }

    pub fn ready(&self) -> usize {
        self.flows.done.len()
    }

    pub fn bytes_read(&self) -> u64 {
        self.reader.stats.bytes_read
    }

    pub fn summary(&self) -> Summary {
        Summary {
            stats: self.reader.stats.clone(),
            counts: self.counts,
            tcp_segments: self.flows.packets,
            tcp_connections: self.flows.connections,
            evicted: self.flows.evicted,
        }
    }
}

/// The whole capture in one call, connections in time order (start, first frame).
pub fn scan_all(reader: FrameReader, part: u32, parts: u32) -> (Vec<ConnResult>, Summary) {
    let mut s = Scanner::new(reader, part, parts);
    let mut out = Vec::new();
    while s.step(1 << 16) {
        out.append(&mut s.take());
    }
    out.append(&mut s.take());
    out.sort_by(|a, b| {
        a.start
            .total_cmp(&b.start)
            .then(a.first_frame.cmp(&b.first_frame))
    });
    (out, s.summary())
}

/// What the start of a capture holds: enough to guess how its work divides (see
/// `pcaptls.pipeline.analysis.SPLIT_MIN_OPENS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub frames: u64,
    pub bytes_read: u64,
    /// TCP segments with SYN and no ACK: connections being opened.
    pub opens: u64,
}

/// Read frames until `max_bytes` of the file have been read (or it ends), counting connection
/// openings. Reads and decodes, nothing more: a few milliseconds for 8 MiB.
pub fn sample(mut reader: FrameReader, max_bytes: u64) -> Sample {
    let mut counts = Counts::default();
    let mut s = Sample::default();
    while reader.stats.bytes_read < max_bytes {
        let Some(frame) = reader.next_frame() else {
            break;
        };
        s.frames += 1;
        if let Some(seg) = decode(frame.linktype, frame.data, &mut counts) {
            if seg.flags & 0x12 == 0x02 {
                s.opens += 1;
            }
        }
    }
    s.bytes_read = reader.stats.bytes_read;
    s
}
