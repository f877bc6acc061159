//! Encryption throughput of one core: the muxer's per-sample work for Common Encryption
//! (copy the payload once, find the subsamples, encrypt), on synthetic length-prefixed
//! H.264 samples and on whole (audio-like) samples, for cenc and cbcs; then the cost of
//! the subsample map alone on real x264 access units (cbcs parses each slice header).
//!
//!     cargo run --release --example cenc_throughput [MiB]    # default 512 MiB per case
//!
//! Times are this thread's CPU time (wall time where Linux schedstat is missing). Prints
//! payload bytes per second (what the muxer moves) and, for cbcs' 1:9 pattern, the
//! bytes actually run through AES; and whether the CPU has AES-NI, which the `aes` crate
//! uses when it is there.

use gstfragmp4::encrypt::slice_header::SliceHeaders;
use gstfragmp4::encrypt::{CencIv, NalCodec, SampleEncryptor, nal_subsamples, whole_sample};
use std::time::Instant;

/// Real x264 (CABAC) access units, 4-byte length-prefixed without their SPS/PPS, and the
/// `avcC` record holding those: what the cbcs slice header parse runs on.
fn real_h264() -> (Vec<u8>, Vec<Vec<u8>>) {
    let stream = include_bytes!("../src/encrypt/testdata/ball-64x48.h264");
    let mut nals: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            if let Some(s) = start {
                let mut end = i;
                while end > s && stream[end - 1] == 0 {
                    end -= 1;
                }
                nals.push(&stream[s..end]);
            }
            start = Some(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    nals.extend(start.map(|s| &stream[s..]));
    let find = |t: u8| nals.iter().find(|n| n[0] & 0x1f == t).expect("SPS and PPS");
    let (sps, pps) = (find(7), find(8));
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    let mut samples = Vec::new();
    let mut au = Vec::new();
    for n in nals.iter().filter(|n| !matches!(n[0] & 0x1f, 7 | 8)) {
        au.extend_from_slice(&(n.len() as u32).to_be_bytes());
        au.extend_from_slice(n);
        if matches!(n[0] & 0x1f, 1 | 5) {
            samples.push(std::mem::take(&mut au));
        }
    }
    (avcc, samples)
}

/// CPU nanoseconds per sample of the subsample map alone: the cenc NAL walk and the
/// cbcs walk that parses each slice header (rebuilding the parsers per sample).
fn map_costs() {
    let (avcc, samples) = real_h264();
    let mut headers = SliceHeaders::new(NalCodec::Avc, &avcc).expect("the fixture's avcC");
    let rounds = 20_000;
    let time = |f: &mut dyn FnMut(&[u8]) -> usize| {
        let start = cpu_ns();
        let wall = Instant::now();
        let mut sink = 0;
        for r in 0..rounds {
            sink += f(&samples[r % samples.len()]);
        }
        std::hint::black_box(sink);
        let ns = match (start, cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64,
            _ => wall.elapsed().as_nanos() as f64,
        };
        ns / rounds as f64
    };
    let cenc = time(&mut |s| nal_subsamples(s, 4, NalCodec::Avc, 0).expect("a map").len());
    let cbcs = time(&mut |s| headers.cbcs_subsamples(s, 4).expect("a map").len());
    println!();
    println!("subsample map of one real x264 access unit (1 slice), ns/sample:");
    println!("| cenc (NAL walk) | {cenc:>8.0} |");
    println!("| cbcs (NAL walk + slice header parse) | {cbcs:>8.0} |");
}

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
    map_costs();
}
