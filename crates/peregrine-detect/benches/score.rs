//! Scoring throughput of the live-path scorer, in system calls per second
//! on one core. Trains both kinds on ADFA-LD's training traces (found at
//! `$PEREGRINE_ADFA_LD`, else `shared/data/adfa-ld` in an ancestor
//! directory), then feeds every training and validation call, one at a
//! time, through one `Scorer` (`push`, explanations included).
//!
//! `cargo bench -p peregrine-detect`
use peregrine_detect::model::trace::Adfa;
use peregrine_detect::model::{train, Kind, Scorer, TrainOptions};
use std::path::PathBuf;
use std::time::Instant;

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PEREGRINE_ADFA_LD") {
        return d.into();
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/data/adfa-ld"))
        .find(|p| p.is_dir())
        .expect("ADFA-LD not found: set PEREGRINE_ADFA_LD")
}

fn main() {
    let adfa = Adfa::load(&data_dir()).expect("ADFA-LD loads");
    let stream: Vec<u16> = adfa
        .training
        .iter()
        .chain(&adfa.validation)
        .flat_map(|t| t.calls.iter().copied())
        .collect();
    for kind in [Kind::Ngram, Kind::Kn] {
        let opts = TrainOptions {
            kind,
            ..TrainOptions::default()
        };
        let (model, report) = train(&adfa.training, &opts);
        let mut best = f64::MAX;
        let mut alerts = 0usize;
        for _ in 0..3 {
            let mut s = Scorer::new(&model);
            let t = Instant::now();
            for &c in &stream {
                alerts += usize::from(s.push(c).alert.is_some());
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{:<5} order {} trained in {:.1} s; scored {} syscalls: {:.2} M syscalls/s/core ({} alerts over 3 runs)",
            model.kind_name(),
            model.order(),
            report.seconds,
            stream.len(),
            stream.len() as f64 / best / 1e6,
            alerts
        );
    }
}
