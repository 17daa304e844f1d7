//! The event-time reorder buffer for `--follow` over several inputs (`--max-delay`, default
//! 2s): live inputs deliver lines as they arrive, so events of different inputs reach the
//! merger out of event-time order. [`Reorder`] keeps one FIFO queue per input (the files of a
//! rotated set, one timeline read in order, share one: the merger's choice) and releases the
//! queue head with the smallest event time once it is older than the newest event time seen
//! minus `max_delay` (a k-way merge with a watermark). A queue whose input still has history
//! to read (a followed file read from its start, until it first reaches its end:
//! [`Reorder::expect_history`], [`Reorder::caught_up`]) also holds the watermark at its latest
//! event time: two files with hours of history merge in time order, not one after the other.
//!
//! # Invariants
//! * Items of one input are released in the order they arrived (continuation lines stay behind
//!   their event; an item without a time takes the time of the item before it).
//! * An event that arrives older than an event already released is *late* (it cannot be put
//!   in order any more): it is still released (at once if its queue is empty) and counted in [`Reorder::late`]
//!   (`input.late_events`).
//! * Memory is bounded: past `cap` held items the oldest are released regardless of the
//!   watermark. The caller releases everything after the inputs went quiet and at the end.
//! * Nothing here reads the wall clock: the caller decides when "quiet" is.
//! * Only used on the follow path with several inputs or watched directories (inputs added
//!   during the run get their queue on their first push): the batch path never builds one.

use std::collections::VecDeque;

use crate::time::Nanos;

/// See the module docs.
#[derive(Debug)]
pub struct Reorder<T> {
    max_delay: Nanos,
    cap: usize,
    queues: Vec<VecDeque<(Nanos, T)>>,
    last_ts: Vec<Nanos>,
    newest: Option<Nanos>,
    /// Per queue: its input is still reading history.
    catching_up: Vec<bool>,
    /// The latest event time released.
    released: Nanos,
    held: usize,
    /// Per queue: items pushed so far.
    pushed: Vec<u64>,
    /// Events that arrived older than an event already released.
    pub late: u64,
}

impl<T> Reorder<T> {
    /// A buffer for `sources` inputs.
    pub fn new(sources: usize, max_delay: Nanos, cap: usize) -> Reorder<T> {
        Reorder {
            max_delay: max_delay.max(0),
            cap: cap.max(1),
            queues: (0..sources).map(|_| VecDeque::new()).collect(),
            last_ts: vec![Nanos::MIN; sources],
            newest: None,
            catching_up: vec![false; sources],
            released: Nanos::MIN,
            held: 0,
            pushed: vec![0; sources],
            late: 0,
        }
    }

    fn grow(&mut self, queue: usize) {
        if queue >= self.queues.len() {
            self.queues.resize_with(queue + 1, VecDeque::new);
            self.last_ts.resize(queue + 1, Nanos::MIN);
            self.catching_up.resize(queue + 1, false);
            self.pushed.resize(queue + 1, 0);
        }
    }

    /// Queue `queue`'s input reads history first: hold the watermark at its latest event until
    /// [`Reorder::caught_up`].
    pub fn expect_history(&mut self, queue: usize) {
        self.grow(queue);
        self.catching_up[queue] = true;
    }

    /// Queue `queue`'s input has read all it had (it is live, or done).
    pub fn caught_up(&mut self, queue: usize) {
        if let Some(c) = self.catching_up.get_mut(queue) {
            *c = false;
        }
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Nothing held?
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Add an item of input `source`. `ts` is its event time (`None`: it belongs with the
    /// item before it, e.g. a continuation line); `event` says whether it counts as an event
    /// for the late count.
    pub fn push(&mut self, source: usize, ts: Option<Nanos>, event: bool, item: T) {
        self.grow(source);
        let ts = match ts {
            Some(t) => {
                if event && t < self.released {
                    self.late += 1;
                }
                self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
                self.last_ts[source] = t;
                t
            }
            None => self.last_ts[source],
        };
        self.queues[source].push_back((ts, item));
        self.pushed[source] += 1;
        self.held += 1;
    }

    /// Items pushed to queue `queue` so far.
    pub fn pushed(&self, queue: usize) -> u64 {
        self.pushed.get(queue).copied().unwrap_or(0)
    }

    /// Have the first `n` items pushed to queue `queue` been released? (A queue releases its
    /// items in the order they were pushed.)
    pub fn released_first(&self, queue: usize, n: u64) -> bool {
        let held = self.queues.get(queue).map_or(0, |q| q.len() as u64);
        self.pushed(queue).saturating_sub(held) >= n
    }

    /// Move the items that are due into `out`, in release order: everything when `all`,
    /// else heads older than the newest time minus `max_delay`, and the oldest beyond `cap`.
    pub fn release(&mut self, all: bool, out: &mut Vec<T>) {
        let history = self
            .catching_up
            .iter()
            .zip(&self.last_ts)
            .filter(|(c, _)| **c)
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(Nanos::MAX);
        let watermark = self
            .newest
            .map_or(Nanos::MIN, |n| n.saturating_sub(self.max_delay))
            .min(history);
        loop {
            let Some((src, ts)) = self
                .queues
                .iter()
                .enumerate()
                .filter_map(|(i, q)| q.front().map(|(t, _)| (i, *t)))
                .min_by_key(|&(i, t)| (t, i))
            else {
                return;
            };
            if !(all || ts <= watermark || self.held > self.cap) {
                return;
            }
            if let Some((_, item)) = self.queues[src].pop_front() {
                self.held -= 1;
                self.released = self.released.max(ts);
                out.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut Reorder<&'static str>, all: bool) -> Vec<&'static str> {
        let mut v = Vec::new();
        r.release(all, &mut v);
        v
    }

    #[test]
    fn merges_inputs_by_event_time_behind_the_watermark() {
        let mut r = Reorder::new(2, 10, 100);
        r.push(0, Some(100), true, "a100");
        r.push(0, None, false, "a100-cont");
        r.push(1, Some(95), true, "b95");
        assert!(
            drain(&mut r, false).is_empty(),
            "nothing older than 100-10 yet"
        );
        r.push(0, Some(120), true, "a120");
        assert_eq!(drain(&mut r, false), ["b95", "a100", "a100-cont"]);
        r.push(1, Some(115), true, "b115");
        r.push(1, Some(105), true, "b105");
        assert!(
            drain(&mut r, false).is_empty(),
            "b105 stays behind b115 of its input"
        );
        assert_eq!(drain(&mut r, true), ["b115", "b105", "a120"]);
        // Older than what was released: late, but still delivered.
        r.push(0, Some(99), true, "a99-late");
        assert_eq!(r.late, 1);
        assert_eq!(drain(&mut r, false), ["a99-late"]);
        assert!(r.is_empty());
    }

    #[test]
    fn inputs_reading_history_hold_the_watermark_until_caught_up() {
        let mut r = Reorder::new(2, 10, 100);
        r.expect_history(0);
        r.expect_history(1);
        // Input 0's whole history arrives first (it was read faster).
        for (t, name) in [(100, "a100"), (200, "a200"), (300, "a300")] {
            r.push(0, Some(t), true, name);
        }
        assert!(
            drain(&mut r, false).is_empty(),
            "input 1 has not said anything yet"
        );
        r.push(1, Some(150), true, "b150");
        assert_eq!(drain(&mut r, false), ["a100", "b150"]);
        r.push(1, Some(250), true, "b250");
        assert_eq!(drain(&mut r, false), ["a200", "b250"]);
        r.caught_up(1);
        // Input 1 is live now: only input 0's history and the max-delay hold things back.
        assert!(drain(&mut r, false).is_empty(), "a300 waits for input 0");
        r.caught_up(0);
        // Both live: the newest minus max-delay (290) is the watermark again.
        assert!(drain(&mut r, false).is_empty());
        r.push(1, Some(320), true, "b320");
        assert_eq!(drain(&mut r, false), ["a300"]);
        assert_eq!(r.late, 0, "nothing arrived behind what was released");
    }

    #[test]
    fn input_order_is_kept_and_memory_bounded() {
        let mut r = Reorder::new(2, 1_000, 3);
        for (i, t) in [50, 40, 30].into_iter().enumerate() {
            r.push(0, Some(t), true, ["x", "y", "z"][i]);
        }
        r.push(1, Some(45), true, "w");
        // Over the cap: the smallest head goes first, and one input's order is never changed.
        assert_eq!(drain(&mut r, false), ["w"]);
        assert_eq!(drain(&mut r, true), ["x", "y", "z"]);
        assert_eq!(r.len(), 0);
    }
}
