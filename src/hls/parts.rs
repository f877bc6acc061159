//! How long LL-HLS parts are: the muxer cuts a chunk at the first frame at or past its
//! chunk duration, so parts are whole frames; the sink asks for a chunk duration a little
//! under `part-duration` and declares `PART-TARGET` as the length of a full part on the
//! frame grid. Every part then lasts at most `PART-TARGET`, and every part but a
//! segment's last lasts exactly it (well above the 85 % the sink promises).

/// How much under `part-duration` the muxer's chunk duration is, so a frame grid that
/// divides the part duration (30 fps and 200 ms) does not get one frame more.
const MARGIN_NS: u64 = 1_000_000;

/// Slack for timestamps rounded to nanoseconds or to the track's timescale (µs).
const JITTER_US: u64 = 1;

/// The `chunk-duration` the muxer gets for parts of `part_ns`.
pub fn chunk_duration(part_ns: u64) -> u64 {
    part_ns.saturating_sub(MARGIN_NS).max(1)
}

/// `PART-TARGET` in µs for parts of `part_ns` over frames of `frame_ns` (the cutting
/// track's: video frames, else audio frames), or an allowance for unknown frame lengths.
pub fn part_target_us(part_ns: u64, frame_ns: Option<u64>) -> u64 {
    let chunk = chunk_duration(part_ns);
    let full_ns = match frame_ns.filter(|f| *f > 0) {
        // The chunk takes every frame starting before `chunk`: ceil(chunk / frame).
        Some(f) => chunk.div_ceil(f) * f,
        // No frame length known: allow frames of up to 50 ms.
        None => chunk + 50_000_000,
    };
    full_ns.div_ceil(1000) + JITTER_US
}

/// The duration of one frame from a `framerate` fraction, if it is a fixed one.
pub fn frame_ns(num: i32, den: i32) -> Option<u64> {
    (num > 0 && den > 0).then(|| 1_000_000_000u64 * den as u64 / num as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames the muxer puts in a chunk: those starting before the chunk duration.
    fn full_part_ns(part_ns: u64, frame: u64) -> u64 {
        let chunk = chunk_duration(part_ns);
        (0..).map(|k| k * frame).find(|t| *t >= chunk).unwrap()
    }

    #[test]
    fn full_parts_fill_the_part_target_on_common_frame_grids() {
        for (num, den) in [(30, 1), (25, 1), (24, 1), (30000, 1001), (60, 1), (50, 1)] {
            let frame = frame_ns(num, den).unwrap();
            for part_ms in [100u64, 200, 250, 333, 500, 1000] {
                let part = part_ms * 1_000_000;
                let target = part_target_us(part, Some(frame));
                let full_us = full_part_ns(part, frame) as f64 / 1000.0;
                assert!(full_us <= target as f64, "{num}/{den} {part_ms}");
                assert!(full_us >= 0.85 * target as f64, "{num}/{den} {part_ms}");
            }
        }
        // 30 fps and 200 ms: six frames, not seven.
        assert_eq!(part_target_us(200_000_000, frame_ns(30, 1)), 200_001);
        assert_eq!(part_target_us(200_000_000, frame_ns(24, 1)), 208_335);
    }

    #[test]
    fn unknown_frame_lengths_get_an_allowance() {
        assert_eq!(part_target_us(200_000_000, None), 249_001);
        assert_eq!(frame_ns(0, 1), None);
        assert_eq!(chunk_duration(0), 1);
    }
}
