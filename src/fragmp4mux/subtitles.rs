//! WebVTT tracks in the muxer: `subtitle_%u` pads are tracks (`wvtt`) whose samples are
//! made here from the cues, not taken from the pad: the cues are read as they come, and
//! the track is tiled up to each video keyframe (every possible fragment start), so its
//! samples cover the timeline without holes and split where the video's fragments do.
//! Like meta pads, subtitle pads are sparse: an empty one never holds back a fragment.
//! A muxer of subtitle tracks only (as `fragmp4dashsink` runs one per track) has no
//! track to follow: it tiles from running time 0 on a grid of `fragment-duration`, up to
//! each cue's start as the cues come (they come in order), and at EOS to the last end.

use gst::prelude::*;
use gst_base::prelude::*;

use super::imp::{CAT, FragMp4Mux};
use super::pad::FragMp4MuxPad;
use super::state::*;
use crate::codec::wvtt::is_plain_text;
use crate::fragmenter::Sample;
use crate::subtitles::{Cue, CueTiler, cue_text_from_plain, parse_cue_block};

/// The caps of the `subtitle_%u` pads.
pub(crate) fn subtitle_sink_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty_simple("application/x-subtitle-vtt");
    caps.merge(
        gst::Caps::builder("text/x-raw")
            .field("format", "utf8")
            .build(),
    );
    caps
}

/// True for the pads of subtitle tracks.
pub(super) fn is_subtitle_pad(pad: &FragMp4MuxPad) -> bool {
    pad.name().starts_with("subtitle_")
}

/// The cues of the subtitle tracks and where the video stands.
#[derive(Default)]
pub(super) struct SubtitleState {
    /// Per subtitle track (fragmenter index): its cues.
    tilers: Vec<(usize, CueTiler)>,
    /// Latest presentation end of the cutting track taken so far (running time, ns).
    video_end: Option<i64>,
    finished: bool,
    pub(super) dropped: u64,
}

impl SubtitleState {
    fn tiler(&mut self, track: usize) -> &mut CueTiler {
        let at = match self.tilers.iter().position(|(t, _)| *t == track) {
            Some(at) => at,
            None => {
                self.tilers.push((track, CueTiler::default()));
                self.tilers.len() - 1
            }
        };
        &mut self.tilers[at].1
    }
}

impl FragMp4Mux {
    /// Reads every subtitle pad empty into its track's cues. Cues without a time or
    /// with broken timing or text are dropped with a warning and counted.
    pub(super) fn drain_subtitle_pads(&self, state: &mut State) {
        let latest = self.read_subtitle_pads(state);
        if let Some(to) = latest.filter(|_| subtitles_alone(state)) {
            self.tile_alone(state, to);
        }
    }

    /// Subtitle tracks only: written on the fragment grid up to `to`.
    fn tile_alone(&self, state: &mut State, to: i64) {
        let grid = self.settings().fragment_duration.max(1) as i64;
        let mut at = state
            .subtitles
            .tilers
            .iter()
            .filter_map(|(_, t)| t.tiled())
            .min()
            .unwrap_or(0);
        while at < to {
            let next = ((at.div_euclid(grid) + 1) * grid).min(to);
            self.tile_subtitles(state, 0, next);
            at = next;
        }
    }

    /// The cues of the subtitle pads into their tilers; the latest cue start read.
    fn read_subtitle_pads(&self, state: &mut State) -> Option<i64> {
        let mut latest: Option<i64> = None;
        for track in 0..state.pads.len() {
            let pad = state.pads[track].pad.clone();
            if !is_subtitle_pad(&pad) {
                continue;
            }
            let plain = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(is_plain_text))
                .unwrap_or(false);
            let mut segment: Option<gst::Segment> = None;
            while let Some(buf) = pad.pop_buffer() {
                if buf.flags().contains(gst::BufferFlags::GAP) || buf.size() == 0 {
                    continue;
                }
                let segment = segment.get_or_insert_with(|| pad.segment());
                let queued = cue_of(&buf, segment, plain).and_then(|cue| {
                    latest = Some(latest.map_or(cue.start, |l| l.max(cue.start)));
                    gst::debug!(
                        CAT,
                        obj = pad,
                        "cue {} - {} ns: {:?}",
                        cue.start,
                        cue.end,
                        cue.text
                    );
                    state
                        .subtitles
                        .tiler(track)
                        .push(cue)
                        .map_err(|e| e.to_string())
                });
                if let Err(why) = queued {
                    gst::warning!(CAT, obj = pad, "dropping cue: {}", why);
                    state.subtitles.dropped += 1;
                }
            }
        }
        latest
    }

    /// A sample of the cutting track (the video, else the audio) is about to be queued:
    /// at a keyframe (a possible fragment start; every audio frame is one) the subtitle
    /// tracks are written up to it. The first one starts them with a sample of its
    /// duration, so they have a first decode time with the others.
    pub(super) fn subtitles_before_sample(
        &self,
        state: &mut State,
        is_video: bool,
        sample: &Sample<gst::Buffer>,
    ) {
        if !state.pads.iter().any(|p| is_subtitle_pad(&p.pad)) {
            return;
        }
        let has_video = state
            .pads
            .iter()
            .any(|p| p.latest().is_some_and(|f| f.is_video));
        if is_video != has_video {
            return;
        }
        let end = sample
            .pts
            .saturating_add(sample.duration.unwrap_or(0) as i64);
        let first = state.subtitles.video_end.is_none();
        state.subtitles.video_end = Some(state.subtitles.video_end.map_or(end, |e| e.max(end)));
        if !sample.keyframe {
            return;
        }
        let to = if first {
            end.max(sample.pts + 1)
        } else {
            sample.pts
        };
        self.tile_subtitles(state, sample.pts, to);
    }

    /// Every track but the subtitles has ended: the subtitle tracks are written to the
    /// end of the video and end too.
    pub(super) fn finish_subtitles(&self, state: &mut State) {
        if state.subtitles.finished {
            return;
        }
        let tracks: Vec<usize> = (0..state.pads.len())
            .filter(|i| is_subtitle_pad(&state.pads[*i].pad))
            .collect();
        if tracks.is_empty() {
            return;
        }
        if let Some(end) = state.subtitles.video_end {
            self.tile_subtitles(state, end, end);
        } else if subtitles_alone(state) {
            let end = state
                .subtitles
                .tilers
                .iter()
                .filter_map(|(_, t)| t.queued_end())
                .max();
            if let Some(end) = end {
                self.tile_alone(state, end);
            }
        }
        for t in tracks {
            state.fragmenter.set_eos(t);
        }
        state.subtitles.finished = true;
    }

    fn tile_subtitles(&self, state: &mut State, from: i64, to: i64) {
        for track in 0..state.pads.len() {
            if !is_subtitle_pad(&state.pads[track].pad) {
                continue;
            }
            let samples = state.subtitles.tiler(track).tile(from, to);
            for s in samples {
                let size = s.data.len() as u32;
                let sample = Sample {
                    dts: s.start,
                    pts: s.start,
                    duration: Some(s.duration),
                    keyframe: true,
                    size,
                    payload: gst::Buffer::from_mut_slice(s.data),
                };
                let pad = state.pads[track].pad.clone();
                self.push_sample(state, &pad, track, sample);
            }
            state.fragmenter.note_gap(track, to);
        }
    }
}

/// True when every track is a subtitle track: nothing to follow.
fn subtitles_alone(state: &State) -> bool {
    !state.pads.is_empty() && state.pads.iter().all(|p| is_subtitle_pad(&p.pad))
}

/// The cue of one subtitle buffer: its PTS and duration are the cue's times; a WebVTT
/// cue block in it gives the identifier, settings and text, otherwise the buffer is the
/// cue text (plain text is escaped).
fn cue_of(buf: &gst::Buffer, segment: &gst::Segment, plain: bool) -> Result<Cue, String> {
    let (Some(pts), Some(duration)) = (buf.pts(), buf.duration()) else {
        return Err("a cue needs a PTS and a duration".into());
    };
    let seg = segment
        .downcast_ref::<gst::ClockTime>()
        .ok_or("not a time segment")?;
    let start = seg
        .to_running_time_full(pts)
        .map(signed_ns)
        .ok_or("PTS outside the segment")?;
    let end = start.saturating_add(duration.nseconds() as i64);
    let map = buf.map_readable().map_err(|_| "unreadable buffer")?;
    let text = std::str::from_utf8(&map).map_err(|_| "cue text is not UTF-8")?;
    if plain {
        return Ok(Cue {
            start,
            end,
            id: None,
            settings: None,
            text: cue_text_from_plain(text),
        });
    }
    let block = text.lines().take(2).any(|l| l.contains("-->"));
    if block {
        let parsed = parse_cue_block(&map, 0).map_err(|e| e.to_string())?;
        return Ok(Cue {
            start,
            end,
            ..parsed
        });
    }
    Ok(Cue {
        start,
        end,
        id: None,
        settings: None,
        text: text.trim_end_matches(['\n', '\r']).to_string(),
    })
}
