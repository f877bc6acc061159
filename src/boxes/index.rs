//! The random-access index at the end of a fragmented recording: `mfra` with a `tfra`
//! per track and the `mfro` that lets a reader find it from the end of the file.

use super::writer::BoxWriter;

/// One fragment of one track in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Presentation time of the fragment's first sample, a sync sample (track
    /// timescale; ISO/IEC 14496-12 `tfra`).
    pub time: u64,
    /// Byte offset of the fragment's `moof` from the start of the file.
    pub moof_offset: u64,
    /// 1-based position of the track's `traf` in that `moof`.
    pub traf_number: u8,
}

/// Writes `mfra` for `tracks`: (`track_id`, entries in time order).
pub fn write_mfra(tracks: &[(u32, Vec<IndexEntry>)]) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(64 + tracks.iter().map(|t| t.1.len() * 19).sum::<usize>());
    let mfra = w.begin(*b"mfra");
    for (track_id, entries) in tracks {
        let tfra = w.begin_full(*b"tfra", 1, 0);
        w.u32(*track_id);
        w.u32(0); // 1-byte traf, trun and sample numbers
        w.u32(entries.len() as u32);
        for e in entries {
            w.u64(e.time);
            w.u64(e.moof_offset);
            w.u8(e.traf_number);
            w.u8(1); // trun_number
            w.u8(1); // sample_number
        }
        w.end(tfra);
    }
    let mfro = w.begin_full(*b"mfro", 0, 0);
    let size_at = w.reserve_u32();
    w.end(mfro);
    w.end(mfra);
    let total = w.len() as u32;
    w.patch_u32(size_at, total);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::Decode;

    #[test]
    fn the_independent_parser_reads_the_index() {
        let b = write_mfra(&[
            (
                1,
                vec![
                    IndexEntry {
                        time: 0,
                        moof_offset: 1000,
                        traf_number: 1,
                    },
                    IndexEntry {
                        time: 90000,
                        moof_offset: 50_000,
                        traf_number: 1,
                    },
                ],
            ),
            (
                2,
                vec![IndexEntry {
                    time: 0,
                    moof_offset: 1000,
                    traf_number: 2,
                }],
            ),
        ]);
        let any = mp4_atom::Any::decode(&mut &b[..]).expect("mfra decodes");
        let mfra = mp4_atom::Mfra::try_from(any).expect("an mfra");
        assert_eq!(mfra.tfra.len(), 2);
        assert_eq!(mfra.tfra[0].entries[1].moof_offset, 50_000);
        assert_eq!(mfra.tfra[0].entries[1].time, 90000);
        assert_eq!(mfra.tfra[1].entries[0].traf_number, 2);
        assert_eq!(mfra.mfro.parent_size as usize, b.len());
    }
}
