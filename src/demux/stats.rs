//! Per-track statistics a relay wants: fragments, keyframes, fragment span and bitrate.

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
    /// PTS range and smallest duration of the fragment being read.
    open: Option<(i128, i128, u32)>,
}

impl TrackStats {
    /// Counts a sample that is output.
    pub fn sample(&mut self, s: &SampleRef) {
        self.samples += 1;
        self.keyframes += u64::from(s.sync);
        self.bytes += u64::from(s.size);
        self.duration += u64::from(s.duration);
        let pts = i128::from(s.dts) + i128::from(s.composition_offset);
        self.open = Some(match self.open {
            None => (pts, pts, s.duration),
            Some((lo, hi, d)) => (lo.min(pts), hi.max(pts), d.min(s.duration)),
        });
    }

    /// Closes the fragment being read; true if this track had samples in it.
    pub fn fragment_end(&mut self) -> bool {
        let Some((lo, hi, d)) = self.open.take() else {
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
        }
    }

    #[test]
    fn span_covers_reordered_presentation() {
        let mut st = TrackStats::default();
        // DTS 0,10,20 with PTS 10,30,20: span 30 - 10 + 10.
        st.sample(&sample(0, 10, 10, true));
        st.sample(&sample(10, 20, 10, false));
        st.sample(&sample(20, 0, 10, false));
        st.fragment_end();
        assert_eq!(st.last_span, Some(30));
        st.sample(&sample(30, 10, 10, true));
        st.fragment_end();
        st.fragment_end(); // no samples: not a fragment of this track
        assert_eq!(
            (st.fragments, st.keyframes, st.min_span, st.max_span),
            (2, 2, Some(10), Some(30))
        );
        assert_eq!(st.bitrate(1000), 400 * 8 * 1000 / 40);
    }
}
