//! Fragmented MP4 demuxing from plain bytes: box reading, `moov`/`moof` parsing and an
//! incremental stream state machine. Knows nothing of GStreamer.

pub mod fragment;
pub mod index;
pub mod interleave;
pub mod movie;
pub mod protection;
pub mod stats;
pub mod stream;

pub use fragment::{MoofInfo, SampleRef};
pub use movie::{Movie, Track};
pub use protection::{Pssh, TrackProtection};
pub use stats::TrackStats;
pub use stream::{ByteSource, DemuxError, Demuxer, Event, Sample};

/// A [`ByteSource`] over owned bytes, for tests and tools.
#[derive(Debug, Default)]
pub struct VecSource {
    bytes: std::collections::VecDeque<u8>,
}

impl VecSource {
    pub fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data);
    }
}

impl ByteSource for VecSource {
    type Region = Vec<u8>;
    type Payload = Vec<u8>;

    fn available(&self) -> usize {
        self.bytes.len()
    }

    fn copy_to(&self, out: &mut [u8]) {
        for (o, b) in out.iter_mut().zip(&self.bytes) {
            *o = *b;
        }
    }

    fn skip(&mut self, n: usize) {
        self.bytes.drain(..n);
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.bytes.drain(..n).collect()
    }

    fn slice(region: &Vec<u8>, offset: usize, size: usize) -> Vec<u8> {
        region[offset..offset + size].to_vec()
    }
}

#[cfg(test)]
mod interleave_tests;
#[cfg(test)]
mod protection_tests;
#[cfg(test)]
mod tests;
