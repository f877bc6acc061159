//! The element's settings and stream state: pads with their formats, the fragmenter,
//! and what is built under the lock to be pushed after it.

use std::sync::{Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;

use super::pad::FragMp4MuxPad;
use super::{progressive, recording};
use crate::codec::TrackFormat;
use crate::fragmenter::{Fragmenter, TrackSpec};

pub(super) const DEFAULT_FRAGMENT_DURATION: u64 = 2_000_000_000;
pub(super) const DEFAULT_START_SEQUENCE: u32 = 1;
/// Most buffers taken from the pads in one `aggregate` call.
pub(super) const MAX_TAKES_PER_CALL: usize = 256;

/// How far ahead each sink pad may queue (the aggregator's `latency`), at most the
/// promised latency: one wake-up then moves many buffers.
pub(super) const PAD_QUEUE_TIME: u64 = 500_000_000;

pub(super) const DEFAULT_INTERLEAVE_TIME: u64 = 500_000_000;

/// What the element writes (DESIGN.md N: `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstFragMp4MuxMode")]
pub enum Mode {
    /// `moof`+`mdat` fragments after an init segment.
    #[default]
    #[enum_value(
        name = "Fragmented MP4 (init segment, then moof+mdat fragments)",
        nick = "fragmented"
    )]
    Fragmented,
    /// One `moov` with complete sample tables before one `mdat`, written at EOS.
    #[enum_value(
        name = "Progressive MP4 (moov first, for HTTP Range playback)",
        nick = "progressive"
    )]
    Progressive,
    /// Fragments while recording, so a crash loses at most the fragment in progress;
    /// at EOS the file becomes an ordinary MP4 in place (needs a seekable downstream).
    #[enum_value(
        name = "Hybrid MP4 (fragmented while recording, an ordinary MP4 once finished)",
        nick = "hybrid"
    )]
    Hybrid,
}

impl Mode {
    /// Fragments are written as the stream runs (fragmented and hybrid).
    pub(super) fn writes_fragments(self) -> bool {
        self != Mode::Progressive
    }
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) fragment_duration: u64,
    pub(super) movie_timescale: u32,
    pub(super) start_sequence: u32,
    pub(super) force_keyframes: bool,
    pub(super) chunk_duration: u64,
    pub(super) decode_time_offset: u64,
    pub(super) cmaf: bool,
    pub(super) separate_moof: bool,
    pub(super) index: super::index::IndexMode,
    /// `write-prft`: a `prft` before each chunk's `moof`.
    pub(super) write_prft: bool,
    pub(super) protect: super::protect::ProtectSettings,
    pub(super) mode: Mode,
    pub(super) interleave_time: u64,
    pub(super) temp_location: Option<String>,
    /// `emsg-version`: 1 (absolute times) or 0.
    pub(super) emsg_version: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fragment_duration: DEFAULT_FRAGMENT_DURATION,
            movie_timescale: 0,
            start_sequence: DEFAULT_START_SEQUENCE,
            force_keyframes: false,
            chunk_duration: 0,
            decode_time_offset: 0,
            cmaf: false,
            separate_moof: false,
            index: super::index::IndexMode::None,
            write_prft: false,
            protect: super::protect::ProtectSettings::default(),
            mode: Mode::Fragmented,
            interleave_time: DEFAULT_INTERLEAVE_TIME,
            temp_location: None,
            emsg_version: 1,
        }
    }
}

/// One sink pad and the track it feeds.
pub(super) struct PadTrack {
    pub(super) pad: FragMp4MuxPad,
    /// Formats by fragmenter generation, oldest first; the last one is the caps'.
    pub(super) formats: Vec<(u32, TrackFormat)>,
    /// Generation the last init segment described.
    pub(super) written: Option<u32>,
    /// Audio: encoder delay in track ticks signalled by a `GstAudioClippingMeta` on the
    /// first sample (`Some(0)` when it had none); trimmed by the progressive edit list.
    pub(super) clipped_priming: Option<u32>,
    /// The language from the pad's `language-code` tag (`mdhd`, `elng`).
    pub(super) language: Option<crate::boxes::Language>,
}

impl PadTrack {
    pub(super) fn new(pad: FragMp4MuxPad) -> Self {
        Self {
            pad,
            formats: Vec::new(),
            written: None,
            clipped_priming: None,
            language: None,
        }
    }

    pub(super) fn latest(&self) -> Option<&TrackFormat> {
        self.formats.last().map(|(_, f)| f)
    }

    pub(super) fn format(&self, generation: u32) -> Option<&TrackFormat> {
        self.formats
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, f)| f)
    }

    /// Ticks of codec priming an edit list leaves out: the encoder's clipping meta,
    /// else what the codec says (Opus pre-skip).
    pub(super) fn priming(&self) -> Option<u64> {
        let f = self.latest()?;
        Some(u64::from(
            self.clipped_priming.filter(|t| *t > 0).unwrap_or(f.priming),
        ))
    }
}

/// What the aggregate loop needs to know of a pad's current format.
#[derive(Debug, Clone, Copy)]
pub(super) struct PadKind {
    pub(super) is_video: bool,
    pub(super) nal_length_size: Option<u8>,
    /// AV1: temporal delimiter OBUs are left out of the samples.
    pub(super) strip_temporal_delimiters: bool,
}

/// True when `new` needs no new init segment after `old`: nothing in the init changes,
/// or only in-band parameter sets of `avc3`/`hev1` do.
pub(super) fn same_init(old: &TrackFormat, new: &TrackFormat) -> bool {
    let in_band = matches!(&old.entry.fourcc, b"avc3" | b"hev1");
    old.timescale == new.timescale
        && (old.entry == new.entry || (in_band && old.entry.fourcc == new.entry.fourcc))
}

/// Output built under the state lock and pushed after releasing it.
pub(super) enum Pending {
    Init {
        caps: gst::Caps,
        init: gst::Buffer,
        /// First init of a stream (after start or a flush): the output segment restarts.
        new_segment: bool,
    },
    Fragment {
        list: gst::BufferList,
        message: gst::Structure,
        end: gst::ClockTime,
    },
    /// A recording at EOS: overwrite the durations in place, then append the index.
    Finish(recording::Finish),
    /// `index=single` at EOS: the `sidx`, then the fragments spilled until now.
    Indexed { sidx: Vec<u8>, file: std::fs::File },
    /// A fragment's message alone (its bytes were spilled).
    Message(gst::Structure),
    /// Progressive mode: the whole file, header first, payload streamed from `file`.
    File {
        caps: gst::Caps,
        header: Vec<u8>,
        file: std::fs::File,
    },
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub(super) fragments: u64,
    pub(super) bytes: u64,
    pub(super) dropped_empty: u64,
}

pub(super) struct State {
    pub(super) pads: Vec<PadTrack>,
    pub(super) fragmenter: Fragmenter<gst::Buffer>,
    pub(super) sequence: u32,
    pub(super) init_sent: bool,
    /// Added to running times so no output timestamp is negative.
    pub(super) shift: i64,
    /// Running time at a live timeout that found nothing to do: the next one waits for it.
    pub(super) idle_until: Option<i64>,
    /// Whether the aggregator waits on the clock (live upstream), as last seen by
    /// `aggregate`; `next_time`, which cannot ask (the aggregator holds its object lock
    /// then), only computes a time the aggregator uses. Assumed until first seen.
    pub(super) live: bool,
    /// Deadline for which a keyframe was last requested upstream.
    pub(super) keyframe_requested: Option<i64>,
    /// Largest PTS + duration of any sample written (running time, ns).
    pub(super) presentation_end: Option<i64>,
    pub(super) counters: Counters,
    pub(super) mode: Mode,
    /// Progressive mode: the file being collected.
    pub(super) recorder: Option<progressive::Recorder>,
    /// Fragmented output into a seekable file.
    pub(super) recording: Option<recording::Recording>,
    /// `index=single`: the fragments held back until the `sidx` before them is known.
    pub(super) spill: Option<super::index::Spill>,
    /// Track ID and timescale the `sidx` follows, and where its presentation ended.
    pub(super) index_reference: u32,
    pub(super) index_timescale: u32,
    pub(super) index_end: u64,
    /// Per track (fragmenter index): its encryption, set up with the first init.
    pub(super) protection: Vec<Option<super::protect::TrackProtection>>,
    /// Per track: the settings its encryption was set up from (a change starts a new init).
    pub(super) protection_settings: Vec<super::protect::ProtectSettings>,
    /// The `pssh` boxes of the current init, repeated in every `moof` when asked.
    pub(super) fragment_pssh: Vec<Vec<u8>>,
    /// Tracks whose frame-grid shift (T3) was logged.
    pub(super) snap_logged: std::collections::HashSet<usize>,
    pub(super) take_scratch: super::input::TakeScratch,
    /// Timed events: meta pads and what waits for its chunk.
    pub(super) events: super::events::EventState,
    /// WebVTT tracks: their cues, and where the video stands.
    pub(super) subtitles: super::subtitles::SubtitleState,
}

impl State {
    /// [`PadTrack::priming`] by track ID.
    pub(super) fn priming(&self) -> std::collections::BTreeMap<u32, u64> {
        self.pads
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as u32 + 1, p.priming()?)))
            .collect()
    }

    pub(super) fn new(settings: &Settings) -> Self {
        let mut fragmenter = match settings.mode {
            Mode::Fragmented | Mode::Hybrid => Fragmenter::new(settings.fragment_duration),
            Mode::Progressive => {
                // Fragments become interleaving runs that need not start at keyframes.
                let mut f = Fragmenter::new(settings.interleave_time);
                f.set_keyframe_cuts(false);
                f
            }
        };
        if settings.mode.writes_fragments() {
            if settings.chunk_duration > 0 {
                fragmenter.set_chunk_duration(Some(settings.chunk_duration));
            }
            fragmenter.set_decode_time_offset(settings.decode_time_offset);
        }
        fragmenter.set_fragment_duration(match settings.mode {
            Mode::Fragmented | Mode::Hybrid => settings.fragment_duration,
            Mode::Progressive => settings.interleave_time,
        });
        Self {
            pads: Vec::new(),
            fragmenter,
            sequence: settings.start_sequence,
            init_sent: false,
            shift: 0,
            idle_until: None,
            live: true,
            keyframe_requested: None,
            presentation_end: None,
            counters: Counters::default(),
            mode: settings.mode,
            recorder: None,
            recording: None,
            spill: None,
            index_reference: 1,
            index_timescale: 1,
            index_end: 0,
            protection: Vec::new(),
            protection_settings: Vec::new(),
            fragment_pssh: Vec::new(),
            snap_logged: Default::default(),
            take_scratch: Default::default(),
            events: Default::default(),
            subtitles: Default::default(),
        }
    }

    /// Forgets all stream data but keeps the pads and their formats.
    pub(super) fn reset_stream(&mut self, settings: &Settings) {
        let pads = std::mem::take(&mut self.pads);
        // Events inserted before the stream started stay (flush and stop clear them).
        let events = std::mem::take(&mut self.events);
        *self = State::new(settings);
        self.events = events;
        for mut p in pads {
            p.formats = p.formats.pop().map(|(_, f)| (0, f)).into_iter().collect();
            p.written = None;
            let spec = p.latest().map_or(
                TrackSpec {
                    is_video: p.pad.name().starts_with("video"),
                    timescale: 90000,
                    default_duration: None,
                },
                spec_of,
            );
            self.fragmenter.add_track(spec);
            self.pads.push(p);
        }
    }

    /// When a live aggregator should give up waiting for late pads, with nothing queued
    /// in any pad: at the end of the fragment in progress, but not before the clock
    /// moved on from an idle timeout.
    pub(super) fn next_deadline(&self) -> Option<i64> {
        match (self.fragmenter.deadline(), self.idle_until) {
            (Some(d), Some(i)) => Some(d.max(i)),
            (d, i) => d.or(i),
        }
    }

    pub(super) fn track_of(&self, pad: &gst_base::AggregatorPad) -> Option<usize> {
        self.pads
            .iter()
            .position(|p| p.pad.upcast_ref::<gst_base::AggregatorPad>() == pad)
    }
}

pub(super) fn spec_of(f: &TrackFormat) -> TrackSpec {
    TrackSpec {
        is_video: f.is_video,
        timescale: f.timescale,
        default_duration: f.default_duration,
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A signed running time in ns.
pub(super) fn signed_ns(v: gst::Signed<gst::ClockTime>) -> i64 {
    match v {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    }
}
