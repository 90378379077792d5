//! The floor for the benchmarks: the least any reader of a classic pcap file does.
//!
//! `walk FILE` reads the file in 1 MiB chunks into one reused buffer, as a real reader would,
//! and only steps from one 16-byte record header to the next (counting frames and the bytes
//! they hold); it looks at nothing inside a frame. Little- and big-endian files, microsecond
//! and nanosecond magic. Prints `FRAMES frames, BYTES bytes` (frame bytes as captured).
//!
//! Plain `std`, on purpose: it uses none of the crate's modules, so it measures the file and
//! the loop, not pcaptls. `benchmarks/run.py` runs it as `rustfloor`.
//!
//! ```sh
//! cargo build --release --example walk --manifest-path rust/Cargo.toml
//! rust/target/release/examples/walk capture.pcap
//! ```

use std::env;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::process::ExitCode;

const CHUNK: usize = 1 << 20;
const MAX_RECORD: u32 = 1 << 28; // a larger length is not a pcap record: the file is damaged

struct Walked {
    frames: u64,
    bytes: u64,
    cut: bool, // the file ends inside a record
}

fn main() -> ExitCode {
    let Some(path) = env::args_os().nth(1) else {
        eprintln!("usage: walk FILE.pcap");
        return ExitCode::from(2);
    };
    match walk(Path::new(&path)) {
        Ok(w) => {
            println!(
                "{} frames, {} bytes{}",
                w.frames,
                w.bytes,
                if w.cut {
                    " (file cut inside the last record)"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("walk: {}: {e}", path.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}

fn walk(path: &Path) -> io::Result<Walked> {
    let f = &mut File::open(path)?;
    let mut head = [0u8; 24];
    f.read_exact(&mut head)?;
    let big_endian = match u32::from_le_bytes([head[0], head[1], head[2], head[3]]) {
        0xA1B2_C3D4 | 0xA1B2_3C4D => false,
        0xD4C3_B2A1 | 0x4D3C_B2A1 => true,
        m => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a classic pcap file (magic {m:#010x})"),
            ))
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let (mut start, mut end) = (0usize, 0usize); // unread bytes are buf[start..end]
    let mut skip = 0u64; // bytes of a frame longer than the buffer still to pass over
    let mut w = Walked {
        frames: 0,
        bytes: 0,
        cut: false,
    };
    loop {
        while end - start >= 16 {
            let h = [
                buf[start + 8],
                buf[start + 9],
                buf[start + 10],
                buf[start + 11],
            ];
            let incl = if big_endian {
                u32::from_be_bytes(h)
            } else {
                u32::from_le_bytes(h)
            };
            if incl > MAX_RECORD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("record {} claims {incl} bytes", w.frames + 1),
                ));
            }
            w.frames += 1;
            w.bytes += u64::from(incl);
            let need = 16 + incl as usize;
            if end - start >= need {
                start += need;
            } else {
                skip = (need - (end - start)) as u64;
                start = end;
                break;
            }
        }
        buf.copy_within(start..end, 0); // the start of a header cut by the chunk's end
        end -= start;
        start = 0;
        let n = read_some(f, &mut buf[end..])?;
        if n == 0 {
            w.cut = skip > 0 || end > 0;
            return Ok(w);
        }
        end += n;
        if skip > 0 {
            let s = skip.min(end as u64) as usize;
            start = s;
            skip -= s as u64;
        }
    }
}

/// One `read`, retried on EINTR: 0 only at the end of the file.
fn read_some(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}
