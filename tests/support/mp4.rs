//! Reads fragmented MP4 back with the independent `mp4-atom` parser into a summary that
//! tests compare against what went into the muxer.

use mp4_atom::{Any, Codec, Decode, Ftyp, Moof, Moov, Traf};
use std::collections::BTreeMap;

/// One sample as a player would see it, in track timescale ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub dts: u64,
    pub pts: i64,
    pub duration: u32,
    pub flags: u32,
    pub data: Vec<u8>,
    /// Index of the chunk (moof) the sample is in.
    pub chunk: usize,
}

impl Sample {
    /// ISO 14496-12: a sample is sync when `sample_is_non_sync_sample` is 0.
    pub fn is_sync(&self) -> bool {
        self.flags & 0x0001_0000 == 0
    }
}

/// One `traf` of a `moof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafInfo {
    pub track_id: u32,
    pub tfdt: Option<u64>,
    pub tfdt_version: Option<u8>,
    pub default_base_is_moof: bool,
    pub base_data_offset: Option<u64>,
    pub truns: usize,
    pub samples: usize,
    /// Sum of the sample durations.
    pub duration: u64,
}

/// One `moof` + `mdat` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub sequence: u32,
    pub trafs: Vec<TrafInfo>,
    pub mdat_payload: u64,
    pub mdat_header: u64,
}

/// The whole file as the parser sees it.
#[derive(Debug, Clone)]
pub struct Mp4 {
    pub top_level: Vec<String>,
    pub ftyp: Ftyp,
    pub moov: Moov,
    pub chunks: Vec<Chunk>,
    /// Samples per track ID in decode order.
    pub samples: BTreeMap<u32, Vec<Sample>>,
}

impl Mp4 {
    pub fn timescale(&self, track_id: u32) -> u32 {
        self.trak(track_id).mdia.mdhd.timescale
    }

    pub fn trak(&self, track_id: u32) -> &mp4_atom::Trak {
        trak(&self.moov, track_id)
    }

    pub fn codec(&self, track_id: u32) -> &Codec {
        let codecs = &self.trak(track_id).mdia.minf.stbl.stsd.codecs;
        assert_eq!(codecs.len(), 1, "one sample entry per track");
        &codecs[0]
    }

    pub fn handler(&self, track_id: u32) -> String {
        self.trak(track_id).mdia.hdlr.handler.to_string()
    }
}

/// The `trak` of `track_id`; panics when there is none.
pub fn trak(moov: &Moov, track_id: u32) -> &mp4_atom::Trak {
    moov.trak
        .iter()
        .find(|t| t.tkhd.track_id == track_id)
        .unwrap_or_else(|| panic!("no trak {track_id}"))
}

/// Size, header length and type of the box at `pos` (size 0: to the end of `data`).
pub fn box_at(data: &[u8], pos: usize) -> (usize, usize, [u8; 4]) {
    let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
    let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
    match size32 {
        1 => {
            let size = u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize;
            (size, 16, kind)
        }
        0 => (data.len() - pos, 8, kind),
        s => (s, 8, kind),
    }
}

/// Top-level boxes of a file: (type, offset, size); stops at a box that runs past the
/// end (a torn tail).
#[allow(dead_code)]
pub fn top_level_boxes(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let (size, _, kind) = box_at(data, pos);
        if size < 8 || pos + size > data.len() {
            break;
        }
        out.push((String::from_utf8_lossy(&kind).to_string(), pos, size));
        pos += size;
    }
    out
}

fn decode<T: TryFrom<Any>>(bytes: &[u8]) -> T
where
    T::Error: std::fmt::Debug,
{
    let any = Any::decode(&mut &bytes[..]).expect("mp4-atom decodes the box");
    T::try_from(any).expect("box of the expected type")
}

/// Positions of each `tfdt` version byte inside a moof, in traf order.
fn tfdt_versions(moof: &[u8]) -> Vec<u8> {
    moof.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"tfdt")
        .map(|(i, _)| moof[i + 4])
        .collect()
}

/// Parses a complete fragmented MP4 file.
pub fn parse(data: &[u8]) -> Mp4 {
    let mut pos = 0;
    let mut top_level = Vec::new();
    let mut ftyp = None;
    let mut moov: Option<Moov> = None;
    let mut chunks = Vec::new();
    let mut samples: BTreeMap<u32, Vec<Sample>> = BTreeMap::new();
    let mut pending_moof: Option<(usize, Moof, Vec<u8>)> = None;
    while pos < data.len() {
        let (size, header, kind) = box_at(data, pos);
        assert!(
            size >= header && pos + size <= data.len(),
            "box {kind:?} at {pos} overruns the file"
        );
        let bytes = &data[pos..pos + size];
        top_level.push(String::from_utf8_lossy(&kind).to_string());
        match &kind {
            b"ftyp" => ftyp = Some(decode::<Ftyp>(bytes)),
            b"moov" => moov = Some(decode::<Moov>(bytes)),
            b"moof" => {
                assert!(
                    pending_moof.is_none(),
                    "moof at {pos} follows a moof without its mdat"
                );
                pending_moof = Some((pos, decode::<Moof>(bytes), tfdt_versions(bytes).to_vec()));
            }
            b"mdat" => {
                let (moof_pos, moof, versions) =
                    pending_moof.take().expect("mdat without a moof before it");
                let moov = moov.as_ref().expect("moov before the first moof");
                let payload = (pos + header, pos + size);
                let chunk_index = chunks.len();
                let mut trafs = Vec::new();
                for (i, traf) in moof.traf.iter().enumerate() {
                    let info = read_traf(
                        data,
                        moov,
                        moof_pos,
                        payload,
                        traf,
                        chunk_index,
                        &mut samples,
                    );
                    trafs.push(TrafInfo {
                        tfdt_version: versions.get(i).copied(),
                        ..info
                    });
                }
                chunks.push(Chunk {
                    sequence: moof.mfhd.sequence_number,
                    trafs,
                    mdat_payload: (size - header) as u64,
                    mdat_header: header as u64,
                });
            }
            _ => {}
        }
        pos += size;
    }
    assert!(
        pending_moof.is_none(),
        "file ends after a moof without its mdat"
    );
    Mp4 {
        top_level,
        ftyp: ftyp.expect("ftyp"),
        moov: moov.expect("moov"),
        chunks,
        samples,
    }
}

fn read_traf(
    data: &[u8],
    moov: &Moov,
    moof_pos: usize,
    payload: (usize, usize),
    traf: &Traf,
    chunk: usize,
    out: &mut BTreeMap<u32, Vec<Sample>>,
) -> TrafInfo {
    let tfhd = &traf.tfhd;
    let trex = moov
        .mvex
        .as_ref()
        .expect("mvex")
        .trex
        .iter()
        .find(|t| t.track_id == tfhd.track_id)
        .expect("trex for every track");
    let base = tfhd.base_data_offset.map_or(moof_pos, |b| b as usize);
    let mut dts = traf.tfdt.as_ref().map_or(0, |t| t.base_media_decode_time);
    let list = out.entry(tfhd.track_id).or_default();
    let mut count = 0;
    let start = dts;
    for trun in &traf.trun {
        let mut at = base as i64 + i64::from(trun.data_offset.expect("trun data_offset"));
        for e in trun.samples.iter() {
            let size = e
                .size
                .or(tfhd.default_sample_size)
                .unwrap_or(trex.default_sample_size);
            let duration = e
                .duration
                .or(tfhd.default_sample_duration)
                .unwrap_or(trex.default_sample_duration);
            let flags = e
                .flags
                .or(tfhd.default_sample_flags)
                .unwrap_or(trex.default_sample_flags);
            let begin = at as usize;
            let end = begin + size as usize;
            assert!(
                begin >= payload.0 && end <= payload.1,
                "sample {begin}..{end} outside its mdat {payload:?}"
            );
            list.push(Sample {
                dts,
                pts: dts as i64 + e.cts.unwrap_or(0),
                duration,
                flags,
                data: data[begin..end].to_vec(),
                chunk,
            });
            dts += u64::from(duration);
            at += i64::from(size);
            count += 1;
        }
    }
    TrafInfo {
        track_id: tfhd.track_id,
        tfdt: traf.tfdt.as_ref().map(|t| t.base_media_decode_time),
        tfdt_version: None,
        default_base_is_moof: tfhd.default_base_is_moof,
        base_data_offset: tfhd.base_data_offset,
        truns: traf.trun.len(),
        samples: count,
        duration: dts - start,
    }
}
