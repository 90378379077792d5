//! A gzip-compressed capture, decompressed exactly as CPython 3.11's `gzip` module does it under
//! `pcaptls.capture.files._GzipSource`, so that a damaged file yields the same bytes before the
//! damage and the same error text.
//!
//! Python discards the output of a `zlib` decompress call that fails, so *which* bytes come out
//! before an error depends on the call pattern: `_GzipReader.read(size)` feeds the decompressor
//! 8 KiB of compressed input at a time (`io.DEFAULT_BUFFER_SIZE`, the unused rest pushed back)
//! with an output cap of `size`, and `_GzipSource.read(n)` asks for `n` = 4 (the sniff in
//! `open_capture`), then 65532 (`_Prepend` tops the first 64 KiB chunk up), then 65536 per
//! chunk. This module replays that pattern with zlib-rs, a port of zlib with zlib's error
//! texts and the same stopping points.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::Read;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::pyfmt::{bytes_repr, oserror_str};

/// `io.DEFAULT_BUFFER_SIZE`: compressed bytes handed to one decompress call.
const INPUT_SIZE: usize = 8192;
/// `files.CHUNK`.
const CHUNK: usize = 1 << 16;
const EOF_TEXT: &str = "Compressed file ended before the end-of-stream marker was reached";

/// Why reading stopped, as the Python exception would say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// `TruncatedError(text)`: printed as is.
    Truncated(String),
    /// `MalformedError(text)`: `iter_frames` prefixes "corrupt data: ".
    Malformed(String),
}

impl SourceError {
    pub fn text(&self) -> &str {
        match self {
            SourceError::Truncated(t) | SourceError::Malformed(t) => t,
        }
    }
}

/// What `_GzipReader` raised: `EOFError`, or an `OSError`/`zlib.error` (its `str`).
enum GzError {
    Eof,
    Corrupt(String),
}

/// The compressed byte stream as `gzip._PaddedFile` over a buffered file sees it: a cursor
/// that can step back over the bytes it just returned (`prepend`).
struct RawIn {
    file: Option<File>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl RawIn {
    /// Up to `n` more bytes (fewer only at the end of the file), as `buf[start..start + len]`.
    fn read(&mut self, n: usize) -> Result<(usize, usize), GzError> {
        if self.buf.len() - self.pos < n && !self.eof {
            self.buf.drain(..self.pos);
            self.pos = 0;
            while self.buf.len() < n && !self.eof {
                let Some(f) = self.file.as_mut() else {
                    self.eof = true;
                    break;
                };
                let have = self.buf.len();
                let want = (n - have).max(CHUNK);
                self.buf.resize(have + want, 0);
                let got = loop {
                    match f.read(self.buf.get_mut(have..).unwrap_or_default()) {
                        Ok(k) => break Ok(k),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => break Err(e),
                    }
                };
                match got {
                    Ok(k) => {
                        self.buf.truncate(have + k);
                        if k == 0 {
                            self.eof = true;
                        }
                    }
                    Err(e) => {
                        self.buf.truncate(have);
                        return Err(GzError::Corrupt(oserror_str(&e)));
                    }
                }
            }
        }
        let start = self.pos;
        let len = n.min(self.buf.len() - start);
        self.pos += len;
        Ok((start, len))
    }

    fn bytes(&self, (start, len): (usize, usize)) -> &[u8] {
        self.buf.get(start..start + len).unwrap_or_default()
    }

    /// `_PaddedFile.prepend` of the last `k` bytes read.
    fn unread(&mut self, k: usize) {
        self.pos = self.pos.saturating_sub(k);
    }

    /// `_read_exact`: `n` bytes or `EOFError`.
    fn read_exact(&mut self, n: usize) -> Result<(usize, usize), GzError> {
        let r = self.read(n)?;
        if r.1 < n {
            return Err(GzError::Eof);
        }
        Ok(r)
    }
}

/// `_GzipSource` over `gzip.GzipFile`: decompressed bytes, then (once they are all taken) the error.
pub struct GzipSource {
    raw: RawIn,
    inflate: Decompress,
    /// `_decompressor.eof`: the member's deflate stream ended.
    stream_end: bool,
    new_member: bool,
    crc: Crc,
    stream_size: u64,
    /// Output of the last `_GzipSource.read` (`pending[..plen]`), not yet handed on past `taken`.
    pending: Vec<u8>,
    plen: usize,
    taken: usize,
    /// `_GzipSource._error`: raised once `pending` is empty.
    error: Option<SourceError>,
    /// `_GzipSource.read` calls made so far (their sizes are 4, 65532, 65536, ...).
    calls: u64,
    finished: bool,
}

impl GzipSource {
    /// Over a file whose first bytes (`head`, already read) come before the rest of `file`.
    pub fn new(file: Option<File>, head: Vec<u8>) -> GzipSource {
        GzipSource {
            raw: RawIn {
                eof: file.is_none(),
                file,
                buf: head,
                pos: 0,
            },
            inflate: Decompress::new(false),
            stream_end: false,
            new_member: true,
            crc: Crc::new(),
            stream_size: 0,
            pending: vec![0u8; CHUNK],
            plen: 0,
            taken: 0,
            error: None,
            calls: 0,
            finished: false,
        }
    }

    /// Fill `dst` from the decompressed stream: `Ok(0)` at its end, `Err` at the damage (and on
    /// every call after it).
    pub fn read(&mut self, dst: &mut [u8]) -> Result<usize, SourceError> {
        if self.taken >= self.plen {
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            if self.finished || dst.is_empty() {
                return Ok(0);
            }
            let n = match self.calls {
                0 => 4,
                1 => CHUNK - 4,
                _ => CHUNK,
            };
            self.calls += 1;
            self.source_read(n);
            if self.plen == 0 {
                if let Some(e) = &self.error {
                    return Err(e.clone());
                }
                self.finished = true;
                return Ok(0);
            }
        }
        let avail = self.pending.get(self.taken..self.plen).unwrap_or_default();
        let k = avail.len().min(dst.len());
        if let (Some(d), Some(s)) = (dst.get_mut(..k), avail.get(..k)) {
            d.copy_from_slice(s);
        }
        self.taken += k;
        Ok(k)
    }

    /// `open_capture`'s `src.read(4)`: the first call, whose error (if any) waits for the next
    /// call unless no byte came out.
    pub fn read_head(&mut self) -> Result<Vec<u8>, SourceError> {
        self.calls = 1;
        self.source_read(4);
        if self.plen == 0 {
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            self.finished = true;
        }
        self.taken = self.plen;
        Ok(self.pending.get(..self.plen).unwrap_or_default().to_vec())
    }

    /// `_GzipSource.read(n)` into `pending`; an error is kept in `error`.
    fn source_read(&mut self, n: usize) {
        self.plen = 0;
        self.taken = 0;
        while self.plen < n {
            match self.reader_read(n - self.plen) {
                Ok(0) => break,
                Ok(_) => {}
                Err(GzError::Eof) => {
                    self.error = Some(SourceError::Truncated(format!(
                        "gzip stream ends early: {EOF_TEXT}"
                    )));
                    break;
                }
                Err(GzError::Corrupt(text)) => {
                    self.error = Some(SourceError::Malformed(format!(
                        "gzip data is corrupt: {text}"
                    )));
                    break;
                }
            }
        }
    }

    /// `_GzipReader.read(size)`: appends up to `size` bytes to `pending` (`plen + size` is at
    /// most `CHUNK`); 0 at the end.
    fn reader_read(&mut self, size: usize) -> Result<usize, GzError> {
        loop {
            if self.stream_end {
                self.read_eof()?;
                self.new_member = true;
                self.inflate = Decompress::new(false);
                self.stream_end = false;
            }
            if self.new_member {
                self.crc = Crc::new();
                self.stream_size = 0;
                if !self.read_gzip_header()? {
                    return Ok(0);
                }
                self.new_member = false;
            }
            let r = self.raw.read(INPUT_SIZE)?;
            let before = self.plen;
            let in_before = self.inflate.total_in();
            let out_before = self.inflate.total_out();
            let input = self.raw.bytes(r);
            let out = self
                .pending
                .get_mut(before..before + size)
                .unwrap_or_default();
            let res = self.inflate.decompress(input, out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - in_before) as usize;
            let made = (self.inflate.total_out() - out_before) as usize;
            match res {
                Ok(status) => {
                    self.plen = before + made;
                    if status == Status::StreamEnd {
                        self.stream_end = true;
                    }
                }
                Err(e) => {
                    // zlib_error(): "Error -3 while decompressing data: <zlib's msg>"
                    let msg = e.message().unwrap_or("invalid input data");
                    return Err(GzError::Corrupt(format!(
                        "Error -3 while decompressing data: {msg}"
                    )));
                }
            }
            self.raw.unread(r.1.saturating_sub(used)); // unconsumed_tail / unused_data
            if made > 0 {
                if let Some(new) = self.pending.get(before..self.plen) {
                    self.crc.update(new);
                }
                self.stream_size += made as u64;
                return Ok(made);
            }
            if r.1 == 0 {
                return Err(GzError::Eof);
            }
        }
    }

    /// `gzip._read_gzip_header`: false at the end of the file.
    fn read_gzip_header(&mut self) -> Result<bool, GzError> {
        let r = self.raw.read(2)?;
        let magic = self.raw.bytes(r);
        if magic.is_empty() {
            return Ok(false);
        }
        if magic != b"\x1f\x8b" {
            return Err(GzError::Corrupt(format!(
                "Not a gzipped file ({})",
                bytes_repr(magic)
            )));
        }
        let r = self.raw.read_exact(8)?;
        let h = self.raw.bytes(r);
        let (method, flag) = (
            h.first().copied().unwrap_or(0),
            h.get(1).copied().unwrap_or(0),
        );
        if method != 8 {
            return Err(GzError::Corrupt("Unknown compression method".into()));
        }
        if flag & 4 != 0 {
            let r = self.raw.read_exact(2)?;
            let x = self.raw.bytes(r);
            let extra = u16::from_le_bytes([
                x.first().copied().unwrap_or(0),
                x.get(1).copied().unwrap_or(0),
            ]);
            self.raw.read_exact(extra as usize)?;
        }
        for bit in [8u8, 16] {
            if flag & bit != 0 {
                loop {
                    let r = self.raw.read(1)?;
                    if self.raw.bytes(r).first().is_none_or(|&c| c == 0) {
                        break;
                    }
                }
            }
        }
        if flag & 2 != 0 {
            self.raw.read_exact(2)?;
        }
        Ok(true)
    }

    /// `_GzipReader._read_eof`: the member trailer, then zero padding.
    fn read_eof(&mut self) -> Result<(), GzError> {
        let r = self.raw.read_exact(8)?;
        let t = self.raw.bytes(r);
        let word = |i: usize| {
            t.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0)
        };
        let (crc32, isize) = (word(0), word(4));
        let ours = self.crc.sum();
        if crc32 != ours {
            return Err(GzError::Corrupt(format!(
                "CRC check failed {crc32:#x} != {ours:#x}"
            )));
        }
        if isize != (self.stream_size & 0xFFFF_FFFF) as u32 {
            return Err(GzError::Corrupt("Incorrect length of data produced".into()));
        }
        loop {
            let r = self.raw.read(1)?;
            match self.raw.bytes(r).first() {
                Some(0) => continue,
                Some(_) => {
                    self.raw.unread(1);
                    break;
                }
                None => break,
            }
        }
        Ok(())
    }
}
