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
        let count = region.pieces(offset, size).count();
        if count > MAX_MEMORIES {
            // A buffer holds at most 16 memories (GStreamer would merge more, one copy per
            // append): a sample spread over more input memories is copied once.
            return copy(region.pieces(offset, size), size);
        }
        let mut out = gst::Buffer::new();
        {
            let b = out.get_mut().expect("new buffer");
            for (mem, from, to) in region.pieces(offset, size) {
                b.append_memory(mem.share(from..to));
            }
        }
        out
    }
}

impl Region {
    /// The input memories holding `size` bytes at `offset`, each with the range of it
    /// that belongs to them.
    fn pieces(
        &self,
        offset: usize,
        size: usize,
    ) -> impl Iterator<Item = (&gst::MemoryRef, usize, usize)> {
        let end = offset + size;
        let first = self
            .0
            .partition_point(|(start, _)| *start <= offset)
            .saturating_sub(1);
        self.0[first..]
            .iter()
            .take_while(move |(start, _)| *start < end)
            .flat_map(move |(start, buffer)| {
                let mut at = *start;
                buffer.iter_memories().filter_map(move |mem| {
                    let mem_start = at;
                    at += mem.size();
                    let (from, to) = (mem_start.max(offset), at.min(end));
                    (from < to).then(|| (mem, from - mem_start, to - mem_start))
                })
            })
    }
}

/// Most memories a `GstBuffer` holds without merging them.
const MAX_MEMORIES: usize = 16;

fn copy<'a>(
    pieces: impl Iterator<Item = (&'a gst::MemoryRef, usize, usize)>,
    size: usize,
) -> gst::Buffer {
    let mut data = Vec::with_capacity(size);
    for (mem, from, to) in pieces {
        if let Ok(map) = mem.map_readable() {
            data.extend_from_slice(&map[from..to]);
        }
    }
    gst::Buffer::from_mut_slice(data)
}
