//! The bin: ghost pads onto an inner `fragmp4mux`, whose output an `appsink` hands to
//! the [`Writer`].

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::writer::{Layout, Writer};
use crate::fragmp4mux::{FragMp4Mux, audio_sink_caps, video_sink_caps};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4hlssink",
        gst::DebugColorFlags::empty(),
        Some("HLS sink for fragmented MP4"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    location: String,
    init_location: String,
    playlist_location: String,
    multivariant_location: Option<String>,
    target_duration: u32,
    playlist_length: u32,
    max_files: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: "segment%05d.m4s".into(),
            init_location: "init%d.mp4".into(),
            playlist_location: "playlist.m3u8".into(),
            multivariant_location: None,
            target_duration: 6,
            playlist_length: 0,
            max_files: 0,
        }
    }
}

pub struct FragMp4HlsSink {
    mux: FragMp4Mux,
    sink: gst_app::AppSink,
    settings: Mutex<Settings>,
    writer: Mutex<Option<Writer>>,
    codecs: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FragMp4HlsSink {
    fn layout(&self) -> Layout {
        let s = lock(&self.settings).clone();
        Layout {
            segment: s.location,
            init: s.init_location,
            playlist: s.playlist_location,
            multivariant: s.multivariant_location,
            target_duration: s.target_duration,
            playlist_length: s.playlist_length,
            max_files: s.max_files,
        }
    }

    fn fail(&self, what: &str, err: std::io::Error) -> gst::FlowError {
        gst::element_imp_error!(self, gst::ResourceError::Write, ("{}: {}", what, err));
        gst::FlowError::Error
    }

    fn handle_sample(&self, sample: &gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        if let Some(codecs) = sample
            .caps()
            .and_then(|c| c.structure(0))
            .and_then(|s| s.get::<String>("codecs").ok())
        {
            *lock(&self.codecs) = codecs;
        }
        let mut guard = lock(&self.writer);
        let writer = guard.get_or_insert_with(|| Writer::new(self.layout()));
        if let Some(list) = sample.buffer_list() {
            let Some(head) = list.get(0) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if !head.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                // A fragment starts: so does a segment. Its start and the end of the one
                // before come with the muxer's fragment message (handle_message).
                writer
                    .start_segment(head.pts().map_or(0, |t| t.nseconds()))
                    .map_err(|e| self.fail("cannot write a media segment", e))?;
                gst::debug!(CAT, imp = self, "segment at {:?}", head.pts());
            }
            for b in list.iter() {
                // Memory by memory: mapping a buffer of several memories would merge them.
                for memory in b.iter_memories() {
                    let map = memory.map_readable().map_err(|_| gst::FlowError::Error)?;
                    writer
                        .append(&map)
                        .map_err(|e| self.fail("cannot write a media segment", e))?;
                }
            }
        } else if let Some(b) = sample.buffer() {
            let map = b.map_readable().map_err(|_| gst::FlowError::Error)?;
            if b.flags().contains(gst::BufferFlags::HEADER) {
                writer
                    .init(&map)
                    .map_err(|e| self.fail("cannot write the init segment", e))?;
            } else {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["fragmp4hlssink needs fragmented output (mode=fragmented)"]
                );
                return Err(gst::FlowError::Error);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// The muxer's facts about the chunk it just pushed (DESIGN.md T4 durations).
    fn handle_fragment(&self, s: &gst::StructureRef) {
        let time = |name: &str| {
            s.get::<gst::ClockTime>(name)
                .ok()
                .map(gst::ClockTime::nseconds)
        };
        let keyframe_start = s.get::<bool>("keyframe-start").unwrap_or(false);
        let result = match lock(&self.writer).as_mut() {
            Some(w) => w
                .fragment(
                    keyframe_start,
                    time("earliest-presentation-time"),
                    time("presentation-end"),
                )
                .map(|()| w.take_warnings()),
            None => return,
        };
        match result {
            Ok(warnings) => self.warn(warnings),
            Err(e) => {
                let _ = self.fail("cannot write the playlist", e);
            }
        }
    }

    fn warn(&self, warnings: Vec<String>) {
        for w in warnings {
            gst::element_imp_warning!(self, gst::StreamError::Format, ("{}", w));
        }
    }

    fn finish(&self) {
        let resolution = self.obj().sink_pads().iter().find_map(|p| {
            let caps = p.current_caps()?;
            let s = caps.structure(0)?;
            Some((
                s.get::<i32>("width").ok()? as u32,
                s.get::<i32>("height").ok()? as u32,
            ))
        });
        let codecs = lock(&self.codecs).clone();
        let result = lock(&self.writer)
            .as_mut()
            .map(|w| w.finish(&codecs, resolution).map(|()| w.take_warnings()));
        match result {
            Some(Ok(warnings)) => self.warn(warnings),
            Some(Err(e)) => {
                let _ = self.fail("cannot write the playlist", e);
            }
            None => {}
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4HlsSink {
    const NAME: &'static str = "GstFragMp4HlsSink";
    type Type = super::FragMp4HlsSink;
    type ParentType = gst::Bin;

    fn with_class(_klass: &Self::Class) -> Self {
        let mux: FragMp4Mux = glib::Object::builder().property("name", "mux").build();
        let sink = gst_app::AppSink::builder()
            .name("sink")
            .sync(false)
            .async_(false)
            .buffer_list(true)
            .build();
        Self {
            mux,
            sink,
            settings: Mutex::new(Settings::default()),
            writer: Mutex::new(None),
            codecs: Mutex::new(String::new()),
        }
    }
}

impl ObjectImpl for FragMp4HlsSink {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        if let Err(err) = obj.add_many([
            self.mux.upcast_ref::<gst::Element>(),
            self.sink.upcast_ref(),
        ]) {
            gst::error!(CAT, imp = self, "cannot build the bin: {}", err);
            return;
        }
        if let Err(err) = self.mux.link(&self.sink) {
            gst::error!(CAT, imp = self, "cannot link the muxer: {}", err);
        }
        // Segments end where the target duration asks, even with long GOPs.
        self.mux.set_property("force-keyframes", true);
        self.mux.set_property("fragment-duration", 6_000_000_000u64);
        let weak = obj.downgrade();
        let weak_eos = obj.downgrade();
        self.sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let obj = weak.upgrade().ok_or(gst::FlowError::Eos)?;
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    obj.imp().handle_sample(&sample)
                })
                .eos(move |_| {
                    if let Some(obj) = weak_eos.upgrade() {
                        obj.imp().finish();
                    }
                })
                .build(),
        );
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Segment location")
                    .blurb("Path of the media segments, with %d or %05d for the index")
                    .default_value(Some("segment%05d.m4s"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("init-location")
                    .nick("Init segment location")
                    .blurb("Path of the init segments (EXT-X-MAP), with %d for the index")
                    .default_value(Some("init%d.mp4"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("playlist-location")
                    .nick("Playlist location")
                    .blurb("Path of the media playlist")
                    .default_value(Some("playlist.m3u8"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("multivariant-location")
                    .nick("Multivariant playlist location")
                    .blurb("Path of a multivariant playlist naming the codecs (RFC 6381), written at EOS; none if unset")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("target-duration")
                    .nick("Target duration")
                    .blurb("Segment duration in seconds; keyframes are requested upstream at segment boundaries")
                    .minimum(1)
                    .maximum(3600)
                    .default_value(6)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("playlist-length")
                    .nick("Playlist length")
                    .blurb("Segments listed in the playlist, a sliding window for live (0 = all)")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-files")
                    .nick("Max files")
                    .blurb("Segment files kept on disk, the oldest deleted first (0 = all)")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
            ]
        });
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
            "location" => s.location = string(value, "segment%05d.m4s"),
            "init-location" => s.init_location = string(value, "init%d.mp4"),
            "playlist-location" => s.playlist_location = string(value, "playlist.m3u8"),
            "multivariant-location" => s.multivariant_location = value.get().ok().flatten(),
            "target-duration" => {
                s.target_duration = value.get().unwrap_or(6);
                let ns = u64::from(s.target_duration) * 1_000_000_000;
                self.mux.set_property("fragment-duration", ns);
            }
            "playlist-length" => s.playlist_length = value.get().unwrap_or(0),
            "max-files" => s.max_files = value.get().unwrap_or(0),
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "location" => s.location.to_value(),
            "init-location" => s.init_location.to_value(),
            "playlist-location" => s.playlist_location.to_value(),
            "multivariant-location" => s.multivariant_location.to_value(),
            "target-duration" => s.target_duration.to_value(),
            "playlist-length" => s.playlist_length.to_value(),
            "max-files" => s.max_files.to_value(),
            _ => 0u32.to_value(),
        }
    }
}

impl GstObjectImpl for FragMp4HlsSink {}

impl ElementImpl for FragMp4HlsSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "HLS sink (fragmented MP4)",
                "Sink/Muxer",
                "Writes an HLS presentation (media and multivariant playlists, init and fMP4 segments) of \
                 H.264, H.265, VP9, VP8 or AV1 video with AAC, Opus or FLAC audio, muxed by fragmp4mux",
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
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let inner_templ = self.mux.pad_template(templ.name_template())?;
        let target = self.mux.request_pad(&inner_templ, name, caps)?;
        let ghost = gst::GhostPad::builder_with_target(&target)
            .ok()?
            .name(target.name())
            .build();
        if self.obj().current_state() > gst::State::Null {
            let _ = ghost.set_active(true);
        }
        self.obj().add_pad(&ghost).ok()?;
        Some(ghost.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if let Some(ghost) = pad.downcast_ref::<gst::GhostPad>()
            && let Some(target) = ghost.target()
        {
            self.mux.release_request_pad(&target);
        }
        let _ = self.obj().remove_pad(pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            // A new presentation.
            *lock(&self.writer) = None;
        }
        self.parent_change_state(transition)
    }
}

impl BinImpl for FragMp4HlsSink {
    fn handle_message(&self, message: gst::Message) {
        // Posted by the muxer right after it pushed the chunk (same thread), so the facts
        // arrive in order with the bytes.
        if let gst::MessageView::Element(e) = message.view()
            && e.src() == Some(self.mux.upcast_ref::<gst::Object>())
            && let Some(s) = e.structure()
            && s.name() == "fragmp4mux-fragment"
        {
            self.handle_fragment(s);
        }
        self.parent_handle_message(message)
    }
}
