//! Turns a finished fragment into the buffers pushed downstream (DESIGN.md O).

use crate::boxes::cenc::SampleAux;
use crate::boxes::fragment::write_protected_chunk_header;
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

/// Builds the buffer list of one chunk: a new buffer with `moof` and the `mdat` header,
/// then the sample buffers, whose memories pass through untouched.
///
/// `track_ids[i]` is the track ID of fragmenter track `i`.
/// `aux[i]` is the encryption information of `fragment.tracks[i]` if it is encrypted.
pub fn chunk(
    fragment: Fragment<gst::Buffer>,
    aux: &[Option<Vec<SampleAux>>],
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
    let header = write_protected_chunk_header(sequence, &trafs, &aux)?;
    let count: usize = fragment.tracks.iter().map(|t| t.payloads.len()).sum();
    let pts = output_time(fragment.start_pts, shift);
    let duration = gst::ClockTime::from_nseconds(
        fragment.end_pts.saturating_sub(fragment.start_pts).max(0) as u64,
    );
    let mut size = header.len() as u64;
    let mut list = gst::BufferList::new_sized(count + 1);
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
            if count == 0 {
                head.set_flags(gst::BufferFlags::MARKER);
            }
        }
        list.add(head);
        let mut remaining = count;
        for t in fragment.tracks {
            for mut buf in t.payloads {
                remaining -= 1;
                size += buf.size() as u64;
                // Only the buffer's metadata is made writable; its memories are shared.
                let b = buf.make_mut();
                b.set_pts(gst::ClockTime::NONE);
                b.set_dts(gst::ClockTime::NONE);
                b.set_duration(gst::ClockTime::NONE);
                b.unset_flags(
                    gst::BufferFlags::HEADER | gst::BufferFlags::DISCONT | gst::BufferFlags::MARKER,
                );
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
                if remaining == 0 {
                    b.set_flags(gst::BufferFlags::MARKER);
                }
                list.add(buf);
            }
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
