//! The bin: ghost pads onto an inner `fragmp4mux` (per-frame chunks, one `moof` per
//! track), whose output an `appsink` queues for the [`Publisher`].

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::publisher::{self, Event, Payload, Publisher};
use super::queue::Item;
use crate::fragmp4mux::{FragMp4Mux, audio_sink_caps, video_sink_caps};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4moqsink",
        gst::DebugColorFlags::empty(),
        Some("Media over QUIC publisher for fragmented MP4"),
    )
});

/// Default `connect-timeout` (ns).
const DEFAULT_CONNECT_TIMEOUT: u64 = 5_000_000_000;
const DEFAULT_MAX_QUEUED_GROUPS: u32 = 4;
/// Shorter than any frame: one sample per chunk (DESIGN.md C2).
const DEFAULT_CHUNK_DURATION: u64 = 1;
const DEFAULT_FRAGMENT_DURATION: u64 = 2_000_000_000;

#[derive(Debug, Clone)]
struct Settings {
    url: Option<String>,
    broadcast: String,
    tls_disable_verify: bool,
    tls_root: Option<String>,
    connect_timeout: u64,
    max_queued_groups: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            url: None,
            broadcast: "live".into(),
            tls_disable_verify: false,
            tls_root: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_queued_groups: DEFAULT_MAX_QUEUED_GROUPS,
        }
    }
}

/// The muxer's output as queued: an init segment buffer or a chunk's buffer list.
enum Output {
    Buffer(gst::Buffer),
    List(gst::BufferList),
}

fn for_each_memory(buffer: &gst::BufferRef, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
    // Memory by memory: mapping a buffer of several memories would merge them.
    for memory in buffer.iter_memories() {
        let map = memory
            .map_readable()
            .map_err(|_| "cannot map an output buffer".to_string())?;
        f(&map);
    }
    Ok(())
}

impl Payload for Output {
    fn for_each_slice(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        match self {
            Output::Buffer(b) => for_each_memory(b, f),
            Output::List(list) => list.iter().try_for_each(|b| for_each_memory(b, f)),
        }
    }
}

pub struct FragMp4MoqSink {
    mux: FragMp4Mux,
    sink: gst_app::AppSink,
    settings: Mutex<Settings>,
    publisher: Mutex<Option<Publisher<Output>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FragMp4MoqSink {
    fn handle_sample(&self, sample: &gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        let item = if let Some(list) = sample.buffer_list_owned() {
            let opens_group = list
                .get(0)
                .is_some_and(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT));
            Item::Chunk {
                payload: Output::List(list),
                opens_group,
            }
        } else if let Some(buffer) = sample.buffer_owned() {
            if buffer.flags().contains(gst::BufferFlags::HEADER) {
                Item::Init(Output::Buffer(buffer))
            } else {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["fragmp4moqsink needs fragmented output (mode=fragmented)"]
                );
                return Err(gst::FlowError::Error);
            }
        } else {
            return Ok(gst::FlowSuccess::Ok);
        };
        match lock(&self.publisher).as_ref() {
            Some(p) => p.push(item),
            None => return Err(gst::FlowError::Flushing),
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// The settings as the publisher takes them, or the reason they cannot work.
    fn publisher_settings(&self) -> Result<publisher::Settings, publisher::Error> {
        let s = lock(&self.settings).clone();
        let url = s.url.as_deref().ok_or_else(|| publisher::Error::Url {
            url: String::new(),
            reason: "not set".into(),
        })?;
        Ok(publisher::Settings {
            url: publisher::parse_url(url)?,
            broadcast: s.broadcast,
            tls_disable_verify: s.tls_disable_verify,
            tls_root: s.tls_root.map(PathBuf::from),
            connect_timeout: Duration::from_nanos(s.connect_timeout),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            max_queued_groups: s.max_queued_groups as usize,
        })
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.publisher_settings().map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", e));
            gst::StateChangeError
        })?;
        gst::info!(
            CAT,
            imp = self,
            "publishing broadcast {:?} to {}",
            settings.broadcast,
            settings.url
        );
        let weak = self.obj().downgrade();
        let events: publisher::Events = std::sync::Arc::new(move |event| {
            if let Some(obj) = weak.upgrade() {
                obj.imp().handle_event(event);
            }
        });
        let publisher = Publisher::start(settings, events).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", e));
            gst::StateChangeError
        })?;
        *lock(&self.publisher) = Some(publisher);
        Ok(())
    }

    fn handle_event(&self, event: Event) {
        match event {
            Event::Connected { reconnect } => {
                gst::info!(CAT, imp = self, "connected to the relay");
                if reconnect {
                    let _ = self.obj().post_message(
                        gst::message::Element::builder(
                            gst::Structure::builder("fragmp4moqsink-reconnected").build(),
                        )
                        .src(&*self.obj())
                        .build(),
                    );
                }
            }
            Event::Disconnected(reason) => {
                gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", reason));
            }
            Event::Failed(reason) => {
                gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ("{}", reason));
            }
        }
    }

    fn stats(&self) -> gst::Structure {
        let stats = lock(&self.publisher)
            .as_ref()
            .map(Publisher::stats)
            .unwrap_or_default();
        gst::Structure::builder("fragmp4moqsink-stats")
            .field("chunks", stats.chunks)
            .field("bytes", stats.bytes)
            .field("groups-dropped", stats.dropped.groups)
            .field("chunks-dropped", stats.dropped.chunks)
            .field("reconnects", stats.reconnects)
            .field("connected", stats.connected)
            .build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4MoqSink {
    const NAME: &'static str = "GstFragMp4MoqSink";
    type Type = super::FragMp4MoqSink;
    type ParentType = gst::Bin;

    fn with_class(_klass: &Self::Class) -> Self {
        let mux: FragMp4Mux = crate::construct::object("mux");
        let sink: gst_app::AppSink = crate::construct::object("sink");
        sink.set_sync(false);
        sink.set_async(false);
        sink.set_buffer_list(true);
        Self {
            mux,
            sink,
            settings: Mutex::new(Settings::default()),
            publisher: Mutex::new(None),
        }
    }
}

impl ObjectImpl for FragMp4MoqSink {
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
        // What the moq-mux importer wants: a `moof` per track, each frame a chunk.
        self.mux.set_property("separate-moof", true);
        self.mux
            .set_property("chunk-duration", DEFAULT_CHUNK_DURATION);
        self.mux
            .set_property("fragment-duration", DEFAULT_FRAGMENT_DURATION);
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
                    if let Some(obj) = weak_eos.upgrade()
                        && let Some(p) = lock(&obj.imp().publisher).as_ref()
                    {
                        p.push(Item::Eos);
                    }
                })
                .build(),
        );
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("url")
                    .nick("Relay URL")
                    .blurb("MoQ relay to publish to, e.g. https://localhost:4443/anon (https: WebTransport or raw QUIC; http: fetches the relay's self-signed certificate fingerprint first)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("broadcast")
                    .nick("Broadcast")
                    .blurb("Name (path) of the broadcast under the URL's path")
                    .default_value(Some("live"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("tls-disable-verify")
                    .nick("Disable TLS verification")
                    .blurb("Accept any relay certificate (local relays with a self-signed one only)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("tls-root")
                    .nick("TLS root")
                    .blurb("PEM file of the CA certificate(s) to trust instead of the system roots")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("connect-timeout")
                    .nick("Connect timeout")
                    .blurb("Nanoseconds the first connection (dial, TLS, MoQ handshake) may take before the element fails; later drops are retried with back-off")
                    .minimum(10_000_000)
                    .maximum(600_000_000_000)
                    .default_value(DEFAULT_CONNECT_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-queued-groups")
                    .nick("Max queued groups")
                    .blurb("Groups (fragments) waiting for the publisher before the oldest are dropped (counted in stats)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MAX_QUEUED_GROUPS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("fragment-duration")
                    .nick("Fragment duration")
                    .blurb("Group length: a group opens at the first keyframe at least this many nanoseconds after the last (the muxer's fragment-duration)")
                    .minimum(1_000_000)
                    .default_value(DEFAULT_FRAGMENT_DURATION)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("chunk-duration")
                    .nick("Chunk duration")
                    .blurb("Nanoseconds of media per MoQ frame (the muxer's chunk-duration); shorter than a frame = one frame each")
                    .minimum(1)
                    .default_value(DEFAULT_CHUNK_DURATION)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("chunks, bytes, groups-dropped, chunks-dropped, reconnects, connected")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "url" => s.url = value.get().ok().flatten(),
            "broadcast" => {
                s.broadcast = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
            "tls-disable-verify" => s.tls_disable_verify = value.get().unwrap_or(false),
            "tls-root" => s.tls_root = value.get().ok().flatten(),
            "connect-timeout" => s.connect_timeout = value.get().unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            "max-queued-groups" => {
                s.max_queued_groups = value.get().unwrap_or(DEFAULT_MAX_QUEUED_GROUPS)
            }
            "fragment-duration" | "chunk-duration" => {
                self.mux.set_property_from_value(pspec.name(), value)
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "url" => s.url.to_value(),
            "broadcast" => s.broadcast.to_value(),
            "tls-disable-verify" => s.tls_disable_verify.to_value(),
            "tls-root" => s.tls_root.to_value(),
            "connect-timeout" => s.connect_timeout.to_value(),
            "max-queued-groups" => s.max_queued_groups.to_value(),
            "fragment-duration" | "chunk-duration" => self.mux.property_value(pspec.name()),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            _ => 0u32.to_value(),
        }
    }
}

impl GstObjectImpl for FragMp4MoqSink {}

impl ElementImpl for FragMp4MoqSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Media over QUIC sink (fragmented MP4)",
                "Sink/Muxer/Network",
                "Publishes H.264, H.265, VP9, VP8 or AV1 video with AAC, Opus or FLAC audio, muxed by \
                 fragmp4mux, as a MoQ broadcast to a relay (moq-dev: hang catalog, moq-mux fMP4 import)",
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
        let ghost = crate::construct::ghost_pad(&target.name(), &target).ok()?;
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
        if transition == gst::StateChange::NullToReady {
            // Bad settings fail the state change at once, with the reason.
            self.publisher_settings().map_err(|e| {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", e));
                gst::StateChangeError
            })?;
        }
        if transition == gst::StateChange::ReadyToPaused {
            self.start()?;
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady
            || (result.is_err() && transition == gst::StateChange::ReadyToPaused)
        {
            // Aborts the tasks; nothing waits on the network.
            lock(&self.publisher).take();
        }
        result
    }
}

impl BinImpl for FragMp4MoqSink {}
