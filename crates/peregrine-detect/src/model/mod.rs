//! The syscall-sequence anomaly model: one job per file.
//!
//! * [`vocab`]: token numbering (x86_64 syscall numbers) and n-gram packing;
//! * [`names`]: syscall names for explanations;
//! * [`trace`]: reading ADFA-LD (layout, i386 → x86_64 mapping);
//! * [`stide`]: the STIDE-style n-gram baseline;
//! * [`kneser`]: the interpolated Kneser-Ney variable-order language model;
//! * [`train`]: the one-class training protocol (hyper-parameters from
//!   normal traces only);
//! * [`score`]: the per-thread sliding-window scorer (live path and offline);
//! * [`metrics`]: ROC AUC, bootstrap confidence interval, detection rate at a
//!   false-positive rate;
//! * [`eval`]: scoring a data set and summarising it per attack family;
//! * [`format`]: the versioned, checksummed model file.
pub mod eval;
pub mod format;
pub mod kneser;
pub mod metrics;
pub mod names;
pub mod score;
pub mod stide;
pub mod trace;
pub mod train;
pub mod vocab;

pub use format::{load, save, ModelFileError};
pub use score::{Explanation, Scorer, Step};
pub use train::{train, Kind, TrainOptions, TrainReport};

/// A trained model: what the scorer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The sequence model.
    pub body: Body,
    /// Window length in system calls (see [`score`]).
    pub window: u32,
    /// Window score above which the live path raises an alert (the highest
    /// trace score seen on the held-out normal training traces).
    pub threshold: f64,
    /// How many normal traces the final model was fitted on.
    pub trained_on: u32,
}

/// The two model kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// STIDE-style baseline: the set of n-grams seen in training.
    Stide(stide::Stide),
    /// Interpolated Kneser-Ney n-gram language model.
    KneserNey(kneser::KneserNey),
}

impl Model {
    /// Longest context the model reads, plus the predicted call.
    pub fn order(&self) -> usize {
        match &self.body {
            Body::Stide(s) => s.n(),
            Body::KneserNey(k) => k.order(),
        }
    }

    /// The kind's short name (`ngram` or `kn`).
    pub fn kind_name(&self) -> &'static str {
        match &self.body {
            Body::Stide(_) => "ngram",
            Body::KneserNey(_) => "kn",
        }
    }

    /// Cost of `next` after `history` (oldest first, at most `order() - 1`
    /// calls): 1 or 0 for STIDE (unseen n-gram or not), the negative log
    /// probability in nats for the language model.
    pub fn cost(&self, history: &[u16], next: u16) -> f64 {
        match &self.body {
            Body::Stide(s) => s.cost(history, next),
            Body::KneserNey(k) => k.nll(history, next),
        }
    }
}
