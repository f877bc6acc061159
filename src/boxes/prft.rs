//! The producer reference time (`prft`, ISO/IEC 14496-12 8.16.5): the UTC time, in NTP
//! format, at which a media time of a reference track was produced. Placed before the
//! `moof` it refers to, so low-latency DASH players measure their latency.

use super::writer::BoxWriter;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// Bytes of a version-1 `prft`.
pub const PRFT_LEN: usize = 12 + 4 + 8 + 8;

/// What a `prft` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrftDesc {
    /// The track whose media time is referenced.
    pub reference_track_id: u32,
    /// UTC in NTP format: seconds since 1900 in the high 32 bits, the fraction below.
    pub ntp_timestamp: u64,
    /// The reference track's media time (its timescale's ticks) that `ntp_timestamp` is
    /// the UTC of.
    pub media_time: u64,
}

/// The NTP timestamp of a UTC time given in nanoseconds since the Unix epoch; times
/// before 1900 give 0.
pub fn ntp_from_unix_ns(unix_ns: i128) -> u64 {
    let ns = unix_ns + i128::from(NTP_UNIX_OFFSET_SECS) * 1_000_000_000;
    if ns <= 0 {
        return 0;
    }
    let secs = ns / 1_000_000_000;
    let frac = ((ns % 1_000_000_000) << 32) / 1_000_000_000;
    ((secs as u64) << 32) | frac as u64
}

/// Nanoseconds since the Unix epoch of an NTP timestamp (the inverse of
/// [`ntp_from_unix_ns`], to within a nanosecond).
pub fn unix_ns_from_ntp(ntp: u64) -> i128 {
    let secs = i128::from(ntp >> 32) - i128::from(NTP_UNIX_OFFSET_SECS);
    let frac = (i128::from(ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    secs * 1_000_000_000 + frac
}

/// Writes a version-1 `prft` (64-bit media time) with flags 0: the UTC time at which
/// the frame at `media_time` was input to the encoder, which matches the MPD's
/// `ProducerReferenceTime type="encoder"`.
pub fn write_prft(d: &PrftDesc) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(PRFT_LEN);
    let prft = w.begin_full(*b"prft", 1, 0);
    w.u32(d.reference_track_id);
    w.u64(d.ntp_timestamp);
    w.u64(d.media_time);
    w.end(prft);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_has_the_iso_layout() {
        let b = write_prft(&PrftDesc {
            reference_track_id: 2,
            ntp_timestamp: 0x0102_0304_0506_0708,
            media_time: 0x1_0000_0005,
        });
        assert_eq!(b.len(), PRFT_LEN);
        assert_eq!(&b[0..4], &(PRFT_LEN as u32).to_be_bytes());
        assert_eq!(&b[4..8], b"prft");
        assert_eq!(&b[8..12], &[1, 0, 0, 0], "version 1, flags 0");
        assert_eq!(&b[12..16], &2u32.to_be_bytes());
        assert_eq!(&b[16..24], &0x0102_0304_0506_0708u64.to_be_bytes());
        assert_eq!(&b[24..32], &0x1_0000_0005u64.to_be_bytes());
    }

    #[test]
    fn ntp_counts_from_1900_with_a_binary_fraction() {
        // The Unix epoch is NTP second 2208988800.
        assert_eq!(ntp_from_unix_ns(0), NTP_UNIX_OFFSET_SECS << 32);
        // Half a second is 0x8000_0000 of the fraction.
        assert_eq!(
            ntp_from_unix_ns(1_500_000_000),
            ((NTP_UNIX_OFFSET_SECS + 1) << 32) | 0x8000_0000
        );
        // 2026-12-06T00:00:00.25Z = 1796515200.25 s since 1970.
        let ntp = ntp_from_unix_ns(1_796_515_200_250_000_000);
        assert_eq!(ntp >> 32, 1_796_515_200 + NTP_UNIX_OFFSET_SECS);
        assert_eq!(ntp & 0xffff_ffff, 0x4000_0000);
        assert_eq!(ntp_from_unix_ns(-(3_000_000_000i128 * 1_000_000_000)), 0);
    }

    #[test]
    fn ntp_converts_back_to_within_a_nanosecond() {
        for ns in [0i128, 1, 999_999_999, 1_796_515_200_123_456_789] {
            let back = unix_ns_from_ntp(ntp_from_unix_ns(ns));
            assert!((back - ns).abs() <= 1, "{ns} -> {back}");
        }
    }
}
