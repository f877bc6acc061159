//! The HTTP/1.1 server (hyper on the plugin's tokio runtime): accepts connections within
//! the limits, answers from the renditions' objects in memory, holds blocking reloads
//! and requests for objects still being written.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::path;
use super::reload::{Decision, Skip, parse_query};
use super::store::{Found, Object, Published, Rendition};

/// How long a request for an object still being written may wait when no playlist
/// says otherwise.
const DEFAULT_HOLD: Duration = Duration::from_secs(10);

/// Limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A client must send a request's whole header within this, or is disconnected
    /// (idle keep-alive connections and slowloris clients alike).
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// What the connections share: the renditions by URL prefix.
#[derive(Default)]
pub(super) struct Shared {
    pub renditions: RwLock<HashMap<String, Arc<Rendition>>>,
    /// Multivariant playlist entries by rendition prefix.
    pub variants: Mutex<BTreeMap<String, String>>,
}

impl Shared {
    fn rendition(&self, prefix: &str) -> Option<Arc<Rendition>> {
        self.renditions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(prefix)
            .cloned()
    }

    pub fn variants(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.variants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Accepts connections until `stop` fires; dropping the listener frees the port.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or the like: let it pass, then go on.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    // Over the limit: closed at once, the others keep being served.
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(answer(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections so the set stays small.
                while connections.try_join_next().is_some() {}
            }
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// A response body: bytes known at once, or the bytes of an object still being written,
/// sent as they come (chunked transfer).
pub(super) enum Body {
    Full(Option<Bytes>),
    Growing(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Body {
    fn full(bytes: Bytes) -> Self {
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            Body::Full(b) => std::task::Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Growing(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Growing(_) => SizeHint::default(),
        }
    }
}

type Answer = Response<Body>;

fn status(code: StatusCode) -> Answer {
    let mut r = Response::new(Body::full(Bytes::new()));
    *r.status_mut() = code;
    common_headers(&mut r);
    r
}

fn common_headers(r: &mut Answer) {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn body(code: StatusCode, bytes: Bytes, content_type: &str, cache: &str, head: bool) -> Answer {
    let len = bytes.len();
    let mut r = Response::new(Body::full(if head { Bytes::new() } else { bytes }));
    *r.status_mut() = code;
    common_headers(&mut r);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// Segments, parts and init segments never change once published.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A playlist without directives changes with every part.
const LIVE_PLAYLIST: &str = "public, max-age=0";

async fn answer(shared: &Shared, req: Request<Incoming>) -> Answer {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if req.uri().path() == "/time" {
        // The UTCTiming source of DASH (urn:mpeg:dash:utc:http-iso:2014).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let text = crate::dash::mpd::date_time(now);
        return body(
            StatusCode::OK,
            Bytes::from(text),
            "text/plain",
            "no-store",
            head,
        );
    }
    let Some((prefix, name)) = path::split(req.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Some(rendition) = shared.rendition(prefix) else {
        return status(StatusCode::NOT_FOUND);
    };
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match rendition.find(name) {
        Found::Playlist(_) => playlist(&rendition, name, req.uri().query(), head).await,
        Found::Object(_) => object(&rendition, name, range.as_deref(), head).await,
        Found::Missing => status(StatusCode::NOT_FOUND),
    }
}

fn playlist_answer(p: &Published, skip: Skip, cache: &str, head: bool) -> Answer {
    let text = p.text(skip);
    body(
        StatusCode::OK,
        text,
        path::content_type("x.m3u8"),
        cache,
        head,
    )
}

async fn playlist(rendition: &Rendition, name: &str, query: Option<&str>, head: bool) -> Answer {
    let directives = match parse_query(query.unwrap_or("")) {
        Ok(d) => d,
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    let mut changes = rendition.subscribe();
    let Found::Playlist(first) = rendition.find(name) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Some(want) = directives.wait else {
        return playlist_answer(&first, directives.skip, LIVE_PLAYLIST, head);
    };
    let deadline = tokio::time::Instant::now() + first.progress.hold_limit();
    // The answer to a given msn/part never changes: a CDN may keep it by its URL.
    let cacheable = format!(
        "public, max-age={}",
        (first.progress.target_duration * 6).as_secs().max(1)
    );
    let mut current = first;
    loop {
        match current.progress.decide(want) {
            Decision::Answer => {
                let cache = if current.progress.ended {
                    LIVE_PLAYLIST
                } else {
                    &cacheable
                };
                return playlist_answer(&current, directives.skip, cache, head);
            }
            Decision::Reject(_) => return status(StatusCode::BAD_REQUEST),
            Decision::Hold => {}
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
        match rendition.find(name) {
            Found::Playlist(p) => current = p,
            _ => return status(StatusCode::NOT_FOUND),
        }
    }
}

/// A single `bytes=` range: (first, last inclusive or open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    From(u64, Option<u64>),
    Suffix(u64),
}

fn parse_range(value: &str) -> Option<Range> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: the whole object instead
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => num(b).map(Range::Suffix),
        (false, true) => num(a).map(|a| Range::From(a, None)),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some(Range::From(a, Some(b)))
        }
        (true, true) => None,
    }
}

/// How long requests on this rendition may be held.
fn hold(rendition: &Rendition) -> Duration {
    rendition
        .playlist_name()
        .and_then(|n| match rendition.find(&n) {
            Found::Playlist(p) => Some(p.progress.hold_limit()),
            _ => None,
        })
        .unwrap_or(DEFAULT_HOLD)
}

async fn object(rendition: &Arc<Rendition>, name: &str, range: Option<&str>, head: bool) -> Answer {
    let range = range.and_then(parse_range);
    let mut changes = rendition.subscribe();
    let deadline = tokio::time::Instant::now() + hold(rendition);
    loop {
        let o = match rendition.find(name) {
            Found::Object(o) => o,
            _ => return status(StatusCode::NOT_FOUND),
        };
        if let Some(answer) = try_object(&o, name, range, head) {
            return answer;
        }
        if range.is_none() && rendition.streaming() {
            return growing(rendition.clone(), name, head);
        }
        // Still being written: a part is sent whole once complete, never trickled.
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}

/// A whole object still being written, streamed as it grows (chunked transfer): each
/// piece is sent as soon as the sink appends it, the body ends when it is complete.
fn growing(rendition: Arc<Rendition>, name: &str, head: bool) -> Answer {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut r = Response::new(if head {
        Body::full(Bytes::new())
    } else {
        Body::Growing(rx)
    });
    common_headers(&mut r);
    if let Ok(v) = HeaderValue::from_str(path::content_type(name)) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if head {
        return r;
    }
    let name = name.to_string();
    let limit = hold(&rendition);
    tokio::spawn(async move {
        let mut changes = rendition.subscribe();
        let mut sent = 0u64;
        loop {
            let Found::Object(o) = rendition.find(&name) else {
                return; // gone: the body ends short
            };
            if o.len > sent {
                if tx.send(o.slice(sent, o.len)).await.is_err() {
                    return; // the client went away
                }
                sent = o.len;
            }
            if o.complete {
                return;
            }
            if tokio::time::timeout(limit, changes.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return;
            }
        }
    });
    r
}

/// The answer for `o` if it can be given now.
fn try_object(o: &Object, name: &str, range: Option<Range>, head: bool) -> Option<Answer> {
    let content_type = path::content_type(name);
    let total = o.complete.then_some(o.len);
    let (start, end) = match range {
        None => {
            if !o.complete {
                return None;
            }
            let mut r = body(
                StatusCode::OK,
                o.slice(0, o.len),
                content_type,
                path::cache_control(name, IMMUTABLE),
                head,
            );
            r.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Some(r);
        }
        Some(Range::Suffix(n)) => {
            let len = total?;
            (len.saturating_sub(n), len)
        }
        Some(Range::From(a, last)) => {
            let end = last.map(|b| b + 1);
            match (end, total) {
                (Some(e), Some(len)) => (a, e.min(len)),
                (None, Some(len)) => (a, len),
                // A growing object: wait until the range's bytes are there.
                (Some(e), None) if e <= o.available() => (a, e),
                // Open-ended on a growing object: what is there once past `a`.
                (None, None) if a < o.available() => (a, o.available()),
                _ => return None,
            }
        }
    };
    if start >= end {
        let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", o.len)) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Some(r);
    }
    let mut r = body(
        StatusCode::PARTIAL_CONTENT,
        o.slice(start, end),
        content_type,
        IMMUTABLE,
        head,
    );
    let total = total.map_or("*".to_string(), |t| t.to_string());
    if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", start, end - 1, total)) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_parse() {
        assert_eq!(parse_range("bytes=0-99"), Some(Range::From(0, Some(99))));
        assert_eq!(parse_range("bytes=100-"), Some(Range::From(100, None)));
        assert_eq!(parse_range("bytes=-50"), Some(Range::Suffix(50)));
        assert_eq!(parse_range("bytes=5-1"), None);
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=-"), None);
    }

    #[test]
    fn ranges_of_complete_and_growing_objects() {
        let mut o = Object {
            pieces: vec![Bytes::from_static(b"0123456789")],
            len: 10,
            complete: true,
        };
        let r = try_object(&o, "s.m4s", Some(Range::From(2, Some(4))), false).unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        let r = try_object(&o, "s.m4s", Some(Range::From(20, None)), false).unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        o.complete = false;
        assert!(
            try_object(&o, "s.m4s", None, false).is_none(),
            "held until complete"
        );
        assert!(try_object(&o, "s.m4s", Some(Range::From(8, Some(12))), false).is_none());
        let r = try_object(&o, "s.m4s", Some(Range::From(4, None)), false).unwrap();
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 4-9/*");
    }
}
