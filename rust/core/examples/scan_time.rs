//! Times a scan of one capture with no Python: `cargo run --release --example scan_time -- F`.
//! Prints connections, frames, wall time and the peak of results held at once.
use pcaptls_core::capture::FrameReader;
use pcaptls_core::scan::Scanner;

fn main() {
    let Some(p) = std::env::args().nth(1) else {
        eprintln!("usage: scan_time CAPTURE");
        std::process::exit(2);
    };
    let t = std::time::Instant::now();
    let r = match FrameReader::open(&p) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", e.0);
            std::process::exit(2);
        }
    };
    let mut s = Scanner::new(r, 0, 1);
    let (mut n, mut most) = (0usize, 0usize);
    loop {
        let more = s.step(1 << 14);
        most = most.max(s.ready());
        n += s.take().len();
        if !more {
            break;
        }
    }
    eprintln!(
        "{n} connections, {} frames, {:?}, at most {most} results waiting",
        s.summary().stats.frames,
        t.elapsed()
    );
}
