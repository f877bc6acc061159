//! Fragmented output into a seekable file: what the element fills in at EOS (durations
//! in the init segment) and appends (the `mfra` index), from the bytes it pushed.

use std::collections::BTreeMap;

use crate::boxes::index::{IndexEntry, write_mfra};
use crate::boxes::init::DurationSlots;

/// Bookkeeping of a recording from its first init segment on.
pub struct Recording {
    slots: DurationSlots,
    movie_timescale: u32,
    /// Track ID -> media timescale, as in the first init segment.
    timescales: BTreeMap<u32, u32>,
    /// Bytes pushed so far: the offset of the next buffer in the file.
    bytes: u64,
    index: BTreeMap<u32, Vec<IndexEntry>>,
    /// Track ID -> latest presentation end of its samples (PTS + duration), media ticks.
    ends: BTreeMap<u32, u64>,
}

/// Bytes to write at a file offset.
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// What a recording writes at EOS: the durations in place, then the index at the end.
pub struct Finish {
    pub patches: Vec<Patch>,
    pub mfra: Vec<u8>,
    /// Offset of the end of the file, where the index goes.
    pub end: u64,
}

/// One track's part of a chunk, as the recording needs it.
pub struct ChunkTrack {
    pub track_id: u32,
    pub base_decode_time: u64,
    /// Latest PTS + duration of the track's samples in the chunk, media ticks.
    pub presentation_end: u64,
}

impl Recording {
    /// Starts after the first init segment of `init_len` bytes.
    pub fn new(
        slots: DurationSlots,
        movie_timescale: u32,
        timescales: BTreeMap<u32, u32>,
        init_len: u64,
    ) -> Self {
        Self {
            slots,
            movie_timescale,
            timescales,
            bytes: init_len,
            index: BTreeMap::new(),
            ends: BTreeMap::new(),
        }
    }

    /// Counts bytes pushed that are neither a chunk nor the first init (a later init).
    pub fn add_bytes(&mut self, len: u64) {
        self.bytes += len;
    }

    /// Records a chunk of `size` bytes whose trafs are `tracks`, in `moof` order; a chunk
    /// that starts a fragment (at a keyframe) goes into the index.
    pub fn add_chunk(&mut self, tracks: &[ChunkTrack], size: u64, fragment_start: bool) {
        for (i, t) in tracks.iter().enumerate() {
            if fragment_start {
                self.index.entry(t.track_id).or_default().push(IndexEntry {
                    time: t.base_decode_time,
                    moof_offset: self.bytes,
                    traf_number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                });
            }
            let end = self.ends.entry(t.track_id).or_default();
            *end = (*end).max(t.presentation_end);
        }
        self.bytes += size;
    }

    /// What to write at EOS: every duration covers the whole presentation, from the
    /// origin to the latest PTS + duration of the track's samples (DESIGN.md T4).
    pub fn finish(&self) -> Finish {
        let in_movie = |ticks: u64, timescale: u32| -> u64 {
            (u128::from(ticks) * u128::from(self.movie_timescale))
                .div_ceil(u128::from(timescale.max(1))) as u64
        };
        let mut patches = Vec::new();
        let mut movie_duration = 0;
        for &(track_id, tkhd, mdhd) in &self.slots.tracks {
            let end = self.ends.get(&track_id).copied().unwrap_or(0);
            let timescale = self.timescales.get(&track_id).copied().unwrap_or(1);
            let presentation = in_movie(end, timescale);
            movie_duration = movie_duration.max(presentation);
            patches.push(Patch::u64(tkhd, presentation));
            patches.push(Patch::u64(mdhd, end));
        }
        patches.push(Patch::u64(self.slots.mvhd, movie_duration));
        patches.push(Patch::u64(self.slots.mehd, movie_duration));
        patches.sort_by_key(|p| p.offset);
        let tracks: Vec<(u32, Vec<IndexEntry>)> =
            self.index.iter().map(|(id, e)| (*id, e.clone())).collect();
        Finish {
            patches,
            mfra: write_mfra(&tracks),
            end: self.bytes,
        }
    }
}

impl Patch {
    fn u64(offset: usize, value: u64) -> Self {
        Self {
            offset: offset as u64,
            bytes: value.to_be_bytes().to_vec(),
        }
    }
}
