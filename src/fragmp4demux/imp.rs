//! Element glue: the sink pad feeds the pure demuxer; its events become src pads,
//! caps and buffers, pushed outside the state lock.

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::output::OutPad;
use super::protection::{PsshOrigin, protected_caps, protection_event, sample_info, with_system};
use super::source::AdapterSource;
use crate::codec::caps_from_entry;
use crate::demux::index::{Index, ReadAt, SeekTarget, scan};
use crate::demux::protection::original_entry;
use crate::demux::{DemuxError, Demuxer, Event, Movie, Pssh};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "fragmp4demux",
        gst::DebugColorFlags::empty(),
        Some("Fragmented MP4 demuxer"),
    )
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    passthrough: bool,
}

#[derive(Default)]
struct State {
    demuxer: Demuxer<AdapterSource>,
    pads: Vec<OutPad>,
    /// Track IDs of the movie that have no pad (unsupported codec), warned about once.
    ignored: Vec<u32>,
    /// Passthrough is fixed when the first `moov` creates the pads.
    passthrough: bool,
    /// The `pssh` boxes of the last `moov` (passthrough init segments keep them).
    pssh: Vec<Pssh>,
    group_id: Option<gst::GroupId>,
    /// Pull mode: the fragments of the file, once scanned (`None`: not seekable).
    index: Option<Index>,
    /// Pull mode: the movie's duration (`mvhd`/`mehd`, else the end of the fragments).
    duration: Option<gst::ClockTime>,
    /// Pull mode: the `mvhd`/`mehd` duration and its timescale, when known.
    movie_duration: Option<(u64, u32)>,
    /// The segment of the last seek, in stream time (before edit offsets).
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// Push mode: the stream was read to its end, so every fragment is known.
    seen_complete: bool,
    /// Push mode: the BYTES seek sent upstream, applied at its FLUSH_STOP.
    push_seek: Option<push_seek::PushSeek>,
    /// Push mode: the seqnum of the last seek translated (each src pad passes it on).
    push_seqnum: Option<gst::Seqnum>,
    /// Push mode: a seek being decided by reading on (nothing is output meanwhile).
    scan: Option<push_seek::Scan>,
}

/// What the chain function decided, done after the state lock is released.
mod events;
mod push_seek;

enum Out {
    AddPad(gst::Pad),
    NoMorePads,
    Event(gst::Pad, gst::Event),
    Buffer(gst::Pad, gst::Buffer),
    List(gst::Pad, gst::BufferList),
    Message(gst::Message),
}

pub struct FragMp4Demux {
    sinkpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    flow: Mutex<gst_base::UniqueFlowCombiner>,
    /// Pull mode: stream offset of the next block to read.
    pull_offset: Mutex<u64>,
    /// The sink pad is in pull mode.
    pull: Mutex<bool>,
}

/// Reads a pull-mode sink pad at file offsets, for the scan.
struct PadReader<'a>(&'a gst::Pad);

impl ReadAt for PadReader<'_> {
    fn read_at(&mut self, offset: u64, size: usize) -> Option<Vec<u8>> {
        let buffer = self.0.pull_range(offset, u32::try_from(size).ok()?).ok()?;
        let map = buffer.map_readable().ok()?;
        (map.len() == size).then(|| map.to_vec())
    }
}

/// Bytes read per pull in pull mode.
const PULL_BLOCK: u32 = 1 << 20;

impl FragMp4Demux {
    fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut outs = Vec::new();
        let result = {
            let mut state = lock(&self.state);
            state.demuxer.source_mut().0.push(buffer);
            let result = self.drain(&mut state, &mut outs);
            if Self::dropping(&state) {
                // Reading on to decide a push-mode seek, or before its flush: indexed,
                // not output.
                if result.is_ok() {
                    self.finish_scan(&mut state, false);
                }
                return Ok(gst::FlowSuccess::Ok);
            }
            if result.is_err() {
                // The samples held for interleaving came before the fault: they leave.
                state.demuxer.end();
                let _ = self.drain(&mut state, &mut outs);
            }
            result
        };
        if let Err(err) = result {
            let last = take_last_eos(&mut outs);
            let _ = self.execute(outs);
            self.post_error(&err);
            if let Some(pad) = last {
                pad.push_event(gst::event::Eos::new());
            }
            return Err(gst::FlowError::Error);
        }
        self.execute(outs)
    }

    fn post_error(&self, err: &DemuxError) {
        gst::element_imp_error!(
            self,
            gst::StreamError::Demux,
            ("Invalid fragmented MP4: {}", err),
            ["Every sample before the fault has been pushed"]
        );
    }

    /// Turns every event the queued bytes allow into outputs.
    fn drain(&self, state: &mut State, outs: &mut Vec<Out>) -> Result<(), DemuxError> {
        while let Some(ev) = state.demuxer.next_event()? {
            self.handle(state, ev, outs);
        }
        Ok(())
    }

    fn handle(&self, state: &mut State, ev: Event<gst::Buffer>, outs: &mut Vec<Out>) {
        match ev {
            Event::Movie(movie) => self.on_movie(state, movie, outs),
            Event::Emsg(e) => self.on_emsg(state, e, outs),
            Event::Sample(s) => {
                let passthrough = state.passthrough;
                let Some(p) = state
                    .pads
                    .iter_mut()
                    .find(|p| p.track_id == s.info.track_id)
                else {
                    return;
                };
                if p.past_stop {
                    return;
                }
                if !passthrough
                    && let Some(stop) = p.stop
                    && crate::demux::interleave::ticks_to_ns(s.info.dts, p.track.desc.timescale)
                        >= i128::from(stop.nseconds())
                {
                    // The segment ends here: this track has nothing more to say.
                    p.past_stop = true;
                    return;
                }
                p.stats.sample(&s.info, s.moof);
                if passthrough {
                    p.fragment.push((s.moof, s.info, s.payload, s.crypto));
                } else if &p.track.desc.entry.fourcc == b"wvtt" {
                    // One buffer per cue text with the sample's times; a gap sample
                    // (vtte) is a GAP event.
                    let timed = p.sample_buffer(&s.info, s.payload);
                    let cues = timed
                        .map_readable()
                        .ok()
                        .and_then(|m| crate::boxes::wvtt::read_sample(&m));
                    let (Some(pts), dur) = (timed.pts(), timed.duration()) else {
                        return;
                    };
                    match cues {
                        Some(cues) if cues.is_empty() => outs.push(Out::Event(
                            p.pad.clone(),
                            gst::event::Gap::builder(pts).duration(dur).build(),
                        )),
                        Some(cues) => {
                            for text in cues {
                                let mut b = gst::Buffer::from_mut_slice(text.into_bytes());
                                let bm = b.get_mut().expect("new buffer");
                                bm.set_pts(pts);
                                bm.set_duration(dur);
                                outs.push(Out::Buffer(p.pad.clone(), b));
                            }
                        }
                        None => gst::warning!(
                            CAT,
                            imp = self,
                            "a malformed wvtt sample at {}: skipped",
                            pts
                        ),
                    }
                } else {
                    let mut buffer = p.sample_buffer(&s.info, s.payload);
                    if let Some(protection) = &p.track.protection {
                        let info = sample_info(protection, s.crypto.as_ref());
                        gst::ProtectionMeta::add(buffer.make_mut(), info);
                    }
                    outs.push(Out::Buffer(p.pad.clone(), buffer));
                }
            }
            Event::Pssh { pssh, moof } => {
                if state.passthrough {
                    // Written again into the moof rewritten from that one.
                    if let Some(moof) = moof {
                        for p in &mut state.pads {
                            p.moof_pssh.push((moof, pssh.clone()));
                        }
                    }
                    return;
                }
                for p in state
                    .pads
                    .iter_mut()
                    .filter(|p| p.track.protection.is_some())
                {
                    // Before the pad's first sample, a stream without a pssh in its
                    // moov gets this one's system in the caps.
                    if p.stats.samples == 0
                        && let Some(caps) = p.caps.as_ref().and_then(|c| with_system(c, &pssh))
                    {
                        outs.push(Out::Event(p.pad.clone(), gst::event::Caps::new(&caps)));
                        p.caps = Some(caps);
                    }
                    outs.push(Out::Event(
                        p.pad.clone(),
                        protection_event(&pssh, PsshOrigin::Moof),
                    ));
                }
            }
            Event::DroppedBeforeKeyframe(s) => {
                if let Some(p) = state.pads.iter_mut().find(|p| p.track_id == s.track_id) {
                    p.stats.dropped += 1;
                }
                gst::warning!(
                    CAT,
                    imp = self,
                    "track {}: dropping a sample at decode time {} before the first keyframe",
                    s.track_id,
                    s.dts
                );
            }
            Event::Gap {
                track_id,
                start,
                duration,
            } => {
                if state.passthrough {
                    return;
                }
                if let Some(p) = state.pads.iter().find(|p| p.track_id == track_id) {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "track {track_id}: nothing for {} ns from {} ns: gap",
                        duration,
                        start
                    );
                    let event = gst::event::Gap::builder(gst::ClockTime::from_nseconds(start))
                        .duration(gst::ClockTime::from_nseconds(duration))
                        .build();
                    outs.push(Out::Event(p.pad.clone(), event));
                }
            }
            Event::TrackEnd { track_id } => {
                // Passthrough forwards whole fragments at their end: EOS comes after all.
                if state.passthrough {
                    return;
                }
                if let Some(p) = state.pads.iter_mut().find(|p| p.track_id == track_id)
                    && !std::mem::replace(&mut p.eos, true)
                {
                    outs.push(Out::Event(p.pad.clone(), gst::event::Eos::new()));
                }
            }
            Event::FragmentEnd { sequence, moof } => {
                let mut tracks = Vec::new();
                for p in &mut state.pads {
                    if p.stats.fragment_end(moof) {
                        tracks.push(p.stats_structure().to_send_value());
                    }
                    if !state.passthrough {
                        continue;
                    }
                    match p.take_fragment(sequence, moof) {
                        Ok(Some(list)) => outs.push(Out::List(p.pad.clone(), list)),
                        Ok(None) => {}
                        Err(e) => gst::element_imp_warning!(
                            self,
                            gst::StreamError::Mux,
                            [
                                "track {}: fragment {} not forwarded: {}",
                                p.track_id,
                                sequence,
                                e
                            ]
                        ),
                    }
                }
                let s = gst::Structure::builder("fragmp4demux-fragment")
                    .field("sequence-number", sequence)
                    .field("tracks", gst::Array::from_values(tracks))
                    .build();
                outs.push(Out::Message(
                    gst::message::Element::builder(s).src(&*self.obj()).build(),
                ));
            }
        }
    }

    /// The first `moov` creates one pad per supported track; later ones update caps.
    fn on_movie(&self, state: &mut State, movie: Movie, outs: &mut Vec<Out>) {
        // The first moov, before its skipped tracks are noted as ignored.
        let first = state.pads.is_empty() && state.ignored.is_empty();
        for skipped in &movie.skipped {
            if !state.ignored.contains(&skipped.track_id) {
                state.ignored.push(skipped.track_id);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::CodecNotFound,
                    ["skipping track: {}", skipped.why]
                );
            }
        }
        if first {
            state.passthrough = lock(&self.settings).passthrough;
        }
        if movie.duration > 0 && !*lock(&self.pull) {
            // Push mode has no scan: the movie's own duration, as for the seek segments.
            let ts = movie.timescale.max(1);
            state.movie_duration = Some((movie.duration, ts));
            state.duration = Some(super::output::ticks_to_time(movie.duration, ts));
        }
        let passthrough = state.passthrough;
        state.pssh = movie.pssh.clone();
        let group_id = *state.group_id.get_or_insert_with(gst::GroupId::next);
        for track in movie.tracks.iter() {
            let id = track.desc.track_id;
            let caps = match &track.protection {
                Some(p) => caps_from_entry(&original_entry(&track.desc.entry, p))
                    .map(|caps| protected_caps(&caps, p, movie.pssh.first())),
                None => caps_from_entry(&track.desc.entry),
            };
            let caps = match caps {
                Ok(caps) => caps,
                Err(e) => {
                    if !state.ignored.contains(&id) {
                        state.ignored.push(id);
                        gst::element_imp_warning!(
                            self,
                            gst::StreamError::CodecNotFound,
                            ["track {} is not output: {}", id, e]
                        );
                    }
                    continue;
                }
            };
            if let Some(p) = &track.protection {
                gst::debug!(
                    CAT,
                    imp = self,
                    "track {id}: encrypted '{}' of '{}', KID {}, IV size {}, constant IV {} bytes, pattern {}:{}, {} pssh in the moov",
                    p.scheme_name(),
                    crate::boxes::reader::fourcc_str(&p.original_format),
                    crate::demux::protection::uuid_string(&p.default_kid),
                    p.per_sample_iv_size,
                    p.constant_iv.len(),
                    p.crypt_byte_block,
                    p.skip_byte_block,
                    movie.pssh.len()
                );
            }
            if let Some(p) = state.pads.iter_mut().find(|p| p.track_id == id) {
                if p.track.desc == track.desc {
                    continue;
                }
                gst::info!(CAT, imp = self, "track {id}: new sample entry, caps {caps}");
                p.track = track.clone();
                if passthrough {
                    let init = p.init_segment(movie.timescale, &movie.pssh);
                    outs.push(Out::Event(
                        p.pad.clone(),
                        gst::event::Caps::new(&passthrough_caps(&init)),
                    ));
                    outs.push(Out::Buffer(p.pad.clone(), init));
                } else {
                    outs.push(Out::Event(p.pad.clone(), gst::event::Caps::new(&caps)));
                    p.caps = Some(caps);
                    push_protection_events(p, &movie, outs);
                }
                continue;
            }
            if !first {
                gst::warning!(
                    CAT,
                    imp = self,
                    "track {id} appears in a later moov: not output"
                );
                continue;
            }
            let kind = |d: &crate::boxes::TrackDesc| {
                if d.is_video() {
                    "video"
                } else if d.is_text() {
                    "subtitle"
                } else {
                    "audio"
                }
            };
            let prefix = kind(&track.desc);
            let index = state
                .pads
                .iter()
                .filter(|p| kind(&p.track.desc) == prefix)
                .count();
            let name = format!("{prefix}_{index}");
            let templ = self
                .obj()
                .pad_template(&format!("{prefix}_%u"))
                .expect("templates are registered");
            let pad = src_pad(&templ, &name);
            let mut out = OutPad::new(pad.clone(), track.clone());
            outs.push(Out::AddPad(pad.clone()));
            let stream_id = pad.create_stream_id(&*self.obj(), Some(&id.to_string()));
            outs.push(Out::Event(
                pad.clone(),
                gst::event::StreamStart::builder(&stream_id)
                    .group_id(group_id)
                    .build(),
            ));
            let segment = out.segment(passthrough);
            if passthrough {
                let init = out.init_segment(movie.timescale, &movie.pssh);
                outs.push(Out::Event(
                    pad.clone(),
                    gst::event::Caps::new(&passthrough_caps(&init)),
                ));
                outs.push(Out::Event(pad.clone(), gst::event::Segment::new(&segment)));
                outs.push(Out::Buffer(pad.clone(), init));
            } else {
                outs.push(Out::Event(pad.clone(), gst::event::Caps::new(&caps)));
                outs.push(Out::Event(pad.clone(), gst::event::Segment::new(&segment)));
                push_protection_events(&out, &movie, outs);
                out.caps = Some(caps);
            }
            // The track's language (mdhd/elng) as the `language-code` tag.
            if let Some(lang) = &track.desc.language {
                let mut tags = gst::TagList::new();
                tags.get_mut()
                    .expect("new list")
                    .add::<gst::tags::LanguageCode>(
                        &lang.bcp47.as_str(),
                        gst::TagMergeMode::Replace,
                    );
                tags.get_mut()
                    .expect("new list")
                    .set_scope(gst::TagScope::Stream);
                outs.push(Out::Event(pad.clone(), gst::event::Tag::new(tags)));
            }
            lock(&self.flow).add_pad(&pad);
            state.pads.push(out);
        }
        if first {
            outs.push(Out::NoMorePads);
        }
    }

    /// Adds pads and pushes, in order; returns the combined flow.
    fn execute(&self, outs: Vec<Out>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut flow = Ok(gst::FlowSuccess::Ok);
        for out in outs {
            let (pad, res) = match out {
                Out::AddPad(pad) => {
                    let _ = pad.set_active(true);
                    if let Err(e) = self.obj().add_pad(&pad) {
                        gst::error!(CAT, imp = self, "cannot add pad {}: {e}", pad.name());
                    }
                    continue;
                }
                Out::NoMorePads => {
                    self.obj().no_more_pads();
                    continue;
                }
                Out::Message(message) => {
                    let _ = self.obj().post_message(message);
                    continue;
                }
                Out::Event(pad, event) => {
                    pad.push_event(event);
                    continue;
                }
                Out::Buffer(pad, buffer) => {
                    let res = pad.push(buffer);
                    (pad, res)
                }
                Out::List(pad, list) => {
                    let res = pad.push_list(list);
                    (pad, res)
                }
            };
            flow = lock(&self.flow).update_pad_flow(&pad, res);
            if flow.is_err() && flow != Err(gst::FlowError::NotLinked) {
                break;
            }
        }
        flow
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(_) | EventView::Segment(_) | EventView::StreamStart(_) => true,
            EventView::FlushStop(_) => {
                let (pads, segments) = {
                    let mut state = lock(&self.state);
                    let segments = self.apply_push_seek(&mut state);
                    for p in &mut state.pads {
                        p.discont = true;
                        p.eos = false;
                        p.fragment.clear();
                        p.moof_pssh.clear();
                    }
                    let pads: Vec<gst::Pad> = state.pads.iter().map(|p| p.pad.clone()).collect();
                    (pads, segments)
                };
                lock(&self.flow).reset();
                for p in pads {
                    p.push_event(event.clone());
                }
                for (pad, segment) in segments {
                    pad.push_event(segment);
                }
                true
            }
            EventView::Eos(_) => {
                {
                    let mut state = lock(&self.state);
                    if Self::dropping(&state) {
                        // Read on to the end: every fragment is known, the seek decided;
                        // its flush starts a new stream.
                        state.seen_complete = true;
                        self.finish_scan(&mut state, true);
                        return true;
                    }
                }
                let mut outs = Vec::new();
                let (result, no_pads, pads) = {
                    let mut state = lock(&self.state);
                    if !*lock(&self.pull) {
                        // Read to the end: the fragments read are all of them.
                        state.seen_complete = true;
                    }
                    let result = state.demuxer.finish();
                    // What is held leaves, each track ending once it has nothing left.
                    state.demuxer.end();
                    let _ = self.drain(&mut state, &mut outs);
                    let no_movie = state.demuxer.movie().is_none();
                    let no_pads = state.pads.is_empty();
                    let pads: Vec<gst::Pad> = state
                        .pads
                        .iter_mut()
                        .filter_map(|p| {
                            (!std::mem::replace(&mut p.eos, true)).then(|| p.pad.clone())
                        })
                        .collect();
                    (result.map(|_| no_movie), no_pads, pads)
                };
                let mut pads = pads;
                if result.is_err() {
                    pads.extend(take_last_eos(&mut outs));
                }
                let _ = self.execute(outs);
                match result {
                    Err(e) => self.post_error(&e),
                    Ok(true) => gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        [
                            "The stream ended without a 'moov': not a fragmented MP4 or the init segment is missing"
                        ]
                    ),
                    Ok(false) if no_pads => gst::element_imp_error!(
                        self,
                        gst::StreamError::CodecNotFound,
                        ["No track of the stream can be output"]
                    ),
                    Ok(false) => {}
                }
                for p in pads {
                    p.push_event(event.clone());
                }
                true
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Pull mode where upstream offers it (a file): the element reads large blocks
    /// itself, so a sample rarely spans two input buffers. Push mode otherwise.
    fn sink_activate(&self, pad: &gst::Pad) -> Result<(), gst::LoggableError> {
        let mut query = gst::query::Scheduling::new();
        let pull = pad.peer_query(&mut query)
            && query
                .has_scheduling_mode_with_flags(gst::PadMode::Pull, gst::SchedulingFlags::SEEKABLE);
        let mode = if pull {
            gst::PadMode::Pull
        } else {
            gst::PadMode::Push
        };
        gst::debug!(CAT, imp = self, "activating in {mode:?} mode");
        pad.activate_mode(mode, true)
            .map_err(|e| gst::loggable_error!(CAT, "cannot activate: {e}"))
    }

    fn sink_activate_mode(
        &self,
        pad: &gst::Pad,
        mode: gst::PadMode,
        active: bool,
    ) -> Result<(), gst::LoggableError> {
        if mode != gst::PadMode::Pull {
            return Ok(());
        }
        *lock(&self.pull) = active;
        if !active {
            return pad
                .stop_task()
                .map_err(|e| gst::loggable_error!(CAT, "cannot stop the task: {e}"));
        }
        *lock(&self.pull_offset) = 0;
        let weak = self.obj().downgrade();
        pad.start_task(move || {
            if let Some(obj) = weak.upgrade() {
                obj.imp().pull_loop();
            }
        })
        .map_err(|e| gst::loggable_error!(CAT, "cannot start the task: {e}"))
    }

    /// One step of pull mode: the next block into the same path as pushed data.
    fn pull_loop(&self) {
        let offset = *lock(&self.pull_offset);
        if offset == 0 && lock(&self.state).index.is_none() {
            self.scan_file();
        }
        let done = {
            let state = lock(&self.state);
            !state.pads.is_empty() && state.pads.iter().all(|p| p.past_stop)
        };
        if done {
            self.segment_end();
            return;
        }
        let result = self
            .sinkpad
            .pull_range(offset, PULL_BLOCK)
            .and_then(|buffer| {
                *lock(&self.pull_offset) = offset + buffer.size() as u64;
                self.chain(buffer)
            });
        match result {
            Ok(_) => {}
            Err(gst::FlowError::Eos) => self.segment_end(),
            Err(gst::FlowError::Flushing) => {
                let _ = self.sinkpad.pause_task();
            }
            Err(err) => {
                if err != gst::FlowError::Error {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        ("Streaming stopped: {:?}", err)
                    );
                }
                for p in lock(&self.state)
                    .pads
                    .iter()
                    .map(|p| p.pad.clone())
                    .collect::<Vec<_>>()
                {
                    p.push_event(gst::event::Eos::new());
                }
                let _ = self.sinkpad.pause_task();
            }
        }
    }

    /// The end of the file or of the segment: EOS, or after a segment seek SEGMENT_DONE.
    fn segment_end(&self) {
        let segment = lock(&self.state).segment.clone();
        if segment.flags().contains(gst::SegmentFlags::SEGMENT) {
            let position = segment.stop().or(lock(&self.state).duration);
            let pads: Vec<gst::Pad> = lock(&self.state)
                .pads
                .iter()
                .map(|p| p.pad.clone())
                .collect();
            let _ = self.obj().post_message(
                gst::message::SegmentDone::builder(position.unwrap_or(gst::ClockTime::ZERO))
                    .src(&*self.obj())
                    .build(),
            );
            for p in pads {
                p.push_event(gst::event::SegmentDone::new(
                    position.unwrap_or(gst::ClockTime::ZERO),
                ));
            }
        } else {
            // Tracks stopped by the segment stop have not ended their stream: EOS too.
            self.sink_event(&self.sinkpad, gst::event::Eos::new());
        }
        let _ = self.sinkpad.pause_task();
    }

    /// Pull mode, before the first block: indexes the fragments so seeks and duration
    /// queries can be answered. A file that cannot be indexed is played, not seeked.
    fn scan_file(&self) {
        let mut q = gst::query::Duration::new(gst::Format::Bytes);
        let size = if self.sinkpad.peer_query(&mut q) {
            match q.result() {
                gst::GenericFormattedValue::Bytes(Some(b)) => Some(*b),
                _ => None,
            }
        } else {
            None
        };
        let Some(size) = size else {
            gst::debug!(CAT, imp = self, "upstream has no size: not seekable");
            return;
        };
        match scan(size, &mut PadReader(&self.sinkpad)) {
            Ok((movie, index)) => {
                for w in &index.warnings {
                    gst::element_imp_warning!(self, gst::StreamError::Demux, ["{}", w]);
                }
                // As qtdemux: the end of the fragments is rounded down to movie ticks.
                let ts = movie.timescale.max(1);
                let ticks = if movie.duration > 0 {
                    Some(movie.duration)
                } else {
                    index
                        .end()
                        .map(|ns| (u128::from(ns) * u128::from(ts) / 1_000_000_000) as u64)
                };
                let duration = ticks.map(|t| super::output::ticks_to_time(t, ts));
                gst::debug!(
                    CAT,
                    imp = self,
                    "{} fragments, duration {duration:?}",
                    index.fragments.len()
                );
                let mut state = lock(&self.state);
                state.duration = duration;
                state.movie_duration = (movie.duration > 0).then_some((movie.duration, ts));
                state.index = Some(index);
            }
            Err(e) => gst::warning!(CAT, imp = self, "cannot index the file, not seekable: {e}"),
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Seek(seek) = event.view() {
            if !*lock(&self.pull) {
                return self.push_seek(seek, &event);
            }
            return self.seek(seek);
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Duration(q) if q.format() == gst::Format::Time => {
                let duration = lock(&self.state).duration;
                match duration {
                    Some(d) => {
                        q.set(d);
                        true
                    }
                    None => gst::Pad::query_default(pad, Some(&*self.obj()), query),
                }
            }
            gst::QueryViewMut::Seeking(q) if q.format() == gst::Format::Time => {
                let state = lock(&self.state);
                let seekable = if *lock(&self.pull) {
                    state.index.is_some()
                } else {
                    !state.demuxer.seen().fragments.is_empty()
                };
                q.set(seekable, Some(gst::ClockTime::ZERO), state.duration);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Pull mode: a flushing seek to the fragment [`Index::seek`] names.
    fn seek(&self, seek: &gst::event::Seek) -> bool {
        let (rate, flags, start_type, start, stop_type, stop) = seek.get();
        let (Ok(start), Ok(stop)) = (
            Option::<gst::ClockTime>::try_from(start),
            Option::<gst::ClockTime>::try_from(stop),
        ) else {
            gst::debug!(CAT, imp = self, "refusing a seek not in time");
            return false;
        };
        if rate <= 0.0 || !flags.contains(gst::SeekFlags::FLUSH) {
            gst::debug!(
                CAT,
                imp = self,
                "refusing a seek at rate {rate} with flags {flags:?}: only flushing forward seeks"
            );
            return false;
        }
        if lock(&self.state).index.is_none() {
            gst::debug!(CAT, imp = self, "refusing a seek: the file is not indexed");
            return false;
        }
        let mut segment = lock(&self.state).segment.clone();
        if segment
            .do_seek(rate, flags, start_type, start, stop_type, stop)
            .is_none()
        {
            gst::debug!(
                CAT,
                imp = self,
                "refusing a seek that does not fit the segment"
            );
            return false;
        }
        let seqnum = seek.seqnum();
        let pads: Vec<gst::Pad> = lock(&self.state)
            .pads
            .iter()
            .map(|p| p.pad.clone())
            .collect();
        for p in &pads {
            p.push_event(gst::event::FlushStart::builder().seqnum(seqnum).build());
        }
        let _ = self.sinkpad.pause_task();
        let stream_lock = self.sinkpad.stream_lock();
        let events = {
            let mut state = lock(&self.state);
            let target = segment.position().unwrap_or(gst::ClockTime::ZERO);
            let index = state.index.as_ref().map(|i| (i.seek(target.nseconds()), i));
            let offset = match index {
                Some((SeekTarget::Fragment(i), index)) => index.fragments[i].offset,
                // Past the end: the next read is at the end of the file, EOS.
                _ => u64::MAX,
            };
            gst::debug!(
                CAT,
                imp = self,
                "seek to {target}: reading from byte {offset}"
            );
            *lock(&self.pull_offset) = offset;
            state.demuxer.reset_at(AdapterSource::default(), offset);
            state.segment = segment.clone();
            let mut events = Vec::new();
            let movie_duration = state.movie_duration;
            for p in &mut state.pads {
                p.discont = true;
                p.eos = false;
                p.past_stop = false;
                p.fragment.clear();
                p.moof_pssh.clear();
                let seg = p.seek_segment(&segment, movie_duration);
                p.stop = seg.stop();
                events.push((
                    p.pad.clone(),
                    gst::event::Segment::builder(&seg).seqnum(seqnum).build(),
                ));
            }
            events
        };
        lock(&self.flow).reset();
        for p in &pads {
            p.push_event(gst::event::FlushStop::builder(true).seqnum(seqnum).build());
        }
        for (pad, event) in events {
            pad.push_event(event);
        }
        drop(stream_lock);
        let weak = self.obj().downgrade();
        self.sinkpad
            .start_task(move || {
                if let Some(obj) = weak.upgrade() {
                    obj.imp().pull_loop();
                }
            })
            .is_ok()
    }

    fn stats(&self) -> gst::Structure {
        let state = lock(&self.state);
        let tracks = gst::Array::new(
            state
                .pads
                .iter()
                .map(|p| p.stats_structure().to_send_value()),
        );
        gst::Structure::builder("fragmp4demux-stats")
            .field("tracks", tracks)
            .build()
    }
}

/// The protection events of the `moov`'s `pssh` boxes, for a pad of an encrypted track
/// (before its first buffer, as `qtdemux` sends them).
fn push_protection_events(p: &OutPad, movie: &Movie, outs: &mut Vec<Out>) {
    if p.track.protection.is_none() {
        return;
    }
    for pssh in &movie.pssh {
        outs.push(Out::Event(
            p.pad.clone(),
            protection_event(pssh, PsshOrigin::Moov),
        ));
    }
}

/// Removes the last EOS of `outs` and returns its pad: pushed after an error message,
/// it keeps the pipeline from reaching EOS before the error is posted.
fn take_last_eos(outs: &mut Vec<Out>) -> Option<gst::Pad> {
    let i = outs
        .iter()
        .rposition(|o| matches!(o, Out::Event(_, e) if e.type_() == gst::EventType::Eos))?;
    match outs.remove(i) {
        Out::Event(pad, _) => Some(pad),
        _ => None,
    }
}

/// Caps of a passthrough pad: a single-track fMP4 stream with its init as stream header.
fn passthrough_caps(init: &gst::Buffer) -> gst::Caps {
    gst::Caps::builder("video/quicktime")
        .field("variant", "iso-fragmented")
        .field("streamheader", gst::Array::new([init.to_send_value()]))
        .build()
}

#[glib::object_subclass]
impl ObjectSubclass for FragMp4Demux {
    const NAME: &'static str = "GstFragMp4Demux";
    type Type = super::FragMp4Demux;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad: gst::Pad = crate::construct::pad_from_template(&templ, "sink")
            .expect("a pad from the element's own template");
        // SAFETY: the pad is new: nothing calls its functions while they are set.
        unsafe {
            sinkpad.set_chain_function(|_pad, parent, buffer| {
                FragMp4Demux::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.chain(buffer),
                )
            });
            sinkpad.set_event_function(|pad, parent, event| {
                FragMp4Demux::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            });
            sinkpad.set_activate_function(|pad, parent| {
                FragMp4Demux::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic in activate")),
                    |imp| imp.sink_activate(pad),
                )
            });
            sinkpad.set_activatemode_function(|pad, parent, mode, active| {
                FragMp4Demux::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic in activatemode")),
                    |imp| imp.sink_activate_mode(pad, mode, active),
                )
            });
        }
        Self {
            sinkpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            flow: Mutex::new(gst_base::UniqueFlowCombiner::new()),
            pull_offset: Mutex::new(0),
            pull: Mutex::new(false),
        }
    }
}

impl ObjectImpl for FragMp4Demux {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoolean::builder("passthrough")
                    .nick("Passthrough")
                    .blurb("Output one single-track fMP4 stream (init + moof/mdat per fragment) per track instead of samples")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Per track: samples, keyframes, fragments, bytes, dropped, bitrate (bit/s) and fragment span (last, min, max; ns)")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "passthrough" {
            lock(&self.settings).passthrough = value.get().unwrap_or(false);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "passthrough" => lock(&self.settings).passthrough.to_value(),
            _ => self.stats().to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let _ = self.obj().add_pad(&self.sinkpad);
    }
}

impl GstObjectImpl for FragMp4Demux {}

impl ElementImpl for FragMp4Demux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Fragmented MP4 demuxer",
                "Codec/Demuxer",
                "Demuxes fragmented MP4 (fMP4/CMAF) with H.264, H.265, VP9, VP8, AV1, AAC, Opus and FLAC \
                 tracks into elementary streams, or with passthrough=true splits it into one \
                 single-track CMAF stream per track",
                "gst-plugin-fragmp4 developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder("video/quicktime").build();
            let mut video = crate::fragmp4mux::video_sink_caps();
            let mut audio = crate::fragmp4mux::audio_sink_caps();
            let fmp4 = gst::Caps::builder("video/quicktime")
                .field("variant", "iso-fragmented")
                .build();
            video.merge(fmp4.clone());
            audio.merge(fmp4.clone());
            // WebVTT tracks: a buffer per cue text (or the CMAF track in passthrough).
            let mut subtitles = crate::codec::wvtt::to_caps();
            subtitles.merge(fmp4);
            // Encrypted tracks: the original caps under this name (as qtdemux).
            let cenc = gst::Caps::builder("application/x-cenc").build();
            video.merge(cenc.clone());
            audio.merge(cenc);
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .expect("sink template"),
                gst::PadTemplate::new(
                    "video_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &video,
                )
                .expect("video template"),
                gst::PadTemplate::new(
                    "audio_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &audio,
                )
                .expect("audio template"),
                gst::PadTemplate::new(
                    "subtitle_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &subtitles,
                )
                .expect("subtitle template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let res = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            let pads: Vec<gst::Pad> = {
                let mut state = lock(&self.state);
                let pads = state.pads.drain(..).map(|p| p.pad).collect();
                *state = State::default();
                pads
            };
            let mut flow = lock(&self.flow);
            for pad in pads {
                flow.remove_pad(&pad);
                let _ = self.obj().remove_pad(&pad);
            }
            flow.reset();
        }
        Ok(res)
    }
}

/// A source pad for one track, with the element's event and query handlers.
fn src_pad(templ: &gst::PadTemplate, name: &str) -> gst::Pad {
    let pad: gst::Pad = crate::construct::pad_from_template(templ, name)
        .expect("a pad from the element's own template");
    // SAFETY: the pad is new: nothing calls its functions while they are set.
    unsafe {
        pad.set_event_function(|pad, parent, event| {
            FragMp4Demux::catch_panic_pad_function(
                parent,
                || false,
                |imp| imp.src_event(pad, event),
            )
        });
        pad.set_query_function(|pad, parent, query| {
            FragMp4Demux::catch_panic_pad_function(
                parent,
                || false,
                |imp| imp.src_query(pad, query),
            )
        });
    }
    pad
}
