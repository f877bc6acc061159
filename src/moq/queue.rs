//! The bounded hand-off between the streaming thread and the async publisher: chunks of
//! `fragmp4mux` output, grouped as MoQ groups are (a group opens at a fragment start, a
//! video keyframe). When the publisher falls behind by more than `max_groups` groups, the
//! oldest whole groups go, so what reaches the relay stays live and starts at a keyframe.
//! Pure: generic over the payload, tested with plain values.

use std::collections::VecDeque;

/// One item for the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<P> {
    /// The init segment (`ftyp`+`moov`): never dropped.
    Init(P),
    /// A chunk (`moof`+`mdat`); `opens_group` when it starts a fragment (a keyframe).
    Chunk { payload: P, opens_group: bool },
    /// End of stream: finish the tracks.
    Eos,
}

/// What the queue dropped so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub groups: u64,
    pub chunks: u64,
}

#[derive(Debug)]
pub struct GroupQueue<P> {
    items: VecDeque<Item<P>>,
    max_groups: usize,
    /// Chunks in the queue that open a group.
    groups: usize,
    dropped: Dropped,
}

impl<P> GroupQueue<P> {
    /// A queue holding at most `max_groups` group openings (at least 1).
    pub fn new(max_groups: usize) -> Self {
        Self {
            items: VecDeque::new(),
            max_groups: max_groups.max(1),
            groups: 0,
            dropped: Dropped::default(),
        }
    }

    pub fn push(&mut self, item: Item<P>) {
        if let Item::Chunk {
            opens_group: true, ..
        } = item
        {
            while self.groups >= self.max_groups {
                self.drop_oldest_group();
            }
            self.groups += 1;
        }
        self.items.push_back(item);
    }

    /// Drops the chunks before the second group opening in the queue (the oldest group,
    /// or the rest of one the publisher already started), keeping init segments.
    fn drop_oldest_group(&mut self) {
        let mut kept = VecDeque::with_capacity(self.items.len());
        let mut dropped_any = false;
        while let Some(item) = self.items.pop_front() {
            match item {
                Item::Chunk {
                    opens_group: true, ..
                } if dropped_any => {
                    // The next group (or, after the rest of a started one, this one):
                    // stop here.
                    self.items.push_front(item);
                    break;
                }
                Item::Chunk { opens_group, .. } => {
                    if opens_group {
                        self.groups -= 1;
                    }
                    dropped_any = true;
                    self.dropped.chunks += 1;
                }
                other => kept.push_back(other),
            }
        }
        if dropped_any {
            self.dropped.groups += 1;
        }
        while let Some(item) = kept.pop_back() {
            self.items.push_front(item);
        }
    }

    pub fn pop(&mut self) -> Option<Item<P>> {
        let item = self.items.pop_front()?;
        if let Item::Chunk {
            opens_group: true, ..
        } = item
        {
            self.groups -= 1;
        }
        Some(item)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn dropped(&self) -> Dropped {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(p: u32, opens_group: bool) -> Item<u32> {
        Item::Chunk {
            payload: p,
            opens_group,
        }
    }

    fn drain(q: &mut GroupQueue<u32>) -> Vec<Item<u32>> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn keeps_everything_within_the_bound() {
        let mut q = GroupQueue::new(2);
        let items = vec![
            Item::Init(0),
            chunk(1, true),
            chunk(2, false),
            chunk(3, true),
            chunk(4, false),
            Item::Eos,
        ];
        for i in items.clone() {
            q.push(i);
        }
        assert_eq!(drain(&mut q), items);
        assert_eq!(q.dropped(), Dropped::default());
    }

    #[test]
    fn drops_the_oldest_whole_group_and_keeps_the_init() {
        let mut q = GroupQueue::new(2);
        q.push(Item::Init(0));
        for (p, g) in [(1, true), (2, false), (3, true), (4, false), (5, true)] {
            q.push(chunk(p, g));
        }
        assert_eq!(
            drain(&mut q),
            vec![
                Item::Init(0),
                chunk(3, true),
                chunk(4, false),
                chunk(5, true)
            ]
        );
        assert_eq!(
            q.dropped(),
            Dropped {
                groups: 1,
                chunks: 2
            }
        );
    }

    #[test]
    fn drops_the_rest_of_a_group_already_started() {
        let mut q = GroupQueue::new(1);
        q.push(chunk(1, true));
        assert_eq!(q.pop(), Some(chunk(1, true)));
        // The publisher stalls in the middle of group 1.
        q.push(chunk(2, false));
        q.push(chunk(3, true));
        q.push(chunk(4, false));
        q.push(chunk(5, true));
        assert_eq!(drain(&mut q), vec![chunk(5, true)]);
        assert_eq!(
            q.dropped(),
            Dropped {
                groups: 2,
                chunks: 3
            }
        );
    }

    #[test]
    fn a_bound_of_zero_still_holds_one_group() {
        let mut q = GroupQueue::new(0);
        q.push(chunk(1, true));
        q.push(chunk(2, true));
        assert_eq!(q.len(), 1);
        assert_eq!(drain(&mut q), vec![chunk(2, true)]);
        assert!(q.is_empty());
    }
}
