//! Capture files -> frames -> TCP segments (`pcaptls/capture` in Python).
//!
//! `reader` turns a file (pcap, pcapng, either gzip-compressed or not) into frames, `decode`
//! takes a frame's link layer, IP (with tunnels) and TCP header off in one pass. `gzip` replays
//! CPython's gzip module so a damaged file stops where Python's reader stops; `pyfmt` spells
//! numbers and bytes as Python does in the messages.
#![forbid(unsafe_code)]

pub mod decode;
pub mod gzip;
pub mod pyfmt;
pub mod reader;

pub use decode::{decode, Counts, Segment};
pub use reader::{Frame, FrameReader, InputError, ReadStats};

#[cfg(test)]
mod tests;
