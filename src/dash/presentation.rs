//! The DASH presentation being written: per track an init segment and media segments
//! (from one `fragmp4mux` per track), files in a directory and/or objects on the HTTP
//! origin, and the MPD rewritten as segments complete. No GStreamer here: the element
//! hands in bytes and the muxers' fragment facts.
//!
//! Times: each muxer has its own origin (DESIGN.md T1), the running time (ns) of its
//! decode time 0, and puts its output on running time + `max(-origin, 0)`. A segment's
//! earliest presentation time on the media timeline is therefore
//! `out - max(-origin, 0) - origin`, which the muxer computed as `floor(tick × 10⁹ /
//! timescale)`, so the tick comes back exactly. The Period starts at the latest origin
//! of all tracks; each track's `presentationTimeOffset` is its media time there.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::mpd::{
    Addressing, Entry, Kind, Live, LowLatency, Media, Mpd, Representation, ns_to_ticks,
    tick_of_floored_ns, ticks_to_ns,
};
use crate::origin::{Origin, Rendition};

/// Segments that left the window stay downloadable for this many more.
const KEEP_AFTER_WINDOW: usize = 3;

/// Where and how the presentation is written.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Directory of the files, or none (served only).
    pub dir: Option<PathBuf>,
    /// Name of the MPD.
    pub manifest: String,
    pub addressing: Addressing,
    /// `fragment-duration` (ns): the segment duration aimed at.
    pub fragment_ns: u64,
    /// `chunk-duration` (ns): low-latency chunks, 0 = none.
    pub chunk_ns: u64,
    /// Segments listed per track in the live MPD (0: all).
    pub window: u32,
    /// Segment files kept on disk per track (0: all).
    pub max_files: u32,
    /// `ContentProtection` when the muxers encrypt.
    pub protection: Option<super::mpd::Protection>,
    /// One file per track (`{id}.mp4`: init, `sidx`, fragments; the muxers index it),
    /// listed with `SegmentBase` in a static MPD.
    pub single_file: bool,
}

/// The origin rendition the presentation is served as.
pub struct Served {
    pub origin: Arc<Origin>,
    pub rendition: Arc<Rendition>,
    /// URL of the `/time` source for `UTCTiming`.
    pub time_url: String,
}

/// What one track is, from its caps.
#[derive(Debug, Clone)]
pub struct TrackInfo {
    pub id: String,
    pub codecs: String,
    pub media: Media,
    pub timescale: u32,
    /// (`schemeIdUri`, `value`) of the events its muxer writes as `emsg`.
    pub event_schemes: Vec<(String, String)>,
}

/// One of a muxer's `fragmp4mux-fragment` messages, times as it gives them (ns).
#[derive(Debug, Clone, Copy)]
pub struct ChunkFacts {
    pub keyframe_start: bool,
    pub earliest: Option<u64>,
    pub presentation_end: Option<u64>,
    /// The muxer's origin (running time, ns).
    pub origin: i64,
    /// Bytes of the chunk.
    pub size: u64,
}

struct Open {
    name: String,
    number: u64,
    t: u64,
    bytes: BytesMut,
    /// Bytes of the segment as the muxer counted them (single file: spilled, not here).
    size: u64,
}

#[derive(Clone)]
struct Listed {
    entry: Entry,
    name: String,
}

#[derive(Default)]
struct Track {
    info: Option<TrackInfo>,
    origin: Option<i64>,
    pending: BytesMut,
    open: Option<Open>,
    listed: VecDeque<Listed>,
    /// Every complete segment still available (on disk, else on the origin): what the
    /// static MPD at EOS lists, more than the live window when files outlive it.
    kept: VecDeque<Listed>,
    next_number: u64,
    /// Media time (ticks) of the presentation end so far.
    end: Option<u64>,
    /// Largest segment bit rate.
    bandwidth: u64,
    longest_ns: u64,
    on_disk: VecDeque<PathBuf>,
    gone: VecDeque<String>,
    finished: bool,
    /// Single file: its length so far, the init's length, and the `sidx` (offset,
    /// length) once the muxer wrote it (at EOS).
    single: Option<Single>,
}

struct Single {
    file: std::fs::File,
    len: u64,
    init_len: u64,
    index: Option<(u64, u64)>,
}

impl Track {
    /// The number of the first of `segments` (the listed window or the kept ones), the
    /// open segment counted after them; above 1 once earlier segments are gone.
    fn first_number(&self, segments: &VecDeque<Listed>) -> u64 {
        self.next_number - segments.len() as u64 - u64::from(self.open.is_some())
    }

    fn shift(&self) -> i64 {
        self.origin.map_or(0, |o| (-o).max(0))
    }

    /// The media tick of a time on the muxer's output timeline.
    fn tick(&self, out_ns: u64, timescale: u32) -> u64 {
        let origin = self.origin.unwrap_or(0);
        let media = i128::from(out_ns) - i128::from(self.shift()) - i128::from(origin);
        tick_of_floored_ns(media.max(0) as u64, timescale)
    }
}

/// The presentation.
pub struct Presentation {
    layout: Layout,
    served: Option<Served>,
    tracks: Vec<Track>,
    /// (running time ns, UTC ms) sampled once when playing started.
    clock: Option<(u64, i64)>,
    ended: bool,
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Presentation {
    pub fn new(layout: Layout, served: Option<Served>, tracks: usize) -> Self {
        Self {
            layout,
            served,
            tracks: (0..tracks)
                .map(|_| Track {
                    next_number: 1,
                    ..Default::default()
                })
                .collect(),
            clock: None,
            ended: false,
        }
    }

    /// A track added after the start (pads are requested before data flows).
    pub fn ensure_tracks(&mut self, n: usize) {
        while self.tracks.len() < n {
            self.tracks.push(Track {
                next_number: 1,
                ..Default::default()
            });
        }
    }

    /// The (running time ns, UTC ms) pairing in use, once sampled.
    pub fn clock(&self) -> Option<(u64, i64)> {
        self.clock
    }

    /// Pairs running time `running_ns` with UTC `utc_ms`, unless already paired.
    pub fn set_clock(&mut self, running_ns: u64, utc_ms: i64) {
        if self.clock.is_none() {
            self.clock = Some((running_ns, utc_ms));
        }
    }

    pub fn set_info(&mut self, track: usize, info: TrackInfo) {
        self.ensure_tracks(track + 1);
        self.tracks[track].info = Some(info);
    }

    /// A template MPD with the names; kind and representations are filled in later.
    fn names(&self) -> Mpd {
        Mpd {
            kind: Kind::Static,
            addressing: self.layout.addressing,
            initialization: "$RepresentationID$-init.mp4".into(),
            media_prefix: "$RepresentationID$-".into(),
            media_suffix: ".m4s".into(),
            min_buffer_ns: self.layout.fragment_ns,
            max_segment_ns: self.layout.fragment_ns,
            representations: Vec::new(),
            protection: self.layout.protection.clone(),
        }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.layout.dir.as_ref().map(|d| d.join(name))
    }

    /// The init segment of `track`. A second one (a format change) replaces the first:
    /// DASH has no discontinuity within a Representation short of a new Period.
    pub fn init(&mut self, track: usize, bytes: Bytes) -> io::Result<()> {
        self.ensure_tracks(track + 1);
        let Some(id) = self.tracks[track].info.as_ref().map(|i| i.id.clone()) else {
            return Err(io::Error::other("an init segment for a track without caps"));
        };
        if self.layout.single_file {
            let path = self
                .path(&format!("{id}.mp4"))
                .ok_or_else(|| io::Error::other("single-file needs a location"))?;
            if self.tracks[track].single.is_some() {
                return Err(io::Error::other(
                    "a format change: single-file cannot hold a second init segment",
                ));
            }
            let mut file = std::fs::File::create(path)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            self.tracks[track].single = Some(Single {
                file,
                len: bytes.len() as u64,
                init_len: bytes.len() as u64,
                index: None,
            });
            return Ok(());
        }
        let name = self.names().init_name(&id);
        if let Some(p) = self.path(&name) {
            write_atomically(&p, &bytes)?;
        }
        if let Some(s) = &self.served {
            s.rendition.put(&name, bytes);
        }
        Ok(())
    }

    /// Single file: bytes the muxer pushed at EOS, its `sidx` first, then every fragment.
    pub fn indexed(&mut self, track: usize, bytes: &[u8]) -> io::Result<()> {
        self.ensure_tracks(track + 1);
        let Some(f) = self.tracks[track].single.as_mut() else {
            return Err(io::Error::other("indexed bytes before the init segment"));
        };
        if f.index.is_none() {
            f.index = Some((f.len, bytes.len() as u64));
        }
        std::io::Write::write_all(&mut f.file, bytes)?;
        f.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes of the chunk `track`'s muxer is pushing.
    pub fn append(&mut self, track: usize, bytes: &[u8]) {
        self.ensure_tracks(track + 1);
        self.tracks[track].pending.extend_from_slice(bytes);
    }

    /// The muxer's facts about the chunk just received: a fragment start opens a
    /// segment and completes the one before.
    pub fn chunk(&mut self, track: usize, facts: ChunkFacts) -> io::Result<()> {
        self.ensure_tracks(track + 1);
        let Some(ts) = self.tracks[track].info.as_ref().map(|i| i.timescale) else {
            return Err(io::Error::other("media for a track without caps"));
        };
        let t = &mut self.tracks[track];
        t.origin.get_or_insert(facts.origin);
        let bytes = std::mem::take(&mut t.pending).freeze();
        if let Some(end) = facts.presentation_end {
            let tick = t.tick(end, ts);
            t.end = Some(t.end.map_or(tick, |e| e.max(tick)));
        }
        let mut changed = false;
        if facts.keyframe_start || t.open.is_none() {
            let start = match (facts.earliest, &t.open) {
                (Some(e), _) => t.tick(e, ts),
                (None, Some(o)) => o.t,
                (None, None) => 0,
            };
            // Low-latency MPDs list the segment being written: a new one changes them.
            changed = self.close(track, Some(start))? || self.layout.chunk_ns > 0;
            self.open(track, start);
        }
        let t = &mut self.tracks[track];
        if let Some(o) = t.open.as_mut() {
            o.size += facts.size;
            o.bytes.extend_from_slice(&bytes);
            if let Some(s) = &self.served {
                s.rendition.append(&o.name, bytes);
            }
        }
        if changed {
            self.publish()?;
        }
        Ok(())
    }

    fn open(&mut self, track: usize, t: u64) {
        let names = self.names();
        let tr = &mut self.tracks[track];
        let id = tr.info.as_ref().map_or(String::new(), |i| i.id.clone());
        let number = tr.next_number;
        tr.next_number += 1;
        let name = names.segment_name(&id, number, t);
        if let Some(s) = &self.served {
            s.rendition.begin(&name);
        }
        tr.open = Some(Open {
            name,
            number,
            t,
            bytes: BytesMut::new(),
            size: 0,
        });
    }

    /// Completes the open segment of `track`, ending at `end` (ticks; none: the
    /// presentation end). Returns whether a segment was listed.
    fn close(&mut self, track: usize, end: Option<u64>) -> io::Result<bool> {
        let ts = self.tracks[track].info.as_ref().map_or(1, |i| i.timescale);
        let Some(open) = self.tracks[track].open.take() else {
            return Ok(false);
        };
        let path = if self.layout.single_file {
            None
        } else {
            self.path(&open.name)
        };
        if let Some(p) = &path {
            write_atomically(p, &open.bytes)?;
        }
        if let Some(s) = &self.served {
            s.rendition.finish(&open.name);
        }
        let t = &mut self.tracks[track];
        let end = end.or(t.end).unwrap_or(open.t).max(open.t);
        let d = (end - open.t).max(1);
        let ns = ticks_to_ns(d, ts).max(1);
        t.longest_ns = t.longest_ns.max(ns);
        // A short segment (the last) counts as a nominal one: with minBufferTime of a
        // segment, its bits arrive in time at this rate.
        let span = ns.max(self.layout.fragment_ns).max(1);
        let size = open.size.max(open.bytes.len() as u64);
        let rate = (size as u128 * 8 * 1_000_000_000 / u128::from(span)) as u64;
        t.bandwidth = t.bandwidth.max(rate);
        let _ = open.number;
        let listed = Listed {
            entry: Entry { t: open.t, d },
            name: open.name,
        };
        t.kept.push_back(listed.clone());
        t.listed.push_back(listed);
        // Files on disk stay until max-files; served only, until the origin drops them.
        let kept = match (&path, self.layout.max_files, self.layout.window) {
            (Some(_), 0, _) | (None, _, 0) => usize::MAX,
            (Some(_), m, _) => m as usize,
            (None, _, w) => w as usize + KEEP_AFTER_WINDOW,
        };
        while t.kept.len() > kept {
            t.kept.pop_front();
        }
        let window = self.layout.window as usize;
        while window > 0 && t.listed.len() > window {
            if let Some(old) = t.listed.pop_front() {
                t.gone.push_back(old.name);
            }
        }
        while t.gone.len() > KEEP_AFTER_WINDOW {
            if let (Some(old), Some(s)) = (t.gone.pop_front(), &self.served) {
                s.rendition.remove(&old);
            }
        }
        if let Some(p) = path {
            t.on_disk.push_back(p);
            while self.layout.max_files > 0 && t.on_disk.len() > self.layout.max_files as usize {
                if let Some(old) = t.on_disk.pop_front() {
                    let _ = std::fs::remove_file(old);
                }
            }
        }
        Ok(true)
    }

    /// `track` reached EOS: its last segment ends at its presentation end. Once every
    /// track has, the MPD becomes static.
    pub fn finish_track(&mut self, track: usize) -> io::Result<()> {
        self.ensure_tracks(track + 1);
        self.close(track, None)?;
        self.tracks[track].finished = true;
        if self.tracks.iter().all(|t| t.finished || t.info.is_none()) {
            self.ended = true;
        }
        self.publish()
    }

    /// Whether every track has ended and the static MPD is written.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The Period start: the latest origin (running ns) of the audio and video tracks,
    /// once every track has one. Text tracks start at running time 0, before the media
    /// (their `presentationTimeOffset` skips the difference); they decide only alone.
    fn period_start(&self) -> Option<i64> {
        let mut start: Option<i64> = None;
        let mut text: Option<i64> = None;
        for t in self.tracks.iter() {
            let Some(info) = &t.info else { continue };
            let o = t.origin?;
            let slot = if matches!(info.media, Media::Text { .. }) {
                &mut text
            } else {
                &mut start
            };
            *slot = Some(slot.map_or(o, |s| s.max(o)));
        }
        start.or(text)
    }

    /// The latest running time (ns) at which a track's first kept segment starts, once
    /// some track has lost its earliest segments (before that, the Period start stands: a
    /// track whose media begins a little after the origin does not move it).
    fn kept_start(&self) -> Option<i64> {
        if !self.tracks.iter().any(|t| t.first_number(&t.kept) > 1) {
            return None;
        }
        self.tracks
            .iter()
            .filter_map(|t| {
                let ts = t.info.as_ref()?.timescale;
                let first = t.kept.front()?.entry.t;
                Some(t.origin? + ticks_to_ns(first, ts) as i64)
            })
            .max()
    }

    /// The MPD as it stands, once every track has started.
    pub fn mpd(&self) -> Option<Mpd> {
        let start = self.period_start()?;
        if !self.ended
            && self.tracks.iter().any(|t| {
                t.info.is_some()
                    && t.listed.is_empty()
                    && (self.layout.chunk_ns == 0 || t.open.is_none())
            })
        {
            // A SegmentTimeline lists at least one segment.
            return None;
        }
        let mut mpd = self.names();
        // Static (after EOS): every segment still available, the Period starting where
        // all tracks have one (earlier ones aged out).
        let start = if self.ended {
            start.max(self.kept_start().unwrap_or(start))
        } else {
            start
        };
        for t in &self.tracks {
            let Some(info) = &t.info else { continue };
            let origin = t.origin.unwrap_or(start);
            let segments = if self.ended { &t.kept } else { &t.listed };
            let pto = ns_to_ticks((start - origin).max(0) as u64, info.timescale);
            mpd.max_segment_ns = mpd.max_segment_ns.max(t.longest_ns);
            mpd.representations.push(Representation {
                id: info.id.clone(),
                codecs: info.codecs.clone(),
                bandwidth: t.bandwidth,
                media: info.media.clone(),
                timescale: info.timescale,
                presentation_time_offset: pto,
                start_number: t.first_number(segments),
                segments: segments
                    .iter()
                    .map(|l| l.entry)
                    .chain(self.announced(t, info.timescale))
                    .collect(),
                end: if t.finished { t.end } else { None },
                event_schemes: info.event_schemes.clone(),
                single_file: t.single.as_ref().map(|f| super::mpd::SingleFile {
                    url: format!("{}.mp4", info.id),
                    init_len: f.init_len,
                    index: f.index.unwrap_or((f.init_len, 0)),
                }),
            });
        }
        if !self.ended {
            mpd.kind = Kind::Dynamic(self.live(start, &mpd));
        }
        Some(mpd)
    }

    /// Low-latency: the segment being written is listed too, with the duration of the
    /// one before (or the nominal one), so players fetch it as it grows (its chunks are
    /// available `availabilityTimeOffset` before its end); its real duration replaces
    /// this once it is complete.
    fn announced(&self, t: &Track, timescale: u32) -> Option<Entry> {
        if self.layout.chunk_ns == 0 || self.ended {
            return None;
        }
        let open = t.open.as_ref()?;
        let d = t.listed.back().map_or_else(
            || ns_to_ticks(self.layout.fragment_ns, timescale),
            |l| l.entry.d,
        );
        Some(Entry { t: open.t, d })
    }

    fn live(&self, start: i64, mpd: &Mpd) -> Live {
        let (at, utc) = self.clock.unwrap_or((0, now_ms()));
        let availability_start_ms = utc + (start - at as i64).div_euclid(1_000_000);
        let window = (self.layout.window > 0).then(|| {
            mpd.representations
                .iter()
                .map(|r| {
                    r.segments
                        .iter()
                        .map(|e| ticks_to_ns(e.d, r.timescale))
                        .sum()
                })
                .max()
                .unwrap_or(0)
        });
        let fragment = self.layout.fragment_ns.max(1);
        let low_latency = (self.layout.chunk_ns > 0).then(|| LowLatency {
            availability_time_offset_ns: fragment.saturating_sub(self.layout.chunk_ns),
            target_latency_ms: (3 * self.layout.chunk_ns / 1_000_000).max(500),
            reference: Some((availability_start_ms, 0)),
        });
        Live {
            availability_start_ms,
            publish_ms: now_ms(),
            // Segments are listed once complete: an MPD fetched twice a segment finds them
            // soon, and players holding four segments back have them in time.
            minimum_update_period_ns: (fragment / 2).max(1),
            time_shift_buffer_ns: window,
            suggested_presentation_delay_ns: if low_latency.is_some() {
                fragment
            } else {
                4 * fragment
            },
            utc_timing_url: self.served.as_ref().map(|s| s.time_url.clone()),
            low_latency,
        }
    }

    /// Writes and serves the MPD as it stands.
    fn publish(&mut self) -> io::Result<()> {
        let Some(mpd) = self.mpd() else {
            return Ok(());
        };
        let text = mpd.render();
        if let Some(p) = self.path(&self.layout.manifest) {
            write_atomically(&p, text.as_bytes())?;
        }
        if let Some(s) = &self.served {
            s.rendition.put(&self.layout.manifest, Bytes::from(text));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// 1 s fragments, whole segments, `$Number$` addressing, into `dir` (None: served
    /// only), with a live window of `window` segments and `max_files` kept on disk.
    fn layout(dir: Option<std::path::PathBuf>, window: u32, max_files: u32) -> Layout {
        Layout {
            dir,
            manifest: "manifest.mpd".into(),
            addressing: Addressing::Number,
            fragment_ns: 1000 * MS,
            chunk_ns: 0,
            window,
            max_files,
            protection: None,
            single_file: false,
        }
    }

    /// `count` whole 1 s segments of track 0 from media time 0, each completed.
    fn one_second_segments(p: &mut Presentation, count: u64) {
        for k in 0..count {
            p.append(0, b"x");
            p.chunk(
                0,
                ChunkFacts {
                    keyframe_start: true,
                    earliest: Some(k * 1000 * MS),
                    presentation_end: Some((k + 1) * 1000 * MS),
                    origin: 0,
                    size: 1,
                },
            )
            .unwrap();
        }
    }

    fn info(id: &str, timescale: u32, video: bool) -> TrackInfo {
        TrackInfo {
            id: id.into(),
            codecs: if video { "avc1.64001f" } else { "mp4a.40.2" }.into(),
            media: if video {
                Media::Video {
                    width: Some(320),
                    height: Some(240),
                    frame_rate: Some((30, 1)),
                }
            } else {
                Media::Audio {
                    rate: Some(48000),
                    channels: Some(2),
                }
            },
            timescale,
            event_schemes: Vec::new(),
        }
    }

    #[test]
    fn segments_list_their_earliest_presentation_time_and_tracks_share_the_period() {
        let dir = std::env::temp_dir().join(format!("fragmp4-dash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Presentation::new(layout(Some(dir.clone()), 0, 0), None, 2);
        p.set_info(0, info("video_0", 90000, true));
        p.set_info(1, info("audio_1", 48000, false));
        p.init(0, Bytes::from_static(b"vinit")).unwrap();
        p.init(1, Bytes::from_static(b"ainit")).unwrap();
        // Video: origin -66.666666 ms (x264enc's first DTS), so its output is shifted by
        // that; first frame presented at output 66.666666 ms = tick 6000.
        let v = |k: bool, e: u64, end: u64| ChunkFacts {
            keyframe_start: k,
            earliest: Some(e),
            presentation_end: Some(end),
            origin: -66_666_666,
            size: 2,
        };
        p.append(0, b"v0");
        p.chunk(0, v(true, 66_666_666, 1_000_000_000)).unwrap();
        // Audio: origin 0, 1024-sample frames.
        let a = |e: u64, end: u64| ChunkFacts {
            keyframe_start: true,
            earliest: Some(e),
            presentation_end: Some(end),
            origin: 0,
            size: 2,
        };
        p.append(1, b"a0");
        p.chunk(1, a(0, 1_002_666_666)).unwrap();
        p.append(0, b"v1");
        p.chunk(0, v(true, 1_066_666_666, 1_600_000_000)).unwrap();
        p.append(1, b"a1");
        p.chunk(1, a(1_002_666_666, 1_536_000_000)).unwrap();
        let live = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
        assert!(live.contains("type=\"dynamic\""), "{live}");
        assert!(live.contains("<S t=\"0\" d=\"48128\"/>"), "{live}");
        p.finish_track(0).unwrap();
        assert!(!p.ended());
        p.finish_track(1).unwrap();
        assert!(p.ended());
        let mpd = p.mpd().unwrap();
        let (vr, ar) = (&mpd.representations[0], &mpd.representations[1]);
        assert_eq!(vr.presentation_time_offset, 6000);
        assert_eq!(ar.presentation_time_offset, 0);
        let entries =
            |r: &Representation| r.segments.iter().map(|e| (e.t, e.d)).collect::<Vec<_>>();
        assert_eq!(entries(vr), [(6000, 90000), (96000, 48000)]);
        assert_eq!(entries(ar), [(0, 48128), (48128, 25600)]);
        assert_eq!(mpd.duration_ns(), 1_536_000_000);
        let text = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
        assert!(text.contains("type=\"static\""));
        assert_eq!(std::fs::read(dir.join("video_0-00002.m4s")).unwrap(), b"v1");
        assert_eq!(
            std::fs::read(dir.join("audio_1-init.mp4")).unwrap(),
            b"ainit"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_text_track_does_not_move_the_period_start() {
        let dir = std::env::temp_dir().join(format!("fragmp4-dash-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Presentation::new(layout(Some(dir.clone()), 0, 0), None, 2);
        p.set_info(0, info("video_0", 90000, true));
        p.set_info(
            1,
            TrackInfo {
                id: "subtitle_1".into(),
                codecs: "wvtt".into(),
                media: Media::Text {
                    lang: Some("de".into()),
                },
                timescale: 1000,
                event_schemes: Vec::new(),
            },
        );
        p.init(0, Bytes::from_static(b"vinit")).unwrap();
        p.init(1, Bytes::from_static(b"tinit")).unwrap();
        // Video from running time 500 ms (origin), text tiled from 0.
        p.append(0, b"v0");
        p.chunk(
            0,
            ChunkFacts {
                keyframe_start: true,
                earliest: Some(0),
                presentation_end: Some(1000 * MS),
                origin: 500 * MS as i64,
                size: 2,
            },
        )
        .unwrap();
        p.append(1, b"t0");
        p.chunk(
            1,
            ChunkFacts {
                keyframe_start: true,
                earliest: Some(0),
                presentation_end: Some(1500 * MS),
                origin: 0,
                size: 2,
            },
        )
        .unwrap();
        p.finish_track(0).unwrap();
        p.finish_track(1).unwrap();
        let mpd = p.mpd().unwrap();
        // Period 0 = the video's origin; the text's media time there is 500 ms.
        assert_eq!(mpd.representations[0].presentation_time_offset, 0);
        assert_eq!(mpd.representations[1].presentation_time_offset, 500);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_window_slides_and_numbers_follow() {
        let mut p = Presentation::new(layout(None, 2, 0), None, 1);
        p.set_info(0, info("audio_0", 1000, false));
        one_second_segments(&mut p, 5);
        let mpd = p.mpd().unwrap();
        let r = &mpd.representations[0];
        // Segments 1..4 complete, 5 open: 3 and 4 listed.
        assert_eq!(r.start_number, 3);
        assert_eq!(r.segments.front().unwrap().t, 2000);
        let Kind::Dynamic(live) = &mpd.kind else {
            panic!("live")
        };
        assert_eq!(live.time_shift_buffer_ns, Some(2000 * MS));
        // EOS: the static MPD lists what the origin still serves (the window and three
        // more), its Period starting at the first of them.
        p.finish_track(0).unwrap();
        let mpd = p.mpd().unwrap();
        assert!(matches!(mpd.kind, Kind::Static));
        let r = &mpd.representations[0];
        assert_eq!(r.start_number, 1);
        assert_eq!(r.presentation_time_offset, 0);
        assert_eq!(r.segments.len(), 5);
        assert_eq!(mpd.duration_ns(), 5000 * MS);
    }

    #[test]
    fn a_static_mpd_after_a_window_lists_the_files_still_on_disk() {
        let dir = std::env::temp_dir().join(format!("fragmp4-dash-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Presentation::new(layout(Some(dir.clone()), 2, 3), None, 1);
        p.set_info(0, info("audio_0", 1000, false));
        p.init(0, Bytes::from_static(b"init")).unwrap();
        one_second_segments(&mut p, 6);
        p.finish_track(0).unwrap();
        let mpd = p.mpd().unwrap();
        let r = &mpd.representations[0];
        // Segments 4, 5, 6 remain: listed from number 4, the Period starting at 3 s.
        assert_eq!(r.start_number, 4);
        let ts: Vec<u64> = r.segments.iter().map(|e| e.t).collect();
        assert_eq!(ts, [3000, 4000, 5000]);
        assert_eq!(r.presentation_time_offset, 3000);
        assert_eq!(mpd.duration_ns(), 3000 * MS);
        for n in 1..=6 {
            let on_disk = dir.join(format!("audio_0-{n:05}.m4s")).exists();
            assert_eq!(on_disk, n >= 4, "segment {n}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
