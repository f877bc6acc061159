//! Aggregator glue: pads, caps, properties and pushing what the fragmenter decides.

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::output;
use super::pad::FragMp4MuxPad;
use super::progressive;
use super::recording;
use crate::boxes::init::write_recording_init;
use crate::boxes::{MovieDesc, TrackDesc, write_init};
use crate::codec::{self, TrackFormat, track_format_from_caps};
use crate::fragmenter::{Accepted, Fragment, Fragmenter, Sample, TrackSpec};

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4mux",
        gst::DebugColorFlags::empty(),
        Some("Fragmented MP4 muxer"),
    )
});

const DEFAULT_FRAGMENT_DURATION: u64 = 2_000_000_000;
const DEFAULT_START_SEQUENCE: u32 = 1;
/// Most buffers taken from the pads in one `aggregate` call.
const MAX_TAKES_PER_CALL: usize = 256;

const DEFAULT_INTERLEAVE_TIME: u64 = 500_000_000;

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
}

#[derive(Debug, Clone)]
struct Settings {
    fragment_duration: u64,
    movie_timescale: u32,
    start_sequence: u32,
    force_keyframes: bool,
    mode: Mode,
    interleave_time: u64,
    temp_location: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fragment_duration: DEFAULT_FRAGMENT_DURATION,
            movie_timescale: 0,
            start_sequence: DEFAULT_START_SEQUENCE,
            force_keyframes: false,
            mode: Mode::Fragmented,
            interleave_time: DEFAULT_INTERLEAVE_TIME,
            temp_location: None,
        }
    }
}

/// One sink pad and the track it feeds.
struct PadTrack {
    pad: FragMp4MuxPad,
    /// Formats by fragmenter generation, oldest first; the last one is the caps'.
    formats: Vec<(u32, TrackFormat)>,
    /// Generation the last init segment described.
    written: Option<u32>,
}

impl PadTrack {
    fn new(pad: FragMp4MuxPad) -> Self {
        Self {
            pad,
            formats: Vec::new(),
            written: None,
        }
    }

    fn latest(&self) -> Option<&TrackFormat> {
        self.formats.last().map(|(_, f)| f)
    }

    fn format(&self, generation: u32) -> Option<&TrackFormat> {
        self.formats
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, f)| f)
    }
}

/// What one step of taking input did.
struct Taken {
    /// Every pad is at EOS with nothing queued.
    all_eos: bool,
    /// A buffer was moved into the fragmenter.
    popped: bool,
    /// A pad that is not at EOS has nothing queued.
    starved: bool,
}

/// What the aggregate loop needs to know of a pad's current format.
#[derive(Debug, Clone, Copy)]
struct PadKind {
    is_video: bool,
    nal_length_size: Option<u8>,
}

/// True when `new` needs no new init segment after `old`: nothing in the init changes,
/// or only in-band parameter sets of `avc3`/`hev1` do.
fn same_init(old: &TrackFormat, new: &TrackFormat) -> bool {
    let in_band = matches!(&old.entry.fourcc, b"avc3" | b"hev1");
    old.timescale == new.timescale
        && (old.entry == new.entry || (in_band && old.entry.fourcc == new.entry.fourcc))
}

/// Output built under the state lock and pushed after releasing it.
enum Pending {
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
    /// Progressive mode: the whole file, header first, payload streamed from `file`.
    File {
        caps: gst::Caps,
        header: Vec<u8>,
        file: std::fs::File,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    fragments: u64,
    bytes: u64,
    dropped_empty: u64,
}

struct State {
    pads: Vec<PadTrack>,
    fragmenter: Fragmenter<gst::Buffer>,
    sequence: u32,
    init_sent: bool,
    /// Added to running times so no output timestamp is negative.
    shift: i64,
    /// Running time at a live timeout that found nothing to do: the next one waits for it.
    idle_until: Option<i64>,
    /// Deadline for which a keyframe was last requested upstream.
    keyframe_requested: Option<i64>,
    counters: Counters,
    mode: Mode,
    /// Progressive mode: the file being collected.
    recorder: Option<progressive::Recorder>,
    /// Fragmented output into a seekable file.
    recording: Option<recording::Recording>,
}

impl State {
    fn new(settings: &Settings) -> Self {
        let mut fragmenter = match settings.mode {
            Mode::Fragmented => Fragmenter::new(settings.fragment_duration),
            Mode::Progressive => {
                // Fragments become interleaving runs that need not start at keyframes.
                let mut f = Fragmenter::new(settings.interleave_time);
                f.set_keyframe_cuts(false);
                f
            }
        };
        fragmenter.set_fragment_duration(match settings.mode {
            Mode::Fragmented => settings.fragment_duration,
            Mode::Progressive => settings.interleave_time,
        });
        Self {
            pads: Vec::new(),
            fragmenter,
            sequence: settings.start_sequence,
            init_sent: false,
            shift: 0,
            idle_until: None,
            keyframe_requested: None,
            counters: Counters::default(),
            mode: settings.mode,
            recorder: None,
            recording: None,
        }
    }

    /// Forgets all stream data but keeps the pads and their formats.
    fn reset_stream(&mut self, settings: &Settings) {
        let pads = std::mem::take(&mut self.pads);
        *self = State::new(settings);
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
    fn next_deadline(&self) -> Option<i64> {
        match (self.fragmenter.deadline(), self.idle_until) {
            (Some(d), Some(i)) => Some(d.max(i)),
            (d, i) => d.or(i),
        }
    }

    fn track_of(&self, pad: &gst_base::AggregatorPad) -> Option<usize> {
        self.pads
            .iter()
            .position(|p| p.pad.upcast_ref::<gst_base::AggregatorPad>() == pad)
    }
}

fn spec_of(f: &TrackFormat) -> TrackSpec {
    TrackSpec {
        is_video: f.is_video,
        timescale: f.timescale,
        default_duration: f.default_duration,
    }
}

#[derive(Default)]
pub struct FragMp4Mux {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A signed running time in ns.
fn signed_ns(v: gst::Signed<gst::ClockTime>) -> i64 {
    match v {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    }
}

impl FragMp4Mux {
    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&self.settings()));
        f(state)
    }

    /// The next buffer's running-time DTS on `pad`, if it has one queued. A GAP buffer
    /// counts at its end: it stays queued (keeping a non-live aggregator going) until
    /// the other pads have passed it.
    fn head_dts(&self, pad: &FragMp4MuxPad) -> Result<Option<i64>, gst::ErrorMessage> {
        let Some(buf) = pad.peek_buffer() else {
            return Ok(None);
        };
        let dts = self.running_dts(pad, &buf)?;
        if buf.flags().contains(gst::BufferFlags::GAP) {
            let duration = buf.duration().map_or(0, |d| d.nseconds() as i64);
            return Ok(Some(dts.saturating_add(duration)));
        }
        Ok(Some(dts))
    }

    fn running_dts(
        &self,
        pad: &FragMp4MuxPad,
        buf: &gst::BufferRef,
    ) -> Result<i64, gst::ErrorMessage> {
        let segment = pad.segment();
        let Some(segment) = segment.downcast_ref::<gst::ClockTime>() else {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                ["pad {}: segment is not in TIME format", pad.name()]
            ));
        };
        let Some(ts) = buf.dts().or(buf.pts()) else {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                [
                    "pad {}: buffer without DTS and PTS at offset {}; the muxer needs timestamps on every buffer (is a parser missing upstream?)",
                    pad.name(),
                    buf.offset()
                ]
            ));
        };
        match segment.to_running_time_full(ts) {
            Some(rt) => Ok(signed_ns(rt)),
            None => Err(gst::error_msg!(
                gst::StreamError::Format,
                [
                    "pad {}: timestamp {} has no running time in segment {:?}",
                    pad.name(),
                    ts,
                    segment
                ]
            )),
        }
    }

    /// Turns a popped buffer into a fragmenter sample.
    fn sample(
        &self,
        pad: &FragMp4MuxPad,
        buf: gst::Buffer,
        kind: PadKind,
    ) -> Result<Sample<gst::Buffer>, gst::ErrorMessage> {
        let dts = self.running_dts(pad, &buf)?;
        if let Some(n) = kind.nal_length_size {
            let checked = buf
                .map_readable()
                .map_err(|_| "buffer cannot be mapped".to_string())
                .and_then(|m| codec::check_length_prefixed(&m, n));
            if let Err(why) = checked {
                return Err(gst::error_msg!(
                    gst::StreamError::Format,
                    (
                        "pad {}: the sample at DTS {} ns is not a whole length-prefixed access unit: {}",
                        pad.name(),
                        dts,
                        why
                    ),
                    [
                        "put h264parse/h265parse before the muxer so it receives stream-format=avc/hvc1, alignment=au"
                    ]
                ));
            }
        }
        let segment = pad.segment();
        let pts = match (buf.pts(), segment.downcast_ref::<gst::ClockTime>()) {
            (Some(pts), Some(seg)) => seg.to_running_time_full(pts).map_or(dts, signed_ns),
            _ => dts,
        };
        let Ok(size) = u32::try_from(buf.size()) else {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                [
                    "pad {}: a sample of {} bytes does not fit an MP4 sample size",
                    pad.name(),
                    buf.size()
                ]
            ));
        };
        Ok(Sample {
            dts,
            pts,
            duration: buf.duration().map(|d| d.nseconds()),
            keyframe: !kind.is_video || !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
            size,
            payload: buf,
        })
    }

    /// Moves the earliest queued buffer into the fragmenter and tells it what waits in
    /// the pads. Returns whether every pad is at EOS with nothing queued.
    fn take_input(&self, state: &mut State) -> Result<Taken, gst::ErrorMessage> {
        let pads: Vec<(FragMp4MuxPad, Option<PadKind>)> = state
            .pads
            .iter()
            .map(|p| {
                let kind = p.latest().map(|f| PadKind {
                    is_video: f.is_video,
                    nal_length_size: f.nal_length_size,
                });
                (p.pad.clone(), kind)
            })
            .collect();
        // Take the buffer with the earliest DTS, so tracks interleave by decode time.
        let mut best: Option<(usize, i64)> = None;
        let mut all_eos = true;
        for (i, (pad, _)) in pads.iter().enumerate() {
            match self.head_dts(pad)? {
                Some(dts) => {
                    all_eos = false;
                    if best.is_none_or(|(_, b)| dts < b) {
                        best = Some((i, dts));
                    }
                }
                None if pad.is_eos() => state.fragmenter.set_eos(i),
                None => all_eos = false,
            }
        }
        let mut popped = false;
        if let Some((i, _)) = best
            && let (pad, kind) = &pads[i]
            && let Some(buf) = pad.pop_buffer()
        {
            popped = true;
            let Some(kind) = *kind else {
                return Err(gst::error_msg!(
                    gst::CoreError::Negotiation,
                    ["pad {}: data arrived without accepted caps", pad.name()]
                ));
            };
            if buf.flags().contains(gst::BufferFlags::GAP) || buf.size() == 0 {
                let dts = self.running_dts(pad, &buf)?;
                if buf.flags().contains(gst::BufferFlags::GAP) {
                    let end = dts.saturating_add(buf.duration().map_or(0, |d| d.nseconds() as i64));
                    gst::debug!(CAT, obj = pad, "gap up to {} ns", end);
                    state.fragmenter.note_gap(i, end);
                } else {
                    gst::warning!(CAT, obj = pad, "dropping empty buffer at DTS {} ns", dts);
                    state.counters.dropped_empty += 1;
                }
            } else {
                let sample = self.sample(pad, buf, kind)?;
                self.push_sample(state, pad, i, sample);
            }
        }
        // What waits in the pads bounds what the tracks can still receive: a cut need not
        // wait for a pad whose next buffer already lies beyond it.
        let mut starved = false;
        for (i, (pad, _)) in pads.iter().enumerate() {
            let next = self.head_dts(pad)?;
            starved |= next.is_none() && !pad.is_eos();
            state.fragmenter.set_next_dts(i, next);
        }
        Ok(Taken {
            all_eos,
            popped,
            starved,
        })
    }

    /// Takes input until a pad runs dry (or, on a live timeout, until nothing is left),
    /// at most [`MAX_TAKES_PER_CALL`] buffers: one wake-up handles many samples.
    /// Returns whether every pad is at EOS, and whether anything was taken.
    fn take_all(
        &self,
        state: &mut State,
        timeout: bool,
    ) -> Result<(bool, bool), gst::ErrorMessage> {
        let mut any = false;
        for _ in 0..MAX_TAKES_PER_CALL {
            let taken = self.take_input(state)?;
            any |= taken.popped;
            if taken.all_eos || !taken.popped || (taken.starved && !timeout) {
                return Ok((taken.all_eos, any));
            }
        }
        Ok((false, any))
    }

    /// In live pipelines a fragment is complete one fragment duration after it starts
    /// (DESIGN.md C4): that is the latency the element adds.
    fn report_latency(&self, fragment_duration: u64) {
        let latency = gst::ClockTime::from_nseconds(fragment_duration);
        self.obj().set_latency(latency, Some(latency));
    }

    /// Queues a sample in the fragmenter, logging what it drops.
    fn push_sample(
        &self,
        state: &mut State,
        pad: &FragMp4MuxPad,
        track: usize,
        sample: Sample<gst::Buffer>,
    ) {
        let (dts, pts) = (sample.dts, sample.pts);
        match state.fragmenter.push(track, sample) {
            Accepted::Queued => {}
            Accepted::DroppedBeforeKeyframe => gst::info!(
                CAT,
                obj = pad,
                "dropping delta unit before a keyframe (DTS {} ns, PTS {} ns)",
                dts,
                pts
            ),
            Accepted::DroppedNonIncreasingDts { previous } => gst::warning!(
                CAT,
                obj = pad,
                "dropping sample: DTS {} ns is not after the previous {} ns",
                dts,
                previous
            ),
        }
    }

    fn handle_caps(&self, pad: &gst_base::AggregatorPad, caps: &gst::CapsRef) -> bool {
        let Some(mux_pad) = pad.downcast_ref::<FragMp4MuxPad>() else {
            return false;
        };
        let format = match track_format_from_caps(caps, mux_pad.timescale_override()) {
            Ok(f) => f,
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("pad {}: {}", pad.name(), err),
                    ["caps: {}", caps]
                );
                return false;
            }
        };
        gst::info!(
            CAT,
            obj = pad,
            "track format {} timescale {} from {}",
            format.codec_string,
            format.timescale,
            caps
        );
        let new_generation = self.with_state(|state| {
            let track = state.track_of(pad)?;
            let entry = &mut state.pads[track];
            if entry.latest().is_some_and(|old| same_init(old, &format)) {
                gst::debug!(CAT, obj = pad, "caps change needs no new init segment");
                return Some(false);
            }
            let generation = state.fragmenter.change_format(track, spec_of(&format));
            let changed = entry.formats.last().is_some_and(|(g, _)| *g != generation);
            if changed && state.mode == Mode::Progressive {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("pad {}: the format changed mid-stream; a progressive file has one sample entry per track", pad.name()),
                    ["new caps: {}", caps]
                );
                return None;
            }
            entry.formats.retain(|(g, _)| *g != generation);
            entry.formats.push((generation, format));
            Some(changed)
        });
        match new_generation {
            None => false,
            Some(false) => true,
            Some(true) => {
                gst::info!(
                    CAT,
                    obj = pad,
                    "format change: the fragment ends at the next keyframe, then a new init segment"
                );
                self.request_keyframes(None);
                true
            }
        }
    }

    /// Asks upstream of every video pad for a keyframe.
    fn request_keyframes(&self, running_time: Option<gst::ClockTime>) {
        let pads: Vec<FragMp4MuxPad> = self.with_state(|s| {
            s.pads
                .iter()
                .filter(|p| p.latest().is_some_and(|f| f.is_video))
                .map(|p| p.pad.clone())
                .collect()
        });
        for pad in pads {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .running_time(running_time)
                .all_headers(true)
                .build();
            if !pad.push_event(event) {
                gst::debug!(CAT, obj = pad, "upstream did not handle force-key-unit");
            }
        }
    }

    /// Builds the init segment and the src caps for the first fragment.
    fn build_init(
        &self,
        state: &mut State,
        first: &Fragment<gst::Buffer>,
    ) -> Result<Pending, gst::FlowError> {
        let settings = self.settings();
        let mut tracks = Vec::new();
        let mut codecs = Vec::new();
        for (i, p) in state.pads.iter_mut().enumerate() {
            let in_fragment = first
                .tracks
                .iter()
                .find(|t| t.track == i)
                .map(|t| t.generation);
            let Some(generation) = in_fragment
                .or(p.written)
                .or(p.formats.first().map(|(g, _)| *g))
            else {
                continue;
            };
            p.written = Some(generation);
            p.formats.retain(|(g, _)| *g >= generation);
            let Some(f) = p.format(generation) else {
                continue;
            };
            tracks.push(TrackDesc {
                track_id: i as u32 + 1,
                timescale: f.timescale,
                entry: f.entry.clone(),
            });
            codecs.push(f.codec_string.clone());
        }
        let movie_timescale = match settings.movie_timescale {
            0 => tracks
                .iter()
                .find(|t| t.is_video())
                .or(tracks.first())
                .map_or(1000, |t| t.timescale),
            t => t,
        };
        let movie = MovieDesc::fragmented(movie_timescale);
        let init = if !state.init_sent && self.downstream_seekable() {
            // A recording into a file: durations and an index are filled in at EOS.
            let (init, slots) = write_recording_init(&movie, &tracks);
            let timescales = tracks.iter().map(|t| (t.track_id, t.timescale)).collect();
            gst::info!(
                CAT,
                imp = self,
                "seekable downstream: durations and mfra at EOS"
            );
            state.recording = Some(recording::Recording::new(
                slots,
                movie_timescale,
                timescales,
                init.len() as u64,
            ));
            init
        } else {
            let init = write_init(&movie, &tracks);
            if let Some(r) = state.recording.as_mut() {
                r.add_bytes(init.len() as u64);
            }
            init
        };
        let mut init = gst::Buffer::from_mut_slice(init);
        {
            let b = init.get_mut().expect("new buffer is writable");
            b.set_flags(gst::BufferFlags::HEADER);
            b.set_pts(output::output_time(first.start_pts, state.shift));
            b.set_dts(output::output_time(first.start_dts, state.shift));
        }
        let caps = gst::Caps::builder("video/quicktime")
            .field("variant", "iso-fragmented")
            .field("codecs", codecs.join(","))
            .field("streamheader", gst::Array::new([init.clone()]))
            .build();
        gst::info!(
            CAT,
            imp = self,
            "init segment for {} tracks, caps {}",
            tracks.len(),
            caps
        );
        let new_segment = !state.init_sent;
        state.init_sent = true;
        Ok(Pending::Init {
            caps,
            init,
            new_segment,
        })
    }

    /// Takes every fragment the fragmenter has completed, with the init segment before
    /// the first. What was built before an error is returned with it, to be pushed.
    fn collect_ready(
        &self,
        state: &mut State,
        now: bool,
    ) -> (Vec<Pending>, Result<(), gst::FlowError>) {
        let mut out = Vec::new();
        loop {
            let fragment = if now {
                state.fragmenter.pop_fragment_now()
            } else {
                state.fragmenter.pop_fragment()
            };
            let Some(fragment) = fragment else {
                return (out, Ok(()));
            };
            if fragment.tracks.is_empty() {
                continue;
            }
            if state.mode == Mode::Progressive {
                if let Err(e) = self.record(state, fragment) {
                    return (out, Err(e));
                }
                continue;
            }
            let format_changed = fragment.tracks.iter().any(|t| {
                state
                    .pads
                    .get(t.track)
                    .is_some_and(|p| p.written != Some(t.generation))
            });
            if !state.init_sent || format_changed {
                if !state.init_sent {
                    let origin = state.fragmenter.origin().unwrap_or(0);
                    state.shift = (-origin).max(0);
                }
                match self.build_init(state, &fragment) {
                    Ok(init) => out.push(init),
                    Err(e) => return (out, Err(e)),
                }
            }
            match self.build_fragment(state, fragment) {
                Ok(f) => out.push(f),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    /// Progressive mode: spills a run of samples to the temporary file.
    fn record(
        &self,
        state: &mut State,
        fragment: Fragment<gst::Buffer>,
    ) -> Result<(), gst::FlowError> {
        if state.recorder.is_none() {
            let dir = self.settings().temp_location;
            match progressive::Recorder::new(dir.as_deref().map(std::path::Path::new)) {
                Ok(r) => state.recorder = Some(r),
                Err(err) => {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::OpenWrite,
                        (
                            "cannot create the temporary file for progressive mode in {}: {}",
                            dir.as_deref().unwrap_or("the system temporary directory"),
                            err
                        ),
                        ["set temp-location to a writable directory"]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        }
        let Some(recorder) = state.recorder.as_mut() else {
            return Err(gst::FlowError::Error);
        };
        if let Err(err) = recorder.add(fragment) {
            let kind = if err.raw_os_error() == Some(28) {
                gst::ResourceError::NoSpaceLeft
            } else {
                gst::ResourceError::Write
            };
            gst::element_imp_error!(
                self,
                kind,
                (
                    "writing the temporary file for progressive mode failed: {}",
                    err
                ),
                [
                    "the file would be incomplete; free space in temp-location or choose another directory"
                ]
            );
            return Err(gst::FlowError::Error);
        }
        Ok(())
    }

    /// True when downstream can seek in bytes (a file): a recording then gets its
    /// durations and an index at EOS.
    fn downstream_seekable(&self) -> bool {
        let mut q = gst::query::Seeking::new(gst::Format::Bytes);
        self.obj().src_pad().peer_query(&mut q) && q.result().0
    }

    /// Progressive mode at EOS: the header with the complete tables, then the payload.
    fn finish_progressive(&self, state: &mut State) -> Result<Option<Pending>, gst::FlowError> {
        let Some(recorder) = state.recorder.take() else {
            return Ok(None);
        };
        let settings = self.settings();
        let tracks: Vec<Option<TrackDesc>> = state
            .pads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.latest().map(|f| TrackDesc {
                    track_id: i as u32 + 1,
                    timescale: f.timescale,
                    entry: f.entry.clone(),
                })
            })
            .collect();
        let movie_timescale = match settings.movie_timescale {
            0 => tracks
                .iter()
                .flatten()
                .find(|t| t.is_video())
                .or(tracks.iter().flatten().next())
                .map_or(1000, |t| t.timescale),
            t => t,
        };
        let codecs: Vec<String> = state
            .pads
            .iter()
            .filter_map(|p| p.latest().map(|f| f.codec_string.clone()))
            .collect();
        match recorder.finish(&MovieDesc::progressive(movie_timescale), &tracks) {
            Ok((header, file)) => {
                let caps = gst::Caps::builder("video/quicktime")
                    .field("variant", "iso")
                    .field("codecs", codecs.join(","))
                    .build();
                gst::info!(
                    CAT,
                    imp = self,
                    "progressive file: {} byte header",
                    header.len()
                );
                Ok(Some(Pending::File { caps, header, file }))
            }
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Read,
                    (
                        "finishing the temporary file for progressive mode failed: {}",
                        err
                    )
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    fn build_fragment(
        &self,
        state: &mut State,
        fragment: Fragment<gst::Buffer>,
    ) -> Result<Pending, gst::FlowError> {
        let track_ids: Vec<u32> = (1..=state.pads.len() as u32).collect();
        let keyframe_start = fragment.keyframe_start;
        let recorded: Vec<recording::ChunkTrack> = fragment
            .tracks
            .iter()
            .map(|t| recording::ChunkTrack {
                track_id: t.track as u32 + 1,
                base_decode_time: t.base_decode_time,
                duration: t.samples.iter().map(|s| u64::from(s.duration)).sum(),
            })
            .collect();
        let samples: usize = fragment.tracks.iter().map(|t| t.samples.len()).sum();
        let sequence = state.sequence;
        let chunk = match output::chunk(fragment, sequence, &track_ids, state.shift) {
            Ok(c) => c,
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Mux,
                    ["fragment {}: {}", sequence, err]
                );
                return Err(gst::FlowError::Error);
            }
        };
        gst::debug!(
            CAT,
            imp = self,
            "fragment {} at {} duration {}: {} samples, {} bytes",
            sequence,
            chunk.pts,
            chunk.duration,
            samples,
            chunk.size
        );
        if let Some(r) = state.recording.as_mut() {
            r.add_chunk(&recorded, chunk.size, keyframe_start);
        }
        state.sequence = state.sequence.wrapping_add(1);
        state.counters.fragments += 1;
        state.counters.bytes += chunk.size;
        let message = gst::Structure::builder("fragmp4mux-fragment")
            .field("sequence-number", sequence)
            .field("running-time", chunk.pts)
            .field("duration", chunk.duration)
            .field("size", chunk.size)
            .field("keyframe-start", keyframe_start)
            .build();
        Ok(Pending::Fragment {
            list: chunk.list,
            message,
            end: chunk.pts + chunk.duration,
        })
    }

    /// Pushes what [`FragMp4Mux::collect_ready`] built; called without the state lock.
    fn push_pending(&self, pending: Vec<Pending>) -> Result<(), gst::FlowError> {
        let obj = self.obj();
        for p in pending {
            match p {
                Pending::Init {
                    caps,
                    init,
                    new_segment,
                } => {
                    if new_segment {
                        // Output times are running times (shifted to be positive), in a
                        // segment of our own, whatever a seek made of the default one.
                        obj.update_segment(&gst::FormattedSegment::<gst::ClockTime>::new());
                    }
                    obj.set_src_caps(&caps);
                    obj.finish_buffer(init)?;
                }
                Pending::Fragment { list, message, end } => {
                    obj.set_position(end);
                    let res = obj.finish_buffer_list(list);
                    let _ = obj
                        .post_message(gst::message::Element::builder(message).src(&*obj).build());
                    res?;
                }
                Pending::Finish(finish) => {
                    let src = obj.src_pad();
                    let index = recording::Patch {
                        offset: finish.end,
                        bytes: finish.mfra,
                    };
                    for recording::Patch { offset, bytes } in
                        finish.patches.into_iter().chain([index])
                    {
                        let mut segment = gst::FormattedSegment::<gst::format::Bytes>::new();
                        segment.set_start(gst::format::Bytes::from_u64(offset));
                        if !src.push_event(gst::event::Segment::new(&segment)) {
                            gst::warning!(
                                CAT,
                                imp = self,
                                "downstream refused the seek to byte {}",
                                offset
                            );
                            break;
                        }
                        obj.finish_buffer(gst::Buffer::from_mut_slice(bytes))?;
                    }
                }
                Pending::File {
                    caps,
                    header,
                    mut file,
                } => {
                    obj.update_segment(&gst::FormattedSegment::<gst::ClockTime>::new());
                    obj.set_src_caps(&caps);
                    let mut head = gst::Buffer::from_mut_slice(header);
                    if let Some(b) = head.get_mut() {
                        b.set_pts(gst::ClockTime::ZERO);
                    }
                    obj.finish_buffer(head)?;
                    loop {
                        match progressive::read_piece(&mut file) {
                            Ok(Some(piece)) => {
                                obj.finish_buffer(gst::Buffer::from_mut_slice(piece))?;
                            }
                            Ok(None) => break,
                            Err(err) => {
                                gst::element_imp_error!(
                                    self,
                                    gst::ResourceError::Read,
                                    ("reading back the temporary file failed: {}", err)
                                );
                                return Err(gst::FlowError::Error);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn stats(&self) -> gst::Structure {
        let guard = lock(&self.state);
        let mut before_key = 0u64;
        let mut bad_dts = 0u64;
        let mut counters = Counters::default();
        if let Some(state) = guard.as_ref() {
            for i in 0..state.fragmenter.track_count() {
                let s = state.fragmenter.stats(i);
                before_key += s.dropped_before_keyframe;
                bad_dts += s.dropped_bad_dts;
            }
            counters = state.counters;
        }
        gst::Structure::builder("fragmp4mux-stats")
            .field("fragments", counters.fragments)
            .field("bytes", counters.bytes)
            .field("dropped-before-keyframe", before_key)
            .field("dropped-non-increasing-dts", bad_dts)
            .field("dropped-empty", counters.dropped_empty)
            .build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4Mux {
    const NAME: &'static str = "GstFragMp4Mux";
    type Type = super::FragMp4Mux;
    type ParentType = gst_base::Aggregator;
}

impl ObjectImpl for FragMp4Mux {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("fragment-duration")
                    .nick("Fragment duration")
                    .blurb("Minimum fragment duration in nanoseconds: a fragment ends at the first video keyframe at least this long after its start")
                    .minimum(1_000_000)
                    .default_value(DEFAULT_FRAGMENT_DURATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("movie-timescale")
                    .nick("Movie timescale")
                    .blurb("Timescale of the mvhd (0 = that of the first video track, else the first track)")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("start-fragment-sequence-number")
                    .nick("Start fragment sequence number")
                    .blurb("mfhd sequence number of the first fragment")
                    .minimum(1)
                    .default_value(DEFAULT_START_SEQUENCE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("force-keyframes")
                    .nick("Force keyframes")
                    .blurb("Ask upstream for a keyframe (force-key-unit event) where each fragment should end, so GOPs longer than a fragment do not stretch it")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", Mode::Fragmented)
                    .nick("Mode")
                    .blurb("fragmented: init segment then moof+mdat fragments; progressive: one moov with full sample tables before one mdat, written at EOS")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("interleave-time")
                    .nick("Interleave time")
                    .blurb("Progressive mode: longest run of one track's samples in the mdat, in nanoseconds")
                    .minimum(1_000_000)
                    .default_value(DEFAULT_INTERLEAVE_TIME)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("temp-location")
                    .nick("Temporary file location")
                    .blurb("Progressive mode: directory for the temporary file holding the payload until EOS (default: the system temporary directory)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Fragments and bytes written, samples dropped before the first keyframe or for non-increasing DTS")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "fragment-duration" => {
                s.fragment_duration = value.get().unwrap_or(DEFAULT_FRAGMENT_DURATION);
                let d = s.fragment_duration;
                drop(s);
                if let Some(state) = lock(&self.state).as_mut() {
                    state.fragmenter.set_fragment_duration(d);
                }
                self.report_latency(d);
            }
            "movie-timescale" => s.movie_timescale = value.get().unwrap_or(0),
            "force-keyframes" => s.force_keyframes = value.get().unwrap_or(false),
            "mode" => s.mode = value.get().unwrap_or_default(),
            "interleave-time" => s.interleave_time = value.get().unwrap_or(DEFAULT_INTERLEAVE_TIME),
            "temp-location" => s.temp_location = value.get().unwrap_or(None),
            "start-fragment-sequence-number" => {
                s.start_sequence = value.get().unwrap_or(DEFAULT_START_SEQUENCE)
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "fragment-duration" => s.fragment_duration.to_value(),
            "movie-timescale" => s.movie_timescale.to_value(),
            "force-keyframes" => s.force_keyframes.to_value(),
            "mode" => s.mode.to_value(),
            "interleave-time" => s.interleave_time.to_value(),
            "temp-location" => s.temp_location.to_value(),
            "start-fragment-sequence-number" => s.start_sequence.to_value(),
            "stats" => self.stats().to_value(),
            _ => 0u32.to_value(),
        }
    }
}

impl GstObjectImpl for FragMp4Mux {}

impl ElementImpl for FragMp4Mux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Fragmented MP4 muxer",
                "Codec/Muxer",
                "Muxes H.264/H.265 video and AAC audio into fragmented MP4 (fMP4/CMAF)",
                "gst-plugin-fragmp4 developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let src = gst::Caps::builder("video/quicktime")
                .field("variant", gst::List::new(["iso-fragmented", "iso"]))
                .build();
            let dims = |b: gst::caps::Builder<gst::caps::NoFeature>| {
                b.field("width", gst::IntRange::new(1, 65535))
                    .field("height", gst::IntRange::new(1, 65535))
                    .build()
            };
            let mut video = dims(
                gst::Caps::builder("video/x-h264")
                    .field("stream-format", gst::List::new(["avc", "avc3"]))
                    .field("alignment", "au"),
            );
            video.merge(dims(
                gst::Caps::builder("video/x-h265")
                    .field("stream-format", gst::List::new(["hvc1", "hev1"]))
                    .field("alignment", "au"),
            ));
            let audio = gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 4i32)
                .field("stream-format", "raw")
                .field("channels", gst::IntRange::new(1, 8))
                .field("rate", gst::IntRange::new(1, i32::MAX))
                .build();
            let pad_type = FragMp4MuxPad::static_type();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .expect("valid src template"),
                gst::PadTemplate::with_gtype(
                    "video_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &video,
                    pad_type,
                )
                .expect("valid video template"),
                gst::PadTemplate::with_gtype(
                    "audio_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &audio,
                    pad_type,
                )
                .expect("valid audio template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if let Some(state) = lock(&self.state).as_mut()
            && let Some(track) = state
                .pads
                .iter()
                .position(|p| p.pad.upcast_ref::<gst::Pad>() == pad)
        {
            state.fragmenter.set_eos(track);
        }
        self.parent_release_pad(pad);
    }
}

impl AggregatorImpl for FragMp4Mux {
    fn create_new_pad(
        &self,
        templ: &gst::PadTemplate,
        req_name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst_base::AggregatorPad> {
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&self.settings()));
        if state.init_sent {
            gst::warning!(
                CAT,
                imp = self,
                "refusing pad {:?}: the init segment was already written",
                req_name
            );
            return None;
        }
        let prefix = templ.name_template().trim_end_matches("%u").to_string();
        let name = match req_name.filter(|n| !n.contains('%')) {
            Some(n) if n.starts_with(prefix.as_str()) => n.to_string(),
            _ => {
                let taken: Vec<String> = state
                    .pads
                    .iter()
                    .map(|p| p.pad.name().to_string())
                    .collect();
                (0u32..)
                    .map(|i| format!("{prefix}{i}"))
                    .find(|n| !taken.contains(n))?
            }
        };
        if state.pads.iter().any(|p| p.pad.name() == name.as_str()) {
            gst::warning!(CAT, imp = self, "pad {} already exists", name);
            return None;
        }
        let pad = gst::PadBuilder::<FragMp4MuxPad>::from_template(templ)
            .name(name.as_str())
            .build();
        state.fragmenter.add_track(TrackSpec {
            is_video: prefix.starts_with("video"),
            timescale: 90000,
            default_duration: None,
        });
        state.pads.push(PadTrack::new(pad.clone()));
        Some(pad.upcast())
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(c) = event.view()
            && !self.handle_caps(pad, c.caps())
        {
            return false;
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings();
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&settings));
        let (all_eos, took) = match self.take_all(state, timeout) {
            Ok(t) => t,
            Err(message) => {
                // Bad input stops the stream, but what came before it is written first,
                // and only then is the error posted.
                for i in 0..state.fragmenter.track_count() {
                    state.fragmenter.set_eos(i);
                }
                let (pending, _) = self.collect_ready(state, false);
                drop(guard);
                let _ = self.push_pending(pending);
                self.post_error_message(message);
                return Err(gst::FlowError::Error);
            }
        };
        let (mut pending, mut built) = self.collect_ready(state, timeout);
        if all_eos && built.is_ok() && state.fragmenter.is_finished() {
            if state.mode == Mode::Progressive {
                match self.finish_progressive(state) {
                    Ok(file) => pending.extend(file),
                    Err(e) => built = Err(e),
                }
            } else if let Some(r) = state.recording.take() {
                pending.push(Pending::Finish(r.finish()));
            }
        }
        if timeout {
            // A timeout that moved nothing waits for the clock to advance before the next
            // one; one that did may be followed at once (pads hold only a few buffers
            // while another pad stalls).
            let idle = !took && pending.is_empty();
            state.idle_until = if idle {
                self.obj()
                    .current_running_time()
                    .map(|t| t.nseconds() as i64)
            } else {
                None
            };
            gst::debug!(
                CAT,
                imp = self,
                "live timeout: took input {}, {} outputs, idle until {:?} ns",
                took,
                pending.len(),
                state.idle_until
            );
        } else if took {
            state.idle_until = None;
        }
        let finished = all_eos && state.fragmenter.is_finished();
        let mut keyframe_at = None;
        if settings.force_keyframes {
            let deadline = state.fragmenter.deadline();
            if deadline.is_some() && deadline != state.keyframe_requested {
                state.keyframe_requested = deadline;
                keyframe_at = deadline;
            }
        }
        drop(guard);
        if let Some(rt) = keyframe_at {
            gst::debug!(
                CAT,
                imp = self,
                "asking upstream for a keyframe at {} ns",
                rt
            );
            self.request_keyframes(Some(gst::ClockTime::from_nseconds(rt.max(0) as u64)));
        }
        self.push_pending(pending)?;
        built?;
        if finished {
            gst::debug!(CAT, imp = self, "all pads finished");
            return Err(gst::FlowError::Eos);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn flush(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings();
        if let Some(state) = lock(&self.state).as_mut() {
            state.reset_stream(&settings);
        }
        self.parent_flush()
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        self.with_state(|s| s.reset_stream(&settings));
        self.report_latency(settings.fragment_duration);
        Ok(())
    }

    fn next_time(&self) -> Option<gst::ClockTime> {
        // Once the earliest buffer waiting in a pad is late, take it: pads that have data
        // keep flowing while another stalls (they hold only a few buffers each).
        let guard = lock(&self.state);
        let state = guard.as_ref()?;
        let earliest_queued = state
            .pads
            .iter()
            .filter_map(|p| self.head_dts(&p.pad).ok().flatten())
            .min();
        let t = earliest_queued.or_else(|| state.next_deadline())?;
        Some(gst::ClockTime::from_nseconds(t.max(0) as u64))
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        self.with_state(|s| s.reset_stream(&settings));
        Ok(())
    }

    fn negotiate(&self) -> bool {
        // Src caps are set with the init segment, once every track's caps are known.
        true
    }
}
