//! HLS media and multivariant playlists (RFC 8216) for fMP4 segments: pure text.

use super::window::{Sequences, slide};
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
    /// `EXT-X-PROGRAM-DATE-TIME` of its start, ms since the Unix epoch (UTC).
    pub date_time_ms: Option<i64>,
    /// Single-file presentations: (length, offset) of the segment in `uri`
    /// (`EXT-X-BYTERANGE`), and of its init segment in `map`.
    pub byterange: Option<(u64, u64)>,
    pub map_byterange: Option<(u64, u64)>,
}

/// A segment duration as RFC 8216 4.3.3.1 compares it with the target: rounded to the
/// nearest second.
pub fn rounded(duration: f64) -> u32 {
    duration.round().max(0.0) as u32
}

/// A media playlist with an optional sliding window.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// Configured target duration in seconds.
    pub target_duration: u32,
    /// `EXT-X-TARGETDURATION` once the first playlist was rendered: it never changes
    /// afterwards (RFC 8216 6.2.1).
    fixed_target: Option<u32>,
    /// Segments listed at most (0: all, for VOD/event playlists).
    pub window: usize,
    segments: VecDeque<Segment>,
    /// Media and discontinuity sequence numbers of the first segment listed.
    seq: Sequences,
    ended: bool,
    /// Attributes of `EXT-X-KEY` (encrypted segments), written after each `EXT-X-MAP`.
    pub key: Option<String>,
    /// `EXT-X-DATERANGE` attribute lists, written before the segments.
    pub date_ranges: Vec<String>,
    /// Lines written right before a segment's `EXTINF` (`EXT-X-CUE-OUT`/`-IN`), by the
    /// segment's number since the first one pushed (0).
    pub cue_tags: Vec<(usize, String)>,
    /// Segments that left the window so far.
    slid_out: usize,
}

impl MediaPlaylist {
    /// With `EXT-X-KEY` attributes written after each `EXT-X-MAP`.
    pub fn with_key(mut self, key: Option<String>) -> Self {
        self.key = key;
        self
    }

    pub fn new(target_duration: u32, window: usize) -> Self {
        Self {
            target_duration: target_duration.max(1),
            fixed_target: None,
            window,
            segments: VecDeque::new(),
            seq: Sequences::default(),
            ended: false,
            key: None,
            date_ranges: Vec::new(),
            cue_tags: Vec::new(),
            slid_out: 0,
        }
    }

    /// Adds a segment; returns the segments that left the window.
    pub fn push(&mut self, segment: Segment) -> Vec<Segment> {
        self.segments.push_back(segment);
        let gone = slide(&mut self.segments, self.window, &mut self.seq, |s| {
            s.discontinuity
        });
        self.slid_out += gone.len();
        gone
    }

    /// Marks the presentation complete (`EXT-X-ENDLIST`).
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// `EXT-X-TARGETDURATION`: the configured value, or more if a segment listed before
    /// the first playlist was rendered rounds above it (the stream cannot meet it); fixed
    /// from the first rendering on.
    pub fn target(&self) -> u32 {
        self.fixed_target.unwrap_or_else(|| {
            self.segments
                .iter()
                .map(|s| rounded(s.duration))
                .max()
                .unwrap_or(0)
                .max(self.target_duration)
        })
    }

    /// True when a segment of `duration` seconds would round above the target already
    /// fixed: a playlist listing it breaks RFC 8216 4.3.3.1 (the target cannot follow).
    pub fn exceeds_target(&self, duration: f64) -> bool {
        self.fixed_target.is_some_and(|t| rounded(duration) > t)
    }

    /// The playlist text; the first call fixes the target duration.
    pub fn render(&mut self) -> String {
        let target = self.target();
        self.fixed_target = Some(target);
        let mut out = String::new();
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:7");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.seq.media);
        if self.seq.discontinuity > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.seq.discontinuity
            );
        }
        if self.ended && self.window == 0 {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
        }
        let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
        for d in &self.date_ranges {
            let _ = writeln!(out, "#EXT-X-DATERANGE:{d}");
        }
        let mut map: Option<(&str, Option<(u64, u64)>)> = None;
        for (i, s) in self.segments.iter().enumerate() {
            if s.discontinuity && i > 0 {
                let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
            }
            if map != Some((s.map.as_str(), s.map_byterange)) {
                match s.map_byterange {
                    Some((len, at)) => {
                        let _ =
                            writeln!(out, "#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{len}@{at}\"", s.map);
                    }
                    None => {
                        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.map);
                    }
                }
                if let Some(k) = &self.key {
                    let _ = writeln!(out, "#EXT-X-KEY:{k}");
                }
                map = Some((&s.map, s.map_byterange));
            }
            if let Some(t) = s.date_time_ms {
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    super::ll_playlist::iso8601(t)
                );
            }
            let number = self.slid_out + i;
            for (_, line) in self.cue_tags.iter().filter(|(n, _)| *n == number) {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "#EXTINF:{:.6},", s.duration);
            if let Some((len, at)) = s.byterange {
                let _ = writeln!(out, "#EXT-X-BYTERANGE:{len}@{at}");
            }
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
            date_time_ms: Some(1_000 * i64::from(n)),
            byterange: None,
            map_byterange: None,
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
        assert!(text.contains(
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:01.000Z\n#EXTINF:2.533000,\nsegment00001.m4s\n"
        ));
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init0.mp4\"").count(), 1);
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
    }

    #[test]
    fn cue_tags_go_right_before_their_segments_extinf() {
        let mut p = MediaPlaylist::new(2, 2);
        for n in 0..3 {
            p.push(seg(n, 2.0, "init0.mp4", false));
        }
        p.cue_tags = vec![
            (0, "#EXT-X-CUE-OUT:DURATION=30.000".into()),
            (2, "#EXT-X-CUE-IN".into()),
        ];
        let text = p.render();
        // Segment 0 left the window, and its tag with it.
        assert!(!text.contains("CUE-OUT"), "{text}");
        assert!(text.contains(
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:02.000Z\n#EXT-X-CUE-IN\n#EXTINF:2.000000,\nsegment00002.m4s\n"
        ), "{text}");
        assert_eq!(text.matches("CUE-IN").count(), 1);
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
    fn the_target_duration_never_changes_once_written() {
        let mut p = MediaPlaylist::new(1, 3);
        p.push(seg(0, 1.0, "init0.mp4", false));
        assert!(p.render().contains("#EXT-X-TARGETDURATION:1\n"));
        // A longer segment later cannot raise it (RFC 8216 6.2.1); it is reported.
        assert!(p.exceeds_target(1.6));
        assert!(!p.exceeds_target(1.49));
        p.push(seg(1, 1.6, "init0.mp4", false));
        for n in 2..6 {
            p.push(seg(n, 1.0, "init0.mp4", false));
            assert!(p.render().contains("#EXT-X-TARGETDURATION:1\n"));
        }
    }

    #[test]
    fn a_first_segment_longer_than_the_target_sets_it_for_good() {
        // The encoder did not honour the keyframe requests: 2.5 s GOPs with target 1.
        let mut p = MediaPlaylist::new(1, 2);
        p.push(seg(0, 2.5, "init0.mp4", false));
        assert!(p.render().contains("#EXT-X-TARGETDURATION:3\n"));
        for n in 1..4 {
            p.push(seg(n, 1.0, "init0.mp4", false));
            // The long segment left the window; the target stays.
            assert!(p.render().contains("#EXT-X-TARGETDURATION:3\n"));
        }
        assert!(!p.exceeds_target(2.5));
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

#[cfg(test)]
mod byterange_tests {
    use super::*;

    #[test]
    fn single_file_segments_are_byte_ranges_of_one_file() {
        let mut p = MediaPlaylist::new(2, 0);
        for (n, at) in [(0u64, 800u64), (1, 5800)] {
            p.push(Segment {
                uri: "all.mp4".into(),
                duration: 2.0,
                map: "all.mp4".into(),
                discontinuity: false,
                date_time_ms: None,
                byterange: Some((5000, at)),
                map_byterange: Some((800, 0)),
            });
            let _ = n;
        }
        p.end();
        let text = p.render();
        assert_eq!(
            text.matches("#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"800@0\"")
                .count(),
            1
        );
        assert!(text.contains("#EXT-X-BYTERANGE:5000@800\nall.mp4\n"));
        assert!(text.contains("#EXT-X-BYTERANGE:5000@5800\nall.mp4\n"));
    }
}
