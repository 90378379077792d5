//! Link layer / IP / tunnel / TCP decoding of one frame: the first two bytes pick the link type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaptls_core::capture::{decode, Counts};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let linktype = u32::from(u16::from_be_bytes([data[0], data[1]]));
    let mut counts = Counts::default();
    if let Some(seg) = decode(linktype, &data[2..], &mut counts) {
        assert!(seg.payload.len() <= data.len());
    }
});
