//! One track's queue, format generations and tick maths.

use std::collections::VecDeque;
use std::ops::Deref;

use super::{Sample, TrackSpec, TrackStats};

const NS: i128 = 1_000_000_000;

/// A queued sample with the format generation it was pushed under.
#[derive(Debug)]
pub(super) struct Queued<P> {
    pub generation: u32,
    pub sample: Sample<P>,
}

impl<P> Deref for Queued<P> {
    type Target = Sample<P>;
    fn deref(&self) -> &Sample<P> {
        &self.sample
    }
}

#[derive(Debug)]
pub(super) struct Track<P> {
    /// Timing facts of the generation being written.
    pub spec: TrackSpec,
    /// Generation of `spec`.
    pub current: u32,
    /// Generation given to newly pushed samples.
    pub incoming: u32,
    /// Specs of generations pushed but not yet written.
    pub pending: VecDeque<(u32, TrackSpec)>,
    pub queue: VecDeque<Queued<P>>,
    pub eos: bool,
    /// False for video until its first keyframe (again after a format change).
    pub started: bool,
    pub first_dts: Option<i64>,
    pub last_dts: Option<i64>,
    /// Tick of the last sample written, so the next is at least one tick later.
    pub last_tick: Option<u64>,
    /// Tick at which the last written sample ends.
    pub end_tick: Option<u64>,
    pub last_duration_ticks: Option<u64>,
    /// DTS of the next sample known to be coming (waiting upstream): no later sample
    /// can present before it.
    pub next_dts: Option<i64>,
    /// Running time up to which the track is known to have nothing more (GAP).
    pub reached: Option<i64>,
    /// Codec frame size in ticks, for snapping to the frame grid (DESIGN.md T3).
    pub frame_grid: Option<u32>,
    /// Ticks added to every decode and presentation time of the track (T3 snapping).
    pub snap: Option<i64>,
    pub stats: TrackStats,
}

impl<P> Track<P> {
    pub fn new(spec: TrackSpec) -> Self {
        Self {
            spec,
            current: 0,
            incoming: 0,
            pending: VecDeque::new(),
            queue: VecDeque::new(),
            eos: false,
            started: !spec.is_video,
            first_dts: None,
            last_dts: None,
            last_tick: None,
            end_tick: None,
            last_duration_ticks: None,
            next_dts: None,
            reached: None,
            frame_grid: None,
            snap: None,
            stats: TrackStats::default(),
        }
    }

    pub fn done(&self) -> bool {
        self.eos && self.queue.is_empty()
    }

    /// True once a sample of a newer format generation is queued.
    pub fn change_queued(&self) -> bool {
        self.queue
            .back()
            .is_some_and(|s| s.generation != self.current)
    }

    /// Switches to the generation of the queue's head once the older one is written.
    pub fn advance_generation(&mut self) {
        let Some(head) = self.queue.front().map(|s| s.generation) else {
            return;
        };
        while head != self.current {
            let Some((generation, spec)) = self.pending.pop_front() else {
                return;
            };
            self.current = generation;
            if spec.timescale != self.spec.timescale {
                // Ticks of a new timescale (and a new init) start afresh from the origin.
                self.last_tick = None;
                self.end_tick = None;
                self.last_duration_ticks = None;
            }
            self.spec = spec;
        }
    }

    pub fn ticks(&self, ns: i128) -> i128 {
        let num = ns * i128::from(self.spec.timescale);
        if num >= 0 {
            (num + NS / 2) / NS
        } else {
            -((-num + NS / 2) / NS)
        }
    }

    pub fn ticks_to_ns(&self, ticks: i128) -> i128 {
        ticks * NS / i128::from(self.spec.timescale.max(1))
    }

    /// The tick of a time, with the track's snapping applied.
    pub fn tick_of(&self, ns: i64, origin: i64) -> i128 {
        self.ticks(i128::from(ns) - i128::from(origin)) + i128::from(self.snap.unwrap_or(0))
    }

    /// The decode tick of a sample that follows `prev`.
    pub fn dts_tick(&self, dts: i64, origin: i64, prev: Option<u64>) -> u64 {
        let t = self.tick_of(dts, origin).max(0) as u64;
        match prev {
            Some(p) if t <= p => p + 1,
            _ => t,
        }
    }
}
