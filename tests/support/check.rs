//! The output contract of DESIGN.md §2 checked against what went into the muxer.

use super::mp4::{Mp4, Sample};
use super::pipeline::{InBuf, Input, Output};
use mp4_atom::{Atom, Codec};

const SYNC: u32 = 0x0200_0000;
const NON_SYNC: u32 = 0x0101_0000;

/// `ns` in ticks of `timescale`, rounded to the nearest tick.
pub fn ticks(ns: i64, timescale: u32) -> i64 {
    let v = ns as i128 * timescale as i128;
    let r = if v >= 0 {
        (v + 500_000_000) / 1_000_000_000
    } else {
        -((-v + 500_000_000) / 1_000_000_000)
    };
    r as i64
}

/// The inputs the muxer must write: video before its first keyframe is dropped (F8).
pub fn expected(input: &Input) -> Vec<&InBuf> {
    let is_video = input.pad.starts_with("video");
    input
        .buffers
        .iter()
        .filter(|b| is_video || !b.header)
        .skip_while(|b| is_video && !b.keyframe)
        .collect()
}

/// The common origin (T1): the smallest first DTS over all tracks.
pub fn origin(inputs: &[Input]) -> i64 {
    inputs
        .iter()
        .filter_map(|i| expected(i).first().map(|b| b.decode_time()))
        .min()
        .expect("some input")
}

fn caps_codec_data(input: &Input) -> Vec<u8> {
    let buf = input
        .structure()
        .get::<gst::Buffer>("codec_data")
        .expect("codec_data");
    buf.map_readable().unwrap().to_vec()
}

fn caps_int(input: &Input, field: &str) -> i32 {
    input.structure().get::<i32>(field).unwrap()
}

/// The RFC 6381 string derived from the parsed sample entry, independently of our codec code.
pub fn codec_string(codec: &Codec) -> String {
    match codec {
        Codec::Avc1(a) => format!(
            "avc1.{:02x}{:02x}{:02x}",
            a.avcc.avc_profile_indication,
            a.avcc.profile_compatibility,
            a.avcc.avc_level_indication
        ),
        Codec::Avc3(a) => format!(
            "avc3.{:02x}{:02x}{:02x}",
            a.avcc.avc_profile_indication,
            a.avcc.profile_compatibility,
            a.avcc.avc_level_indication
        ),
        Codec::Hvc1(h) => hevc_string("hvc1", &h.hvcc),
        Codec::Hev1(h) => hevc_string("hev1", &h.hvcc),
        Codec::Mp4a(m) => format!(
            "mp4a.40.{}",
            m.esds
                .es_desc
                .dec_config
                .dec_specific
                .as_ref()
                .unwrap()
                .profile
        ),
        Codec::Vp09(v) => format!(
            "vp09.{:02}.{:02}.{:02}",
            v.vpcc.profile, v.vpcc.level, v.vpcc.bit_depth
        ),
        Codec::Opus(_) => "opus".to_string(),
        other => panic!("unexpected codec {other:?}"),
    }
}

fn hevc_string(fourcc: &str, h: &mp4_atom::Hvcc) -> String {
    let space = ["", "A", "B", "C"][h.general_profile_space as usize];
    let compat = u32::from_be_bytes(h.general_profile_compatibility_flags).reverse_bits();
    let mut s = format!(
        "{fourcc}.{space}{}.{compat:x}.{}{}",
        h.general_profile_idc,
        if h.general_tier_flag { "H" } else { "L" },
        h.general_level_idc
    );
    let flags = &h.general_constraint_indicator_flags;
    let n = flags.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    for b in &flags[..n] {
        s.push_str(&format!(".{b:X}"));
    }
    s
}

/// Init segment (A1-A3) against the caps that went in.
pub fn check_init(inputs: &[Input], mp4: &Mp4) {
    let brands: Vec<String> = mp4
        .ftyp
        .compatible_brands
        .iter()
        .map(|b| b.to_string())
        .collect();
    for b in ["iso6", "iso5", "isom", "mp41"] {
        assert!(brands.contains(&b.to_string()), "brand {b} in {brands:?}");
    }
    assert_eq!(&mp4.top_level[..2], &["ftyp", "moov"]);
    assert_eq!(mp4.moov.trak.len(), inputs.len(), "one trak per sink pad");
    let mvex = mp4.moov.mvex.as_ref().expect("mvex");
    assert!(mvex.mehd.is_none(), "no mehd when downstream cannot seek");
    let trex = &mvex.trex;
    assert_eq!(trex.len(), inputs.len(), "one trex per track");
    for (i, input) in inputs.iter().enumerate() {
        let id = i as u32 + 1;
        let trak = &mp4.moov.trak[i];
        assert_eq!(trak.tkhd.track_id, id, "traks in pad order");
        assert!(
            trak.edts.is_none(),
            "no edit list in fragmented output (A2)"
        );
        let stbl = &trak.mdia.minf.stbl;
        assert!(stbl.stts.entries.is_empty() && stbl.stsz.samples.is_empty_or_zero());
        match mp4.codec(id) {
            Codec::Vp09(v) => {
                check_visual(input, &v.visual);
                assert_eq!(v.vpcc.bit_depth, 8);
                assert_eq!(mp4.handler(id), "vide");
                continue;
            }
            Codec::Opus(o) => {
                let caps = input.structure();
                let headers = caps
                    .get::<gst::Array>("streamheader")
                    .expect("OpusHead in the caps");
                let head = headers.first().unwrap().get::<gst::Buffer>().unwrap();
                let head = head.map_readable().unwrap();
                assert_eq!(o.dops.output_channel_count, head[9]);
                assert_eq!(
                    o.dops.pre_skip,
                    u16::from_le_bytes([head[10], head[11]]),
                    "pre-skip from the OpusHead"
                );
                assert_eq!(
                    o.dops.input_sample_rate,
                    u32::from_le_bytes([head[12], head[13], head[14], head[15]])
                );
                assert_eq!(mp4.timescale(id), 48000, "Opus timescale is always 48000");
                assert_eq!(mp4.handler(id), "soun");
                continue;
            }
            _ => {}
        }
        let codec_data = caps_codec_data(input);
        let format = stream_format(input);
        match mp4.codec(id) {
            Codec::Avc1(a) => check_avc(input, "avc1", &a.visual, &a.avcc, &codec_data),
            Codec::Avc3(a) => check_avc(input, "avc3", &a.visual, &a.avcc, &codec_data),
            Codec::Hvc1(h) => check_hevc(input, "hvc1", &h.visual, &h.hvcc, &codec_data),
            Codec::Hev1(h) => check_hevc(input, "hev1", &h.visual, &h.hvcc, &codec_data),
            Codec::Mp4a(m) => {
                let dsi = m
                    .esds
                    .es_desc
                    .dec_config
                    .dec_specific
                    .as_ref()
                    .expect("DecoderSpecificInfo");
                assert_eq!(dsi.raw, codec_data, "AudioSpecificConfig verbatim");
                assert_eq!(m.esds.es_desc.dec_config.object_type_indication, 0x40);
                assert_eq!(
                    i32::from(m.audio.channel_count),
                    caps_int(input, "channels")
                );
                assert_eq!(
                    i32::from(m.audio.sample_rate.integer()),
                    caps_int(input, "rate")
                );
                assert_eq!(
                    mp4.timescale(id) as i32,
                    caps_int(input, "rate"),
                    "audio timescale = rate (A4)"
                );
                assert_eq!(mp4.handler(id), "soun");
                assert_eq!(format, "raw");
            }
            other => panic!("unexpected sample entry {other:?}"),
        }
        if input.pad.starts_with("video") {
            assert_eq!(mp4.handler(id), "vide");
        }
    }
}

fn stream_format(input: &Input) -> String {
    input.structure().get::<String>("stream-format").unwrap()
}

fn check_visual(input: &Input, visual: &mp4_atom::Visual) {
    assert_eq!(visual.width as i32, caps_int(input, "width"));
    assert_eq!(visual.height as i32, caps_int(input, "height"));
}

fn check_avc(
    input: &Input,
    fourcc: &str,
    visual: &mp4_atom::Visual,
    avcc: &mp4_atom::Avcc,
    codec_data: &[u8],
) {
    let want = if stream_format(input) == "avc" {
        "avc1"
    } else {
        "avc3"
    };
    assert_eq!(fourcc, want, "sample entry follows stream-format");
    let from_caps = mp4_atom::Avcc::decode_body(&mut &codec_data[..]).expect("caps avcC");
    assert_eq!(avcc, &from_caps, "avcC equals the caps codec_data");
    check_visual(input, visual);
}

fn check_hevc(
    input: &Input,
    fourcc: &str,
    visual: &mp4_atom::Visual,
    hvcc: &mp4_atom::Hvcc,
    codec_data: &[u8],
) {
    assert_eq!(
        fourcc,
        stream_format(input),
        "sample entry follows stream-format"
    );
    let from_caps = mp4_atom::Hvcc::decode_body(&mut &codec_data[..]).expect("caps hvcC");
    assert_eq!(hvcc, &from_caps, "hvcC equals the caps codec_data");
    check_visual(input, visual);
}

trait EmptyOrZero {
    fn is_empty_or_zero(&self) -> bool;
}
impl EmptyOrZero for mp4_atom::StszSamples {
    fn is_empty_or_zero(&self) -> bool {
        match self {
            mp4_atom::StszSamples::Identical { count, .. } => *count == 0,
            mp4_atom::StszSamples::Different { sizes } => sizes.is_empty(),
        }
    }
}

/// Every input sample exactly once, with its bytes, keyframe flag and timing (T1, F3-F6).
pub fn check_samples(inputs: &[Input], mp4: &Mp4) {
    let origin = origin(inputs);
    for (i, input) in inputs.iter().enumerate() {
        let id = i as u32 + 1;
        let ts = mp4.timescale(id);
        let want = expected(input);
        let got: &[Sample] = mp4.samples.get(&id).map_or(&[], |v| v.as_slice());
        assert_eq!(
            got.len(),
            want.len(),
            "pad {}: every sample exactly once",
            input.pad
        );
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g.data == w.data,
                "pad {} sample {n}: bytes differ",
                input.pad
            );
            assert_eq!(
                g.is_sync(),
                w.keyframe,
                "pad {} sample {n}: keyframe flag",
                input.pad
            );
            assert_eq!(
                g.flags,
                if w.keyframe { SYNC } else { NON_SYNC },
                "F3 flags"
            );
            assert!(g.duration > 0, "F5: duration > 0");
            assert_eq!(
                g.dts as i64,
                ticks(w.decode_time() - origin, ts),
                "pad {} sample {n}: DTS = running time - origin",
                input.pad
            );
            assert_eq!(
                g.pts,
                ticks(w.presentation_time() - origin, ts),
                "pad {} sample {n}: PTS = running time - origin",
                input.pad
            );
        }
    }
}

/// Chunk structure: F1, F2, F6, F7, F8 (every chunk starts a fragment).
pub fn check_chunks(mp4: &Mp4, first_sequence: u32) {
    check_chunks_with(mp4, first_sequence, |_| true);
}

/// Like [`check_chunks`] where `starts_fragment(k)` tells which chunks open a fragment
/// (F8 applies to those).
pub fn check_chunks_with(mp4: &Mp4, first_sequence: u32, starts_fragment: impl Fn(usize) -> bool) {
    let mut next_tfdt = std::collections::HashMap::new();
    assert!(!mp4.chunks.is_empty());
    for (k, c) in mp4.chunks.iter().enumerate() {
        assert_eq!(c.sequence, first_sequence.wrapping_add(k as u32), "F1");
        let mut payload = 0u64;
        for t in &c.trafs {
            assert!(
                t.default_base_is_moof && t.base_data_offset.is_none(),
                "F2 tfhd"
            );
            assert_eq!(t.tfdt_version, Some(1), "F2 tfdt version 1");
            assert!(t.truns >= 1, "F2 trun");
            let tfdt = t.tfdt.expect("F2 tfdt");
            if let Some(n) = next_tfdt.get(&t.track_id) {
                assert_eq!(tfdt, *n, "F6 tfdt continuity on track {}", t.track_id);
            }
            next_tfdt.insert(t.track_id, tfdt + t.duration);
            let samples = &mp4.samples[&t.track_id];
            payload += samples
                .iter()
                .filter(|s| s.chunk == k)
                .map(|s| s.data.len() as u64)
                .sum::<u64>();
        }
        assert_eq!(c.mdat_payload, payload, "F7 mdat size exact");
        assert_eq!(c.mdat_header, 8);
        // F8: a fragment starts with a video keyframe.
        for t in &c.trafs {
            let entry = &mp4.trak(t.track_id);
            if entry.mdia.hdlr.handler.to_string() == "vide" && starts_fragment(k) {
                let first = mp4.samples[&t.track_id]
                    .iter()
                    .find(|s| s.chunk == k)
                    .unwrap();
                assert!(first.is_sync(), "F8: chunk {k} starts with a keyframe");
            }
        }
    }
}

/// C1/C3: fragments end at the first keyframe at least `duration` after their start, and
/// audio is cut on the presentation timeline of the video.
pub fn check_cuts(inputs: &[Input], mp4: &Mp4, duration: i64) {
    let Some(v) = inputs.iter().position(|i| i.pad.starts_with("video")) else {
        return;
    };
    let vid = expected(&inputs[v]);
    let samples = &mp4.samples[&(v as u32 + 1)];
    // Index of the first video sample of each chunk.
    let mut starts = vec![];
    for (n, s) in samples.iter().enumerate() {
        if n == 0 || samples[n - 1].chunk != s.chunk {
            starts.push(n);
        }
    }
    for w in starts.windows(2) {
        let start = vid[w[0]].presentation_time();
        let want = vid
            .iter()
            .enumerate()
            .skip(w[0] + 1)
            .find(|(_, b)| b.keyframe && b.presentation_time() >= start + duration)
            .map(|(i, _)| i);
        assert_eq!(
            Some(w[1]),
            want,
            "C1: fragment starting at video sample {} is cut at the first keyframe after {} ns",
            w[0],
            duration
        );
    }
    for (a, input) in inputs.iter().enumerate() {
        if a == v {
            continue;
        }
        let got = &mp4.samples[&(a as u32 + 1)];
        let want = expected(input);
        for (g, w) in got.iter().zip(&want) {
            let pts = w.presentation_time();
            match starts.iter().position(|&s| samples[s].chunk == g.chunk) {
                Some(k) => {
                    if k > 0 {
                        assert!(
                            pts >= vid[starts[k]].presentation_time(),
                            "C3: audio before its fragment's keyframe"
                        );
                    }
                    if let Some(&next) = starts.get(k + 1) {
                        assert!(
                            pts < vid[next].presentation_time(),
                            "C3: audio at or after the next keyframe"
                        );
                    }
                }
                // Audio that outlasts the video comes after the last video fragment.
                None => assert!(pts >= vid[*starts.last().unwrap()].presentation_time()),
            }
        }
    }
}

/// DESIGN.md O and N: the init buffer, one buffer list per chunk with its flags, the caps
/// and the per-fragment messages.
pub fn check_output(output: &Output, mp4: &Mp4) {
    let s = output.structure();
    assert_eq!(s.name(), "video/quicktime");
    assert_eq!(s.get::<&str>("variant").unwrap(), "iso-fragmented");
    let codecs: Vec<String> = mp4
        .moov
        .trak
        .iter()
        .map(|t| codec_string(&t.mdia.minf.stbl.stsd.codecs[0]))
        .collect();
    assert_eq!(output.codecs(), codecs.join(","), "A5 codecs field");
    let header = s.get::<gst::Array>("streamheader").expect("streamheader");
    let init = header.first().unwrap().get::<gst::Buffer>().unwrap();
    let init = init.map_readable().unwrap();
    assert_eq!(
        &output.bytes[..init.len()],
        init.as_slice(),
        "streamheader is the init segment"
    );
    assert_eq!(output.pushes[0].len(), 1);
    assert!(output.pushes[0][0].flags.contains(gst::BufferFlags::HEADER));
    assert_eq!(output.pushes[0][0].size, init.len());
    let chunks = &output.pushes[1..];
    assert_eq!(chunks.len(), mp4.chunks.len(), "one buffer list per chunk");
    for (k, push) in chunks.iter().enumerate() {
        let samples: usize = mp4.chunks[k].trafs.iter().map(|t| t.samples).sum();
        // The header buffer, then the samples' memories, up to 16 to a buffer (zero
        // copy: a buffer holds at most 16, and a sample's memories are never merged).
        let payload = &push[1..];
        assert!(
            payload.iter().all(|b| (1..=16).contains(&b.memories)),
            "payload buffers of 1 to 16 memories: {payload:?}"
        );
        let memories: usize = payload.iter().map(|b| b.memories).sum();
        assert!(memories >= samples, "every sample's memories");
        if memories == samples {
            assert_eq!(
                payload.len(),
                samples.div_ceil(16),
                "one-memory samples, 16 to a buffer"
            );
        }
        let head = &push[0];
        assert!(head.pts.is_some() && head.dts.is_some() && head.duration.is_some());
        assert!(
            !head.flags.contains(gst::BufferFlags::DELTA_UNIT),
            "fragment start is not DELTA_UNIT"
        );
        assert!(
            push[1..]
                .iter()
                .all(|b| b.flags.contains(gst::BufferFlags::DELTA_UNIT))
        );
        assert!(
            push.last()
                .unwrap()
                .flags
                .contains(gst::BufferFlags::MARKER)
        );
        assert!(
            push[..push.len() - 1]
                .iter()
                .all(|b| !b.flags.contains(gst::BufferFlags::MARKER))
        );
        if k > 0 {
            assert!(head.pts >= chunks[k - 1][0].pts);
        }
    }
    assert_eq!(
        output.messages.len(),
        mp4.chunks.len(),
        "one fragmp4mux-fragment message per fragment"
    );
    for (m, (c, push)) in output.messages.iter().zip(mp4.chunks.iter().zip(chunks)) {
        assert_eq!(m.get::<u32>("sequence-number").unwrap(), c.sequence);
        let size: usize = push.iter().map(|b| b.size).sum();
        assert_eq!(m.get::<u64>("size").unwrap(), size as u64);
        assert!(m.get::<bool>("keyframe-start").unwrap());
        assert_eq!(m.get::<gst::ClockTime>("running-time").ok(), push[0].pts);
        assert_eq!(m.get::<gst::ClockTime>("duration").ok(), push[0].duration);
    }
}

/// All of the above.
pub fn check_all(inputs: &[Input], output: &Output, fragment_duration: i64) -> Mp4 {
    check_all_from(inputs, output, fragment_duration, 1)
}

/// [`check_all`] with sequence numbers starting at `first_sequence` (and wrapping).
pub fn check_all_from(
    inputs: &[Input],
    output: &Output,
    fragment_duration: i64,
    first_sequence: u32,
) -> Mp4 {
    let mp4 = super::mp4::parse(&output.bytes);
    check_init(inputs, &mp4);
    check_samples(inputs, &mp4);
    check_chunks(&mp4, first_sequence);
    check_cuts(inputs, &mp4, fragment_duration);
    check_output(output, &mp4);
    mp4
}
