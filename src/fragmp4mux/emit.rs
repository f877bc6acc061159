//! Building output under the state lock (init segments, fragments, progressive files,
//! a recording's finish) and pushing it after the lock is released.

use gst::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::imp::{CAT, FragMp4Mux};
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
                p.latest().map(|f| {
                    let desc = TrackDesc {
                        track_id: i as u32 + 1,
                        timescale: f.timescale,
                        entry: f.entry.clone(),
                    };
                    let priming = p.clipped_priming.filter(|t| *t > 0).unwrap_or(f.priming);
                    (desc, u64::from(priming))
                })
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
        let recorded: Vec<recording::ChunkTrack> = fragment
            .tracks
            .iter()
            .map(|t| recording::ChunkTrack {
                track_id: t.track as u32 + 1,
                first_presentation: t.first_presentation(),
                presentation_end: t.presentation_end(),
            })
            .collect();
        let samples: usize = fragment.tracks.iter().map(|t| t.samples.len()).sum();
        let sequence = state.sequence;
        // DESIGN.md T4: where the chunk starts on the presentation timeline, and where
        // the presentation written so far ends (the last segment's end at EOS).
        let presentation_start = output::output_time(fragment.presentation_start, state.shift);
        let end = state
            .presentation_end
            .map_or(fragment.end_pts, |e| e.max(fragment.end_pts));
        state.presentation_end = Some(end);
        let presentation_end = output::output_time(end, state.shift);
        let reference_end = output::output_time(
            fragment.presentation_end.max(fragment.presentation_start),
            state.shift,
        );
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
            .field("earliest-presentation-time", presentation_start)
            .field("presentation-end", presentation_end)
            .field("reference-end", reference_end)
            .build();
        Ok(Pending::Fragment {
            list: chunk.list,
            message,
            end: chunk.pts + chunk.duration,
        })
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
