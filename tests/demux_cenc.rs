//! Common Encryption through `fragmp4demux`: H.264+AAC encrypted by `fragmp4mux`
//! (cenc with a ClearKey `pssh`, and cbcs) demuxed into buffers whose protection metas
//! must say what the file's `senc` boxes say (read with mp4-atom) and what `qtdemux`
//! says of the same file (KIDs, IVs, subsample maps, caps fields, protection events).
//! Passthrough output keeps the protection boxes: ffmpeg 8 decrypts it to the clear
//! mux's samples. Damaged protection boxes are element errors naming the box.

mod support;

use gst::glib;
use gst::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use support::cenc::{decrypt, packets, senc_entries, shaka_tool, streams};
use support::{mp4::top_level_boxes, pipeline};

const KEY: &str = "00112233445566778899aabbccddeeff";
const KID: &str = "0123456789abcdef0123456789abcdef";
const CENC_IV: &str = "0102030405060708";
const CBCS_IV: &str = "0f0e0d0c0b0a09080706050403020100";
const CLEARKEY: &str = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A version-1 ClearKey `pssh` naming the KID (as W3C ClearKey's "cenc" init data).
fn pssh_box() -> Vec<u8> {
    let mut p = vec![0, 0, 0, 52, b'p', b's', b's', b'h', 1, 0, 0, 0];
    p.extend(hex(&CLEARKEY.replace('-', "")));
    p.extend([0, 0, 0, 1]);
    p.extend(hex(KID));
    p.extend([0, 0, 0, 0]);
    p
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("fragmp4-demux-cenc-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One encode muxed in the clear and encrypted with `props`; returns both files.
fn encrypt(name: &str, props: &str) -> (PathBuf, PathBuf) {
    encrypt_with(name, props, |_| {})
}

/// Like [`encrypt`], with `setup` run on the pipeline (the encrypting muxer is `e`)
/// before it plays.
fn encrypt_with(name: &str, props: &str, setup: impl Fn(&gst::Pipeline)) -> (PathBuf, PathBuf) {
    support::init();
    let d = dir();
    let clear = d.join(format!("{name}-clear.mp4"));
    let enc = d.join(format!("{name}-enc.mp4"));
    let launch = format!(
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! tee name=t \
             audiotestsrc num-buffers=94 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
             ! avenc_aac ! aacparse ! tee name=a \
             t. ! queue ! c.video_0 a. ! queue ! c.audio_0 \
             fragmp4mux name=c fragment-duration=500000000 ! filesink location={} \
             t. ! queue ! e.video_0 a. ! queue ! e.audio_0 \
             fragmp4mux name=e fragment-duration=500000000 key={KEY} key-id={KID} {props} \
             ! filesink location={}",
        clear.display(),
        enc.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    setup(&p);
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{name}: {e}"));
    (clear, enc)
}

/// A protection meta's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Meta {
    name: String,
    kid: Vec<u8>,
    iv: Vec<u8>,
    iv_size: Option<u32>,
    constant_iv_size: Option<u32>,
    encrypted: Option<bool>,
    cipher_mode: Option<String>,
    subsample_count: Option<u32>,
    subsamples: Vec<(u16, u32)>,
    crypt_byte_block: Option<u32>,
    skip_byte_block: Option<u32>,
}

fn meta_of(s: &gst::StructureRef) -> Meta {
    let bytes = |f: &str| {
        s.get::<gst::Buffer>(f)
            .ok()
            .map(|b| b.map_readable().unwrap().to_vec())
            .unwrap_or_default()
    };
    Meta {
        name: s.name().to_string(),
        kid: bytes("kid"),
        iv: bytes("iv"),
        iv_size: s.get("iv_size").ok(),
        constant_iv_size: s.get("constant_iv_size").ok(),
        encrypted: s.get("encrypted").ok(),
        cipher_mode: s.get("cipher-mode").ok(),
        subsample_count: s.get("subsample_count").ok(),
        subsamples: bytes("subsamples")
            .chunks(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect(),
        crypt_byte_block: s.get("crypt_byte_block").ok(),
        skip_byte_block: s.get("skip_byte_block").ok(),
    }
}

/// A protection event: system ID, data, origin.
type ProtectionEvent = (String, Vec<u8>, Option<String>);

/// What one src pad pushed.
#[derive(Debug, Clone, Default)]
struct Pad {
    caps: Option<gst::Caps>,
    data: Vec<Vec<u8>>,
    metas: Vec<Option<Meta>>,
    events: Vec<ProtectionEvent>,
    /// Buffers that had arrived when each protection event came.
    buffers_before_event: Vec<usize>,
}

struct Run {
    pads: BTreeMap<String, Pad>,
    error: Option<String>,
}

/// Plays `filesrc ! {demuxer}` into an appsink per pad, recording buffers, metas, caps
/// and protection events.
fn demux(path: &Path, demuxer: &str) -> Run {
    support::init();
    register_decryptor();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! {demuxer} name=d",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let pads: Arc<Mutex<BTreeMap<String, Pad>>> = Arc::default();
    let weak = pipeline.downgrade();
    let collected = pads.clone();
    pipeline
        .by_name("d")
        .unwrap()
        .connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let name = pad.name().to_string();
            collected
                .lock()
                .unwrap()
                .insert(name.clone(), Pad::default());
            let sink = gst_app::AppSink::builder().sync(false).build();
            let (record, key) = (collected.clone(), name.clone());
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let b = sample.buffer().ok_or(gst::FlowError::Error)?;
                        let mut all = record.lock().unwrap();
                        let p = all.get_mut(&key).unwrap();
                        p.caps = sample.caps().map(|c| c.to_owned());
                        p.data.push(b.map_readable().unwrap().to_vec());
                        p.metas
                            .push(b.meta::<gst::ProtectionMeta>().map(|m| meta_of(m.info())));
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            let (record, key) = (collected.clone(), name);
            sink.static_pad("sink").unwrap().add_probe(
                gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, info| {
                    if let Some(gst::PadProbeData::Event(ev)) = &info.data
                        && let gst::EventView::Protection(p) = ev.view()
                    {
                        let (system, data, origin) = p.get();
                        let mut all = record.lock().unwrap();
                        let pad = all.get_mut(&key).unwrap();
                        pad.buffers_before_event.push(pad.data.len());
                        pad.events.push((
                            system.to_string(),
                            data.map_readable().unwrap().to_vec(),
                            origin.map(str::to_string),
                        ));
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            let queue = gst::ElementFactory::make("queue").build().unwrap();
            pipeline.add_many([&queue, sink.upcast_ref()]).unwrap();
            queue.link(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            queue.sync_state_with_parent().unwrap();
            pad.link(&queue.static_pad("sink").unwrap()).unwrap();
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut error = None;
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
    {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let pads = pads.lock().unwrap().clone();
    Run { pads, error }
}

/// The caps field `field` of a pad, as a string.
fn caps_field(p: &Pad, field: &str) -> Option<String> {
    p.caps.as_ref()?.structure(0)?.get::<String>(field).ok()
}

/// The comparison both schemes share: ours against the senc and against qtdemux.
fn check(name: &str, props: &str, scheme: &str, iv_size: usize, pssh: bool) -> (PathBuf, PathBuf) {
    let (clear, enc) = encrypt(name, props);
    let data = std::fs::read(&enc).unwrap();
    let senc = senc_entries(&data, iv_size);
    let ours = demux(&enc, "fragmp4demux");
    assert!(ours.error.is_none(), "{name}: {:?}", ours.error);
    let clear_run = demux(&clear, "fragmp4demux");
    let constant_iv = hex(CBCS_IV);
    for (pad, track) in [("video_0", 1u32), ("audio_0", 2)] {
        let p = &ours.pads[pad];
        let entries = &senc[&track];
        assert_eq!(
            p.metas.len(),
            entries.len(),
            "{name} {pad}: one buffer per senc entry"
        );
        assert!(
            p.metas.len() > 30,
            "{name} {pad}: {} buffers",
            p.metas.len()
        );
        for (i, (m, (iv, subs))) in p.metas.iter().zip(entries).enumerate() {
            let m = m
                .as_ref()
                .unwrap_or_else(|| panic!("{name} {pad} {i}: no meta"));
            assert_eq!(m.name, "application/x-cenc");
            assert_eq!(m.kid, hex(KID), "{name} {pad} {i}");
            assert_eq!(m.encrypted, Some(true));
            assert_eq!(m.cipher_mode.as_deref(), Some(scheme));
            // The senc's IV; cbcs has none there: the constant IV of the tenc.
            let want_iv = if iv.is_empty() { &constant_iv } else { iv };
            assert_eq!(&m.iv, want_iv, "{name} {pad} {i}: IV");
            assert_eq!(m.iv_size, Some(want_iv.len() as u32));
            assert_eq!(&m.subsamples, subs, "{name} {pad} {i}: subsamples");
            assert_eq!(m.subsample_count, Some(subs.len() as u32));
            if !subs.is_empty() {
                let covered: u64 = subs
                    .iter()
                    .map(|(c, e)| u64::from(*c) + u64::from(*e))
                    .sum();
                assert_eq!(
                    covered,
                    p.data[i].len() as u64,
                    "{name} {pad} {i}: map covers the sample"
                );
            }
            let pattern = (scheme == "cbcs" && pad == "video_0").then_some((1, 9));
            assert_eq!(
                m.crypt_byte_block.zip(m.skip_byte_block),
                pattern,
                "{name} {pad}: pattern"
            );
        }
        // Caps: the clear caps under application/x-cenc, with the three fields.
        let caps = p.caps.as_ref().expect("caps");
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "application/x-cenc", "{name} {pad}: {caps}");
        assert_eq!(caps_field(p, "cipher-mode").as_deref(), Some(scheme));
        let mut back = s.to_owned();
        let original = back.get::<String>("original-media-type").unwrap();
        back.set_name(original.as_str());
        back.remove_fields(["original-media-type", "cipher-mode", "protection-system"]);
        let clear_caps = clear_run.pads[pad].caps.as_ref().unwrap();
        assert_eq!(
            gst::Caps::builder_full().structure(back).build(),
            *clear_caps,
            "{name} {pad}: the original caps"
        );
        if pssh {
            assert_eq!(
                caps_field(p, "protection-system").as_deref(),
                Some(CLEARKEY)
            );
            assert_eq!(
                p.events,
                [(
                    CLEARKEY.to_string(),
                    pssh_box(),
                    Some("isobmff/moov".to_string())
                )],
                "{name} {pad}: one protection event"
            );
            assert_eq!(
                p.buffers_before_event,
                [0],
                "{name} {pad}: before the first buffer"
            );
        } else {
            assert_eq!(caps_field(p, "protection-system"), None);
            assert!(p.events.is_empty());
        }
    }

    // qtdemux on the same file: the same samples, metas and caps fields.
    let qt = demux(&enc, "qtdemux");
    assert!(qt.error.is_none(), "{name}: qtdemux: {:?}", qt.error);
    for pad in ["video_0", "audio_0"] {
        let (o, q) = (&ours.pads[pad], &qt.pads[pad]);
        assert_eq!(
            o.data, q.data,
            "{name} {pad}: qtdemux pushes the same samples"
        );
        for field in ["original-media-type", "cipher-mode", "protection-system"] {
            assert_eq!(
                caps_field(o, field),
                caps_field(q, field),
                "{name} {pad}: {field}"
            );
        }
        assert_eq!(
            o.caps.as_ref().unwrap().structure(0).unwrap().name(),
            "application/x-cenc"
        );
        assert_eq!(
            q.caps.as_ref().unwrap().structure(0).unwrap().name(),
            "application/x-cenc"
        );
        assert_eq!(o.events, q.events, "{name} {pad}: protection events");
        for (i, (a, b)) in o.metas.iter().zip(&q.metas).enumerate() {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().expect("qtdemux meta"));
            let same = |m: &Meta| {
                (
                    m.name.clone(),
                    m.kid.clone(),
                    m.iv.clone(),
                    m.encrypted,
                    m.cipher_mode.clone(),
                    m.subsamples.clone(),
                    m.subsample_count.unwrap_or(0),
                    m.crypt_byte_block,
                    m.skip_byte_block,
                )
            };
            assert_eq!(same(a), same(b), "{name} {pad} sample {i}");
            // qtdemux gives a constant IV's size as iv_size where a saiz describes the
            // track (cbcs video), as constant_iv_size with iv_size 0 where none does
            // (cbcs audio); ours always has both.
            let qt_size = b.iv_size.filter(|s| *s > 0).or(b.constant_iv_size);
            assert_eq!(a.iv_size, qt_size, "{name} {pad} sample {i}: IV size");
        }
    }
    (clear, enc)
}

#[test]
fn cenc_metas_match_the_senc_and_qtdemux() {
    use base64::Engine;
    let pssh = base64::engine::general_purpose::STANDARD.encode(pssh_box());
    let (clear, enc) = check(
        "cenc",
        &format!("encryption=cenc iv={CENC_IV} pssh={pssh}"),
        "cenc",
        8,
        true,
    );
    passthrough_decrypts(&clear, &enc, "cenc");
}

#[test]
fn cbcs_metas_match_the_senc_and_qtdemux() {
    let (clear, enc) = check(
        "cbcs",
        &format!("encryption=cbcs iv={CBCS_IV}"),
        "cbcs",
        0,
        false,
    );
    passthrough_decrypts(&clear, &enc, "cbcs");
}

#[test]
fn per_track_keys_and_pssh_in_every_moof_as_in_qtdemux() {
    use base64::Engine;
    const KID_B: &str = "fedcba9876543210fedcba9876543210";
    let pssh = base64::engine::general_purpose::STANDARD.encode(pssh_box());
    let (_, enc) = encrypt_with(
        "per-track",
        &format!("encryption=cenc iv={CENC_IV} pssh={pssh} pssh-in-fragments=true"),
        |p| {
            let audio = p.by_name("e").unwrap().static_pad("audio_0").unwrap();
            audio.set_property("key-id", KID_B);
            audio.set_property("key", "ffeeddccbbaa99887766554433221100");
        },
    );
    let moofs = top_level_boxes(&std::fs::read(&enc).unwrap())
        .iter()
        .filter(|(k, ..)| k == "moof")
        .count();
    let ours = demux(&enc, "fragmp4demux");
    let qt = demux(&enc, "qtdemux");
    assert!(ours.error.is_none(), "{:?}", ours.error);
    assert!(qt.error.is_none(), "{:?}", qt.error);
    for (pad, kid) in [("video_0", KID), ("audio_0", KID_B)] {
        let (o, q) = (&ours.pads[pad], &qt.pads[pad]);
        assert!(
            o.metas.iter().all(|m| m.as_ref().unwrap().kid == hex(kid)),
            "{pad}: its own KID"
        );
        assert_eq!(o.metas, q.metas, "{pad}: as qtdemux");
        assert_eq!(o.data, q.data, "{pad}");
        // The moov's pssh, then each moof's.
        assert_eq!(o.events.len(), 1 + moofs, "{pad}");
        let origins: Vec<_> = o.events.iter().map(|e| e.2.as_deref().unwrap()).collect();
        assert_eq!(origins[0], "isobmff/moov");
        assert!(
            origins[1..].iter().all(|o| *o == "isobmff/moof"),
            "{origins:?}"
        );
        assert!(
            o.events
                .iter()
                .all(|e| e.0 == CLEARKEY && e.1 == pssh_box())
        );
        // qtdemux 1.22 sends only the moofs' events for this file (not the moov's,
        // which it sends when no moof has a pssh): those are the same.
        assert_eq!(o.events[1..], q.events, "{pad}: qtdemux's events");
    }
}

/// `data` with `pssh` appended to its first `moof`: the `moof` grows, so the data
/// offsets of its `trun`s (counted from the `moof`) grow by as much; its `saio` offsets
/// point before the new box and stay.
fn with_pssh_in_first_moof(data: &[u8], pssh: &[u8]) -> Vec<u8> {
    let (_, at, len) = top_level_boxes(data)
        .into_iter()
        .find(|(k, ..)| k == "moof")
        .expect("a moof");
    let grow = pssh.len() as u32;
    let mut moof = data[at..at + len].to_vec();
    moof[0..4].copy_from_slice(&(len as u32 + grow).to_be_bytes());
    let truns: Vec<usize> = moof
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"trun")
        .map(|(i, _)| i - 4)
        .collect();
    for t in truns {
        let off = u32::from_be_bytes(moof[t + 16..t + 20].try_into().unwrap());
        moof[t + 16..t + 20].copy_from_slice(&(off + grow).to_be_bytes());
    }
    moof.extend_from_slice(pssh);
    let mut out = data[..at].to_vec();
    out.extend(moof);
    out.extend_from_slice(&data[at + len..]);
    out
}

#[test]
fn a_pssh_in_a_moof_is_a_protection_event_as_in_qtdemux() {
    let (_, enc) = encrypt("moof-pssh", &format!("encryption=cenc iv={CENC_IV}"));
    // A version-0 ClearKey pssh with four bytes of data.
    let mut pssh = vec![0, 0, 0, 36, b'p', b's', b's', b'h', 0, 0, 0, 0];
    pssh.extend(hex(&CLEARKEY.replace('-', "")));
    pssh.extend([0, 0, 0, 4, 9, 8, 7, 6]);
    let data = with_pssh_in_first_moof(&std::fs::read(&enc).unwrap(), &pssh);
    let path = pipeline::temp_file("cenc-moof-pssh.mp4", &data);
    let ours = demux(&path, "fragmp4demux");
    let qt = demux(&path, "qtdemux");
    assert!(ours.error.is_none(), "{:?}", ours.error);
    assert!(qt.error.is_none(), "{:?}", qt.error);
    let want = [(
        CLEARKEY.to_string(),
        pssh.clone(),
        Some("isobmff/moof".to_string()),
    )];
    for pad in ["video_0", "audio_0"] {
        let (o, q) = (&ours.pads[pad], &qt.pads[pad]);
        assert_eq!(o.events, want, "{pad}");
        assert_eq!(
            o.buffers_before_event,
            [0],
            "{pad}: before the moof's samples"
        );
        assert_eq!(q.events, want, "{pad}: qtdemux");
        assert_eq!(o.data, q.data, "{pad}: the same samples");
        assert_eq!(o.metas, q.metas, "{pad}: the same metas");
        // No pssh in the moov: the moof's system, as qtdemux, before the first sample.
        assert_eq!(
            caps_field(o, "protection-system").as_deref(),
            Some(CLEARKEY)
        );
        assert_eq!(
            caps_field(q, "protection-system").as_deref(),
            Some(CLEARKEY)
        );
    }
    // Passthrough writes the pssh into the moof rewritten from that one, and only there.
    let d = dir();
    let split = |track: &str| d.join(format!("moof-pssh-split-{track}.mp4"));
    pipeline::run_to_eos(
        &format!(
            "filesrc location={} ! fragmp4demux passthrough=true name=d \
             d.video_0 ! queue ! filesink location={} d.audio_0 ! queue ! filesink location={}",
            path.display(),
            split("video").display(),
            split("audio").display()
        ),
        60,
    );
    for track in ["video", "audio"] {
        let data = std::fs::read(split(track)).unwrap();
        let with_pssh: Vec<String> = top_level_boxes(&data)
            .into_iter()
            .filter(|(_, at, len)| data[*at..at + len].windows(4).any(|w| w == b"pssh"))
            .map(|(k, ..)| k)
            .collect();
        assert_eq!(
            with_pssh,
            ["moof"],
            "{track}: only the first moof has the pssh"
        );
        let again = demux(&split(track), "fragmp4demux");
        let pad = format!("{track}_0");
        assert_eq!(
            again.pads[&pad].events, want,
            "{track}: the split stream's event"
        );
        assert_eq!(again.pads[&pad].metas, ours.pads[&pad].metas, "{track}");
        assert_eq!(again.pads[&pad].data, ours.pads[&pad].data, "{track}");
    }
}

/// `passthrough=true` splits the encrypted file into single-track streams that keep
/// `sinf` (and `pssh`) in their init and `senc`/`saiz`/`saio` in every `moof`; ffmpeg 8
/// decrypts each to the clear mux's samples, and demuxing them again gives the same
/// metas as demuxing the original.
fn passthrough_decrypts(clear: &Path, enc: &Path, name: &str) {
    let d = dir();
    let split = |track: &str| d.join(format!("{name}-split-{track}.mp4"));
    pipeline::run_to_eos(
        &format!(
            "filesrc location={} ! fragmp4demux passthrough=true name=d \
             d.video_0 ! queue ! filesink location={} d.audio_0 ! queue ! filesink location={}",
            enc.display(),
            split("video").display(),
            split("audio").display()
        ),
        60,
    );
    let direct = demux(enc, "fragmp4demux");
    let clear_streams = streams(&packets(clear, &[]));
    let ffmpeg = shaka_tool("ffmpeg");
    for (i, track) in ["video", "audio"].into_iter().enumerate() {
        let path = split(track);
        let data = std::fs::read(&path).unwrap();
        let boxes = top_level_boxes(&data);
        let (_, moov_at, moov_len) = boxes
            .iter()
            .find(|(k, ..)| k == "moov")
            .cloned()
            .expect("a moov");
        let moov = &data[moov_at..moov_at + moov_len];
        for needle in [&b"sinf"[..], b"frma", b"schm", b"tenc", name.as_bytes()] {
            assert!(
                moov.windows(needle.len()).any(|w| w == needle),
                "{name} {track}: the init keeps {}",
                String::from_utf8_lossy(needle)
            );
        }
        assert_eq!(
            moov.windows(4).any(|w| w == b"pssh"),
            name == "cenc",
            "{name} {track}: the pssh is kept"
        );
        for (_, at, len) in boxes.iter().filter(|(k, ..)| k == "moof") {
            let moof = &data[*at..at + len];
            for needle in [b"senc", b"saiz", b"saio"] {
                // cbcs audio (constant IV, whole samples) has nothing to point at.
                if name == "cbcs" && track == "audio" && needle != b"senc" {
                    continue;
                }
                assert!(
                    moof.windows(4).any(|w| w == needle),
                    "{name} {track}: moof at {at} has {}",
                    String::from_utf8_lossy(needle)
                );
            }
        }
        let dec = d.join(format!("{name}-split-{track}-dec.mp4"));
        decrypt(&ffmpeg, KEY, &path, &dec);
        assert_eq!(
            streams(&packets(&dec, &[]))[0],
            clear_streams[i],
            "{name} {track}: ffmpeg decrypts the split stream to the clear samples"
        );
        let again = demux(&path, "fragmp4demux");
        let pad = format!("{track}_0");
        assert_eq!(
            again.pads[&pad].metas, direct.pads[&pad].metas,
            "{name} {track}: the rewritten senc/saiz/saio say the same"
        );
        assert_eq!(again.pads[&pad].data, direct.pads[&pad].data);
    }
}

#[test]
fn damaged_protection_boxes_are_element_errors() {
    let (_, enc) = encrypt("bad", &format!("encryption=cenc iv={CENC_IV}"));
    let data = std::fs::read(&enc).unwrap();
    let find = |kind: &[u8; 4]| data.windows(4).position(|w| w == kind).unwrap() - 4;
    // An unknown scheme in the first schm.
    let schm = find(b"schm");
    let mut bad = data.clone();
    bad[schm + 12..schm + 16].copy_from_slice(b"zzzz");
    let path = pipeline::temp_file("cenc-bad-scheme.mp4", &bad);
    let run = demux(&path, "fragmp4demux");
    let error = run.error.expect("an error");
    assert!(error.contains(&format!("'schm' at byte {schm}")), "{error}");
    assert!(error.contains("'zzzz'"), "{error}");
    // The first senc claiming one entry more than its trun has samples.
    let senc = find(b"senc");
    let count = u32::from_be_bytes(data[senc + 12..senc + 16].try_into().unwrap());
    let mut bad = data.clone();
    bad[senc + 12..senc + 16].copy_from_slice(&(count + 1).to_be_bytes());
    let path = pipeline::temp_file("cenc-bad-senc.mp4", &bad);
    let run = demux(&path, "fragmp4demux");
    let error = run.error.expect("an error");
    assert!(error.contains(&format!("'senc' at byte {senc}")), "{error}");
    assert!(
        error.contains(&format!("has {} entries", count + 1)),
        "{error}"
    );
    // Nothing of that fragment went out, so no buffer without its meta.
    for p in run.pads.values() {
        assert!(p.metas.iter().all(Option::is_some));
    }
}

/// A stand-in decryptor for the ClearKey system: `qtdemux` exposes a protected stream
/// with a `pssh` only when some element factory of class `Decryptor` names its system.
/// It is never instantiated.
mod decryptor {
    use super::{CLEARKEY, glib};
    use gst::subclass::prelude::*;
    use std::sync::LazyLock;

    #[derive(Default)]
    pub struct Imp;

    #[glib::object_subclass]
    impl ObjectSubclass for Imp {
        const NAME: &'static str = "FragMp4TestCencDecryptor";
        type Type = super::Decryptor;
        type ParentType = gst::Element;
    }

    impl ObjectImpl for Imp {}
    impl GstObjectImpl for Imp {}

    impl ElementImpl for Imp {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Test ClearKey decryptor",
                    "Decryptor",
                    "Names the ClearKey system so qtdemux exposes protected streams",
                    "gst-plugin-fragmp4 tests",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let sink = gst::Caps::builder("application/x-cenc")
                    .field("protection-system", CLEARKEY)
                    .build();
                vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &sink,
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &gst::Caps::new_any(),
                    )
                    .unwrap(),
                ]
            });
            TEMPLATES.as_ref()
        }
    }
}

glib::wrapper! {
    pub struct Decryptor(ObjectSubclass<decryptor::Imp>) @extends gst::Element, gst::Object;
}

fn register_decryptor() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::Element::register(
            None,
            "fragmp4testcencdecryptor",
            gst::Rank::MARGINAL,
            Decryptor::static_type(),
        )
        .expect("register the test decryptor");
    });
}
