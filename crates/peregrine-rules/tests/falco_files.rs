//! Falco's three upstream rule files load unmodified.
use peregrine_rules::Engine;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/falco-upstream")
}

#[test]
fn the_three_falco_files_load_with_zero_errors() {
    let files = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ];
    let paths: Vec<_> = files.iter().map(|f| dir().join(f)).collect();
    let engine = match Engine::from_files(&paths) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let counts = engine.file_counts();
    assert_eq!(
        counts[0].1..=counts[0].3,
        25..=49,
        "stable: {:?}",
        counts[0]
    );
    assert_eq!((counts[0].1, counts[0].2, counts[0].3), (25, 87, 49));
    assert_eq!((counts[1].1, counts[1].2, counts[1].3), (31, 82, 54));
    assert_eq!((counts[2].1, counts[2].2, counts[2].3), (37, 183, 60));
    assert!(engine.stats().enabled > 0);
}
