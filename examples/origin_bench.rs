//! Benchmark of the HTTP origin's blocking playlist reload: N clients (keep-alive
//! connections, one thread each) wait on the next part; the part is published and each
//! client notes when its answer arrived. Reports the delay from publication to answer
//! (p50, p99, max) and the server's CPU time per answered request (the runtime's
//! threads only, read from /proc).
//!
//!   cargo run --release --example origin_bench -- [clients] [parts]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use gstfragmp4::origin::{Limits, LivePlaylist, Origin, Progress, Skip};

/// A playlist of a few segments and `parts` parts, about the size of a real one.
struct Playlist {
    parts: u64,
}

impl LivePlaylist for Playlist {
    fn render(&self, _skip: Skip) -> String {
        let mut s = String::from(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.2\n",
        );
        for m in 4..10 {
            s.push_str(&format!("#EXTINF:1.00000,\nseg{m}.m4s\n"));
        }
        for p in 0..self.parts {
            s.push_str(&format!(
                "#EXT-X-PART:DURATION=0.20000,URI=\"part10.{p}.m4s\"\n"
            ));
        }
        s
    }
    fn progress(&self) -> Progress {
        Progress {
            next_msn: 10,
            parts_done: self.parts,
            parts_of: vec![],
            ended: false,
            target_duration: Duration::from_secs(1),
            part_target: Some(Duration::from_millis(200)),
        }
    }
}

/// CPU time (user + system) of this process's threads named `name`, in clock ticks.
fn cpu_ticks(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 12 {
            total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    total
}

/// Sends one request and reads one whole answer (Content-Length framed).
fn request(stream: &mut BufReader<TcpStream>, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    stream.get_mut().write_all(req.as_bytes()).expect("send");
    let mut line = String::new();
    stream.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("body");
    status
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(200) as usize;
    let parts = args.get(1).copied().unwrap_or(50);
    let origin = Origin::bind("127.0.0.1".parse().unwrap(), 0, Limits::default()).expect("bind");
    let rendition = origin.add_rendition("live").unwrap();
    rendition.set_playlist("p.m3u8", Arc::new(Playlist { parts: 0 }));
    let addr: SocketAddr = origin.local_addr();

    let ready = Arc::new(Barrier::new(clients + 1));
    let done = Arc::new(Barrier::new(clients + 1));
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (ready, done, arrivals) = (ready.clone(), done.clone(), arrivals.clone());
            std::thread::spawn(move || {
                let mut s = BufReader::new(TcpStream::connect(addr).expect("connect"));
                s.get_mut().set_nodelay(true).ok();
                for p in 0..parts {
                    ready.wait();
                    let status =
                        request(&mut s, &format!("/live/p.m3u8?_HLS_msn=10&_HLS_part={p}"));
                    let at = Instant::now();
                    assert_eq!(status, 200, "blocked reload answered");
                    arrivals.lock().unwrap().push(at);
                    done.wait();
                }
            })
        })
        .collect();

    let mut delays = Vec::with_capacity(clients * parts as usize);
    let cpu_before = cpu_ticks("fragmp4-rt");
    let wall = Instant::now();
    for p in 0..parts {
        ready.wait();
        // Let every request reach the server and be held.
        std::thread::sleep(Duration::from_millis(100));
        let published = Instant::now();
        rendition.set_playlist("p.m3u8", Arc::new(Playlist { parts: p + 1 }));
        done.wait();
        let mut a = arrivals.lock().unwrap();
        delays.extend(a.drain(..).map(|t| t - published));
    }
    let cpu = cpu_ticks("fragmp4-rt") - cpu_before;
    for t in threads {
        t.join().unwrap();
    }
    delays.sort();
    let tick_us = 1_000_000.0 / 100.0; // USER_HZ is 100 on Linux
    println!(
        "origin blocking reload: {clients} clients x {parts} parts, {} answers in {:.1} s",
        delays.len(),
        wall.elapsed().as_secs_f64()
    );
    println!(
        "publication -> answer: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "server CPU: {:.0} us per answered request ({} ticks of the runtime threads)",
        cpu as f64 * tick_us / delays.len() as f64,
        cpu
    );
}
