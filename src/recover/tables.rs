//! Sample tables of a finished file built from fragments, one sample at a time, in the
//! 16 bytes a sample the tables need (the payload stays where it lies).

use crate::boxes::TrackDesc;
use crate::boxes::progressive::{SampleTable, TableChunk, TableSample};

/// One sample of a fragment, where it lies in the file and how it is timed (ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedSample {
    /// Absolute file offset of the first byte.
    pub offset: u64,
    pub size: u32,
    pub dts: u64,
    pub duration: u32,
    pub composition_offset: i32,
    pub sync: bool,
}

/// A track's tables as they grow.
#[derive(Debug, Clone, Default)]
pub struct TrackTables {
    start_dts: Option<u64>,
    samples: Vec<TableSample>,
    chunks: Vec<TableChunk>,
    /// Where the last sample ends in the file and in decode time.
    next_offset: u64,
    next_dts: u64,
}

impl TrackTables {
    /// Adds the next sample in decode order. Consecutive bytes form one ISO chunk; a
    /// gap in decode time (a fragment whose `tfdt` lies after the previous end) is
    /// absorbed by the previous sample's duration, as `stts` cannot hold a hole.
    pub fn push(&mut self, s: PlacedSample) {
        if self.start_dts.is_none() {
            self.start_dts = Some(s.dts);
        } else if s.dts > self.next_dts
            && let Some(last) = self.samples.last_mut()
        {
            let gap = s.dts - self.next_dts;
            last.duration = last
                .duration
                .saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
        }
        match self.chunks.last_mut() {
            Some(c) if s.offset == self.next_offset && !self.samples.is_empty() => c.samples += 1,
            _ => self.chunks.push(TableChunk {
                offset: s.offset,
                samples: 1,
            }),
        }
        self.samples.push(TableSample {
            duration: s.duration,
            size: s.size,
            composition_offset: s.composition_offset,
            sync: s.sync,
        });
        self.next_offset = s.offset + u64::from(s.size);
        self.next_dts = s.dts + u64::from(s.duration);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The finished table of `track`, with `priming` ticks left out by the edit list.
    pub fn into_table(self, track: TrackDesc, priming: u64) -> SampleTable {
        SampleTable {
            track,
            start_dts: self.start_dts.unwrap_or(0),
            samples: self.samples,
            chunks: self.chunks,
            priming,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset: u64, dts: u64, sync: bool) -> PlacedSample {
        PlacedSample {
            offset,
            size: 10,
            dts,
            duration: 3000,
            composition_offset: 0,
            sync,
        }
    }

    #[test]
    fn consecutive_bytes_are_one_chunk_and_gaps_stretch_the_previous_sample() {
        let mut t = TrackTables::default();
        t.push(s(100, 0, true));
        t.push(s(110, 3000, false));
        // The next fragment: its payload after a moof, its tfdt 1000 ticks late.
        t.push(s(200, 7000, true));
        t.push(s(210, 10000, false));
        assert_eq!(t.len(), 4);
        let track = TrackDesc {
            language: None,
            track_id: 1,
            timescale: 90000,
            entry: crate::boxes::SampleEntry {
                fourcc: *b"avc1",
                kind: crate::boxes::MediaKind::Video {
                    width: 64,
                    height: 64,
                    pixel_aspect: None,
                    colour: None,
                },
                children: vec![],
            },
        };
        let table = t.into_table(track, 0);
        assert_eq!(table.start_dts, 0);
        assert_eq!(
            table.chunks,
            vec![
                TableChunk {
                    offset: 100,
                    samples: 2
                },
                TableChunk {
                    offset: 200,
                    samples: 2
                }
            ]
        );
        let durations: Vec<u32> = table.samples.iter().map(|s| s.duration).collect();
        assert_eq!(durations, vec![3000, 4000, 3000, 3000]);
    }
}
