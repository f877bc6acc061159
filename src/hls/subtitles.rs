//! The HLS subtitle rendition (RFC 8216 3.5): WebVTT text segments on the video's segment
//! boundaries, each with an `X-TIMESTAMP-MAP` tying its cue times to the media timeline,
//! their media playlist, and the `EXT-X-MEDIA:TYPE=SUBTITLES` entry. Pure text.

use std::fmt::Write;

/// One cue on the media timeline (ns, the timeline of the fMP4 segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCue {
    pub start: u64,
    pub end: u64,
    pub id: Option<String>,
    pub settings: Option<String>,
    /// WebVTT cue text.
    pub text: String,
}

/// Group ID of the subtitle rendition in the multivariant playlist.
pub const GROUP: &str = "subs";

/// A WebVTT timestamp `hh:mm:ss.mmm` of `ns` (rounded to the millisecond).
pub fn timestamp(ns: u64) -> String {
    let ms = (ns + 500_000) / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The WebVTT segment covering `[start, end)`: every cue that shows in it, whole (a cue
/// across a boundary is in both segments, as RFC 8216 allows). Cue times are media
/// times; the map says so (`LOCAL` 0 is media time 0, on the 90 kHz clock).
pub fn vtt_segment(cues: &[TextCue], start: u64, end: u64) -> String {
    let mut out = String::from("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n");
    for c in cues.iter().filter(|c| c.start < end && c.end > start) {
        out.push('\n');
        if let Some(id) = c.id.as_deref().filter(|i| !i.is_empty()) {
            let _ = writeln!(out, "{id}");
        }
        let _ = write!(out, "{} --> {}", timestamp(c.start), timestamp(c.end));
        if let Some(s) = c.settings.as_deref().filter(|s| !s.is_empty()) {
            let _ = write!(out, " {s}");
        }
        let _ = writeln!(out, "\n{}", c.text);
    }
    out
}

/// The VOD media playlist of the subtitle segments: `(uri, duration s)`.
pub fn playlist(segments: &[(String, f64)], target: u32) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    let longest = segments
        .iter()
        .map(|(_, d)| d.round() as u32)
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target.max(longest).max(1));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    for (uri, d) in segments {
        let _ = writeln!(out, "#EXTINF:{d:.6},\n{uri}");
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// `multivariant` with the subtitle rendition: its `EXT-X-MEDIA` before the variants,
/// and `SUBTITLES` on each `EXT-X-STREAM-INF`.
pub fn add_rendition(multivariant: &str, uri: &str, name: &str, language: Option<&str>) -> String {
    let mut media = format!(
        "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{GROUP}\",NAME=\"{name}\",DEFAULT=YES,AUTOSELECT=YES"
    );
    if let Some(l) = language {
        let _ = write!(media, ",LANGUAGE=\"{l}\"");
    }
    let _ = write!(media, ",URI=\"{uri}\"");
    let mut out = String::new();
    let mut added = false;
    for line in multivariant.lines() {
        if line.starts_with("#EXT-X-STREAM-INF:") {
            if !added {
                out.push_str(&media);
                out.push('\n');
                added = true;
            }
            let _ = writeln!(out, "{line},SUBTITLES=\"{GROUP}\"");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn cue(start: u64, end: u64, text: &str) -> TextCue {
        TextCue {
            start: start * MS,
            end: end * MS,
            id: None,
            settings: None,
            text: text.into(),
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "00:00:00.000");
        assert_eq!(timestamp(3_723_004_600_000), "01:02:03.005");
    }

    #[test]
    fn segments_hold_the_cues_that_show_in_them() {
        let mut c = cue(900, 1200, "across");
        c.id = Some("a".into());
        c.settings = Some("line:0".into());
        let cues = [cue(100, 500, "first"), c, cue(1500, 1600, "later")];
        let first = vtt_segment(&cues, 0, 1000 * MS);
        assert_eq!(
            first,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:00.100 --> 00:00:00.500\nfirst\n\na\n00:00:00.900 --> 00:00:01.200 line:0\nacross\n"
        );
        let second = vtt_segment(&cues, 1000 * MS, 2000 * MS);
        assert!(second.contains("across") && second.contains("later") && !second.contains("first"));
        assert_eq!(
            vtt_segment(&cues, 2000 * MS, 3000 * MS),
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"
        );
    }

    #[test]
    fn playlist_and_rendition() {
        let p = playlist(&[("s0.vtt".into(), 2.0), ("s1.vtt".into(), 1.5)], 2);
        assert!(p.contains("#EXT-X-TARGETDURATION:2\n"));
        assert!(p.contains("#EXTINF:1.500000,\ns1.vtt\n") && p.ends_with("#EXT-X-ENDLIST\n"));
        let m = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,wvtt\"\nplaylist.m3u8\n";
        let m = add_rendition(m, "subtitles.m3u8", "Subtitles", Some("en"));
        assert!(m.contains(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Subtitles\",DEFAULT=YES,AUTOSELECT=YES,LANGUAGE=\"en\",URI=\"subtitles.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,wvtt\",SUBTITLES=\"subs\"\nplaylist.m3u8\n"
        ));
    }
}
