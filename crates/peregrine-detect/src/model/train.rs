//! The one-class training protocol. Only normal training traces are read:
//!
//! 1. the training traces (in file-name order) are split: every 5th one is
//!    held out (166 of ADFA-LD's 833), the rest (667) form the fit split;
//! 2. hyper-parameters: the language model's order is the one of
//!    [`TrainOptions::orders`] with the lowest per-call cross-entropy on the
//!    held-out traces when fitted on the fit split; the discounts come from
//!    count-of-counts; the window length and STIDE's n-gram length are fixed
//!    in advance ([`TrainOptions::default`]), not tuned;
//! 3. the alert threshold is the highest score the live scorer reports at
//!    any call of the held-out traces (from the first full window on) under
//!    the fit-split model;
//! 4. the final model is refitted on all training traces with that order.
use super::kneser::KneserNey;
use super::score::{score_trace, Scorer};
use super::stide::Stide;
use super::trace::Trace;
use super::{Body, Model};
use std::time::Instant;

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STIDE-style n-gram baseline.
    Ngram,
    /// Interpolated Kneser-Ney language model.
    Kn,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ngram" | "stide" => Ok(Self::Ngram),
            "kn" | "kneser-ney" => Ok(Self::Kn),
            _ => Err(format!("unknown model kind {s:?} (ngram or kn)")),
        }
    }
}

/// Training settings (their defaults are the documented protocol).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Model kind.
    pub kind: Kind,
    /// Window length (calls): the scorer reports a score once this many
    /// calls were seen and explains it with the costliest n-grams among the
    /// last this many; 20, the locality frame of Warrender et al. 1999.
    pub window: u32,
    /// Candidate language-model orders, chosen among on held-out normals.
    pub orders: Vec<usize>,
    /// STIDE n-gram length: 6 (Warrender et al. 1999), fixed in advance.
    pub stide_n: usize,
    /// Every `holdout_every`-th training trace is held out.
    pub holdout_every: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            kind: Kind::Kn,
            window: 20,
            orders: (2..=super::vocab::MAX_ORDER).collect(),
            stide_n: 6,
            holdout_every: 5,
        }
    }
}

/// What training chose and why.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// Traces in the fit split / held out / total.
    pub fit: usize,
    /// Held-out traces.
    pub held_out: usize,
    /// (order, held-out cross-entropy in nats per call) per candidate.
    pub order_search: Vec<(usize, f64)>,
    /// Wall time of the whole training, seconds.
    pub seconds: f64,
}

fn split(traces: &[Trace], every: usize) -> (Vec<&[u16]>, Vec<&[u16]>) {
    let every = every.max(2);
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for (i, t) in traces.iter().enumerate() {
        if i % every == every - 1 {
            held.push(t.calls.as_slice());
        } else {
            fit.push(t.calls.as_slice());
        }
    }
    (fit, held)
}

fn cross_entropy(m: &KneserNey, traces: &[&[u16]]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for t in traces {
        for i in 0..t.len() {
            sum += m.nll(&t[..i], t[i]);
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// The highest score the live scorer reports on any of `traces` at any
/// call (from the first full window on): a normal thread's score early in
/// its life, when few calls were averaged, is above its whole-trace score.
fn max_running_score(model: &Model, traces: &[&[u16]]) -> f64 {
    let mut max = 0.0f64;
    for t in traces {
        let mut s = Scorer::new(model);
        for &c in t.iter() {
            if let Some(v) = s.push_score(c) {
                max = max.max(v);
            }
        }
        max = max.max(score_trace(model, t));
    }
    max
}

/// Trains a model on normal `traces` only.
pub fn train(traces: &[Trace], opts: &TrainOptions) -> (Model, TrainReport) {
    let start = Instant::now();
    let (fit, held) = split(traces, opts.holdout_every);
    let all: Vec<&[u16]> = traces.iter().map(|t| t.calls.as_slice()).collect();
    let mut order_search = Vec::new();
    let wrap = |body| Model {
        body,
        window: opts.window,
        threshold: 0.0,
        trained_on: 0,
    };
    let (mut model, split_model) = match opts.kind {
        Kind::Ngram => (
            wrap(Body::Stide(Stide::fit(all.iter().copied(), opts.stide_n))),
            wrap(Body::Stide(Stide::fit(fit.iter().copied(), opts.stide_n))),
        ),
        Kind::Kn => {
            let mut best: Option<(f64, usize, KneserNey)> = None;
            for &order in &opts.orders {
                let m = KneserNey::fit(&fit, order);
                let h = cross_entropy(&m, &held);
                order_search.push((order, h));
                if best.as_ref().is_none_or(|b| h < b.0) {
                    best = Some((h, order, m));
                }
            }
            let (_, order, m) = best.expect("at least one candidate order");
            (
                wrap(Body::KneserNey(KneserNey::fit(&all, order))),
                wrap(Body::KneserNey(m)),
            )
        }
    };
    model.threshold = max_running_score(&split_model, &held);
    model.trained_on = traces.len() as u32;
    let report = TrainReport {
        fit: fit.len(),
        held_out: held.len(),
        order_search,
        seconds: start.elapsed().as_secs_f64(),
    };
    (model, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traces() -> Vec<Trace> {
        (0..10u16)
            .map(|i| Trace {
                name: format!("t{i}"),
                family: None,
                calls: [3u16, 5, 6, 3, 5, 6, 4, i % 3].repeat(8),
            })
            .collect()
    }

    #[test]
    fn order_is_chosen_on_held_out_normals_and_threshold_set() {
        let t = traces();
        let (m, r) = train(&t, &TrainOptions::default());
        assert_eq!((r.fit, r.held_out), (8, 2));
        assert_eq!(r.order_search.len(), 5);
        let best = r
            .order_search
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(m.order(), best.0);
        assert!(m.threshold > 0.0 && m.threshold.is_finite());
        assert_eq!(m.trained_on, 10);
        let opts = TrainOptions {
            kind: Kind::Ngram,
            ..TrainOptions::default()
        };
        let (s, _) = train(&t, &opts);
        assert_eq!((s.kind_name(), s.order()), ("ngram", 6));
    }
}
