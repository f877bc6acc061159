//! `fragmp4demux` on files from other producers (ffmpeg, mp4mux) judged by ffprobe, the
//! passthrough splitter, and the errors of broken input.

mod support;

use std::path::Path;

use support::demux::{DemuxPad, demux};
use support::foreign::{self, Packet};
use support::{judges, mp4, pipeline};

/// The pad's samples equal ffprobe's packets: sizes, keyframes, and timestamps up to one
/// constant shift per track (ffprobe applies the edit list, the demuxer keeps media time).
fn assert_same_packets(pad: &DemuxPad, packets: &[Packet], den: u64, what: &str) {
    assert_eq!(
        pad.buffers.len(),
        packets.len(),
        "{what} {}: count",
        pad.name
    );
    let ticks = |t: Option<gst::ClockTime>| {
        (t.unwrap().nseconds() as u128 * den as u128 + 500_000_000) as i128 / 1_000_000_000
    };
    let pts_shift = ticks(pad.buffers[0].pts) - packets[0].pts as i128;
    let dts_shift = ticks(pad.buffers[0].dts) - packets[0].dts as i128;
    for (n, (b, p)) in pad.buffers.iter().zip(packets).enumerate() {
        assert_eq!(b.data.len(), p.size, "{what} {} packet {n}: size", pad.name);
        if pad.name.starts_with("video") {
            assert_eq!(!b.delta, p.key, "{what} {} packet {n}: keyframe", pad.name);
        }
        assert_eq!(
            ticks(b.pts) - p.pts as i128,
            pts_shift,
            "{what} {} packet {n}: PTS",
            pad.name
        );
        assert_eq!(
            ticks(b.dts) - p.dts as i128,
            dts_shift,
            "{what} {} packet {n}: DTS",
            pad.name
        );
    }
}

fn check_against_ffprobe(path: &Path, what: &str) {
    let bytes = std::fs::read(path).unwrap();
    let d = demux(&bytes, 65536, "");
    assert_eq!(d.error, None, "{what}");
    for (pad, kind) in [("video_0", "video"), ("audio_0", "audio")] {
        let (packets, den) = foreign::ffprobe_packets(path, kind);
        assert!(!packets.is_empty());
        assert_same_packets(d.pad(pad), &packets, den, what);
    }
}

#[test]
fn files_from_ffmpeg_and_mp4mux() {
    let src = foreign::source_file("demux-src");
    for (name, flags) in foreign::FFMPEG_FLAVOURS {
        let out = foreign::ffmpeg_remux(&src, name, flags);
        check_against_ffprobe(&out, name);
        let _ = std::fs::remove_file(out);
    }
    let gst = foreign::gst_file(
        "mp4mux-frag",
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux name=m fragment-duration=500 ! filesink \
         audiotestsrc num-buffers=90 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m.",
    );
    check_against_ffprobe(&gst, "mp4mux");
    let _ = std::fs::remove_file(gst);
    let _ = std::fs::remove_file(src);
}

#[test]
fn passthrough_splits_into_single_track_streams() {
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=45 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=70 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
    );
    let samples = demux(&output.bytes, 8192, "");
    let split = demux(&output.bytes, 8192, "passthrough=true");
    assert_eq!(split.error, None);
    for name in ["video_0", "audio_0"] {
        let pad = split.pad(name);
        assert!(
            pad.buffers[0].header,
            "{name}: the init segment comes first, as HEADER"
        );
        let caps = pad.caps[0].structure(0).unwrap();
        assert_eq!(caps.name(), "video/quicktime");
        let bytes = pad.bytes();
        // A valid single-track fMP4 for the independent parser ...
        let file = mp4::parse(&bytes);
        assert_eq!(file.moov.trak.len(), 1, "{name}: one track");
        let want = samples.pad(name);
        let id = file.moov.trak[0].tkhd.track_id;
        assert_eq!(file.samples[&id].len(), want.buffers.len());
        for (s, b) in file.samples[&id].iter().zip(&want.buffers) {
            assert_eq!(s.data, b.data);
            assert_eq!(s.is_sync(), !b.delta || name.starts_with("audio"));
        }
        // ... for fragmp4demux, with the same samples as demuxing the original ...
        let again = demux(&bytes, 4096, "");
        assert_eq!(again.error, None);
        assert_eq!(again.pads.len(), 1);
        assert_eq!(again.pads[0].buffers, want.buffers, "{name}: same samples");
        // ... and for qtdemux.
        let path = pipeline::temp_file(&format!("passthrough-{name}.mp4"), &bytes);
        let kind = if name.starts_with("video") {
            "video_0"
        } else {
            "audio_0"
        };
        let decoded = judges::qtdemux_decode(&path, &[kind]);
        if name.starts_with("video") {
            assert_eq!(decoded[0].frames as usize, want.buffers.len());
        } else {
            assert!(decoded[0].frames > 0);
        }
    }
}

fn demux_error(bytes: &[u8]) -> String {
    let d = demux(bytes, 3000, "");
    d.error
        .unwrap_or_else(|| panic!("an error expected, got pads {:?}", d.pads.len()))
}

#[test]
fn broken_input_gets_an_error_naming_the_fault() {
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=64,framerate=30/1 \
         ! x264enc speed-preset=ultrafast key-int-max=10 ! h264parse ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=300000000 ! appsink name=sink",
    );
    let bytes = output.bytes;
    let moof = bytes.windows(4).position(|w| w == b"moof").unwrap() - 4;

    // The stream ends inside an mdat: what came before is pushed, then the error.
    let cut = &bytes[..bytes.len() - 100];
    let d = demux(cut, 3000, "");
    let err = d.error.clone().expect("error");
    assert!(
        err.contains("its 'mdat' never came") && err.contains("unread"),
        "{err}"
    );
    assert!(
        !d.pad("video_0").buffers.is_empty(),
        "earlier fragments were pushed"
    );
    // The same from a file, read in pull mode.
    let path = pipeline::temp_file("cut.mp4", cut);
    let pulled = support::demux::demux_file(&path, "");
    let err = pulled.error.clone().expect("error in pull mode");
    assert!(err.contains("never came"), "{err}");
    assert_eq!(pulled.pads, d.pads);

    // No init segment.
    let err = demux_error(&bytes[moof..]);
    assert!(
        err.contains("'moof' at byte 0 comes before any 'moov'"),
        "{err}"
    );

    // A data offset pointing outside the mdat.
    let mut bad = bytes.clone();
    let trun = moof + bytes[moof..].windows(4).position(|w| w == b"trun").unwrap() - 4;
    bad[trun + 16..trun + 20].copy_from_slice(&40u32.to_be_bytes());
    let err = demux_error(&bad);
    assert!(
        err.contains("outside the 'mdat'") && err.contains(&format!("'moof' at byte {moof}")),
        "{err}"
    );

    // A plain MP4 (no mvex).
    let (_, plain) = pipeline::run(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=64 ! x264enc speed-preset=ultrafast \
         ! h264parse ! mux.video_0 fragmp4mux name=mux mode=progressive ! appsink name=sink",
    );
    let err = demux_error(&plain.bytes);
    assert!(err.contains("not a fragmented MP4"), "{err}");

    // Garbage.
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    demux_error(&noise);
    // Nothing at all.
    let err = demux_error(&[]);
    assert!(err.contains("without a 'moov'"), "{err}");
}

/// `appsrc name=src ! fragmp4demux name=d ! appsink name=out` for a one-track stream.
fn single_pad_demuxer() -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink) {
    use gst::prelude::*;
    support::init();
    let p = gst::parse::launch(
        "appsrc name=src format=bytes ! fragmp4demux name=d ! appsink name=out sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = p
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let out = p
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    (p, src, out)
}

/// Samples leave as sub-buffers of the input: their bytes are the input memory's.
#[test]
fn payloads_are_not_copied() {
    use gst::prelude::*;
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=10 ! video/x-raw,width=64,height=64 ! x264enc speed-preset=ultrafast \
         ! h264parse ! mux.video_0 fragmp4mux name=mux ! appsink name=sink",
    );
    let (p, src, out) = single_pad_demuxer();
    p.set_state(gst::State::Playing).unwrap();
    let input = gst::Buffer::from_slice(output.bytes.clone());
    let map = input.map_readable().unwrap();
    let range = map.as_ptr() as usize..map.as_ptr() as usize + map.len();
    src.push_buffer(input.clone()).unwrap();
    src.end_of_stream().unwrap();
    let mut samples = 0;
    while let Ok(sample) = out.pull_sample() {
        let b = sample.buffer().unwrap();
        for mem in b.iter_memories() {
            let m = mem.map_readable().unwrap();
            let at = m.as_ptr() as usize;
            assert!(
                range.contains(&at) && range.contains(&(at + m.len() - 1)),
                "a copy"
            );
        }
        samples += 1;
    }
    assert_eq!(samples, 10);
    p.set_state(gst::State::Null).unwrap();
}

/// A flush in push mode drops what was half read; the stream then restarts at a box
/// boundary (here from its start) on the same pads.
#[test]
fn a_flush_restarts_at_a_box_boundary() {
    use gst::prelude::*;
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=64,framerate=30/1 \
         ! x264enc speed-preset=ultrafast key-int-max=10 ! h264parse ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=300000000 ! appsink name=sink",
    );
    let bytes = output.bytes;
    let (p, src, out) = single_pad_demuxer();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    out.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    p.set_state(gst::State::Playing).unwrap();
    // Half the stream, then a flush in the middle of a box.
    let half = bytes.len() / 2;
    src.push_buffer(gst::Buffer::from_slice(bytes[..half].to_vec()))
        .unwrap();
    let sink = p.by_name("d").unwrap().static_pad("sink").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        before > 0 && before < 30,
        "{before} samples from the first half"
    );
    assert!(sink.send_event(gst::event::FlushStart::new()));
    assert!(sink.send_event(gst::event::FlushStop::new(true)));
    src.push_buffer(gst::Buffer::from_slice(bytes.clone()))
        .unwrap();
    src.end_of_stream().unwrap();
    assert_eq!(pipeline::wait_for_eos(&p.bus().unwrap(), 20), Ok(()));
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(
        p.by_name("d").unwrap().num_src_pads(),
        0,
        "pads removed at NULL"
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), before + 30);
}
