//! pcaptls-core: the per-packet path of pcaptls, in safe Rust.
//!
//! The same pipeline as the Python reference implementation (`pcaptls/capture`, `pcaptls/tcp`,
//! `pcaptls/tls`), stage for stage, with the same semantics and the same anomaly texts, so that
//! both engines give byte-identical reports (the differential tests hold them to it):
//!
//! ```text
//! capture/  file (pcap, pcapng, gzip) -> frames -> link layer / IP / tunnels -> TCP segments
//! tcp/      segments -> connections (port reuse, FIN/RST, eviction) -> in-order byte streams
//! tls/      byte streams -> records -> handshake messages -> one ConnResult per TLS connection
//! scan      the frame loop joining them (what pcaptls.pipeline.analysis does in Python)
//! ```
//!
//! No I/O but opening the capture file; safe code only (forbidden below); no panics on any input: every malformed
//! input becomes a reported anomaly, a counted frame, or a `truncated` reason.
#![forbid(unsafe_code)]

pub mod capture;
pub mod model;
pub mod scan;
pub mod tcp;
pub mod tls;
