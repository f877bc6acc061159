//! The sliding window of a live playlist: segments that fall out of it advance the
//! media sequence number, and the discontinuity sequence when the new first segment
//! starts a discontinuity (RFC 8216 6.2.2).

use std::collections::VecDeque;

/// The sequence numbers a window moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequences {
    pub media: u64,
    pub discontinuity: u64,
}

/// Drops segments from the front until at most `window` remain (0: keep all); returns
/// them. `discontinuity` tells whether a segment starts a discontinuity.
pub fn slide<S>(
    segments: &mut VecDeque<S>,
    window: usize,
    seq: &mut Sequences,
    discontinuity: impl Fn(&S) -> bool,
) -> Vec<S> {
    let mut gone = Vec::new();
    while window > 0 && segments.len() > window {
        let Some(s) = segments.pop_front() else {
            break;
        };
        seq.media += 1;
        if segments.front().is_some_and(&discontinuity) {
            seq.discontinuity += 1;
        }
        gone.push(s);
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_a_segment_before_a_discontinuity_counts_it() {
        let mut segs: VecDeque<bool> = [false, false, true, false].into_iter().collect();
        let mut seq = Sequences::default();
        let gone = slide(&mut segs, 2, &mut seq, |d| *d);
        assert_eq!(gone.len(), 2);
        assert_eq!(
            seq,
            Sequences {
                media: 2,
                discontinuity: 1
            }
        );
        assert!(
            slide(&mut segs, 0, &mut seq, |d| *d).is_empty(),
            "0 keeps all"
        );
    }
}
