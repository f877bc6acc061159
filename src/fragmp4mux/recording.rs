//! Fragmented output into a seekable file: what the element fills in at EOS (durations
//! in the init segment) and appends (the `mfra` index), from the bytes it pushed. A
//! hybrid recording instead keeps sample tables (16 bytes a sample) and at EOS turns
//! the file into an ordinary MP4 in place (see [`crate::recover`]).

use std::collections::BTreeMap;

use crate::boxes::index::{IndexEntry, write_mfra};
use crate::boxes::init::DurationSlots;
use crate::boxes::progressive::write_moov;
use crate::boxes::{MovieDesc, SampleDesc, TrackDesc};
pub use crate::recover::Patch;
use crate::recover::{PlacedSample, TrackTables, finishing_patches};

/// What a hybrid recording keeps to finish the file.
struct Hybrid {
    tracks: Vec<TrackDesc>,
    /// Offset of the fragmented `moov` (after the `ftyp`).
    moov_offset: u64,
    moofs: Vec<u64>,
    tables: BTreeMap<u32, TrackTables>,
}

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
    hybrid: Option<Hybrid>,
}

/// What a recording writes at EOS, in this order: a fragmented one its durations in
/// place and the index at the end; a hybrid one the complete `moov` at the end, then
/// `free` over the fragmented boxes.
pub struct Finish {
    pub writes: Vec<Patch>,
}

/// One track's part of a chunk, as the recording needs it.
pub struct ChunkTrack {
    pub track_id: u32,
    /// `tfdt` of the track's run.
    pub base_decode_time: u64,
    /// The samples, for a hybrid recording's tables (empty otherwise).
    pub samples: Vec<SampleDesc>,
    /// Presentation time of the first sample, media ticks.
    pub first_presentation: u64,
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
            hybrid: None,
        }
    }

    /// Makes this a hybrid recording of `tracks`, whose init's `moov` is at
    /// `moov_offset`: finished as an ordinary MP4 at EOS.
    pub fn hybrid(mut self, tracks: Vec<TrackDesc>, moov_offset: u64) -> Self {
        self.hybrid = Some(Hybrid {
            tracks,
            moov_offset,
            moofs: Vec::new(),
            tables: BTreeMap::new(),
        });
        self
    }

    /// The fragments recorded so far lie `len` bytes later in the file (a `sidx` was
    /// put before them).
    pub fn insert_before_fragments(&mut self, len: u64) {
        for e in self.index.values_mut().flatten() {
            e.moof_offset += len;
        }
        self.bytes += len;
    }

    /// True for a hybrid recording, which keeps every sample's place and timing.
    pub fn is_hybrid(&self) -> bool {
        self.hybrid.is_some()
    }

    /// Counts bytes pushed that are neither a chunk nor the first init (a later init).
    pub fn add_bytes(&mut self, len: u64) {
        self.bytes += len;
    }

    /// Records a chunk of `size` bytes whose trafs are `tracks`, in `moof` order, its
    /// payload after a `moof` and `mdat` header of `header_len` bytes; a chunk that
    /// starts a fragment (at a keyframe) goes into the index.
    pub fn add_chunk(
        &mut self,
        tracks: &[ChunkTrack],
        size: u64,
        header_len: u64,
        fragment_start: bool,
    ) {
        if let Some(h) = self.hybrid.as_mut() {
            h.moofs.push(self.bytes);
            let mut offset = self.bytes + header_len;
            for t in tracks {
                let table = h.tables.entry(t.track_id).or_default();
                let mut dts = t.base_decode_time;
                for s in &t.samples {
                    table.push(PlacedSample {
                        offset,
                        size: s.size,
                        dts,
                        duration: s.duration,
                        composition_offset: s.composition_offset,
                        sync: s.sync,
                    });
                    offset += u64::from(s.size);
                    dts += u64::from(s.duration);
                }
            }
        }
        for (i, t) in tracks.iter().enumerate() {
            if fragment_start {
                self.index.entry(t.track_id).or_default().push(IndexEntry {
                    time: t.first_presentation,
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
    /// origin to the latest PTS + duration of the track's samples (DESIGN.md T4). A
    /// hybrid recording's edit lists leave out `priming` ticks per track ID.
    pub fn finish(self, priming: &BTreeMap<u32, u64>) -> Finish {
        if let Some(h) = self.hybrid {
            let Hybrid {
                tracks,
                moov_offset,
                moofs,
                mut tables,
            } = h;
            let tables: Vec<_> = tracks
                .into_iter()
                .filter_map(|t| {
                    let id = t.track_id;
                    let table = tables.remove(&id)?;
                    Some(table.into_table(t, priming.get(&id).copied().unwrap_or(0)))
                })
                .collect();
            let moov = write_moov(&MovieDesc::progressive(self.movie_timescale), &tables);
            let neutralise = std::iter::once(moov_offset).chain(moofs);
            return Finish {
                writes: finishing_patches(moov, self.bytes, neutralise),
            };
        }
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
            patches.push(patch_u64(tkhd, presentation));
            patches.push(patch_u64(mdhd, end));
        }
        patches.push(patch_u64(self.slots.mvhd, movie_duration));
        patches.push(patch_u64(self.slots.mehd, movie_duration));
        patches.sort_by_key(|p| p.offset);
        let tracks: Vec<(u32, Vec<IndexEntry>)> = self.index.into_iter().collect();
        patches.push(Patch {
            offset: self.bytes,
            bytes: write_mfra(&tracks),
        });
        Finish { writes: patches }
    }
}

fn patch_u64(offset: usize, value: u64) -> Patch {
    Patch {
        offset: offset as u64,
        bytes: value.to_be_bytes().to_vec(),
    }
}
