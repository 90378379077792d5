//! Handshake message bodies -> values (`pcaptls/tls/handshake.py`: RFC 5246, RFC 8446 and the
//! TLS 1.3 drafts). Each `parse_*` takes one complete message body (without its 4-byte header)
//! and returns a value or the `ParseError` whose text Python would report.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use super::reader::{PResult, ParseError, Reader};

const EXT_SNI: u32 = 0;
const EXT_GROUPS: u32 = 10;
const EXT_SIGALGS: u32 = 13;
const EXT_POINT_FORMATS: u32 = 11;
const EXT_TICKET: u32 = 35;
const EXT_ALPN: u32 = 16;
const EXT_VERSIONS: u32 = 43;
const EXT_KEY_SHARE: u32 = 51;
const EXT_KEY_SHARE_DRAFT: u32 = 40;

/// RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// `pcaptls.tls.handshake.ClientHello`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClientHello {
    pub legacy_version: u32,
    pub ciphers: Vec<u32>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// supported_versions, GREASE removed
    pub versions: Vec<u32>,
    pub groups: Vec<u32>,
    pub sigalgs: Vec<u32>,
    pub extensions: Vec<u32>,
    pub sslv2: bool,
    /// ec_point_formats, wire order
    pub point_formats: Vec<u32>,
    pub session_id: Vec<u8>,
    /// a non-empty session_ticket extension: the client offers to resume by ticket
    pub ticket: bool,
}

/// `pcaptls.tls.handshake.ServerHello`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerHello {
    pub legacy_version: u32,
    /// negotiated: supported_versions when present
    pub version: u32,
    pub cipher: u32,
    pub alpn: Option<String>,
    pub key_share_group: Option<u32>,
    pub retry_request: bool,
    pub extensions: Vec<u32>,
    pub session_id: Vec<u8>,
}

/// `constants.is_grease`: RFC 8701 GREASE values (0x?A?A).
pub fn is_grease(code: u32) -> bool {
    (code & 0x0F0F) == 0x0A0A && (code >> 8) == (code & 0xFF)
}

/// `_text`: `raw.decode("utf-8", "backslashreplace")`. Rust's UTF-8 validator reports the same
/// maximal invalid subparts as CPython's decoder (surrogates, overlongs, > U+10FFFF, truncated
/// sequences), and backslashreplace escapes each byte of an invalid subpart as `\xNN`.
pub fn text(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let good = e.valid_up_to();
                let (valid, after) = rest.split_at(good);
                // `valid` is valid UTF-8 by the error's contract.
                out.push_str(std::str::from_utf8(valid).unwrap_or(""));
                if after.is_empty() {
                    return out; // unreachable: an error always has at least one byte
                }
                let bad = e.error_len().unwrap_or(after.len()).clamp(1, after.len());
                let (invalid, tail) = after.split_at(bad);
                for b in invalid {
                    let _ = write!(out, "\\x{:02x}", b);
                }
                rest = tail;
            }
        }
    }
}

/// `_u16_list`: the rest of `r` as big-endian 16-bit values.
fn u16_list(r: &mut Reader<'_>, what: &str) -> PResult<Vec<u32>> {
    let n = r.remaining();
    if !n.is_multiple_of(2) {
        return Err(ParseError(format!("{}: odd length {}", what, n)));
    }
    let v = r
        .rest()
        .chunks_exact(2)
        .map(|c| match c {
            [hi, lo] => (u32::from(*hi) << 8) | u32::from(*lo),
            _ => 0,
        })
        .collect();
    r.pos = r.end;
    Ok(v)
}

fn sni(mut r: Reader<'_>) -> PResult<Option<String>> {
    let mut names = r.vec16("server_name_list")?;
    while names.remaining() > 0 {
        let kind = names.u8("name_type")?;
        let mut value = names.vec16("HostName")?;
        if kind == 0 {
            let n = value.remaining();
            return Ok(Some(text(value.bytes(n, "bytes")?)));
        }
    }
    Ok(None)
}

fn alpn(mut r: Reader<'_>) -> PResult<Vec<String>> {
    let mut lst = r.vec16("protocol_name_list")?;
    let mut out = Vec::new();
    while lst.remaining() > 0 {
        let mut p = lst.vec8("ProtocolName")?;
        let n = p.remaining();
        out.push(text(p.bytes(n, "bytes")?));
    }
    Ok(out)
}

/// `_extensions`: `(type, start, end)` of each extension in `r`, all checked before any is used.
fn extensions(r: &mut Reader<'_>) -> PResult<Vec<(u32, usize, usize)>> {
    let buf = r.buf;
    let end = r.end;
    let mut p = r.pos;
    let mut out = Vec::new();
    while p < end {
        if end - p < 4 {
            return Err(ParseError(format!(
                "extension header: need 4 bytes at offset {}, have {}",
                p,
                end - p
            )));
        }
        let b = |i: usize| u32::from(buf.get(i).copied().unwrap_or(0));
        let etype = (b(p) << 8) | b(p + 1);
        let n = ((b(p + 2) << 8) | b(p + 3)) as usize;
        p += 4;
        if n > end - p {
            return Err(ParseError(format!(
                "extension_data: need {} bytes at offset {}, have {}",
                n,
                p,
                end - p
            )));
        }
        out.push((etype, p, p + n));
        p += n;
    }
    r.pos = end;
    Ok(out)
}

/// `parse_client_hello`.
pub fn parse_client_hello(body: &[u8]) -> PResult<ClientHello> {
    let mut r = Reader::new(body);
    let legacy = r.u16("client_version")?;
    r.skip(32, "random")?;
    let mut sid = r.vec8("session_id")?;
    let n = sid.remaining();
    let session_id = sid.bytes(n, "bytes")?.to_vec();
    let ciphers = u16_list(&mut r.vec16("cipher_suites")?, "cipher_suites")?;
    r.vec8("compression_methods")?;
    let mut ch = ClientHello {
        legacy_version: legacy,
        ciphers,
        session_id,
        ..ClientHello::default()
    };
    if r.remaining() > 0 {
        let spans = extensions(&mut r.vec16("extensions")?)?;
        ch.extensions = spans.iter().map(|e| e.0).collect();
        for &(etype, a, b) in &spans {
            let w = Reader::window(body, a, b);
            if etype == EXT_SNI && b > a {
                ch.sni = sni(w)?;
            } else if etype == EXT_ALPN {
                ch.alpn = alpn(w)?;
            } else if etype == EXT_VERSIONS {
                let mut w = w;
                let v = u16_list(&mut w.vec8("versions")?, "versions")?;
                ch.versions = v.into_iter().filter(|&v| !is_grease(v)).collect();
            } else if etype == EXT_GROUPS {
                let mut w = w;
                ch.groups = u16_list(&mut w.vec16("named_group_list")?, "named_group_list")?;
            } else if etype == EXT_SIGALGS {
                let mut w = w;
                ch.sigalgs = u16_list(
                    &mut w.vec16("supported_signature_algorithms")?,
                    "signature_algorithms",
                )?;
            } else if etype == EXT_POINT_FORMATS {
                let mut w = w;
                let mut pf = w.vec8("ec_point_format_list")?;
                let n = pf.remaining();
                ch.point_formats = pf.bytes(n, "bytes")?.iter().map(|&b| u32::from(b)).collect();
            } else if etype == EXT_TICKET {
                ch.ticket = b > a;
            }
        }
    }
    Ok(ch)
}

/// `parse_sslv2_client_hello`: SSLv2-compatible ClientHello (RFC 5246 E.2); `msg` starts at
/// msg_type.
pub fn parse_sslv2_client_hello(msg: &[u8]) -> PResult<ClientHello> {
    let mut r = Reader::new(msg);
    if r.u8("msg_type")? != 1 {
        return Err(ParseError("SSLv2 record is not a CLIENT-HELLO".to_string()));
    }
    let version = r.u16("version")?;
    let spec_len = r.u16("cipher_spec_length")? as usize;
    let sid_len = r.u16("session_id_length")? as usize;
    let chal_len = r.u16("challenge_length")? as usize;
    if !spec_len.is_multiple_of(3) {
        return Err(ParseError(
            "SSLv2 cipher spec length not a multiple of 3".to_string(),
        ));
    }
    let mut specs = r.sub(spec_len, "cipher_specs")?;
    r.skip(sid_len, "session_id")?;
    r.skip(chal_len, "challenge")?;
    let mut ciphers = Vec::with_capacity(spec_len / 3);
    while specs.remaining() > 0 {
        let hi = specs.u8("u8")?;
        let lo = specs.u16("u16")?;
        ciphers.push((hi << 16) | lo); // SSLv2 kinds keep their 3-byte code
    }
    Ok(ClientHello {
        legacy_version: version,
        ciphers,
        sslv2: true,
        ..ClientHello::default()
    })
}

/// `parse_server_hello`, including the layout of TLS 1.3 drafts before -22 (no session_id,
/// no compression), which the earliest drafts sent with 0x0304 itself in the version field.
pub fn parse_server_hello(body: &[u8]) -> PResult<ServerHello> {
    let mut r = Reader::new(body);
    let legacy = r.u16("server_version")?;
    let random = r.bytes(32, "random")?;
    let draft = ((legacy >> 8) == 0x7F && (legacy & 0xFF) < 22) || legacy == 0x0304;
    let mut session_id = Vec::new();
    if !draft {
        let mut sid = r.vec8("session_id")?;
        let n = sid.remaining();
        session_id = sid.bytes(n, "bytes")?.to_vec();
    }
    let cipher = r.u16("cipher_suite")?;
    if !draft {
        r.u8("compression_method")?;
    }
    let mut sh = ServerHello {
        legacy_version: legacy,
        version: legacy,
        cipher,
        alpn: None,
        key_share_group: None,
        retry_request: random == HRR_RANDOM,
        extensions: Vec::new(),
        session_id,
    };
    if r.remaining() > 0 {
        let at = |i: usize| u32::from(body.get(i).copied().unwrap_or(0));
        for (etype, a, b) in extensions(&mut r.vec16("extensions")?)? {
            sh.extensions.push(etype);
            if etype == EXT_VERSIONS && b - a == 2 {
                sh.version = (at(a) << 8) | at(a + 1);
            } else if etype == EXT_ALPN && b > a {
                let names = alpn(Reader::window(body, a, b))?;
                sh.alpn = names.into_iter().next();
            } else if (etype == EXT_KEY_SHARE || etype == EXT_KEY_SHARE_DRAFT) && b - a >= 2 {
                sh.key_share_group = Some((at(a) << 8) | at(a + 1));
            }
        }
    }
    Ok(sh)
}

/// `parse_certificate`: DER certificates in wire order (leaf first). TLS 1.3 adds a request
/// context and per-entry extensions.
pub fn parse_certificate(body: &[u8], tls13: bool) -> PResult<Vec<Vec<u8>>> {
    let mut r = Reader::new(body);
    if tls13 {
        r.vec8("certificate_request_context")?;
    }
    let mut lst = r.vec24("certificate_list")?;
    let mut out = Vec::new();
    while lst.remaining() > 0 {
        let n = lst.u24("cert_length")? as usize;
        out.push(lst.bytes(n, "ASN.1Cert")?.to_vec());
        if tls13 {
            lst.vec16("extensions")?;
        }
    }
    Ok(out)
}

/// `parse_server_key_exchange_group`: the named curve of an ECDHE ServerKeyExchange
/// (curve_type 3), else `None`.
pub fn parse_server_key_exchange_group(body: &[u8]) -> Option<u32> {
    match body {
        [3, hi, lo, ..] => Some((u32::from(*hi) << 8) | u32::from(*lo)),
        _ => None,
    }
}

/// Mirrors `tests/tls/test_handshake.py` (same real messages, from `testdata/hs.bin`), plus the
/// exact error texts and the UTF-8 "backslashreplace" rules.
#[cfg(test)]
mod tests {
    use super::*;

    /// Handshake messages of a plaintext TLS 1.2 flight (`_messages`).
    fn messages(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut body = Vec::new();
        let mut pos = 0;
        while pos + 5 <= stream.len() {
            let ln = usize::from(stream[pos + 3]) << 8 | usize::from(stream[pos + 4]);
            if stream[pos] == 22 {
                body.extend_from_slice(&stream[pos + 5..(pos + 5 + ln).min(stream.len())]);
            }
            pos += 5 + ln;
        }
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 4 <= body.len() {
            let ln = (usize::from(body[pos + 1]) << 16)
                | (usize::from(body[pos + 2]) << 8)
                | usize::from(body[pos + 3]);
            out.push((
                body[pos],
                body[pos + 4..(pos + 4 + ln).min(body.len())].to_vec(),
            ));
            pos += 4 + ln;
        }
        out
    }

    /// `[kind u8][side u8][len u32 BE][bytes]` chunks of `testdata/hs.bin`: wire (kind 0).
    fn flights() -> Vec<(u8, Vec<u8>)> {
        let raw: &[u8] = include_bytes!("testdata/hs.bin");
        let mut wire = Vec::new();
        let mut p = 0;
        while p + 6 <= raw.len() {
            let n = u32::from_be_bytes([raw[p + 2], raw[p + 3], raw[p + 4], raw[p + 5]]) as usize;
            if raw[p] == 0 {
                wire.push(raw[p + 6..p + 6 + n].to_vec());
            }
            p += 6 + n;
        }
        let mut out = messages(&wire[0]);
        out.extend(messages(&wire[1]));
        out
    }

    #[test]
    fn real_messages() {
        let f = flights();
        let types: Vec<u8> = f.iter().map(|m| m.0).collect();
        assert_eq!(types[..3], [1, 2, 11]);
        let ch = parse_client_hello(&f[0].1).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("hs.example.com"));
        assert!(ch.legacy_version == 0x0303 || ch.versions.contains(&0x0303));
        assert!(!ch.ciphers.is_empty());
        let sh = parse_server_hello(&f[1].1).unwrap();
        assert_eq!(sh.version, 0x0303);
        assert!(ch.ciphers.contains(&sh.cipher) && !sh.retry_request);
        assert_eq!(parse_certificate(&f[2].1, false).unwrap().len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (htype, body) in flights().iter().take(3) {
            for cut in 0..body.len() {
                let b = &body[..cut];
                let r = match htype {
                    1 => parse_client_hello(b).map(|_| ()),
                    2 => parse_server_hello(b).map(|_| ()),
                    _ => parse_certificate(b, false).map(|_| ()),
                };
                // Any outcome but a panic is right; most cuts are errors.
                let _ = r;
            }
        }
    }

    #[test]
    fn fuzz_parsers() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 600) as usize;
            let data: Vec<u8> = (0..n)
                .map(|i| (x.rotate_left(i as u32 % 64) >> (i % 8)) as u8)
                .collect();
            let _ = parse_client_hello(&data);
            let _ = parse_server_hello(&data);
            let _ = parse_certificate(&data, false);
            let _ = parse_certificate(&data, true);
            let _ = parse_sslv2_client_hello(&data);
            let _ = parse_server_key_exchange_group(&data);
        }
    }

    #[test]
    fn error_texts() {
        let err = |r: PResult<ClientHello>| r.unwrap_err().0;
        assert_eq!(
            err(parse_client_hello(b"")),
            "client_version: need 2 bytes at offset 0, have 0"
        );
        assert_eq!(
            err(parse_client_hello(&[3, 3, 0])),
            "random: need 32 bytes at offset 2, have 1"
        );
        let mut ch = vec![3, 3];
        ch.extend([0u8; 32]);
        ch.extend([0, 0, 4, 0x13, 0x01]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "cipher_suites: need 4 bytes at offset 37, have 2"
        );
        ch.truncate(35);
        ch.extend([0, 3, 0x13, 0x01, 0x13, 1, 0]);
        assert_eq!(err(parse_client_hello(&ch)), "cipher_suites: odd length 3");
        ch.truncate(35);
        ch.extend([0, 2, 0x13, 0x01, 1, 0, 0, 6, 0, 0, 0, 9]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "extensions: need 6 bytes at offset 43, have 4"
        );
        ch.extend([1, 2]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "extension_data: need 9 bytes at offset 47, have 2"
        );
        ch.truncate(41);
        ch.extend([0, 3, 0, 0, 0]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "extension header: need 4 bytes at offset 43, have 3"
        );
        ch.truncate(41);
        ch.extend([0, 9, 0, 0, 0, 5, 0, 3, 0, 0, 1]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "HostName: need 1 bytes at offset 52, have 0"
        );
        ch.truncate(41);
        ch.extend([0, 6, 0, 43, 0, 2, 1, 1]);
        assert_eq!(err(parse_client_hello(&ch)), "versions: odd length 1");
        ch.truncate(41);
        ch.extend([0, 8, 0, 13, 0, 4, 0, 2, 4, 3]);
        let ok = parse_client_hello(&ch).unwrap();
        assert_eq!(ok.sigalgs, [0x0403]);
        ch.truncate(41);
        ch.extend([0, 7, 0, 13, 0, 3, 0, 1, 4]);
        assert_eq!(
            err(parse_client_hello(&ch)),
            "signature_algorithms: odd length 1"
        );
        let cert = parse_certificate(&[0, 0, 5, 0, 0, 9, 1, 2], false)
            .unwrap_err()
            .0;
        assert_eq!(cert, "ASN.1Cert: need 9 bytes at offset 6, have 2");
        let v2 = parse_sslv2_client_hello(&[1, 0, 2, 0, 4, 0, 0, 0, 16])
            .unwrap_err()
            .0;
        assert_eq!(v2, "SSLv2 cipher spec length not a multiple of 3");
        let v2 = parse_sslv2_client_hello(&[4]).unwrap_err().0;
        assert_eq!(v2, "SSLv2 record is not a CLIENT-HELLO");
    }

    #[test]
    fn server_hello_drafts_and_hrr() {
        // TLS 1.3 draft 18: no session_id, no compression; key_share as the draft extension 40.
        let mut b = vec![0x7F, 18];
        b.extend([7u8; 32]);
        b.extend([0x13, 0x01, 0, 6, 0, 40, 0, 2, 0, 29]);
        let sh = parse_server_hello(&b).unwrap();
        assert_eq!(
            (sh.version, sh.cipher, sh.key_share_group),
            (0x7F12, 0x1301, Some(29))
        );
        let mut b = vec![3, 3];
        b.extend(HRR_RANDOM);
        b.extend([0, 0x13, 0x02, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
        let sh = parse_server_hello(&b).unwrap();
        assert!(sh.retry_request && sh.version == 0x0304);
    }

    #[test]
    fn text_is_backslashreplace() {
        // Checked against CPython's bytes.decode("utf-8", "backslashreplace").
        let cases: &[(&[u8], &str)] = &[
            (b"abc", "abc"),
            (b"\xc3\xa9", "\u{e9}"),
            (b"\xed\xa0\x80x", "\\xed\\xa0\\x80x"),
            (b"\xc0\xaf", "\\xc0\\xaf"),
            (b"\xe0\x80\xaf", "\\xe0\\x80\\xaf"),
            (b"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),
            (b"\xe2\x82", "\\xe2\\x82"),
            (b"\xe2\x82a", "\\xe2\\x82a"),
            (b"\xf0\x9f\x98", "\\xf0\\x9f\\x98"),
            (b"\xf0\x9f\x98\x80", "\u{1f600}"),
            (b"\xff\xfe", "\\xff\\xfe"),
            (b"\x80\xc3\xa9", "\\x80\u{e9}"),
        ];
        for (raw, want) in cases {
            assert_eq!(text(raw), *want, "{:?}", raw);
        }
    }
}
