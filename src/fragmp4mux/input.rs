//! Taking input: buffers from the pads into the fragmenter, caps into track formats.

use gst::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::imp::{CAT, FragMp4Mux};
use super::pad::FragMp4MuxPad;
use super::state::*;
use super::subtitles::is_subtitle_pad;
use crate::codec::{self, track_format_from_caps};
use crate::fragmenter::{Accepted, Sample};

/// What `take_all` works with, kept between wake-ups (no allocation per wake-up).
#[derive(Default)]
pub(super) struct TakeScratch {
    /// The pads, with their format as of this wake-up.
    pads: Vec<(FragMp4MuxPad, Option<PadKind>)>,
    /// Where each pad's next buffer sorts, once read. The buffer stays at the head of
    /// the pad's queue until this element pops it (nothing else does, and the events
    /// queued behind it wait for it), so it is read once, not on every wake-up; it
    /// stays queued so that a non-live aggregator sees the pad has data. A flush resets
    /// the state, and these with it.
    heads: Vec<Option<Head>>,
    /// Each pad's segment once read. A segment event is handled between wake-ups,
    /// once the buffers before it have been popped, and makes it be read again
    /// ([`TakeScratch::forget_segment`]).
    segments: Vec<Option<gst::Segment>>,
    /// Pads whose buffers are not samples (subtitle cues).
    sparse: Vec<bool>,
}

impl TakeScratch {
    /// The segment of track `track` changes: read it again for the buffers after it.
    pub(super) fn forget_segment(&mut self, track: usize) {
        if let Some(s) = self.segments.get_mut(track) {
            *s = None;
        }
    }
}

/// A pad's next buffer as the ordering sees it.
struct Head {
    /// Running-time DTS (PTS where there is none).
    dts: i64,
    /// Where it sorts: its DTS, or the end of a GAP buffer, which stays queued until
    /// the other pads have passed it (keeping a non-live aggregator going).
    order: i64,
}

impl FragMp4Mux {
    /// The next buffer's running-time DTS on `pad`, if it has one queued. A GAP buffer
    /// counts at its end: it stays queued (keeping a non-live aggregator going) until
    /// the other pads have passed it.
    fn head_dts(&self, pad: &FragMp4MuxPad) -> Result<Option<i64>, gst::ErrorMessage> {
        Ok(self.head(pad, None, &mut None)?.map(|h| h.order))
    }

    /// The earliest running-time DTS waiting in any pad (a GAP buffer at its end).
    pub(super) fn earliest_queued(&self, state: &State) -> Option<i64> {
        let heads = &state.take_scratch.heads;
        state
            .pads
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match heads.get(i) {
                Some(Some(h)) => Some(h.order),
                _ => self.head_dts(&p.pad).ok().flatten(),
            })
            .min()
    }

    fn running_dts(
        &self,
        pad: &FragMp4MuxPad,
        buf: &gst::BufferRef,
        segment: &gst::Segment,
    ) -> Result<i64, gst::ErrorMessage> {
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
        head: &Head,
        segment: &gst::Segment,
        size: usize,
    ) -> Result<Sample<gst::Buffer>, gst::ErrorMessage> {
        let dts = head.dts;
        let mut buf = buf;
        let mut size = size;
        if kind.strip_temporal_delimiters {
            let skip = with_first_memory(&buf, codec::av1::temporal_delimiter_len).unwrap_or(0);
            if skip > 0 && skip < buf.size() {
                // A sub-buffer sharing the memory: no payload copy.
                buf = buf
                    .copy_region(
                        gst::BufferCopyFlags::FLAGS
                            | gst::BufferCopyFlags::TIMESTAMPS
                            | gst::BufferCopyFlags::META
                            | gst::BufferCopyFlags::MEMORY,
                        skip..,
                    )
                    .map_err(|_| {
                        gst::error_msg!(
                            gst::StreamError::Format,
                            ["pad {}: cannot cut the temporal delimiter", pad.name()]
                        )
                    })?;
                size = buf.size();
            }
        }
        if let Some(n) = kind.nal_length_size {
            let checked = check_length_prefixed(&buf, n);
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
        let pts = match (
            buf.pts(),
            buf.dts(),
            segment.downcast_ref::<gst::ClockTime>(),
        ) {
            // The DTS was taken from the PTS.
            (Some(_), None, _) => dts,
            // At rate 1 running time moves with the timestamps, tick for tick.
            (Some(pts), Some(raw_dts), Some(seg)) if seg.rate() == 1.0 => {
                dts.saturating_add(pts.nseconds() as i64 - raw_dts.nseconds() as i64)
            }
            (Some(pts), _, Some(seg)) => seg.to_running_time_full(pts).map_or(dts, signed_ns),
            _ => dts,
        };
        let Ok(size) = u32::try_from(size) else {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                [
                    "pad {}: a sample of {} bytes does not fit an MP4 sample size",
                    pad.name(),
                    size
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

    /// The head of `pad` after dropping in-band codec headers (FLAC, Opus: in the caps
    /// already, and untimed), with its running-time DTS. `segment` holds the pad's
    /// segment once read.
    fn head(
        &self,
        pad: &FragMp4MuxPad,
        kind: Option<PadKind>,
        segment: &mut Option<gst::Segment>,
    ) -> Result<Option<Head>, gst::ErrorMessage> {
        loop {
            let Some(buf) = pad.peek_buffer() else {
                return Ok(None);
            };
            if kind.is_some_and(|k| !k.is_video) && buf.flags().contains(gst::BufferFlags::HEADER) {
                gst::debug!(
                    CAT,
                    obj = pad,
                    "skipping a header buffer described by the caps"
                );
                pad.drop_buffer();
                continue;
            }
            let segment = segment.get_or_insert_with(|| pad.segment());
            let dts = self.running_dts(pad, &buf, segment)?;
            let order = if buf.flags().contains(gst::BufferFlags::GAP) {
                dts.saturating_add(buf.duration().map_or(0, |d| d.nseconds() as i64))
            } else {
                dts
            };
            return Ok(Some(Head { dts, order }));
        }
    }

    /// Takes input in decode-time order across pads until a pad runs dry (or, on a live
    /// timeout, until nothing is left), at most [`MAX_TAKES_PER_CALL`] buffers: one
    /// wake-up handles many samples. Each buffer is read once before it is taken, and
    /// the fragmenter learns what waits in the pads (a cut need not wait for a pad whose
    /// next buffer already lies beyond it).
    /// Returns whether every pad is at EOS, and whether anything was taken.
    pub(super) fn take_all(
        &self,
        state: &mut State,
        timeout: bool,
    ) -> Result<(bool, bool), gst::ErrorMessage> {
        let mut scratch = std::mem::take(&mut state.take_scratch);
        let result = self.take_all_with(state, timeout, &mut scratch);
        state.take_scratch = scratch;
        result
    }

    fn take_all_with(
        &self,
        state: &mut State,
        timeout: bool,
        scratch: &mut TakeScratch,
    ) -> Result<(bool, bool), gst::ErrorMessage> {
        let TakeScratch {
            pads,
            heads,
            segments,
            sparse,
        } = scratch;
        let same_pads = pads.len() == state.pads.len()
            && pads.iter().zip(&state.pads).all(|((a, _), b)| *a == b.pad);
        if !same_pads {
            pads.clear();
            pads.extend(state.pads.iter().map(|p| (p.pad.clone(), None)));
            heads.clear();
            heads.resize_with(pads.len(), || None);
            segments.clear();
            segments.resize_with(pads.len(), || None);
            // Subtitle tracks get their samples from their cues (subtitles.rs).
            sparse.clear();
            sparse.extend(pads.iter().map(|(p, _)| is_subtitle_pad(p)));
        }
        for ((_, kind), p) in pads.iter_mut().zip(&state.pads) {
            *kind = p.latest().map(|f| PadKind {
                is_video: f.is_video,
                nal_length_size: f.nal_length_size,
                strip_temporal_delimiters: &f.entry.fourcc == b"av01",
            });
        }
        for (i, (pad, kind)) in pads.iter().enumerate() {
            if sparse[i] {
                continue;
            }
            if heads[i].is_none() {
                heads[i] = self.head(pad, *kind, &mut segments[i])?;
            }
            state
                .fragmenter
                .set_next_dts(i, heads[i].as_ref().map(|h| h.order));
        }
        let mut any = false;
        let all_sparse = sparse.iter().all(|s| *s);
        for _ in 0..MAX_TAKES_PER_CALL {
            let mut best: Option<(usize, i64)> = None;
            let mut all_eos = true;
            let mut starved = false;
            for (i, head) in heads.iter().enumerate() {
                match head {
                    Some(h) => {
                        all_eos = false;
                        if best.is_none_or(|(_, b)| h.order < b) {
                            best = Some((i, h.order));
                        }
                    }
                    None if sparse[i] => {
                        // Subtitle tracks alone: the stream ends at their EOS.
                        if all_sparse && !pads[i].0.is_eos() {
                            all_eos = false;
                        }
                    }
                    None if pads[i].0.is_eos() => state.fragmenter.set_eos(i),
                    None => {
                        all_eos = false;
                        starved = true;
                    }
                }
            }
            if all_eos {
                return Ok((true, any));
            }
            if starved && !timeout && any {
                return Ok((false, any));
            }
            let Some((i, _)) = best else {
                return Ok((false, any));
            };
            let (pad, kind) = &pads[i];
            let Some(head) = heads[i].take() else {
                return Ok((false, any));
            };
            let Some(buf) = pad.pop_buffer() else {
                // Flushed meanwhile.
                return Ok((false, any));
            };
            any = true;
            self.take_buffer(state, i, pad, *kind, buf, &head, &mut segments[i])?;
            heads[i] = self.head(pad, *kind, &mut segments[i])?;
            state
                .fragmenter
                .set_next_dts(i, heads[i].as_ref().map(|h| h.order));
        }
        Ok((false, any))
    }

    /// Hands the buffer popped from track `i` to the fragmenter: a GAP as a gap, an empty
    /// buffer dropped (counted), anything else as a sample.
    #[allow(clippy::too_many_arguments)]
    fn take_buffer(
        &self,
        state: &mut State,
        i: usize,
        pad: &FragMp4MuxPad,
        kind: Option<PadKind>,
        buf: gst::Buffer,
        head: &Head,
        segment: &mut Option<gst::Segment>,
    ) -> Result<(), gst::ErrorMessage> {
        let Some(kind) = kind else {
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                ["pad {}: data arrived without accepted caps", pad.name()]
            ));
        };
        if buf.flags().contains(gst::BufferFlags::GAP) {
            gst::debug!(CAT, obj = pad, "gap up to {} ns", head.order);
            state.fragmenter.note_gap(i, head.order);
            return Ok(());
        }
        let size = buf.size();
        if size == 0 {
            gst::warning!(
                CAT,
                obj = pad,
                "dropping empty buffer at DTS {} ns",
                head.dts
            );
            state.counters.dropped_empty += 1;
            return Ok(());
        }
        if !kind.is_video && state.pads[i].clipped_priming.is_none() {
            let timescale = state.pads[i].latest().map_or(0, |f| f.timescale);
            let ticks = clipped_start(&buf, timescale);
            if ticks > 0 {
                gst::info!(
                    CAT,
                    obj = pad,
                    "encoder delay of {ticks} ticks (clipping meta)"
                );
            }
            state.pads[i].clipped_priming = Some(ticks);
        }
        let segment = segment.get_or_insert_with(|| pad.segment());
        let sample = self.sample(pad, buf, kind, head, segment, size)?;
        self.subtitles_before_sample(state, kind.is_video, &sample);
        self.push_sample(state, pad, i, sample);
        Ok(())
    }

    /// In live pipelines a fragment is complete one fragment duration after it starts
    /// (DESIGN.md C4): that is the latency the element adds. With chunks, a chunk is
    /// complete one chunk duration after it starts.
    ///
    /// Part of that budget goes to the aggregator's `latency` property, which lets each
    /// sink pad queue that much ahead (otherwise a pad holds one buffer, and every
    /// buffer costs a wake-up of the aggregator thread and of the upstream one); the
    /// element reports the rest as its own latency, so the total stays the promised one.
    /// A `latency` the user set is kept.
    pub(super) fn report_latency(&self, settings: &Settings) {
        let promised = match settings.chunk_duration {
            0 => settings.fragment_duration,
            c => c.min(settings.fragment_duration),
        };
        let obj = self.obj();
        let current = obj.property::<u64>("latency");
        let queue = {
            let mut ours = lock(&self.pad_queue);
            // Ours unless the user changed it from the default (0) or from our value.
            let user_set = match *ours {
                None => current != 0,
                Some(q) => q != current,
            };
            if user_set {
                *ours = None;
                current
            } else {
                let q = promised.min(PAD_QUEUE_TIME);
                *ours = Some(q);
                q
            }
        };
        if queue != current {
            obj.set_property("latency", queue);
        }
        let own = gst::ClockTime::from_nseconds(promised.saturating_sub(queue));
        obj.set_latency(own, Some(own));
    }

    /// Queues a sample in the fragmenter, logging what it drops.
    pub(super) fn push_sample(
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

    pub(super) fn handle_caps(&self, pad: &gst_base::AggregatorPad, caps: &gst::CapsRef) -> bool {
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
            state.fragmenter.set_frame_grid(track, format.frame_ticks);
            let changed = entry.formats.last().is_some_and(|(g, _)| *g != generation);
            if changed && state.mode != Mode::Fragmented {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("pad {}: the format changed mid-stream; a progressive or hybrid file has one sample entry per track", pad.name()),
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
    pub(super) fn request_keyframes(&self, running_time: Option<gst::ClockTime>) {
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
}

/// Runs `f` on the bytes of `buf`, mapping its memory directly when it has one (the
/// usual case); `None` if it cannot be read.
/// Checks a video sample's NAL length framing memory by memory (no memory is merged).
fn check_length_prefixed(buf: &gst::BufferRef, length_size: u8) -> Result<(), String> {
    let mut check = codec::LengthPrefixCheck::new(length_size, buf.size());
    for memory in buf.iter_memories() {
        let map = memory
            .map_readable()
            .map_err(|_| "buffer cannot be mapped".to_string())?;
        check.feed(&map)?;
    }
    check.finish()
}

/// `f` of the bytes of the buffer's first memory (enough for a leading temporal delimiter
/// OBU; the rest of the sample is not merged or mapped).
fn with_first_memory<R>(buf: &gst::BufferRef, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if buf.n_memory() == 0 {
        return None;
    }
    let map = buf.peek_memory(0).map_readable().ok()?;
    Some(f(&map))
}

/// The start clipping of a buffer's `GstAudioClippingMeta` in ticks of `timescale` (audio
/// timescale = sample rate, so samples are ticks), 0 without one.
fn clipped_start(buf: &gst::BufferRef, timescale: u32) -> u32 {
    let Some(meta) = buf.meta::<gst_audio::AudioClippingMeta>() else {
        return 0;
    };
    let ticks = match meta.start() {
        gst::GenericFormattedValue::Default(Some(samples)) => *samples,
        gst::GenericFormattedValue::Time(Some(t)) => {
            (u128::from(t.nseconds()) * u128::from(timescale) / 1_000_000_000) as u64
        }
        _ => 0,
    };
    u32::try_from(ticks).unwrap_or(u32::MAX)
}
