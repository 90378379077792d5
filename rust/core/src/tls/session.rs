//! One TCP connection's TLS conversation (`pcaptls/tls/session.py`): the listener of both
//! directions' record readers, collecting facts; `build` makes the `ConnResult`.
//!
//! Which side is the client is decided by who sent the ClientHello; failing that, by who sent
//! the ServerHello, then by TCP's SYN, then by port (`TlsSession.build`).
#![forbid(unsafe_code)]

use super::constants::{handshake_type_name, is_tls13};
use super::handshake::{self as hs, ClientHello, ServerHello};
use super::reader::ParseError;
use super::sealed::SealedLog;
use crate::model::{Alert, Anomaly, ConnResult, HandshakeEvent, Role, SideAnomaly, TcpFacts};

/// A hostile peer can send alerts forever; the first ones tell the story.
pub const MAX_ALERTS: usize = 64;
pub const MAX_EVENTS: usize = 256;
pub const MAX_ANOMALIES: usize = 32;
/// Plaintext kept per side for naming a STARTTLS upgrade (`plaintext[:4096]`).
const PLAIN_KEEP: usize = 4096;

const HT_CLIENT_HELLO: u8 = 1;
const HT_SERVER_HELLO: u8 = 2;
const HT_CERTIFICATE: u8 = 11;
const HT_SERVER_KEY_EXCHANGE: u8 = 12;
const HT_CERTIFICATE_REQUEST: u8 = 13;

/// `_STARTTLS_MARKERS`: `None` = SMTP, IMAP, ...: named by the server's greeting.
const STARTTLS_MARKERS: &[(&[u8], Option<&str>)] = &[
    (b"<starttls", Some("xmpp")),
    (b"STARTTLS", None),
    (b"STLS", Some("pop3")),
    (b"AUTH TLS", Some("ftp")),
    (b"AUTH SSL", Some("ftp")),
    (b"1.3.6.1.4.1.1466.20037", Some("ldap")),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", Some("postgresql")),
    (b"CONNECT ", Some("http-connect")),
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// `_starttls_name`: the plaintext protocol TLS was started from.
pub fn starttls_name(client: &[u8], server: &[u8]) -> &'static str {
    for &(marker, name) in STARTTLS_MARKERS {
        if contains(client, marker) {
            if let Some(name) = name {
                return match name {
                    "xmpp" => "xmpp",
                    "pop3" => "pop3",
                    "ftp" => "ftp",
                    "ldap" => "ldap",
                    "postgresql" => "postgresql",
                    _ => "http-connect",
                };
            }
            if server.starts_with(b"* OK") || contains(server.get(..200).unwrap_or(server), b"IMAP")
            {
                return "imap";
            }
            let head: Vec<u8> = client
                .iter()
                .take(4)
                .map(|b| b.to_ascii_uppercase())
                .collect();
            if server.starts_with(b"220") || head == b"EHLO" || head == b"HELO" {
                return "smtp";
            }
            return "starttls";
        }
    }
    if matches!(client.first(), Some(4 | 5)) && matches!(server.first(), Some(0 | 5)) {
        return "socks";
    }
    if server.len() > 5 && server.get(4) == Some(&10) {
        return "mysql"; // MySQL greeting: protocol version 10 after the header
    }
    "plaintext"
}

/// An alert as seen: (time, frame, side, level, code); level/code `None` when encrypted.
pub type SeenAlert = (f64, u64, u8, Option<u8>, Option<u8>);

/// `TlsSession`: what both directions of one connection said.
#[derive(Debug, Default)]
pub struct Session {
    pub client_side: Option<u8>,
    /// Never set in the reference either (kept so `build` reads the same).
    pub server_side_hint: Option<u8>,
    /// TLS was found on either side (`TlsSession.tls`; a reader consults it while detecting).
    pub tls: bool,
    pub ch: Option<ClientHello>,
    pub sh: Option<ServerHello>,
    /// `bool(self.certs)`: any Certificate message parsed (even an empty chain).
    pub any_certs: bool,
    /// The first non-empty chain each side sent: all `build` takes from `self.certs`, so the
    /// rest is not kept.
    pub first_chain: [Option<Vec<Vec<u8>>>; 2],
    pub cert_request: bool,
    pub kex_group: Option<u32>,
    /// (time, frame, side, level, code), in order seen.
    pub alerts: Vec<SeenAlert>,
    /// (time, frame, side, htype)
    pub events: Vec<(f64, u64, u8, i32)>,
    pub anomalies: Vec<SideAnomaly>,
    pub plain: [Vec<u8>; 2],
    pub hrr: bool,
    pub appdata: [u64; 2],
    pub appdata_first: [Option<f64>; 2],
    pub appdata_last: [Option<f64>; 2],
    pub ccs: [u64; 2],
    pub sslv2_version: Option<u32>,
    /// A TLS 1.3 ServerHello was seen. In Python this also sets `RecordReader.tls13` on both
    /// readers at once (and nothing else sets it), so the readers read this flag instead.
    pub version13: bool,
    pub alerts_dropped: u64,
    pub events_dropped: u64,
    pub anomalies_dropped: u64,
    /// Copies encrypted records when keys are to be tried (`TlsSession.sealed`).
    pub sealed: Option<Box<SealedLog>>,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// `client_side_resolved`.
    pub fn client_side_resolved(&self) -> u8 {
        if let Some(c) = self.client_side {
            return c;
        }
        if let Some(s) = self.server_side_hint {
            return 1 - s;
        }
        0
    }

    fn event(&mut self, side: u8, htype: i32, t: f64, frame: u64) {
        if self.events.len() < MAX_EVENTS {
            self.events.push((t, frame, side, htype));
        } else {
            self.events_dropped += 1;
        }
    }

    /// `_anomaly`
    pub fn anomaly(
        &mut self,
        kind: &'static str,
        detail: String,
        t: Option<f64>,
        side: Option<u8>,
    ) {
        if self.anomalies.len() < MAX_ANOMALIES {
            self.anomalies.push(SideAnomaly {
                kind,
                detail,
                time: t,
                side,
            });
        } else {
            self.anomalies_dropped += 1;
        }
    }

    // -- Listener (`RecordReader` calls these) ----------------------------------------------

    pub fn on_tls_start(&mut self, side: u8, plaintext: &[u8]) {
        self.tls = true;
        if !plaintext.is_empty() {
            if let Some(p) = self.plain.get_mut(usize::from(side)) {
                *p = plaintext.get(..PLAIN_KEEP).unwrap_or(plaintext).to_vec();
            }
        }
    }

    pub fn on_handshake(&mut self, side: u8, htype: u8, body: &[u8], t: f64, frame: u64) {
        self.event(side, i32::from(htype), t, frame);
        if let Err(e) = self.handshake_facts(side, htype, body) {
            let detail = match handshake_type_name(htype) {
                Some(name) => format!("{}: {}", name, e),
                None => format!("{}: {}", htype, e),
            };
            self.anomaly("malformed", detail, Some(t), Some(side));
        }
    }

    fn handshake_facts(&mut self, side: u8, htype: u8, body: &[u8]) -> Result<(), ParseError> {
        match htype {
            HT_CLIENT_HELLO if self.ch.is_none() => {
                self.ch = Some(hs::parse_client_hello(body)?);
                self.client_side = Some(side);
                if let Some(s) = self.sealed.as_deref_mut() {
                    s.hello(true, body);
                }
            }
            HT_SERVER_HELLO => {
                let sh = hs::parse_server_hello(body)?;
                if self.client_side.is_none() {
                    self.client_side = Some(side ^ 1);
                }
                let v = sh.version;
                let v13 = is_tls13(v);
                if sh.retry_request {
                    self.hrr = true;
                    if self.sh.is_none() {
                        self.sh = Some(sh);
                    }
                    // TLS 1.3 already: a ChangeCipherSpec that follows (middlebox compatibility)
                    // must not make the second ClientHello and the ServerHello look encrypted.
                    if v13 {
                        self.version13 = true;
                    }
                    return Ok(());
                }
                self.sh = Some(sh);
                if let Some(s) = self.sealed.as_deref_mut() {
                    s.hello(false, body);
                }
                if v13 {
                    self.version13 = true;
                    let appdata = self.appdata;
                    if let Some(s) = self.sealed.as_deref_mut() {
                        s.start13(appdata);
                    }
                }
            }
            HT_CERTIFICATE => {
                let chain = hs::parse_certificate(body, self.version13)?;
                self.add_chain(side, chain);
            }
            HT_CERTIFICATE_REQUEST => self.cert_request = true,
            HT_SERVER_KEY_EXCHANGE => {
                if let Some(g) = hs::parse_server_key_exchange_group(body) {
                    self.kex_group = Some(g);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn add_chain(&mut self, side: u8, chain: Vec<Vec<u8>>) {
        self.any_certs = true;
        if let Some(slot) = self.first_chain.get_mut(usize::from(side)) {
            if slot.is_none() && !chain.is_empty() {
                *slot = Some(chain);
            }
        }
    }

    pub fn on_sslv2(&mut self, side: u8, msg: &[u8], t: f64, frame: u64) {
        let Some(&kind) = msg.first() else { return };
        let htype = match kind {
            1 => 1,
            4 => 2,
            2 => 16,
            k => 100 + i32::from(k),
        };
        self.event(side, htype, t, frame);
        if let Err(e) = self.sslv2_facts(side, kind, msg) {
            self.anomaly(
                "malformed",
                format!("SSLv2 message: {}", e),
                Some(t),
                Some(side),
            );
        }
    }

    fn sslv2_facts(&mut self, side: u8, kind: u8, msg: &[u8]) -> Result<(), ParseError> {
        if kind == 1 && self.ch.is_none() {
            let ch = hs::parse_sslv2_client_hello(msg)?;
            let v2 = ch.legacy_version == 0x0002;
            self.ch = Some(ch);
            self.client_side = Some(side);
            if v2 {
                self.sslv2_version = Some(0x0002);
            }
        } else if kind == 4 && msg.len() >= 11 {
            // SERVER-HELLO: hit(1) cert_type(1) version(2) cert_len(2) specs_len(2) id_len(2)
            let b = |i: usize| usize::from(msg.get(i).copied().unwrap_or(0));
            let cert_len = (b(5) << 8) | b(6);
            if msg.len() < 11 + cert_len {
                return Err(ParseError(
                    "SSLv2 SERVER-HELLO shorter than its certificate".to_string(),
                ));
            }
            if self.client_side.is_none() {
                self.client_side = Some(side ^ 1);
            }
            self.sslv2_version = Some(((b(3) << 8) | b(4)) as u32);
            if cert_len > 0 {
                let cert = msg.get(11..11 + cert_len).unwrap_or(&[]).to_vec();
                self.add_chain(side, vec![cert]);
            }
        }
        Ok(())
    }

    pub fn on_ccs(&mut self, side: u8, t: f64, frame: u64) {
        if let Some(c) = self.ccs.get_mut(usize::from(side)) {
            *c += 1;
        }
        self.event(side, -1, t, frame);
        if !self.version13 {
            if let Some(s) = self.sealed.as_deref_mut() {
                s.ccs(side);
            }
        }
    }

    pub fn on_alert(&mut self, side: u8, level: Option<u8>, code: Option<u8>, t: f64, frame: u64) {
        if self.alerts.len() < MAX_ALERTS {
            self.alerts.push((t, frame, side, level, code));
        } else {
            self.alerts_dropped += 1;
        }
    }

    pub fn on_appdata(&mut self, side: u8, t: f64) {
        let s = usize::from(side) & 1;
        self.appdata[s] += 1;
        if self.appdata_first[s].is_none() {
            self.appdata_first[s] = Some(t);
        }
        self.appdata_last[s] = Some(t);
    }

    pub fn on_anomaly(&mut self, side: u8, kind: &'static str, detail: String, t: Option<f64>) {
        self.anomaly(kind, detail, t, Some(side));
    }

    /// `s.tls and (s.events or s.alerts or s.certs)`
    pub fn reportable(&self) -> bool {
        self.tls && (!self.events.is_empty() || !self.alerts.is_empty() || self.any_certs)
    }

    /// `TlsSession.build`: the finished record; `ends` are side 0's and side 1's endpoints.
    pub fn build(&mut self, tcp: TcpFacts) -> ConnResult {
        let TcpFacts {
            ends,
            start,
            end,
            first_frame,
            syn_side,
            close,
            close_frame,
            close_time,
            last_frame,
            anomalies: tcp_anomalies,
        } = tcp;
        let [end0, end1] = ends;
        if self.client_side.is_none() && self.server_side_hint.is_none() {
            if let Some(s) = syn_side {
                self.client_side = Some(s);
            } else if end0.1 != end1.1 {
                // Without hellos or SYN: the lower (usually well-known) port is the server's.
                self.client_side = Some(if end0.1 > end1.1 { 0 } else { 1 });
            }
        }
        // Sides are 0 and 1: `name = ("client", "server") if cs == 0 else ("server", "client")`.
        let cs: u8 = if self.client_side_resolved() == 0 {
            0
        } else {
            1
        };
        let name = |side: u8| {
            if side == cs {
                Role::Client
            } else {
                Role::Server
            }
        };
        let csi = usize::from(cs);
        let ssi = 1 - csi;
        let (client, server) = if cs == 0 { (end0, end1) } else { (end1, end0) };
        let [chain0, chain1] = &self.first_chain;
        let (c_chain, s_chain) = if cs == 0 {
            (chain0, chain1)
        } else {
            (chain1, chain0)
        };
        let client_certs = c_chain.clone().unwrap_or_default();
        let server_certs = s_chain.clone().unwrap_or_default();
        let ch = self.ch.as_ref();
        let sh = self.sh.as_ref();
        let mut version = sh.map(|s| s.version);
        let cipher = sh.map(|s| s.cipher);
        if self.sslv2_version.is_some() && sh.is_none() {
            version = self.sslv2_version;
        }
        let alerts = self
            .alerts
            .iter()
            .map(|&(time, frame, side, level, code)| Alert {
                time,
                frame,
                sender: name(side),
                level,
                code,
                encrypted: code.is_none(),
            })
            .collect();
        let handshake = self
            .events
            .iter()
            .map(|&(time, frame, side, htype)| HandshakeEvent {
                time,
                frame,
                sender: name(side),
                htype,
            })
            .collect();
        let mut anomalies: Vec<Anomaly> = tcp_anomalies
            .into_iter()
            .chain(self.anomalies.iter().cloned())
            .map(|a| Anomaly {
                kind: a.kind,
                detail: a.detail,
                time: a.time,
                // Python: `None if a.sender not in "01" else name[int(a.sender)]`
                sender: match a.side {
                    Some(s @ (0 | 1)) => Some(name(s)),
                    _ => None,
                },
            })
            .collect();
        for (n, what, cap) in [
            (self.alerts_dropped, "alerts", MAX_ALERTS),
            (self.events_dropped, "handshake messages", MAX_EVENTS),
            (self.anomalies_dropped, "anomalies", MAX_ANOMALIES),
        ] {
            if n != 0 {
                anomalies.push(Anomaly {
                    kind: "cap",
                    detail: format!("{} more {} not kept (first {} kept)", n, what, cap),
                    time: None,
                    sender: None,
                });
            }
        }
        let [plain0, plain1] = &self.plain;
        let (plain_c, plain_s) = if cs == 0 {
            (plain0, plain1)
        } else {
            (plain1, plain0)
        };
        let starttls = if !plain_c.is_empty() || !plain_s.is_empty() {
            Some(starttls_name(plain_c, plain_s))
        } else {
            None
        };
        ConnResult {
            client,
            server,
            start,
            end,
            first_frame,
            sni: ch.and_then(|c| c.sni.clone()),
            client_version: ch.map(|c| c.legacy_version),
            offered_versions: ch.map(|c| c.versions.clone()).unwrap_or_default(),
            offered_ciphers: ch.map(|c| c.ciphers.clone()).unwrap_or_default(),
            offered_groups: ch.map(|c| c.groups.clone()).unwrap_or_default(),
            offered_sigalgs: ch.map(|c| c.sigalgs.clone()).unwrap_or_default(),
            alpn_offered: ch.map(|c| c.alpn.clone()).unwrap_or_default(),
            alpn: sh.and_then(|s| s.alpn.clone()),
            version_id: version,
            cipher_id: cipher,
            hello_retry: self.hrr,
            server_certs,
            client_certs,
            certificate_request: self.cert_request,
            kex_group: self.kex_group.or(sh.and_then(|s| s.key_share_group)),
            alerts,
            handshake,
            closed_by: close.map(|(side, _)| name(side)),
            close_kind: close.map(|(_, kind)| kind),
            starttls,
            saw_syn: syn_side.is_some(),
            client_hello_seen: ch.is_some(),
            server_hello_seen: sh.is_some() || self.sslv2_version.is_some(),
            appdata: (self.appdata[csi], self.appdata[ssi]), // csi, ssi are 0 and 1
            client_appdata_first: self.appdata_first[csi],
            server_appdata_last: self.appdata_last[ssi],
            anomalies,
            client_extensions: ch.map(|c| c.extensions.clone()).unwrap_or_default(),
            client_point_formats: ch.map(|c| c.point_formats.clone()).unwrap_or_default(),
            client_hello_sslv2: ch.is_some_and(|c| c.sslv2),
            server_legacy_version: sh.map(|s| s.legacy_version),
            server_extensions: sh.map(|s| s.extensions.clone()).unwrap_or_default(),
            session_id_echoed: match (ch, sh) {
                (Some(c), Some(s)) => !c.session_id.is_empty() && c.session_id == s.session_id,
                _ => false,
            },
            ticket_offered: ch.is_some_and(|c| c.ticket),
            close_frame,
            close_time,
            last_frame,
            sealed: self.sealed.as_deref_mut().and_then(|s| s.result(cs)),
        }
    }
}
