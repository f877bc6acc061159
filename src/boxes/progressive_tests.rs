use super::*;
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

fn video(track_id: u32) -> TrackDesc {
    TrackDesc {
        language: None,
        track_id,
        timescale: 90000,
        entry: SampleEntry {
            fourcc: *b"avc1",
            kind: MediaKind::Video {
                width: 64,
                height: 64,
                pixel_aspect: None,
                colour: None,
            },
            children: vec![ChildBox {
                fourcc: *b"avcC",
                full: None,
                body: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0],
            }],
        },
    }
}

fn find_all(b: &[u8], kind: &[u8; 4]) -> Vec<usize> {
    b.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == kind)
        .map(|(i, _)| i - 4)
        .collect()
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn table(samples: usize, size: u32, chunk_bytes: u64) -> SampleTable {
    SampleTable {
        track: video(1),
        start_dts: 0,
        samples: (0..samples)
            .map(|i| TableSample {
                duration: 3000,
                size,
                composition_offset: if i % 3 == 1 { 6000 } else { 0 },
                sync: i % 30 == 0,
            })
            .collect(),
        chunks: (0..samples as u64 / 10)
            .map(|c| TableChunk {
                offset: c * chunk_bytes,
                samples: 10,
            })
            .collect(),
        priming: 0,
    }
}

#[test]
fn small_file_uses_stco_and_points_past_the_header() {
    let t = table(60, 100, 1000);
    let b = write_progressive(&MovieDesc::progressive(1000), &[t], 6000);
    let stco = find_all(&b, b"stco");
    assert_eq!(stco.len(), 1);
    assert_eq!(be32(&b, stco[0] + 12), 6);
    assert_eq!(
        be32(&b, stco[0] + 16) as usize,
        b.len(),
        "first chunk right after the mdat header"
    );
    assert_eq!(be32(&b, stco[0] + 20) as usize, b.len() + 1000);
    // Uniform sizes use the stsz shortcut; stsc has one entry for equal runs.
    let stsz = find_all(&b, b"stsz")[0];
    assert_eq!(be32(&b, stsz + 12), 100);
    let stsc = find_all(&b, b"stsc")[0];
    assert_eq!(be32(&b, stsc + 12), 1);
    // Two sync samples of 60; ctts version 0.
    let stss = find_all(&b, b"stss")[0];
    assert_eq!(be32(&b, stss + 12), 2);
    let ctts = find_all(&b, b"ctts")[0];
    assert_eq!(b[ctts + 8], 0);
    assert!(find_all(&b, b"co64").is_empty());
}

#[test]
fn offsets_past_4_gib_switch_to_co64() {
    // 60 samples of 200 MiB: chunks every 2000 MiB, the last ones past 4 GiB.
    let t = table(60, 200 << 20, 2000 << 20);
    let payload = 60u64 * (200 << 20);
    let b = write_progressive(&MovieDesc::progressive(1000), &[t], payload);
    let co64 = find_all(&b, b"co64");
    assert_eq!(co64.len(), 1);
    assert!(find_all(&b, b"stco").is_empty());
    let first = u64::from_be_bytes(b[co64[0] + 16..co64[0] + 24].try_into().unwrap());
    assert_eq!(first, b.len() as u64);
    // 64-bit mdat size.
    let mdat = b.len() - 16;
    assert_eq!(be32(&b, mdat), 1);
    assert_eq!(&b[mdat + 4..mdat + 8], b"mdat");
}

#[test]
fn long_durations_use_version_1_headers() {
    // 2^32 / 3000 * 2 samples of 3000 ticks pass 32 bits in the media timescale.
    let n = ((u64::from(u32::MAX) / 3000) + 10) as usize;
    let mut t = table(0, 1, 1);
    t.samples = vec![
        TableSample {
            duration: 3000,
            size: 1,
            composition_offset: 0,
            sync: true
        };
        n
    ];
    t.chunks = vec![TableChunk {
        offset: 0,
        samples: n as u32,
    }];
    let b = write_progressive(&MovieDesc::progressive(90000), &[t], n as u64);
    for kind in [b"mvhd", b"tkhd", b"mdhd"] {
        let at = find_all(&b, kind)[0];
        assert_eq!(b[at + 8], 1, "{} version 1", String::from_utf8_lossy(kind));
    }
}

#[test]
fn later_track_gets_an_empty_edit() {
    let mut a = table(30, 10, 100);
    a.track.track_id = 1;
    let mut b_track = table(30, 10, 100);
    b_track.track.track_id = 2;
    b_track.start_dts = 45000; // starts 0.5 s later
    for s in &mut b_track.samples {
        s.composition_offset = 0;
    }
    for s in &mut a.samples {
        s.composition_offset = 0;
    }
    let b = write_progressive(&MovieDesc::progressive(1000), &[a, b_track], 600);
    let elst = find_all(&b, b"elst");
    assert_eq!(elst.len(), 2);
    assert_eq!(be32(&b, elst[0] + 12), 1, "first track: one edit");
    assert_eq!(be32(&b, elst[1] + 12), 2, "second track: empty edit first");
    assert_eq!(be32(&b, elst[1] + 16), 500);
    assert_eq!(be32(&b, elst[1] + 20), u32::MAX);
}

/// The `moov` of a header, decoded by the independent parser.
fn moov_of(b: &[u8]) -> mp4_atom::Moov {
    use mp4_atom::Decode;
    let at = find_all(b, b"moov")[0];
    let len = be32(b, at) as usize;
    let any = mp4_atom::Any::decode(&mut &b[at..at + len]).expect("moov decodes");
    mp4_atom::Moov::try_from(any).expect("a moov")
}

#[test]
fn the_independent_parser_reads_co64_and_64_bit_durations() {
    let t = table(60, 200 << 20, 2000 << 20);
    let b = write_progressive(&MovieDesc::progressive(1000), &[t], 60u64 * (200 << 20));
    let moov = moov_of(&b);
    let stbl = &moov.trak[0].mdia.minf.stbl;
    let co64 = stbl.co64.as_ref().expect("co64");
    assert!(stbl.stco.is_none());
    assert_eq!(co64.entries.len(), 6);
    assert_eq!(co64.entries[0], b.len() as u64);
    assert_eq!(co64.entries[5], b.len() as u64 + 5 * (2000 << 20));
    assert!(co64.entries[5] > u64::from(u32::MAX));

    let n = ((u64::from(u32::MAX) / 3000) + 10) as usize;
    let mut t = table(0, 1, 1);
    t.samples = vec![
        TableSample {
            duration: 3000,
            size: 1,
            composition_offset: 0,
            sync: true
        };
        n
    ];
    t.chunks = vec![TableChunk {
        offset: 0,
        samples: n as u32,
    }];
    let b = write_progressive(&MovieDesc::progressive(90000), &[t], n as u64);
    let moov = moov_of(&b);
    assert_eq!(moov.trak[0].mdia.mdhd.duration, n as u64 * 3000);
    assert!(moov.trak[0].mdia.mdhd.duration > u64::from(u32::MAX));
    assert!(moov.mvhd.duration > u64::from(u32::MAX));
}
