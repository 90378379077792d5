//! The whole per-packet path over one capture in memory: reader, decode, TCP, TLS, results.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaptls_core::capture::FrameReader;
use pcaptls_core::scan::scan_all;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = FrameReader::from_bytes("<fuzz>", data.to_vec()) {
        let (conns, summary) = scan_all(r, 0, 1);
        assert!(conns.len() as u64 <= summary.tcp_connections);
        for c in &conns {
            assert!(c.first_frame >= 1 && c.first_frame <= summary.stats.frames);
        }
    }
});
