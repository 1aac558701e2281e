//! Interpolated Kneser-Ney n-gram language model (Kneser & Ney 1995, in the
//! interpolated form of Chen & Goodman 1999) over system-call tokens.
//!
//! The highest order uses raw counts; each lower order uses continuation
//! counts (how many distinct calls precede the n-gram), and the unigram
//! level interpolates with the uniform distribution over all [`VOCAB`]
//! tokens, so a call never seen in training gets a small, finite
//! probability. One absolute discount per order, estimated from the
//! count-of-counts (`D = n1 / (n1 + 2 n2)`), so nothing here is tuned.
use super::vocab::{drop_oldest, pack, MAX_ORDER, VOCAB};
use rustc_hash::FxHashMap;

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct KneserNey {
    order: usize,
    discounts: Vec<f64>,
    /// `grams[k - 1]`: k-gram → count used at order k.
    grams: Vec<FxHashMap<u64, u32>>,
    /// `ctx[k - 1]` for k ≥ 2: context (k - 1 tokens) → (sum of counts,
    /// distinct continuations). `ctx[0]` holds the unigram totals at key 0.
    ctx: Vec<FxHashMap<u64, (u32, u32)>>,
}

fn count_grams(traces: &[&[u16]], k: usize) -> FxHashMap<u64, u32> {
    let mut m = FxHashMap::default();
    for t in traces {
        for w in t.windows(k) {
            *m.entry(pack(w)).or_insert(0u32) += 1;
        }
    }
    m
}

fn discount(counts: &FxHashMap<u64, u32>) -> f64 {
    let n1 = counts.values().filter(|&&c| c == 1).count() as f64;
    let n2 = counts.values().filter(|&&c| c == 2).count() as f64;
    if n1 + n2 == 0.0 {
        0.5
    } else {
        (n1 / (n1 + 2.0 * n2)).clamp(0.05, 0.95)
    }
}

impl KneserNey {
    /// Fits an `order`-gram model (1..=[`MAX_ORDER`]) on `traces`.
    pub fn fit(traces: &[&[u16]], order: usize) -> Self {
        assert!(
            (1..=MAX_ORDER).contains(&order),
            "order {order} out of range"
        );
        let mut grams = vec![FxHashMap::default(); order];
        grams[order - 1] = count_grams(traces, order);
        for k in (1..order).rev() {
            // Continuation counts from the raw (k+1)-gram types.
            let mut cont = FxHashMap::default();
            for key in count_grams(traces, k + 1).keys() {
                *cont.entry(drop_oldest(*key, k + 1)).or_insert(0u32) += 1;
            }
            grams[k - 1] = cont;
        }
        let discounts = grams.iter().map(discount).collect();
        Self::from_parts(order, discounts, grams)
    }

    /// Rebuilds from stored parts (the file format validates them): the
    /// context totals are derived, not stored.
    pub fn from_parts(order: usize, discounts: Vec<f64>, grams: Vec<FxHashMap<u64, u32>>) -> Self {
        let mut ctx = vec![FxHashMap::default(); order];
        for (i, table) in grams.iter().enumerate() {
            let k = i + 1;
            for (&key, &c) in table {
                let h = if k == 1 { 0 } else { key >> super::vocab::BITS };
                let e = ctx[i].entry(h).or_insert((0u32, 0u32));
                e.0 = e.0.saturating_add(c);
                e.1 += 1;
            }
        }
        Self {
            order,
            discounts,
            grams,
            ctx,
        }
    }

    /// The model order (longest n-gram).
    pub fn order(&self) -> usize {
        self.order
    }

    /// The per-order discounts.
    pub fn discounts(&self) -> &[f64] {
        &self.discounts
    }

    /// The per-order count tables.
    pub fn grams(&self) -> &[FxHashMap<u64, u32>] {
        &self.grams
    }

    /// Probability of `next` after `history` (oldest first; only the last
    /// `order - 1` calls are read).
    pub fn prob(&self, history: &[u16], next: u16) -> f64 {
        let h = &history[history.len().saturating_sub(self.order - 1)..];
        let uniform = 1.0 / f64::from(VOCAB);
        let mut p = uniform;
        let mut gram = [0u16; MAX_ORDER];
        for k in 1..=h.len() + 1 {
            let ctx_tokens = &h[h.len() + 1 - k..];
            gram[..k - 1].copy_from_slice(ctx_tokens);
            gram[k - 1] = next;
            let ctx_key = if k == 1 { 0 } else { pack(ctx_tokens) };
            let Some(&(sum, types)) = self.ctx[k - 1].get(&ctx_key) else {
                break; // a longer context is unseen as well
            };
            let c = self.grams[k - 1]
                .get(&pack(&gram[..k]))
                .copied()
                .unwrap_or(0);
            let d = self.discounts[k - 1];
            let (sum, types) = (f64::from(sum), f64::from(types));
            p = ((f64::from(c) - d).max(0.0) + d * types * p) / sum;
        }
        p
    }

    /// Negative log-probability of `next` after `history`, in nats.
    pub fn nll(&self, history: &[u16], next: u16) -> f64 {
        -self.prob(history, next).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_prefer_what_was_seen() {
        let a: Vec<u16> = [1, 2, 3, 1, 2, 3, 1, 2, 4, 5].repeat(3);
        let b: Vec<u16> = vec![2, 3, 1, 5, 5, 2];
        let m = KneserNey::fit(&[&a, &b], 3);
        for h in [&[][..], &[1][..], &[1, 2][..], &[9, 9][..], &[5, 2][..]] {
            let total: f64 = (0..VOCAB).map(|w| m.prob(h, w)).sum();
            assert!((total - 1.0).abs() < 1e-9, "context {h:?}: {total}");
        }
        assert!(m.prob(&[1, 2], 3) > m.prob(&[1, 2], 5));
        assert!(m.prob(&[1, 2], 5) > m.prob(&[1, 2], 700));
        assert!(m.nll(&[1, 2], 700).is_finite());
    }
}
