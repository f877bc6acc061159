//! WebVTT cues into `wvtt` samples (ISO/IEC 14496-30), pure: the samples tile the
//! track's timeline without holes (a `vtte` sample where no cue is active), each sample
//! holds every cue active over it (overlapping cues are valid WebVTT and share samples),
//! and the tiling stops exactly where the caller asks, so a track is cut on the video's
//! fragment boundaries (a cue spanning one is written in both fragments).
//! Knows nothing of GStreamer.

use crate::boxes::wvtt::{CueBox, sample};

/// Why a cue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubtitleError {
    #[error("cue ends at {end} ns, not after its start at {start} ns")]
    BadTiming { start: i64, end: i64 },
    #[error(
        "cue from {start} to {end} ns ends before {tiled} ns, where the track was already written"
    )]
    Late { start: i64, end: i64, tiled: i64 },
    #[error("no WebVTT cue timing line (\"start --> end\")")]
    NoTiming,
    #[error("WebVTT timestamp {0:?} is malformed")]
    BadTimestamp(String),
    #[error("cue text is not UTF-8")]
    NotUtf8,
}

/// One cue: times are running times in ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start: i64,
    pub end: i64,
    pub id: Option<String>,
    pub settings: Option<String>,
    /// WebVTT cue text.
    pub text: String,
}

/// One `wvtt` sample: start (running time, ns), duration (ns), bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub start: i64,
    pub duration: u64,
    pub data: Vec<u8>,
}

/// Cues waiting to be written, and where the written timeline ends.
#[derive(Debug, Default, Clone)]
pub struct CueTiler {
    cues: Vec<Cue>,
    tiled: Option<i64>,
}

impl CueTiler {
    /// Queues a cue. One that starts where the track was already written is clipped to
    /// start there (it still shows for the rest of its time); one that ended there is
    /// refused.
    pub fn push(&mut self, mut cue: Cue) -> Result<(), SubtitleError> {
        if cue.end <= cue.start {
            return Err(SubtitleError::BadTiming {
                start: cue.start,
                end: cue.end,
            });
        }
        if let Some(tiled) = self.tiled
            && cue.start < tiled
        {
            if cue.end <= tiled {
                return Err(SubtitleError::Late {
                    start: cue.start,
                    end: cue.end,
                    tiled,
                });
            }
            cue.start = tiled;
        }
        let at = self.cues.partition_point(|c| c.start <= cue.start);
        self.cues.insert(at, cue);
        Ok(())
    }

    /// The latest end of the cues waiting to be written.
    pub fn queued_end(&self) -> Option<i64> {
        self.cues.iter().map(|c| c.end).max()
    }

    /// Where the written timeline ends, once anything was tiled.
    pub fn tiled(&self) -> Option<i64> {
        self.tiled
    }

    /// The samples from where the last call stopped (the first time: `from`) up to `to`:
    /// cut at every cue start and end between, each with the cues active over it in
    /// start order, `vtte` where none is. Cues that ended by `to` are forgotten.
    pub fn tile(&mut self, from: i64, to: i64) -> Vec<Sample> {
        let mut at = self.tiled.unwrap_or(from);
        let mut out = Vec::new();
        while at < to {
            let next = self
                .cues
                .iter()
                .flat_map(|c| [c.start, c.end])
                .filter(|t| *t > at && *t < to)
                .min()
                .unwrap_or(to);
            let active: Vec<CueBox<'_>> = self
                .cues
                .iter()
                .filter(|c| c.start <= at && c.end > at)
                .map(|c| CueBox {
                    id: c.id.as_deref(),
                    settings: c.settings.as_deref(),
                    text: &c.text,
                })
                .collect();
            out.push(Sample {
                start: at,
                duration: (next - at) as u64,
                data: sample(&active),
            });
            at = next;
        }
        self.tiled = Some(at.max(self.tiled.unwrap_or(at)));
        self.cues.retain(|c| c.end > at);
        out
    }
}

/// Plain text (`text/x-raw, format=utf8`) as WebVTT cue text: `&`, `<` and `>` escaped.
pub fn cue_text_from_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out.trim_end_matches(['\n', '\r']).to_string()
}

/// A WebVTT timestamp (`hh:mm:ss.ttt` or `mm:ss.ttt`) in ns.
pub fn parse_timestamp(s: &str) -> Result<i64, SubtitleError> {
    let bad = || SubtitleError::BadTimestamp(s.to_string());
    let (clock, millis) = s.split_once('.').ok_or_else(bad)?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str| -> Result<i64, SubtitleError> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let (h, m, sec) = match parts.as_slice() {
        [m, s] => (0, num(m)?, num(s)?),
        [h, m, s] => (num(h)?, num(m)?, num(s)?),
        _ => return Err(bad()),
    };
    if m > 59 || sec > 59 {
        return Err(bad());
    }
    let ms = num(millis)?;
    Ok((((h * 60 + m) * 60 + sec) * 1000 + ms) * 1_000_000)
}

/// A WebVTT cue block (`[id]`, `start --> end [settings]`, text lines) as a cue; its
/// times are offset by `base` (ns).
pub fn parse_cue_block(block: &[u8], base: i64) -> Result<Cue, SubtitleError> {
    let text = std::str::from_utf8(block).map_err(|_| SubtitleError::NotUtf8)?;
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty()).peekable();
    let first = lines.next().ok_or(SubtitleError::NoTiming)?;
    let (id, timing) = if first.contains("-->") {
        (None, first)
    } else {
        (
            Some(first.trim().to_string()),
            lines.next().ok_or(SubtitleError::NoTiming)?,
        )
    };
    let (start, rest) = timing.split_once("-->").ok_or(SubtitleError::NoTiming)?;
    let rest = rest.trim();
    let (end, settings) = match rest.split_once(char::is_whitespace) {
        Some((e, s)) => (e, Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        None => (rest, None),
    };
    let start = base + parse_timestamp(start.trim())?;
    let end = base + parse_timestamp(end)?;
    let payload: Vec<&str> = lines.collect();
    Ok(Cue {
        start,
        end,
        id,
        settings,
        text: payload.join("\n").trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::wvtt::{CueBox, sample};

    const MS: i64 = 1_000_000;

    fn cue(start: i64, end: i64, text: &str) -> Cue {
        Cue {
            start: start * MS,
            end: end * MS,
            id: None,
            settings: None,
            text: text.into(),
        }
    }

    fn plain(text: &str) -> CueBox<'_> {
        CueBox {
            id: None,
            settings: None,
            text,
        }
    }

    /// (start ms, duration ms, bytes) of the samples.
    fn spans(samples: &[Sample]) -> Vec<(i64, i64, Vec<u8>)> {
        samples
            .iter()
            .map(|s| (s.start / MS, s.duration as i64 / MS, s.data.clone()))
            .collect()
    }

    #[test]
    fn samples_tile_the_timeline_with_gaps_and_overlaps() {
        let mut t = CueTiler::default();
        t.push(cue(500, 1500, "a")).unwrap();
        t.push(cue(1000, 2000, "b")).unwrap();
        let s = t.tile(0, 3000 * MS);
        assert_eq!(
            spans(&s),
            vec![
                (0, 500, sample(&[])),
                (500, 500, sample(&[plain("a")])),
                (1000, 500, sample(&[plain("a"), plain("b")])),
                (1500, 500, sample(&[plain("b")])),
                (2000, 1000, sample(&[])),
            ]
        );
        let total: u64 = s.iter().map(|s| s.duration).sum();
        assert_eq!(total, 3000 * MS as u64);
    }

    #[test]
    fn a_cue_across_a_fragment_boundary_is_in_both() {
        let mut t = CueTiler::default();
        t.push(cue(800, 1400, "across")).unwrap();
        let first = t.tile(0, 1000 * MS);
        assert_eq!(
            spans(&first),
            vec![
                (0, 800, sample(&[])),
                (800, 200, sample(&[plain("across")]))
            ]
        );
        // The next fragment continues where this one stopped, whatever `from` says.
        let second = t.tile(5 * MS, 2000 * MS);
        assert_eq!(
            spans(&second),
            vec![
                (1000, 400, sample(&[plain("across")])),
                (1400, 600, sample(&[]))
            ]
        );
        assert_eq!(t.tiled(), Some(2000 * MS));
    }

    #[test]
    fn late_and_broken_cues() {
        let mut t = CueTiler::default();
        assert!(matches!(
            t.push(cue(10, 10, "x")),
            Err(SubtitleError::BadTiming { .. })
        ));
        t.tile(0, 1000 * MS);
        assert!(matches!(
            t.push(cue(100, 900, "gone")),
            Err(SubtitleError::Late { .. })
        ));
        // Still showing: clipped to where the track stands.
        t.push(cue(900, 1200, "rest")).unwrap();
        assert_eq!(
            spans(&t.tile(1000 * MS, 1500 * MS)),
            vec![
                (1000, 200, sample(&[plain("rest")])),
                (1200, 300, sample(&[]))
            ]
        );
    }

    #[test]
    fn cue_blocks_and_plain_text() {
        let c = parse_cue_block(
            b"intro\n00:01.250 --> 00:00:03.000 align:start line:0\nHello\n<b>world</b>\n",
            10 * MS,
        )
        .unwrap();
        assert_eq!(c.id.as_deref(), Some("intro"));
        assert_eq!(c.start, 1260 * MS);
        assert_eq!(c.end, 3010 * MS);
        assert_eq!(c.settings.as_deref(), Some("align:start line:0"));
        assert_eq!(c.text, "Hello\n<b>world</b>");
        let c = parse_cue_block(b"01:00:00.000 --> 01:00:01.500\nx", 0).unwrap();
        assert_eq!(
            (c.start, c.end, c.id),
            (3_600_000 * MS, 3_601_500 * MS, None)
        );
        assert!(matches!(
            parse_cue_block(b"00:01.2 --> 00:02.000\nx", 0),
            Err(SubtitleError::BadTimestamp(_))
        ));
        assert_eq!(
            parse_cue_block(b"just text", 0),
            Err(SubtitleError::NoTiming)
        );
        assert_eq!(
            parse_cue_block(b"00:01.000 --> 00:02.000\n\xff", 0),
            Err(SubtitleError::NotUtf8)
        );
        assert_eq!(cue_text_from_plain("a < b & c\n"), "a &lt; b &amp; c");
    }
}
