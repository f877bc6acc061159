//! Aggregator glue: pads, caps, properties and pushing what the fragmenter decides.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::pad::FragMp4MuxPad;
use super::state::*;
use crate::fragmenter::TrackSpec;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4mux",
        gst::DebugColorFlags::empty(),
        Some("Fragmented MP4 muxer"),
    )
});

#[derive(Default)]
pub struct FragMp4Mux {
    pub(super) settings: Mutex<Settings>,
    pub(super) state: Mutex<Option<State>>,
    /// The aggregator `latency` the element set for pad queueing, to tell it from a
    /// value the user set.
    pub(super) pad_queue: Mutex<Option<u64>>,
    /// The running time paired with UTC for `prft` boxes, kept from PLAYING (or from
    /// a sink that owns this muxer) until stopped.
    pub(super) utc: Mutex<Option<super::prft::UtcMapping>>,
}

impl FragMp4Mux {
    pub(super) fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub(super) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&self.settings()));
        f(state)
    }

    /// Pairs running time `running_ns` with UTC `utc_ms` for `prft` boxes, unless a
    /// pairing is already in use: a sink calls this so its manifest and the boxes agree.
    pub(crate) fn set_utc_mapping(&self, running_ns: u64, utc_ms: i64) {
        lock(&self.utc).get_or_insert(super::prft::UtcMapping { running_ns, utc_ms });
    }

    /// Ends the fragment in progress at the next keyframe and asks upstream for one.
    pub(super) fn split_now(&self) {
        self.with_state(|s| s.fragmenter.request_split());
        self.request_keyframes(None);
    }

    pub(super) fn stats(&self) -> gst::Structure {
        let guard = lock(&self.state);
        let mut before_key = 0u64;
        let mut bad_dts = 0u64;
        let mut counters = Counters::default();
        let mut events = (0u64, 0u64, 0u64);
        if let Some(state) = guard.as_ref() {
            events = (
                state.events.written,
                state.events.dropped,
                state.subtitles.dropped,
            );
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
            .field("events", events.0)
            .field("dropped-events", events.1)
            .field("dropped-cues", events.2)
            .build()
    }
}

/// Caps of the `video_%u` pads (DESIGN.md A3: avc before avc3, hvc1 before hev1).
pub(crate) fn video_sink_caps() -> gst::Caps {
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
    video.merge(dims(gst::Caps::builder("video/x-vp9")));
    video.merge(dims(gst::Caps::builder("video/x-vp8")));
    video.merge(dims(
        gst::Caps::builder("video/x-av1")
            .field("stream-format", "obu-stream")
            .field("alignment", "tu"),
    ));
    video
}

/// Caps of the `audio_%u` pads.
pub(crate) fn audio_sink_caps() -> gst::Caps {
    let mut audio = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("channels", gst::IntRange::new(1, 8))
        .field("rate", gst::IntRange::new(1, i32::MAX))
        .build();
    audio.merge(
        gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", gst::IntRange::new(0, 255))
            .build(),
    );
    audio.merge(
        gst::Caps::builder("audio/x-flac")
            .field("framed", true)
            .build(),
    );
    audio
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4Mux {
    const NAME: &'static str = "GstFragMp4Mux";
    type Type = super::FragMp4Mux;
    type ParentType = gst_base::Aggregator;
}

impl ObjectImpl for FragMp4Mux {
    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // End the fragment in progress at the next keyframe (one is requested
                // upstream).
                glib::subclass::Signal::builder("split-now")
                    .action()
                    .class_handler(|args| {
                        if let Ok(obj) = args[0].get::<super::FragMp4Mux>() {
                            obj.imp().split_now();
                        }
                        None
                    })
                    .build(),
                super::events::insert_event_signal(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut specs = vec![
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
                glib::ParamSpecUInt64::builder("chunk-duration")
                    .nick("Chunk duration")
                    .blurb("Write each fragment as moof+mdat chunks of about this many nanoseconds, pushed as soon as complete (CMAF chunks, LL-HLS parts); 0 = one chunk per fragment; shorter than a frame = one sample per chunk")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("decode-time-offset")
                    .nick("Decode time offset")
                    .blurb("Added to every decode time (ns), so segments produced one by one continue one timeline; audio then starts on its codec frame grid (shifted by at most half a frame)")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("cmaf")
                    .nick("CMAF")
                    .blurb("Add the CMAF brand cmfc to the ftyp (mux one track per element for strict CMAF)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("separate-moof")
                    .nick("Separate moof")
                    .blurb("Write one moof+mdat per track instead of one moof with a traf per track")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("index", super::index::IndexMode::None)
                    .nick("Segment index")
                    .blurb("sidx boxes: none; single: one before the first fragment covering all, written at EOS (fragments wait in temp-location until then); per-fragment: one before each fragment (needs one chunk per fragment: no chunk-duration, no separate-moof with several tracks)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("write-prft")
                    .nick("Write prft")
                    .blurb("Write a prft (producer reference time: the UTC, from the pipeline clock paired with the wall clock at PLAYING, of the reference track's tfdt) before each chunk's moof that holds the reference track (the first video, else the first track)")
                    .default_value(false)
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
                    .blurb("fragmented: init segment then moof+mdat fragments; progressive: one moov with full sample tables before one mdat, written at EOS; hybrid: fragmented while recording into a seekable sink, turned into an ordinary MP4 in place at EOS")
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
            ];
            specs.extend(super::protect::param_specs());
            specs.extend(super::events::param_specs());
            specs
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
                self.report_latency(&self.settings());
            }
            "movie-timescale" => s.movie_timescale = value.get().unwrap_or(0),
            "force-keyframes" => s.force_keyframes = value.get().unwrap_or(false),
            "chunk-duration" => s.chunk_duration = value.get().unwrap_or(0),
            "decode-time-offset" => s.decode_time_offset = value.get().unwrap_or(0),
            "cmaf" => s.cmaf = value.get().unwrap_or(false),
            "separate-moof" => s.separate_moof = value.get().unwrap_or(false),
            "index" => s.index = value.get().unwrap_or_default(),
            "write-prft" => s.write_prft = value.get().unwrap_or(false),
            name if super::protect::PROPERTY_NAMES.contains(&name) => s.protect.set(name, value),
            "mode" => s.mode = value.get().unwrap_or_default(),
            "emsg-version" => s.emsg_version = value.get().unwrap_or(1),
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
            "chunk-duration" => s.chunk_duration.to_value(),
            "decode-time-offset" => s.decode_time_offset.to_value(),
            "cmaf" => s.cmaf.to_value(),
            "separate-moof" => s.separate_moof.to_value(),
            "index" => s.index.to_value(),
            "write-prft" => s.write_prft.to_value(),
            name if super::protect::PROPERTY_NAMES.contains(&name) => s.protect.get(name),
            "mode" => s.mode.to_value(),
            "emsg-version" => s.emsg_version.to_value(),
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
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToPlaying {
            let obj = self.obj();
            if let (Some(clock), Some(base)) = (obj.clock(), obj.base_time()) {
                let running = clock.time().saturating_sub(base).nseconds();
                let utc = super::prft::UtcMapping::now(running);
                self.set_utc_mapping(utc.running_ns, utc.utc_ms);
            }
        }
        self.parent_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Fragmented MP4 muxer",
                "Codec/Muxer",
                "Muxes H.264, H.265, VP9, VP8 and AV1 video with AAC, Opus and FLAC audio into fragmented MP4 \
                 (fMP4/CMAF: keyframe-aligned fragments, optionally as CMAF chunks), or with \
                 mode=progressive into a classic MP4 with the moov first",
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
            let (video, audio) = (video_sink_caps(), audio_sink_caps());
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
                gst::PadTemplate::with_gtype(
                    "meta_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &super::events::meta_sink_caps(),
                    pad_type,
                )
                .expect("valid meta template"),
                gst::PadTemplate::with_gtype(
                    "subtitle_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &super::subtitles::subtitle_sink_caps(),
                    pad_type,
                )
                .expect("valid subtitle template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if let Some(state) = lock(&self.state).as_mut() {
            state.events.remove_pad(pad);
        }
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
        let meta = templ.name_template() == "meta_%u";
        if state.init_sent && !meta {
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
                    .chain(state.events.pads.iter().map(|p| p.pad.name().to_string()))
                    .collect();
                (0u32..)
                    .map(|i| format!("{prefix}{i}"))
                    .find(|n| !taken.contains(n))?
            }
        };
        if state.pads.iter().any(|p| p.pad.name() == name.as_str())
            || state
                .events
                .pads
                .iter()
                .any(|p| p.pad.name() == name.as_str())
        {
            gst::warning!(CAT, imp = self, "pad {} already exists", name);
            return None;
        }
        let pad = match crate::construct::pad_from_template::<FragMp4MuxPad>(templ, &name) {
            Ok(pad) => pad,
            Err(err) => {
                gst::warning!(CAT, imp = self, "cannot create pad {}: {}", name, err);
                return None;
            }
        };
        if meta {
            // Not a track: its events go before the chunks (see events.rs).
            state.events.add_pad(pad.clone());
            return Some(pad.upcast());
        }
        state.fragmenter.add_track(TrackSpec {
            is_video: prefix.starts_with("video"),
            timescale: 90000,
            default_duration: None,
        });
        state.pads.push(PadTrack::new(pad.clone()));
        Some(pad.upcast())
    }

    fn src_event(&self, event: gst::Event) -> bool {
        // A segmenter downstream asks for a new fragment: end this one at the next
        // keyframe, and ask the encoders for one.
        if gst_video::UpstreamForceKeyUnitEvent::parse(&event).is_ok() {
            gst::debug!(CAT, imp = self, "downstream force-key-unit: splitting");
            self.split_now();
            return true;
        }
        self.parent_src_event(event)
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        if let Some(handled) = self.events_sink_event(pad, &event) {
            return handled;
        }
        match event.view() {
            gst::EventView::Caps(c) if !self.handle_caps(pad, c.caps()) => return false,
            gst::EventView::Tag(t) => self.handle_tags(pad, t.tag()),
            gst::EventView::Segment(_) => self.with_state(|s| {
                if let Some(track) = s.track_of(pad) {
                    s.take_scratch.forget_segment(track);
                }
            }),
            _ => {}
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings();
        let live = self.obj().latency().is_some();
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&settings));
        state.live = live;
        self.drain_meta_pads(state);
        self.drain_subtitle_pads(state);
        // A timeout caused only by an empty meta pad is no stall of the tracks.
        let timeout = timeout && !super::events::tracks_ready(state);
        let (all_eos, took) = match self.take_all(state, timeout) {
            Ok(t) => {
                if t.0 {
                    self.finish_subtitles(state);
                }
                t
            }
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
            } else {
                match self.finish_index(state) {
                    Ok(indexed) => pending.extend(indexed),
                    Err(e) => built = Err(e),
                }
                if let Some(r) = state.recording.take() {
                    pending.push(Pending::Finish(r.finish(&state.priming())));
                }
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
        if finished {
            self.drop_leftover_events(state);
        }
        let mut keyframe_at = None;
        if settings.force_keyframes && state.mode.writes_fragments() {
            let deadline = state.fragmenter.keyframe_deadline();
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
            state.events.reset();
        }
        self.parent_flush()
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        if let Some(why) = super::index::refused(&settings) {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("index={:?} cannot be used here: {}", settings.index, why)
            ));
        }
        // Each track's encryption settings (its pad's over the element's), named by pad;
        // the element's own when there is no pad yet.
        let fragmented = settings.mode == Mode::Fragmented;
        let pads = self.obj().sink_pads();
        if pads.is_empty()
            && let Err(e) = super::protect::check(&settings.protect, fragmented)
        {
            return Err(gst::error_msg!(gst::LibraryError::Settings, ("{}", e)));
        }
        for pad in pads {
            if let Ok(pad) = pad.downcast::<FragMp4MuxPad>()
                && let Err(e) =
                    super::protect::check(&pad.protect_settings(&settings.protect), fragmented)
            {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("pad {}: {}", pad.name(), e)
                ));
            }
        }
        self.with_state(|s| s.reset_stream(&settings));
        self.report_latency(&settings);
        Ok(())
    }

    fn next_time(&self) -> Option<gst::ClockTime> {
        // Once the earliest buffer waiting in a pad is late, take it: pads that have data
        // keep flowing while another stalls (they hold only a few buffers each).
        // Only a live aggregator waits on the clock for this time; otherwise it is not
        // used, and reading the pads for it is not free.
        let guard = lock(&self.state);
        let state = guard.as_ref().filter(|s| s.live)?;
        if super::events::only_meta_pads_left(state) {
            // Nothing else wakes the aggregator: the tracks are done.
            return Some(gst::ClockTime::ZERO);
        }
        let t = self
            .earliest_queued(state)
            .or_else(|| state.next_deadline())?;
        Some(gst::ClockTime::from_nseconds(t.max(0) as u64))
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        self.with_state(|s| {
            s.reset_stream(&settings);
            s.events.reset();
        });
        *lock(&self.utc) = None;
        Ok(())
    }

    fn negotiate(&self) -> bool {
        // Src caps are set with the init segment, once every track's caps are known.
        true
    }
}
