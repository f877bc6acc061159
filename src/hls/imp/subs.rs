//! The sink's `subtitle_%u` pad: cues collected as they come (the pad is the sink's own,
//! not the muxer's, so it never holds anything back), written at EOS as the subtitle
//! rendition on the video's segment boundaries (VOD presentations).

use std::path::Path;

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{CAT, FragMp4HlsSink, lock};
use crate::hls::subtitles::{TextCue, add_rendition, playlist, vtt_segment};
use crate::subtitles::{cue_text_from_plain, parse_cue_block};

/// Caps of the subtitle pads: what `fragmp4mux`'s `subtitle_%u` takes.
pub(super) fn subtitle_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty_simple("application/x-subtitle-vtt");
    caps.merge(
        gst::Caps::builder("text/x-raw")
            .field("format", "utf8")
            .build(),
    );
    caps
}

/// A cue in running time (ns).
struct RunningCue {
    start: i64,
    end: i64,
    id: Option<String>,
    settings: Option<String>,
    text: String,
}

#[derive(Default)]
pub(super) struct SubtitleInput {
    pad: Option<gst::Pad>,
    cues: Vec<RunningCue>,
    plain: bool,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    language: Option<String>,
    /// Running time of the first video keyframe's PTS.
    video_start: Option<i64>,
}

impl SubtitleInput {
    /// A new presentation: keeps the pad.
    pub(super) fn reset(&mut self) {
        let pad = self.pad.take();
        *self = SubtitleInput {
            pad,
            ..Default::default()
        };
    }
}

fn running(seg: &gst::FormattedSegment<gst::ClockTime>, t: gst::ClockTime) -> Option<i64> {
    seg.to_running_time_full(t).map(|v| match v {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    })
}

impl FragMp4HlsSink {
    pub(super) fn subtitle_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
    ) -> Option<gst::Pad> {
        if lock(&self.subs).pad.is_some() {
            gst::warning!(CAT, imp = self, "one subtitle pad only");
            return None;
        }
        let name = name.filter(|n| !n.contains('%')).unwrap_or("subtitle_0");
        let pad: gst::Pad = crate::construct::pad_from_template(templ, name).ok()?;
        // SAFETY: the pad is new: nothing calls its functions while they are set.
        unsafe {
            pad.set_chain_function(|_pad, parent, buffer| {
                FragMp4HlsSink::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.subtitle_chain(buffer),
                )
            });
            pad.set_event_function(|_pad, parent, event| {
                FragMp4HlsSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.subtitle_event(event),
                )
            });
        }
        if self.obj().current_state() > gst::State::Null {
            let _ = pad.set_active(true);
        }
        self.obj().add_pad(&pad).ok()?;
        lock(&self.subs).pad = Some(pad.clone());
        Some(pad)
    }

    fn subtitle_event(&self, event: gst::Event) -> bool {
        let mut subs = lock(&self.subs);
        match event.view() {
            gst::EventView::Caps(c) => {
                subs.plain = c
                    .caps()
                    .structure(0)
                    .is_some_and(|s| s.name() == "text/x-raw");
            }
            gst::EventView::Segment(s) => {
                subs.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
            }
            gst::EventView::Tag(t) => {
                if let Some(l) = t.tag().get::<gst::tags::LanguageCode>() {
                    // The playlist's LANGUAGE is a BCP 47 tag (RFC 8216 4.4.6.1).
                    match crate::language::from_tag(l.get()) {
                        Ok(lang) => subs.language = Some(lang.bcp47),
                        Err(e) => gst::warning!(CAT, imp = self, "subtitle language: {}", e),
                    }
                }
            }
            _ => {}
        }
        // Nothing goes further: the cues end here (EOS included: the bin's sinks post it).
        true
    }

    fn subtitle_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut subs = lock(&self.subs);
        let cue = (|| {
            let seg = subs.segment.as_ref()?;
            let start = running(seg, buffer.pts()?)?;
            let end = start.saturating_add(buffer.duration()?.nseconds() as i64);
            let map = buffer.map_readable().ok()?;
            let text = std::str::from_utf8(&map).ok()?;
            if subs.plain {
                return Some(RunningCue {
                    start,
                    end,
                    id: None,
                    settings: None,
                    text: cue_text_from_plain(text),
                });
            }
            if text.lines().take(2).any(|l| l.contains("-->")) {
                let c = parse_cue_block(&map, 0).ok()?;
                return Some(RunningCue {
                    start,
                    end,
                    id: c.id,
                    settings: c.settings,
                    text: c.text,
                });
            }
            Some(RunningCue {
                start,
                end,
                id: None,
                settings: None,
                text: text.trim_end_matches(['\n', '\r']).to_string(),
            })
        })();
        match cue {
            Some(c) if c.end > c.start => subs.cues.push(c),
            _ => gst::warning!(
                CAT,
                imp = self,
                "dropping a subtitle buffer: no time, no duration or not UTF-8"
            ),
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Notes the running time of the video's first keyframe: the first segment starts
    /// there, which ties running times to the segments' timeline.
    pub(super) fn watch_video_start(&self, pad: &gst::GhostPad) {
        let obj = self.obj().downgrade();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(buf) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            if buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                return gst::PadProbeReturn::Ok;
            }
            let seg = pad
                .sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
            let t = seg.and_then(|s| running(&s, buf.pts()?));
            if let (Some(obj), Some(t)) = (obj.upgrade(), t) {
                lock(&obj.imp().subs).video_start.get_or_insert(t);
            }
            gst::PadProbeReturn::Remove
        });
    }

    /// What turns a running time into a time of the segments' timeline: the first
    /// segment starts at the video's first keyframe (0 without video).
    pub(super) fn timeline_shift(&self) -> i64 {
        let video = lock(&self.subs).video_start;
        let first = lock(&self.writer)
            .as_ref()
            .and_then(|w| w.spans().first().map(|s| s.0));
        match (first, video) {
            (Some(f), Some(v)) => f as i64 - v,
            _ => 0,
        }
    }

    /// At EOS: one WebVTT segment per media segment, their playlist next to the media
    /// playlist, and the rendition in the multivariant playlist.
    pub(super) fn write_subtitles(
        &self,
        _codecs: &str,
        _resolution: Option<(u32, u32)>,
    ) -> std::io::Result<()> {
        let subs = lock(&self.subs);
        if subs.pad.is_none() {
            return Ok(());
        }
        let spans = match lock(&self.writer).as_ref() {
            Some(w) => w.spans().to_vec(),
            None => return Ok(()),
        };
        if spans.is_empty() {
            return Ok(());
        }
        drop(subs);
        let shift = self.timeline_shift();
        let subs = lock(&self.subs);
        let cues: Vec<TextCue> = subs
            .cues
            .iter()
            .map(|c| TextCue {
                start: (c.start + shift).max(0) as u64,
                end: (c.end + shift).max(0) as u64,
                id: c.id.clone(),
                settings: c.settings.clone(),
                text: c.text.clone(),
            })
            .collect();
        let layout = self.layout();
        let dir = Path::new(&layout.playlist)
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut listed = Vec::new();
        for (i, (start, end)) in spans.iter().enumerate() {
            let name = format!("subtitle{i:05}.vtt");
            std::fs::write(dir.join(&name), vtt_segment(&cues, *start, *end))?;
            listed.push((name, (end - start) as f64 / 1e9));
        }
        let list = "subtitles.m3u8";
        std::fs::write(dir.join(list), playlist(&listed, layout.target_duration))?;
        if let Some(mv) = layout.multivariant.as_deref() {
            let text = std::fs::read_to_string(mv)?;
            std::fs::write(
                mv,
                add_rendition(&text, list, "Subtitles", subs.language.as_deref()),
            )?;
        }
        gst::info!(
            CAT,
            imp = self,
            "subtitle rendition: {} cues in {} segments",
            cues.len(),
            spans.len()
        );
        Ok(())
    }
}
