//! pcap / pcapng (either byte order, any resolution), optionally gzip-compressed: `pcaptls/capture/{files,pcap,pcapng}.py`.
//!
//! One reused buffer (1 MiB, grown only for a record that does not fit, up to the formats'
//! caps): the unread tail moves to its front and the file is read in after it.
//! Frames borrow from it. The format readers only read
//! when a record is incomplete, so a gzip error surfaces exactly where Python's does.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{ErrorKind, Read};

use super::gzip::{GzipSource, SourceError};
use super::pyfmt::{format_3g, oserror_str, strerror};

/// What the reader saw (`pcaptls.capture.files.ReadStats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadStats {
    /// "pcap", "pcapng", "gzip pcap", "gzip pcapng".
    pub format: String,
    pub frames: u64,
    pub bytes_read: u64,
    pub snapped: u64,
    pub linktypes: BTreeSet<u32>,
    /// Why the file ended early (the same text as the Python reader's), if it did.
    pub truncated: Option<String>,
}

/// The file cannot be used at all (`pcaptls.errors.InputError`); the message is the Python one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError(pub String);

/// One frame, borrowing its bytes from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub num: u64,
    pub ts: f64,
    pub linktype: u32,
    pub data: &'a [u8],
    pub wirelen: u32,
}

/// `pcap.MAX_FRAME`: no link layer carries more; a larger length means a corrupt record.
pub const MAX_FRAME: u32 = 1 << 20;
/// `pcapng.MAX_BLOCK`.
pub const MAX_BLOCK: u32 = 16 << 20;
/// `pcapng.MAX_INTERFACES` (per section).
pub const MAX_INTERFACES: usize = 1 << 16;
/// `pcapng.TS_MIN`, `TS_MAX`: timestamps a datetime can hold (years 1..9999).
const TS_MIN: f64 = -62135596800.0;
const TS_MAX: f64 = 253402300799.0;
/// `analysis._BUFFER`: the read buffer, reused for the whole file.
const BUFFER: usize = 1 << 20;

const SHB_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];
const IDB: u32 = 1;
const PB_OBSOLETE: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// `pcap.header_cut`
fn header_cut(frames: u64, have: usize) -> String {
    format!("record header cut after frame {frames} ({have} of 16 bytes)")
}

/// `pcap.too_long`
fn too_long(frame: u64, incl: u32) -> String {
    format!("frame {frame} claims {incl} bytes (corrupt record header)")
}

/// `pcap.frame_cut`
fn frame_cut(frame: u64, have: usize, incl: u32) -> String {
    format!("frame {frame} cut: {have} of {incl} bytes present")
}

/// Where the bytes come from.
enum Source {
    /// A plain file (read into the frame buffer directly).
    File(File),
    /// Everything is already in the frame buffer.
    Done,
    Gzip(Box<GzipSource>),
}

/// Ticks per second of a pcapng interface: `None` when more than any 64-bit tick count
/// (10**39 and up), so that `ticks // per` is 0 and `ticks % per` is `ticks`.
type Per = Option<u128>;

#[derive(Clone, Copy)]
struct Iface {
    linktype: u32,
    snaplen: u32,
    scale: f64,
    offset: f64,
    per: Per,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Le,
    Be,
}

impl Order {
    fn u16(self, b: &[u8], i: usize) -> u16 {
        let a = match b.get(i..i + 2) {
            Some(&[x, y]) => [x, y],
            _ => [0; 2],
        };
        match self {
            Order::Le => u16::from_le_bytes(a),
            Order::Be => u16::from_be_bytes(a),
        }
    }
    fn u32(self, b: &[u8], i: usize) -> u32 {
        let a = match b.get(i..i + 4) {
            Some(&[w, x, y, z]) => [w, x, y, z],
            _ => [0; 4],
        };
        match self {
            Order::Le => u32::from_le_bytes(a),
            Order::Be => u32::from_be_bytes(a),
        }
    }
    fn i64(self, b: &[u8], i: usize) -> i64 {
        let mut a = [0u8; 8];
        if let Some(s) = b.get(i..i + 8) {
            a.copy_from_slice(s);
        }
        match self {
            Order::Le => i64::from_le_bytes(a),
            Order::Be => i64::from_be_bytes(a),
        }
    }
}

enum Format {
    /// Before the pcap file header is read.
    PcapHeader,
    Pcap {
        order: Order,
        scale: f64,
        linktype: u32,
    },
    Pcapng {
        order: Order,
        ifaces: Vec<Iface>,
    },
    /// Ended (cleanly or at a cut).
    Done,
}

/// A cut: why the file ends here, and whether it is a `MalformedError` ("corrupt data: ").
enum Cut {
    Truncated(String),
    Malformed(String),
}

impl From<SourceError> for Cut {
    fn from(e: SourceError) -> Cut {
        match e {
            SourceError::Truncated(t) => Cut::Truncated(t),
            SourceError::Malformed(t) => Cut::Malformed(t),
        }
    }
}

/// Streams the frames of one capture. After `next_frame` returns `None`, `stats.truncated`
/// says whether (and why) the file ended early.
pub struct FrameReader {
    pub stats: ReadStats,
    src: Source,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    fmt: Format,
    n: u64,
}

/// `pcapng._tsresol`: (seconds per tick, ticks per second).
fn tsresol(value: u8) -> (f64, Per) {
    if value & 0x80 != 0 {
        let e = value & 0x7F;
        (2.0f64.powf(-f64::from(e)), 1u128.checked_shl(u32::from(e)))
    } else {
        (
            10.0f64.powf(-f64::from(value)),
            10u128.checked_pow(u32::from(value)),
        )
    }
}

/// `pcapng._time`: whole seconds plus the fraction, with Python's int-to-float rounding.
fn ng_time(ticks: u64, scale: f64, per: Per, offset: f64) -> f64 {
    let t = u128::from(ticks);
    let (q, r) = match per {
        Some(p) if p > 0 => (t / p, t % p),
        _ => (0, t),
    };
    (q as f64 + r as f64 * scale) + offset
}

/// `pcapng._interface`: an IDB body -> interface.
fn interface(body: &[u8], order: Order) -> Result<Iface, Cut> {
    if body.len() < 8 {
        return Err(Cut::Malformed(
            "interface description block too short".into(),
        ));
    }
    let linktype = u32::from(order.u16(body, 0));
    let snaplen = order.u32(body, 4);
    let (mut scale, mut per): (f64, Per) = (1e-6, Some(1_000_000));
    let mut offset = 0.0;
    let mut pos = 8usize;
    while pos + 4 <= body.len() {
        let code = order.u16(body, pos);
        let length = order.u16(body, pos + 2) as usize;
        pos += 4;
        if code == 0 {
            break;
        }
        let Some(value) = body.get(pos..pos + length) else {
            return Err(Cut::Malformed(
                "interface option runs past its block".into(),
            ));
        };
        if code == 9 && length >= 1 {
            (scale, per) = tsresol(value.first().copied().unwrap_or(0));
        } else if code == 14 && length == 8 {
            offset = order.i64(value, 0) as f64;
        }
        pos += (length + 3) & !3;
    }
    Ok(Iface {
        linktype,
        snaplen,
        scale,
        offset,
        per,
    })
}

/// `pcap.sniff` / `pcapng.sniff`
fn sniff(head: &[u8]) -> Option<&'static str> {
    match head.get(..4) {
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d],
        ) => Some("pcap"),
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => Some("pcapng"),
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn read_retry(f: &mut File, dst: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match f.read(dst) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl FrameReader {
    /// Open a capture file; `Err` for files that are missing, unreadable or not a capture.
    /// `files.open_capture`.
    pub fn open(path: &str) -> Result<FrameReader, InputError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                return Err(InputError(match e.raw_os_error() {
                    Some(2) => format!("{path}: no such file"),
                    Some(21) => format!("{path}: is a directory, not a capture file"),
                    _ => format!("{path}: cannot open: {}", strerror(&e)),
                }))
            }
        };
        // CPython's open() refuses a directory (Linux lets one be opened for reading).
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(InputError(format!(
                "{path}: is a directory, not a capture file"
            )));
        }
        let mut buf = vec![0u8; BUFFER];
        let got = read_retry(&mut file, &mut buf)
            .map_err(|e| InputError(format!("{path}: cannot open: {}", strerror(&e))))?;
        Self::start(path, Source::File(file), buf, got)
    }

    /// A capture held in memory (tests, fuzzing), as if read from a file named `name`.
    pub fn from_bytes(name: &str, data: Vec<u8>) -> Result<FrameReader, InputError> {
        let end = data.len();
        Self::start(name, Source::Done, data, end)
    }

    /// The rest of `open_capture`: `buf[..end]` holds the first bytes of the file (all of it for `Done`).
    fn start(
        path: &str,
        src: Source,
        mut buf: Vec<u8>,
        mut end: usize,
    ) -> Result<FrameReader, InputError> {
        buf.truncate(end.max(if matches!(src, Source::Done) {
            0
        } else {
            BUFFER
        }));
        let mut bytes_read = end as u64;
        let (src, gz) = if end >= 2 && buf.get(..2) == Some(&[0x1f, 0x8b]) {
            let file = match src {
                Source::File(f) => Some(f),
                _ => None,
            };
            buf.truncate(end);
            let mut gz = Box::new(GzipSource::new(file, std::mem::take(&mut buf)));
            let head = gz
                .read_head()
                .map_err(|e| InputError(format!("{path}: {}", e.text())))?;
            end = head.len();
            buf = vec![0u8; BUFFER];
            if let Some(b) = buf.get_mut(..end) {
                b.copy_from_slice(&head);
            }
            bytes_read = end as u64;
            (Source::Gzip(gz), true)
        } else {
            (src, false)
        };
        let head = buf.get(..end.min(4)).unwrap_or_default();
        if head.is_empty() {
            return Err(InputError(format!("{path}: empty file, not a capture")));
        }
        let Some(kind) = sniff(head) else {
            return Err(InputError(format!(
                "{path}: not a pcap or pcapng capture (starts with {})",
                hex(head)
            )));
        };
        let fmt = if kind == "pcap" {
            Format::PcapHeader
        } else {
            Format::Pcapng {
                order: Order::Le,
                ifaces: Vec::new(),
            }
        };
        Ok(FrameReader {
            stats: ReadStats {
                format: format!("{}{kind}", if gz { "gzip " } else { "" }),
                bytes_read,
                ..ReadStats::default()
            },
            src,
            buf,
            pos: 0,
            end,
            fmt,
            n: 0,
        })
    }

    /// Make at least `need` unread bytes available if the file has them: `Ok(false)` if it
    /// ends first (everything left is then in the buffer). Reads only when they are missing.
    fn fill(&mut self, need: usize) -> Result<bool, Cut> {
        if self.end - self.pos >= need {
            return Ok(true);
        }
        if matches!(self.src, Source::Done) {
            return Ok(false);
        }
        // Move the unread tail to the front, into a bigger buffer if the record needs one.
        let keep = self.end - self.pos;
        self.buf.copy_within(self.pos..self.end, 0);
        self.pos = 0;
        self.end = keep;
        if need > self.buf.len() {
            self.buf
                .resize(need.max(self.buf.len().saturating_mul(2)), 0);
        }
        while self.end < need {
            let dst = self.buf.get_mut(self.end..).unwrap_or_default();
            let got = match &mut self.src {
                Source::Done => 0,
                Source::File(f) => match read_retry(f, dst) {
                    Ok(k) => k,
                    Err(e) => {
                        self.src = Source::Done;
                        // `iter_frames` says `str(e)`: "[Errno 5] Input/output error".
                        return Err(Cut::Truncated(format!("read error: {}", oserror_str(&e))));
                    }
                },
                Source::Gzip(g) => match g.read(dst) {
                    Ok(k) => k,
                    Err(e) => {
                        self.src = Source::Done;
                        return Err(e.into());
                    }
                },
            };
            if got == 0 {
                self.src = Source::Done;
                return Ok(false);
            }
            self.end += got;
            self.stats.bytes_read += got as u64;
        }
        Ok(true)
    }

    /// The file ends early here (`iter_frames`' except clauses, `analysis._cut`).
    fn cut(&mut self, c: Cut) {
        self.stats.truncated = Some(match c {
            Cut::Truncated(t) => t,
            Cut::Malformed(t) => format!("corrupt data: {t}"),
        });
        self.fmt = Format::Done;
    }

    /// The next frame, or `None` at the end of the file or at a cut (see `stats.truncated`).
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let r = match self.fmt {
            Format::Done => return None,
            Format::PcapHeader => match self.pcap_header() {
                Ok(()) => self.next_pcap(),
                Err(c) => Err(c),
            },
            Format::Pcap { .. } => self.next_pcap(),
            Format::Pcapng { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some((num, ts, linktype, start, stop, wirelen))) => Some(Frame {
                num,
                ts,
                linktype,
                data: self.buf.get(start..stop).unwrap_or_default(),
                wirelen,
            }),
            Ok(None) => {
                self.fmt = Format::Done;
                None
            }
            Err(c) => {
                self.cut(c);
                None
            }
        }
    }

    /// The start of `pcap.frames`: the 24-byte file header.
    fn pcap_header(&mut self) -> Result<(), Cut> {
        if !self.fill(24)? {
            return Err(Cut::Truncated(format!(
                "pcap file header needs 24 bytes, file has {}",
                self.end - self.pos
            )));
        }
        let h = self.buf.get(self.pos..self.pos + 24).unwrap_or_default();
        let (order, scale) = match h.get(..4) {
            Some([0xd4, 0xc3, 0xb2, 0xa1]) => (Order::Le, 1e-6),
            Some([0xa1, 0xb2, 0xc3, 0xd4]) => (Order::Be, 1e-6),
            Some([0x4d, 0x3c, 0xb2, 0xa1]) => (Order::Le, 1e-9),
            _ => (Order::Be, 1e-9),
        };
        let linktype = order.u32(h, 20) & 0x0FFF_FFFF; // upper bits carry FCS length information
        self.stats.linktypes.insert(linktype);
        self.pos += 24;
        self.fmt = Format::Pcap {
            order,
            scale,
            linktype,
        };
        Ok(())
    }

    /// One record of `pcap.frames` (and of `analysis._ethernet_pcap`, the same records and cuts).
    #[allow(clippy::type_complexity)]
    fn next_pcap(&mut self) -> Result<Option<(u64, f64, u32, usize, usize, u32)>, Cut> {
        let Format::Pcap {
            order,
            scale,
            linktype,
        } = self.fmt
        else {
            return Ok(None);
        };
        loop {
            if self.end - self.pos < 16 {
                if self.fill(16)? {
                    continue;
                }
                let left = self.end - self.pos;
                if left > 0 {
                    return Err(Cut::Truncated(header_cut(self.n, left)));
                }
                return Ok(None);
            }
            let h = self.buf.get(self.pos..self.pos + 16).unwrap_or_default();
            let (sec, frac, incl, orig) = (
                order.u32(h, 0),
                order.u32(h, 4),
                order.u32(h, 8),
                order.u32(h, 12),
            );
            if incl > MAX_FRAME {
                return Err(Cut::Malformed(too_long(self.n + 1, incl)));
            }
            let start = self.pos + 16;
            let stop = start + incl as usize;
            if stop > self.end {
                if !self.fill(16 + incl as usize)? {
                    return Err(Cut::Truncated(frame_cut(
                        self.n + 1,
                        self.end - self.pos - 16,
                        incl,
                    )));
                }
                continue;
            }
            self.n += 1;
            if incl < orig {
                self.stats.snapped += 1;
            }
            self.pos = stop;
            self.stats.frames = self.n;
            let ts = f64::from(sec) + f64::from(frac) * scale;
            return Ok(Some((self.n, ts, linktype, start, stop, orig)));
        }
    }

    /// One frame of `pcapng.frames` (blocks that are not frames are passed over).
    #[allow(clippy::type_complexity)]
    fn next_pcapng(&mut self) -> Result<Option<(u64, f64, u32, usize, usize, u32)>, Cut> {
        let n = self.n;
        loop {
            let Format::Pcapng {
                order: ref mut cur_order,
                ref mut ifaces,
            } = self.fmt
            else {
                return Ok(None);
            };
            if self.end - self.pos < 12 {
                if self.fill(12)? {
                    continue;
                }
                if self.end - self.pos > 0 {
                    return Err(Cut::Truncated(format!("block header cut after frame {n}")));
                }
                return Ok(None);
            }
            let pos = self.pos;
            let b = self.buf.get(pos..self.end).unwrap_or_default();
            if b.get(..4) == Some(&SHB_MAGIC) {
                *cur_order = match b.get(8..12) {
                    Some([0x4d, 0x3c, 0x2b, 0x1a]) => Order::Le,
                    Some([0x1a, 0x2b, 0x3c, 0x4d]) => Order::Be,
                    bom => {
                        return Err(Cut::Malformed(format!(
                            "section header with unknown byte-order magic {}",
                            hex(bom.unwrap_or_default())
                        )))
                    }
                };
                ifaces.clear(); // interface ids are per section
            }
            let order = *cur_order;
            let (btype, blen) = (order.u32(b, 0), order.u32(b, 4));
            if blen < 12 || blen % 4 != 0 || blen > MAX_BLOCK {
                return Err(Cut::Malformed(format!(
                    "block of type 0x{btype:x} after frame {n} has impossible length {blen}"
                )));
            }
            let blen_u = blen as usize;
            if blen_u > b.len() {
                if !self.fill(blen_u)? {
                    let have = self.end - self.pos;
                    return Err(Cut::Truncated(format!(
                        "block of type 0x{btype:x} cut after frame {n}: {have} of {blen} bytes"
                    )));
                }
                continue;
            }
            let stop = pos + blen_u;
            let blk = b.get(..blen_u).unwrap_or_default();
            let blen64 = u64::from(blen);
            match btype {
                EPB => {
                    if blen < 32 {
                        return Err(Cut::Malformed(format!(
                            "enhanced packet block after frame {n} too short"
                        )));
                    }
                    let (iface, hi, lo, caplen, origlen) = (
                        order.u32(blk, 8),
                        order.u32(blk, 12),
                        order.u32(blk, 16),
                        order.u32(blk, 20),
                        order.u32(blk, 24),
                    );
                    let Some(ifc) = ifaces.get(iface as usize) else {
                        return Err(Cut::Malformed(format!(
                            "packet for undeclared interface {iface}"
                        )));
                    };
                    if 28 + u64::from(caplen) > blen64 - 4 {
                        return Err(Cut::Malformed(format!(
                            "packet data runs past its block after frame {n}"
                        )));
                    }
                    let ts = ng_time(
                        (u64::from(hi) << 32) | u64::from(lo),
                        ifc.scale,
                        ifc.per,
                        ifc.offset,
                    );
                    check_ts(ts, n)?;
                    let linktype = ifc.linktype;
                    self.n += 1;
                    if caplen < origlen {
                        self.stats.snapped += 1;
                    }
                    self.stats.frames = self.n;
                    self.pos = stop;
                    return Ok(Some((
                        self.n,
                        ts,
                        linktype,
                        pos + 28,
                        pos + 28 + caplen as usize,
                        origlen,
                    )));
                }
                IDB => {
                    if ifaces.len() >= MAX_INTERFACES {
                        return Err(Cut::Malformed(format!(
                            "more than {MAX_INTERFACES} interfaces in one section after frame {n}"
                        )));
                    }
                    let ifc = interface(blk.get(8..blen_u - 4).unwrap_or_default(), order)?;
                    ifaces.push(ifc);
                    self.stats.linktypes.insert(ifc.linktype);
                }
                SPB => {
                    let Some(ifc) = ifaces.first() else {
                        return Err(Cut::Malformed(
                            "simple packet block before any interface".into(),
                        ));
                    };
                    let origlen = order.u32(blk, 8);
                    let snap = if ifc.snaplen != 0 {
                        ifc.snaplen
                    } else {
                        origlen
                    };
                    let caplen = i64::from(origlen)
                        .min(blen as i64 - 16)
                        .min(i64::from(snap));
                    let len = usize::try_from(caplen).unwrap_or(0);
                    let linktype = ifc.linktype;
                    self.n += 1;
                    self.stats.frames = self.n;
                    self.pos = stop;
                    // No timestamp in a simple packet block; 0.0 marks it as unknown.
                    return Ok(Some((
                        self.n,
                        0.0,
                        linktype,
                        pos + 12,
                        pos + 12 + len,
                        origlen,
                    )));
                }
                PB_OBSOLETE => {
                    if blen < 32 {
                        return Err(Cut::Malformed("packet block too short".into()));
                    }
                    let iface = order.u16(blk, 8);
                    let (hi, lo, caplen, origlen) = (
                        order.u32(blk, 12),
                        order.u32(blk, 16),
                        order.u32(blk, 20),
                        order.u32(blk, 24),
                    );
                    let ifc = match ifaces.get(iface as usize) {
                        Some(i) if 28 + u64::from(caplen) <= blen64 - 4 => *i,
                        _ => return Err(Cut::Malformed("bad packet block".into())),
                    };
                    let ts = ng_time(
                        (u64::from(hi) << 32) | u64::from(lo),
                        ifc.scale,
                        ifc.per,
                        ifc.offset,
                    );
                    check_ts(ts, n)?;
                    self.n += 1;
                    self.stats.frames = self.n;
                    self.pos = stop;
                    return Ok(Some((
                        self.n,
                        ts,
                        ifc.linktype,
                        pos + 28,
                        pos + 28 + caplen as usize,
                        origlen,
                    )));
                }
                _ => {}
            }
            self.pos = stop;
        }
    }
}

/// The pcapng timestamp range check (years 1..9999).
fn check_ts(ts: f64, n: u64) -> Result<(), Cut> {
    if (TS_MIN..=TS_MAX).contains(&ts) {
        return Ok(());
    }
    Err(Cut::Malformed(format!(
        "packet after frame {n} is timestamped {} s from 1970, outside years 1..9999",
        format_3g(ts)
    )))
}
