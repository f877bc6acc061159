//! Turns a finished fragment into the buffers pushed downstream (DESIGN.md O).

use crate::boxes::cenc::SampleAux;
use crate::boxes::fragment::write_chunk_header_with;
use crate::boxes::{ChunkError, TrafDesc};
use crate::fragmenter::Fragment;

/// A chunk ready to push, with the facts the per-fragment message reports.
pub struct Chunk {
    pub list: gst::BufferList,
    /// Bytes of the chunk: header plus payload.
    pub size: u64,
    pub pts: gst::ClockTime,
    pub duration: gst::ClockTime,
}

/// Maps a signed running time to the output segment (shifted so it is never negative).
pub fn output_time(running_time: i64, shift: i64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(running_time.saturating_add(shift).max(0) as u64)
}

/// Most memories one `GstBuffer` holds (`gst_buffer_get_max_memory()`): appending one
/// more would merge them into a copy.
pub const MAX_MEMORIES: usize = 16;

/// Builds the buffer list of one chunk (DESIGN.md O): a new buffer with `moof` and the
/// `mdat` header, then output buffers each carrying the memories of up to
/// [`MAX_MEMORIES`] consecutive samples: the very memories that came in, moved over,
/// never copied or merged.
///
/// `track_ids[i]` is the track ID of fragmenter track `i`.
/// `aux[i]` is the encryption information of `fragment.tracks[i]` if it is encrypted.
pub fn chunk(
    fragment: Fragment<gst::Buffer>,
    aux: &[Option<Vec<SampleAux>>],
    pssh: &[Vec<u8>],
    sequence: u32,
    track_ids: &[u32],
    shift: i64,
) -> Result<Chunk, ChunkError> {
    let trafs: Vec<TrafDesc> = fragment
        .tracks
        .iter()
        .map(|t| TrafDesc {
            track_id: track_ids
                .get(t.track)
                .copied()
                .unwrap_or(t.track as u32 + 1),
            base_decode_time: t.base_decode_time,
            samples: &t.samples,
        })
        .collect();
    let aux: Vec<Option<&[SampleAux]>> = aux.iter().map(|a| a.as_deref()).collect();
    let header = write_chunk_header_with(sequence, &trafs, &aux, pssh)?;
    drop(trafs);
    let pts = output_time(fragment.start_pts, shift);
    let duration = gst::ClockTime::from_nseconds(
        fragment.end_pts.saturating_sub(fragment.start_pts).max(0) as u64,
    );
    let samples: usize = fragment.tracks.iter().map(|t| t.samples.len()).sum();
    let payload: u64 = fragment
        .tracks
        .iter()
        .flat_map(|t| t.samples.iter())
        .map(|s| u64::from(s.size))
        .sum();
    let size = header.len() as u64 + payload;
    // One memory per sample is the usual case; the list grows if samples have more.
    let mut list = gst::BufferList::new_sized(samples.div_ceil(MAX_MEMORIES) + 1);
    {
        let list = list.get_mut().expect("new list is writable");
        let mut head = gst::Buffer::from_mut_slice(header);
        {
            let head = head.get_mut().expect("new buffer is writable");
            head.set_pts(pts);
            head.set_dts(output_time(fragment.start_dts, shift));
            head.set_duration(duration);
            if !fragment.keyframe_start {
                head.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            if samples == 0 {
                head.set_flags(gst::BufferFlags::MARKER);
            }
        }
        list.add(head);
        let mut packer = Packer::default();
        for buf in fragment.tracks.into_iter().flat_map(|t| t.payloads) {
            if let Some(full) = packer.add(buf) {
                list.add(full);
            }
        }
        if let Some(mut last) = packer.finish() {
            last.get_mut()
                .expect("output buffer is ours alone")
                .set_flags(gst::BufferFlags::MARKER);
            list.add(last);
        }
    }
    Ok(Chunk {
        list,
        size,
        pts,
        duration,
    })
}

/// Puts a new buffer holding `bytes` (a `sidx`) before the chunk: it takes over the
/// first buffer's timestamps and fragment-start flag, which becomes a `DELTA_UNIT`.
pub fn prepend(list: gst::BufferList, bytes: Vec<u8>) -> gst::BufferList {
    let mut head = gst::Buffer::from_mut_slice(bytes);
    let mut out = gst::BufferList::new_sized(list.len() + 1);
    {
        let out = out.get_mut().expect("new list is writable");
        for (i, b) in list.iter_owned().enumerate() {
            if i == 0 {
                if let Some(h) = head.get_mut() {
                    h.set_pts(b.pts());
                    h.set_dts(b.dts());
                    h.set_duration(b.duration());
                    h.set_flags(b.flags() & !gst::BufferFlags::MARKER);
                }
                out.add(head.clone());
                let mut first = b;
                first.make_mut().set_flags(gst::BufferFlags::DELTA_UNIT);
                out.add(first);
            } else {
                out.add(b);
            }
        }
    }
    out
}

/// Collects the memories of consecutive sample buffers into output buffers of at most
/// [`MAX_MEMORIES`] memories. A sample's memories never straddle two output buffers.
#[derive(Default)]
struct Packer {
    current: Option<gst::Buffer>,
    memories: usize,
}

impl Packer {
    /// Moves `buf`'s memories into the output buffer in progress (no byte copied);
    /// returns the output buffer they did not fit in, now complete.
    fn add(&mut self, mut buf: gst::Buffer) -> Option<gst::Buffer> {
        let n = buf.n_memory();
        let full = if self.memories + n > MAX_MEMORIES {
            self.memories = 0;
            self.current.take()
        } else {
            None
        };
        let out = self.current.get_or_insert_with(|| {
            let mut b = gst::Buffer::new();
            b.get_mut()
                .expect("new buffer is writable")
                .set_flags(gst::BufferFlags::DELTA_UNIT);
            b
        });
        let out = out.get_mut().expect("output buffer is ours alone");
        match buf.get_mut() {
            // Ours alone (the usual case): each memory leaves it before joining the
            // output buffer, so it belongs to one buffer at a time; a memory in two
            // buffers at once costs GStreamer two allocations, and freeing them.
            Some(sample) => {
                while let Some(memory) = sample.memory(0) {
                    sample.remove_memory(0);
                    out.append_memory(memory);
                }
            }
            None => {
                for memory in buf.iter_memories_owned() {
                    out.append_memory(memory);
                }
            }
        }
        self.memories += n;
        full
    }

    /// The output buffer in progress, if it holds anything.
    fn finish(self) -> Option<gst::Buffer> {
        self.current.filter(|b| b.n_memory() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::SampleDesc;
    use crate::fragmenter::FragmentTrack;

    /// A sample buffer of `parts` memories of 10 bytes each.
    fn sample(parts: usize) -> gst::Buffer {
        let mut b = gst::Buffer::new();
        {
            let b = b.get_mut().unwrap();
            for _ in 0..parts {
                b.append_memory(gst::Memory::from_mut_slice(vec![7u8; 10]));
            }
            b.set_pts(gst::ClockTime::from_seconds(1));
            b.set_flags(gst::BufferFlags::DISCONT | gst::BufferFlags::HEADER);
        }
        b
    }

    fn fragment(tracks: Vec<Vec<gst::Buffer>>, keyframe_start: bool) -> Fragment<gst::Buffer> {
        Fragment {
            tracks: tracks
                .into_iter()
                .enumerate()
                .map(|(track, payloads)| FragmentTrack {
                    track,
                    generation: 0,
                    open_end: false,
                    base_decode_time: 0,
                    samples: payloads
                        .iter()
                        .map(|b| SampleDesc {
                            duration: 1,
                            size: b.size() as u32,
                            sync: true,
                            composition_offset: 0,
                        })
                        .collect(),
                    payloads,
                })
                .collect(),
            start_dts: 0,
            start_pts: 0,
            end_pts: 1_000,
            presentation_start: 0,
            presentation_end: 1_000,
            keyframe_start,
        }
    }

    fn addresses(b: &gst::BufferRef) -> Vec<usize> {
        b.iter_memories()
            .map(|m| m.map_readable().unwrap().as_slice().as_ptr() as usize)
            .collect()
    }

    #[test]
    fn payload_memories_are_packed_sixteen_to_a_buffer_untouched() {
        gst::init().unwrap();
        // 40 one-memory video samples, then audio: one of 3 memories, 20 of one.
        let video: Vec<gst::Buffer> = (0..40).map(|_| sample(1)).collect();
        let mut audio = vec![sample(3)];
        audio.extend((0..20).map(|_| sample(1)));
        let input: Vec<usize> = video
            .iter()
            .chain(&audio)
            .flat_map(|b| addresses(b))
            .collect();
        let payload: u64 = video.iter().chain(&audio).map(|b| b.size() as u64).sum();
        let chunk = chunk(fragment(vec![video, audio], true), &[], &[], 1, &[1, 2], 0).unwrap();
        let buffers: Vec<&gst::BufferRef> = chunk.list.iter().collect();
        let counts: Vec<usize> = buffers[1..].iter().map(|b| b.n_memory()).collect();
        // 40 + 3 + 20 = 63 memories: 16, 16, 16 (8 video + 3 + 5 audio), then 15.
        assert_eq!(counts, [16, 16, 16, 15]);
        let output: Vec<usize> = buffers[1..].iter().flat_map(|b| addresses(b)).collect();
        assert_eq!(output, input, "the same memories, in order, none copied");
        let header = buffers[0].size() as u64;
        assert_eq!(chunk.size, header + payload);
        assert!(!buffers[0].flags().contains(gst::BufferFlags::DELTA_UNIT));
        for (i, b) in buffers[1..].iter().enumerate() {
            assert!(b.flags().contains(gst::BufferFlags::DELTA_UNIT));
            assert!(
                !b.flags()
                    .intersects(gst::BufferFlags::HEADER | gst::BufferFlags::DISCONT)
            );
            assert_eq!(
                b.flags().contains(gst::BufferFlags::MARKER),
                i == counts.len() - 1
            );
            assert_eq!(b.pts(), None);
        }
    }

    #[test]
    fn a_sample_never_straddles_two_output_buffers() {
        gst::init().unwrap();
        // 15 + 2 does not fit 16: the two-memory sample opens the next buffer; a sample
        // with 16 memories fills one alone.
        let samples: Vec<gst::Buffer> = (0..15)
            .map(|_| sample(1))
            .chain([sample(2), sample(16), sample(1)])
            .collect();
        let chunk = chunk(fragment(vec![samples], false), &[], &[], 1, &[1], 0).unwrap();
        let counts: Vec<usize> = chunk.list.iter().skip(1).map(|b| b.n_memory()).collect();
        assert_eq!(counts, [15, 2, 16, 1]);
        let first = chunk.list.get(0).unwrap();
        assert!(first.flags().contains(gst::BufferFlags::DELTA_UNIT));
    }

    #[test]
    fn a_sample_held_elsewhere_too_keeps_its_memories() {
        gst::init().unwrap();
        // Someone else (a tee, an application) still holds the first sample: its
        // memories are shared with the output, not taken from it.
        let kept = sample(2);
        let before = addresses(&kept);
        let chunk = chunk(
            fragment(vec![vec![kept.clone(), sample(1)]], true),
            &[],
            &[],
            1,
            &[1],
            0,
        )
        .unwrap();
        assert_eq!(addresses(&kept), before, "the held buffer is untouched");
        let out = chunk.list.get(1).unwrap();
        assert_eq!(addresses(out)[..2], before[..]);
        assert_eq!(out.n_memory(), 3);
    }

    #[test]
    fn a_chunk_without_payload_is_one_marked_buffer() {
        gst::init().unwrap();
        let chunk = chunk(fragment(vec![], true), &[], &[], 1, &[], 0).unwrap();
        assert_eq!(chunk.list.len(), 1);
        let head = chunk.list.get(0).unwrap();
        assert!(head.flags().contains(gst::BufferFlags::MARKER));
    }
}
