use pcaptls_core::capture::FrameReader;
use pcaptls_core::scan::scan_all;
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let t = std::time::Instant::now();
    let r = FrameReader::open(&p).unwrap();
    let (v, s) = scan_all(r, 0, 1);
    let certs: usize = v.iter().map(|c| c.server_certs.iter().map(|d| d.len()).sum::<usize>()).sum();
    eprintln!("{} conns, {} frames, {:?}, cert bytes {}", v.len(), s.stats.frames, t.elapsed(), certs);
}
