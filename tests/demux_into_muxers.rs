//! `fragmp4demux` feeding a muxer (an aggregator) through default queues (1 s, 200
//! buffers, 10 MB): the demuxer must keep its tracks interleaved in decode order, or a
//! queue fills while the muxer waits for the other track and the pipeline never ends.
//! Every foreign input of the demuxer tests goes into `mp4mux` and `fragmp4mux`, read by
//! `filesrc` (pull mode) and in 7-byte blocks (push mode): EOS comes, and ffprobe finds
//! the input's packets in the output.

mod support;

use std::path::Path;

use support::foreign::{self, Packet};

/// Pads, each with what links it to the muxer: a default queue. (A parser may change
/// timestamps: h264parse rewrites the B-frame PTS of ffmpeg's `frag_every_frame` file,
/// whose own are inconsistent; the demuxer is judged without one.)
const VIDEO: (&str, &str) = ("video_0", "queue");
const AUDIO: (&str, &str) = ("audio_0", "queue");

/// Seconds a pipeline may take before it counts as hung (each runs in about one).
const TIMEOUT_S: u64 = 30;

/// The output's packets equal the input's: count, bytes (CRC32), keyframes, and
/// timestamps up to one shift per track (the muxers choose their own origin and edit
/// list), within the rounding of the two time bases.
fn assert_same_packets(input: &(Vec<Packet>, u64), output: &(Vec<Packet>, u64), what: &str) {
    let ((want, want_den), (got, got_den)) = (input, output);
    let (want_den, got_den) = (*want_den, *got_den);
    assert_eq!(got.len(), want.len(), "{what}: packet count");
    let ns = |t: i64, den: u64| i128::from(t) * 1_000_000_000 / i128::from(den);
    let tolerance = 1_000_000_000 / i128::from(want_den) + 1_000_000_000 / i128::from(got_den);
    let pts_shift = ns(got[0].pts, got_den) - ns(want[0].pts, want_den);
    let dts_shift = ns(got[0].dts, got_den) - ns(want[0].dts, want_den);
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            (g.size, &g.hash, g.key),
            (w.size, &w.hash, w.key),
            "{what} packet {n}: size, bytes, keyframe"
        );
        let pts = ns(g.pts, got_den) - ns(w.pts, want_den) - pts_shift;
        let dts = ns(g.dts, got_den) - ns(w.dts, want_den) - dts_shift;
        assert!(
            pts.abs() <= tolerance && dts.abs() <= tolerance,
            "{what} packet {n}: PTS off by {pts} ns, DTS by {dts} ns"
        );
    }
}

const MUXERS: [&str; 2] = ["mp4mux", "fragmp4mux"];

/// `input` through `fragmp4demux` into each muxer, whole from a file and in 7-byte
/// blocks; each run must reach EOS with the input's packets. `pads` names each pad to
/// link and the elements between it and the muxer.
fn into_muxers(input: &Path, name: &str, pads: &[(&str, &str)]) {
    into(input, name, pads, &MUXERS);
}

fn into(input: &Path, name: &str, pads: &[(&str, &str)], muxers: &[&str]) {
    let packets: Vec<_> = pads
        .iter()
        .map(|(pad, _)| foreign::ffprobe_packets(input, &pad[..5]))
        .collect();
    for &mux in muxers {
        // A queue after the source makes the demuxer run in push mode.
        for (feed, blocks) in [("pull", ""), ("7-byte blocks", "blocksize=7 ! queue")] {
            let out = foreign::temp_path(&format!("into-{name}-{mux}-{}", blocks.len()));
            let mut launch = format!(
                "filesrc location={} {blocks} ! fragmp4demux name=d \
                 {mux} name=m ! filesink location={}",
                input.display(),
                out.display()
            );
            for (pad, link) in pads {
                launch.push_str(&format!(" d.{pad} ! {link} ! m.{pad}"));
            }
            support::pipeline::run_to_eos(&launch, TIMEOUT_S);
            for ((pad, _), (want, den)) in pads.iter().zip(&packets) {
                // fragmp4mux drops a sample whose DTS does not grow (DESIGN.md T2):
                // ffmpeg's frag_every_frame file repeats one.
                let want: Vec<Packet> = if mux == "fragmp4mux" {
                    let mut last = None;
                    want.iter()
                        .filter(|p| {
                            let grows = last.is_none_or(|l| p.dts > l);
                            if grows {
                                last = Some(p.dts);
                            }
                            grows
                        })
                        .cloned()
                        .collect()
                } else {
                    want.clone()
                };
                let got = foreign::ffprobe_packets(&out, &pad[..5]);
                assert_same_packets(
                    &(want, *den),
                    &got,
                    &format!("{name} into {mux} ({feed}) {pad}"),
                );
            }
            let _ = std::fs::remove_file(out);
        }
    }
}

#[test]
fn ffmpeg_flavours() {
    let src = foreign::source_file("into-src");
    for (name, flags) in foreign::FFMPEG_FLAVOURS {
        let file = foreign::ffmpeg_remux(&src, &format!("into-{name}"), flags);
        into_muxers(&file, name, &[VIDEO, AUDIO]);
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_file(src);
}

/// The shape of issue 14's file: mp4mux's fragments hold one track each, with implicit
/// data bases. Here video is cut at its 1 s keyframes and audio in 2 s runs, so mp4mux
/// writes a second of video, two of audio, then three of video before the next audio.
/// Released `moof` by `moof`, those three seconds had to fit the 1 s video queue while
/// the muxer waited for audio (with the 1 s runs of both, the margin was a
/// frame or two and the hang depended on which run came first). Also with the parsers
/// of the pipeline.
#[test]
fn mp4mux_fragmented_one_moof_per_track() {
    let file = foreign::gst_file(
        "into-mp4mux-frag",
        "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=30 ! h264parse ! mp4mux name=m fragment-duration=2000 ! filesink \
         audiotestsrc num-buffers=188 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m.",
    );
    into_muxers(&file, "mp4mux-frag", &[VIDEO, AUDIO]);
    into_muxers(
        &file,
        "mp4mux-frag-parsed",
        &[
            ("video_0", "queue ! h264parse"),
            ("audio_0", "queue ! aacparse"),
        ],
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn hevc() {
    let file = foreign::gst_file(
        "into-hevc",
        "videotestsrc num-buffers=100 ! video/x-raw,width=160,height=128,framerate=25/1 \
         ! x265enc speed-preset=ultrafast key-int-max=25 ! h265parse ! mp4mux name=m fragment-duration=2000 ! filesink \
         audiotestsrc num-buffers=172 ! audio/x-raw,rate=44100,channels=1 ! avenc_aac ! aacparse ! m.",
    );
    into_muxers(&file, "hevc", &[VIDEO, AUDIO]);
    let _ = std::fs::remove_file(file);
}

#[test]
fn audio_only() {
    let file = foreign::gst_file(
        "into-audio",
        "audiotestsrc num-buffers=118 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse \
         ! mp4mux fragment-duration=2000 ! filesink",
    );
    into_muxers(&file, "audio-only", &[AUDIO]);
    let _ = std::fs::remove_file(file);
}

/// Audio that stops 5 s before the video: the demuxer reads on (within its lookahead)
/// and ends the audio pad at the end of the stream before releasing the rest of the
/// video, so the muxer does not wait for audio. (qtdemux hangs on this file into mp4mux.)
/// Stopping 13 s before, past the lookahead, the video leaves with GAP events on the
/// audio pad; fragmp4mux takes them (mp4mux ignores GAP buffers when it interleaves).
#[test]
fn a_track_that_ends_early() {
    let launch = |frames: u32| {
        format!(
            "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
             ! x264enc key-int-max=30 speed-preset=ultrafast ! h264parse ! mp4mux name=m fragment-duration=1000 ! filesink \
             audiotestsrc num-buffers=47 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m."
        )
    };
    let file = foreign::gst_file("into-early", &launch(180));
    into_muxers(&file, "audio-ends-early", &[VIDEO, AUDIO]);
    let _ = std::fs::remove_file(file);
    let file = foreign::gst_file("into-early-long", &launch(420));
    into(
        &file,
        "audio-ends-long-before",
        &[VIDEO, AUDIO],
        &["fragmp4mux"],
    );
    let _ = std::fs::remove_file(file);
}
