//! The segment index (`sidx`, ISO/IEC 14496-12 8.16.3): byte sizes, durations and SAP
//! facts of consecutive subsegments, so DASH players and byte-range clients find
//! fragments without reading the file.

use super::writer::BoxWriter;

/// One referenced subsegment (a fragment: its `moof`s and `mdat`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SidxReference {
    /// Bytes from the subsegment's first byte to the next one's.
    pub size: u32,
    /// Next subsegment's earliest presentation time minus this one's (DESIGN.md T4).
    pub duration: u32,
    /// The subsegment starts with a stream access point (a keyframe).
    pub starts_with_sap: bool,
}

/// What a `sidx` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidxDesc {
    /// The track whose timing the index follows (the video, else the first track).
    pub reference_id: u32,
    pub timescale: u32,
    /// Earliest presentation time of the first subsegment, in `timescale` ticks.
    pub earliest_presentation_time: u64,
    /// Bytes between the end of the `sidx` and the first subsegment.
    pub first_offset: u64,
    pub references: Vec<SidxReference>,
}

/// Bytes of the `sidx` for `references` entries (version 1).
pub fn sidx_len(references: usize) -> usize {
    12 + 4 + 4 + 8 + 8 + 2 + 2 + references * 12
}

/// Writes a version-1 `sidx` (64-bit times and offset). SAP type 1 (a closed GOP's
/// IDR, presented first) with delta 0 on subsegments that start with one.
pub fn write_sidx(d: &SidxDesc) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(sidx_len(d.references.len()));
    let sidx = w.begin_full(*b"sidx", 1, 0);
    w.u32(d.reference_id);
    w.u32(d.timescale);
    w.u64(d.earliest_presentation_time);
    w.u64(d.first_offset);
    w.u16(0); // reserved
    w.u16(u16::try_from(d.references.len()).unwrap_or(u16::MAX));
    for r in d.references.iter().take(usize::from(u16::MAX)) {
        // reference_type 0: media; sizes are 31 bits.
        w.u32(r.size & 0x7fff_ffff);
        w.u32(r.duration);
        w.u32(if r.starts_with_sap { 0x9000_0000 } else { 0 });
    }
    w.end(sidx);
    w.into_bytes()
}

/// Timing of one fragment as an index needs it, in the reference track's ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedFragment {
    pub size: u64,
    /// Smallest decode time + composition offset of the reference track's samples.
    pub earliest_presentation: u64,
    /// Latest PTS + duration of them.
    pub presentation_end: u64,
    pub starts_with_sap: bool,
}

/// The `sidx` of consecutive `fragments`: each duration is the next one's earliest
/// presentation time minus its own, the last one's its presentation end minus it.
pub fn index_of(
    reference_id: u32,
    timescale: u32,
    first_offset: u64,
    fragments: &[IndexedFragment],
) -> SidxDesc {
    let references = fragments
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let end = fragments
                .get(i + 1)
                .map_or(f.presentation_end, |n| n.earliest_presentation);
            SidxReference {
                size: u32::try_from(f.size).unwrap_or(u32::MAX),
                duration: u32::try_from(end.saturating_sub(f.earliest_presentation))
                    .unwrap_or(u32::MAX),
                starts_with_sap: f.starts_with_sap,
            }
        })
        .collect();
    SidxDesc {
        reference_id,
        timescale,
        earliest_presentation_time: fragments.first().map_or(0, |f| f.earliest_presentation),
        first_offset,
        references,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(size: u64, start: u64, end: u64) -> IndexedFragment {
        IndexedFragment {
            size,
            earliest_presentation: start,
            presentation_end: end,
            starts_with_sap: true,
        }
    }

    #[test]
    fn durations_run_from_one_fragment_start_to_the_next() {
        // B-frames: each fragment's last frame ends a little past the next start in
        // decode order; the index follows presentation starts.
        let d = index_of(
            1,
            90000,
            0,
            &[
                frag(100, 6000, 186000),
                frag(90, 186000, 366000),
                frag(80, 366000, 400000),
            ],
        );
        assert_eq!(d.earliest_presentation_time, 6000);
        let durations: Vec<u32> = d.references.iter().map(|r| r.duration).collect();
        assert_eq!(durations, vec![180000, 180000, 34000]);
        let sizes: Vec<u32> = d.references.iter().map(|r| r.size).collect();
        assert_eq!(sizes, vec![100, 90, 80]);
    }

    #[test]
    fn the_box_has_the_iso_layout() {
        let d = index_of(2, 48000, 16, &[frag(1000, 0, 48000)]);
        let b = write_sidx(&d);
        assert_eq!(b.len(), sidx_len(1));
        assert_eq!(&b[4..8], b"sidx");
        assert_eq!(b[8], 1, "version 1");
        assert_eq!(&b[12..16], &2u32.to_be_bytes());
        assert_eq!(&b[16..20], &48000u32.to_be_bytes());
        assert_eq!(&b[28..36], &16u64.to_be_bytes());
        assert_eq!(&b[38..40], &1u16.to_be_bytes());
        assert_eq!(&b[40..44], &1000u32.to_be_bytes());
        assert_eq!(&b[44..48], &48000u32.to_be_bytes());
        assert_eq!(
            &b[48..52],
            &0x9000_0000u32.to_be_bytes(),
            "SAP type 1 at the start"
        );
    }
}
