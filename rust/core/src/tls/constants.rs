//! TLS code points used by the record layer and session (`pcaptls/tls/constants.py`).
#![forbid(unsafe_code)]

/// `HandshakeType(htype).name` for the members of the Python enum; `None` for other values
/// (Python then prints the int).
/// `pcaptls.tls.constants.is_tls13`: TLS 1.3's layout (everything after ServerHello encrypted):
/// 1.3 itself, its drafts (0x7Fxx) and the experiment versions (0x7Exx, 0xFB1A).
pub fn is_tls13(v: u32) -> bool {
    v == 0x0304 || (v >> 8) == 0x7F || (v >> 8) == 0x7E || v == 0xFB1A
}

pub fn handshake_type_name(htype: u8) -> Option<&'static str> {
    Some(match htype {
        0 => "HELLO_REQUEST",
        1 => "CLIENT_HELLO",
        2 => "SERVER_HELLO",
        3 => "HELLO_VERIFY_REQUEST",
        4 => "NEW_SESSION_TICKET",
        5 => "END_OF_EARLY_DATA",
        6 => "HELLO_RETRY_REQUEST",
        8 => "ENCRYPTED_EXTENSIONS",
        11 => "CERTIFICATE",
        12 => "SERVER_KEY_EXCHANGE",
        13 => "CERTIFICATE_REQUEST",
        14 => "SERVER_HELLO_DONE",
        15 => "CERTIFICATE_VERIFY",
        16 => "CLIENT_KEY_EXCHANGE",
        20 => "FINISHED",
        21 => "CERTIFICATE_URL",
        22 => "CERTIFICATE_STATUS",
        23 => "SUPPLEMENTAL_DATA",
        24 => "KEY_UPDATE",
        254 => "MESSAGE_HASH",
        _ => return None,
    })
}
