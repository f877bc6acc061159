//! A progressive file's header: `ftyp`, a `moov` with complete sample tables, and the
//! `mdat` header, sized before it is written (DESIGN.md P).

use super::TrackDesc;
use super::init::MovieDesc;
use super::movie::{Edit, TrackTimes, write_ftyp, write_mvhd, write_trak};
use super::writer::{BoxWriter, mdat_header};

/// One sample in a track's table, in track timescale ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSample {
    pub duration: u32,
    pub size: u32,
    /// PTS − DTS.
    pub composition_offset: i32,
    pub sync: bool,
}

/// A run of consecutive samples of one track stored together in the `mdat` (an ISO
/// sample-table "chunk").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableChunk {
    /// Offset of the run's first byte from the start of the `mdat` payload.
    pub offset: u64,
    pub samples: u32,
}

/// Everything the `moov` says about one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTable {
    pub track: TrackDesc,
    /// Decode time of the first sample, ticks from the common origin.
    pub start_dts: u64,
    pub samples: Vec<TableSample>,
    pub chunks: Vec<TableChunk>,
    /// Media ticks of codec priming at the start that are not presented (Opus
    /// pre-skip): the edit list leaves them out.
    pub priming: u64,
}

impl SampleTable {
    /// First and last presented instants in media ticks from the track's first decode
    /// time: the earliest PTS, and the latest PTS plus its duration.
    fn presented_span(&self) -> (i64, i64) {
        let mut dts = 0i64;
        let (mut first, mut end) = (i64::MAX, 0i64);
        for s in &self.samples {
            let pts = dts + i64::from(s.composition_offset);
            first = first.min(pts);
            end = end.max(pts + i64::from(s.duration));
            dts += i64::from(s.duration);
        }
        if first == i64::MAX {
            (0, 0)
        } else {
            (first, end)
        }
    }

    fn earliest_presentation(&self) -> i64 {
        self.presented_span().0
    }

    /// Seconds from the origin to the first presented sample, as a fraction.
    fn presentation_start(&self) -> (i128, i128) {
        let start = i128::from(self.start_dts)
            + i128::from(self.earliest_presentation())
            + i128::from(self.priming);
        (start, i128::from(self.track.timescale.max(1)))
    }
}

fn to_movie(ticks: i128, from: i128, movie: u32) -> u64 {
    (ticks * i128::from(movie) / from).max(0) as u64
}

/// Edits and durations of each track: the B-frame delay removed by `media_time`, and an
/// empty edit for a track that starts later than the first one.
fn track_times(movie: &MovieDesc, tables: &[SampleTable]) -> Vec<TrackTimes> {
    let starts: Vec<(i128, i128)> = tables.iter().map(SampleTable::presentation_start).collect();
    // The earliest start over all tracks, in movie ticks.
    let first = starts
        .iter()
        .map(|&(t, ts)| t * i128::from(movie.timescale) / ts)
        .min()
        .unwrap_or(0);
    tables
        .iter()
        .zip(&starts)
        .map(|(t, &(start, ts))| {
            let (first_shown, end_shown) = t.presented_span();
            // The media timeline lasts until its last presented instant (DESIGN.md T4),
            // past the decode end when the last samples are B-frames' references.
            let media = end_shown.max(0) as u64;
            let media_time = first_shown.max(0) as u64 + t.priming;
            let shown = ((end_shown - first_shown).max(0) as u64).saturating_sub(t.priming);
            let delay = (start * i128::from(movie.timescale) / ts - first).max(0) as u64;
            let segment = to_movie(i128::from(shown), ts, movie.timescale);
            let mut edits = Vec::new();
            if delay > 0 {
                edits.push(Edit {
                    segment_duration: delay,
                    media_time: None,
                });
            }
            edits.push(Edit {
                segment_duration: segment,
                media_time: Some(media_time),
            });
            TrackTimes {
                presentation: delay + segment,
                media,
                edits,
                force_v1: false,
            }
        })
        .collect()
}

/// Run-length encodes `values` into (count, value) pairs.
fn runs<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

fn write_tables(w: &mut BoxWriter, t: &SampleTable, base: u64, co64: bool) {
    let stts = w.begin_full(*b"stts", 0, 0);
    let durations = runs(t.samples.iter().map(|s| s.duration));
    w.u32(durations.len() as u32);
    for (n, d) in durations {
        w.u32(n);
        w.u32(d);
    }
    w.end(stts);

    if t.samples.iter().any(|s| s.composition_offset != 0) {
        let negative = t.samples.iter().any(|s| s.composition_offset < 0);
        let ctts = w.begin_full(*b"ctts", u8::from(negative), 0);
        let offsets = runs(t.samples.iter().map(|s| s.composition_offset));
        w.u32(offsets.len() as u32);
        for (n, o) in offsets {
            w.u32(n);
            w.i32(o);
        }
        w.end(ctts);
    }

    if t.samples.iter().any(|s| !s.sync) {
        let stss = w.begin_full(*b"stss", 0, 0);
        let syncs: Vec<u32> = (1..=t.samples.len() as u32)
            .zip(&t.samples)
            .filter(|(_, s)| s.sync)
            .map(|(i, _)| i)
            .collect();
        w.u32(syncs.len() as u32);
        for i in syncs {
            w.u32(i);
        }
        w.end(stss);
    }

    let stsc = w.begin_full(*b"stsc", 0, 0);
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for (i, c) in t.chunks.iter().enumerate() {
        if entries.last().is_none_or(|&(_, n)| n != c.samples) {
            entries.push((i as u32 + 1, c.samples));
        }
    }
    w.u32(entries.len() as u32);
    for (first_chunk, samples) in entries {
        w.u32(first_chunk);
        w.u32(samples);
        w.u32(1); // sample_description_index
    }
    w.end(stsc);

    let stsz = w.begin_full(*b"stsz", 0, 0);
    let first = t.samples.first().map_or(0, |s| s.size);
    if t.samples.iter().all(|s| s.size == first) {
        w.u32(first);
        w.u32(t.samples.len() as u32);
    } else {
        w.u32(0);
        w.u32(t.samples.len() as u32);
        for s in &t.samples {
            w.u32(s.size);
        }
    }
    w.end(stsz);

    let table = w.begin_full(if co64 { *b"co64" } else { *b"stco" }, 0, 0);
    w.u32(t.chunks.len() as u32);
    for c in &t.chunks {
        let offset = base + c.offset;
        if co64 {
            w.u64(offset);
        } else {
            w.u32(offset as u32);
        }
    }
    w.end(table);
}

fn write_moov_box(
    w: &mut BoxWriter,
    movie: &MovieDesc,
    tables: &[SampleTable],
    times: &[TrackTimes],
    base: u64,
    co64: bool,
) {
    let moov = w.begin(*b"moov");
    let tracks: Vec<TrackDesc> = tables.iter().map(|t| t.track.clone()).collect();
    let duration = times.iter().map(|t| t.presentation).max().unwrap_or(0);
    write_mvhd(w, movie.timescale, duration, &tracks, false);
    for (t, tt) in tables.iter().zip(times) {
        write_trak(w, &t.track, tt, |w| write_tables(w, t, base, co64));
    }
    w.end(moov);
}

fn write_header(
    movie: &MovieDesc,
    tables: &[SampleTable],
    times: &[TrackTimes],
    payload_len: u64,
    base: u64,
    co64: bool,
) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(4096);
    write_ftyp(&mut w, movie);
    write_moov_box(&mut w, movie, tables, times, base, co64);
    let mut out = w.into_bytes();
    out.extend_from_slice(&mdat_header(payload_len));
    out
}

/// Writes a `moov` alone whose chunk offsets are the tables' offsets as they are
/// (absolute file offsets: payload that already lies in a file, as a hybrid recording
/// finishes it), with `co64` when one passes 4 GiB.
pub fn write_moov(movie: &MovieDesc, tables: &[SampleTable]) -> Vec<u8> {
    let times = track_times(movie, tables);
    let co64 = tables
        .iter()
        .flat_map(|t| t.chunks.iter())
        .any(|c| c.offset > u64::from(u32::MAX));
    let mut w = BoxWriter::with_capacity(4096);
    write_moov_box(&mut w, movie, tables, &times, 0, co64);
    w.into_bytes()
}

/// Writes `ftyp` + `moov` + the `mdat` header for `payload_len` bytes of samples laid out
/// as the tables' chunks say. `co64` replaces `stco` as soon as an offset passes 4 GiB;
/// the header's length is fixed before the offsets are written.
pub fn write_progressive(movie: &MovieDesc, tables: &[SampleTable], payload_len: u64) -> Vec<u8> {
    let times = track_times(movie, tables);
    let last_offset = tables
        .iter()
        .flat_map(|t| t.chunks.iter())
        .map(|c| c.offset)
        .max()
        .unwrap_or(0);
    let mut co64 = false;
    let mut len = write_header(movie, tables, &times, payload_len, 0, co64).len() as u64;
    if len + last_offset > u64::from(u32::MAX) {
        co64 = true;
        len = write_header(movie, tables, &times, payload_len, 0, co64).len() as u64;
    }
    let out = write_header(movie, tables, &times, payload_len, len, co64);
    debug_assert_eq!(out.len() as u64, len);
    out
}

#[cfg(test)]
#[path = "progressive_tests.rs"]
mod tests;
