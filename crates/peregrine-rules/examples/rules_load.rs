//! Time loading generated rules files of growing size and print how the
//! time grows (linear loading: about 2x per doubling). Run by
//! bench/rules_load.sh; sizes in MB as arguments (default 1 2 4 8).

#[path = "../tests/common/generate.rs"]
mod generate;

use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a size in MB"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1, 2, 4, 8]
    } else {
        sizes
    };
    let mut last: Option<(usize, f64)> = None;
    for mb in sizes {
        let text = generate::rules_file(mb << 20);
        let t = Instant::now();
        let mut loader = peregrine_rules::loader::Loader::new();
        loader.load_str("gen.yaml", &text);
        let loaded = t.elapsed().as_secs_f64();
        let engine = match peregrine_rules::Engine::from_loader(loader) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        let secs = t.elapsed().as_secs_f64();
        let per_mb = secs / mb as f64;
        print!(
            "{mb:>4} MB  {} rules  {secs:>8.3} s (read {loaded:.3} s)  {:>7.1} ms/MB",
            engine.stats().rules,
            per_mb * 1e3
        );
        if let Some((lmb, lsecs)) = last {
            print!(
                "  x{:.2} time for x{:.2} size",
                secs / lsecs,
                mb as f64 / lmb as f64
            );
        }
        println!();
        last = Some((mb, secs));
    }
}
