//! The init segment: `ftyp` and a `moov` with empty sample tables and `mvex`.

use super::writer::{BoxWriter, FourCc};
use super::{ChildBox, Colour, MediaKind, SampleEntry, TrackDesc};

/// Movie-level settings of the init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovieDesc {
    /// `mvhd` timescale.
    pub timescale: u32,
    pub major_brand: FourCc,
    pub compatible_brands: Vec<FourCc>,
}

impl MovieDesc {
    /// Brands for fragmented output with default-base-is-moof (DESIGN.md A1).
    pub fn fragmented(timescale: u32) -> Self {
        Self {
            timescale,
            major_brand: *b"iso6",
            compatible_brands: vec![*b"iso6", *b"iso5", *b"isom", *b"mp41"],
        }
    }
}

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes `ftyp` + `moov` for fragmented output.
pub fn write_init(movie: &MovieDesc, tracks: &[TrackDesc]) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(1024);
    write_ftyp(&mut w, movie);
    let moov = w.begin(*b"moov");
    write_mvhd(&mut w, movie.timescale, tracks);
    for t in tracks {
        write_trak(&mut w, t);
    }
    let mvex = w.begin(*b"mvex");
    for t in tracks {
        let trex = w.begin_full(*b"trex", 0, 0);
        w.u32(t.track_id);
        w.u32(1); // default_sample_description_index
        w.u32(0); // default_sample_duration
        w.u32(0); // default_sample_size
        w.u32(0); // default_sample_flags
        w.end(trex);
    }
    w.end(mvex);
    w.end(moov);
    w.into_bytes()
}

fn write_ftyp(w: &mut BoxWriter, movie: &MovieDesc) {
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

fn write_mvhd(w: &mut BoxWriter, timescale: u32, tracks: &[TrackDesc]) {
    let b = w.begin_full(*b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(timescale);
    w.u32(0); // duration: unknown in fragmented output
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    write_matrix(w);
    w.zeros(24); // pre_defined
    let next = tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1;
    w.u32(next);
    w.end(b);
}

fn write_trak(w: &mut BoxWriter, t: &TrackDesc) {
    let trak = w.begin(*b"trak");
    write_tkhd(w, t);
    let mdia = w.begin(*b"mdia");
    let mdhd = w.begin_full(*b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(t.timescale);
    w.u32(0);
    w.u16(0x55c4); // language "und"
    w.u16(0);
    w.end(mdhd);
    let (handler, name): (&[u8; 4], &[u8]) = if t.is_video() {
        (b"vide", b"VideoHandler\0")
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
    write_stbl(w, &t.entry);
    w.end(minf);
    w.end(mdia);
    w.end(trak);
}

fn write_tkhd(w: &mut BoxWriter, t: &TrackDesc) {
    let b = w.begin_full(*b"tkhd", 0, 0x7); // enabled, in movie, in preview
    w.u32(0);
    w.u32(0);
    w.u32(t.track_id);
    w.u32(0);
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if t.is_video() { 0 } else { 0x0100 });
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
        MediaKind::Audio { .. } => (0, 0),
    };
    w.u32(width << 16);
    w.u32(height << 16);
    w.end(b);
}

fn write_stbl(w: &mut BoxWriter, entry: &SampleEntry) {
    let stbl = w.begin(*b"stbl");
    let stsd = w.begin_full(*b"stsd", 0, 0);
    w.u32(1);
    write_sample_entry(w, entry);
    w.end(stsd);
    for kind in [*b"stts", *b"stsc", *b"stco"] {
        let b = w.begin_full(kind, 0, 0);
        w.u32(0);
        w.end(b);
    }
    let stsz = w.begin_full(*b"stsz", 0, 0);
    w.u32(0);
    w.u32(0);
    w.end(stsz);
    w.end(stbl);
}

fn write_sample_entry(w: &mut BoxWriter, entry: &SampleEntry) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn find(hay: &[u8], kind: &[u8; 4]) -> Option<usize> {
        hay.windows(4).position(|w| w == kind).map(|p| p - 4)
    }

    fn size_at(b: &[u8], pos: usize) -> usize {
        u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize
    }

    fn video_track() -> TrackDesc {
        TrackDesc {
            track_id: 1,
            timescale: 90000,
            entry: SampleEntry {
                fourcc: *b"avc1",
                kind: MediaKind::Video {
                    width: 320,
                    height: 240,
                    pixel_aspect: Some((4, 3)),
                    colour: None,
                },
                children: vec![ChildBox {
                    fourcc: *b"avcC",
                    full: None,
                    body: vec![1, 2, 3],
                }],
            },
        }
    }

    #[test]
    fn init_has_ftyp_then_moov_with_consistent_sizes() {
        let b = write_init(&MovieDesc::fragmented(90000), &[video_track()]);
        assert_eq!(&b[4..8], b"ftyp");
        let ftyp_len = size_at(&b, 0);
        assert_eq!(&b[ftyp_len + 4..ftyp_len + 8], b"moov");
        assert_eq!(ftyp_len + size_at(&b, ftyp_len), b.len());
        let avcc = find(&b, b"avcC").unwrap();
        assert_eq!(size_at(&b, avcc), 11);
        assert_eq!(&b[avcc + 8..avcc + 11], &[1, 2, 3]);
        let pasp = find(&b, b"pasp").unwrap();
        assert_eq!(&b[pasp + 8..pasp + 16], &[0, 0, 0, 4, 0, 0, 0, 3]);
        assert!(find(&b, b"elst").is_none());
        assert!(find(&b, b"colr").is_none());
        let tkhd = find(&b, b"tkhd").unwrap();
        // Display width 320 * 4/3 in 16.16 at the end of tkhd.
        let end = tkhd + size_at(&b, tkhd);
        assert_eq!(size_at(&b, end - 8) >> 16, 426);
        assert!(find(&b, b"trex").is_some());
    }

    #[test]
    fn audio_rate_above_16_bits_is_written_as_zero() {
        let t = TrackDesc {
            track_id: 2,
            timescale: 96000,
            entry: SampleEntry {
                fourcc: *b"mp4a",
                kind: MediaKind::Audio {
                    channels: 2,
                    sample_rate: 96000,
                },
                children: vec![],
            },
        };
        let b = write_init(&MovieDesc::fragmented(1000), &[t]);
        let mp4a = find(&b, b"mp4a").unwrap();
        assert_eq!(size_at(&b, mp4a + 32), 0);
        assert_eq!(&b[mp4a + 24..mp4a + 26], &[0, 2]);
    }
}
