//! TCP segments -> connections -> in-order bytes per direction (`pcaptls/tcp` in Python).
//!
//! `flows` keys connections by 4-tuple and tracks SYN/FIN/RST, port reuse, lingering and
//! eviction; `reassembly` turns one direction's segments into in-order bytes and gaps for the
//! connection's TLS layer (`crate::tls::Tls`, made at the first payload).
#![forbid(unsafe_code)]

pub mod flows;
pub mod reassembly;

pub use flows::{FlowTable, TlsLayer};
