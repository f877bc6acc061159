//! The HTTP origin on 127.0.0.1 against real clients: curl for ordinary requests, raw
//! sockets for what curl would not send (traversal spellings, idle and slow clients).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstfragmp4::origin::{Limits, LivePlaylist, Origin, Progress, Rendition, Skip};
use support::http::{Got, parse_response};

mod support;

/// A playlist at a given position, rendering that position.
struct Fake(Progress);

impl LivePlaylist for Fake {
    fn render(&self, skip: Skip) -> String {
        let p = &self.0;
        format!(
            "#EXTM3U\n# next={} parts={} ended={} skip={:?}\n",
            p.next_msn, p.parts_done, p.ended, skip
        )
    }
    fn progress(&self) -> Progress {
        self.0.clone()
    }
}

fn at(next_msn: u64, parts_done: u64, ended: bool, target: Duration) -> Arc<Fake> {
    Arc::new(Fake(Progress {
        next_msn,
        parts_done,
        parts_of: (0..next_msn).map(|m| (m, 5)).collect(),
        ended,
        target_duration: target,
        part_target: Some(target / 5),
    }))
}

fn local() -> std::net::IpAddr {
    "127.0.0.1".parse().unwrap()
}

/// A server with one rendition "live" at position (10, 2), target 1 s.
fn serve(limits: Limits) -> (Arc<Origin>, Arc<Rendition>) {
    let origin = Origin::bind(local(), 0, limits).expect("bind");
    let r = origin.add_rendition("live").unwrap();
    r.set_playlist("p.m3u8", at(10, 2, false, Duration::from_secs(1)));
    r.put("init.mp4", Bytes::from_static(b"INIT-SEGMENT"));
    (origin, r)
}

fn curl(args: &[&str]) -> Got {
    let out = Command::new("curl")
        .args(["-s", "-i", "--path-as-is", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs");
    parse_response(&out.stdout, &format!("curl {args:?}"))
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

#[test]
fn objects_and_playlists_with_their_headers() {
    let (origin, _r) = serve(Limits::default());
    let a = origin.local_addr();
    let init = curl(&[&url(a, "/live/init.mp4")]);
    assert_eq!(init.status, 200);
    assert_eq!(init.body, b"INIT-SEGMENT");
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    assert_eq!(init.header("access-control-allow-origin"), Some("*"));
    assert!(init.header("cache-control").unwrap().contains("immutable"));
    let p = curl(&[&url(a, "/live/p.m3u8")]);
    assert_eq!(p.status, 200);
    assert_eq!(
        p.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(p.header("cache-control"), Some("public, max-age=0"));
    assert!(String::from_utf8_lossy(&p.body).contains("next=10 parts=2"));
    let delta = curl(&[&url(a, "/live/p.m3u8?_HLS_skip=YES")]);
    assert!(String::from_utf8_lossy(&delta.body).contains("skip=Segments"));
    // HEAD: the headers of GET, no body.
    let head = curl(&["-I", &url(a, "/live/init.mp4")]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("12"));
    assert!(head.body.is_empty());
    // One range: 206 with its Content-Range; past the end: 416.
    let part = curl(&["-r", "5-11", &url(a, "/live/init.mp4")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"SEGMENT");
    assert_eq!(part.header("content-range"), Some("bytes 5-11/12"));
    assert_eq!(
        curl(&["-r", "50-60", &url(a, "/live/init.mp4")]).status,
        416
    );
    // Other methods: 405 with Allow.
    for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let got = curl(&["-X", m, &url(a, "/live/init.mp4")]);
        assert_eq!(got.status, 405, "{m}");
        assert_eq!(got.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(curl(&[&url(a, "/live/nothing.m4s")]).status, 404);
    assert_eq!(curl(&[&url(a, "/other/p.m3u8")]).status, 404);
}

/// Sends `request` on a raw socket and returns the status code of the answer.
fn raw_status(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok())
}

#[test]
fn traversal_attempts_name_nothing() {
    let (origin, _r) = serve(Limits::default());
    let a = origin.local_addr();
    for path in [
        "/live/../live/init.mp4",
        "/live/%2e%2e/live/init.mp4",
        "/live/%2E%2E/%2E%2E/etc/passwd",
        "/../../etc/passwd",
        "//etc/passwd",
        "/live/./init.mp4",
        "/live/init.mp4%00",
        "/live/%2finit.mp4",
        "/live\\..\\init.mp4",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(raw_status(a, req.as_bytes()), Some(404), "{path}");
    }
    // An absolute path of the machine in absolute form, and a NUL in the request line.
    let req = b"GET http://x/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(a, req), Some(404));
    let req = b"GET /live/init.mp4\0/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_ne!(raw_status(a, req), Some(200));
    // The plain spelling works on the same server.
    let req = b"GET /live/init.mp4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(a, req), Some(200));
}

/// Runs `curl` for `path` on a thread; returns the result and when it came.
fn curl_later(a: SocketAddr, path: &str) -> thread::JoinHandle<(Got, Instant)> {
    let u = url(a, path);
    thread::spawn(move || {
        let got = curl(&[&u]);
        (got, Instant::now())
    })
}

#[test]
fn a_blocking_reload_is_answered_when_its_part_appears_and_not_before() {
    let (origin, r) = serve(Limits::default());
    let a = origin.local_addr();
    let held = curl_later(a, "/live/p.m3u8?_HLS_msn=10&_HLS_part=3");
    thread::sleep(Duration::from_millis(400));
    assert!(!held.is_finished(), "held while part 3 is missing");
    // Another part appears that is not the one asked for: still held.
    r.set_playlist("p.m3u8", at(10, 3, false, Duration::from_secs(1)));
    thread::sleep(Duration::from_millis(200));
    assert!(!held.is_finished());
    let published = Instant::now();
    r.set_playlist("p.m3u8", at(10, 4, false, Duration::from_secs(1)));
    let (got, when) = held.join().unwrap();
    assert_eq!(got.status, 200);
    assert!(String::from_utf8_lossy(&got.body).contains("next=10 parts=4"));
    assert!(
        got.header("cache-control")
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert!(when - published < Duration::from_millis(500));
    // What is there already is answered at once.
    let t = Instant::now();
    assert_eq!(curl(&[&url(a, "/live/p.m3u8?_HLS_msn=9")]).status, 200);
    assert!(t.elapsed() < Duration::from_millis(500));
}

#[test]
fn bad_directives_get_400_and_an_unmet_wait_503() {
    let origin = Origin::bind(local(), 0, Limits::default()).unwrap();
    let r = origin.add_rendition("live").unwrap();
    let target = Duration::from_millis(200);
    r.set_playlist("p.m3u8", at(10, 2, false, target));
    let a = origin.local_addr();
    for q in [
        "_HLS_part=1",
        "_HLS_msn=abc",
        "_HLS_msn=12",
        "_HLS_msn=11&_HLS_part=40",
        "_HLS_skip=maybe",
    ] {
        let t = Instant::now();
        let got = curl(&[&url(a, &format!("/live/p.m3u8?{q}"))]);
        assert_eq!(got.status, 400, "{q}");
        assert!(t.elapsed() < Duration::from_millis(500), "{q}: at once");
    }
    // Not there within 3 target durations: 503.
    let t = Instant::now();
    let got = curl(&[&url(a, "/live/p.m3u8?_HLS_msn=11")]);
    assert_eq!(got.status, 503);
    assert!(t.elapsed() >= target * 3);
}

#[test]
fn the_end_releases_held_requests() {
    let (origin, r) = serve(Limits::default());
    let a = origin.local_addr();
    let held: Vec<_> = (0..5)
        .map(|_| curl_later(a, "/live/p.m3u8?_HLS_msn=11&_HLS_part=0"))
        .collect();
    thread::sleep(Duration::from_millis(300));
    r.set_playlist("p.m3u8", at(10, 3, true, Duration::from_secs(1)));
    for h in held {
        let (got, _) = h.join().unwrap();
        assert_eq!(got.status, 200);
        assert!(String::from_utf8_lossy(&got.body).contains("ended=true"));
    }
    // Afterwards the directives are ignored.
    let got = curl(&[&url(a, "/live/p.m3u8?_HLS_msn=11&_HLS_part=4")]);
    assert_eq!(got.status, 200);
}

#[test]
fn a_hinted_part_is_held_until_complete_then_sent_whole() {
    let (origin, r) = serve(Limits::default());
    let a = origin.local_addr();
    r.begin("part11.0.m4s");
    let held = curl_later(a, "/live/part11.0.m4s");
    thread::sleep(Duration::from_millis(300));
    r.append("part11.0.m4s", Bytes::from_static(b"moof"));
    thread::sleep(Duration::from_millis(200));
    assert!(!held.is_finished(), "never trickled out");
    r.append("part11.0.m4s", Bytes::from_static(b"mdat"));
    r.finish("part11.0.m4s");
    let (got, _) = held.join().unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"moofmdat");
    // A byte range of a growing segment is answered once its bytes are there.
    r.begin("seg11.m4s");
    r.append("seg11.m4s", Bytes::from_static(b"0123"));
    let held = thread::spawn(move || curl(&["-r", "2-5", &url(a, "/live/seg11.m4s")]));
    thread::sleep(Duration::from_millis(300));
    assert!(!held.is_finished());
    r.append("seg11.m4s", Bytes::from_static(b"4567"));
    let got = held.join().unwrap();
    assert_eq!(got.status, 206);
    assert_eq!(got.body, b"2345");
    assert_eq!(got.header("content-range"), Some("bytes 2-5/*"));
}

#[test]
fn a_thousand_idle_connections_do_not_delay_a_blocking_reload() {
    let (origin, r) = serve(Limits {
        max_connections: 1100,
        header_timeout: Duration::from_secs(30),
    });
    let a = origin.local_addr();
    let idle: Vec<TcpStream> = (0..1000).map(|_| TcpStream::connect(a).unwrap()).collect();
    let held = curl_later(a, "/live/p.m3u8?_HLS_msn=10&_HLS_part=2");
    thread::sleep(Duration::from_millis(300));
    let published = Instant::now();
    r.set_playlist("p.m3u8", at(10, 3, false, Duration::from_secs(1)));
    let (got, when) = held.join().unwrap();
    assert_eq!(got.status, 200);
    let delay = when - published;
    assert!(
        delay < Duration::from_millis(200),
        "answered {delay:?} after"
    );
    drop(idle);
}

#[test]
fn idle_and_slow_clients_are_reaped_and_the_limit_holds() {
    let (origin, _r) = serve(Limits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
    });
    let a = origin.local_addr();
    // A slowloris client: half a header, then nothing.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(b"GET /live/init.mp4 HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 256];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).contains(" 408 "),
        "closed or timed out"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "reaped after the timeout"
    );
    // Four idle connections fill the limit: a fifth is closed, not queued forever.
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(a).unwrap()).collect();
    thread::sleep(Duration::from_millis(100));
    let req = b"GET /live/init.mp4 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(raw_status(a, req), None, "over the limit");
    // Once the idle ones are reaped, requests are served again.
    thread::sleep(Duration::from_millis(600));
    drop(idle);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(curl(&[&url(a, "/live/init.mp4")]).status, 200);
}

#[test]
fn a_second_server_on_the_same_port_adds_a_rendition_and_dropping_frees_the_port() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let first = Origin::bind(local(), port, Limits::default()).unwrap();
    let second = Origin::bind(local(), port, Limits::default()).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "one server per address and port"
    );
    let hi = first.add_rendition("hi").unwrap();
    let lo = second.add_rendition("lo").unwrap();
    assert!(
        second.add_rendition("hi").is_err(),
        "a prefix is served once"
    );
    hi.put("init.mp4", Bytes::from_static(b"HI"));
    lo.put("init.mp4", Bytes::from_static(b"LO"));
    let a = first.local_addr();
    assert_eq!(curl(&[&url(a, "/hi/init.mp4")]).body, b"HI");
    assert_eq!(curl(&[&url(a, "/lo/init.mp4")]).body, b"LO");
    // Port 0 never shares.
    let other = Origin::bind(local(), 0, Limits::default()).unwrap();
    assert_ne!(other.local_addr(), a);
    drop((first, second, hi, lo));
    TcpListener::bind(a).expect("the port is free once the last handle is gone");
    assert!(TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err());
}
