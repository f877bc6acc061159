//! The pure core of the muxer: per-track sample queues, cut decisions and timestamp maths.
//!
//! Times going in are signed running times in nanoseconds; times going out are ticks of
//! each track's timescale, relative to one origin shared by all tracks (DESIGN.md T1).
//! Generic over the payload so the element passes `gst::Buffer`s through untouched and
//! tests use `()`.

use crate::boxes::SampleDesc;

mod track;
use track::{Queued, Track};

/// Static facts about a track that drive cutting and timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSpec {
    /// Fragments start at keyframes of the first video track.
    pub is_video: bool,
    /// Ticks per second of the track's media timescale.
    pub timescale: u32,
    /// Nominal sample duration in ns (frame or codec frame), for the last sample at EOS.
    pub default_duration: Option<u64>,
}

/// One input sample. `dts`/`pts` are signed running times in ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<P> {
    pub dts: i64,
    pub pts: i64,
    pub duration: Option<u64>,
    pub keyframe: bool,
    pub size: u32,
    pub payload: P,
}

/// What happened to a pushed sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Queued,
    /// Video before the track's first keyframe (DESIGN.md F8).
    DroppedBeforeKeyframe,
    /// DTS not after the previous sample's DTS (DESIGN.md T2).
    DroppedNonIncreasingDts {
        previous: i64,
    },
}

/// One track's part of a finished fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentTrack<P> {
    /// Index of the track, in the order tracks were added.
    pub track: usize,
    /// Format generation of the samples (see [`Fragmenter::change_format`]).
    pub generation: u32,
    /// The last sample's duration was estimated: no next sample was known (EOS, or a
    /// live timeout). The track's next tfdt may then lie later than this one's end
    /// (never earlier).
    pub open_end: bool,
    /// `tfdt`: decode time of the first sample in ticks from the origin.
    pub base_decode_time: u64,
    pub samples: Vec<SampleDesc>,
    pub payloads: Vec<P>,
}

impl<P> FragmentTrack<P> {
    /// Decode time (ticks from the origin) at which the last sample ends: the next
    /// fragment's `tfdt` of the track.
    pub fn decode_end(&self) -> u64 {
        self.base_decode_time
            + self
                .samples
                .iter()
                .map(|s| u64::from(s.duration))
                .sum::<u64>()
    }

    /// Presentation time of the first sample in ticks from the origin (a fragment's
    /// sync sample: what an `mfra` index points at).
    pub fn first_presentation(&self) -> u64 {
        let offset = self.samples.first().map_or(0, |s| s.composition_offset);
        self.base_decode_time
            .saturating_add_signed(i64::from(offset))
    }

    /// Latest PTS + duration of the samples, in ticks from the origin: where the track's
    /// presentation ends so far (DESIGN.md T4). With B-frames this lies after
    /// [`FragmentTrack::decode_end`].
    pub fn presentation_end(&self) -> u64 {
        let mut dts = i128::from(self.base_decode_time);
        let mut end = dts;
        for s in &self.samples {
            end = end.max(dts + i128::from(s.composition_offset) + i128::from(s.duration));
            dts += i128::from(s.duration);
        }
        end.max(0) as u64
    }
}

/// A finished fragment: every track's samples between two cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment<P> {
    pub tracks: Vec<FragmentTrack<P>>,
    /// Earliest DTS of the fragment (running time, ns).
    pub start_dts: i64,
    /// Earliest PTS of the fragment (running time, ns).
    pub start_pts: i64,
    /// Latest PTS + duration of the fragment (running time, ns).
    pub end_pts: i64,
    /// Earliest presentation time of the cutting track (the video, else the audio;
    /// running time, ns, from its ticks): where the fragment starts on the presentation
    /// timeline (DESIGN.md T4).
    pub presentation_start: i64,
    /// Latest presentation end (PTS + duration) of the cutting track's samples (running
    /// time, ns, from its ticks): where the next chunk of that track starts, so the
    /// chunks of a fragment tile its duration (LL-HLS part durations).
    pub presentation_end: i64,
    /// True when the fragment starts with a keyframe of the reference track.
    pub keyframe_start: bool,
}

/// Per-track counters of what was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    pub dropped_before_keyframe: u64,
    pub dropped_bad_dts: u64,
}

/// Where the reference track is cut, and how many of its samples the fragment takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    reference: usize,
    take: usize,
    /// Samples of the other tracks with PTS below this belong to the fragment.
    pts: i64,
    keyframe_start: bool,
    /// PTS at which the fragment this output belongs to started.
    fragment_start: i64,
    /// The cut ends the fragment (the next output starts a new one).
    ends_fragment: bool,
}

/// Queues samples per track and hands out complete fragments.
#[derive(Debug)]
pub struct Fragmenter<P> {
    tracks: Vec<Track<P>>,
    fragment_duration: u64,
    /// Write fragments as chunks of about this duration (DESIGN.md C2).
    chunk_duration: Option<u64>,
    keyframe_cuts: bool,
    origin: Option<i64>,
    /// PTS at which the fragment in progress started, when its last output was a chunk
    /// that did not end it.
    open_fragment: Option<i64>,
    /// End the fragment in progress at the next keyframe, whatever its duration.
    split_requested: bool,
    /// Added to every decode time (ns), for segments produced one by one (T1, T3).
    decode_time_offset: u64,
}

impl<P> Fragmenter<P> {
    /// A fragmenter cutting at `fragment_duration` ns (at least 1 ns).
    pub fn new(fragment_duration: u64) -> Self {
        Self {
            tracks: Vec::new(),
            fragment_duration: fragment_duration.max(1),
            keyframe_cuts: true,
            chunk_duration: None,
            open_fragment: None,
            split_requested: false,
            decode_time_offset: 0,
            origin: None,
        }
    }

    pub fn set_fragment_duration(&mut self, ns: u64) {
        self.fragment_duration = ns.max(1);
    }

    /// Adds `ns` to every decode time. With an offset, tracks with a frame grid
    /// ([`Fragmenter::set_frame_grid`]) start on it (DESIGN.md T3).
    pub fn set_decode_time_offset(&mut self, ns: u64) {
        self.decode_time_offset = ns;
    }

    /// The codec frame size of a track in ticks (1024 for AAC-LC at its sample rate).
    pub fn set_frame_grid(&mut self, track: usize, ticks: Option<u32>) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.frame_grid = ticks.filter(|g| *g > 0);
        }
    }

    /// Ticks by which a track was shifted onto its frame grid (T3), once known.
    pub fn snap_ticks(&self, track: usize) -> Option<i64> {
        self.tracks.get(track).and_then(|t| t.snap)
    }

    /// Ends the fragment in progress at the next keyframe of the reference (a split
    /// requested by the application or downstream).
    pub fn request_split(&mut self) {
        self.split_requested = true;
    }

    /// Writes each fragment as chunks of about `ns` (`None`: one chunk per fragment). A
    /// duration shorter than a sample gives one sample per chunk.
    pub fn set_chunk_duration(&mut self, ns: Option<u64>) {
        self.chunk_duration = ns.filter(|d| *d > 0);
    }

    /// With `false`, video is cut anywhere, not only before keyframes: runs of samples
    /// for a progressive file's interleaving rather than fragments a player starts at.
    pub fn set_keyframe_cuts(&mut self, keyframe_cuts: bool) {
        self.keyframe_cuts = keyframe_cuts;
    }

    /// Adds a track; returns its index.
    pub fn add_track(&mut self, spec: TrackSpec) -> usize {
        self.tracks.push(Track::new(spec));
        self.tracks.len() - 1
    }

    /// Announces a new format for the samples pushed from now on. Before the track has
    /// received anything the format is simply replaced; afterwards the new samples form a
    /// new generation: the fragment in progress ends before them (at the next keyframe of
    /// the reference video), and video of the changed track waits for a keyframe.
    /// Returns the generation the next samples carry.
    pub fn change_format(&mut self, track: usize, spec: TrackSpec) -> u32 {
        let Some(t) = self.tracks.get_mut(track) else {
            return 0;
        };
        if t.first_dts.is_none() && t.queue.is_empty() {
            t.spec = spec;
            t.started = !spec.is_video;
            return t.incoming;
        }
        t.incoming += 1;
        t.pending.push_back((t.incoming, spec));
        if spec.is_video {
            t.started = false;
        }
        t.incoming
    }

    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// The common origin (running time, ns) once known.
    pub fn origin(&self) -> Option<i64> {
        self.origin
    }

    pub fn stats(&self, track: usize) -> TrackStats {
        self.tracks.get(track).map(|t| t.stats).unwrap_or_default()
    }

    /// Samples waiting in a track's queue.
    pub fn queued(&self, track: usize) -> usize {
        self.tracks.get(track).map_or(0, |t| t.queue.len())
    }

    /// Marks a track as finished: its last sample's duration is then taken from the
    /// sample itself, and the others no longer wait for it.
    pub fn set_eos(&mut self, track: usize) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.eos = true;
        }
    }

    /// Tells the fragmenter the DTS of the track's next sample while it still waits
    /// upstream (`None`: nothing known). Samples present no earlier than they decode, so a
    /// cut at or before it need not wait for the track.
    pub fn set_next_dts(&mut self, track: usize, dts: Option<i64>) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.next_dts = dts;
        }
    }

    /// Records that the track has no data up to `running_time` (a GAP event): cuts
    /// before it need not wait for the track.
    pub fn note_gap(&mut self, track: usize, running_time: i64) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.reached = Some(t.reached.map_or(running_time, |r| r.max(running_time)));
        }
    }

    /// True when every track is at EOS and nothing is left to write.
    pub fn is_finished(&self) -> bool {
        self.tracks.iter().all(Track::done)
    }

    /// Queues a sample, or drops it as DESIGN.md F8/T2 describe.
    pub fn push(&mut self, track: usize, sample: Sample<P>) -> Accepted {
        let Some(t) = self.tracks.get_mut(track) else {
            return Accepted::Queued;
        };
        if !t.started && !sample.keyframe {
            t.stats.dropped_before_keyframe += 1;
            return Accepted::DroppedBeforeKeyframe;
        }
        if let Some(previous) = t.last_dts
            && sample.dts <= previous
        {
            t.stats.dropped_bad_dts += 1;
            return Accepted::DroppedNonIncreasingDts { previous };
        }
        t.started = true;
        t.last_dts = Some(sample.dts);
        t.first_dts.get_or_insert(sample.dts);
        t.queue.push_back(Queued {
            generation: t.incoming,
            sample,
        });
        Accepted::Queued
    }

    /// Fixes the origin once every track has data or has ended. With `force`, fixes it
    /// from the tracks that have data (a live pad that has not started yet).
    pub fn establish_origin(&mut self, force: bool) -> Option<i64> {
        if self.origin.is_none() {
            // A track whose first sample waits upstream already tells its first DTS
            // (video only once it has started: a pending delta unit may be dropped).
            let first = |t: &Track<P>| t.first_dts.or(t.next_dts.filter(|_| t.started));
            let waiting = self.tracks.iter().any(|t| first(t).is_none() && !t.eos);
            let start = self.tracks.iter().filter_map(first).min();
            // Forced, a track that has not started is given up on only once the others
            // hold a whole fragment duration (an encoder slow to start is no dead pad).
            let given_up = force && start.is_some_and(|s| self.data_a_fragment_past(s, None));
            if !waiting || given_up {
                self.origin = start;
            }
        }
        self.origin
    }

    /// The next complete fragment, if one is complete. Call until `None`.
    pub fn pop_fragment(&mut self) -> Option<Fragment<P>> {
        let origin = self.establish_origin(false)?;
        let cut = self.find_cut(self.reference()?, origin, true)?;
        Some(self.build(origin, cut))
    }

    /// Like [`Fragmenter::pop_fragment`], but does not wait for other tracks to have
    /// data up to the cut (a live timeout): what they have queued below it is written.
    ///
    /// A video reference that has stalled (nothing waiting upstream) does not hold the
    /// others back: what it has queued is written as a fragment of its own, the others
    /// are then cut on the audio-only grid, and the video must restart at a keyframe (its
    /// delta units until then are dropped and counted), so every fragment still starts
    /// with a keyframe.
    pub fn pop_fragment_now(&mut self) -> Option<Fragment<P>> {
        let origin = self.establish_origin(true)?;
        let reference = self.reference()?;
        if let Some(cut) = self.find_cut(reference, origin, false) {
            return Some(self.build(origin, cut));
        }
        let r = &self.tracks[reference];
        if !r.spec.is_video || r.next_dts.is_some() || !self.silent_for_a_fragment(reference) {
            return None;
        }
        let cut = if r.queue.is_empty() {
            let fallback = self
                .tracks
                .iter()
                .position(|t| !t.spec.is_video && !t.queue.is_empty())?;
            self.find_cut(fallback, origin, false)?
        } else {
            let default = r.spec.default_duration.unwrap_or(1);
            let end = r
                .queue
                .iter()
                .map(|s| s.pts.saturating_add(s.duration.unwrap_or(default) as i64))
                .max()?;
            Cut {
                reference,
                take: r.queue.len(),
                pts: end,
                keyframe_start: self.open_fragment.is_none(),
                fragment_start: self.open_fragment.unwrap_or(end),
                ends_fragment: true,
            }
        };
        self.tracks[reference].started = false;
        Some(self.build(origin, cut))
    }

    /// Whether the other tracks' data reaches a whole fragment duration past the last
    /// sample of `reference` (or it has none yet): only then is a video that has nothing
    /// waiting upstream stalled rather than a frame behind (an encoder a few ms slower
    /// than the latency it reports, with chunks shorter than a frame).
    fn silent_for_a_fragment(&self, reference: usize) -> bool {
        self.tracks[reference]
            .last_dts
            .is_none_or(|last| self.data_a_fragment_past(last, Some(reference)))
    }

    /// Whether any track but `except` has data (a sample's DTS or a GAP) a whole fragment
    /// duration or more past `since`.
    fn data_a_fragment_past(&self, since: i64, except: Option<usize>) -> bool {
        self.tracks
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != except)
            .filter_map(|(_, t)| t.last_dts.max(t.reached))
            .max()
            .is_some_and(|reached| reached.saturating_sub(since) >= self.fragment_duration as i64)
    }

    /// Running time (ns) by which the fragment in progress should be complete: its start
    /// plus the fragment duration. `None` before any sample.
    /// With the reference stalled, the earliest queued sample of any track stands for
    /// the start.
    pub fn deadline(&self) -> Option<i64> {
        let r = &self.tracks[self.reference()?];
        let start = match r.queue.front() {
            Some(s) => s.pts,
            None => self
                .tracks
                .iter()
                .filter_map(|t| t.queue.front())
                .map(|s| s.pts)
                .min()?,
        };
        let fragment_end = self
            .open_fragment
            .unwrap_or(start)
            .saturating_add(self.fragment_duration as i64);
        let chunk_end = self.chunk_duration.map(|c| start.saturating_add(c as i64));
        Some(chunk_end.map_or(fragment_end, |c| c.min(fragment_end)))
    }

    /// Running time (ns) at which upstream should deliver a keyframe (DESIGN.md C4): the
    /// [`Fragmenter::deadline`], but only while the reference is a video that has
    /// started. Before its first sample the deadline comes from the other tracks, and a
    /// keyframe forced there is off the video's own timeline (a frame early, it restarts
    /// the encoder's GOP, so the first fragment runs on to the GOP after).
    pub fn keyframe_deadline(&self) -> Option<i64> {
        let r = &self.tracks[self.reference()?];
        if !r.spec.is_video || r.first_dts.is_none() {
            return None;
        }
        self.deadline()
    }

    fn reference(&self) -> Option<usize> {
        self.tracks
            .iter()
            .position(|t| t.spec.is_video && !t.done())
            .or_else(|| self.tracks.iter().position(|t| !t.done()))
    }

    fn find_cut(&self, reference: usize, origin: i64, wait_for_others: bool) -> Option<Cut> {
        let r = &self.tracks[reference];
        let start = r.queue.front()?.pts;
        let fragment_start = self.open_fragment.unwrap_or(start);
        let dur = self.fragment_duration as i64;
        let threshold = if r.spec.is_video {
            fragment_start.saturating_add(dur)
        } else {
            // Audio-only: an absolute grid from the origin, so lengths do not drift.
            let n = (fragment_start - origin).div_euclid(dur) + 1;
            origin.saturating_add(n.saturating_mul(dur))
        };
        let chunk_threshold = self.chunk_duration.map(|c| start.saturating_add(c as i64));
        // A format change on another track ends the fragment at the next keyframe; one on
        // the reference ends it right before the new format.
        let change_elsewhere = self
            .tracks
            .iter()
            .enumerate()
            .any(|(i, t)| i != reference && t.change_queued());
        let head_generation = r.queue.front()?.generation;
        let ends_fragment = |s: &Sample<P>, generation: u32| {
            generation != head_generation
                || ((s.keyframe || !r.spec.is_video || !self.keyframe_cuts)
                    && (change_elsewhere || self.split_requested || s.pts >= threshold))
        };
        let found = r
            .queue
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, s)| {
                ends_fragment(s, s.generation) || chunk_threshold.is_some_and(|c| s.pts >= c)
            })
            .map(|(k, s)| (k, s.pts, ends_fragment(s, s.generation)));
        let (take, pts, ends) = match found {
            Some(cut) => cut,
            // The reference ended: the others take what presents before its end plus
            // half a fragment, so a short tail (audio running past the last video
            // frame) joins the last fragment instead of forming a stub of its own. A
            // longer one goes on in fragments of its own.
            None if r.eos => {
                let end = r
                    .queue
                    .iter()
                    .map(|s| s.pts.saturating_add(s.duration.unwrap_or(1) as i64))
                    .max()?;
                (r.queue.len(), end.saturating_add(dur / 2), true)
            }
            None => return None,
        };
        if wait_for_others {
            let others_ready = self.tracks.iter().enumerate().all(|(i, t)| {
                i == reference
                    || t.eos
                    || t.change_queued()
                    || t.reached.is_some_and(|r| r >= pts)
                    || t.queue.back().is_some_and(|s| s.pts >= pts)
                    || t.next_dts.is_some_and(|d| d >= pts)
            });
            if !others_ready {
                return None;
            }
        }
        Some(Cut {
            reference,
            take,
            pts,
            keyframe_start: self.open_fragment.is_none()
                && (r.queue.front().is_some_and(|s| s.keyframe) || !r.spec.is_video),
            fragment_start,
            ends_fragment: ends,
        })
    }

    fn build(&mut self, origin: i64, cut: Cut) -> Fragment<P> {
        self.open_fragment = (!cut.ends_fragment).then_some(cut.fragment_start);
        // Decode times are running time - origin + offset.
        let origin = origin.saturating_sub(self.decode_time_offset as i64);
        let snapping = self.decode_time_offset > 0;
        if cut.ends_fragment {
            self.split_requested = false;
        }
        let mut out = Vec::new();
        let mut start_dts = i64::MAX;
        let mut start_pts = i64::MAX;
        let mut end_pts = i64::MIN;
        let mut presentation_start = i64::MAX;
        let mut presentation_end = i64::MIN;
        for (index, t) in self.tracks.iter_mut().enumerate() {
            let take = if index == cut.reference {
                cut.take
            } else {
                // Samples of a new format wait for the next fragment.
                let current = t.current;
                t.queue
                    .iter()
                    .take_while(|s| s.pts < cut.pts && s.generation == current)
                    .count()
            };
            if take == 0 {
                t.advance_generation();
                continue;
            }
            let generation = t.current;
            let taken: Vec<Sample<P>> = t.queue.drain(..take).map(|q| q.sample).collect();
            if snapping
                && t.snap.is_none()
                && let (Some(grid), Some(first)) = (t.frame_grid, taken.first())
            {
                // Start on the codec frame grid: shift by at most half a frame.
                let raw = t.tick_of(first.dts, origin);
                let grid = i128::from(grid);
                let snapped = (raw + grid / 2).div_euclid(grid) * grid;
                t.snap = Some((snapped - raw) as i64);
            }
            let mut ticks = Vec::with_capacity(taken.len() + 1);
            let mut prev = t.last_tick;
            for s in &taken {
                let mut tick = t.dts_tick(s.dts, origin, prev);
                if prev == t.last_tick {
                    // Never overlap the previous fragment, even where its end was guessed.
                    tick = tick.max(t.end_tick.unwrap_or(0));
                }
                ticks.push(tick);
                prev = Some(tick);
            }
            let last = prev.unwrap_or(0);
            // The last sample lasts until the next one known to come (queued, waiting
            // upstream, or after a gap), so durations always meet the next tfdt.
            let last_dts = taken.last().map_or(i64::MIN, |s| s.dts);
            let next_known = t
                .queue
                .front()
                .map(|s| s.dts)
                .or(t.next_dts.filter(|d| *d > last_dts))
                .or(t.reached.filter(|d| *d > last_dts));
            let open_end = next_known.is_none();
            let end_tick = match next_known {
                Some(next) => t.dts_tick(next, origin, Some(last)),
                None => {
                    let s = taken.last().map(|s| (s.dts, s.duration));
                    let by_duration = s.and_then(|(dts, d)| {
                        d.or(t.spec.default_duration)
                            .map(|d| t.tick_of(dts.saturating_add(d as i64), origin))
                    });
                    let end = by_duration
                        .map(|e| e.max(0) as u64)
                        .or_else(|| {
                            let n = ticks.len();
                            let previous = (n >= 2).then(|| ticks[n - 1] - ticks[n - 2]);
                            previous.or(t.last_duration_ticks).map(|d| last + d)
                        })
                        .unwrap_or(last + 1);
                    end.max(last + 1)
                }
            };
            ticks.push(end_tick);
            let mut samples = Vec::with_capacity(taken.len());
            let mut payloads = Vec::with_capacity(taken.len());
            for (i, s) in taken.into_iter().enumerate() {
                let dur = ticks[i + 1] - ticks[i];
                let pts_tick = t.tick_of(s.pts, origin);
                let cto = pts_tick - i128::from(ticks[i]);
                start_dts = start_dts.min(s.dts);
                start_pts = start_pts.min(s.pts);
                let end_ns = i128::from(origin) + t.ticks_to_ns(pts_tick + i128::from(dur));
                end_pts = end_pts.max(end_ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
                if index == cut.reference {
                    let ns = i128::from(origin) + t.ticks_to_ns(pts_tick);
                    presentation_start =
                        presentation_start.min(ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
                    presentation_end = presentation_end
                        .max(end_ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
                }
                samples.push(SampleDesc {
                    duration: u32::try_from(dur).unwrap_or(u32::MAX),
                    size: s.size,
                    sync: s.keyframe,
                    composition_offset: cto.clamp(i32::MIN as i128, i32::MAX as i128) as i32,
                });
                payloads.push(s.payload);
                t.last_duration_ticks = Some(dur);
            }
            t.last_tick = Some(last);
            t.end_tick = Some(end_tick);
            t.advance_generation();
            out.push(FragmentTrack {
                track: index,
                generation,
                open_end,
                base_decode_time: ticks[0],
                samples,
                payloads,
            });
        }
        Fragment {
            tracks: out,
            start_dts,
            start_pts,
            end_pts,
            presentation_start,
            presentation_end,
            keyframe_start: cut.keyframe_start,
        }
    }
}

#[cfg(test)]
mod tests;
