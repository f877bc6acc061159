//! `EXT-X-CUE-OUT` / `EXT-X-CUE-IN` from SCTE-35 splices (the tags ad insertion servers
//! read besides RFC 8216's `EXT-X-DATERANGE`): pure placement on the segments' times.

use std::fmt::Write;

/// A splice as the cue tags see it, on the segments' timeline (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub at: u64,
    /// Out of the network (a break starts); else the return.
    pub out: bool,
    /// The break's duration, when the splice out has one.
    pub duration: Option<u64>,
}

/// One cue tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueTag {
    /// A break starts in this segment, for this long (ns) when known.
    Out { duration: Option<u64> },
    /// The break ends in this segment.
    In,
}

impl CueTag {
    /// The playlist line, without the newline.
    pub fn line(&self) -> String {
        match self {
            CueTag::Out {
                duration: Some(d), ..
            } => {
                let mut s = String::from("#EXT-X-CUE-OUT:DURATION=");
                let _ = write!(s, "{:.3}", *d as f64 / 1e9);
                s
            }
            CueTag::Out { duration: None } => "#EXT-X-CUE-OUT".into(),
            CueTag::In => "#EXT-X-CUE-IN".into(),
        }
    }
}

/// The segment of `spans` ((start, end) ns, in order) that holds `t`: the first whose end
/// lies after it. None past the last segment's end.
fn segment_at(spans: &[(u64, u64)], t: u64) -> Option<usize> {
    spans.iter().position(|(_, end)| t < *end)
}

/// The cue tags and the index of the segment each goes before: `CUE-OUT` before the
/// segment in which a break starts, `CUE-IN` before the one in which it ends (at the
/// splice out's time plus its duration, or at a splice back in, whichever comes first).
/// A splice out during a break, or back in outside one, changes nothing; a break that
/// ends after the last segment has no `CUE-IN`.
pub fn place(spans: &[(u64, u64)], splices: &[Splice]) -> Vec<(usize, CueTag)> {
    let mut sorted = splices.to_vec();
    sorted.sort_by_key(|s| s.at);
    let mut out = Vec::new();
    // Some(end) while in a break; end None: it lasts until a splice back in.
    let mut in_break: Option<Option<u64>> = None;
    let close = |out: &mut Vec<(usize, CueTag)>, at: u64| {
        if let Some(i) = segment_at(spans, at) {
            out.push((i, CueTag::In));
        }
    };
    for s in sorted {
        if let Some(Some(end)) = in_break
            && end <= s.at
        {
            close(&mut out, end);
            in_break = None;
        }
        match (s.out, in_break) {
            (true, None) => {
                let Some(i) = segment_at(spans, s.at) else {
                    continue;
                };
                out.push((
                    i,
                    CueTag::Out {
                        duration: s.duration,
                    },
                ));
                in_break = Some(s.duration.map(|d| s.at.saturating_add(d)));
            }
            (false, Some(_)) => {
                close(&mut out, s.at);
                in_break = None;
            }
            _ => {}
        }
    }
    if let Some(Some(end)) = in_break {
        close(&mut out, end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn spans(n: u64) -> Vec<(u64, u64)> {
        (0..n).map(|i| (i * S, (i + 1) * S)).collect()
    }

    #[test]
    fn a_break_with_a_duration_opens_and_closes_where_its_times_fall() {
        let got = place(
            &spans(5),
            &[Splice {
                at: S / 2,
                out: true,
                duration: Some(1_200_000_000),
            }],
        );
        assert_eq!(
            got,
            vec![
                (
                    0,
                    CueTag::Out {
                        duration: Some(1_200_000_000)
                    }
                ),
                (1, CueTag::In)
            ]
        );
        assert_eq!(got[0].1.line(), "#EXT-X-CUE-OUT:DURATION=1.200");
        assert_eq!(got[1].1.line(), "#EXT-X-CUE-IN");
    }

    #[test]
    fn a_return_ends_the_break_and_boundaries_belong_to_the_next_segment() {
        let got = place(
            &spans(5),
            &[
                Splice {
                    at: 2 * S,
                    out: true,
                    duration: None,
                },
                // A second splice out during the break changes nothing.
                Splice {
                    at: 2 * S + 1,
                    out: true,
                    duration: Some(S),
                },
                Splice {
                    at: 3 * S + S / 2,
                    out: false,
                    duration: None,
                },
                // A return outside a break changes nothing.
                Splice {
                    at: 4 * S,
                    out: false,
                    duration: None,
                },
            ],
        );
        assert_eq!(
            got,
            vec![(2, CueTag::Out { duration: None }), (3, CueTag::In)]
        );
    }

    #[test]
    fn an_earlier_return_wins_and_a_late_end_has_no_cue_in() {
        let got = place(
            &spans(3),
            &[
                Splice {
                    at: 0,
                    out: true,
                    duration: Some(10 * S),
                },
                Splice {
                    at: S,
                    out: false,
                    duration: None,
                },
                Splice {
                    at: 2 * S,
                    out: true,
                    duration: Some(10 * S),
                },
            ],
        );
        assert_eq!(
            got,
            vec![
                (
                    0,
                    CueTag::Out {
                        duration: Some(10 * S)
                    }
                ),
                (1, CueTag::In),
                (
                    2,
                    CueTag::Out {
                        duration: Some(10 * S)
                    }
                ),
            ]
        );
    }
}
