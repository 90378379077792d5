//! Record layer + handshake parsing of one connection: the input is a script of chunks
//! (side, gap or data, length) so reordering of sides, gaps and any split are explored.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaptls_core::model::{Ip, TcpFacts};
use pcaptls_core::tls::Tls;

fuzz_target!(|data: &[u8]| {
    let mut tls = Tls::new(data.first().is_some_and(|b| b & 1 == 1));
    let mut pos = 1;
    let mut frame = 1u64;
    while pos + 2 <= data.len() {
        let ctl = data[pos];
        let len = usize::from(data[pos + 1]) * 8 + 1;
        pos += 2;
        let side = usize::from(ctl & 1);
        if ctl & 0x80 != 0 {
            tls.gap(side, len as u64, Some(frame as f64));
        } else {
            let end = (pos + len).min(data.len());
            tls.data(side, &data[pos..end], frame as f64, frame);
            pos = end;
        }
        frame += 1;
    }
    let _ = tls.reportable();
    let ends = [
        (Ip::v4(&[10, 0, 0, 1]), 50000),
        (Ip::v4(&[10, 0, 0, 2]), 443),
    ];
    let _ = tls.build(TcpFacts {
        ends,
        start: 0.0,
        end: frame as f64,
        first_frame: 1,
        syn_side: None,
        close: None,
        close_frame: None,
        close_time: None,
        last_frame: frame,
        anomalies: Vec::new(),
    });
});
