//! Encryption throughput of one core: the muxer's per-sample work for Common Encryption
//! (copy the payload once, find the subsamples, encrypt), on synthetic length-prefixed
//! H.264 samples and on whole (audio-like) samples, for cenc and cbcs.
//!
//!     cargo run --release --example cenc_throughput [MiB]    # default 512 MiB per case
//!
//! Times are this thread's CPU time (wall time where Linux schedstat is missing). Prints
//! payload bytes per second (what the muxer moves) and, for cbcs' 1:9 pattern, the
//! bytes actually run through AES; and whether the CPU has AES-NI, which the `aes` crate
//! uses when it is there.

use gstfragmp4::encrypt::{CencIv, NalCodec, SampleEncryptor, nal_subsamples, whole_sample};
use std::time::Instant;

/// A length-prefixed access unit of `size` bytes: a 30-byte SPS-like NAL (clear) and one
/// slice NAL (type 1) holding the rest, as x264 writes P-frames.
fn access_unit(size: usize, seed: u8) -> Vec<u8> {
    let mut au = Vec::with_capacity(size);
    au.extend_from_slice(&26u32.to_be_bytes());
    au.push(0x06); // SEI: not VCL
    au.extend(std::iter::repeat_n(seed, 25));
    let slice = size - au.len() - 4;
    au.extend_from_slice(&(slice as u32).to_be_bytes());
    au.push(0x41); // non-IDR slice
    au.extend((1..slice).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    au
}

struct Case {
    name: &'static str,
    video: bool,
    encryptor: fn() -> SampleEncryptor,
    /// Bytes after each slice's NAL header kept clear (cbcs: the slice header).
    clear_after_header: usize,
}

const KEY: [u8; 16] = *b"0123456789abcdef";

/// Nanoseconds this thread has run on a CPU (Linux schedstat): unlike the wall clock, it
/// does not count time other processes held the core.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(512);
    let total = mib << 20;
    #[cfg(target_arch = "x86_64")]
    let aes_ni = std::arch::is_x86_feature_detected!("aes");
    #[cfg(not(target_arch = "x86_64"))]
    let aes_ni = false;
    println!("payload per case: {mib} MiB, AES-NI: {aes_ni}");
    // 1080p-like: 20 kB video samples, 400-byte audio samples.
    let video: Vec<Vec<u8>> = (0..64)
        .map(|i| access_unit(20_000 + i * 97, i as u8))
        .collect();
    let audio: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 380 + i]).collect();
    let cases = [
        Case {
            name: "copy only (no encryption)",
            video: true,
            encryptor: || SampleEncryptor::cenc(KEY, CencIv::Eight([0; 8])),
            clear_after_header: usize::MAX,
        },
        Case {
            name: "cenc video (AES-CTR, subsamples)",
            video: true,
            encryptor: || SampleEncryptor::cenc(KEY, CencIv::Eight([1; 8])),
            clear_after_header: 0,
        },
        Case {
            name: "cenc audio (AES-CTR, whole samples)",
            video: false,
            encryptor: || SampleEncryptor::cenc(KEY, CencIv::Sixteen([1; 16])),
            clear_after_header: 0,
        },
        Case {
            name: "cbcs video (AES-CBC 1:9 pattern)",
            video: true,
            encryptor: || SampleEncryptor::cbcs(KEY, [2; 16], 1, 9),
            clear_after_header: 32,
        },
        Case {
            name: "cbcs audio (AES-CBC, whole blocks)",
            video: false,
            encryptor: || SampleEncryptor::cbcs(KEY, [2; 16], 0, 0),
            clear_after_header: 0,
        },
    ];
    println!(
        "| {:<36} | {:>12} | {:>16} | {:>12} |",
        "case", "payload GB/s", "AES input GB/s", "ns/sample"
    );
    println!("|---|---|---|---|");
    for case in &cases {
        let samples = if case.video { &video } else { &audio };
        let mut encryptor = (case.encryptor)();
        let copy_only = case.clear_after_header == usize::MAX;
        let (mut done, mut through_aes, mut count) = (0usize, 0usize, 0usize);
        let mut sink = 0u8;
        let start = Instant::now();
        let cpu_start = cpu_ns();
        while done < total {
            let sample = &samples[count % samples.len()];
            // The muxer's one copy of each encrypted payload into a new memory.
            let mut data = sample.clone();
            if !copy_only {
                let map = if case.video {
                    nal_subsamples(&data, 4, NalCodec::Avc, case.clear_after_header)
                        .expect("a valid access unit")
                } else {
                    whole_sample(data.len())
                };
                encryptor.encrypt(&mut data, &map);
                through_aes += map.iter().map(|s| s.protected as usize).sum::<usize>();
            }
            sink ^= data[data.len() / 2];
            done += data.len();
            count += 1;
        }
        let secs = match (cpu_start, cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => start.elapsed().as_secs_f64(),
        };
        // cbcs 1:9 runs one block in ten through AES.
        let aes_bytes = match case.name {
            n if n.starts_with("cbcs video") => through_aes / 10,
            _ => through_aes,
        };
        println!(
            "| {:<36} | {:>12.2} | {:>16} | {:>12.0} |",
            case.name,
            done as f64 / secs / 1e9,
            if copy_only {
                "-".to_string()
            } else {
                format!("{:.2}", aes_bytes as f64 / secs / 1e9)
            },
            secs * 1e9 / count as f64
        );
        std::hint::black_box(sink);
    }
}
