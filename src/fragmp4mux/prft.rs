//! `write-prft`: a `prft` before each chunk's `moof`, its UTC taken from one pairing of
//! the pipeline clock's running time with the wall clock: the same pairing
//! `fragmp4dashsink` uses for `availabilityStartTime` and the MPD's
//! `ProducerReferenceTime` (it hands its pairing to its muxers).

use crate::boxes::prft::{PrftDesc, ntp_from_unix_ns, write_prft};

/// A running time of the pipeline clock and the UTC it was sampled at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcMapping {
    pub running_ns: u64,
    /// Milliseconds since the Unix epoch, as the sinks keep it.
    pub utc_ms: i64,
}

impl UtcMapping {
    /// The pairing of `running_ns` with the wall clock now.
    pub fn now(running_ns: u64) -> Self {
        let utc_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self { running_ns, utc_ms }
    }

    /// UTC (ns since the Unix epoch) of a signed running time.
    pub fn utc_ns(&self, running_ns: i64) -> i128 {
        i128::from(self.utc_ms) * 1_000_000 + i128::from(running_ns) - i128::from(self.running_ns)
    }
}

/// Where the reference track's media timeline lies on the running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub reference_track_id: u32,
    pub timescale: u32,
    /// Running time (ns) of decode time 0: the origin minus the decode-time offset.
    pub zero_running_ns: i64,
}

/// The `prft` of a chunk whose reference track starts at decode time `tfdt`: that
/// media time and the UTC of its running time.
pub fn prft_of(mapping: &UtcMapping, timeline: &Timeline, tfdt: u64) -> Vec<u8> {
    let offset_ns = i128::from(tfdt) * 1_000_000_000 / i128::from(timeline.timescale.max(1));
    let running = i128::from(timeline.zero_running_ns) + offset_ns;
    let running = running.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    write_prft(&PrftDesc {
        reference_track_id: timeline.reference_track_id,
        ntp_timestamp: ntp_from_unix_ns(mapping.utc_ns(running)),
        media_time: tfdt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::prft::{NTP_UNIX_OFFSET_SECS, unix_ns_from_ntp};

    #[test]
    fn the_utc_follows_the_running_time_of_the_media_time() {
        // Running time 2 s was sampled at 1000.5 s UTC; decode time 0 is running
        // time 1.5 s, so 90000 ticks later (1 s) is running time 2.5 s, UTC 1001 s.
        let mapping = UtcMapping {
            running_ns: 2_000_000_000,
            utc_ms: 1_000_500,
        };
        let timeline = Timeline {
            reference_track_id: 1,
            timescale: 90000,
            zero_running_ns: 1_500_000_000,
        };
        let b = prft_of(&mapping, &timeline, 90000);
        let ntp = u64::from_be_bytes(b[16..24].try_into().unwrap());
        assert_eq!(ntp, (NTP_UNIX_OFFSET_SECS + 1001) << 32);
        assert_eq!(&b[24..32], &90000u64.to_be_bytes());
        let b = prft_of(&mapping, &timeline, 45000);
        let ntp = u64::from_be_bytes(b[16..24].try_into().unwrap());
        assert_eq!(unix_ns_from_ntp(ntp), 1_000_500_000_000);
    }

    #[test]
    fn a_negative_origin_is_still_mapped() {
        // x264enc's first DTS lies before the segment start (DESIGN.md T1).
        let mapping = UtcMapping {
            running_ns: 0,
            utc_ms: 10_000,
        };
        let timeline = Timeline {
            reference_track_id: 1,
            timescale: 1000,
            zero_running_ns: -66_000_000,
        };
        let b = prft_of(&mapping, &timeline, 66);
        let ntp = u64::from_be_bytes(b[16..24].try_into().unwrap());
        assert_eq!(unix_ns_from_ntp(ntp), 10_000_000_000);
    }
}
