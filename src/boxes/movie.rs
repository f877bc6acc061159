//! Boxes of the `moov` shared by fragmented and progressive output: `ftyp`, `mvhd`, and a
//! `trak` skeleton whose sample tables the caller writes.

use super::init::MovieDesc;
use super::writer::BoxWriter;
use super::{ChildBox, Colour, MediaKind, SampleEntry, TrackDesc};

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// One entry of an edit list, in movie timescale (duration) and media timescale (time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub segment_duration: u64,
    /// Media time the segment starts at; `None` for an empty edit (nothing presented).
    pub media_time: Option<u64>,
}

/// Durations and edits of a track; all zero / none in fragmented output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackTimes {
    /// `tkhd` duration, movie timescale.
    pub presentation: u64,
    /// `mdhd` duration, media timescale.
    pub media: u64,
    pub edits: Vec<Edit>,
    /// Write 64-bit durations even when they fit 32 bits, so they can be patched later.
    pub force_v1: bool,
}

fn fits_32(v: u64) -> bool {
    u32::try_from(v).is_ok()
}

pub(super) fn write_ftyp(w: &mut BoxWriter, movie: &MovieDesc) {
    let b = w.begin(*b"ftyp");
    w.bytes(&movie.major_brand);
    w.u32(0);
    for brand in &movie.compatible_brands {
        w.bytes(brand);
    }
    w.end(b);
}

fn write_matrix(w: &mut BoxWriter) {
    for v in UNITY_MATRIX {
        w.u32(v);
    }
}

/// Creation/modification times (zero), a timescale and a duration, 32- or 64-bit by
/// `version` (the layout `mvhd` and `mdhd` share).
/// Returns the position of the duration field.
fn write_times(w: &mut BoxWriter, version: u8, timescale: u32, duration: u64) -> usize {
    if version == 1 {
        w.u64(0);
        w.u64(0);
        w.u32(timescale);
        let at = w.len();
        w.u64(duration);
        at
    } else {
        w.u32(0);
        w.u32(0);
        w.u32(timescale);
        let at = w.len();
        w.u32(duration as u32);
        at
    }
}

/// `mvhd`, version 1 when `duration` does not fit 32 bits or `force_v1`. Returns the
/// position of its duration field.
pub(super) fn write_mvhd(
    w: &mut BoxWriter,
    timescale: u32,
    duration: u64,
    tracks: &[TrackDesc],
    force_v1: bool,
) -> usize {
    let version = u8::from(force_v1 || !fits_32(duration));
    let b = w.begin_full(*b"mvhd", version, 0);
    let at = write_times(w, version, timescale, duration);
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    write_matrix(w);
    w.zeros(24); // pre_defined
    let next = tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1;
    w.u32(next);
    w.end(b);
    at
}

/// A `trak` for `t`; `write_tables` writes the sample tables after the `stsd`. Returns
/// the positions of the `tkhd` and `mdhd` duration fields.
pub(super) fn write_trak(
    w: &mut BoxWriter,
    t: &TrackDesc,
    times: &TrackTimes,
    write_tables: impl FnOnce(&mut BoxWriter),
) -> (usize, usize) {
    let trak = w.begin(*b"trak");
    let tkhd_at = write_tkhd(w, t, times.presentation, times.force_v1);
    if !times.edits.is_empty() {
        write_edts(w, &times.edits);
    }
    let mdia = w.begin(*b"mdia");
    let version = u8::from(times.force_v1 || !fits_32(times.media));
    let mdhd = w.begin_full(*b"mdhd", version, 0);
    let mdhd_at = write_times(w, version, t.timescale, times.media);
    // ISO 639-2/T packed, "und" when unknown.
    w.u16(t.language.as_ref().map_or(0x55c4, |l| l.packed()));
    w.u16(0);
    w.end(mdhd);
    // The BCP 47 tag (ISO/IEC 14496-12 8.4.6), after `mdhd` as the box order wants.
    if let Some(l) = &t.language {
        let elng = w.begin_full(*b"elng", 0, 0);
        w.bytes(l.bcp47.as_bytes());
        w.u8(0);
        w.end(elng);
    }
    let (handler, name): (&[u8; 4], &[u8]) = if t.is_video() {
        (b"vide", b"VideoHandler\0")
    } else if t.is_text() {
        (b"text", b"TextHandler\0")
    } else {
        (b"soun", b"SoundHandler\0")
    };
    let hdlr = w.begin_full(*b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(handler);
    w.zeros(12);
    w.bytes(name);
    w.end(hdlr);
    let minf = w.begin(*b"minf");
    if t.is_video() {
        let vmhd = w.begin_full(*b"vmhd", 0, 1);
        w.zeros(8);
        w.end(vmhd);
    } else if t.is_text() {
        let nmhd = w.begin_full(*b"nmhd", 0, 0);
        w.end(nmhd);
    } else {
        let smhd = w.begin_full(*b"smhd", 0, 0);
        w.zeros(4);
        w.end(smhd);
    }
    let dinf = w.begin(*b"dinf");
    let dref = w.begin_full(*b"dref", 0, 0);
    w.u32(1);
    let url = w.begin_full(*b"url ", 0, 1); // media in the same file
    w.end(url);
    w.end(dref);
    w.end(dinf);
    let stbl = w.begin(*b"stbl");
    let stsd = w.begin_full(*b"stsd", 0, 0);
    w.u32(1);
    write_sample_entry(w, &t.entry);
    w.end(stsd);
    write_tables(w);
    w.end(stbl);
    w.end(minf);
    w.end(mdia);
    w.end(trak);
    (tkhd_at, mdhd_at)
}

fn write_edts(w: &mut BoxWriter, edits: &[Edit]) {
    let version = u8::from(
        edits
            .iter()
            .any(|e| !fits_32(e.segment_duration) || e.media_time.is_some_and(|t| !fits_32(t))),
    );
    let edts = w.begin(*b"edts");
    let elst = w.begin_full(*b"elst", version, 0);
    w.u32(edits.len() as u32);
    for e in edits {
        if version == 1 {
            w.u64(e.segment_duration);
            w.u64(e.media_time.unwrap_or(u64::MAX)); // -1: empty edit
        } else {
            w.u32(e.segment_duration as u32);
            w.u32(e.media_time.map_or(u32::MAX, |t| t as u32));
        }
        w.u16(1); // media_rate_integer
        w.u16(0);
    }
    w.end(elst);
    w.end(edts);
}

fn write_tkhd(w: &mut BoxWriter, t: &TrackDesc, duration: u64, force_v1: bool) -> usize {
    let version = u8::from(force_v1 || !fits_32(duration));
    let b = w.begin_full(*b"tkhd", version, 0x7); // enabled, in movie, in preview
    let at;
    if version == 1 {
        w.u64(0);
        w.u64(0);
        w.u32(t.track_id);
        w.u32(0);
        at = w.len();
        w.u64(duration);
    } else {
        w.u32(0);
        w.u32(0);
        w.u32(t.track_id);
        w.u32(0);
        at = w.len();
        w.u32(duration as u32);
    }
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if t.is_video() || t.is_text() {
        0
    } else {
        0x0100
    });
    w.u16(0);
    write_matrix(w);
    let (width, height) = match t.entry.kind {
        MediaKind::Video {
            width,
            height,
            pixel_aspect,
            ..
        } => {
            let (n, d) = pixel_aspect.unwrap_or((1, 1));
            let display = u64::from(width) * u64::from(n) / u64::from(d.max(1));
            (display.min(0xffff) as u32, u32::from(height))
        }
        MediaKind::Audio { .. } | MediaKind::Text => (0, 0),
    };
    w.u32(width << 16);
    w.u32(height << 16);
    w.end(b);
    at
}

pub(super) fn write_sample_entry(w: &mut BoxWriter, entry: &SampleEntry) {
    let b = w.begin(entry.fourcc);
    w.zeros(6);
    w.u16(1); // data_reference_index
    match entry.kind {
        MediaKind::Video {
            width,
            height,
            pixel_aspect,
            colour,
        } => {
            w.zeros(16); // pre_defined, reserved
            w.u16(width);
            w.u16(height);
            w.u32(0x0048_0000); // 72 dpi
            w.u32(0x0048_0000);
            w.u32(0);
            w.u16(1); // frame_count
            w.zeros(32); // compressorname
            w.u16(0x0018); // depth
            w.u16(0xffff); // pre_defined = -1
            write_children(w, &entry.children);
            if let Some(colour) = colour {
                write_colr(w, colour);
            }
            if let Some((h, v)) = pixel_aspect {
                let pasp = w.begin(*b"pasp");
                w.u32(h);
                w.u32(v);
                w.end(pasp);
            }
        }
        MediaKind::Audio {
            channels,
            sample_rate,
        } => {
            w.zeros(8);
            w.u16(channels);
            w.u16(16); // samplesize
            w.u32(0);
            let rate = if sample_rate > 0xffff { 0 } else { sample_rate };
            w.u32(rate << 16);
            write_children(w, &entry.children);
        }
        MediaKind::Text => write_children(w, &entry.children),
    }
    w.end(b);
}

fn write_children(w: &mut BoxWriter, children: &[ChildBox]) {
    for c in children {
        let b = match c.full {
            Some((version, flags)) => w.begin_full(c.fourcc, version, flags),
            None => w.begin(c.fourcc),
        };
        w.bytes(&c.body);
        w.end(b);
    }
}

fn write_colr(w: &mut BoxWriter, c: Colour) {
    let b = w.begin(*b"colr");
    w.bytes(b"nclx");
    w.u16(c.primaries);
    w.u16(c.transfer);
    w.u16(c.matrix);
    w.u8(if c.full_range { 0x80 } else { 0 });
    w.end(b);
}
