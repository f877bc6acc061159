//! One chunk's header: `moof` (one `traf` per track) followed by the `mdat` header.

use super::writer::{BoxWriter, U32Slot, mdat_header};
use super::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};

/// One sample as the `trun` describes it, in track timescale ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleDesc {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    /// PTS − DTS in ticks.
    pub composition_offset: i32,
}

impl SampleDesc {
    /// The `sample_flags` value (DESIGN.md F3).
    pub fn flags(&self) -> u32 {
        if self.sync {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        }
    }
}

/// The samples of one track in a chunk. The payload of the trafs is laid out in
/// the `mdat` in the order of the trafs.
#[derive(Debug, Clone, Copy)]
pub struct TrafDesc<'a> {
    pub track_id: u32,
    /// `tfdt` base media decode time in ticks.
    pub base_decode_time: u64,
    pub samples: &'a [SampleDesc],
}

// `tfhd` and `trun` flags (ISO/IEC 14496-12 8.8.7, 8.8.8), shared with the reader.
pub(crate) const TFHD_BASE_DATA_OFFSET: u32 = 0x00_0001;
pub(crate) const TFHD_SAMPLE_DESCRIPTION: u32 = 0x00_0002;
pub(crate) const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
pub(crate) const TFHD_DEFAULT_SIZE: u32 = 0x00_0010;
pub(crate) const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
pub(crate) const TFHD_DURATION_IS_EMPTY: u32 = 0x01_0000;
pub(crate) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

pub(crate) const TRUN_DATA_OFFSET: u32 = 0x00_0001;
pub(crate) const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
pub(crate) const TRUN_DURATION: u32 = 0x00_0100;
pub(crate) const TRUN_SIZE: u32 = 0x00_0200;
pub(crate) const TRUN_FLAGS: u32 = 0x00_0400;
pub(crate) const TRUN_CTS: u32 = 0x00_0800;

/// How a `trun` encodes the sample flags.
enum FlagsLayout {
    /// All samples share the tfhd default.
    Default(u32),
    /// The first sample differs; the rest share the tfhd default.
    First { first: u32, rest: u32 },
    /// Every sample carries its flags.
    PerSample,
}

fn flags_layout(samples: &[SampleDesc]) -> FlagsLayout {
    let Some(first) = samples.first() else {
        return FlagsLayout::Default(NON_SYNC_SAMPLE_FLAGS);
    };
    let rest = samples.get(1).map_or(first.flags(), SampleDesc::flags);
    if samples[1..].iter().any(|s| s.flags() != rest) {
        FlagsLayout::PerSample
    } else if first.flags() == rest {
        FlagsLayout::Default(rest)
    } else {
        FlagsLayout::First {
            first: first.flags(),
            rest,
        }
    }
}

/// The value every element of `values` shares, if any.
fn common<T: PartialEq + Copy>(mut values: impl Iterator<Item = T>) -> Option<T> {
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

/// Total payload bytes of the chunk.
pub fn payload_len(trafs: &[TrafDesc]) -> u64 {
    trafs
        .iter()
        .flat_map(|t| t.samples.iter())
        .map(|s| u64::from(s.size))
        .sum()
}

/// Writes the `moof` with sequence number `sequence` and the header of the `mdat`
/// that must follow it, holding the samples of `trafs` in order.
pub fn write_chunk_header(sequence: u32, trafs: &[TrafDesc]) -> Result<Vec<u8>, ChunkError> {
    write_protected_chunk_header(sequence, trafs, &[])
}

/// Like [`write_chunk_header`], with `aux[i]` the encryption information (`senc`,
/// `saiz`, `saio`) of `trafs[i]`'s samples where that track is encrypted.
pub fn write_protected_chunk_header(
    sequence: u32,
    trafs: &[TrafDesc],
    aux: &[Option<&[super::cenc::SampleAux]>],
) -> Result<Vec<u8>, ChunkError> {
    write_chunk_header_with(sequence, trafs, aux, &[])
}

/// Like [`write_protected_chunk_header`], with the complete `pssh` boxes `pssh` in the
/// `moof` (after the `mfhd`), for players that join mid-stream.
pub fn write_chunk_header_with(
    sequence: u32,
    trafs: &[TrafDesc],
    aux: &[Option<&[super::cenc::SampleAux]>],
    pssh: &[Vec<u8>],
) -> Result<Vec<u8>, ChunkError> {
    let mut w =
        BoxWriter::with_capacity(128 + trafs.iter().map(|t| 16 * t.samples.len()).sum::<usize>());
    let moof = w.begin(*b"moof");
    let mfhd = w.begin_full(*b"mfhd", 0, 0);
    w.u32(sequence);
    w.end(mfhd);
    for b in pssh {
        w.bytes(b);
    }
    let mut offsets: Vec<(U32Slot, u64)> = Vec::with_capacity(trafs.len());
    let mut data_pos = 0u64;
    for (i, t) in trafs.iter().enumerate() {
        let slot = write_traf(&mut w, t, aux.get(i).copied().flatten());
        offsets.push((slot, data_pos));
        data_pos += t.samples.iter().map(|s| u64::from(s.size)).sum::<u64>();
    }
    w.end(moof);
    let moof_len = w.len() as u64;
    let mdat = mdat_header(data_pos);
    for ((slot, pos), t) in offsets.into_iter().zip(trafs) {
        let offset = moof_len + mdat.len() as u64 + pos;
        let offset = i32::try_from(offset).map_err(|_| ChunkError::DataOffsetTooLarge {
            track_id: t.track_id,
            offset,
        })?;
        w.patch_u32(slot, offset as u32);
    }
    let mut out = w.into_bytes();
    out.extend_from_slice(&mdat);
    Ok(out)
}

/// A chunk that the boxes cannot describe.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error(
        "track {track_id}: its samples start {offset} bytes after the moof, beyond the 2 GiB a trun data_offset can express; use a shorter fragment-duration"
    )]
    DataOffsetTooLarge { track_id: u32, offset: u64 },
}

fn write_traf(w: &mut BoxWriter, t: &TrafDesc, aux: Option<&[super::cenc::SampleAux]>) -> U32Slot {
    let traf = w.begin(*b"traf");
    let layout = flags_layout(t.samples);
    let duration = common(t.samples.iter().map(|s| s.duration));
    let size = common(t.samples.iter().map(|s| s.size));
    let default_flags = match layout {
        FlagsLayout::Default(f) | FlagsLayout::First { rest: f, .. } => Some(f),
        FlagsLayout::PerSample => None,
    };

    let mut tfhd_flags = TFHD_DEFAULT_BASE_IS_MOOF;
    if duration.is_some() {
        tfhd_flags |= TFHD_DEFAULT_DURATION;
    }
    if size.is_some() {
        tfhd_flags |= TFHD_DEFAULT_SIZE;
    }
    if default_flags.is_some() {
        tfhd_flags |= TFHD_DEFAULT_FLAGS;
    }
    let tfhd = w.begin_full(*b"tfhd", 0, tfhd_flags);
    w.u32(t.track_id);
    if let Some(d) = duration {
        w.u32(d);
    }
    if let Some(s) = size {
        w.u32(s);
    }
    if let Some(f) = default_flags {
        w.u32(f);
    }
    w.end(tfhd);

    let tfdt = w.begin_full(*b"tfdt", 1, 0);
    w.u64(t.base_decode_time);
    w.end(tfdt);

    let has_cts = t.samples.iter().any(|s| s.composition_offset != 0);
    let negative_cts = t.samples.iter().any(|s| s.composition_offset < 0);
    let mut trun_flags = TRUN_DATA_OFFSET;
    if duration.is_none() {
        trun_flags |= TRUN_DURATION;
    }
    if size.is_none() {
        trun_flags |= TRUN_SIZE;
    }
    match layout {
        FlagsLayout::First { .. } => trun_flags |= TRUN_FIRST_SAMPLE_FLAGS,
        FlagsLayout::PerSample => trun_flags |= TRUN_FLAGS,
        FlagsLayout::Default(_) => {}
    }
    if has_cts {
        trun_flags |= TRUN_CTS;
    }
    let trun = w.begin_full(*b"trun", u8::from(negative_cts), trun_flags);
    w.u32(t.samples.len() as u32);
    let slot = w.reserve_u32();
    if let FlagsLayout::First { first, .. } = layout {
        w.u32(first);
    }
    for s in t.samples {
        if duration.is_none() {
            w.u32(s.duration);
        }
        if size.is_none() {
            w.u32(s.size);
        }
        if matches!(layout, FlagsLayout::PerSample) {
            w.u32(s.flags());
        }
        if has_cts {
            w.i32(s.composition_offset);
        }
    }
    w.end(trun);
    if let Some(aux) = aux {
        // The moof starts the writer's buffer: saio offsets count from it.
        super::cenc::write_aux(w, 0, aux);
    }
    w.end(traf);
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(duration: u32, size: u32, sync: bool, cto: i32) -> SampleDesc {
        SampleDesc {
            duration,
            size,
            sync,
            composition_offset: cto,
        }
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn find(hay: &[u8], kind: &[u8; 4]) -> usize {
        hay.windows(4).position(|w| w == kind).unwrap() - 4
    }

    #[test]
    fn data_offsets_point_into_the_mdat() {
        let v = [s(3000, 10, true, 0), s(3000, 20, false, 6000)];
        let a = [s(1024, 5, true, 0); 3];
        let trafs = [
            TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &v,
            },
            TrafDesc {
                track_id: 2,
                base_decode_time: 7,
                samples: &a,
            },
        ];
        let b = write_chunk_header(5, &trafs).unwrap();
        let moof_len = be32(&b, 0) as usize;
        assert_eq!(&b[4..8], b"moof");
        assert_eq!(&b[moof_len + 4..moof_len + 8], b"mdat");
        assert_eq!(b.len(), moof_len + 8);
        assert_eq!(be32(&b, moof_len) as u64, 8 + 30 + 15);
        assert_eq!(be32(&b, find(&b, b"mfhd") + 12), 5);
        let first_trun = find(&b, b"trun");
        assert_eq!(be32(&b, first_trun + 16) as usize, moof_len + 8);
        let second = first_trun + 8 + find(&b[first_trun + 8..], b"trun");
        assert_eq!(be32(&b, second + 16) as usize, moof_len + 8 + 30);
    }

    #[test]
    fn first_sample_flags_when_only_the_first_is_sync() {
        let v = [s(1, 1, true, 0), s(1, 2, false, 0), s(1, 3, false, 0)];
        let b = write_chunk_header(
            1,
            &[TrafDesc {
                track_id: 1,
                base_decode_time: 1 << 40,
                samples: &v,
            }],
        )
        .unwrap();
        let tfhd = find(&b, b"tfhd");
        assert_eq!(be32(&b, tfhd + 8) & 0x00ff_ffff, 0x02_0028);
        assert_eq!(be32(&b, tfhd + 16), 1); // default duration
        assert_eq!(be32(&b, tfhd + 20), NON_SYNC_SAMPLE_FLAGS);
        let tfdt = find(&b, b"tfdt");
        assert_eq!(b[tfdt + 8], 1);
        assert_eq!(
            u64::from_be_bytes(b[tfdt + 12..tfdt + 20].try_into().unwrap()),
            1 << 40
        );
        let trun = find(&b, b"trun");
        assert_eq!(
            be32(&b, trun + 8),
            TRUN_DATA_OFFSET | TRUN_FIRST_SAMPLE_FLAGS | TRUN_SIZE
        );
        assert_eq!(be32(&b, trun + 20), SYNC_SAMPLE_FLAGS);
    }

    #[test]
    fn negative_composition_offset_uses_trun_version_1() {
        let v = [s(1, 1, true, -2), s(2, 1, true, 3)];
        let b = write_chunk_header(
            1,
            &[TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &v,
            }],
        )
        .unwrap();
        let trun = find(&b, b"trun");
        assert_eq!(b[trun + 8], 1);
        let flags = be32(&b, trun + 8) & 0x00ff_ffff;
        assert_eq!(flags, TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_CTS);
        // entries: duration, cts
        assert_eq!(be32(&b, trun + 20), 1);
        assert_eq!(be32(&b, trun + 24) as i32, -2);
    }

    #[test]
    fn mixed_flags_are_written_per_sample() {
        let v = [s(1, 1, true, 0), s(1, 1, false, 0), s(1, 1, true, 0)];
        let b = write_chunk_header(
            1,
            &[TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &v,
            }],
        )
        .unwrap();
        let tfhd = find(&b, b"tfhd");
        assert_eq!(be32(&b, tfhd + 8) & TFHD_DEFAULT_FLAGS, 0);
        let trun = find(&b, b"trun");
        assert_eq!(be32(&b, trun + 8) & TRUN_FLAGS, TRUN_FLAGS);
        assert_eq!(be32(&b, trun + 20), SYNC_SAMPLE_FLAGS);
        assert_eq!(be32(&b, trun + 24), NON_SYNC_SAMPLE_FLAGS);
    }

    #[test]
    fn mdat_over_4_gib_uses_the_64_bit_size() {
        let big = [s(1, 3 << 30, true, 0), s(1, 3 << 30, false, 0)];
        let b = write_chunk_header(
            1,
            &[TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &big,
            }],
        )
        .unwrap();
        let moof_len = be32(&b, 0) as usize;
        assert_eq!(b.len(), moof_len + 16);
        assert_eq!(be32(&b, moof_len), 1);
        assert_eq!(&b[moof_len + 4..moof_len + 8], b"mdat");
        let large = u64::from_be_bytes(b[moof_len + 8..moof_len + 16].try_into().unwrap());
        assert_eq!(large, (6u64 << 30) + 16);
        // The first sample starts right after the 16-byte header.
        let trun = find(&b, b"trun");
        assert_eq!(be32(&b, trun + 16) as usize, moof_len + 16);
    }

    #[test]
    fn data_offset_beyond_i32_is_an_error() {
        let big = [s(1, u32::MAX, true, 0)];
        let small = [s(1, 1, true, 0)];
        let trafs = [
            TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &big,
            },
            TrafDesc {
                track_id: 2,
                base_decode_time: 0,
                samples: &small,
            },
        ];
        assert!(matches!(
            write_chunk_header(1, &trafs),
            Err(ChunkError::DataOffsetTooLarge { track_id: 2, .. })
        ));
    }
}
