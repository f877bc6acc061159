//! Reads a `moof` into the list of samples it describes, with their place in the stream.

use super::movie::Movie;
use super::protection::{Pssh, parse_pssh, parse_traf_aux};
use crate::boxes::cenc::SampleAux;
use crate::boxes::fragment::{
    TFHD_BASE_DATA_OFFSET, TFHD_DEFAULT_BASE_IS_MOOF, TFHD_DEFAULT_DURATION, TFHD_DEFAULT_FLAGS,
    TFHD_DEFAULT_SIZE, TFHD_DURATION_IS_EMPTY, TFHD_SAMPLE_DESCRIPTION, TRUN_CTS, TRUN_DATA_OFFSET,
    TRUN_DURATION, TRUN_FIRST_SAMPLE_FLAGS, TRUN_FLAGS, TRUN_SIZE,
};
use crate::boxes::reader::{BoxReader, ReadError};

/// Most samples one `moof` may describe; bounds the memory a hostile count field can claim.
pub const MAX_SAMPLES_PER_MOOF: usize = 1 << 20;

/// One sample of a fragment: where its bytes are and how it is timed, in track ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRef {
    pub track_id: u32,
    /// Stream offset of the first payload byte.
    pub offset: u64,
    pub size: u32,
    /// Decode time (`tfdt` plus the durations before it).
    pub dts: u64,
    pub duration: u32,
    /// PTS − DTS.
    pub composition_offset: i64,
    /// `is_non_sync` is 0 (ISO 14496-12 8.8.3.1).
    pub sync: bool,
    /// Encrypted track: the index of the sample's entry in [`MoofInfo::aux`].
    pub aux: Option<u32>,
}

/// The samples of one `moof`, in the order the `trun`s list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoofInfo {
    pub sequence: u32,
    /// Stream offset of the `moof` box.
    pub offset: u64,
    pub samples: Vec<SampleRef>,
    /// Encryption information (IV, subsamples) of the encrypted tracks' samples.
    pub aux: Vec<SampleAux>,
    /// The `pssh` boxes of the `moof`, in order.
    pub pssh: Vec<Pssh>,
}

/// `sample_is_non_sync_sample` in `sample_flags`.
const NON_SYNC: u32 = 0x0001_0000;

/// Parses the body of a `moof` that starts at stream offset `moof_offset`. Samples of
/// tracks the movie does not output are left out.
pub fn parse_moof(
    moof: &BoxReader,
    moof_offset: u64,
    movie: &Movie,
) -> Result<MoofInfo, ReadError> {
    let mut mfhd = moof.require(b"mfhd")?;
    mfhd.full_header()?;
    let sequence = mfhd.u32()?;
    let mut samples = Vec::new();
    let mut aux = Vec::new();
    let mut pssh = Vec::new();
    // Where the data of a traf without an explicit base starts (ISO: the end of the
    // previous traf's data, the moof for the first).
    let mut implicit_base = moof_offset;
    for traf in moof.clone().children()? {
        if &traf.kind() == b"pssh" {
            pssh.push(parse_pssh(&traf)?);
            continue;
        }
        if &traf.kind() != b"traf" {
            continue;
        }
        let from = samples.len();
        let (end, base) = parse_traf(&traf, moof_offset, implicit_base, movie, &mut samples)?;
        implicit_base = end;
        let Some(track) = samples.get(from).and_then(|s| movie.track(s.track_id)) else {
            continue;
        };
        if let Some(p) = &track.protection {
            let track_id = track.desc.track_id;
            let entries = parse_traf_aux(&traf, moof, base, samples.len() - from, track_id, p)?;
            for (s, a) in samples[from..].iter_mut().zip(entries) {
                s.aux = Some(aux.len() as u32);
                aux.push(a);
            }
        }
    }
    Ok(MoofInfo {
        sequence,
        offset: moof_offset,
        samples,
        aux,
        pssh,
    })
}

/// Appends the samples of one `traf`; returns the stream offset after its last sample
/// and the traf's data base (where its `trun` and `saio` offsets count from).
fn parse_traf(
    traf: &BoxReader,
    moof_offset: u64,
    implicit_base: u64,
    movie: &Movie,
    out: &mut Vec<SampleRef>,
) -> Result<(u64, u64), ReadError> {
    let mut tfhd = traf.require(b"tfhd")?;
    let (_, flags) = tfhd.full_header()?;
    let track_id = tfhd.u32()?;
    let track = movie.track(track_id);
    let base = if flags & TFHD_BASE_DATA_OFFSET != 0 {
        tfhd.u64()?
    } else if flags & TFHD_DEFAULT_BASE_IS_MOOF != 0 {
        moof_offset
    } else {
        implicit_base
    };
    if flags & TFHD_SAMPLE_DESCRIPTION != 0 {
        tfhd.u32()?;
    }
    let trex = track.map(|t| t.defaults).unwrap_or_default();
    let default_duration = if flags & TFHD_DEFAULT_DURATION != 0 {
        tfhd.u32()?
    } else {
        trex.duration
    };
    let default_size = if flags & TFHD_DEFAULT_SIZE != 0 {
        tfhd.u32()?
    } else {
        trex.size
    };
    let default_flags = if flags & TFHD_DEFAULT_FLAGS != 0 {
        tfhd.u32()?
    } else {
        trex.flags
    };
    if flags & TFHD_DURATION_IS_EMPTY != 0 {
        return Ok((base, base));
    }
    let mut tfdt = traf.find(b"tfdt")?.ok_or_else(|| {
        traf.error(format!(
            "track {track_id} has no 'tfdt', so its decode times are unknown"
        ))
    })?;
    let (version, _) = tfdt.full_header()?;
    let mut dts = tfdt.u32_or_u64(version)?;
    let mut data_pos = base;
    let mut any_trun = false;
    for mut trun in traf.clone().children()? {
        if &trun.kind() != b"trun" {
            continue;
        }
        any_trun = true;
        let (version, tflags) = trun.full_header()?;
        let count = trun.u32()? as usize;
        if tflags & TRUN_DATA_OFFSET != 0 {
            let rel = i64::from(trun.u32()? as i32);
            data_pos = base.checked_add_signed(rel).ok_or_else(|| {
                trun.error(format!("data_offset {rel} points before the stream start"))
            })?;
        }
        let first_flags = if tflags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
            Some(trun.u32()?)
        } else {
            None
        };
        let entry_len = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS]
            .iter()
            .filter(|f| tflags & **f != 0)
            .count()
            * 4;
        if count.saturating_mul(entry_len) > trun.remaining()
            || out.len().saturating_add(count) > MAX_SAMPLES_PER_MOOF
        {
            return Err(trun.error(format!(
                "sample_count {count} does not fit its {} bytes (or exceeds {MAX_SAMPLES_PER_MOOF} samples per moof)",
                trun.remaining()
            )));
        }
        if track.is_some() {
            out.reserve(count);
        }
        for i in 0..count {
            let duration = if tflags & TRUN_DURATION != 0 {
                trun.u32()?
            } else {
                default_duration
            };
            let size = if tflags & TRUN_SIZE != 0 {
                trun.u32()?
            } else {
                default_size
            };
            let sample_flags = if tflags & TRUN_FLAGS != 0 {
                trun.u32()?
            } else if i == 0 {
                first_flags.unwrap_or(default_flags)
            } else {
                default_flags
            };
            let composition_offset = if tflags & TRUN_CTS != 0 {
                let v = trun.u32()?;
                if version == 0 {
                    i64::from(v)
                } else {
                    i64::from(v as i32)
                }
            } else {
                0
            };
            if track.is_some() {
                out.push(SampleRef {
                    track_id,
                    offset: data_pos,
                    size,
                    dts,
                    duration,
                    composition_offset,
                    sync: sample_flags & NON_SYNC == 0,
                    aux: None,
                });
            }
            data_pos += u64::from(size);
            dts += u64::from(duration);
        }
    }
    if !any_trun {
        return Err(traf.error(format!(
            "track {track_id} has no 'trun', so the fragment has no samples for it"
        )));
    }
    Ok((data_pos, base))
}
