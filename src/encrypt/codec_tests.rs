//! The per-codec clear parts on real encoded samples (made with GStreamer's x264enc,
//! x265enc, vp9enc and av1enc, in `testdata/`). The expected header lengths come from an
//! independent parser: FFmpeg's `trace_headers` bitstream filter (CBS), which prints the
//! bit position of every header syntax element; each is noted where it is used.
// A list of one protected range is what these tests mean.
#![allow(clippy::single_range_in_vec_init)]

use super::av1::Av1Tiles;
use super::slice_header::SliceHeaders;
use super::subsample::{NalCodec, Subsample, ranges_subsamples};
use super::vp9::{Vp9Frames, superframe};

/// The NAL units of an Annex B stream (one slice per picture), grouped into access
/// units: a new one starts with the first NAL unit after a slice.
fn access_units(annexb: &[u8], codec: NalCodec) -> Vec<Vec<&[u8]>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= annexb.len() {
        if annexb[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    let mut after_slice = true;
    for (n, &s) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(annexb.len(), |&e| e - 3);
        while end > s && annexb[end - 1] == 0 {
            end -= 1;
        }
        let nal = &annexb[s..end];
        if after_slice {
            aus.push(Vec::new());
        }
        after_slice = codec.is_vcl(nal[0]);
        aus.last_mut().unwrap().push(nal);
    }
    aus
}

/// A 4-byte length-prefixed sample of `nals`.
fn sample(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n);
    }
    out
}

fn total(map: &[Subsample]) -> usize {
    map.iter()
        .map(|s| usize::from(s.clear) + s.protected as usize)
        .sum()
}

/// Checks the `cbcs` map of each access unit: the slice header lengths are `expected`
/// (one per access unit, one slice each), and the map keeps everything up to the end of
/// the slice header clear and protects the rest of the slice from there.
fn check_nal(stream: &[u8], codec: NalCodec, record: &[u8], drop_sets: bool, expected: &[usize]) {
    let mut headers = SliceHeaders::new(codec, record).unwrap();
    let aus = access_units(stream, codec);
    assert_eq!(aus.len(), expected.len(), "access units in the fixture");
    for (au, &want) in aus.iter().zip(expected) {
        let is_set = |n: &&[u8]| match codec {
            NalCodec::Avc => matches!(n[0] & 0x1f, 7 | 8),
            NalCodec::Hevc => matches!((n[0] >> 1) & 0x3f, 32..=34),
        };
        let nals: Vec<&[u8]> = au
            .iter()
            .copied()
            .filter(|n| !(drop_sets && is_set(n)))
            .collect();
        let data = sample(&nals);
        assert_eq!(
            headers.clone().slice_header_lengths(&data, 4).unwrap(),
            vec![want]
        );
        let map = headers.cbcs_subsamples(&data, 4).unwrap();
        // Everything before the slice NAL, its length field and `want` bytes: clear.
        let slice = nals.iter().position(|n| codec.is_vcl(n[0])).unwrap();
        let before: usize = nals[..slice].iter().map(|n| 4 + n.len()).sum();
        assert_eq!(
            map[0],
            Subsample {
                clear: (before + 4 + want) as u16,
                protected: (nals[slice].len() - want) as u32,
            }
        );
        assert_eq!(total(&map), data.len());
    }
}

#[test]
fn h264_cabac_slice_headers_end_where_ffmpeg_says() {
    // trace_headers: the IDR slice header's last element (slice_beta_offset_div2) ends at
    // bit 42, the P slices' at bit 45; cabac_alignment_one_bits fill to bit 48: 6 bytes.
    let stream = include_bytes!("testdata/ball-64x48.h264");
    check_nal(stream, NalCodec::Avc, &[], false, &[6, 6, 6]);
}

#[test]
fn h264_cavlc_slice_headers_with_the_sets_from_an_avcc_record() {
    // trace_headers: the IDR slice header ends at bit 38, the P slice's at bit 36 (its
    // disable_deblocking_filter_idc at bits 33..36): 5 bytes, the last one shared with
    // the slice data (CAVLC has no alignment).
    let stream = include_bytes!("testdata/ball-64x48-cavlc.h264");
    let first = &access_units(stream, NalCodec::Avc)[0];
    let sps = first.iter().find(|n| n[0] & 0x1f == 7).unwrap();
    let pps = first.iter().find(|n| n[0] & 0x1f == 8).unwrap();
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    check_nal(stream, NalCodec::Avc, &avcc, true, &[5, 5]);
}

#[test]
fn h265_slice_segment_headers_end_at_their_byte_alignment() {
    // trace_headers: the IDR header's alignment bits end at bit 40, the P header's
    // alignment_bit_equal_to_one is bit 55 (zeros to 56): 5 and 7 bytes.
    let stream = include_bytes!("testdata/ball-64x48.h265");
    check_nal(stream, NalCodec::Hevc, &[], false, &[5, 7]);
}

#[test]
fn a_slice_without_its_parameter_sets_is_an_error() {
    let stream = include_bytes!("testdata/ball-64x48.h264");
    let aus = access_units(stream, NalCodec::Avc);
    let slice = aus[0].iter().find(|n| n[0] & 0x1f == 5).unwrap();
    let mut headers = SliceHeaders::new(NalCodec::Avc, &[]).unwrap();
    let err = headers.cbcs_subsamples(&sample(&[slice]), 4).unwrap_err();
    assert!(err.to_string().starts_with("H.264: "), "{err}");
}

/// The frames of an IVF file.
fn ivf(file: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = usize::from(u16::from_le_bytes([file[6], file[7]]));
    while pos + 12 <= file.len() {
        let size = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(&file[pos + 12..pos + 12 + size]);
        pos += 12 + size;
    }
    out
}

#[test]
fn vp9_uncompressed_headers_stay_clear_and_the_rest_is_block_aligned() {
    // trace_headers: the key frame's header_size_in_bytes ends at bit 140 and its
    // trailing zero bits at 144 (18 bytes); each inter frame's ends at bit 80 (10 bytes).
    let frames = ivf(include_bytes!("testdata/ball-64x48.vp9.ivf"));
    assert_eq!(frames.len(), 8);
    let mut vp9 = Vp9Frames::default();
    for (i, f) in frames.iter().enumerate() {
        let header = if i == 0 { 18 } else { 10 };
        assert_eq!(vp9.protected_ranges(f).unwrap(), vec![header..f.len()]);
        let map = ranges_subsamples(f.len(), &[header..f.len()], true);
        let protected = (f.len() - header) / 16 * 16;
        assert_eq!(
            map,
            vec![Subsample {
                clear: (f.len() - protected) as u16,
                protected: protected as u32
            }]
        );
    }
}

#[test]
fn vp9_superframes_protect_each_frame_and_keep_the_index_clear() {
    let frames = ivf(include_bytes!("testdata/ball-64x48.vp9.ivf"));
    let (a, b) = (frames[0], frames[1]);
    // Two frames and a 2-byte-size index: marker 0b110_01_001, sizes LE, marker.
    let marker = 0xc0 | (1 << 3) | 1;
    let mut sf = a.to_vec();
    sf.extend_from_slice(b);
    sf.push(marker);
    sf.extend_from_slice(&(a.len() as u16).to_le_bytes());
    sf.extend_from_slice(&(b.len() as u16).to_le_bytes());
    sf.push(marker);
    assert_eq!(
        superframe(&sf).unwrap(),
        vec![(0, a.len()), (a.len(), b.len())]
    );
    let ranges = Vp9Frames::default().protected_ranges(&sf).unwrap();
    assert_eq!(ranges, vec![18..a.len(), a.len() + 10..a.len() + b.len()]);
    let map = ranges_subsamples(sf.len(), &ranges, true);
    assert_eq!(map.len(), 3, "a subsample per frame, then the clear index");
    assert_eq!(
        map[2],
        Subsample {
            clear: 6,
            protected: 0
        }
    );
    assert!(map.iter().all(|s| s.protected % 16 == 0));
    assert_eq!(total(&map), sf.len());
    // An index claiming more bytes than the sample has is an error, not a panic.
    let mut bad = sf.clone();
    let n = bad.len();
    bad[n - 3] = 0xff;
    assert!(Vp9Frames::default().protected_ranges(&bad).is_err());
    assert!(Vp9Frames::default().protected_ranges(&[0xff; 40]).is_err());
}

#[test]
fn av1_only_tile_data_is_protected() {
    // trace_headers counts bits from the OBU's first byte (its header and obu_size
    // included). TU 0: temporal delimiter (2 bytes), sequence header (13), then the frame
    // OBU at byte 15, whose frame header ends at bit 72: byte 24; one tile from there to
    // the OBU's end. TU 1: delimiter, frame OBU at byte 2, frame header to bit 272: 36.
    let tu0 = include_bytes!("testdata/ball-64x48-av1-tu0.obu");
    let tu1 = include_bytes!("testdata/ball-64x48-av1-tu1.obu");
    let mut av1 = Av1Tiles::new(&[]).unwrap();
    assert_eq!(av1.tile_ranges(tu0).unwrap(), vec![24..592]);
    assert_eq!(tu0.len(), 592);
    assert_eq!(av1.tile_ranges(tu1).unwrap(), vec![36..561]);
    // cenc: the block-aligned tail; cbcs: the whole tile.
    assert_eq!(
        ranges_subsamples(592, &[27..592], true),
        vec![Subsample {
            clear: 27 + 565 % 16,
            protected: 565 / 16 * 16
        }]
    );
    assert_eq!(
        ranges_subsamples(592, &[27..592], false),
        vec![Subsample {
            clear: 27,
            protected: 565
        }]
    );
}

#[test]
fn av1_the_sequence_header_can_come_from_the_av1c_record() {
    let tu0 = include_bytes!("testdata/ball-64x48-av1-tu0.obu");
    let tu1 = include_bytes!("testdata/ball-64x48-av1-tu1.obu");
    // av1C: 4 bytes, then the sequence header OBU (bytes 2..15 of TU 0).
    let mut av1c = vec![0x81, 0, 0, 0];
    av1c.extend_from_slice(&tu0[2..15]);
    let mut av1 = Av1Tiles::new(&av1c).unwrap();
    // The first TU without its sequence header: the tile moves 13 bytes up.
    let mut short = tu0[..2].to_vec();
    short.extend_from_slice(&tu0[15..]);
    assert_eq!(av1.tile_ranges(&short).unwrap(), vec![11..579]);
    assert_eq!(av1.tile_ranges(tu1).unwrap(), vec![36..561]);
}

#[test]
fn av1_two_tiles_are_two_ranges_and_their_size_field_stays_clear() {
    // 128x64, tile-columns=1. trace_headers: the frame OBU at byte 15, its frame header
    // to bit 80 (byte 25), tile_size_bytes_minus1 = 1; the tile group header
    // (tile_start_and_end_present_flag) takes 1 byte; then tile 0's 2-byte size.
    let tu = include_bytes!("testdata/ball-128x64-av1-2tiles-tu0.obu");
    let size_at = 15 + 10 + 1;
    let first = usize::from(u16::from_le_bytes([tu[size_at], tu[size_at + 1]])) + 1;
    let start = size_at + 2;
    let mut av1 = Av1Tiles::new(&[]).unwrap();
    assert_eq!(
        av1.tile_ranges(tu).unwrap(),
        vec![start..start + first, start + first..tu.len()]
    );
}

#[test]
fn av1_garbage_is_an_error_not_a_panic() {
    let mut av1 = Av1Tiles::new(&[]).unwrap();
    // An OBU without a size field, then a frame OBU before any sequence header.
    assert!(av1.tile_ranges(&[0x30, 1, 2, 3]).is_err());
    assert!(av1.tile_ranges(&[0x32, 0x05, 1, 2, 3, 4, 5]).is_err());
    assert!(av1.tile_ranges(&[0x32, 0x7f, 1]).is_err());
}
