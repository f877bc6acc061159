//! Low-Latency HLS media playlists (RFC 8216bis: parts, preload hints, server control,
//! delta updates, rendition reports, program date time): pure text from plain values.
//!
//! Times are whole microseconds, so the parts of a segment sum to its `EXTINF` exactly as
//! written (each duration is rendered from its integer, never re-rounded).

use super::window::{Sequences, slide};
use std::collections::VecDeque;
use std::fmt::Write;
use std::time::Duration;

use crate::origin::{LivePlaylist, Progress, Skip};

/// A part of a segment (`EXT-X-PART`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub duration_us: u64,
    /// The part starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    pub uri: String,
    /// `(length, offset)` within `uri` (`BYTERANGE`), for parts of the segment file.
    pub byterange: Option<(u64, u64)>,
}

/// A media segment, complete or (the last one) still being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub uri: String,
    /// `EXTINF`: the sum of the parts when there are any.
    pub duration_us: u64,
    /// The init segment (`EXT-X-MAP`) it needs.
    pub map: String,
    /// A new init segment starts here (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    pub parts: Vec<Part>,
    /// `EXT-X-PROGRAM-DATE-TIME` of its first sample, ms since the Unix epoch (UTC).
    pub date_time_ms: Option<i64>,
}

impl Segment {
    pub fn new(uri: String, map: String, discontinuity: bool, date_time_ms: Option<i64>) -> Self {
        Self {
            uri,
            duration_us: 0,
            map,
            discontinuity,
            parts: Vec::new(),
            date_time_ms,
        }
    }

    /// Adds a part; the segment lasts as long as its parts.
    pub fn push_part(&mut self, part: Part) {
        self.duration_us += part.duration_us;
        self.parts.push(part);
    }
}

/// The next part a client may request before it exists (`EXT-X-PRELOAD-HINT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub uri: String,
    /// `BYTERANGE-START` when parts are ranges of the segment file.
    pub byterange_start: Option<u64>,
}

/// Where another rendition on the same server stands (`EXT-X-RENDITION-REPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u64>,
}

/// A live media playlist with parts (or without: `part_target_us` `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlPlaylist {
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration: u32,
    /// `PART-TARGET`, µs; `None`: no parts.
    pub part_target_us: Option<u64>,
    /// Complete segments listed at most (0: all).
    pub window: usize,
    /// Media and discontinuity sequence numbers of the first segment listed.
    seq: Sequences,
    segments: VecDeque<Segment>,
    /// The segment being written (only listed through its parts).
    current: Option<Segment>,
    pub hint: Option<Hint>,
    pub reports: Vec<Report>,
    ended: bool,
    /// Attributes of `EXT-X-KEY` (encrypted segments), written after each `EXT-X-MAP`.
    pub key: Option<String>,
}

/// Writes `us` microseconds as seconds with six decimals.
fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// An ISO 8601 UTC date and time with milliseconds, from ms since the Unix epoch.
pub fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

impl LlPlaylist {
    /// With `EXT-X-KEY` attributes written after each `EXT-X-MAP`.
    pub fn with_key(mut self, key: Option<String>) -> Self {
        self.key = key;
        self
    }

    pub fn new(target_duration: u32, part_target_us: Option<u64>, window: usize) -> Self {
        Self {
            target_duration: target_duration.max(1),
            part_target_us,
            window,
            seq: Sequences::default(),
            segments: VecDeque::new(),
            current: None,
            hint: None,
            reports: Vec::new(),
            ended: false,
            key: None,
        }
    }

    fn target_us(&self) -> u64 {
        u64::from(self.target_duration) * 1_000_000
    }

    /// Media sequence number of the segment being written (the next to complete).
    pub fn next_msn(&self) -> u64 {
        self.seq.media + self.segments.len() as u64
    }

    /// The segment being written.
    pub fn current(&self) -> Option<&Segment> {
        self.current.as_ref()
    }

    pub fn current_mut(&mut self) -> Option<&mut Segment> {
        self.current.as_mut()
    }

    /// Starts the next segment; the one being written is complete. Returns the segments
    /// that left the window.
    pub fn start(&mut self, segment: Segment) -> Vec<Segment> {
        let gone = self.complete();
        self.current = Some(segment);
        gone
    }

    /// The segment being written is complete (also at the end).
    fn complete(&mut self) -> Vec<Segment> {
        if let Some(done) = self.current.take() {
            self.segments.push_back(done);
        }
        slide(&mut self.segments, self.window, &mut self.seq, |s| {
            s.discontinuity
        })
    }

    /// The presentation is complete (`EXT-X-ENDLIST`, no hint).
    pub fn end(&mut self) -> Vec<Segment> {
        let gone = self.complete();
        self.hint = None;
        self.ended = true;
        gone
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// Index (in `segments`) of the first complete segment listed with its parts: the
    /// segments starting within the last three target durations (RFC 8216bis 4.4.4.9).
    fn first_with_parts(&self) -> usize {
        if self.part_target_us.is_none() {
            return self.segments.len();
        }
        let mut from_end = self.current.as_ref().map_or(0, |c| c.duration_us);
        let mut first = self.segments.len();
        for (i, s) in self.segments.iter().enumerate().rev() {
            from_end += s.duration_us;
            if from_end > 3 * self.target_us() {
                break;
            }
            first = i;
        }
        first
    }

    /// Complete segments a delta update leaves out: those ending more than
    /// `CAN-SKIP-UNTIL` (six target durations) before the playlist's end.
    fn skippable(&self) -> usize {
        let total: u64 = self.segments.iter().map(|s| s.duration_us).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.duration_us);
        let mut end = 0;
        let mut n = 0;
        for s in &self.segments {
            end += s.duration_us;
            if total - end < 6 * self.target_us() {
                break;
            }
            n += 1;
        }
        n
    }

    /// `EXT-X-SERVER-CONTROL` (the same for every rendition with the same targets).
    fn server_control(&self) -> String {
        let mut out = format!(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={}.0",
            6 * self.target_duration
        );
        if let Some(p) = self.part_target_us {
            let _ = write!(out, ",PART-HOLD-BACK={}", seconds(3 * p));
        }
        let _ = write!(out, ",HOLD-BACK={}.0", 3 * self.target_duration);
        out
    }

    fn write_part(out: &mut String, p: &Part) {
        let _ = write!(
            out,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            seconds(p.duration_us),
            p.uri
        );
        if let Some((len, offset)) = p.byterange {
            let _ = write!(out, ",BYTERANGE=\"{len}@{offset}\"");
        }
        if p.independent {
            out.push_str(",INDEPENDENT=YES");
        }
        out.push('\n');
    }

    /// The playlist text; `skip` other than [`Skip::No`] gives a delta update.
    pub fn render(&self, skip: Skip) -> String {
        let skipped = match skip {
            Skip::No => 0,
            _ if self.ended => 0,
            _ => self.skippable(),
        };
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:9\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(out, "{}", self.server_control());
        if let Some(p) = self.part_target_us {
            let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={}", seconds(p));
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.seq.media);
        if self.seq.discontinuity > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.seq.discontinuity
            );
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let with_parts = self.first_with_parts();
        let mut map: Option<&str> = None;
        for (i, s) in self.segments.iter().enumerate().skip(skipped) {
            if s.discontinuity && i > 0 {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.map.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.map);
                if let Some(k) = &self.key {
                    let _ = writeln!(out, "#EXT-X-KEY:{k}");
                }
                map = Some(&s.map);
            }
            if let Some(t) = s.date_time_ms {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(t));
            }
            if i >= with_parts {
                for p in &s.parts {
                    Self::write_part(&mut out, p);
                }
            }
            let _ = writeln!(out, "#EXTINF:{},\n{}", seconds(s.duration_us), s.uri);
        }
        if let Some(c) = &self.current {
            let listed = !self.segments.is_empty() || !c.parts.is_empty();
            if c.discontinuity && !self.segments.is_empty() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if listed && map != Some(c.map.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", c.map);
                if let Some(k) = &self.key {
                    let _ = writeln!(out, "#EXT-X-KEY:{k}");
                }
            }
            if let (Some(t), false) = (c.date_time_ms, c.parts.is_empty()) {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(t));
            }
            for p in &c.parts {
                Self::write_part(&mut out, p);
            }
        }
        if let Some(h) = &self.hint {
            let _ = write!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"", h.uri);
            if let Some(start) = h.byterange_start {
                let _ = write!(out, ",BYTERANGE-START={start}");
            }
            out.push('\n');
        }
        for r in &self.reports {
            let _ = write!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}",
                r.uri, r.last_msn
            );
            if let Some(p) = r.last_part {
                let _ = write!(out, ",LAST-PART={p}");
            }
            out.push('\n');
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// Where the playlist stands, for blocking reloads and rendition reports.
    pub fn progress(&self) -> Progress {
        let with_parts = self.first_with_parts();
        Progress {
            next_msn: self.next_msn(),
            parts_done: self.current.as_ref().map_or(0, |c| c.parts.len() as u64),
            parts_of: self
                .segments
                .iter()
                .enumerate()
                .skip(with_parts)
                .map(|(i, s)| (self.seq.media + i as u64, s.parts.len() as u64))
                .collect(),
            ended: self.ended,
            target_duration: Duration::from_secs(u64::from(self.target_duration)),
            part_target: self.part_target_us.map(Duration::from_micros),
        }
    }

    /// The last segment and part listed, as another rendition reports them.
    pub fn last(&self) -> (u64, Option<u64>) {
        match &self.current {
            Some(c) if !c.parts.is_empty() => (self.next_msn(), Some(c.parts.len() as u64 - 1)),
            _ => match self.segments.back() {
                Some(s) if self.part_target_us.is_some() && !s.parts.is_empty() => (
                    self.next_msn().saturating_sub(1),
                    Some(s.parts.len() as u64 - 1),
                ),
                _ => (self.next_msn().saturating_sub(1), None),
            },
        }
    }
}

/// An immutable snapshot, as the origin serves it.
impl LivePlaylist for LlPlaylist {
    fn render(&self, skip: Skip) -> String {
        LlPlaylist::render(self, skip)
    }

    fn progress(&self) -> Progress {
        LlPlaylist::progress(self)
    }
}

#[cfg(test)]
#[path = "ll_playlist_tests.rs"]
mod tests;
