//! The bin: per requested pad, a ghost pad onto its own `fragmp4mux` (per-track CMAF,
//! as DASH players want audio and video apart), whose output an `appsink` hands to the
//! [`Presentation`].

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::presentation::{ChunkFacts, Layout, Presentation, Served};
use super::props::{DEFAULT_FRAGMENT, SegmentAddressing};
use super::tracks::{protection, track_info};
use crate::fragmp4mux::{
    FragMp4Mux, audio_sink_caps, meta_sink_caps, subtitle_sink_caps, video_sink_caps,
};
use crate::origin::{Limits, Origin};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4dashsink",
        gst::DebugColorFlags::empty(),
        Some("DASH sink for fragmented MP4"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    manifest: String,
    fragment_ns: u64,
    chunk_ns: u64,
    addressing: SegmentAddressing,
    /// `segment-addressing` was set (it means nothing with `single-file`).
    addressing_set: bool,
    single_file: bool,
    playlist_length: u32,
    max_files: u32,
    http_port: i32,
    http_address: String,
    http_path: Option<String>,
    http_max_connections: u32,
    http_header_timeout: u64,
    /// Encryption properties set on the sink, for every muxer.
    encryption: Vec<(String, Kept)>,
}

/// An encryption property's value as set.
#[derive(Debug, Clone)]
enum Kept {
    Scheme(crate::fragmp4mux::Encryption),
    Number(u32),
    Text(Option<String>),
}

impl Kept {
    fn to_value(&self) -> glib::Value {
        match self {
            Kept::Scheme(e) => e.to_value(),
            Kept::Number(n) => n.to_value(),
            Kept::Text(t) => t.to_value(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: None,
            manifest: "manifest.mpd".into(),
            fragment_ns: DEFAULT_FRAGMENT,
            chunk_ns: 0,
            addressing: SegmentAddressing::Number,
            addressing_set: false,
            single_file: false,
            playlist_length: 0,
            max_files: 0,
            http_port: -1,
            http_address: "127.0.0.1".into(),
            http_path: None,
            http_max_connections: 1024,
            http_header_timeout: crate::hls::DEFAULT_HEADER_TIMEOUT,
            encryption: Vec::new(),
        }
    }
}

/// One track: its muxer and the appsink after it.
struct Branch {
    mux: FragMp4Mux,
    pad: gst::GhostPad,
    video: bool,
    /// `meta_%u` pads into this track's muxer: its segments carry their `emsg`s.
    metas: Vec<gst::GhostPad>,
}

impl Branch {
    /// (`schemeIdUri`, `value`) of the events the meta pads bring, from their caps.
    fn event_schemes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for pad in &self.metas {
            let scheme = match pad.current_caps().as_ref().and_then(|c| c.structure(0)) {
                Some(s) if s.name() == "meta/x-id3" => crate::events::ID3_SCHEME,
                Some(s) if s.name() == "application/x-scte35" => crate::events::SCTE35_SCHEME,
                _ => continue,
            };
            let entry = (scheme.to_string(), String::new());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
        out
    }
}

/// The HTTP origin this sink serves through, while PAUSED or PLAYING.
struct Serving {
    origin: Arc<Origin>,
    prefix: String,
    url: String,
}

pub struct FragMp4DashSink {
    settings: Mutex<Settings>,
    branches: Mutex<Vec<Branch>>,
    presentation: Mutex<Option<Presentation>>,
    serving: Mutex<Option<Serving>>,
    /// The muxers' `latency` as this sink set it for chunks.
    mux_latency: Mutex<bool>,
    /// Holds the encryption properties for the muxers (never in the bin).
    encryption: FragMp4Mux,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FragMp4DashSink {
    fn fail(&self, what: &str, err: impl std::fmt::Display) -> gst::FlowError {
        gst::element_imp_error!(self, gst::ResourceError::Write, ("{}: {}", what, err));
        gst::FlowError::Error
    }

    fn handle_sample(
        &self,
        track: usize,
        sample: &gst::Sample,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.presentation);
        let Some(p) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        if let Some(list) = sample.buffer_list() {
            for b in list.iter() {
                // Memory by memory: mapping a buffer of several memories would merge them.
                for memory in b.iter_memories() {
                    let map = memory.map_readable().map_err(|_| gst::FlowError::Error)?;
                    p.append(track, &map);
                }
            }
        } else if let Some(b) = sample.buffer() {
            if !b.flags().contains(gst::BufferFlags::HEADER) && lock(&self.settings).single_file {
                // index=single at EOS: the sidx, then the fragments.
                let map = b.map_readable().map_err(|_| gst::FlowError::Error)?;
                p.indexed(track, &map)
                    .map_err(|e| self.fail("cannot write the single file", e))?;
                return Ok(gst::FlowSuccess::Ok);
            }
            if !b.flags().contains(gst::BufferFlags::HEADER) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["fragmp4dashsink needs fragmented output"]
                );
                return Err(gst::FlowError::Error);
            }
            let caps = lock(&self.branches).get(track).and_then(|b| {
                b.pad
                    .current_caps()
                    .map(|c| (b.pad.name(), c, b.event_schemes()))
            });
            let Some((name, caps, event_schemes)) = caps else {
                return Err(gst::FlowError::NotNegotiated);
            };
            let lang = lock(&self.branches).get(track).and_then(|b| {
                let tag = b.pad.sticky_event::<gst::event::Tag>(0)?;
                let code = tag.tag().get::<gst::tags::LanguageCode>()?;
                crate::language::from_tag(code.get()).ok().map(|l| l.bcp47)
            });
            match track_info(&name, &caps, lang) {
                Ok(info) => p.set_info(
                    track,
                    super::presentation::TrackInfo {
                        event_schemes,
                        ..info
                    },
                ),
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("pad {}: {}", name, e)
                    );
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
            let map = b.map_readable().map_err(|_| gst::FlowError::Error)?;
            p.init(track, bytes::Bytes::copy_from_slice(&map))
                .map_err(|e| self.fail("cannot write the init segment", e))?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// A muxer's facts about the chunk it just pushed.
    fn handle_fragment(&self, track: usize, s: &gst::StructureRef) {
        let time = |name: &str| {
            s.get::<gst::ClockTime>(name)
                .ok()
                .map(gst::ClockTime::nseconds)
        };
        let facts = ChunkFacts {
            keyframe_start: s.get::<bool>("keyframe-start").unwrap_or(false),
            earliest: time("earliest-presentation-time"),
            presentation_end: time("presentation-end"),
            origin: s.get::<i64>("origin").unwrap_or(0),
            size: s.get::<u64>("size").unwrap_or(0),
        };
        gst::debug!(CAT, imp = self, "track {}: {:?}", track, facts);
        if let Some(p) = lock(&self.presentation).as_mut()
            && let Err(e) = p.chunk(track, facts)
        {
            let _ = self.fail("cannot write a media segment or the MPD", e);
        }
    }

    fn finish_track(&self, track: usize) {
        if let Some(p) = lock(&self.presentation).as_mut()
            && let Err(e) = p.finish_track(track)
        {
            let _ = self.fail("cannot write the MPD", e);
        }
    }

    /// A `meta_%u` pad: onto a meta pad of the first video track's muxer (else the first
    /// track's), whose segments then carry the `emsg`s (`InbandEventStream`).
    fn meta_pad(&self, templ: &gst::PadTemplate) -> Option<gst::Pad> {
        let mut branches = lock(&self.branches);
        let count: usize = branches.iter().map(|b| b.metas.len()).sum();
        let Some(branch) = (match branches.iter().position(|b| b.video) {
            Some(i) => branches.get_mut(i),
            None => branches.first_mut(),
        }) else {
            gst::warning!(
                CAT,
                imp = self,
                "request the video or audio pads before a meta pad: its events go into a track's segments"
            );
            return None;
        };
        let inner_templ = branch.mux.pad_template(templ.name_template())?;
        let target = branch.mux.request_pad(&inner_templ, None, None)?;
        let ghost = crate::construct::ghost_pad(&format!("meta_{count}"), &target).ok()?;
        if self.obj().current_state() > gst::State::Null {
            let _ = ghost.set_active(true);
        }
        self.obj().add_pad(&ghost).ok()?;
        branch.metas.push(ghost.clone());
        Some(ghost.upcast())
    }

    fn settings_error(&self, msg: String) -> gst::StateChangeError {
        gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", msg));
        gst::StateChangeError
    }

    /// Checks the settings and sets up the presentation: refused before the first byte.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let s = lock(&self.settings).clone();
        if s.chunk_ns >= s.fragment_ns {
            return Err(self.settings_error(format!(
                "chunk-duration ({} ns) must be shorter than fragment-duration ({} ns)",
                s.chunk_ns, s.fragment_ns
            )));
        }
        if s.single_file {
            let conflicts: Vec<&str> = [
                (
                    s.addressing_set,
                    "segment-addressing ($Number$/$Time$ name segment files)",
                ),
                (s.chunk_ns > 0, "chunk-duration"),
                (s.playlist_length > 0, "playlist-length"),
                (s.max_files > 0, "max-files"),
                (s.http_port >= 0, "http-port"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            if !conflicts.is_empty() {
                return Err(self.settings_error(format!(
                    "single-file=true writes one indexed file per track for VOD (SegmentBase); it cannot be combined with {}",
                    conflicts.join(", ")
                )));
            }
        }
        let dir = match (&s.location, s.http_port >= 0) {
            (Some(l), _) => Some(PathBuf::from(l)),
            (None, false) => Some(PathBuf::from(".")),
            (None, true) => None,
        };
        if let Some(d) = &dir
            && !d.is_dir()
        {
            gst::element_imp_error!(
                self,
                gst::ResourceError::NotFound,
                ("location {:?} is not a directory", d),
                ["create it first; fragmp4dashsink writes the MPD and segments into it"]
            );
            return Err(gst::StateChangeError);
        }
        let branches = lock(&self.branches);
        if branches.is_empty() {
            return Err(self.settings_error("no pads were requested".into()));
        }
        let latency = s.chunk_ns > 0;
        let mut ours = lock(&self.mux_latency);
        for b in branches.iter() {
            b.mux.set_property("fragment-duration", s.fragment_ns);
            b.mux.set_property("chunk-duration", s.chunk_ns);
            b.mux.set_property("force-keyframes", b.video);
            b.mux
                .set_property_from_str("index", if s.single_file { "single" } else { "none" });
            // Low-latency DASH: prft boxes per chunk, on the MPD's clock pairing.
            b.mux.set_property("write-prft", latency);
            if latency {
                // A chunk is due one chunk after it starts; allow late input as HLS
                // parts do.
                b.mux.set_property("latency", 3 * s.chunk_ns);
            } else if *ours {
                b.mux.set_property("latency", 0u64);
            }
        }
        *ours = latency;
        let tracks = branches.len();
        let protection = branches.first().and_then(|b| protection(&b.mux));
        drop(branches);
        drop(ours);
        let served = if s.http_port >= 0 {
            Some(self.serve(&s)?)
        } else {
            None
        };
        let layout = Layout {
            dir,
            manifest: s.manifest.clone(),
            addressing: s.addressing.into(),
            fragment_ns: s.fragment_ns,
            chunk_ns: s.chunk_ns,
            window: s.playlist_length,
            max_files: s.max_files,
            protection,
            single_file: s.single_file,
        };
        *lock(&self.presentation) = Some(Presentation::new(layout, served, tracks));
        Ok(())
    }

    /// Binds (or joins) the HTTP origin and adds this sink's rendition.
    fn serve(&self, s: &Settings) -> Result<Served, gst::StateChangeError> {
        let ip: std::net::IpAddr = s.http_address.parse().map_err(|_| {
            self.settings_error(format!(
                "http-address {:?} is not an IP address",
                s.http_address
            ))
        })?;
        let prefix = s
            .http_path
            .clone()
            .unwrap_or_else(|| self.obj().name().to_string());
        let prefix = prefix.trim_matches('/').to_string();
        if !crate::origin::plain_prefix(&prefix) {
            return Err(self.settings_error(format!(
                "http-path {prefix:?}: use one path segment of letters, digits, '.', '_' and '-'"
            )));
        }
        let limits = Limits {
            max_connections: s.http_max_connections.max(1) as usize,
            header_timeout: Duration::from_nanos(s.http_header_timeout.max(1)),
        };
        let bound = Origin::bind(ip, s.http_port as u16, limits).and_then(|origin| {
            let rendition = origin.add_rendition(&prefix)?;
            Ok((origin, rendition))
        });
        let (origin, rendition) = bound.map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ("{}", e));
            gst::StateChangeError
        })?;
        // Growing segments are streamed as they are written (chunked transfer).
        rendition.set_streaming(true);
        let path = if prefix.is_empty() {
            s.manifest.clone()
        } else {
            format!("{prefix}/{}", s.manifest)
        };
        let url = format!("http://{}/{path}", origin.local_addr());
        let time_url = format!("http://{}/time", origin.local_addr());
        gst::info!(CAT, imp = self, "serving {}", url);
        *lock(&self.serving) = Some(Serving {
            origin: origin.clone(),
            prefix,
            url,
        });
        Ok(Served {
            origin,
            rendition,
            time_url,
        })
    }

    fn stop(&self) {
        *lock(&self.presentation) = None;
        if let Some(serving) = lock(&self.serving).take() {
            serving.origin.remove_rendition(&serving.prefix);
        }
    }

    /// Pairs the pipeline clock's running time with UTC once, for availabilityStartTime.
    fn sample_clock(&self) {
        let obj = self.obj();
        let (Some(clock), Some(base)) = (obj.clock(), obj.base_time()) else {
            return;
        };
        let running = clock.time().saturating_sub(base).nseconds();
        let utc = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let kept = lock(&self.presentation).as_mut().map(|p| {
            p.set_clock(running, utc);
            p.clock().unwrap_or((running, utc))
        });
        // The muxers' prft boxes use the very pairing of the MPD.
        let (running, utc) = kept.unwrap_or((running, utc));
        for b in lock(&self.branches).iter() {
            b.mux.set_utc_mapping(running, utc);
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4DashSink {
    const NAME: &'static str = "GstFragMp4DashSink";
    type Type = super::FragMp4DashSink;
    type ParentType = gst::Bin;

    fn new() -> Self {
        Self {
            settings: Mutex::new(Settings::default()),
            branches: Mutex::new(Vec::new()),
            presentation: Mutex::new(None),
            serving: Mutex::new(None),
            mux_latency: Mutex::new(false),
            encryption: crate::construct::object("encryption"),
        }
    }
}

impl ObjectImpl for FragMp4DashSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(super::props::param_specs);
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let string = |v: &glib::Value, default: &str| {
            v.get::<Option<String>>()
                .ok()
                .flatten()
                .unwrap_or_else(|| default.to_string())
        };
        match pspec.name() {
            "location" => s.location = value.get().ok().flatten(),
            "manifest-name" => s.manifest = string(value, "manifest.mpd"),
            "fragment-duration" => s.fragment_ns = value.get().unwrap_or(DEFAULT_FRAGMENT),
            "chunk-duration" => s.chunk_ns = value.get().unwrap_or(0),
            "segment-addressing" => {
                s.addressing = value.get().unwrap_or_default();
                s.addressing_set = true;
            }
            "single-file" => s.single_file = value.get().unwrap_or(false),
            "playlist-length" => s.playlist_length = value.get().unwrap_or(0),
            "max-files" => s.max_files = value.get().unwrap_or(0),
            "http-port" => s.http_port = value.get().unwrap_or(-1),
            "http-address" => s.http_address = string(value, "127.0.0.1"),
            "http-path" => s.http_path = value.get().ok().flatten(),
            "http-max-connections" => s.http_max_connections = value.get().unwrap_or(1024),
            "http-header-timeout" => {
                s.http_header_timeout = value.get().unwrap_or(crate::hls::DEFAULT_HEADER_TIMEOUT)
            }
            name if super::props::ENCRYPTION.contains(&name) => {
                // Readable ones answered by a muxer outside the bin; all copied to each
                // track's muxer (plain values: a glib::Value is not Send).
                self.encryption.set_property_from_value(name, value);
                let kept = if let Ok(e) = value.get::<crate::fragmp4mux::Encryption>() {
                    Kept::Scheme(e)
                } else if let Ok(v) = value.get::<u32>() {
                    Kept::Number(v)
                } else {
                    Kept::Text(value.get::<Option<String>>().ok().flatten())
                };
                s.encryption.retain(|(n, _)| n != name);
                s.encryption.push((name.to_string(), kept));
                for b in lock(&self.branches).iter() {
                    b.mux.set_property_from_value(name, value);
                }
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "location" => s.location.to_value(),
            "manifest-name" => s.manifest.to_value(),
            "fragment-duration" => s.fragment_ns.to_value(),
            "chunk-duration" => s.chunk_ns.to_value(),
            "segment-addressing" => s.addressing.to_value(),
            "single-file" => s.single_file.to_value(),
            "playlist-length" => s.playlist_length.to_value(),
            "max-files" => s.max_files.to_value(),
            "http-port" => s.http_port.to_value(),
            "http-address" => s.http_address.to_value(),
            "http-path" => s.http_path.to_value(),
            "http-url" => lock(&self.serving)
                .as_ref()
                .map(|v| v.url.clone())
                .to_value(),
            "http-max-connections" => s.http_max_connections.to_value(),
            "http-header-timeout" => s.http_header_timeout.to_value(),
            name if super::props::ENCRYPTION.contains(&name) => {
                self.encryption.property_value(name)
            }
            _ => 0u32.to_value(),
        }
    }
}

impl GstObjectImpl for FragMp4DashSink {}

impl ElementImpl for FragMp4DashSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "DASH sink (fragmented MP4)",
                "Sink/Muxer",
                "Writes an MPEG-DASH presentation (MPD with SegmentTimeline, per-track CMAF init and media segments) \
                 of H.264, H.265, VP9, VP8 or AV1 video with AAC, Opus or FLAC audio, muxed by fragmp4mux; live or VOD, \
                 optionally served over HTTP",
                "gst-plugin-fragmp4 developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let template = |name: &str, caps: gst::Caps| {
                gst::PadTemplate::new(
                    name,
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                )
                .expect("valid template")
            };
            vec![
                template("video_%u", video_sink_caps()),
                template("audio_%u", audio_sink_caps()),
                template("meta_%u", meta_sink_caps()),
                template("subtitle_%u", subtitle_sink_caps()),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        if self.obj().current_state() > gst::State::Ready {
            gst::warning!(CAT, imp = self, "pads cannot be added once started");
            return None;
        }
        if templ.name_template() == "meta_%u" {
            return self.meta_pad(templ);
        }
        let video = templ.name_template().starts_with("video");
        let kind = templ
            .name_template()
            .split('_')
            .next()
            .unwrap_or("audio")
            .to_string();
        let mut branches = lock(&self.branches);
        let track = branches.len();
        let name = format!("{kind}_{track}");
        let mux: FragMp4Mux = crate::construct::object(&format!("mux_{name}"));
        mux.set_property("cmaf", true);
        for (name, kept) in &lock(&self.settings).encryption {
            mux.set_property_from_value(name, &kept.to_value());
        }
        let sink: gst_app::AppSink = crate::construct::object(&format!("sink_{name}"));
        sink.set_sync(false);
        sink.set_async(false);
        sink.set_buffer_list(true);
        let obj = self.obj();
        if let Err(err) = obj.add_many([mux.upcast_ref::<gst::Element>(), sink.upcast_ref()]) {
            gst::error!(CAT, imp = self, "cannot build the bin: {}", err);
            return None;
        }
        if let Err(err) = mux.link(&sink) {
            gst::error!(CAT, imp = self, "cannot link the muxer: {}", err);
            return None;
        }
        let weak = obj.downgrade();
        let weak_eos = obj.downgrade();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let obj = weak.upgrade().ok_or(gst::FlowError::Eos)?;
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    obj.imp().handle_sample(track, &sample)
                })
                .eos(move |_| {
                    if let Some(obj) = weak_eos.upgrade() {
                        obj.imp().finish_track(track);
                    }
                })
                .build(),
        );
        let inner_templ = mux.pad_template(templ.name_template())?;
        let target = mux.request_pad(&inner_templ, None, None)?;
        let ghost = crate::construct::ghost_pad(&name, &target).ok()?;
        let _ = mux.sync_state_with_parent();
        let _ = sink.sync_state_with_parent();
        if obj.current_state() > gst::State::Null {
            let _ = ghost.set_active(true);
        }
        obj.add_pad(&ghost).ok()?;
        branches.push(Branch {
            mux,
            pad: ghost.clone(),
            video,
            metas: Vec::new(),
        });
        Some(ghost.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let _ = self.obj().remove_pad(pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => self.start()?,
            gst::StateChange::PausedToPlaying => self.sample_clock(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        if matches!(
            transition,
            gst::StateChange::PausedToReady | gst::StateChange::ReadyToNull
        ) || (result.is_err() && transition == gst::StateChange::ReadyToPaused)
        {
            self.stop();
        }
        result
    }
}

impl BinImpl for FragMp4DashSink {
    fn handle_message(&self, message: gst::Message) {
        // Posted by a muxer right after it pushed the chunk (same thread), so the facts
        // arrive in order with the bytes.
        if let gst::MessageView::Element(e) = message.view()
            && let Some(s) = e.structure()
            && s.name() == "fragmp4mux-fragment"
        {
            let src = e.src();
            let track = lock(&self.branches)
                .iter()
                .position(|b| Some(b.mux.upcast_ref::<gst::Object>()) == src);
            if let Some(track) = track {
                self.handle_fragment(track, s);
            }
        }
        self.parent_handle_message(message)
    }
}
