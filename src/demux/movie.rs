//! Reads a `moov` into track descriptions: sample entry, timescale, `trex` defaults.

use super::protection::{Pssh, TrackProtection, parse_protection, parse_pssh};
use crate::boxes::reader::{BoxReader, ReadError, fourcc_str};
use crate::boxes::{ChildBox, Colour, FourCc, Language, MediaKind, SampleEntry, TrackDesc};

/// Per-track sample defaults from the `trex` box.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackDefaults {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
}

/// One audio or video track of the movie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub desc: TrackDesc,
    pub defaults: TrackDefaults,
    /// `media_time` of the first non-empty edit, in track ticks, when an edit list has one.
    pub edit_media_time: Option<u64>,
    /// `mdhd` duration in track ticks (0: unknown, as in an empty `moov`).
    pub duration: u64,
    /// Common Encryption of an `encv`/`enca` entry (`desc.entry` keeps the `sinf`).
    pub protection: Option<TrackProtection>,
}

/// A track the demuxer does not output, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTrack {
    pub track_id: u32,
    pub why: String,
}

/// What a `moov` says about a fragmented movie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movie {
    /// `mvhd` timescale.
    pub timescale: u32,
    pub tracks: Vec<Track>,
    pub skipped: Vec<SkippedTrack>,
    /// `mvhd` duration, else `mehd` fragment duration, in `timescale` ticks (0: unknown).
    pub duration: u64,
    /// The `pssh` boxes of the `moov`, in order.
    pub pssh: Vec<Pssh>,
}

impl Movie {
    /// The track with `track_id`, if it is output.
    pub fn track(&self, track_id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.desc.track_id == track_id)
    }
}

/// Parses the body of a `moov` box.
pub fn parse_moov(moov: &BoxReader) -> Result<Movie, ReadError> {
    let mut mvhd = moov.require(b"mvhd")?;
    let (version, _) = mvhd.full_header()?;
    mvhd.u32_or_u64(version)?; // creation
    mvhd.u32_or_u64(version)?; // modification
    let timescale = mvhd.u32()?;
    let mut duration = mvhd.u32_or_u64(version)?;
    if (version == 0 && duration == u64::from(u32::MAX)) || duration == u64::MAX {
        duration = 0;
    }
    let mvex = moov.find(b"mvex")?.ok_or_else(|| {
        moov.error("has no 'mvex': this is not a fragmented MP4 (use qtdemux for plain MP4 files)")
    })?;
    if duration == 0
        && let Some(mut mehd) = mvex.find(b"mehd")?
    {
        let (version, _) = mehd.full_header()?;
        duration = mehd.u32_or_u64(version)?;
    }
    let mut trex = Vec::new();
    for mut t in mvex.clone().children()? {
        if &t.kind() == b"trex" {
            t.full_header()?;
            let track_id = t.u32()?;
            t.u32()?; // default_sample_description_index
            let defaults = TrackDefaults {
                duration: t.u32()?,
                size: t.u32()?,
                flags: t.u32()?,
            };
            trex.push((track_id, defaults));
        }
    }
    let mut movie = Movie {
        timescale,
        tracks: Vec::new(),
        skipped: Vec::new(),
        duration,
        pssh: Vec::new(),
    };
    for trak in moov.clone().children()? {
        if &trak.kind() == b"pssh" {
            movie.pssh.push(parse_pssh(&trak)?);
            continue;
        }
        if &trak.kind() != b"trak" {
            continue;
        }
        let mut tkhd = trak.require(b"tkhd")?;
        let (version, _) = tkhd.full_header()?;
        tkhd.u32_or_u64(version)?;
        tkhd.u32_or_u64(version)?;
        let track_id = tkhd.u32()?;
        match parse_trak(&trak, track_id)? {
            Ok((timescale, (entry, protection), edit_media_time, duration, language)) => {
                let defaults = trex
                    .iter()
                    .find(|(id, _)| *id == track_id)
                    .map(|(_, d)| *d)
                    .ok_or_else(|| mvex.error(format!("has no 'trex' for track {track_id}")))?;
                movie.tracks.push(Track {
                    desc: TrackDesc {
                        language,
                        track_id,
                        timescale,
                        entry,
                    },
                    defaults,
                    edit_media_time,
                    duration,
                    protection,
                });
            }
            Err(why) => movie.skipped.push(SkippedTrack { track_id, why }),
        }
    }
    Ok(movie)
}

/// Timescale, sample entry (with its protection), edit `media_time`, `mdhd` duration,
/// language (`mdhd`, `elng`).
type TrakParts = (
    u32,
    (SampleEntry, Option<TrackProtection>),
    Option<u64>,
    u64,
    Option<Language>,
);

/// `Ok(Err(why))` for a well-formed track the demuxer does not output.
fn parse_trak(trak: &BoxReader, track_id: u32) -> Result<Result<TrakParts, String>, ReadError> {
    let mdia = trak.require(b"mdia")?;
    let mut hdlr = mdia.require(b"hdlr")?;
    hdlr.full_header()?;
    hdlr.u32()?;
    let handler: FourCc = hdlr.bytes(4)?.try_into().unwrap_or(*b"????");
    let neither = || {
        format!(
            "track {track_id} has handler '{}', neither video nor audio (nor wvtt text)",
            fourcc_str(&handler)
        )
    };
    if &handler != b"vide" && &handler != b"soun" && &handler != b"text" {
        return Ok(Err(neither()));
    }
    let mut mdhd = mdia.require(b"mdhd")?;
    let (version, _) = mdhd.full_header()?;
    mdhd.u32_or_u64(version)?;
    mdhd.u32_or_u64(version)?;
    let timescale = mdhd.u32()?;
    if timescale == 0 {
        return Err(mdhd.error("timescale 0"));
    }
    let mut duration = mdhd.u32_or_u64(version)?;
    if (version == 0 && duration == u64::from(u32::MAX)) || duration == u64::MAX {
        duration = 0;
    }
    let language = parse_language(&mdia, mdhd.u16()?)?;
    let stbl = mdia.require(b"minf")?.require(b"stbl")?;
    let mut stsd = stbl.require(b"stsd")?;
    stsd.full_header()?;
    let count = stsd.u32()?;
    let Some(entry) = stsd.next_child()? else {
        return Err(stsd.error(format!("claims {count} entries but holds none")));
    };
    if &handler == b"text" && &entry.kind() != b"wvtt" {
        return Ok(Err(neither()));
    }
    let entry = parse_sample_entry(entry, handler)?;
    let edit = match trak.find(b"edts")? {
        Some(edts) => first_media_time(&edts)?,
        None => None,
    };
    Ok(Ok((timescale, entry, edit, duration, language)))
}

/// The track's language: `mdhd`'s packed ISO 639-2/T code and the `elng` BCP 47 tag
/// (else the tag of the code); none for `und` (or no code) without an `elng`.
fn parse_language(mdia: &BoxReader, packed: u16) -> Result<Option<Language>, ReadError> {
    let letter = |shift: u16| ((packed >> shift) & 0x1f) as u8 + 0x60;
    let code = [letter(10), letter(5), letter(0)];
    let valid = code.iter().all(u8::is_ascii_lowercase);
    let elng = match mdia.find(b"elng")? {
        Some(mut e) => {
            e.full_header()?;
            let rest = e.rest();
            let text = rest.split(|b| *b == 0).next().unwrap_or_default();
            std::str::from_utf8(text)
                .ok()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        }
        None => None,
    };
    if !valid || (&code == b"und" && elng.is_none()) {
        return Ok(None);
    }
    let code_str = String::from_utf8_lossy(&code).to_string();
    let bcp47 = elng.unwrap_or_else(|| {
        crate::language::from_tag(&code_str).map_or(code_str.clone(), |l| l.bcp47)
    });
    Ok(Some(Language {
        iso639_2t: code,
        bcp47,
    }))
}

fn first_media_time(edts: &BoxReader) -> Result<Option<u64>, ReadError> {
    let Some(mut elst) = edts.find(b"elst")? else {
        return Ok(None);
    };
    let (version, _) = elst.full_header()?;
    let count = elst.u32()?;
    for _ in 0..count {
        elst.u32_or_u64(version)?; // segment_duration
        let media_time = if version == 1 {
            elst.u64()? as i64
        } else {
            i64::from(elst.u32()? as i32)
        };
        elst.u32()?; // rate
        if media_time >= 0 {
            return Ok(Some(media_time as u64));
        }
    }
    Ok(None)
}

/// Configuration boxes written as full boxes (version and flags before the body).
const FULL_CHILDREN: [FourCc; 3] = [*b"esds", *b"vpcC", *b"dfLa"];

/// Encrypted entries: the original format and scheme are in their `sinf`.
const PROTECTED_ENTRIES: [FourCc; 2] = [*b"encv", *b"enca"];

type EntryParts = (SampleEntry, Option<TrackProtection>);

fn parse_sample_entry(mut e: BoxReader, handler: FourCc) -> Result<EntryParts, ReadError> {
    let fourcc = e.kind();
    let entry_box = e.clone();
    let mut sinfs = Vec::new();
    e.skip(8)?; // reserved, data_reference_index
    let mut kind = if &handler == b"text" {
        // A plain text sample entry: its configuration boxes follow.
        MediaKind::Text
    } else if &handler == b"vide" {
        e.skip(16)?;
        let width = e.u16()?;
        let height = e.u16()?;
        e.skip(50)?;
        MediaKind::Video {
            width,
            height,
            pixel_aspect: None,
            colour: None,
        }
    } else {
        let version = e.u16()?;
        e.skip(6)?;
        let channels = e.u16()?;
        e.skip(6)?; // samplesize, pre_defined, reserved
        let rate = e.u32()? >> 16;
        // QuickTime sound description versions 1 and 2 carry more fields.
        match version {
            1 => e.skip(16)?,
            2 => e.skip(36)?,
            _ => {}
        }
        MediaKind::Audio {
            channels,
            sample_rate: rate,
        }
    };
    let mut children = Vec::new();
    while let Some(mut c) = e.next_child()? {
        let child_kind = c.kind();
        if &child_kind == b"sinf" {
            sinfs.push(c.clone());
        }
        match (&child_kind, &mut kind) {
            (
                b"pasp",
                MediaKind::Video {
                    pixel_aspect: p, ..
                },
            ) => {
                *p = Some((c.u32()?, c.u32()?));
            }
            (b"colr", MediaKind::Video { colour, .. }) if is_nclx(&c) => {
                c.skip(4)?;
                *colour = Some(Colour {
                    primaries: c.u16()?,
                    transfer: c.u16()?,
                    matrix: c.u16()?,
                    full_range: c.u8()? & 0x80 != 0,
                });
            }
            _ => {
                let full = if FULL_CHILDREN.contains(&child_kind) {
                    Some(c.full_header()?)
                } else {
                    None
                };
                children.push(ChildBox {
                    fourcc: child_kind,
                    full,
                    body: c.rest().to_vec(),
                });
            }
        }
    }
    let protection = if PROTECTED_ENTRIES.contains(&fourcc) {
        Some(parse_protection(&entry_box, &sinfs)?)
    } else {
        None
    };
    Ok((
        SampleEntry {
            fourcc,
            kind,
            children,
        },
        protection,
    ))
}

/// True for a `colr` whose type is `nclx` (the one the entry models).
fn is_nclx(colr: &BoxReader) -> bool {
    let mut peek = colr.clone();
    peek.bytes(4).is_ok_and(|t| t == b"nclx") && peek.remaining() >= 7
}
