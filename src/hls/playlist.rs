//! HLS media and multivariant playlists (RFC 8216) for fMP4 segments: pure text.

use std::collections::VecDeque;
use std::fmt::Write;

/// One media segment in the playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    /// Real duration in seconds (not the nominal one).
    pub duration: f64,
    /// The init segment (`EXT-X-MAP`) this segment needs.
    pub map: String,
    /// A new init segment starts here (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
}

/// A media playlist with an optional sliding window.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// Configured target duration in seconds; raised if a segment rounds above it.
    pub target_duration: u32,
    /// Segments listed at most (0: all, for VOD/event playlists).
    pub window: usize,
    segments: VecDeque<Segment>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    ended: bool,
}

impl MediaPlaylist {
    pub fn new(target_duration: u32, window: usize) -> Self {
        Self {
            target_duration: target_duration.max(1),
            window,
            segments: VecDeque::new(),
            media_sequence: 0,
            discontinuity_sequence: 0,
            ended: false,
        }
    }

    /// Adds a segment; returns the segments that left the window.
    pub fn push(&mut self, segment: Segment) -> Vec<Segment> {
        self.segments.push_back(segment);
        let mut gone = Vec::new();
        while self.window > 0 && self.segments.len() > self.window {
            if let Some(s) = self.segments.pop_front() {
                self.media_sequence += 1;
                if self.segments.front().is_some_and(|n| n.discontinuity) {
                    self.discontinuity_sequence += 1;
                }
                gone.push(s);
            }
        }
        gone
    }

    /// Marks the presentation complete (`EXT-X-ENDLIST`).
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// `EXT-X-TARGETDURATION`: never below a segment's rounded `EXTINF` (RFC 8216 4.3.3.1).
    pub fn target(&self) -> u32 {
        self.segments
            .iter()
            .map(|s| s.duration.round() as u32)
            .max()
            .unwrap_or(0)
            .max(self.target_duration)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:7");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target());
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        if self.ended && self.window == 0 {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
        }
        let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
        let mut map: Option<&str> = None;
        for (i, s) in self.segments.iter().enumerate() {
            if s.discontinuity && i > 0 {
                let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
            }
            if map != Some(s.map.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.map);
                map = Some(&s.map);
            }
            let _ = writeln!(out, "#EXTINF:{:.6},", s.duration);
            let _ = writeln!(out, "{}", s.uri);
        }
        if self.ended {
            let _ = writeln!(out, "#EXT-X-ENDLIST");
        }
        out
    }
}

/// A multivariant playlist with one variant.
pub fn multivariant(
    uri: &str,
    codecs: &str,
    bandwidth: u64,
    resolution: Option<(u32, u32)>,
) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = write!(
        out,
        "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{codecs}\""
    );
    if let Some((w, h)) = resolution {
        let _ = write!(out, ",RESOLUTION={w}x{h}");
    }
    let _ = writeln!(out, "\n{uri}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u32, duration: f64, map: &str, discontinuity: bool) -> Segment {
        Segment {
            uri: format!("segment{n:05}.m4s"),
            duration,
            map: map.into(),
            discontinuity,
        }
    }

    #[test]
    fn vod_playlist_lists_every_segment_and_ends() {
        let mut p = MediaPlaylist::new(2, 0);
        p.push(seg(0, 2.0, "init0.mp4", false));
        p.push(seg(1, 2.533, "init0.mp4", false));
        p.end();
        let text = p.render();
        assert!(text.starts_with("#EXTM3U\n"));
        // 2.533 rounds to 3: the target duration follows.
        assert!(text.contains("#EXT-X-TARGETDURATION:3\n"));
        assert!(text.contains("#EXTINF:2.533000,\nsegment00001.m4s\n"));
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init0.mp4\"").count(), 1);
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
    }

    #[test]
    fn sliding_window_counts_media_and_discontinuity_sequences() {
        let mut p = MediaPlaylist::new(2, 2);
        assert!(p.push(seg(0, 2.0, "init0.mp4", false)).is_empty());
        p.push(seg(1, 2.0, "init0.mp4", false));
        let gone = p.push(seg(2, 2.0, "init1.mp4", true));
        assert_eq!(gone.len(), 1);
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
        assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\""));
        p.push(seg(3, 2.0, "init1.mp4", false));
        let text = p.render();
        // The segment after the discontinuity is now first: the discontinuity left.
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn multivariant_names_the_codecs() {
        let m = multivariant(
            "media.m3u8",
            "avc1.64001f,mp4a.40.2",
            800_000,
            Some((640, 360)),
        );
        assert!(m.contains("CODECS=\"avc1.64001f,mp4a.40.2\""));
        assert!(m.contains("RESOLUTION=640x360"));
        assert!(m.ends_with("media.m3u8\n"));
    }
}
