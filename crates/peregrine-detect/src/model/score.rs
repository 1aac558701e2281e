//! The per-thread scorer: fed one system call at a time, built for the live
//! path (no allocation per call; an explanation is built only when the score
//! crosses the threshold).
//!
//! Each call gets a cost from the model (see [`Model::cost`]). The score is
//! the mean cost of every call the thread made so far (for a whole trace:
//! its mean negative log-likelihood, the scoring rule of Kim et al. 2016, or
//! STIDE's mismatch rate); it is reported once at least `window` calls were
//! seen. The last `window` calls are kept to explain a score: the costliest
//! n-grams among them.
use super::names::name;
use super::vocab::{pack, unpack, MAX_ORDER};
use super::Model;

/// Fixed-point scale of a cost (exact window sums, no drift).
const SCALE: f64 = (1u32 << 20) as f64;
/// Highest cost kept (nats); a probability below e^-60 is all the same.
const MAX_COST: f64 = 60.0;
/// How many n-grams an explanation names.
const EXPLAIN: usize = 3;

/// One n-gram of an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rare {
    /// The calls, oldest first, by name.
    pub calls: Vec<String>,
    /// Its cost (nats for the language model, 1 for an unseen n-gram).
    pub cost: f64,
}

/// Why a window is anomalous.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The score (mean cost so far).
    pub score: f64,
    /// Mean cost of the last `window` calls.
    pub window: f64,
    /// The model's threshold.
    pub threshold: f64,
    /// The costliest n-grams in the window, costliest first.
    pub rarest: Vec<Rare>,
}

/// What one call did to the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The score, once at least one window of calls was seen.
    pub score: Option<f64>,
    /// Present when this call took the window over the threshold (once per
    /// excursion, not on every call while it stays over).
    pub alert: Option<Explanation>,
}

/// Per-thread scoring state.
#[derive(Debug, Clone)]
pub struct Scorer<'m> {
    model: &'m Model,
    hist: [u16; MAX_ORDER],
    hlen: usize,
    costs: Vec<u32>,
    grams: Vec<(u64, u8)>,
    next: usize,
    filled: usize,
    seen: u64,
    sum: u64,
    total: u128,
    over: bool,
}

impl<'m> Scorer<'m> {
    /// A fresh scorer (a new thread, or a trace's start).
    pub fn new(model: &'m Model) -> Self {
        let w = model.window.max(1) as usize;
        Self {
            model,
            hist: [0; MAX_ORDER],
            hlen: 0,
            costs: vec![0; w],
            grams: vec![(0, 0); w],
            next: 0,
            filled: 0,
            seen: 0,
            sum: 0,
            total: 0,
            over: false,
        }
    }

    /// Feeds token `id` (an x86_64 syscall number, see
    /// [`super::vocab::token`]); returns the score (mean cost so far) once
    /// at least one window of calls was seen.
    pub fn push_score(&mut self, id: u16) -> Option<f64> {
        let need = self.model.order() - 1;
        let h = &self.hist[..self.hlen];
        let cost = self.model.cost(h, id).clamp(0.0, MAX_COST);
        let fixed = (cost * SCALE) as u32;
        let mut g = [0u16; MAX_ORDER];
        g[..h.len()].copy_from_slice(h);
        g[h.len()] = id;
        let glen = h.len() + 1;
        // Slide the window.
        let w = self.costs.len();
        self.sum -= u64::from(self.costs[self.next]);
        self.sum += u64::from(fixed);
        self.costs[self.next] = fixed;
        self.grams[self.next] = (pack(&g[..glen]), glen as u8);
        self.next = (self.next + 1) % w;
        self.filled = (self.filled + 1).min(w);
        self.seen += 1;
        self.total += u128::from(fixed);
        // Keep the last `order - 1` calls as history.
        if need > 0 {
            if self.hlen == need {
                self.hist.copy_within(1..need, 0);
                self.hist[need - 1] = id;
            } else {
                self.hist[self.hlen] = id;
                self.hlen += 1;
            }
        }
        (self.filled == w).then(|| self.mean_so_far())
    }

    /// Feeds one call; over the threshold, explains the window.
    pub fn push(&mut self, id: u16) -> Step {
        let score = self.push_score(id);
        let over = score.is_some_and(|s| s > self.model.threshold);
        let alert = (over && !self.over).then(|| self.explain());
        self.over = over;
        Step { score, alert }
    }

    /// Mean cost of everything fed so far.
    pub fn mean_so_far(&self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            self.total as f64 / SCALE / self.seen as f64
        }
    }

    /// Mean cost of the last `window` calls (or of all, when fewer).
    pub fn window_mean(&self) -> f64 {
        self.sum as f64 / SCALE / self.filled.max(1) as f64
    }

    /// The score and the current window's costliest n-grams.
    pub fn explain(&self) -> Explanation {
        let mut idx: Vec<usize> = (0..self.filled).collect();
        idx.sort_by(|&a, &b| self.costs[b].cmp(&self.costs[a]));
        let mut rarest: Vec<Rare> = Vec::new();
        let mut keys = Vec::new();
        for i in idx {
            let (key, len) = self.grams[i];
            if keys.contains(&(key, len)) {
                continue;
            }
            keys.push((key, len));
            rarest.push(Rare {
                calls: unpack(key, usize::from(len))
                    .into_iter()
                    .map(name)
                    .collect(),
                cost: f64::from(self.costs[i]) / SCALE,
            });
            if rarest.len() == EXPLAIN {
                break;
            }
        }
        Explanation {
            score: self.mean_so_far(),
            window: self.window_mean(),
            threshold: self.model.threshold,
            rarest,
        }
    }
}

/// A trace's score: the mean cost of its calls (what the scorer reports at
/// the trace's end). Higher is more anomalous.
pub fn score_trace(model: &Model, calls: &[u16]) -> f64 {
    let mut s = Scorer::new(model);
    for &c in calls {
        s.push_score(c);
    }
    s.mean_so_far()
}

#[cfg(test)]
mod tests {
    use super::super::{kneser::KneserNey, stide::Stide, Body};
    use super::*;

    fn stide_model() -> Model {
        let normal: Vec<u16> = [0u16, 1, 2, 3].repeat(10);
        Model {
            body: Body::Stide(Stide::fit([&normal[..]], 3)),
            window: 4,
            threshold: 0.3,
            trained_on: 1,
        }
    }

    #[test]
    fn scores_accumulate_and_alert_once_per_excursion() {
        let m = stide_model();
        let mut s = Scorer::new(&m);
        let mut steps = Vec::new();
        for c in [0u16, 1, 2, 3, 0, 1, 59, 59, 59, 0, 1, 2, 3, 0, 1, 2] {
            steps.push(s.push(c));
        }
        assert_eq!(steps[2].score, None);
        assert_eq!(steps[3].score, Some(0.0));
        // Unseen 3-grams at calls 6..=10: (0,1,59) (1,59,59) (59,59,59)
        // (59,59,0) (59,0,1); the mean passes 0.3 at call 8 (3 of 9).
        let alerts: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].alert.is_some())
            .collect();
        assert_eq!(alerts, vec![8], "{steps:?}");
        let ex = steps[8].alert.as_ref().unwrap();
        assert_eq!((ex.score, ex.window), (3.0 / 9.0, 0.75));
        assert_eq!(ex.rarest.len(), 3);
        assert!(
            ex.rarest
                .iter()
                .all(|r| r.cost == 1.0 && r.calls.contains(&"execve".to_string())),
            "{ex:?}"
        );
        // Still over (5 of 16) but no second alert for the same excursion.
        assert_eq!(
            *steps.last().unwrap(),
            Step {
                score: Some(5.0 / 16.0),
                alert: None
            }
        );
    }

    #[test]
    fn trace_scores_rank_the_odd_trace_higher() {
        let normal: Vec<u16> = [0u16, 1, 2, 3, 1, 2].repeat(20);
        let m = Model {
            body: Body::KneserNey(KneserNey::fit(&[&normal], 4)),
            window: 5,
            threshold: 1.0,
            trained_on: 1,
        };
        let odd: Vec<u16> = [0u16, 1, 2, 3, 59, 60, 61, 1, 2].repeat(3);
        assert!(score_trace(&m, &odd) > score_trace(&m, &normal[..40]) + 1.0);
        let short = score_trace(&m, &[0, 1]);
        assert!(short > 0.0 && short.is_finite());
        assert_eq!(score_trace(&m, &[]), 0.0);
    }
}
