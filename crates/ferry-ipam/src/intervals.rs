//! A set of integers stored as runs, so that a nearly full /64 costs memory
//! per run rather than per address, and "next absent at or after x" is one
//! tree lookup.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive runs of integers, keyed by run start.
#[derive(Debug, Clone, Default)]
pub(crate) struct IntervalSet {
    runs: BTreeMap<u128, u128>,
}

impl IntervalSet {
    /// The run holding `x`, as (start, end).
    fn run_containing(&self, x: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=x)
            .next_back()
            .filter(|(_, &end)| end >= x)
            .map(|(&start, &end)| (start, end))
    }

    /// Whether `x` is in the set.
    pub(crate) fn contains(&self, x: u128) -> bool {
        self.run_containing(x).is_some()
    }

    /// The smallest value in `[from, to]` that is not in the set.
    pub(crate) fn first_absent(&self, from: u128, to: u128) -> Option<u128> {
        if from > to {
            return None;
        }
        // Runs never touch, so the value after a run is always absent.
        let x = match self.run_containing(from) {
            Some((_, end)) => end.checked_add(1)?,
            None => from,
        };
        (x <= to).then_some(x)
    }

    /// Adds `x`; false when it was already there.
    pub(crate) fn insert(&mut self, x: u128) -> bool {
        if self.contains(x) {
            return false;
        }
        let mut start = x;
        let mut end = x;
        // Merge with the run ending just below and the one starting just above.
        if let Some((s, _)) = x
            .checked_sub(1)
            .and_then(|below| self.run_containing(below))
        {
            self.runs.remove(&s);
            start = s;
        }
        if let Some(above) = x.checked_add(1) {
            if let Some(e) = self.runs.remove(&above) {
                end = e;
            }
        }
        self.runs.insert(start, end);
        true
    }

    /// Removes `x`; false when it was not there.
    pub(crate) fn remove(&mut self, x: u128) -> bool {
        let Some((start, end)) = self.run_containing(x) else {
            return false;
        };
        self.runs.remove(&start);
        if start < x {
            self.runs.insert(start, x - 1);
        }
        if x < end {
            self.runs.insert(x + 1, end);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_remove_splits() {
        let mut s = IntervalSet::default();
        assert!(s.insert(5));
        assert!(s.insert(7));
        assert!(!s.insert(7));
        assert_eq!(s.runs.len(), 2);
        assert!(s.insert(6));
        assert_eq!(s.runs.len(), 1);
        assert_eq!(s.first_absent(5, 100), Some(8));
        assert_eq!(s.first_absent(4, 100), Some(4));
        assert_eq!(s.first_absent(5, 7), None);
        assert!(s.remove(6));
        assert!(!s.remove(6));
        assert_eq!(s.runs.len(), 2);
        assert_eq!(s.first_absent(5, 100), Some(6));
        assert!(s.contains(5) && s.contains(7) && !s.contains(6));
    }

    #[test]
    fn edges_of_u128() {
        let mut s = IntervalSet::default();
        assert!(s.insert(u128::MAX));
        assert!(s.insert(0));
        assert_eq!(s.first_absent(u128::MAX, u128::MAX), None);
        assert_eq!(s.first_absent(0, u128::MAX), Some(1));
        assert!(s.remove(u128::MAX));
        assert!(s.remove(0));
        assert!(s.runs.is_empty());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        proptest! {
            #[test]
            fn behaves_like_a_plain_set(ops in prop::collection::vec((any::<bool>(), 0u128..64), 0..200)) {
                let mut s = IntervalSet::default();
                let mut model = BTreeSet::new();
                for (add, x) in ops {
                    if add {
                        prop_assert_eq!(s.insert(x), model.insert(x));
                    } else {
                        prop_assert_eq!(s.remove(x), model.remove(&x));
                    }
                    for from in 0u128..64 {
                        let want = (from..64).find(|v| !model.contains(v));
                        prop_assert_eq!(s.first_absent(from, 63), want);
                    }
                    // Runs stay disjoint and never touch.
                    let runs: Vec<_> = s.runs.iter().map(|(&a, &b)| (a, b)).collect();
                    for w in runs.windows(2) {
                        prop_assert!(w[0].1 + 1 < w[1].0);
                    }
                }
            }
        }
    }
}
