//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

pub mod old_schema;

/// A fresh database on the test PostgreSQL server (None when the run opted
/// out with `PEREGRINE_TEST_NO_POSTGRES`).
pub fn pg_fresh() -> Option<String> {
    let Ok(url) = std::env::var("PEREGRINE_TEST_POSTGRES") else {
        if std::env::var("PEREGRINE_TEST_NO_POSTGRES").is_ok() {
            return None;
        }
        panic!("PEREGRINE_TEST_POSTGRES is not set: run the suite with ./scripts/test.sh (it starts PostgreSQL), or set PEREGRINE_TEST_NO_POSTGRES=1 to skip");
    };
    let name = format!(
        "pgtest_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut c =
        postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test PostgreSQL");
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{name}"))
}
