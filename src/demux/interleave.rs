//! Releases the samples of complete `moof`s across tracks in decode order, whatever the
//! layout of the file: a producer may write one `moof` per track, each a second or more
//! long, and a downstream muxer fed through bounded queues needs the tracks interleaved.
//!
//! A sample leaves once no other track can still bring an earlier one: that track has a
//! sample waiting (at or after it), or its last sample read ends at or after it (decode
//! times of a track only grow). Otherwise the interleaver waits for more `moof`s, within
//! a bounded lookahead; past it, or for a hole in a track, the waiting track is covered
//! by a [`Event::Gap`] so an aggregator does not wait for it.

use std::collections::VecDeque;

use super::fragment::SampleRef;
use super::movie::Movie;
use super::stream::{Event, Sample};
use crate::boxes::cenc::SampleAux;

/// Payload bytes of complete `moof`s held while another track is awaited; past it,
/// samples leave without waiting (the waiting track gets a gap).
pub const MAX_LOOKAHEAD_BYTES: u64 = 64 << 20;

/// Samples held while another track is awaited (bounds their descriptions' memory when
/// the samples are tiny), as many as one `moof` may describe.
pub const MAX_LOOKAHEAD_SAMPLES: usize = super::fragment::MAX_SAMPLES_PER_MOOF;

/// Shortest media time read ahead of the next sample while a track is awaited; it grows
/// to twice the longest per-track run of a `moof` seen.
pub const MIN_LOOKAHEAD_NS: i128 = 10_000_000_000;

/// Holes shorter than this get no gap: downstream queues absorb them.
pub const MIN_GAP_NS: i128 = 100_000_000;

/// Track ticks as nanoseconds (rounded down, as the element timestamps them).
pub fn ticks_to_ns(ticks: u64, timescale: u32) -> i128 {
    i128::from(ticks) * 1_000_000_000 / i128::from(timescale.max(1))
}

/// A sample waiting in its track's lane, with its times as running time (ns).
#[derive(Debug)]
struct Ready {
    info: SampleRef,
    crypto: Option<SampleAux>,
    moof: u64,
    dts: i128,
    end: i128,
}

/// One track: its waiting samples and what downstream knows of it.
#[derive(Debug)]
struct Lane {
    track_id: u32,
    timescale: u32,
    /// The segment start of the track's pad (an edit list's `media_time`), in ns.
    offset: i128,
    /// The track is in the current movie (only those are awaited).
    active: bool,
    ready: VecDeque<Ready>,
    /// End of the last sample read: later samples of the track decode no earlier.
    next: Option<i128>,
    /// Running time up to which downstream has samples or a gap of this track.
    told: Option<i128>,
    ended: bool,
}

impl Lane {
    fn key(&self, ticks: u64) -> i128 {
        ticks_to_ns(ticks, self.timescale) - self.offset
    }
}

/// A complete `moof`: its payload and how many of its samples are still to leave.
struct Held<R> {
    index: u64,
    sequence: u32,
    /// Stream offset of the region's first byte.
    start: u64,
    bytes: u64,
    region: Option<R>,
    remaining: usize,
}

/// The samples of complete `moof`s, released in decode order across tracks. `R` is a
/// `moof`'s payload region, `P` a sample's payload cut out of it.
pub(super) struct Interleaver<R, P> {
    held: VecDeque<Held<R>>,
    lanes: Vec<Lane>,
    out: VecDeque<Event<P>>,
    next_index: u64,
    held_bytes: u64,
    /// Longest span one track's samples cover in one `moof`.
    longest_run: i128,
    /// Running time of the first sample released.
    start: Option<i128>,
    /// No more `moof`s will come: everything held leaves.
    ending: bool,
    /// Video tracks still waiting for their first keyframe.
    awaiting_keyframe: Vec<u32>,
}

impl<R, P> Default for Interleaver<R, P> {
    fn default() -> Self {
        Self {
            held: VecDeque::new(),
            lanes: Vec::new(),
            out: VecDeque::new(),
            next_index: 0,
            held_bytes: 0,
            longest_run: 0,
            start: None,
            ending: false,
            awaiting_keyframe: Vec::new(),
        }
    }
}

impl<R, P> Interleaver<R, P> {
    /// Takes the tracks of a (new) movie; video tracks new to it await a keyframe.
    pub fn set_movie(&mut self, movie: &Movie) {
        for lane in &mut self.lanes {
            lane.active = movie.track(lane.track_id).is_some();
        }
        for t in &movie.tracks {
            let id = t.desc.track_id;
            let offset = ticks_to_ns(t.edit_media_time.unwrap_or(0), t.desc.timescale);
            if let Some(lane) = self.lanes.iter_mut().find(|l| l.track_id == id) {
                lane.timescale = t.desc.timescale;
                lane.offset = offset;
                continue;
            }
            self.lanes.push(Lane {
                track_id: id,
                timescale: t.desc.timescale,
                offset,
                active: true,
                ready: VecDeque::new(),
                next: None,
                told: None,
                ended: false,
            });
            if t.desc.is_video() {
                self.awaiting_keyframe.push(id);
            }
        }
    }

    /// The index the next [`Interleaver::push_moof`] gives its `moof`.
    pub fn next_moof(&self) -> u64 {
        self.next_index
    }

    /// An event to yield before the samples not yet released.
    pub fn push_event(&mut self, ev: Event<P>) {
        self.out.push_back(ev);
    }

    /// Holds a complete `moof`: `samples` in `trun` order (their encryption information
    /// in `aux`), its payload `region` starting at stream offset `start`, `bytes` long.
    pub fn push_moof(
        &mut self,
        sequence: u32,
        samples: Vec<SampleRef>,
        mut aux: Vec<SampleAux>,
        start: u64,
        bytes: u64,
        region: R,
    ) {
        let index = self.next_index;
        self.next_index += 1;
        let mut remaining = 0;
        let mut first: Vec<(usize, i128)> = Vec::new();
        for s in samples {
            let Some(i) = self.lanes.iter().position(|l| l.track_id == s.track_id) else {
                continue;
            };
            let lane = &mut self.lanes[i];
            let dts = lane.key(s.dts);
            let end = lane.key(s.dts.saturating_add(u64::from(s.duration)));
            lane.next = Some(end);
            let crypto = s
                .aux
                .and_then(|i| aux.get_mut(i as usize))
                .map(std::mem::take);
            lane.ready.push_back(Ready {
                info: s,
                crypto,
                moof: index,
                dts,
                end,
            });
            remaining += 1;
            match first.iter().find(|(l, _)| *l == i) {
                Some((_, from)) => self.longest_run = self.longest_run.max(end - from),
                None => first.push((i, dts)),
            }
        }
        self.held_bytes += bytes;
        self.held.push_back(Held {
            index,
            sequence,
            start,
            bytes,
            region: Some(region),
            remaining,
        });
    }

    /// No more `moof`s: what is held leaves, and each track ends once it has nothing left.
    pub fn end(&mut self) {
        self.ending = true;
    }

    /// Forgets everything held (a flush); the tracks stay known.
    pub fn reset(&mut self) {
        self.held.clear();
        self.out.clear();
        self.held_bytes = 0;
        self.start = None;
        self.ending = false;
        for lane in &mut self.lanes {
            lane.ready.clear();
            lane.next = None;
            lane.told = None;
            lane.ended = false;
        }
    }

    /// Bytes of payload held.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// The next event, `None` when more `moof`s are needed (or, ending, nothing is left).
    /// `slice` cuts a sample's payload out of its region.
    pub fn next(&mut self, slice: impl Fn(&R, usize, usize) -> P) -> Option<Event<P>> {
        loop {
            if let Some(ev) = self.out.pop_front() {
                return Some(ev);
            }
            if self.held.front().is_some_and(|h| h.remaining == 0) {
                let h = self.held.pop_front()?;
                if h.region.is_some() {
                    self.held_bytes -= h.bytes;
                }
                return Some(Event::FragmentEnd {
                    sequence: h.sequence,
                    moof: h.index,
                });
            }
            if self.ending
                && let Some(lane) = self
                    .lanes
                    .iter_mut()
                    .find(|l| !l.ended && l.ready.is_empty())
            {
                lane.ended = true;
                return Some(Event::TrackEnd {
                    track_id: lane.track_id,
                });
            }
            if !self.schedule(&slice) {
                return None;
            }
        }
    }

    /// Queues the next sample (after the gaps it needs) if it may leave now.
    fn schedule(&mut self, slice: &impl Fn(&R, usize, usize) -> P) -> bool {
        let Some(c) = self.candidate() else {
            return false;
        };
        let dts = self.lanes[c].ready[0].dts;
        let blocked = self.lanes.iter().enumerate().any(|(i, l)| {
            i != c && l.active && !l.ended && l.ready.is_empty() && l.next.is_none_or(|n| n < dts)
        });
        if blocked && !self.ending && !self.exhausted(dts) {
            return false;
        }
        let start = *self.start.get_or_insert(dts);
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            if i == c || !lane.active || lane.ended {
                continue;
            }
            let told = lane.told.unwrap_or(start);
            if dts <= told + MIN_GAP_NS {
                continue;
            }
            // Up to its next sample if one is read, else as far as this sample: the
            // lookahead is spent, and downstream must not wait for this track.
            let until = match (lane.ready.front(), lane.next) {
                (Some(r), _) => r.dts,
                (None, Some(n)) if n >= dts => n,
                _ => dts,
            };
            let from = told.max(0);
            if until > from {
                self.out.push_back(Event::Gap {
                    track_id: lane.track_id,
                    start: u64::try_from(from + lane.offset).unwrap_or(0),
                    duration: u64::try_from(until - from).unwrap_or(0),
                });
            }
            lane.told = Some(until);
        }
        let Some(r) = self.lanes[c].ready.pop_front() else {
            return false;
        };
        let waiting = self
            .awaiting_keyframe
            .iter()
            .position(|id| *id == r.info.track_id);
        let ev = match waiting {
            Some(_) if !r.info.sync => Event::DroppedBeforeKeyframe(r.info),
            _ => {
                if let Some(i) = waiting {
                    self.awaiting_keyframe.swap_remove(i);
                }
                self.lanes[c].told = Some(r.end);
                let Some(payload) = self.held_moof(r.moof).and_then(|h| {
                    let region = h.region.as_ref()?;
                    Some(slice(
                        region,
                        (r.info.offset - h.start) as usize,
                        r.info.size as usize,
                    ))
                }) else {
                    return false;
                };
                Event::Sample(Sample {
                    info: r.info,
                    payload,
                    moof: r.moof,
                    crypto: r.crypto,
                })
            }
        };
        self.out.push_back(ev);
        self.release_moof_sample(r.moof);
        true
    }

    /// The lane whose next sample decodes first (the first lane on a tie).
    fn candidate(&self) -> Option<usize> {
        let mut best: Option<(usize, i128)> = None;
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(r) = lane.ready.front()
                && best.is_none_or(|(_, d)| r.dts < d)
            {
                best = Some((i, r.dts));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The lookahead is spent: too many bytes or samples held, or media read too far
    /// past `dts`.
    fn exhausted(&self, dts: i128) -> bool {
        let frontier = self
            .lanes
            .iter()
            .filter_map(|l| l.next)
            .max()
            .unwrap_or(dts);
        self.held_bytes > MAX_LOOKAHEAD_BYTES
            || self.lanes.iter().map(|l| l.ready.len()).sum::<usize>() > MAX_LOOKAHEAD_SAMPLES
            || frontier - dts > MIN_LOOKAHEAD_NS.max(2 * self.longest_run)
    }

    fn held_moof(&self, index: u64) -> Option<&Held<R>> {
        let front = self.held.front()?.index;
        self.held
            .get(usize::try_from(index.checked_sub(front)?).ok()?)
    }

    /// One sample of moof `index` has left; its payload is dropped after its last.
    fn release_moof_sample(&mut self, index: u64) {
        let Some(front) = self.held.front().map(|h| h.index) else {
            return;
        };
        let Some(h) = index
            .checked_sub(front)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.held.get_mut(i))
        else {
            return;
        };
        h.remaining = h.remaining.saturating_sub(1);
        if h.remaining == 0 && h.region.take().is_some() {
            self.held_bytes -= h.bytes;
        }
    }
}
