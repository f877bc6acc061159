//! Building output under the state lock (init segments, fragments, progressive files,
//! a recording's finish) and pushing it after the lock is released.

use gst::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::imp::{CAT, FragMp4Mux};
use super::index::{IndexMode, Spill, per_fragment_sidx, reference_span};
use super::prft::{Timeline, UtcMapping, prft_of};
use super::protect::{self, TrackProtection, decode_pssh};
use super::state::*;
use super::{output, progressive, recording};
use crate::boxes::init::write_recording_init;
use crate::boxes::{MovieDesc, TrackDesc, write_init};
use crate::fragmenter::Fragment;

impl FragMp4Mux {
    /// Builds the init segment and the src caps for the first fragment.
    pub(super) fn build_init(
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
            // AV1 without codec_data: the configuration comes from the first keyframe.
            let first_sample = first
                .tracks
                .iter()
                .find(|t| t.track == i)
                .and_then(|t| t.payloads.first());
            if let (Some((_, f)), Some(sample)) = (
                p.formats.iter_mut().find(|(g, _)| *g == generation),
                first_sample,
            ) && &f.entry.fourcc == b"av01"
                && f.entry.children.is_empty()
            {
                let parsed = sample
                    .map_readable()
                    .map_err(|_| crate::codec::CodecError::invalid("AV1 sample", "unreadable"))
                    .and_then(|m| crate::codec::av1::config_from_temporal_unit(&m));
                match parsed {
                    Ok(config) => {
                        f.entry.children.push(config.child());
                        f.codec_string = config.codec_string();
                    }
                    Err(err) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("pad {}: {}", p.pad.name(), err)
                        );
                        return Err(gst::FlowError::Error);
                    }
                }
            }
            let Some(f) = p.format(generation) else {
                continue;
            };
            tracks.push(TrackDesc {
                track_id: i as u32 + 1,
                timescale: f.timescale,
                entry: f.entry.clone(),
                language: p.language.clone(),
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
        let mut movie = MovieDesc::fragmented(movie_timescale);
        if settings.cmaf {
            movie.compatible_brands.push(*b"cmfc");
        }
        if !state.init_sent || self.protection_changed(state) {
            self.start_protection(state, &settings)?;
        }
        movie.pssh.clear();
        let mut in_fragments = false;
        for t in &mut tracks {
            let i = t.track_id as usize - 1;
            if let (Some(Some(p)), Some(s)) =
                (state.protection.get(i), state.protection_settings.get(i))
            {
                let video = t.is_video();
                t.entry = p.protect_entry(&t.entry, video);
                // Checked when the protection was set up: the boxes are valid.
                for pssh in decode_pssh(s.pssh.as_deref()).unwrap_or_default() {
                    if !movie.pssh.contains(&pssh) {
                        movie.pssh.push(pssh);
                    }
                }
                in_fragments |= s.pssh_in_fragments;
            }
        }
        state.fragment_pssh = if in_fragments {
            movie.pssh.clone()
        } else {
            Vec::new()
        };
        let hybrid = state.mode == Mode::Hybrid;
        let seekable = !state.init_sent && self.downstream_seekable();
        if hybrid && !state.init_sent && !seekable {
            gst::element_imp_error!(
                self,
                gst::StreamError::Mux,
                ("mode=hybrid needs a seekable downstream, such as filesink"),
                [
                    "downstream cannot seek in bytes, so the file cannot be finished at EOS; use mode=fragmented"
                ]
            );
            return Err(gst::FlowError::Error);
        }
        let init = if seekable {
            // A recording into a file: durations and an index are filled in at EOS, or
            // (hybrid) the file becomes an ordinary MP4.
            let (init, slots) = write_recording_init(&movie, &tracks);
            let timescales = tracks.iter().map(|t| (t.track_id, t.timescale)).collect();
            gst::info!(
                CAT,
                imp = self,
                "seekable downstream: {} at EOS",
                if hybrid {
                    "finished as an ordinary MP4"
                } else {
                    "durations and mfra"
                }
            );
            let mut r =
                recording::Recording::new(slots, movie_timescale, timescales, init.len() as u64);
            if hybrid {
                // The init is ftyp + moov: the moov starts where the ftyp ends.
                let ftyp = init
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                r = r.hybrid(tracks.clone(), u64::from(ftyp));
            }
            state.recording = Some(r);
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
        if !state.init_sent {
            self.start_index(state, &settings, &tracks)?;
        }
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
    pub(super) fn collect_ready(
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
            if !state.init_sent || format_changed || self.protection_changed(state) {
                if !state.init_sent {
                    let origin = state.fragmenter.origin().unwrap_or(0);
                    state.shift = (-origin).max(0);
                }
                match self.build_init(state, &fragment) {
                    Ok(init) => out.push(init),
                    Err(e) => return (out, Err(e)),
                }
            }
            for part in split_per_track(fragment, self.settings().separate_moof) {
                match self.build_fragment(state, part) {
                    Ok(f) => out.push(f),
                    Err(e) => return (out, Err(e)),
                }
            }
        }
    }

    /// Progressive mode: spills a run of samples to the temporary file.
    pub(super) fn record(
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
    pub(super) fn downstream_seekable(&self) -> bool {
        let mut q = gst::query::Seeking::new(gst::Format::Bytes);
        self.obj().src_pad().peer_query(&mut q) && q.result().0
    }

    /// Progressive mode at EOS: the header with the complete tables, then the payload.
    pub(super) fn finish_progressive(
        &self,
        state: &mut State,
    ) -> Result<Option<Pending>, gst::FlowError> {
        let Some(recorder) = state.recorder.take() else {
            return Ok(None);
        };
        let settings = self.settings();
        let tracks: Vec<Option<(TrackDesc, u64)>> = state
            .pads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let f = p.latest()?;
                let desc = TrackDesc {
                    track_id: i as u32 + 1,
                    timescale: f.timescale,
                    entry: f.entry.clone(),
                    language: p.language.clone(),
                };
                Some((desc, p.priming()?))
            })
            .collect();
        let movie_timescale = match settings.movie_timescale {
            0 => tracks
                .iter()
                .flatten()
                .map(|(t, _)| t)
                .find(|t| t.is_video())
                .or(tracks.iter().flatten().map(|(t, _)| t).next())
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

    pub(super) fn build_fragment(
        &self,
        state: &mut State,
        fragment: Fragment<gst::Buffer>,
    ) -> Result<Pending, gst::FlowError> {
        let track_ids: Vec<u32> = (1..=state.pads.len() as u32).collect();
        let keyframe_start = fragment.keyframe_start;
        for t in &fragment.tracks {
            if let Some(shift) = state.fragmenter.snap_ticks(t.track)
                && state.snap_logged.insert(t.track)
            {
                gst::info!(
                    CAT,
                    imp = self,
                    "track {} starts on its codec frame grid: shifted by {} ticks",
                    t.track + 1,
                    shift
                );
            }
        }
        let hybrid = state.recording.as_ref().is_some_and(|r| r.is_hybrid());
        let recorded: Vec<recording::ChunkTrack> = fragment
            .tracks
            .iter()
            .map(|t| recording::ChunkTrack {
                track_id: t.track as u32 + 1,
                base_decode_time: t.base_decode_time,
                samples: if hybrid {
                    t.samples.clone()
                } else {
                    Vec::new()
                },
                first_presentation: t.first_presentation(),
                presentation_end: t.presentation_end(),
            })
            .collect();
        let samples: usize = fragment.tracks.iter().map(|t| t.samples.len()).sum();
        // The chunk is moof + mdat header, then the payload: what precedes the samples.
        let payload: u64 = fragment
            .tracks
            .iter()
            .flat_map(|t| &t.samples)
            .map(|s| u64::from(s.size))
            .sum();
        let sequence = state.sequence;
        // DESIGN.md T4: where the chunk starts on the presentation timeline, and where
        // the presentation written so far ends (the last segment's end at EOS).
        let presentation_start = output::output_time(fragment.presentation_start, state.shift);
        let end = state
            .presentation_end
            .map_or(fragment.end_pts, |e| e.max(fragment.end_pts));
        state.presentation_end = Some(end);
        let presentation_end = output::output_time(end, state.shift);
        let settings = self.settings();
        let index = settings.index;
        let reference = state.index_reference;
        // write-prft: the reference track's tfdt in this chunk, if it has samples here.
        let prft_tfdt = fragment
            .tracks
            .iter()
            .find(|t| settings.write_prft && t.track as u32 + 1 == reference)
            .map(|t| t.base_decode_time);
        let chunk_running = fragment.start_dts;
        let span = fragment
            .tracks
            .iter()
            .find(|t| t.track as u32 + 1 == reference)
            .map(reference_span);
        let reference_end = output::output_time(
            fragment.presentation_end.max(fragment.presentation_start),
            state.shift,
        );
        let events_span = (
            fragment.presentation_start,
            fragment.presentation_end.max(fragment.presentation_start),
        );
        let mut fragment = fragment;
        let mut aux = Vec::with_capacity(fragment.tracks.len());
        for t in &mut fragment.tracks {
            let protection = state.protection.get_mut(t.track).and_then(Option::as_mut);
            match protection.map(|p| p.protect(t)) {
                Some(Ok(a)) => aux.push(Some(a)),
                Some(Err(err)) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Encode,
                        ("track {}: {}", t.track + 1, err)
                    );
                    return Err(gst::FlowError::Error);
                }
                None => aux.push(None),
            }
        }
        let mut chunk = match output::chunk(
            fragment,
            &aux,
            &state.fragment_pssh,
            sequence,
            &track_ids,
            state.shift,
        ) {
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
        // Events that start in this chunk: emsg boxes before its moof.
        let events = self.chunk_events(state, events_span.0, events_span.1);
        let events_len = events.len() as u64;
        if !events.is_empty() {
            chunk.size += events_len;
            chunk.list = output::prepend(chunk.list, events);
        }
        // A prft before the emsg boxes and the moof (after a sidx, which counts it).
        let mut before_moof = events_len;
        if let Some(tfdt) = prft_tfdt
            && let Some(prft) = self.chunk_prft(state, &settings, tfdt, chunk_running)
        {
            before_moof += prft.len() as u64;
            chunk.size += prft.len() as u64;
            chunk.list = output::prepend(chunk.list, prft);
        }
        if index == IndexMode::PerFragment {
            // Live: a sidx right before the fragment it references.
            let span = span.unwrap_or((state.index_end, state.index_end));
            let sidx = per_fragment_sidx(
                reference,
                state.index_timescale,
                chunk.size,
                span,
                keyframe_start,
            );
            if let Some(r) = state.recording.as_mut() {
                r.add_bytes(sidx.len() as u64);
            }
            chunk.size += sidx.len() as u64;
            chunk.list = output::prepend(chunk.list, sidx);
        }
        if let Some((_, end)) = span {
            state.index_end = state.index_end.max(end);
        }
        if let Some(r) = state.recording.as_mut() {
            // The prft and emsg boxes lie before the moof the recording indexes.
            r.add_bytes(before_moof);
            let header = chunk.size - payload - before_moof;
            r.add_chunk(&recorded, chunk.size - before_moof, header, keyframe_start);
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
            .field("earliest-presentation-time", presentation_start)
            .field("presentation-end", presentation_end)
            .field("reference-end", reference_end)
            .field("origin", state.fragmenter.origin().unwrap_or(0))
            .build();
        if let Some(spill) = state.spill.as_mut() {
            // A file with one index: the fragment waits on disk for the sidx at EOS.
            if let Err(err) = spill_chunk(spill, &chunk.list) {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Write,
                    (
                        "writing the temporary file for index=single failed: {}",
                        err
                    ),
                    ["free space in temp-location or choose another directory"]
                );
                return Err(gst::FlowError::Error);
            }
            spill.end_chunk(chunk.size, keyframe_start, span);
            return Ok(Pending::Message(message));
        }
        Ok(Pending::Fragment {
            list: chunk.list,
            message,
            end: chunk.pts + chunk.duration,
        })
    }

    /// The `prft` of a chunk whose reference track starts at `tfdt` (write-prft), from
    /// the element's UTC pairing; without one yet (no PLAYING before the first chunk,
    /// as when not live), the pipeline clock now, else the chunk itself, is paired with
    /// the wall clock now and kept.
    fn chunk_prft(
        &self,
        state: &State,
        settings: &Settings,
        tfdt: u64,
        chunk_running: i64,
    ) -> Option<Vec<u8>> {
        let origin = state.fragmenter.origin()?;
        let mapping = *lock(&self.utc).get_or_insert_with(|| {
            let obj = self.obj();
            let running = match (obj.clock(), obj.base_time()) {
                (Some(clock), Some(base)) => clock.time().saturating_sub(base).nseconds(),
                _ => chunk_running.max(0) as u64,
            };
            gst::info!(CAT, imp = self, "prft: running time {} is UTC now", running);
            UtcMapping::now(running)
        });
        let timeline = Timeline {
            reference_track_id: state.index_reference,
            timescale: state.index_timescale,
            zero_running_ns: origin.saturating_sub(settings.decode_time_offset as i64),
        };
        Some(prft_of(&mapping, &timeline, tfdt))
    }

    /// Sets up each track's encryption (its pad's settings over the element's) with the
    /// first init, and again when they change; a setting that cannot work is an element
    /// error naming the pad, before anything is written with it.
    fn start_protection(
        &self,
        state: &mut State,
        settings: &Settings,
    ) -> Result<(), gst::FlowError> {
        let mut protection = Vec::with_capacity(state.pads.len());
        let mut in_use = Vec::with_capacity(state.pads.len());
        for p in &state.pads {
            let track = p.pad.protect_settings(&settings.protect);
            let Some(f) = p.latest() else {
                protection.push(None);
                in_use.push(track);
                continue;
            };
            let checked = protect::check(&track, state.mode == Mode::Fragmented).and_then(|()| {
                TrackProtection::new(&track, &f.entry, f.nal_length_size, f.is_video)
            });
            match checked {
                Ok(t) => protection.push(t),
                Err(err) => {
                    gst::element_imp_error!(
                        self,
                        gst::LibraryError::Settings,
                        ("pad {}: {}", p.pad.name(), err)
                    );
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
            in_use.push(track);
        }
        if !state.protection_settings.is_empty() {
            gst::info!(CAT, imp = self, "encryption settings changed: new init");
        }
        state.protection = protection;
        state.protection_settings = in_use;
        Ok(())
    }

    /// Whether a track's encryption settings (a new key, KID, IV or pssh set while
    /// playing) differ from the ones its encryption was set up from.
    fn protection_changed(&self, state: &State) -> bool {
        if state.protection_settings.len() != state.pads.len() {
            return !state.protection_settings.is_empty();
        }
        let element = self.settings().protect;
        state
            .pads
            .iter()
            .zip(&state.protection_settings)
            .any(|(p, used)| p.pad.protect_settings(&element) != *used)
    }

    /// Checks the `index` setting against the stream before the first byte, and for
    /// `single` opens the spill file. Picks the reference track (the first video, else
    /// the first track).
    fn start_index(
        &self,
        state: &mut State,
        settings: &Settings,
        tracks: &[TrackDesc],
    ) -> Result<(), gst::FlowError> {
        // The reference track of the index and of prft boxes.
        if let Some(reference) = tracks.iter().find(|t| t.is_video()).or(tracks.first()) {
            state.index_reference = reference.track_id;
            state.index_timescale = reference.timescale;
        }
        if settings.index == IndexMode::None {
            return Ok(());
        }
        let refuse = |why: &str| {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Settings,
                ("index={:?} cannot be used here: {}", settings.index, why)
            );
            Err(gst::FlowError::NotNegotiated)
        };
        if settings.index == IndexMode::PerFragment && settings.separate_moof && tracks.len() > 1 {
            return refuse(
                "a per-fragment sidx references one moof+mdat: no separate-moof with several tracks",
            );
        }
        let Some(reference) = tracks.iter().find(|t| t.is_video()).or(tracks.first()) else {
            return Ok(());
        };
        if settings.index == IndexMode::Single {
            let dir = settings.temp_location.as_deref().map(std::path::Path::new);
            match Spill::new(dir, reference.track_id, reference.timescale) {
                Ok(s) => state.spill = Some(s),
                Err(err) => {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::OpenWrite,
                        ("cannot create the temporary file for index=single: {}", err),
                        ["set temp-location to a writable directory"]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        }
        Ok(())
    }

    /// `index=single` at EOS: the `sidx` and the spilled fragments after it; a recording
    /// learns that its fragments lie that much later in the file.
    pub(super) fn finish_index(
        &self,
        state: &mut State,
    ) -> Result<Option<Pending>, gst::FlowError> {
        let Some(spill) = state.spill.take() else {
            return Ok(None);
        };
        match spill.finish() {
            Ok((sidx, file)) => {
                if let Some(r) = state.recording.as_mut() {
                    r.insert_before_fragments(sidx.len() as u64);
                }
                state.counters.bytes += sidx.len() as u64;
                Ok(Some(Pending::Indexed { sidx, file }))
            }
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Read,
                    (
                        "finishing the temporary file for index=single failed: {}",
                        err
                    )
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    /// Streams a temporary file out in pieces, from where it stands.
    fn push_file(&self, file: &mut std::fs::File) -> Result<(), gst::FlowError> {
        let obj = self.obj();
        loop {
            match progressive::read_piece(file) {
                Ok(Some(piece)) => {
                    obj.finish_buffer(gst::Buffer::from_mut_slice(piece))?;
                }
                Ok(None) => return Ok(()),
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

    /// Pushes what [`FragMp4Mux::collect_ready`] built; called without the state lock.
    pub(super) fn push_pending(&self, pending: Vec<Pending>) -> Result<(), gst::FlowError> {
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
                    for recording::Patch { offset, bytes } in finish.writes {
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
                Pending::Message(message) => {
                    let _ = obj
                        .post_message(gst::message::Element::builder(message).src(&*obj).build());
                }
                Pending::Indexed { sidx, mut file } => {
                    obj.finish_buffer(gst::Buffer::from_mut_slice(sidx))?;
                    self.push_file(&mut file)?;
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
                    self.push_file(&mut file)?;
                }
            }
        }
        Ok(())
    }
}

/// Writes a chunk's bytes to the spill file, memory by memory (nothing merged).
fn spill_chunk(spill: &mut Spill, list: &gst::BufferList) -> std::io::Result<()> {
    for b in list.iter() {
        for m in b.iter_memories() {
            let map = m
                .map_readable()
                .map_err(|_| std::io::Error::other("a memory cannot be mapped"))?;
            spill.write(&map)?;
        }
    }
    Ok(())
}

/// With `separate`, one fragment per track (one `moof` each, DESIGN.md: MoQ relays);
/// only the first keeps the fragment-start flag.
fn split_per_track(fragment: Fragment<gst::Buffer>, separate: bool) -> Vec<Fragment<gst::Buffer>> {
    if !separate || fragment.tracks.len() < 2 {
        return vec![fragment];
    }
    let Fragment {
        tracks,
        start_dts,
        start_pts,
        end_pts,
        presentation_start,
        presentation_end,
        keyframe_start,
    } = fragment;
    tracks
        .into_iter()
        .enumerate()
        .map(|(i, t)| Fragment {
            tracks: vec![t],
            start_dts,
            start_pts,
            end_pts,
            presentation_start,
            presentation_end,
            keyframe_start: keyframe_start && i == 0,
        })
        .collect()
}
