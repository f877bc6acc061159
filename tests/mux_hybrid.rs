//! `mode=hybrid`: fragmented while recording, an ordinary MP4 once finished; and
//! `fragmp4-recover` on what a killed recording leaves behind. Judged by mp4-atom
//! (sample tables and fragments), qtdemux ! decodebin and ffmpeg.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{judges, mp4, pipeline, progressive};

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("fragmp4-hybrid-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

use mp4::top_level_boxes as boxes;

/// The part of a fragmented file a reader can trust: the init and every `moof` whose
/// `mdat` is complete (independent of the muxer's and the recovery's code).
fn complete_prefix(data: &[u8]) -> &[u8] {
    let mut end = 0;
    let mut pending_moof = false;
    for (kind, at, size) in boxes(data) {
        match kind.as_str() {
            "moof" => pending_moof = true,
            "mdat" if pending_moof => {
                pending_moof = false;
                end = at + size;
            }
            "moov" => end = at + size,
            _ => {}
        }
    }
    &data[..end]
}

/// An ordinary MP4: one `moov`, no `mvex`, no `moof`.
fn assert_ordinary(data: &[u8]) -> progressive::Progressive {
    let kinds: Vec<String> = boxes(data).into_iter().map(|b| b.0).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "moov").count(),
        1,
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "moof"), "{kinds:?}");
    let file = progressive::parse(data);
    assert!(file.moov.mvex.is_none(), "no mvex");
    file
}

const VIDEO: &str = "videotestsrc num-buffers=90 pattern=ball \
    ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
    ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! tee name=tv";
const AUDIO: &str = "audiotestsrc num-buffers=141 samplesperbuffer=1024 \
    ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! tee name=ta";

#[test]
fn a_finished_hybrid_recording_is_the_progressive_file_in_place() {
    let d = dir();
    let path = |m: &str| d.join(format!("finished-{m}.mp4"));
    let mut launch = format!("{VIDEO} {AUDIO}");
    for (i, mode) in ["hybrid", "progressive", "fragmented"].iter().enumerate() {
        launch.push_str(&format!(
            " tv. ! queue ! m{i}.video_0 ta. ! queue ! m{i}.audio_0 \
             fragmp4mux name=m{i} mode={mode} fragment-duration=500000000 \
             ! filesink async=false location={}",
            path(mode).display()
        ));
    }
    pipeline::run_to_eos(&launch, 60);
    let hybrid = std::fs::read(path("hybrid")).unwrap();
    let prog = std::fs::read(path("progressive")).unwrap();
    let frag = std::fs::read(path("fragmented")).unwrap();
    let h = assert_ordinary(&hybrid);
    let p = progressive::parse(&prog);
    // Same samples (bytes, timing, sync) and the same edit lists as progressive mode.
    assert_eq!(h.samples.len(), 2);
    for (id, samples) in &p.samples {
        let got = &h.samples[id];
        assert_eq!(got.len(), samples.len(), "track {id}");
        for (a, b) in got.iter().zip(samples) {
            assert_eq!(
                (a.dts, a.pts, a.duration, a.is_sync(), &a.data),
                (b.dts, b.pts, b.duration, b.is_sync(), &b.data),
                "track {id}"
            );
        }
        assert_eq!(
            h.trak(*id).edts,
            p.trak(*id).edts,
            "edit list of track {id}"
        );
        assert_eq!(
            h.trak(*id).mdia.mdhd.duration,
            p.trak(*id).mdia.mdhd.duration
        );
        assert_eq!(h.trak(*id).tkhd.duration, p.trak(*id).tkhd.duration);
    }
    // No second copy of the payload: the fragmented file plus the final moov.
    let moov = boxes(&hybrid)
        .into_iter()
        .find(|b| b.0 == "moov")
        .unwrap()
        .2;
    assert!(
        hybrid.len() <= frag.len() + moov,
        "{} > {} + {moov}",
        hybrid.len(),
        frag.len()
    );
    // mp4box.js reads an unfragmented movie with the same samples.
    let (fragmented, boxed) = judges::mp4box_samples(&path("hybrid"));
    assert!(!fragmented, "mp4box.js sees no fragments");
    for (id, samples) in &p.samples {
        let expected: Vec<judges::Mp4BoxSample> = samples
            .iter()
            .map(|s| (s.data.len() as u32, s.dts, s.pts, s.is_sync()))
            .collect();
        assert_eq!(boxed[id], expected, "mp4box.js track {id}");
    }
    // Players decode all of it.
    judges::ffmpeg_decodes(&path("hybrid"));
    let counts = judges::ffprobe_frame_counts(&path("hybrid"));
    assert_eq!(counts[0].1 as usize, h.samples[&1].len());
    let decoded = judges::qtdemux_decode(&path("hybrid"), &["video_0", "audio_0"]);
    assert_eq!(decoded[0].frames as usize, h.samples[&1].len());
    assert_eq!(decoded[1].frames as usize, h.samples[&2].len());
}

/// Runs a live H.264 + AAC hybrid recording into `path` in a child process (this test
/// binary again, see `child_recording`), killed with SIGKILL `after` its first complete
/// fragment reached the file (however long the child took to start).
fn record_and_kill(path: &Path, after: Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_recording",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FRAGMP4_CHILD_RECORDING", path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("child");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let data = std::fs::read(path).unwrap_or_default();
        if boxes(&data).iter().any(|b| b.0 == "mdat") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}

/// The body of the child process of the kill test; does nothing in a normal run.
#[test]
fn child_recording() {
    let Some(path) = std::env::var_os("FRAGMP4_CHILD_RECORDING") else {
        return;
    };
    support::init();
    let launch = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! h264parse ! m.video_0 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! m.audio_0 \
         fragmp4mux name=m mode=hybrid fragment-duration=300000000 \
         ! filesink buffer-mode=unbuffered location={}",
        Path::new(&path).display()
    );
    let p = gst::parse::launch(&launch).unwrap();
    use gst::prelude::*;
    p.set_state(gst::State::Playing).unwrap();
    // Until killed, or an error (the write-error test), or a minute.
    let _ = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
}

/// A small deterministic generator: kill moments need not come from a crate.
fn moments(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ std::process::id() as u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(x % 2500)
        })
        .collect()
}

#[test]
fn killed_recordings_play_and_recover_to_ordinary_files() {
    let d = dir();
    let recover = env!("CARGO_BIN_EXE_fragmp4-recover");
    let kills = moments(20);
    // Four recordings at a time.
    for (batch, times) in kills.chunks(4).enumerate() {
        let paths: Vec<PathBuf> = (0..times.len())
            .map(|i| d.join(format!("killed-{batch}-{i}.mp4")))
            .collect();
        std::thread::scope(|s| {
            for (p, t) in paths.iter().zip(times) {
                s.spawn(move || record_and_kill(p, *t));
            }
        });
        for (path, t) in paths.iter().zip(times) {
            let data = std::fs::read(path).unwrap();
            let kept = complete_prefix(&data);
            let what = format!("killed after {t:?}");
            let frag = mp4::parse(kept);
            let video = frag.samples.get(&1).map_or(0, Vec::len);
            assert!(
                video > 0,
                "{what}: nothing complete in {} bytes",
                data.len()
            );
            // The file grows as it records: it holds what was recorded up to the kill but
            // the fragment in progress (0.3 s, one 10-frame GOP) and the live latency.
            let recorded_for = (video as f64) / 30.0;
            assert!(
                recorded_for + 1.0 >= t.as_secs_f64(),
                "{what}: only {video} frames complete"
            );
            // The torn file itself plays up to its last complete fragment.
            let decoded = judges::qtdemux_decode(path, &["video_0"]);
            assert!(
                decoded[0].frames as usize >= video,
                "{what}: qtdemux {decoded:?}"
            );
            let counts = judges::ffprobe_frame_counts(path);
            assert!(counts[0].1 as usize >= video, "{what}: ffmpeg {counts:?}");
            // Recovered: an ordinary MP4 holding exactly the complete fragments' samples.
            let out = path.with_extension("recovered.mp4");
            let run = Command::new(recover).arg(path).arg(&out).output().unwrap();
            assert!(run.status.success(), "{what}: fragmp4-recover {run:?}");
            let report = String::from_utf8_lossy(&run.stdout);
            assert!(
                report.contains(&format!("track 1: {video} samples")),
                "{report}"
            );
            let recovered = std::fs::read(&out).unwrap();
            let r = assert_ordinary(&recovered);
            // Decode times are kept relative to the first (stts starts at 0; a hole
            // between fragments, from a live stall, lengthens the sample before it).
            for (id, samples) in &frag.samples {
                let got = &r.samples[id];
                assert_eq!(got.len(), samples.len(), "{what}: track {id}");
                let first = samples[0].dts;
                for (a, b) in got.iter().zip(samples) {
                    assert_eq!(
                        (a.dts, a.is_sync(), &a.data),
                        (b.dts - first, b.is_sync(), &b.data),
                        "{what}: track {id}"
                    );
                    assert_eq!(a.pts - a.dts as i64, b.pts - b.dts as i64);
                }
                let (a, b) = (got.last().unwrap(), samples.last().unwrap());
                assert_eq!(a.duration, b.duration, "{what}: the last sample's duration");
            }
            judges::ffmpeg_decodes(&out);
            let decoded = judges::qtdemux_decode(&out, &["video_0"]);
            assert_eq!(decoded[0].frames as usize, video, "{what}");
        }
    }
}

#[test]
fn a_write_error_leaves_a_recoverable_file() {
    let d = dir();
    let path = d.join("full.mp4");
    let _ = std::fs::remove_file(&path);
    // Writes past 300 KiB fail (RLIMIT_FSIZE, SIGXFSZ ignored): like a full disk.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f 300; trap '' XFSZ; exec {} --exact child_recording --nocapture",
            std::env::current_exe().unwrap().display()
        ))
        .env("FRAGMP4_CHILD_RECORDING", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "the child ends on the error");
    let data = std::fs::read(&path).unwrap();
    assert!(
        data.len() as u64 <= 300 * 1024,
        "the limit held: {}",
        data.len()
    );
    let frag = mp4::parse(complete_prefix(&data));
    let run = Command::new(env!("CARGO_BIN_EXE_fragmp4-recover"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("dropped"),
        "reports what it dropped"
    );
    let fixed = std::fs::read(&path).unwrap();
    let r = assert_ordinary(&fixed);
    assert_eq!(r.samples[&1].len(), frag.samples[&1].len());
    judges::ffmpeg_decodes(&path);
}

#[test]
fn a_recording_past_4_gib_gets_co64() {
    use gst::prelude::*;
    let d = dir();
    let path = d.join("large.mp4");
    let frames = 1100u64; // 4 MiB each: 4.3 GiB
    let size = 4 << 20;
    let launch = format!(
        // 2 s fragments of 240 MiB (filesink's writev fails on one list past 4 GiB).
        "appsrc name=v format=time ! fragmp4mux name=m mode=hybrid fragment-duration=2000000000 \
         ! filesink location={}",
        path.display()
    );
    support::init();
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = support::synth::appsrc(&p, "v");
    src.set_caps(Some(&support::synth::h264_caps(
        (30, 1),
        Some(&support::synth::AVCC),
    )));
    p.set_state(gst::State::Playing).unwrap();
    // One payload, shared by every sample: no copy, no encoding.
    let payload = support::synth::buffer(7, size, None, None, true);
    for i in 0..frames {
        let mut b = payload.copy();
        let t = gst::ClockTime::from_nseconds(i * 1_000_000_000 / 30);
        let bm = b.get_mut().unwrap();
        bm.set_pts(t);
        bm.set_dts(t);
        bm.set_duration(gst::ClockTime::from_nseconds(33_333_333));
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 300);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap();
    // Read the top level without loading the payload: headers, then the final moov.
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    assert!(len > 4 << 30);
    let mut pos = 0u64;
    let mut top = Vec::new();
    while pos < len {
        let mut h = [0u8; 16];
        f.seek(SeekFrom::Start(pos)).unwrap();
        f.read_exact(&mut h[..8]).unwrap();
        let mut size = u64::from(u32::from_be_bytes(h[..4].try_into().unwrap()));
        let kind = String::from_utf8_lossy(&h[4..8]).to_string();
        if size == 1 {
            f.read_exact(&mut h[8..]).unwrap();
            size = u64::from_be_bytes(h[8..].try_into().unwrap());
        }
        top.push((kind, pos, size));
        pos += size;
    }
    assert_eq!(pos, len, "boxes tile the file");
    let mdats: Vec<(u64, u64)> = top
        .iter()
        .filter(|b| b.0 == "mdat")
        .map(|b| (b.1, b.1 + b.2))
        .collect();
    assert!(mdats.last().unwrap().0 > 1 << 32, "fragments past 4 GiB");
    let (_, moov_at, moov_size) = top.iter().find(|b| b.0 == "moov").unwrap().clone();
    assert!(
        moov_at > mdats.last().unwrap().1 - 1,
        "the finished moov follows the payload"
    );
    assert_eq!(top.iter().filter(|b| b.0 == "moof").count(), 0);
    let mut moov = vec![0u8; moov_size as usize];
    f.seek(SeekFrom::Start(moov_at)).unwrap();
    f.read_exact(&mut moov).unwrap();
    let moov = mp4_atom::Moov::try_from(
        <mp4_atom::Any as mp4_atom::Decode>::decode(&mut &moov[..]).unwrap(),
    )
    .unwrap();
    assert!(moov.mvex.is_none());
    let stbl = &moov.trak[0].mdia.minf.stbl;
    let co64 = stbl.co64.as_ref().expect("co64 past 4 GiB");
    assert!(stbl.stco.is_none());
    assert!(co64.entries.iter().any(|&o| o > 1 << 32));
    assert!(
        co64.entries
            .iter()
            .all(|&o| mdats.iter().any(|&(a, b)| o > a && o < b)),
        "every chunk inside an mdat"
    );
    match &stbl.stsz.samples {
        mp4_atom::StszSamples::Identical { count, size: s } => {
            assert_eq!((*count as u64, *s as usize), (frames, size))
        }
        other => panic!("stsz {other:?}"),
    }
    // The samples are where the table says: the last one carries the payload's bytes.
    let last = *co64.entries.last().unwrap();
    let mut head = [0u8; 8];
    f.seek(SeekFrom::Start(last)).unwrap();
    f.read_exact(&mut head).unwrap();
    assert_eq!(&head[4..8], &7u32.to_be_bytes(), "a sample's first bytes");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=nb_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        frames.to_string()
    );
    drop(f);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn hybrid_into_a_stream_is_an_error_not_a_broken_file() {
    let r = pipeline::run_with(
        &format!(
            "{VIDEO} tv. ! queue ! mux.video_0 fragmp4mux name=mux mode=hybrid ! appsink name=sink"
        ),
        |_| {},
        |_, _| {},
    );
    let error = r.error.expect("an element error");
    assert!(error.contains("seekable"), "{error}");
    assert!(
        r.output.bytes.is_empty(),
        "nothing written that could not be finished"
    );
}
