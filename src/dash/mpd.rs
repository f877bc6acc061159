//! The MPD model (ISO/IEC 23009-1): one Period, an AdaptationSet per media type, a
//! Representation per track with a `SegmentTemplate` and its `SegmentTimeline`. Pure:
//! plain values in, XML text out, no GStreamer.
//!
//! Timeline entries are in each Representation's timescale (its track's `mdhd`):
//! `S@t` is a segment's earliest presentation time on the media timeline (decode time
//! plus composition offset of its first presented sample, not its `tfdt`), `S@d` the next
//! segment's minus its own, the last one's until the presentation end (DESIGN.md T4).
//! `presentationTimeOffset` maps each track's media timeline onto the Period, so tracks
//! muxed apart stay in sync to the tick.

use std::collections::VecDeque;
use std::fmt::Write;

/// How media segments are named in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// `$Number$`: segments are numbered from `startNumber`.
    #[default]
    Number,
    /// `$Time$`: segments are named by their `S@t`.
    Time,
}

/// One segment of a timeline (ticks of the Representation's timescale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub t: u64,
    pub d: u64,
}

/// What a Representation carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Video {
        width: Option<u32>,
        height: Option<u32>,
        /// `frameRate` as a fraction.
        frame_rate: Option<(u32, u32)>,
    },
    Audio {
        rate: Option<u32>,
        channels: Option<u32>,
    },
    /// Subtitles: a `wvtt` track (`application/mp4`).
    Text {
        /// `lang` of the AdaptationSet (BCP 47).
        lang: Option<String>,
    },
}

impl Media {
    pub fn content_type(&self) -> &'static str {
        match self {
            Media::Video { .. } => "video",
            Media::Audio { .. } => "audio",
            Media::Text { .. } => "text",
        }
    }

    /// The AdaptationSet's `mimeType`.
    pub fn mime_type(&self) -> &'static str {
        match self {
            Media::Video { .. } => "video/mp4",
            Media::Audio { .. } => "audio/mp4",
            Media::Text { .. } => "application/mp4",
        }
    }
}

/// One track.
#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    pub id: String,
    pub codecs: String,
    /// Bits per second.
    pub bandwidth: u64,
    pub media: Media,
    pub timescale: u32,
    /// `presentationTimeOffset` in ticks: the media time at Period time 0.
    pub presentation_time_offset: u64,
    /// Number of the first segment listed.
    pub start_number: u64,
    pub segments: VecDeque<Entry>,
    /// Media time (ticks) where the presentation of this track ends, once known.
    pub end: Option<u64>,
    /// One file for the whole track, addressed through its `sidx` (`SegmentBase`)
    /// instead of a `SegmentTemplate`.
    pub single_file: Option<SingleFile>,
    /// (`schemeIdUri`, `value`) of the `emsg` boxes its segments carry
    /// (`InbandEventStream`).
    pub event_schemes: Vec<(String, String)>,
}

/// A track in one file: init segment, `sidx`, then every fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleFile {
    /// The file's URL (relative to the MPD).
    pub url: String,
    /// Bytes of the init segment at the start.
    pub init_len: u64,
    /// Where the `sidx` is: (offset, length).
    pub index: (u64, u64),
}

impl Representation {
    /// Where the track's listed media ends on the Period timeline (ns).
    pub fn period_end_ns(&self) -> Option<u64> {
        let last = self.segments.back()?;
        let end = self.end.unwrap_or(last.t + last.d);
        Some(ticks_to_ns(
            end.saturating_sub(self.presentation_time_offset),
            self.timescale,
        ))
    }

    /// Period-time boundaries (ns) of the listed segments, for alignment checks.
    fn boundaries(&self) -> Vec<u64> {
        self.segments
            .iter()
            .map(|e| {
                ticks_to_ns(
                    e.t.saturating_sub(self.presentation_time_offset),
                    self.timescale,
                )
            })
            .collect()
    }
}

/// The MPD `type` and what goes with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// VOD: `mediaPresentationDuration` is the media's.
    Static,
    /// Live.
    Dynamic(Live),
}

/// The attributes of a dynamic MPD.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// UTC (ms since 1970) of Period time 0.
    pub availability_start_ms: i64,
    /// UTC (ms) when this MPD was written.
    pub publish_ms: i64,
    pub minimum_update_period_ns: u64,
    /// The sliding window, if old segments go away.
    pub time_shift_buffer_ns: Option<u64>,
    pub suggested_presentation_delay_ns: u64,
    /// URL of an `urn:mpeg:dash:utc:http-iso:2014` time source, else the MPD carries
    /// the time it was written (`urn:mpeg:dash:utc:direct:2014`).
    pub utc_timing_url: Option<String>,
    pub low_latency: Option<LowLatency>,
}

/// Low-latency DASH: segments may be fetched while written, chunk by chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct LowLatency {
    /// `availabilityTimeOffset` (ns): how long before its end a segment can be fetched.
    pub availability_time_offset_ns: u64,
    /// `ServiceDescription` latency target (ms).
    pub target_latency_ms: u64,
    /// `ProducerReferenceTime`: the UTC (ms) at which Period time `presentation_ns` was
    /// produced.
    pub reference: Option<(i64, u64)>,
}

/// Common Encryption of every track (ISO/IEC 23001-7, DASH-IF IOP 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// `cenc` or `cbcs`.
    pub scheme: String,
    /// The KID, 16 bytes.
    pub default_kid: [u8; 16],
    /// Per DRM system: its system ID and its complete `pssh` box, base64.
    pub systems: Vec<([u8; 16], String)>,
}

/// A 16-byte ID in UUID form: `10000000-1000-1000-8000-000000000001`.
pub fn uuid(id: &[u8; 16]) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A whole MPD.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    pub kind: Kind,
    pub addressing: Addressing,
    /// Init segment template (`$RepresentationID$` is filled in by the player).
    pub initialization: String,
    /// Media segment template without the `$Number$`/`$Time$` part: `{prefix}`,
    /// then the identifier, then `{suffix}`.
    pub media_prefix: String,
    pub media_suffix: String,
    /// `minBufferTime` (ns).
    pub min_buffer_ns: u64,
    /// The longest segment (ns), for `maxSegmentDuration`.
    pub max_segment_ns: u64,
    /// Representations in the order of the tracks; grouped by media type on output.
    pub representations: Vec<Representation>,
    /// `ContentProtection` of every AdaptationSet when the segments are encrypted.
    pub protection: Option<Protection>,
}

/// `$Number%05d$`: the width of segment numbers in names.
pub const NUMBER_WIDTH: usize = 5;

impl Mpd {
    /// The media template as written in the MPD.
    pub fn media_template(&self) -> String {
        let id = match self.addressing {
            Addressing::Number => format!("$Number%0{NUMBER_WIDTH}d$"),
            Addressing::Time => "$Time$".to_string(),
        };
        format!("{}{id}{}", self.media_prefix, self.media_suffix)
    }

    /// The file name of a segment of `representation` as the template names it.
    pub fn segment_name(&self, representation: &str, number: u64, t: u64) -> String {
        let prefix = self
            .media_prefix
            .replace("$RepresentationID$", representation);
        let suffix = self
            .media_suffix
            .replace("$RepresentationID$", representation);
        match self.addressing {
            Addressing::Number => format!("{prefix}{number:0NUMBER_WIDTH$}{suffix}"),
            Addressing::Time => format!("{prefix}{t}{suffix}"),
        }
    }

    /// The file name of the init segment of `representation`.
    pub fn init_name(&self, representation: &str) -> String {
        self.initialization
            .replace("$RepresentationID$", representation)
    }

    /// The presentation's duration (ns): the longest track's end on the Period.
    pub fn duration_ns(&self) -> u64 {
        self.representations
            .iter()
            .filter_map(Representation::period_end_ns)
            .max()
            .unwrap_or(0)
    }

    /// The MPD as XML.
    pub fn render(&self) -> String {
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let live = match &self.kind {
            Kind::Static => None,
            Kind::Dynamic(l) => Some(l),
        };
        let profile = if live.and_then(|l| l.low_latency.as_ref()).is_some() {
            "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
        } else {
            "urn:mpeg:dash:profile:isoff-live:2011"
        };
        let _ = write!(
            x,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"{} profiles=\"{profile}\" minBufferTime=\"{}\" maxSegmentDuration=\"{}\"",
            if self.protection.is_some() {
                " xmlns:cenc=\"urn:mpeg:cenc:2013\""
            } else {
                ""
            },
            duration(self.min_buffer_ns),
            duration(self.max_segment_ns.max(1)),
        );
        match live {
            None => {
                let _ = writeln!(
                    x,
                    " type=\"static\" mediaPresentationDuration=\"{}\">",
                    duration(self.duration_ns())
                );
            }
            Some(l) => {
                let _ = write!(
                    x,
                    " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" suggestedPresentationDelay=\"{}\"",
                    date_time(l.availability_start_ms),
                    date_time(l.publish_ms),
                    duration(l.minimum_update_period_ns),
                    duration(l.suggested_presentation_delay_ns),
                );
                if let Some(t) = l.time_shift_buffer_ns {
                    let _ = write!(x, " timeShiftBufferDepth=\"{}\"", duration(t));
                }
                x.push_str(">\n");
                if let Some(ll) = &l.low_latency {
                    let _ = writeln!(
                        x,
                        "  <ServiceDescription id=\"0\">\n    <Latency target=\"{}\" min=\"{}\" max=\"{}\"/>\n    <PlaybackRate min=\"0.96\" max=\"1.04\"/>\n  </ServiceDescription>",
                        ll.target_latency_ms,
                        ll.target_latency_ms / 2,
                        ll.target_latency_ms * 2
                    );
                }
            }
        }
        let _ = writeln!(x, "  <Period id=\"0\" start=\"PT0S\">");
        let mut kinds: Vec<&'static str> = Vec::new();
        for r in &self.representations {
            if !kinds.contains(&r.media.content_type()) {
                kinds.push(r.media.content_type());
            }
        }
        for (set_id, kind) in kinds.iter().enumerate() {
            let reps: Vec<&Representation> = self
                .representations
                .iter()
                .filter(|r| r.media.content_type() == *kind)
                .collect();
            self.render_set(&mut x, set_id, kind, &reps, live);
        }
        x.push_str("  </Period>\n");
        if let Some(l) = live {
            match &l.utc_timing_url {
                Some(url) => {
                    let _ = writeln!(
                        x,
                        "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"{}\"/>",
                        escape(url)
                    );
                }
                None => {
                    let _ = writeln!(
                        x,
                        "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
                        date_time(l.publish_ms)
                    );
                }
            }
        }
        x.push_str("</MPD>\n");
        x
    }

    fn render_set(
        &self,
        x: &mut String,
        set_id: usize,
        kind: &str,
        reps: &[&Representation],
        live: Option<&Live>,
    ) {
        let first = reps.first().map(|r| r.boundaries());
        let aligned = reps.iter().all(|r| Some(r.boundaries()) == first);
        let mime = reps.first().map_or("", |r| r.media.mime_type());
        let lang = reps
            .iter()
            .find_map(|r| match &r.media {
                Media::Text { lang: Some(l) } => Some(format!(" lang=\"{}\"", escape(l))),
                _ => None,
            })
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "    <AdaptationSet id=\"{set_id}\" contentType=\"{kind}\" mimeType=\"{mime}\"{lang} segmentAlignment=\"{aligned}\" startWithSAP=\"1\">"
        );
        if let Some(p) = &self.protection {
            let _ = writeln!(
                x,
                "      <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"{}\" cenc:default_KID=\"{}\"/>",
                escape(&p.scheme),
                uuid(&p.default_kid)
            );
            for (system, pssh) in &p.systems {
                let _ = writeln!(
                    x,
                    "      <ContentProtection schemeIdUri=\"urn:uuid:{}\">\n        <cenc:pssh>{}</cenc:pssh>\n      </ContentProtection>",
                    uuid(system),
                    escape(pssh)
                );
            }
        }
        let mut schemes: Vec<&(String, String)> = Vec::new();
        for s in reps.iter().flat_map(|r| &r.event_schemes) {
            if !schemes.contains(&s) {
                schemes.push(s);
            }
        }
        for (scheme, value) in schemes {
            let _ = writeln!(
                x,
                "      <InbandEventStream schemeIdUri=\"{}\" value=\"{}\"/>",
                escape(scheme),
                escape(value)
            );
        }
        for r in reps {
            let _ = write!(
                x,
                "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
                escape(&r.id),
                escape(&r.codecs),
                r.bandwidth.max(1)
            );
            match &r.media {
                Media::Video {
                    width,
                    height,
                    frame_rate,
                } => {
                    if let Some(w) = width {
                        let _ = write!(x, " width=\"{w}\"");
                    }
                    if let Some(h) = height {
                        let _ = write!(x, " height=\"{h}\"");
                    }
                    match frame_rate {
                        Some((n, 1)) => {
                            let _ = write!(x, " frameRate=\"{n}\"");
                        }
                        Some((n, d)) if *n > 0 && *d > 0 => {
                            let _ = write!(x, " frameRate=\"{n}/{d}\"");
                        }
                        _ => {}
                    }
                    x.push_str(">\n");
                }
                Media::Audio { rate, channels } => {
                    if let Some(rate) = rate {
                        let _ = write!(x, " audioSamplingRate=\"{rate}\"");
                    }
                    x.push_str(">\n");
                    if let Some(c) = channels {
                        let _ = writeln!(
                            x,
                            "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{c}\"/>"
                        );
                    }
                }
                Media::Text { .. } => x.push_str(">\n"),
            }
            match &r.single_file {
                Some(f) => Self::render_base(x, r, f),
                None => self.render_template(x, r, live),
            }
            x.push_str("      </Representation>\n");
        }
        x.push_str("    </AdaptationSet>\n");
    }

    fn render_base(x: &mut String, r: &Representation, f: &SingleFile) {
        let _ = writeln!(
            x,
            "        <BaseURL>{}</BaseURL>\n        <SegmentBase timescale=\"{}\" presentationTimeOffset=\"{}\" indexRange=\"{}-{}\" indexRangeExact=\"true\">\n          <Initialization range=\"0-{}\"/>\n        </SegmentBase>",
            escape(&f.url),
            r.timescale,
            r.presentation_time_offset,
            f.index.0,
            (f.index.0 + f.index.1).saturating_sub(1),
            f.init_len.saturating_sub(1),
        );
    }

    fn render_template(&self, x: &mut String, r: &Representation, live: Option<&Live>) {
        let ll = live.and_then(|l| l.low_latency.as_ref());
        if let Some((wall, at_ns)) = ll.and_then(|l| l.reference) {
            let ticks = ns_to_ticks(at_ns, r.timescale) + r.presentation_time_offset;
            let _ = writeln!(
                x,
                "        <ProducerReferenceTime id=\"0\" type=\"encoder\" wallClockTime=\"{}\" presentationTime=\"{ticks}\"/>",
                date_time(wall)
            );
        }
        let _ = write!(
            x,
            "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" initialization=\"{}\" media=\"{}\"",
            r.timescale,
            r.presentation_time_offset,
            escape(&self.initialization),
            escape(&self.media_template()),
        );
        if self.addressing == Addressing::Number {
            let _ = write!(x, " startNumber=\"{}\"", r.start_number);
        }
        if let Some(ll) = ll {
            let _ = write!(
                x,
                " availabilityTimeOffset=\"{}\" availabilityTimeComplete=\"false\"",
                seconds(ll.availability_time_offset_ns)
            );
        }
        x.push_str(">\n          <SegmentTimeline>\n");
        for (t, d, r) in runs(&r.segments) {
            let _ = write!(x, "            <S t=\"{t}\" d=\"{d}\"");
            if r > 0 {
                let _ = write!(x, " r=\"{r}\"");
            }
            x.push_str("/>\n");
        }
        x.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
    }
}

/// Timeline entries as `S` elements: (t, d, r), a run of r + 1 contiguous segments of
/// one duration each.
pub fn runs(entries: &VecDeque<Entry>) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    let mut next = None;
    for e in entries {
        match out.last_mut() {
            Some((_, d, r)) if *d == e.d && next == Some(e.t) => *r += 1,
            _ => out.push((e.t, e.d, 0)),
        }
        next = Some(e.t + e.d);
    }
    out
}

/// Ticks of `timescale` to ns (floor).
pub fn ticks_to_ns(ticks: u64, timescale: u32) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(timescale.max(1))) as u64
}

/// ns to ticks of `timescale` (rounded to the nearest).
pub fn ns_to_ticks(ns: u64, timescale: u32) -> u64 {
    ((u128::from(ns) * u128::from(timescale) + 500_000_000) / 1_000_000_000) as u64
}

/// The tick a time (ns) stands for that was computed as `floor(tick × 10⁹ / timescale)`:
/// `ceil(ns × timescale / 10⁹)`, exact for timescales up to 1 GHz.
pub fn tick_of_floored_ns(ns: u64, timescale: u32) -> u64 {
    (u128::from(ns) * u128::from(timescale)).div_ceil(1_000_000_000) as u64
}

/// Escapes text for an XML attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Seconds with up to nine decimals, trailing zeros dropped: `2`, `1.5`, `0.033366667`.
fn seconds(ns: u64) -> String {
    let (s, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 {
        return s.to_string();
    }
    let f = format!("{frac:09}");
    format!("{s}.{}", f.trim_end_matches('0'))
}

/// An `xs:duration` of `ns`, exact to the nanosecond: `PT10.033S`.
pub fn duration(ns: u64) -> String {
    format!("PT{}S", seconds(ns))
}

/// An `xs:dateTime` in UTC, to the millisecond: `2026-12-03T13:21:09.123Z`.
pub fn date_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[path = "mpd_tests.rs"]
mod tests;
