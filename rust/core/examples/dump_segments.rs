//! Debugging aid for the capture stage: every frame of a capture, decoded, one line each, then
//! the reader's stats and the decode counts. `tests_py/compare_capture.py` prints the same from
//! the Python reference and diffs the two.
//!
//! ```text
//! cargo run --release --example dump_segments -- FILE [--stats-only]
//! <num> <ts as Python repr> <linktype> (<src> <dst> <sport> <dport> <seq> <ack> <flags> <payload> <missing> | -)
//! ```
//! where payload is its hex when at most 32 bytes, else `<len>:<crc32>`.
use std::io::Write;

use pcaptls_core::capture::{decode, pyfmt::float_repr, Counts, FrameReader};

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: dump_segments FILE [--stats-only]");
        std::process::exit(2);
    };
    let quiet = args.iter().any(|a| a == "--stats-only");
    let mut reader = match FrameReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            println!("InputError: {}", e.0);
            return;
        }
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out.lock());
    let mut counts = Counts::default();
    let mut segments = 0u64;
    let mut payload_bytes = 0u64;
    while let Some(f) = reader.next_frame() {
        let seg = decode(f.linktype, f.data, &mut counts);
        if let Some(s) = &seg {
            segments += 1;
            payload_bytes += s.payload.len() as u64;
        }
        if quiet {
            continue;
        }
        let _ = write!(out, "{} {} {} ", f.num, float_repr(f.ts), f.linktype);
        let _ = match seg {
            None => writeln!(out, "-"),
            Some(s) => {
                let payload = if s.payload.len() <= 32 {
                    hex(s.payload)
                } else {
                    let mut crc = flate2::Crc::new();
                    crc.update(s.payload);
                    format!("{}:{:08x}", s.payload.len(), crc.sum())
                };
                writeln!(
                    out,
                    "{} {} {} {} {} {} {} {} {}",
                    hex(s.src.as_slice()),
                    hex(s.dst.as_slice()),
                    s.sport,
                    s.dport,
                    s.seq,
                    s.ack,
                    s.flags,
                    payload,
                    s.missing
                )
            }
        };
    }
    let st = &reader.stats;
    let _ = writeln!(out, "format {}", st.format);
    let _ = writeln!(out, "frames {}", st.frames);
    let _ = writeln!(out, "snapped {}", st.snapped);
    let lts: Vec<String> = st.linktypes.iter().map(|l| l.to_string()).collect();
    let _ = writeln!(out, "linktypes {}", lts.join(","));
    let _ = writeln!(
        out,
        "truncated {}",
        st.truncated.as_deref().unwrap_or("None")
    );
    if st.truncated.is_none() {
        let _ = writeln!(out, "bytes_read {}", st.bytes_read);
    }
    let c: Vec<String> = counts
        .items()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "counts {}", c.join(" "));
    if quiet {
        let _ = writeln!(out, "segments {segments} payload_bytes {payload_bytes}");
    }
}
