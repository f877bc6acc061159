//! The init segment: `ftyp` and a `moov` with empty sample tables and `mvex`.

use super::TrackDesc;
use super::movie::{TrackTimes, write_ftyp, write_mvhd, write_trak};
use super::writer::{BoxWriter, FourCc};

/// Movie-level settings of the init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovieDesc {
    /// `mvhd` timescale.
    pub timescale: u32,
    pub major_brand: FourCc,
    pub compatible_brands: Vec<FourCc>,
    /// Complete `pssh` boxes written at the end of the `moov` (Common Encryption).
    pub pssh: Vec<Vec<u8>>,
}

impl MovieDesc {
    /// Brands for fragmented output with default-base-is-moof (DESIGN.md A1).
    pub fn fragmented(timescale: u32) -> Self {
        Self {
            timescale,
            major_brand: *b"iso6",
            compatible_brands: vec![*b"iso6", *b"iso5", *b"isom", *b"mp41"],
            pssh: Vec::new(),
        }
    }

    /// Brands for a progressive (`moov` first) file.
    pub fn progressive(timescale: u32) -> Self {
        Self {
            timescale,
            major_brand: *b"isom",
            compatible_brands: vec![*b"isom", *b"iso2", *b"mp41"],
            pssh: Vec::new(),
        }
    }
}

/// Positions in an init segment of the duration fields a recording fills in at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationSlots {
    /// `mehd` fragment_duration (64-bit, movie timescale).
    pub mehd: usize,
    /// `mvhd` duration (64-bit, movie timescale).
    pub mvhd: usize,
    /// Per track: `track_id`, `tkhd` duration (movie timescale) and `mdhd` duration
    /// (media timescale), all 64-bit.
    pub tracks: Vec<(u32, usize, usize)>,
}

/// Writes `ftyp` + `moov` for fragmented output.
pub fn write_init(movie: &MovieDesc, tracks: &[TrackDesc]) -> Vec<u8> {
    write_init_with(movie, tracks, false).0
}

/// Like [`write_init`], for a recording into a seekable file: an `mehd` and 64-bit
/// durations, all zero, to be overwritten at the positions returned.
pub fn write_recording_init(movie: &MovieDesc, tracks: &[TrackDesc]) -> (Vec<u8>, DurationSlots) {
    let (bytes, slots) = write_init_with(movie, tracks, true);
    (bytes, slots.expect("recording init has slots"))
}

fn write_init_with(
    movie: &MovieDesc,
    tracks: &[TrackDesc],
    recording: bool,
) -> (Vec<u8>, Option<DurationSlots>) {
    let mut w = BoxWriter::with_capacity(1024);
    write_ftyp(&mut w, movie);
    let moov = w.begin(*b"moov");
    let mvhd = write_mvhd(&mut w, movie.timescale, 0, tracks, recording);
    let times = TrackTimes {
        force_v1: recording,
        ..TrackTimes::default()
    };
    let mut track_slots = Vec::new();
    for t in tracks {
        let (tkhd, mdhd) = write_trak(&mut w, t, &times, |w| {
            // Empty sample tables: the samples are in the fragments.
            for kind in [*b"stts", *b"stsc", *b"stco"] {
                let b = w.begin_full(kind, 0, 0);
                w.u32(0);
                w.end(b);
            }
            let stsz = w.begin_full(*b"stsz", 0, 0);
            w.u32(0);
            w.u32(0);
            w.end(stsz);
        });
        track_slots.push((t.track_id, tkhd, mdhd));
    }
    let mvex = w.begin(*b"mvex");
    let mut mehd_at = 0;
    if recording {
        let mehd = w.begin_full(*b"mehd", 1, 0);
        mehd_at = w.len();
        w.u64(0);
        w.end(mehd);
    }
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
    for p in &movie.pssh {
        w.bytes(p);
    }
    w.end(moov);
    let slots = recording.then_some(DurationSlots {
        mehd: mehd_at,
        mvhd,
        tracks: track_slots,
    });
    (w.into_bytes(), slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::{ChildBox, MediaKind, SampleEntry};

    fn find(hay: &[u8], kind: &[u8; 4]) -> Option<usize> {
        hay.windows(4).position(|w| w == kind).map(|p| p - 4)
    }

    fn size_at(b: &[u8], pos: usize) -> usize {
        u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize
    }

    fn video_track() -> TrackDesc {
        TrackDesc {
            language: None,
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
            language: None,
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

    #[test]
    fn a_language_goes_into_mdhd_and_elng() {
        let mut t = video_track();
        t.language = Some(crate::boxes::Language {
            iso639_2t: *b"por",
            bcp47: "pt-BR".into(),
        });
        let b = write_init(&MovieDesc::fragmented(90000), &[t]);
        let mdhd = find(&b, b"mdhd").unwrap();
        // version 0: 4 bytes version/flags, 3 x u32 times and timescale, u32 duration.
        let lang = u16::from_be_bytes([b[mdhd + 28], b[mdhd + 29]]);
        let letters: Vec<u8> = [10, 5, 0]
            .iter()
            .map(|s| ((lang >> s) & 0x1f) as u8 + 0x60)
            .collect();
        assert_eq!(&letters, b"por");
        let elng = find(&b, b"elng").unwrap();
        // Right after mdhd, a full box holding the NUL-terminated tag.
        assert_eq!(elng, mdhd + size_at(&b, mdhd));
        assert_eq!(&b[elng + 12..elng + size_at(&b, elng)], b"pt-BR\0");
        let none = write_init(&MovieDesc::fragmented(90000), &[video_track()]);
        assert!(find(&none, b"elng").is_none());
    }
}
