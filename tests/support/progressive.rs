//! Reads a progressive MP4 back with `mp4-atom`: every sample from the sample tables.

use super::mp4::{Sample, box_at, trak};
use mp4_atom::{Any, Decode, Moov, StszSamples};
use std::collections::BTreeMap;

/// A progressive file as the parser sees it.
pub struct Progressive {
    pub top_level: Vec<String>,
    pub moov: Moov,
    /// Samples per track ID in decode order (`chunk` is the ISO chunk index).
    pub samples: BTreeMap<u32, Vec<Sample>>,
}

impl Progressive {
    pub fn timescale(&self, track_id: u32) -> u32 {
        self.trak(track_id).mdia.mdhd.timescale
    }

    pub fn trak(&self, track_id: u32) -> &mp4_atom::Trak {
        trak(&self.moov, track_id)
    }
}

/// Parses a whole progressive file.
pub fn parse(data: &[u8]) -> Progressive {
    let mut pos = 0;
    let mut top_level = Vec::new();
    let mut moov = None;
    // Every mdat's payload range (a hybrid file has one per fragment).
    let mut mdats = Vec::new();
    while pos < data.len() {
        let (size, header, kind) = box_at(data, pos);
        let kind = String::from_utf8_lossy(&kind).to_string();
        assert!(pos + size <= data.len(), "{kind} overruns the file");
        match kind.as_str() {
            "moov" => {
                let any = Any::decode(&mut &data[pos..pos + size]).expect("moov decodes");
                moov = Some(Moov::try_from(any).expect("a moov"));
            }
            "mdat" => mdats.push((pos + header, pos + size)),
            _ => {}
        }
        top_level.push(kind);
        pos += size;
    }
    let moov = moov.expect("moov");
    let mut samples = BTreeMap::new();
    for trak in &moov.trak {
        let stbl = &trak.mdia.minf.stbl;
        let sizes: Vec<u32> = match &stbl.stsz.samples {
            StszSamples::Identical { count, size } => vec![*size; *count as usize],
            StszSamples::Different { sizes } => sizes.clone(),
        };
        let durations: Vec<u32> = stbl
            .stts
            .entries
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize))
            .collect();
        let offsets: Vec<i64> = match &stbl.ctts {
            Some(c) => c
                .entries
                .iter()
                .flat_map(|e| std::iter::repeat_n(e.sample_offset, e.sample_count as usize))
                .collect(),
            None => vec![0; sizes.len()],
        };
        let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
            (Some(s), None) => s.entries.iter().map(|&o| u64::from(o)).collect(),
            (None, Some(c)) => c.entries.clone(),
            other => panic!("exactly one of stco/co64: {other:?}"),
        };
        assert_eq!(durations.len(), sizes.len(), "stts covers every sample");
        assert_eq!(offsets.len(), sizes.len(), "ctts covers every sample");
        // Samples per chunk from stsc.
        let mut per_chunk = Vec::with_capacity(chunk_offsets.len());
        for (i, e) in stbl.stsc.entries.iter().enumerate() {
            let next = stbl
                .stsc
                .entries
                .get(i + 1)
                .map_or(chunk_offsets.len() as u32 + 1, |n| n.first_chunk);
            for _ in e.first_chunk..next {
                per_chunk.push(e.samples_per_chunk);
            }
        }
        assert_eq!(
            per_chunk.len(),
            chunk_offsets.len(),
            "stsc covers every chunk"
        );
        assert_eq!(
            per_chunk.iter().map(|&n| n as usize).sum::<usize>(),
            sizes.len()
        );
        let syncs = stbl.stss.as_ref().map(|s| s.entries.clone());
        let mut list = Vec::with_capacity(sizes.len());
        let mut n = 0usize;
        let mut dts = 0u64;
        for (chunk, (&offset, &count)) in chunk_offsets.iter().zip(&per_chunk).enumerate() {
            let mut at = offset as usize;
            for _ in 0..count {
                let size = sizes[n] as usize;
                assert!(
                    mdats.iter().any(|m| at >= m.0 && at + size <= m.1),
                    "sample {n} outside every mdat"
                );
                let sync = syncs.as_ref().is_none_or(|s| s.contains(&(n as u32 + 1)));
                list.push(Sample {
                    dts,
                    pts: dts as i64 + offsets[n],
                    duration: durations[n],
                    flags: if sync { 0x0200_0000 } else { 0x0101_0000 },
                    data: data[at..at + size].to_vec(),
                    chunk,
                });
                dts += u64::from(durations[n]);
                at += size;
                n += 1;
            }
        }
        samples.insert(trak.tkhd.track_id, list);
    }
    Progressive {
        top_level,
        moov,
        samples,
    }
}
