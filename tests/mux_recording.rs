//! Fragmented output into a seekable file: durations filled in and an `mfra` index
//! appended at EOS; a file cut short stays playable.

mod support;

use mp4_atom::Decode;
use support::{judges, mp4};

fn record(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = std::env::temp_dir().join(format!("fragmp4-{}-{}", std::process::id(), name));
    let launch = format!(
        "videotestsrc num-buffers=150 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=235 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=1000000000 ! filesink location={}",
        path.display()
    );
    support::pipeline::run_to_eos(&launch, 60);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn top_level(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = vec![];
    let mut pos = 0;
    while pos < bytes.len() {
        let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((
            String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).to_string(),
            pos,
            size,
        ));
        pos += size;
    }
    out
}

#[test]
fn durations_and_index_are_written_at_eos() {
    let (path, bytes) = record("recording.mp4");
    let boxes = top_level(&bytes);
    assert_eq!(boxes.last().unwrap().0, "mfra", "index appended last");
    let file = mp4::parse(&bytes);
    // Durations: each track's presentation end (the latest PTS + duration of its
    // samples, past the decode end with B-frames; DESIGN.md T4).
    let mut movie_duration = 0u64;
    let movie_ts = file.moov.mvhd.timescale;
    for trak in &file.moov.trak {
        let id = trak.tkhd.track_id;
        let samples = &file.samples[&id];
        let end = samples
            .iter()
            .map(|s| (s.pts + i64::from(s.duration)) as u64)
            .max()
            .unwrap();
        assert_eq!(trak.mdia.mdhd.duration, end, "mdhd duration of track {id}");
        let in_movie = (u128::from(end) * u128::from(movie_ts))
            .div_ceil(u128::from(trak.mdia.mdhd.timescale)) as u64;
        assert_eq!(trak.tkhd.duration, in_movie, "tkhd duration of track {id}");
        movie_duration = movie_duration.max(in_movie);
    }
    assert_eq!(file.moov.mvhd.duration, movie_duration);
    let mehd = file
        .moov
        .mvex
        .as_ref()
        .unwrap()
        .mehd
        .as_ref()
        .expect("mehd");
    assert_eq!(mehd.fragment_duration, movie_duration);
    // The index: one entry per fragment and track, pointing at its moof and tfdt.
    let (_, at, size) = boxes.last().unwrap().clone();
    let mfra = mp4_atom::Mfra::try_from(mp4_atom::Any::decode(&mut &bytes[at..at + size]).unwrap())
        .unwrap();
    let moofs: Vec<usize> = boxes
        .iter()
        .filter(|b| b.0 == "moof")
        .map(|b| b.1)
        .collect();
    assert_eq!(mfra.mfro.parent_size as usize, size);
    let video = mfra
        .tfra
        .iter()
        .find(|t| t.track_id == 1)
        .expect("video index");
    assert_eq!(
        video.entries.len(),
        moofs.len().min(
            file.chunks
                .iter()
                .filter(|c| c.trafs.iter().any(|t| t.track_id == 1))
                .count()
        )
    );
    for e in &video.entries {
        let k = moofs
            .iter()
            .position(|&m| m as u64 == e.moof_offset)
            .expect("entry points at a moof");
        let traf = &file.chunks[k].trafs[e.traf_number as usize - 1];
        assert_eq!(traf.track_id, 1);
        assert_eq!(traf.tfdt, Some(e.time));
    }
    // Players see the duration and decode it all.
    judges::ffmpeg_decodes(&path);
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let duration: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(
        (duration - movie_duration as f64 / f64::from(movie_ts)).abs() < 0.01,
        "ffprobe duration {duration}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_recording_cut_short_plays_up_to_its_last_complete_fragment() {
    let (path, bytes) = record("cut.mp4");
    let moofs: Vec<usize> = top_level(&bytes)
        .iter()
        .filter(|b| b.0 == "moof")
        .map(|b| b.1)
        .collect();
    // As if the process died while writing the fourth fragment: the file ends with the
    // third complete one.
    let complete = &bytes[..moofs[3]];
    let frames = mp4::parse(complete).samples[&1].len();
    let cut_path = support::pipeline::temp_file("cut.mp4", complete);
    judges::ffmpeg_decodes(&cut_path);
    let decoded = judges::qtdemux_decode(&cut_path, &["video_0"]);
    assert_eq!(decoded[0].frames as usize, frames);
    let _ = std::fs::remove_file(path);
}
