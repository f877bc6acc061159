//! Per-track statistics a relay wants: fragments, keyframes, fragment span and bitrate.

use std::collections::VecDeque;

use super::fragment::SampleRef;

/// Counters of one track, times in track ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackStats {
    pub samples: u64,
    pub keyframes: u64,
    pub bytes: u64,
    pub fragments: u64,
    /// Video samples dropped before the first keyframe.
    pub dropped: u64,
    /// Sum of sample durations.
    pub duration: u64,
    /// Span of the last complete fragment: max PTS − min PTS + the smallest duration.
    pub last_span: Option<u64>,
    pub min_span: Option<u64>,
    pub max_span: Option<u64>,
    /// Per `moof` not yet closed, oldest first: its index, PTS range and smallest
    /// duration (samples of the next `moof` may leave before the last of this one).
    open: VecDeque<(u64, i128, i128, u32)>,
}

impl TrackStats {
    /// Counts a sample that is output, described by the `moof` with index `moof`.
    pub fn sample(&mut self, s: &SampleRef, moof: u64) {
        self.samples += 1;
        self.keyframes += u64::from(s.sync);
        self.bytes += u64::from(s.size);
        self.duration += u64::from(s.duration);
        let pts = i128::from(s.dts) + i128::from(s.composition_offset);
        match self.open.back_mut() {
            Some((m, lo, hi, d)) if *m == moof => {
                *lo = (*lo).min(pts);
                *hi = (*hi).max(pts);
                *d = (*d).min(s.duration);
            }
            _ => self.open.push_back((moof, pts, pts, s.duration)),
        }
    }

    /// Closes the fragment of `moof` (they end in stream order); true if this track
    /// had samples in it.
    pub fn fragment_end(&mut self, moof: u64) -> bool {
        while self.open.front().is_some_and(|(m, ..)| *m < moof) {
            self.open.pop_front();
        }
        if self.open.front().is_none_or(|(m, ..)| *m != moof) {
            return false;
        }
        let Some((_, lo, hi, d)) = self.open.pop_front() else {
            return false;
        };
        let span = u64::try_from(hi - lo).unwrap_or(0) + u64::from(d);
        self.fragments += 1;
        self.last_span = Some(span);
        self.min_span = Some(self.min_span.map_or(span, |m| m.min(span)));
        self.max_span = Some(self.max_span.map_or(span, |m| m.max(span)));
        true
    }

    /// Bits per second over the samples seen, given the track timescale.
    pub fn bitrate(&self, timescale: u32) -> u64 {
        if self.duration == 0 {
            return 0;
        }
        (u128::from(self.bytes) * 8 * u128::from(timescale) / u128::from(self.duration)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dts: u64, cto: i64, duration: u32, sync: bool) -> SampleRef {
        SampleRef {
            track_id: 1,
            offset: 0,
            size: 100,
            dts,
            duration,
            composition_offset: cto,
            sync,
            aux: None,
        }
    }

    #[test]
    fn span_covers_reordered_presentation() {
        let mut st = TrackStats::default();
        // DTS 0,10,20 with PTS 10,30,20: span 30 - 10 + 10.
        st.sample(&sample(0, 10, 10, true), 0);
        st.sample(&sample(10, 20, 10, false), 0);
        st.sample(&sample(20, 0, 10, false), 0);
        // The next moof's first sample leaves before the first moof ends (another
        // track still has samples in it).
        st.sample(&sample(30, 10, 10, true), 1);
        assert!(st.fragment_end(0));
        assert_eq!(st.last_span, Some(30));
        assert!(st.fragment_end(1));
        assert_eq!(st.last_span, Some(10));
        assert!(!st.fragment_end(2)); // no samples: not a fragment of this track
        assert_eq!(
            (st.fragments, st.keyframes, st.min_span, st.max_span),
            (2, 2, Some(10), Some(30))
        );
        assert_eq!(st.bitrate(1000), 400 * 8 * 1000 / 40);
    }
}
