//! What one rendition serves: its objects in memory (complete, or still being written)
//! and its live playlist, with a version that wakes held requests on every change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::watch;

use super::reload::{Progress, Skip};

/// A live media playlist as the origin serves it. The element publishes a new one on
/// every change; the origin renders each at most once per kind of answer.
pub trait LivePlaylist: Send + Sync {
    /// The playlist text; `skip` asks for a delta update where the playlist allows one.
    fn render(&self, skip: Skip) -> String;
    /// Where the playlist stands, for blocking reloads.
    fn progress(&self) -> Progress;
}

/// A published playlist with its answers rendered on first use.
pub struct Published {
    playlist: Arc<dyn LivePlaylist>,
    pub progress: Progress,
    full: OnceLock<Bytes>,
    delta: OnceLock<Bytes>,
    delta_v2: OnceLock<Bytes>,
}

impl Published {
    fn new(playlist: Arc<dyn LivePlaylist>) -> Self {
        Self {
            progress: playlist.progress(),
            playlist,
            full: OnceLock::new(),
            delta: OnceLock::new(),
            delta_v2: OnceLock::new(),
        }
    }

    /// The playlist's text for `skip`, rendered once.
    pub fn text(&self, skip: Skip) -> Bytes {
        let cell = match skip {
            Skip::No => &self.full,
            Skip::Segments => &self.delta,
            Skip::SegmentsAndDateRanges => &self.delta_v2,
        };
        cell.get_or_init(|| Bytes::from(self.playlist.render(skip)))
            .clone()
    }
}

/// An object's bytes: complete, or the pieces written so far.
#[derive(Debug, Clone, Default)]
pub struct Object {
    pub pieces: Vec<Bytes>,
    pub len: u64,
    pub complete: bool,
}

impl Object {
    /// The bytes `start..end` (clamped to what is there), without copying when they lie
    /// in one piece.
    pub fn slice(&self, start: u64, end: u64) -> Bytes {
        let end = end.min(self.len);
        if start >= end {
            return Bytes::new();
        }
        let mut out = Vec::new();
        let mut at = 0u64;
        for p in &self.pieces {
            let (from, to) = (at, at + p.len() as u64);
            at = to;
            if to <= start || from >= end {
                continue;
            }
            let a = (start.max(from) - from) as usize;
            let b = (end.min(to) - from) as usize;
            if from <= start && end <= to {
                return p.slice(a..b);
            }
            out.extend_from_slice(&p[a..b]);
        }
        Bytes::from(out)
    }

    /// Where the last complete piece ends: the bytes a reader may take so far.
    pub fn available(&self) -> u64 {
        self.len
    }
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Object>,
    playlist_name: Option<String>,
    playlist: Option<Arc<Published>>,
}

/// One rendition: the objects and the playlist under one URL prefix.
pub struct Rendition {
    state: Mutex<State>,
    version: watch::Sender<u64>,
    /// Whole-object requests for an object still being written are answered at once
    /// and streamed as it grows (DASH), instead of held until it is complete (LL-HLS).
    streaming: AtomicBool,
}

impl Default for Rendition {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            version: watch::Sender::new(0),
            streaming: AtomicBool::new(false),
        }
    }
}

/// What a lookup found.
pub enum Found {
    Playlist(Arc<Published>),
    Object(Object),
    Missing,
}

impl Rendition {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Streams growing objects to whole-object requests (chunked transfer) instead of
    /// holding the requests until the object is complete.
    pub fn set_streaming(&self, on: bool) {
        self.streaming.store(on, Ordering::Relaxed);
    }

    pub fn streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Publishes a complete object (a part, a segment, an init segment).
    pub fn put(&self, name: &str, bytes: Bytes) {
        let len = bytes.len() as u64;
        self.lock().objects.insert(
            name.to_string(),
            Object {
                pieces: vec![bytes],
                len,
                complete: true,
            },
        );
        self.changed();
    }

    /// Announces an object still being written (a hinted part, a growing segment):
    /// requests for it are held instead of answered `404`.
    pub fn begin(&self, name: &str) {
        self.lock().objects.entry(name.to_string()).or_default();
        self.changed();
    }

    /// Adds bytes to an object being written.
    pub fn append(&self, name: &str, bytes: Bytes) {
        {
            let mut s = self.lock();
            let o = s.objects.entry(name.to_string()).or_default();
            o.len += bytes.len() as u64;
            o.pieces.push(bytes);
        }
        self.changed();
    }

    /// Marks an object being written as complete.
    pub fn finish(&self, name: &str) {
        if let Some(o) = self.lock().objects.get_mut(name) {
            o.complete = true;
        }
        self.changed();
    }

    /// Forgets an object (it left the window).
    pub fn remove(&self, name: &str) {
        self.lock().objects.remove(name);
        self.changed();
    }

    /// Publishes the live playlist under `name`.
    pub fn set_playlist(&self, name: &str, playlist: Arc<dyn LivePlaylist>) {
        {
            let mut s = self.lock();
            s.playlist_name = Some(name.to_string());
            s.playlist = Some(Arc::new(Published::new(playlist)));
        }
        self.changed();
    }

    /// What `name` is now.
    pub fn find(&self, name: &str) -> Found {
        let s = self.lock();
        if s.playlist_name.as_deref() == Some(name)
            && let Some(p) = &s.playlist
        {
            return Found::Playlist(p.clone());
        }
        match s.objects.get(name) {
            Some(o) => Found::Object(o.clone()),
            None => Found::Missing,
        }
    }

    /// The playlist's name, once published.
    pub fn playlist_name(&self) -> Option<String> {
        self.lock().playlist_name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Fixed(u64);
    impl LivePlaylist for Fixed {
        fn render(&self, skip: Skip) -> String {
            format!("#EXTM3U {} {:?}", self.0, skip)
        }
        fn progress(&self) -> Progress {
            Progress {
                next_msn: self.0,
                parts_done: 0,
                parts_of: vec![],
                ended: false,
                target_duration: Duration::from_secs(1),
                part_target: None,
            }
        }
    }

    #[test]
    fn objects_grow_and_slice_across_pieces() {
        let r = Rendition::default();
        r.begin("seg.m4s");
        r.append("seg.m4s", Bytes::from_static(b"abcd"));
        r.append("seg.m4s", Bytes::from_static(b"efgh"));
        let Found::Object(o) = r.find("seg.m4s") else {
            panic!("object")
        };
        assert!(!o.complete);
        assert_eq!(o.available(), 8);
        assert_eq!(&o.slice(1, 3)[..], b"bc");
        assert_eq!(&o.slice(2, 6)[..], b"cdef");
        assert_eq!(&o.slice(6, 100)[..], b"gh");
        assert!(o.slice(9, 10).is_empty());
        r.finish("seg.m4s");
        assert!(matches!(r.find("seg.m4s"), Found::Object(o) if o.complete));
        r.remove("seg.m4s");
        assert!(matches!(r.find("seg.m4s"), Found::Missing));
    }

    #[test]
    fn every_change_bumps_the_version_and_playlists_render_once() {
        let r = Rendition::default();
        let rx = r.subscribe();
        r.set_playlist("p.m3u8", Arc::new(Fixed(3)));
        r.put("init.mp4", Bytes::from_static(b"i"));
        assert_eq!(*rx.borrow(), 2);
        let Found::Playlist(p) = r.find("p.m3u8") else {
            panic!("playlist")
        };
        assert_eq!(p.progress.next_msn, 3);
        assert_eq!(&p.text(Skip::No)[..], b"#EXTM3U 3 No");
        assert_eq!(&p.text(Skip::Segments)[..], b"#EXTM3U 3 Segments");
        assert_eq!(r.playlist_name().as_deref(), Some("p.m3u8"));
    }
}
