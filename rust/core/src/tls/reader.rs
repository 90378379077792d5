//! Bounds-checked big-endian reads (`pcaptls/tls/reader.py`): every slice is checked before it is
//! taken, and an overrun becomes a `ParseError` whose text is the Python one, word for word
//! (it ends up in anomaly details).
#![forbid(unsafe_code)]

use std::fmt;

/// `MalformedError` / `TruncatedError` of the Python reference: only the message matters (both
/// are caught as `MalformedError` and reported by their text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type PResult<T> = Result<T, ParseError>;

/// `pcaptls.tls.reader.Reader`: a window `[pos, end)` over `buf`. Offsets in messages are
/// absolute positions in `buf`, as in Python (sub-readers share the buffer).
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub end: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    /// `Reader(buf, pos, end)`; `end` is clamped to the buffer so no read can go past it
    /// (callers only pass in-range windows).
    pub fn window(buf: &'a [u8], pos: usize, end: usize) -> Reader<'a> {
        let end = end.min(buf.len());
        Reader {
            buf,
            pos: pos.min(end),
            end,
        }
    }

    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// `Reader._need`: the exact TruncatedError text.
    fn need(&self, n: usize, what: &str) -> PResult<()> {
        if n > self.end - self.pos {
            return Err(ParseError(format!(
                "{}: need {} bytes at offset {}, have {}",
                what,
                n,
                self.pos,
                self.end - self.pos
            )));
        }
        Ok(())
    }

    fn at(&self, i: usize) -> u8 {
        // `need` ran first, so `i < end <= buf.len()`; `get` keeps it panic-free regardless.
        self.buf.get(i).copied().unwrap_or(0)
    }

    pub fn u8(&mut self, what: &str) -> PResult<u32> {
        self.need(1, what)?;
        let v = self.at(self.pos);
        self.pos += 1;
        Ok(u32::from(v))
    }

    pub fn u16(&mut self, what: &str) -> PResult<u32> {
        self.need(2, what)?;
        let p = self.pos;
        self.pos += 2;
        Ok((u32::from(self.at(p)) << 8) | u32::from(self.at(p + 1)))
    }

    pub fn u24(&mut self, what: &str) -> PResult<u32> {
        self.need(3, what)?;
        let p = self.pos;
        self.pos += 3;
        Ok((u32::from(self.at(p)) << 16)
            | (u32::from(self.at(p + 1)) << 8)
            | u32::from(self.at(p + 2)))
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> PResult<&'a [u8]> {
        self.need(n, what)?;
        let p = self.pos;
        self.pos += n;
        Ok(self.buf.get(p..p + n).unwrap_or(&[]))
    }

    pub fn skip(&mut self, n: usize, what: &str) -> PResult<()> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }

    /// A reader over the next `n` bytes; this reader moves past them.
    pub fn sub(&mut self, n: usize, what: &str) -> PResult<Reader<'a>> {
        self.need(n, what)?;
        let r = Reader {
            buf: self.buf,
            pos: self.pos,
            end: self.pos + n,
        };
        self.pos += n;
        Ok(r)
    }

    pub fn vec8(&mut self, what: &str) -> PResult<Reader<'a>> {
        let n = self.u8(what)? as usize;
        self.sub(n, what)
    }

    pub fn vec16(&mut self, what: &str) -> PResult<Reader<'a>> {
        let n = self.u16(what)? as usize;
        self.sub(n, what)
    }

    pub fn vec24(&mut self, what: &str) -> PResult<Reader<'a>> {
        let n = self.u24(what)? as usize;
        self.sub(n, what)
    }

    /// The bytes of the window not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_texts() {
        let b = [0u8, 5, 1, 2];
        let mut r = Reader::new(&b);
        assert_eq!(r.u16("x").unwrap(), 5);
        assert_eq!(
            r.u24("cert_length").unwrap_err().0,
            "cert_length: need 3 bytes at offset 2, have 2"
        );
        let mut r = Reader::new(&b);
        r.skip(1, "s").unwrap();
        assert_eq!(
            r.vec8("session_id").unwrap_err().0,
            "session_id: need 5 bytes at offset 2, have 2"
        );
        let mut r = Reader::window(&b, 4, 4);
        assert_eq!(
            r.u8("name_type").unwrap_err().0,
            "name_type: need 1 bytes at offset 4, have 0"
        );
    }
}
