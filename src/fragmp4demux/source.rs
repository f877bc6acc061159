//! The demuxer's byte queue over a `gst_base::UniqueAdapter`: payloads leave as
//! sub-buffers of the input buffers, without copying.

use crate::demux::ByteSource;

#[derive(Default)]
pub(super) struct AdapterSource(pub gst_base::UniqueAdapter);

/// Input buffers holding a run of bytes, each with the run offset of its first byte.
pub(super) struct Region(Vec<(usize, gst::Buffer)>);

impl ByteSource for AdapterSource {
    type Region = Region;
    type Payload = gst::Buffer;

    fn available(&self) -> usize {
        self.0.available()
    }

    fn copy_to(&self, out: &mut [u8]) {
        if !out.is_empty() {
            self.0
                .copy(0, out)
                .expect("the demuxer copies only queued bytes");
        }
    }

    fn skip(&mut self, n: usize) {
        if n > 0 {
            self.0.flush(n);
        }
    }

    fn take(&mut self, n: usize) -> Region {
        if n == 0 {
            return Region(Vec::new());
        }
        let buffers = self
            .0
            .take_list(n)
            .expect("the demuxer takes only queued bytes");
        let mut at = 0;
        Region(
            buffers
                .into_iter()
                .map(|b| {
                    let start = at;
                    at += b.size();
                    (start, b)
                })
                .collect(),
        )
    }

    fn slice(region: &Region, offset: usize, size: usize) -> gst::Buffer {
        let end = offset + size;
        let mut out: Option<gst::Buffer> = None;
        for (start, buffer) in &region.0 {
            let stop = start + buffer.size();
            if stop <= offset || *start >= end {
                continue;
            }
            let from = offset.max(*start) - start;
            let to = end.min(stop) - start;
            let Ok(piece) = buffer.copy_region(gst::BufferCopyFlags::MEMORY, from..to) else {
                continue;
            };
            out = Some(match out {
                None => piece,
                Some(mut acc) => {
                    acc.append(piece);
                    acc
                }
            });
        }
        out.unwrap_or_default()
    }
}
