//! Evaluation metrics: ROC AUC (Mann-Whitney, ties count one half), a
//! stratified percentile-bootstrap confidence interval for it, and the
//! detection rate at a false-positive budget.
use rand_core::{Rng, SeedableRng};

/// ROC AUC of scores where higher means "positive": the probability that a
/// random positive outscores a random negative, ties counting one half.
/// `None` when either class is empty.
pub fn auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' mid-ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0; // ranks i+1 ..= j
        rank_sum += mid * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Detection rate (true-positive rate) at false-positive rate `fpr`: the
/// threshold is the lowest one that flags (score strictly above it) at most
/// `floor(fpr × negatives)` negatives. Returns (rate, threshold).
pub fn tpr_at_fpr(pos: &[f64], neg: &[f64], fpr: f64) -> (f64, f64) {
    let mut n: Vec<f64> = neg.to_vec();
    n.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpr * n.len() as f64).floor() as usize;
    let threshold = match n.get(allowed) {
        Some(&t) => t,
        None => f64::NEG_INFINITY,
    };
    let hits = pos.iter().filter(|&&s| s > threshold).count();
    let rate = if pos.is_empty() {
        0.0
    } else {
        hits as f64 / pos.len() as f64
    };
    (rate, threshold)
}

/// A 95 % percentile-bootstrap interval of the AUC: `resamples` resamples
/// drawing positives and negatives separately with replacement (class sizes
/// kept), seeded, so the same inputs give the same interval.
pub fn auc_ci(pos: &[f64], neg: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if pos.is_empty() || neg.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut draw = |src: &[f64], dst: &mut Vec<f64>| {
        dst.clear();
        for _ in 0..src.len() {
            dst.push(src[(rng.next_u64() % src.len() as u64) as usize]);
        }
    };
    let (mut p, mut n) = (Vec::new(), Vec::new());
    let mut aucs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draw(pos, &mut p);
        draw(neg, &mut n);
        aucs.extend(auc(&p, &n));
    }
    aucs.sort_by(f64::total_cmp);
    let at = |q: f64| aucs[((q * (aucs.len() - 1) as f64).round() as usize).min(aucs.len() - 1)];
    Some((at(0.025), at(0.975)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_known_cases() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        assert_eq!(auc(&[1.0, 1.0], &[1.0, 1.0, 1.0]), Some(0.5));
        // Pairs: (2>1) (2<3) (4>1) (4>3) → 3 of 4.
        assert_eq!(auc(&[2.0, 4.0], &[1.0, 3.0]), Some(0.75));
        // One tie among four pairs: (2=2) half, (2>1), (5>2), (5>1).
        assert_eq!(auc(&[2.0, 5.0], &[2.0, 1.0]), Some(0.875));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn tpr_at_fpr_uses_the_budget_and_no_more() {
        let neg: Vec<f64> = (0..100).map(f64::from).collect(); // 0..=99
        let pos = [99.5, 98.5, 97.5, 50.0, 10.0];
        // 1 % of 100 = 1 false positive allowed: threshold 98 (only 99 above).
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.01), (0.4, 98.0));
        // 5 %: threshold 94, flags 95..=99 (5 negatives) and 3 positives.
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.05), (0.6, 94.0));
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.0).0, 0.2);
        assert_eq!(tpr_at_fpr(&pos, &neg, 1.0).0, 1.0);
    }

    #[test]
    fn bootstrap_interval_contains_the_estimate_and_is_seeded() {
        let neg: Vec<f64> = (0..200).map(|i| f64::from(i % 37)).collect();
        let pos: Vec<f64> = (0..80).map(|i| f64::from(i % 41) + 8.0).collect();
        let point = auc(&pos, &neg).unwrap();
        let (lo, hi) = auc_ci(&pos, &neg, 500, 7).unwrap();
        assert!(lo < point && point < hi, "{lo} {point} {hi}");
        assert!(hi - lo < 0.2 && lo > 0.5);
        assert_eq!(auc_ci(&pos, &neg, 500, 7), Some((lo, hi)));
        assert_ne!(auc_ci(&pos, &neg, 500, 8), Some((lo, hi)));
    }
}
