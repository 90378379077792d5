//! pcap/pcapng/gzip reader: any bytes -> frames or a reported cut, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaptls_core::capture::FrameReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = FrameReader::from_bytes("<fuzz>", data.to_vec()) {
        let mut n = 0u64;
        while let Some(f) = r.next_frame() {
            n += 1;
            assert_eq!(f.num, n);
        }
        assert_eq!(r.stats.frames, n);
    }
});
