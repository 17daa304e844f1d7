//! The event-time reorder buffer for `--follow` over several inputs (`--max-delay`, default
//! 2s): live inputs deliver lines as they arrive, so events of different inputs reach the
//! merger out of event-time order. [`Reorder`] keeps one FIFO queue per input (the files of a
//! rotated set, one timeline read in order, share one: the merger's choice) and releases the
//! queue head with the smallest event time once it is older than the newest event time seen
//! minus `max_delay` (a k-way merge with a watermark).
//!
//! # Invariants
//! * Items of one input are released in the order they arrived (continuation lines stay behind
//!   their event; an item without a time takes the time of the item before it).
//! * An event older than the newest seen minus `max_delay` when it arrives is *late*: it is
//!   still released (at once if its queue is empty) and counted in [`Reorder::late`]
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
    held: usize,
    /// Events that arrived more than `max_delay` behind the newest event seen.
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
            held: 0,
            late: 0,
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
        if source >= self.queues.len() {
            self.queues.resize_with(source + 1, VecDeque::new);
            self.last_ts.resize(source + 1, Nanos::MIN);
        }
        let ts = match ts {
            Some(t) => {
                if event
                    && self
                        .newest
                        .is_some_and(|n| t < n.saturating_sub(self.max_delay))
                {
                    self.late += 1;
                }
                self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
                self.last_ts[source] = t;
                t
            }
            None => self.last_ts[source],
        };
        self.queues[source].push_back((ts, item));
        self.held += 1;
    }

    /// Move the items that are due into `out`, in release order: everything when `all`,
    /// else heads older than the newest time minus `max_delay`, and the oldest beyond `cap`.
    pub fn release(&mut self, all: bool, out: &mut Vec<T>) {
        let watermark = self
            .newest
            .map_or(Nanos::MIN, |n| n.saturating_sub(self.max_delay));
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
        r.push(1, Some(105), true, "b105-late"); // 105 < 120-10: late, but still delivered
        assert_eq!(r.late, 1);
        assert!(
            drain(&mut r, false).is_empty(),
            "b105 stays behind b115 of its input"
        );
        assert_eq!(drain(&mut r, true), ["b115", "b105-late", "a120"]);
        assert!(r.is_empty());
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
