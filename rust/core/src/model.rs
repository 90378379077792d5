//! What the core hands to Python: one compact, owned record per TLS connection.
//!
//! Mirrors `pcaptls.tls.model.TlsConnection` field for field (the binding builds that class from
//! it). Sides are resolved here ("client"/"server"); IP addresses stay raw (4 or 16 bytes) and
//! are formatted in Python, so both engines spell IPv6 the same way.

/// A raw IP address as it was on the wire: 4 (IPv4) or 16 (IPv6) bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Ip {
    pub len: u8,
    pub bytes: [u8; 16],
}

impl Ip {
    pub fn v4(b: &[u8]) -> Ip {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&b[..4]);
        Ip { len: 4, bytes }
    }
    pub fn v6(b: &[u8]) -> Ip {
        let mut bytes = [0u8; 16];
        bytes[..16].copy_from_slice(&b[..16]);
        Ip { len: 16, bytes }
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// "client" or "server", as `pcaptls.tls.model` spells the sender of an alert or message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// `pcaptls.tls.model.Alert`: level/code are `None` when the alert was encrypted.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub time: f64,
    pub frame: u64,
    pub sender: Role,
    pub level: Option<u8>,
    pub code: Option<u8>,
    pub encrypted: bool,
}

/// `pcaptls.tls.model.HandshakeEvent`: one plaintext handshake message, or ChangeCipherSpec (-1).
#[derive(Clone, Debug, PartialEq)]
pub struct HandshakeEvent {
    pub time: f64,
    pub frame: u64,
    pub sender: Role,
    pub htype: i32,
}

/// `pcaptls.tcp.facts.Anomaly`. Before the client is known (inside tcp/ and tls/) the sender is a
/// side (0/1, the order TCP first saw the two ends); `ConnResult` carries resolved roles.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    pub kind: &'static str,
    pub detail: String,
    pub time: Option<f64>,
    pub sender: Option<Role>,
}

/// An anomaly as recorded inside tcp/ and tls/, before sides are resolved to roles.
#[derive(Clone, Debug, PartialEq)]
pub struct SideAnomaly {
    pub kind: &'static str,
    pub detail: String,
    pub time: Option<f64>,
    pub side: Option<u8>,
}

/// How a connection was closed: "FIN" or "RST".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CloseKind {
    Fin,
    Rst,
}

impl CloseKind {
    pub fn name(self) -> &'static str {
        match self {
            CloseKind::Fin => "FIN",
            CloseKind::Rst => "RST",
        }
    }
}

/// Everything learned about one TCP connection that carried TLS (`pcaptls.tls.model.TlsConnection`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnResult {
    pub client: (Ip, u16),
    pub server: (Ip, u16),
    pub start: f64,
    pub end: f64,
    pub first_frame: u64,
    pub sni: Option<String>,
    pub client_version: Option<u32>,
    pub offered_versions: Vec<u32>,
    pub offered_ciphers: Vec<u32>,
    pub offered_groups: Vec<u32>,
    pub offered_sigalgs: Vec<u32>,
    pub alpn_offered: Vec<String>,
    pub alpn: Option<String>,
    pub version_id: Option<u32>,
    pub cipher_id: Option<u32>,
    pub hello_retry: bool,
    pub server_certs: Vec<Vec<u8>>,
    pub client_certs: Vec<Vec<u8>>,
    pub certificate_request: bool,
    pub kex_group: Option<u32>,
    pub alerts: Vec<Alert>,
    pub handshake: Vec<HandshakeEvent>,
    pub closed_by: Option<Role>,
    pub close_kind: Option<CloseKind>,
    pub starttls: Option<&'static str>,
    pub saw_syn: bool,
    pub client_hello_seen: bool,
    pub server_hello_seen: bool,
    pub appdata: (u64, u64),
    pub client_appdata_first: Option<f64>,
    pub server_appdata_last: Option<f64>,
    pub anomalies: Vec<Anomaly>,
    /// ClientHello extension types, wire order, GREASE kept
    pub client_extensions: Vec<u32>,
    pub client_point_formats: Vec<u32>,
    pub client_hello_sslv2: bool,
    /// the ServerHello's own version field
    pub server_legacy_version: Option<u32>,
    pub server_extensions: Vec<u32>,
    /// the ServerHello repeated the ClientHello's non-empty session_id
    pub session_id_echoed: bool,
    /// the ClientHello carried a non-empty session_ticket extension
    pub ticket_offered: bool,
    /// frame and time of the first FIN or RST (the close `closed_by` names)
    pub close_frame: Option<u64>,
    pub close_time: Option<f64>,
    /// frame of the last packet (`end`)
    pub last_frame: u64,
    /// Encrypted records kept for a key log (`pcaptls.tls.sealed.Sealed`); only with
    /// `Scanner::keep_sealed`, and then `None` when nothing was kept.
    pub sealed: Option<Box<Sealed>>,
}

/// `pcaptls.tls.sealed.SealedRecord`: one encrypted record, numbered as its keys need.
#[derive(Clone, Debug, PartialEq)]
pub struct SealedRecord {
    pub sender: Role,
    pub seq: u64,
    pub ctype: u8,
    pub time: f64,
    pub frame: u64,
    pub body: Vec<u8>,
}

/// `pcaptls.tls.sealed.Sealed`: what one connection carries for decryption.
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed {
    pub client_random: Option<Vec<u8>>,
    pub server_hello: Option<Vec<u8>>,
    pub records: Vec<SealedRecord>,
}

/// What the TCP stage knows of a connection when it has the TLS stage finish it
/// (`TlsSession.build`'s arguments): side 0's and side 1's endpoints, first and last packet,
/// who sent the SYN, who closed and how, and its own anomalies (reported first).
#[derive(Clone, Debug, PartialEq)]
pub struct TcpFacts {
    pub ends: [(Ip, u16); 2],
    pub start: f64,
    pub end: f64,
    pub first_frame: u64,
    pub syn_side: Option<u8>,
    pub close: Option<(u8, CloseKind)>,
    /// frame and time of the first FIN or RST, and frame of the last packet
    pub close_frame: Option<u64>,
    pub close_time: Option<f64>,
    pub last_frame: u64,
    pub anomalies: Vec<SideAnomaly>,
}
