//! The bin: ghost pads onto an inner `fragmp4mux`, whose output an `appsink` hands to
//! the [`Writer`].

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use std::time::Duration;

use super::live::{ChunkFacts, Files, LiveLayout, LiveWriter, Served};
use super::writer::{Layout, Writer};
use crate::fragmp4mux::{FragMp4Mux, audio_sink_caps, meta_sink_caps, video_sink_caps};
use crate::origin::{Limits, Origin};

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
    /// `location` was set: with the HTTP origin, files are written only then.
    location_set: bool,
    /// `single-file`: one file with the init and every segment, listed as byte ranges.
    single_file: bool,
    part_duration: u64,
    part_byteranges: bool,
    http_port: i32,
    http_address: String,
    http_path: Option<String>,
    http_max_connections: u32,
    http_header_timeout: u64,
    /// Encryption asked of the muxer (`none`, `cenc`, `cbcs`), and the key's URI and
    /// format for `EXT-X-KEY`.
    encryption: String,
    key_uri: Option<String>,
    key_format: Option<String>,
    /// `cue-tags`: SCTE-35 breaks also as `EXT-X-CUE-OUT`/`EXT-X-CUE-IN`.
    cue_tags: bool,
}

impl Settings {
    /// `EXT-X-KEY` attributes for encrypted segments (RFC 8216bis 4.4.4.4).
    fn key_line(&self) -> Option<String> {
        let method = match self.encryption.as_str() {
            "cenc" => "SAMPLE-AES-CTR",
            "cbcs" => "SAMPLE-AES",
            _ => return None,
        };
        let mut line = format!("METHOD={method}");
        if let Some(uri) = &self.key_uri {
            line.push_str(&format!(",URI=\"{uri}\""));
        }
        if let Some(f) = &self.key_format {
            line.push_str(&format!(",KEYFORMAT=\"{f}\",KEYFORMATVERSIONS=\"1\""));
        }
        Some(line)
    }

    /// Parts or the HTTP origin: the live (LL-HLS) presentation instead of files only.
    fn live(&self) -> bool {
        self.part_duration > 0 || self.http_port >= 0
    }
}

use super::props::DEFAULT_HEADER_TIMEOUT;

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
            location_set: false,
            part_duration: 0,
            part_byteranges: false,
            http_port: -1,
            http_address: "127.0.0.1".into(),
            http_path: None,
            http_max_connections: 1024,
            http_header_timeout: DEFAULT_HEADER_TIMEOUT,
            single_file: false,
            encryption: "none".into(),
            key_uri: None,
            key_format: None,
            cue_tags: false,
        }
    }
}

/// The HTTP origin this sink serves through, while PAUSED or PLAYING.
struct Serving {
    origin: Arc<Origin>,
    prefix: String,
    url: String,
}

pub struct FragMp4HlsSink {
    mux: FragMp4Mux,
    sink: gst_app::AppSink,
    settings: Mutex<Settings>,
    writer: Mutex<Option<Writer>>,
    live: Mutex<Option<LiveWriter>>,
    serving: Mutex<Option<Serving>>,
    /// (running time ns, UTC ms) sampled when going to PLAYING.
    clock: Mutex<Option<(u64, i64)>>,
    /// The inner muxer's `latency` as this sink set it for parts.
    mux_latency: Mutex<Option<u64>>,
    codecs: Mutex<String>,
    /// Cues of the `subtitle_%u` pad, for the subtitle rendition.
    subs: Mutex<subs::SubtitleInput>,
    /// SCTE-35 sections seen on the meta pads, for `EXT-X-DATERANGE`.
    splices: Mutex<scte::Splices>,
}

mod scte;
mod subs;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FragMp4HlsSink {
    fn layout(&self) -> Layout {
        let s = lock(&self.settings).clone();
        let key = s.key_line();
        Layout {
            segment: s.location,
            init: s.init_location,
            playlist: s.playlist_location,
            multivariant: s.multivariant_location,
            target_duration: s.target_duration,
            playlist_length: s.playlist_length,
            max_files: s.max_files,
            key,
            single_file: s.single_file,
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
        if let Some(live) = lock(&self.live).as_mut() {
            return self.live_sample(live, sample);
        }
        let mut guard = lock(&self.writer);
        let writer = guard.get_or_insert_with(|| Writer::new(self.layout()));
        writer.set_clock(*lock(&self.clock));
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

    /// A sample of the muxer's output for the live presentation.
    fn live_sample(
        &self,
        live: &mut LiveWriter,
        sample: &gst::Sample,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if let Some(list) = sample.buffer_list() {
            for b in list.iter() {
                for memory in b.iter_memories() {
                    let map = memory.map_readable().map_err(|_| gst::FlowError::Error)?;
                    live.append(&map);
                }
            }
        } else if let Some(b) = sample.buffer() {
            let map = b.map_readable().map_err(|_| gst::FlowError::Error)?;
            if !b.flags().contains(gst::BufferFlags::HEADER) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["fragmp4hlssink needs fragmented output (mode=fragmented)"]
                );
                return Err(gst::FlowError::Error);
            }
            live.init(bytes::Bytes::copy_from_slice(&map))
                .map_err(|e| self.fail("cannot write the init segment", e))?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// The resolution of the video input, if any.
    fn resolution(&self) -> Option<(u32, u32)> {
        self.obj().sink_pads().iter().find_map(|p| {
            let caps = p.current_caps()?;
            let s = caps.structure(0)?;
            Some((
                s.get::<i32>("width").ok()? as u32,
                s.get::<i32>("height").ok()? as u32,
            ))
        })
    }

    /// The frame length of the track the muxer cuts on: the video's, else the audio's
    /// (AAC frames of 1024 samples).
    fn frame_ns(&self) -> Option<u64> {
        let caps: Vec<gst::Caps> = self
            .obj()
            .sink_pads()
            .iter()
            .filter_map(|p| p.current_caps())
            .collect();
        let video = caps.iter().find_map(|c| {
            let s = c.structure(0)?;
            let f = s.get::<gst::Fraction>("framerate").ok()?;
            Some(super::parts::frame_ns(f.numer(), f.denom()))
        });
        match video {
            Some(frame) => frame,
            None => caps.iter().find_map(|c| {
                let s = c.structure(0)?;
                if s.name() != "audio/mpeg" {
                    return None;
                }
                let rate = s.get::<i32>("rate").ok().filter(|r| *r > 0)?;
                Some(1024 * 1_000_000_000 / rate as u64)
            }),
        }
    }

    /// The muxer's facts about the chunk it just pushed (DESIGN.md T4 durations).
    fn handle_fragment(&self, s: &gst::StructureRef) {
        let time = |name: &str| {
            s.get::<gst::ClockTime>(name)
                .ok()
                .map(gst::ClockTime::nseconds)
        };
        let keyframe_start = s.get::<bool>("keyframe-start").unwrap_or(false);
        if let Some(live) = lock(&self.live).as_mut() {
            if keyframe_start {
                live.set_frame(self.frame_ns());
                live.set_stream_info(&lock(&self.codecs), self.resolution());
            }
            let facts = ChunkFacts {
                keyframe_start,
                earliest: time("earliest-presentation-time"),
                reference_end: time("reference-end"),
            };
            if let Err(e) = live.chunk(facts) {
                let _ = self.fail("cannot publish a part", e);
            }
            return;
        }
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
        let resolution = self.resolution();
        let codecs = lock(&self.codecs).clone();
        if let Some(live) = lock(&self.live).as_mut() {
            live.set_stream_info(&codecs, resolution);
            if let Err(e) = live.finish() {
                let _ = self.fail("cannot write the playlist", e);
            }
            return;
        }
        let result = lock(&self.writer)
            .as_mut()
            .map(|w| w.finish(&codecs, resolution).map(|()| w.take_warnings()));
        if matches!(result, Some(Ok(_)))
            && let Err(e) = self.write_subtitles(&codecs, resolution)
        {
            let _ = self.fail("cannot write the subtitle rendition", e);
        }
        if matches!(result, Some(Ok(_)))
            && let Err(e) = self.write_date_ranges()
        {
            let _ = self.fail("cannot write the playlist", e);
        }
        match result {
            Some(Ok(warnings)) => self.warn(warnings),
            Some(Err(e)) => {
                let _ = self.fail("cannot write the playlist", e);
            }
            None => {}
        }
    }
}

/// The last component of a path: the name an object is served under.
fn base_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

impl FragMp4HlsSink {
    /// Sets up the live presentation (parts, the HTTP origin) for a new stream.
    fn start_live(&self) -> Result<(), gst::StateChangeError> {
        let s = lock(&self.settings).clone();
        if s.single_file && s.live() {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Settings,
                [
                    "single-file=true writes a VOD/event presentation to disk; it cannot be combined with part-duration or http-port"
                ]
            );
            return Err(gst::StateChangeError);
        }
        let chunk = match s.part_duration {
            0 => 0,
            d => super::parts::chunk_duration(d),
        };
        self.mux.set_property("chunk-duration", chunk);
        // A part is due one part after it starts; an encoder falling behind by more would
        // make the muxer's live timeout cut the segment short on the audio (DESIGN.md C4).
        // Waiting up to PART-HOLD-BACK for late input costs nothing while input is on
        // time, and a player holding back that much does not notice the delay.
        // (The muxer is private to the bin: its latency is the sink's to set.)
        let mut ours = lock(&self.mux_latency);
        if s.part_duration > 0 {
            let wait = 3 * s.part_duration;
            self.mux.set_property("latency", wait);
            *ours = Some(wait);
        } else if ours.take().is_some() {
            // Back to the muxer's own choice.
            self.mux.set_property("latency", 0u64);
        }
        drop(ours);
        if !s.live() {
            return Ok(());
        }
        let playlist = base_name(&s.playlist_location);
        let served = if s.http_port >= 0 {
            Some(self.serve(&s, &playlist)?)
        } else {
            None
        };
        let files = (served.is_none() || s.location_set).then(|| Files {
            segment: s.location.clone(),
            init: s.init_location.clone(),
            playlist: s.playlist_location.clone(),
            multivariant: s.multivariant_location.clone(),
        });
        let multivariant = s
            .multivariant_location
            .as_deref()
            .map(base_name)
            .or_else(|| served.is_some().then(|| "multivariant.m3u8".to_string()));
        let layout = LiveLayout {
            segment: base_name(&s.location),
            init: base_name(&s.init_location),
            playlist,
            multivariant,
            files,
            target_duration: s.target_duration,
            part_ns: s.part_duration,
            byteranges: s.part_byteranges,
            playlist_length: s.playlist_length,
            key: s.key_line(),
        };
        *lock(&self.live) = Some(LiveWriter::new(layout, served));
        Ok(())
    }

    /// Binds (or joins) the HTTP origin and adds this sink's rendition.
    fn serve(&self, s: &Settings, playlist: &str) -> Result<Served, gst::StateChangeError> {
        let ip: std::net::IpAddr = s.http_address.parse().map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ("http-address {:?} is not an IP address", s.http_address)
            );
            gst::StateChangeError
        })?;
        let prefix = s
            .http_path
            .clone()
            .unwrap_or_else(|| self.obj().name().to_string());
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            || prefix == "."
            || prefix == ".."
        {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                (
                    "http-path {:?}: use one path segment of letters, digits, '.', '_' and '-'",
                    prefix
                )
            );
            return Err(gst::StateChangeError);
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
        let path = if prefix.is_empty() {
            playlist.to_string()
        } else {
            format!("{prefix}/{playlist}")
        };
        let url = format!("http://{}/{path}", origin.local_addr());
        gst::info!(CAT, imp = self, "serving {}", url);
        *lock(&self.serving) = Some(Serving {
            origin: origin.clone(),
            prefix: prefix.clone(),
            url,
        });
        Ok(Served {
            origin,
            rendition,
            prefix,
        })
    }

    /// Stops serving: the server stops and frees its port with its last rendition.
    fn stop_live(&self) {
        *lock(&self.live) = None;
        if let Some(serving) = lock(&self.serving).take() {
            serving.origin.remove_rendition(&serving.prefix);
        }
    }

    /// Pairs the pipeline clock's running time with UTC once, for PROGRAM-DATE-TIME.
    fn sample_clock(&self) {
        let obj = self.obj();
        let (Some(clock), Some(base)) = (obj.clock(), obj.base_time()) else {
            return;
        };
        let running = clock.time().saturating_sub(base).nseconds();
        let utc = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        lock(&self.clock).get_or_insert((running, utc));
        if let Some(live) = lock(&self.live).as_mut() {
            live.set_clock(running, utc);
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4HlsSink {
    const NAME: &'static str = "GstFragMp4HlsSink";
    type Type = super::FragMp4HlsSink;
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
            writer: Mutex::new(None),
            live: Mutex::new(None),
            serving: Mutex::new(None),
            clock: Mutex::new(None),
            mux_latency: Mutex::new(None),
            codecs: Mutex::new(String::new()),
            subs: Mutex::new(Default::default()),
            splices: Mutex::new(Default::default()),
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
            "location" => {
                s.location = string(value, "segment%05d.m4s");
                s.location_set = true;
            }
            "part-duration" => s.part_duration = value.get().unwrap_or(0),
            "part-byteranges" => s.part_byteranges = value.get().unwrap_or(false),
            "single-file" => s.single_file = value.get().unwrap_or(false),
            "cue-tags" => s.cue_tags = value.get().unwrap_or(false),
            "http-port" => s.http_port = value.get().unwrap_or(-1),
            "http-address" => s.http_address = string(value, "127.0.0.1"),
            "http-path" => s.http_path = value.get().ok().flatten(),
            "http-max-connections" => s.http_max_connections = value.get().unwrap_or(1024),
            "encryption" | "key-id" | "key" | "iv" | "crypt-byte-block" | "skip-byte-block"
            | "pssh" | "pssh-in-fragments" => {
                // The muxer encrypts; the sink names the method in EXT-X-KEY.
                if pspec.name() == "encryption" {
                    let e = value
                        .get::<crate::fragmp4mux::Encryption>()
                        .unwrap_or_default();
                    s.encryption = match e {
                        crate::fragmp4mux::Encryption::None => "none",
                        crate::fragmp4mux::Encryption::Cenc => "cenc",
                        crate::fragmp4mux::Encryption::Cbcs => "cbcs",
                    }
                    .into();
                }
                self.mux.set_property_from_value(pspec.name(), value);
            }
            "key-uri" => s.key_uri = value.get().ok().flatten(),
            "key-format" => s.key_format = value.get().ok().flatten(),
            "http-header-timeout" => {
                s.http_header_timeout = value.get().unwrap_or(DEFAULT_HEADER_TIMEOUT)
            }
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
            "part-duration" => s.part_duration.to_value(),
            "part-byteranges" => s.part_byteranges.to_value(),
            "single-file" => s.single_file.to_value(),
            "cue-tags" => s.cue_tags.to_value(),
            "http-port" => s.http_port.to_value(),
            "http-address" => s.http_address.to_value(),
            "http-path" => s.http_path.to_value(),
            "http-url" => lock(&self.serving)
                .as_ref()
                .map(|v| v.url.clone())
                .to_value(),
            "http-max-connections" => s.http_max_connections.to_value(),
            "http-header-timeout" => s.http_header_timeout.to_value(),
            "encryption" | "key-id" | "key" | "iv" | "crypt-byte-block" | "skip-byte-block"
            | "pssh" | "pssh-in-fragments" => self.mux.property_value(pspec.name()),
            "key-uri" => s.key_uri.to_value(),
            "key-format" => s.key_format.to_value(),
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
                template("meta_%u", meta_sink_caps()),
                template("subtitle_%u", subs::subtitle_caps()),
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
        if templ.name_template() == "subtitle_%u" {
            return self.subtitle_pad(templ, name);
        }
        let inner_templ = self.mux.pad_template(templ.name_template())?;
        let target = self.mux.request_pad(&inner_templ, name, caps)?;
        let ghost = crate::construct::ghost_pad(&target.name(), &target).ok()?;
        if self.obj().current_state() > gst::State::Null {
            let _ = ghost.set_active(true);
        }
        self.obj().add_pad(&ghost).ok()?;
        if templ.name_template() == "video_%u" {
            self.watch_video_start(&ghost);
        }
        if templ.name_template() == "meta_%u" {
            self.watch_splices(&ghost);
        }
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
        match transition {
            gst::StateChange::ReadyToPaused => {
                // A new presentation.
                *lock(&self.writer) = None;
                *lock(&self.clock) = None;
                lock(&self.subs).reset();
                lock(&self.splices).seen.clear();
                self.start_live()?;
            }
            gst::StateChange::PausedToPlaying => self.sample_clock(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        if matches!(
            transition,
            gst::StateChange::PausedToReady | gst::StateChange::ReadyToNull
        ) || (result.is_err() && transition == gst::StateChange::ReadyToPaused)
        {
            self.stop_live();
        }
        result
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
