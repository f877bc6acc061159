//! Fragmented MP4 files written by other producers (ffmpeg, GStreamer's mp4mux), and
//! their packets as ffprobe reads them: the inputs and the judge of the demuxer tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh path in the temp directory for `name` (unique per test process).
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fragmp4-{name}-{}.mp4", std::process::id()))
}

/// Runs `launch`, whose `filesink` has no location, into a fresh file; returns its path.
pub fn gst_file(name: &str, launch: &str) -> PathBuf {
    let path = temp_path(name);
    let sink = format!("filesink location={}", path.display());
    assert_eq!(launch.matches("filesink").count(), 1, "{launch}");
    super::pipeline::run_to_eos(&launch.replace("filesink", &sink), 60);
    path
}

/// A short H.264 (with B-frames) + AAC file made by mp4mux, the input of ffmpeg.
pub fn source_file(name: &str) -> PathBuf {
    gst_file(
        name,
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux name=m ! filesink \
         audiotestsrc num-buffers=90 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m.",
    )
}

/// The ffmpeg `-movflags` of the fragmented flavours the tests use.
pub const FFMPEG_FLAVOURS: [(&str, &str); 3] = [
    ("ffmpeg-frag", "frag_keyframe+empty_moov+default_base_moof"),
    ("ffmpeg-cmaf", "cmaf+separate_moof+frag_every_frame"),
    // Without default_base_moof: explicit base_data_offset from the file start.
    ("ffmpeg-base", "frag_keyframe+empty_moov"),
];

/// `src` remuxed by ffmpeg (`-c copy`) with `movflags`.
pub fn ffmpeg_remux(src: &Path, name: &str, movflags: &str) -> PathBuf {
    let out = temp_path(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-c", "copy", "-movflags", movflags])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg -movflags {movflags}");
    out
}

/// One packet as ffprobe reports it, in its stream's time base.
#[derive(Debug, Clone)]
pub struct Packet {
    pub pts: i64,
    pub dts: i64,
    pub size: usize,
    pub key: bool,
    /// CRC32 of the payload.
    pub hash: String,
}

/// ffprobe's packets and time base denominator for the first stream of `kind`
/// (`video`/`audio`).
pub fn ffprobe_packets(path: &Path, kind: &str) -> (Vec<Packet>, u64) {
    let stream = format!("{}:0", &kind[..1]);
    let run = |args: &[&str]| {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", &stream])
            .args(args)
            .arg(path)
            .output()
            .expect("ffprobe runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let tb = run(&["-show_entries", "stream=time_base", "-of", "csv=p=0"]);
    let den: u64 = tb.trim().split('/').nth(1).unwrap().parse().unwrap();
    let packets = run(&[
        "-show_data_hash",
        "CRC32",
        "-show_entries",
        "packet=pts,dts,size,flags,data_hash",
        "-of",
        "csv=p=0",
    ])
    .lines()
    .filter(|l| !l.is_empty())
    .map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        Packet {
            pts: f[0].parse().unwrap(),
            dts: f[1].parse().unwrap(),
            size: f[2].parse().unwrap(),
            key: f[3].contains('K'),
            hash: f[4].to_string(),
        }
    })
    .collect();
    (packets, den)
}
