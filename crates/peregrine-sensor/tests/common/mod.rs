//! A sensor running in a background thread, collecting events for tests.
#![allow(dead_code)]

use peregrine_event::{Event, EventKind};
use peregrine_sensor::{CategoryCounters, Sensor, SensorConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Capture {
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<(peregrine_event::Category, CategoryCounters)>>>,
}

/// Serialises tests that share one process (plain `cargo test` runs them on
/// threads; nextest gives each its own process): a pid scope on the test
/// process would otherwise see the other tests' children.
#[allow(dead_code)]
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn trigger() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pg-trigger"))
}

/// Run a command to completion, asserting success; returns its pid.
pub fn run(cmd: &mut std::process::Command) -> u32 {
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let st = child.wait().expect("wait");
    assert!(st.success(), "{cmd:?} failed: {st}");
    pid
}

impl Capture {
    pub fn start(kinds: &[EventKind]) -> Capture {
        let cfg = SensorConfig {
            kinds: kinds.iter().copied().collect(),
            ..SensorConfig::default()
        };
        Self::with_config(cfg)
    }

    pub fn with_config(cfg: SensorConfig) -> Capture {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (ev2, stop2) = (events.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut sensor = match Sensor::load(&cfg) {
                Ok(s) => {
                    tx.send(Ok(())).unwrap();
                    s
                }
                Err(e) => {
                    tx.send(Err(e.to_string())).unwrap();
                    return Vec::new();
                }
            };
            while !stop2.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                sensor
                    .poll(Duration::from_millis(20), |e| batch.push(e))
                    .expect("poll");
                ev2.lock().unwrap().extend(batch);
            }
            sensor.counters().expect("counters")
        });
        rx.recv().unwrap().expect("sensor loads");
        Capture {
            events,
            stop,
            handle: Some(handle),
        }
    }

    /// Wait until an event matches, or panic with what was seen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| pred(e)) {
                return e.clone();
            }
            if Instant::now() > deadline {
                let n = self.events.lock().unwrap().len();
                panic!("no event matching {what} within 10s ({n} events seen)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn stop(mut self) -> Vec<(peregrine_event::Category, CategoryCounters)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
