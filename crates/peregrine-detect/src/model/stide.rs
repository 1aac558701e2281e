//! The STIDE-style baseline (Forrest et al. 1996; Warrender et al. 1999):
//! the set of every n-gram seen in normal traces. A call whose n-gram
//! (the call and the n - 1 before it) was never seen costs 1, others 0; the
//! scorer averages costs over a locality frame (the sliding window).
use super::vocab::{pack, MAX_ORDER};
use rustc_hash::FxHashSet;

/// The n-gram set.
#[derive(Debug, Clone, PartialEq)]
pub struct Stide {
    n: usize,
    seen: FxHashSet<u64>,
}

impl Stide {
    /// Collects the `n`-grams of `traces` (`n` in 1..=[`MAX_ORDER`]).
    pub fn fit<'a>(traces: impl IntoIterator<Item = &'a [u16]>, n: usize) -> Self {
        assert!(
            (1..=MAX_ORDER).contains(&n),
            "n-gram length {n} out of range"
        );
        let mut seen = FxHashSet::default();
        for t in traces {
            for w in t.windows(n) {
                seen.insert(pack(w));
            }
        }
        Self { n, seen }
    }

    /// Rebuilds from stored parts (the file format validates them).
    pub fn from_parts(n: usize, seen: FxHashSet<u64>) -> Self {
        Self { n, seen }
    }

    /// The n-gram length.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The stored n-grams.
    pub fn grams(&self) -> &FxHashSet<u64> {
        &self.seen
    }

    /// 1 when `history` (oldest first) + `next` ends in an unseen n-gram,
    /// 0 when it was seen or there is not yet a whole n-gram.
    pub fn cost(&self, history: &[u16], next: u16) -> f64 {
        let need = self.n - 1;
        if history.len() < need {
            return 0.0;
        }
        let mut g = [0u16; MAX_ORDER];
        g[..need].copy_from_slice(&history[history.len() - need..]);
        g[need] = next;
        if self.seen.contains(&pack(&g[..self.n])) {
            0.0
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_ngrams_cost_one() {
        let s = Stide::fit([&[1u16, 2, 3, 4][..]], 3);
        assert_eq!(s.cost(&[1, 2], 3), 0.0);
        assert_eq!(s.cost(&[2, 3], 4), 0.0);
        assert_eq!(s.cost(&[1, 3], 4), 1.0);
        assert_eq!(s.cost(&[2], 9), 0.0, "no whole n-gram yet");
    }
}
