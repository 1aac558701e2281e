//! `quarantine`: move the event's file (the written file, or the executable
//! of an exec) into the 0700 quarantine directory with its hash and
//! metadata (`peregrine_respond::quarantine`). The directory is opened on
//! first use, so an agent that never quarantines never creates it.

use super::{Action, Outcome, Target};
use crate::alert::Alert;
use peregrine_respond::quarantine::{Quarantine as Store, QuarantineConfig};
use peregrine_rules::actions::ActionKind;
use std::path::{Path, PathBuf};

/// Moves files into the quarantine directory.
pub struct Quarantine {
    dir: PathBuf,
    store: Option<Store>,
}

impl Quarantine {
    /// Quarantine into `dir`.
    pub fn new(dir: PathBuf) -> Quarantine {
        Quarantine { dir, store: None }
    }

    fn store(&mut self) -> Result<&Store, String> {
        if self.store.is_none() {
            let config = QuarantineConfig {
                dir: self.dir.clone(),
                ..QuarantineConfig::default()
            };
            self.store = Some(Store::open(config).map_err(|e| e.to_string())?);
        }
        Ok(self.store.as_ref().expect("just opened"))
    }
}

impl Action for Quarantine {
    fn kind(&self) -> ActionKind {
        ActionKind::Quarantine
    }

    fn plan(&self, target: &Target) -> Result<String, String> {
        match &target.file {
            Some(f) => Ok(format!("quarantine {f} into {}", self.dir.display())),
            None => Err("the event has no file".into()),
        }
    }

    fn act(&mut self, alert: &Alert, target: &Target) -> Outcome {
        let Some(file) = &target.file else {
            return Outcome::Skipped("the event has no file".into());
        };
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("quarantine directory: {e}")),
        };
        match store.quarantine(Path::new(file), Some(&alert.id)) {
            Ok(rec) => Outcome::Done(format!(
                "moved {file} to {}/{}.bin (sha256 {})",
                store.dir().display(),
                rec.id,
                rec.sha256
            )),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
