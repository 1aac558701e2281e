//! Scoring a data set and summarising it: overall and per attack family.
use super::metrics::{auc, auc_ci, tpr_at_fpr};
use super::score::score_trace;
use super::trace::Trace;
use super::Model;
use std::io::Write;

/// One scored trace.
#[derive(Debug, Clone)]
pub struct Row {
    /// Trace file, relative to the data set.
    pub trace: String,
    /// Attack family, `None` for a normal trace.
    pub family: Option<String>,
    /// Score: higher is more anomalous.
    pub score: f64,
}

/// Metrics of one set of positives against all negatives.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Positives (attack traces).
    pub positives: usize,
    /// Negatives (normal traces).
    pub negatives: usize,
    /// ROC AUC.
    pub auc: f64,
    /// 95 % bootstrap interval of the AUC.
    pub ci: (f64, f64),
    /// Detection rate at 1 % false positives.
    pub dr_1: f64,
    /// Detection rate at 5 % false positives.
    pub dr_5: f64,
}

/// The evaluation of one model.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Every scored trace: negatives first, then positives.
    pub rows: Vec<Row>,
    /// All attacks against all normals.
    pub overall: Summary,
    /// Per family (name order), against all normals.
    pub families: Vec<(String, Summary)>,
    /// Bootstrap resamples and seed used.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
}

fn summarise(pos: &[f64], neg: &[f64], resamples: usize, seed: u64) -> Summary {
    Summary {
        positives: pos.len(),
        negatives: neg.len(),
        auc: auc(pos, neg).unwrap_or(f64::NAN),
        ci: auc_ci(pos, neg, resamples, seed).unwrap_or((f64::NAN, f64::NAN)),
        dr_1: tpr_at_fpr(pos, neg, 0.01).0,
        dr_5: tpr_at_fpr(pos, neg, 0.05).0,
    }
}

/// Scores `normal` (negatives) and `attack` (positives) traces.
pub fn evaluate(
    model: &Model,
    normal: &[Trace],
    attack: &[Trace],
    resamples: usize,
    seed: u64,
) -> Evaluation {
    let rows: Vec<Row> = normal
        .iter()
        .chain(attack)
        .map(|t| Row {
            trace: t.name.clone(),
            family: t.family.clone(),
            score: score_trace(model, &t.calls),
        })
        .collect();
    let neg: Vec<f64> = rows
        .iter()
        .filter(|r| r.family.is_none())
        .map(|r| r.score)
        .collect();
    let pos: Vec<f64> = rows
        .iter()
        .filter(|r| r.family.is_some())
        .map(|r| r.score)
        .collect();
    let mut names: Vec<String> = rows.iter().filter_map(|r| r.family.clone()).collect();
    names.sort();
    names.dedup();
    let families = names
        .into_iter()
        .map(|f| {
            let p: Vec<f64> = rows
                .iter()
                .filter(|r| r.family.as_deref() == Some(f.as_str()))
                .map(|r| r.score)
                .collect();
            let s = summarise(&p, &neg, resamples, seed);
            (f, s)
        })
        .collect();
    Evaluation {
        overall: summarise(&pos, &neg, resamples, seed),
        rows,
        families,
        resamples,
        seed,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Evaluation {
    /// Writes `trace,label,score` (label `attack` or `normal`).
    pub fn write_csv(&self, mut out: impl Write) -> std::io::Result<()> {
        writeln!(out, "trace,label,score")?;
        for r in &self.rows {
            let label = if r.family.is_some() {
                "attack"
            } else {
                "normal"
            };
            writeln!(out, "{},{label},{}", csv_field(&r.trace), r.score)?;
        }
        out.flush()
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let o = &self.overall;
        let mut s = format!(
            "scored: {} normal, {} attack traces\n\
             ROC AUC: {:.4} (95% CI {:.4}-{:.4}, {} stratified bootstrap resamples, seed {})\n\
             DR@1%FP: {:.4}\nDR@5%FP: {:.4}\n\
             {:<18} {:>5} {:>7} {:>15} {:>8} {:>8}\n",
            o.negatives,
            o.positives,
            o.auc,
            o.ci.0,
            o.ci.1,
            self.resamples,
            self.seed,
            o.dr_1,
            o.dr_5,
            "family",
            "n",
            "AUC",
            "95% CI",
            "DR@1%FP",
            "DR@5%FP"
        );
        for (f, x) in &self.families {
            s += &format!(
                "{:<18} {:>5} {:>7.4} {:>7.4}-{:<7.4} {:>8.4} {:>8.4}\n",
                f, x.positives, x.auc, x.ci.0, x.ci.1, x.dr_1, x.dr_5
            );
        }
        s
    }
}
