//! TLS code points used by the record layer and session (`pcaptls/tls/constants.py`).
#![forbid(unsafe_code)]

/// `HandshakeType(htype).name` for the members of the Python enum; `None` for other values
/// (Python then prints the int).
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
