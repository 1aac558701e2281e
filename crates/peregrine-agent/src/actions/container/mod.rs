//! `pause_container` and `stop_container`: freeze or stop the container of
//! the matching process through the Docker Engine API (the shared client of
//! `peregrine-state`). A process on the host, or in a container Docker does
//! not know (containerd/CRI without Docker), is reported, not acted on.

use super::{Action, Outcome, Target};
use crate::alert::Alert;
use peregrine_rules::actions::ActionKind;
use peregrine_state::docker::DockerClient;
use peregrine_state::RuntimeError;
use std::path::PathBuf;
use std::time::Duration;

/// Pauses or stops containers.
pub struct Container {
    stop_grace_s: Option<u32>,
    socket: PathBuf,
    client: Option<DockerClient>,
}

impl Container {
    /// `pause_container`.
    pub fn pause(socket: PathBuf) -> Container {
        Container {
            stop_grace_s: None,
            socket,
            client: None,
        }
    }

    /// `stop_container`, SIGKILL after `grace_s` seconds.
    pub fn stop(socket: PathBuf, grace_s: u32) -> Container {
        Container {
            stop_grace_s: Some(grace_s),
            socket,
            client: None,
        }
    }

    fn verb(&self) -> &'static str {
        match self.stop_grace_s {
            Some(_) => "stop",
            None => "pause",
        }
    }

    fn client(&mut self) -> Result<&mut DockerClient, RuntimeError> {
        if self.client.is_none() {
            self.client = Some(DockerClient::new(&self.socket, Duration::from_secs(5))?);
        }
        Ok(self.client.as_mut().expect("just made"))
    }
}

impl Action for Container {
    fn kind(&self) -> ActionKind {
        match self.stop_grace_s {
            Some(_) => ActionKind::StopContainer,
            None => ActionKind::PauseContainer,
        }
    }

    fn plan(&self, target: &Target) -> Result<String, String> {
        match &target.container {
            Some(id) => Ok(format!("{} container {id}", self.verb())),
            None => Err("the process is not in a container".into()),
        }
    }

    fn act(&mut self, _alert: &Alert, target: &Target) -> Outcome {
        let Some(id) = target.container.clone() else {
            return Outcome::Skipped("the process is not in a container".into());
        };
        let grace = self.stop_grace_s;
        let verb = self.verb();
        let result = self.client().and_then(|c| match grace {
            Some(g) => c.stop(&id, g),
            None => c.pause(&id),
        });
        match result {
            Ok(()) if grace.is_some() => Outcome::Done(format!("stopped container {id}")),
            Ok(()) => Outcome::Done(format!("paused container {id}")),
            Err(RuntimeError::NotFound) => Outcome::Failed(format!(
                "Docker does not know container {id} (containerd/CRI containers are not paused or stopped yet)"
            )),
            Err(e) => {
                self.client = None;
                Outcome::Failed(format!("{verb} container {id}: {e}"))
            }
        }
    }
}
