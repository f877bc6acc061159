//! Blocking playlist reload (RFC 8216bis §6.2.5.2), as pure decisions: the delivery
//! directives of a playlist request, and whether the playlist in hand answers it.

use std::time::Duration;

/// The delivery directives of a media playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn` and `_HLS_part`: hold the answer until the playlist holds that
    /// segment (or part of it).
    pub wait: Option<Want>,
    /// `_HLS_skip=YES` or `v2`: a delta update.
    pub skip: Skip,
}

/// A segment, or one part of it, that a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub msn: u64,
    pub part: Option<u64>,
}

/// What a delta update may leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Skip {
    #[default]
    No,
    /// `_HLS_skip=YES`: older segments.
    Segments,
    /// `_HLS_skip=v2`: older segments and older date ranges.
    SegmentsAndDateRanges,
}

/// Why a request gets `400 Bad Request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutMsn,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("_HLS_msn more than two segments past the last one")]
    TooFarAhead,
    #[error("_HLS_part beyond the advance part limit")]
    BeyondPartLimit,
}

/// Parses the query string of a playlist request (without the `?`). Unknown
/// parameters are ignored.
pub fn parse_query(query: &str) -> Result<Directives, BadRequest> {
    let (mut msn, mut part, mut skip) = (None, None, Skip::No);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => msn = Some(number(value, "_HLS_msn")?),
            "_HLS_part" => part = Some(number(value, "_HLS_part")?),
            "_HLS_skip" => {
                skip = match value {
                    "YES" => Skip::Segments,
                    "v2" => Skip::SegmentsAndDateRanges,
                    _ => return Err(BadRequest::Malformed("_HLS_skip")),
                }
            }
            _ => {}
        }
    }
    let wait = match (msn, part) {
        (Some(msn), part) => Some(Want { msn, part }),
        (None, Some(_)) => return Err(BadRequest::PartWithoutMsn),
        (None, None) => None,
    };
    Ok(Directives { wait, skip })
}

/// A decimal integer as RFC 8216bis writes them: digits only.
fn number(value: &str, what: &'static str) -> Result<u64, BadRequest> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadRequest::Malformed(what));
    }
    value.parse().map_err(|_| BadRequest::Malformed(what))
}

/// Where a live media playlist stands, as blocking reloads see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Media sequence number of the segment being written (the next to complete).
    pub next_msn: u64,
    /// Complete parts of that segment (0 without parts).
    pub parts_done: u64,
    /// Parts of the complete segments still listed with their parts: (msn, count).
    pub parts_of: Vec<(u64, u64)>,
    /// The stream ended: the playlist is final and directives are ignored.
    pub ended: bool,
    pub target_duration: Duration,
    /// `PART-TARGET`, when the playlist has parts.
    pub part_target: Option<Duration>,
}

/// What to do with a request that waits for a segment or part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The playlist in hand answers it.
    Answer,
    /// Hold the request until the playlist changes (at most [`Progress::hold_limit`]).
    Hold,
    Reject(BadRequest),
}

impl Progress {
    /// About how many parts make a segment.
    fn parts_per_segment(&self) -> u64 {
        match self.part_target {
            Some(p) if !p.is_zero() => self
                .target_duration
                .as_nanos()
                .div_ceil(p.as_nanos())
                .max(1) as u64,
            _ => 1,
        }
    }

    /// How many parts ahead of the last complete one a request may wait for: three
    /// target durations' worth.
    fn advance_part_limit(&self) -> u64 {
        3 * self.parts_per_segment()
    }

    /// Moves a part index past a complete segment's last part onto the next segment.
    fn normalise(&self, want: Want) -> Want {
        match want.part {
            Some(p) => match self.parts_of.iter().find(|(m, _)| *m == want.msn) {
                Some(&(_, count)) if p >= count => Want {
                    msn: want.msn + 1,
                    part: Some(0),
                },
                _ => want,
            },
            None => want,
        }
    }

    /// Whether the playlist in hand answers a request waiting for `want`.
    pub fn decide(&self, want: Want) -> Decision {
        if self.ended {
            return Decision::Answer;
        }
        let want = self.normalise(want);
        // The last complete segment is next_msn - 1: at most two past it.
        if want.msn > self.next_msn + 1 {
            return Decision::Reject(BadRequest::TooFarAhead);
        }
        if want.msn < self.next_msn {
            return Decision::Answer;
        }
        let Some(part) = want.part else {
            return Decision::Hold;
        };
        let ahead = (want.msn - self.next_msn) * self.parts_per_segment() + part;
        if ahead >= self.parts_done + self.advance_part_limit() {
            return Decision::Reject(BadRequest::BeyondPartLimit);
        }
        if want.msn == self.next_msn && part < self.parts_done {
            Decision::Answer
        } else {
            Decision::Hold
        }
    }

    /// How long a held request may wait before it gets `503`.
    pub fn hold_limit(&self) -> Duration {
        self.target_duration * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(next_msn: u64, parts_done: u64) -> Progress {
        Progress {
            next_msn,
            parts_done,
            parts_of: vec![(next_msn - 2, 5), (next_msn - 1, 5)],
            ended: false,
            target_duration: Duration::from_secs(1),
            part_target: Some(Duration::from_millis(200)),
        }
    }

    fn want(msn: u64, part: Option<u64>) -> Want {
        Want { msn, part }
    }

    #[test]
    fn queries_parse_into_directives() {
        assert_eq!(parse_query("").unwrap(), Directives::default());
        let d = parse_query("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES").unwrap();
        assert_eq!(d.wait, Some(want(12, Some(3))));
        assert_eq!(d.skip, Skip::Segments);
        assert_eq!(
            parse_query("_HLS_skip=v2").unwrap().skip,
            Skip::SegmentsAndDateRanges
        );
        assert_eq!(
            parse_query("_HLS_msn=7&other=x").unwrap().wait,
            Some(want(7, None))
        );
    }

    #[test]
    fn malformed_directives_are_bad_requests() {
        assert_eq!(parse_query("_HLS_part=1"), Err(BadRequest::PartWithoutMsn));
        for q in [
            "_HLS_msn=",
            "_HLS_msn=-1",
            "_HLS_msn=1x",
            "_HLS_msn=+1",
            "_HLS_msn=99999999999999999999999",
            "_HLS_msn=1&_HLS_part=a",
            "_HLS_skip=no",
        ] {
            assert!(
                matches!(parse_query(q), Err(BadRequest::Malformed(_))),
                "{q}"
            );
        }
    }

    #[test]
    fn parts_and_segments_in_the_playlist_are_answered_at_once() {
        let p = progress(10, 2);
        assert_eq!(p.decide(want(9, None)), Decision::Answer);
        assert_eq!(p.decide(want(9, Some(4))), Decision::Answer);
        assert_eq!(p.decide(want(10, Some(1))), Decision::Answer);
        assert_eq!(
            p.decide(want(3, None)),
            Decision::Answer,
            "older than the window"
        );
    }

    #[test]
    fn the_next_part_or_segment_is_held() {
        let p = progress(10, 2);
        assert_eq!(p.decide(want(10, Some(2))), Decision::Hold);
        assert_eq!(p.decide(want(10, None)), Decision::Hold);
        assert_eq!(p.decide(want(11, None)), Decision::Hold);
        assert_eq!(p.decide(want(11, Some(0))), Decision::Hold);
    }

    #[test]
    fn a_part_past_the_last_means_the_next_segment() {
        let p = progress(10, 0);
        // Segment 9 had 5 parts: part 5 of it is part 0 of 10, not complete yet.
        assert_eq!(p.decide(want(9, Some(5))), Decision::Hold);
        assert_eq!(progress(10, 1).decide(want(9, Some(7))), Decision::Answer);
    }

    #[test]
    fn too_far_ahead_is_rejected() {
        let p = progress(10, 2);
        assert_eq!(
            p.decide(want(12, None)),
            Decision::Reject(BadRequest::TooFarAhead)
        );
        // 3 target durations of 5 parts: 15 parts ahead of the 2 complete.
        assert_eq!(p.decide(want(11, Some(11))), Decision::Hold);
        assert_eq!(
            p.decide(want(11, Some(12))),
            Decision::Reject(BadRequest::BeyondPartLimit)
        );
    }

    #[test]
    fn after_the_end_every_request_is_answered() {
        let mut p = progress(10, 2);
        p.ended = true;
        assert_eq!(p.decide(want(11, Some(3))), Decision::Answer);
        assert_eq!(p.decide(want(50, None)), Decision::Answer);
        assert_eq!(p.hold_limit(), Duration::from_secs(3));
    }
}
