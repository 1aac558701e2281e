//! `block`: deny an exec or open before it runs. Under `--enforce`, when a
//! loaded rule has `actions: [block]` (and is not `action_mode: monitor`),
//! the agent starts a fanotify blocker (`peregrine_respond::block`) whose
//! decider evaluates the *same compiled rules* as detection (the live rule
//! set, so reloads apply at once) on the operation about to happen:
//!
//! - exec: an `execve` event whose process already has the new image
//!   (`proc.exepath`/`proc.name` are the file being executed, `proc.pname`
//!   and the ancestry are the caller's parent chain from `/proc`); the
//!   arguments are not known before the exec, so `proc.args`/`proc.cmdline`
//!   hold only the path;
//! - open: an `openat` event on the file (`fd.name`); the open flags are not
//!   known to fanotify, so the event reads as a read-only open.
//!
//! A rule that reads what is not known yet does not match here, and the
//! operation is allowed: detection still sees it afterwards and its alert
//! says `response.block: not blocked …`. Each denial raises the rule's
//! alert (with `response.block: denied …`) through routing and sinks.
//! Decisions time out per `response.block_timeout_ms` (fail-open by
//! default); see docs/RESPONSE.md for what never hangs the host.

mod snapshot;

use crate::context::{AgentContext, HostInfo};
use crate::evaluate::Raised;
use crate::workers::RuleSet;
use peregrine_respond::block::{
    AccessKind, AccessRequest, BlockMetrics, Blocker, BlockerConfig, Decider, Verdict,
};
use peregrine_rules::actions::{ActionMode, BlockTarget};
use peregrine_rules::Engine;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// What the loaded rules want blocked under enforcement.
pub fn wanted(engine: &Engine) -> (bool, bool) {
    let enforced = engine
        .rules()
        .iter()
        .filter(|r| r.actions.effective_mode(ActionMode::Enforce) == ActionMode::Enforce);
    let mut exec = false;
    let mut open = false;
    for r in enforced {
        match r.block {
            Some(BlockTarget::Exec) => exec = true,
            Some(BlockTarget::Open) => open = true,
            None => {}
        }
    }
    (exec, open)
}

/// Decides permission requests with the rules in force.
struct RulesDecider {
    rules: Arc<RuleSet>,
    host: Arc<HostInfo>,
    alerts: SyncSender<Raised>,
}

impl Decider for RulesDecider {
    fn decide(&self, req: &AccessRequest) -> Verdict {
        let (_, engine) = self.rules.current();
        let want = match req.kind {
            AccessKind::Exec => BlockTarget::Exec,
            AccessKind::Open => BlockTarget::Open,
        };
        let snap = snapshot::of_request(req);
        let ctx = AgentContext {
            snap: &snap,
            host: &self.host,
        };
        let mut memo = engine.memo();
        let mut denied = None;
        engine.for_each_match_memo(&ctx, &mut memo, |r| {
            if denied.is_none()
                && r.block == Some(want)
                && r.actions.effective_mode(ActionMode::Enforce) == ActionMode::Enforce
            {
                denied = Some(r);
            }
        });
        let Some(rule) = denied else {
            // Rules may read the process (its parent, user, container), so a
            // decision is about this request only: never cached.
            return Verdict {
                allow: true,
                cacheable: false,
            };
        };
        let (output, output_fields) = rule.output.render(&ctx);
        let m = peregrine_rules::Match {
            rule: rule.name.clone(),
            priority: rule.priority,
            output,
            output_fields,
            tags: rule.tags.clone(),
        };
        let mut alert = crate::alert::build(m, &snap, &self.host);
        let what = match req.kind {
            AccessKind::Exec => "exec",
            AccessKind::Open => "open",
        };
        alert.output_fields.insert(
            "response.block".into(),
            format!(
                "denied {what} of {} by pid {} (fanotify)",
                req.path.display(),
                req.pid
            ),
        );
        // Never wait on a full alert queue here: the operation is waiting.
        if self
            .alerts
            .try_send(Raised {
                alert,
                threshold: None,
                response: None,
            })
            .is_err()
        {
            tracing::warn!(
                rule = rule.name,
                "alert queue full: a denial was not reported"
            );
        }
        Verdict {
            allow: false,
            cacheable: false,
        }
    }
}

/// The running blocker (released when dropped: pending requests allowed,
/// the fanotify group closed).
pub struct BlockStage {
    blocker: Blocker,
}

impl BlockStage {
    /// Start blocking what the rules in `rules` want blocked; `None` when no
    /// rule blocks. An error when the kernel refuses fanotify.
    pub fn start(
        settings: &super::ResponseSettings,
        rules: Arc<RuleSet>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
    ) -> Result<Option<BlockStage>, String> {
        let (exec, open) = wanted(&rules.current().1);
        if !exec && !open {
            return Ok(None);
        }
        let mut config = BlockerConfig {
            exec,
            open,
            timeout_ms: settings.block_timeout_ms,
            fail_mode: settings.fail_mode,
            ..BlockerConfig::default()
        };
        config
            .exempt_paths
            .extend(settings.exempt_paths.iter().cloned());
        let decider = Arc::new(RulesDecider {
            rules,
            host,
            alerts,
        });
        let blocker = Blocker::start(config, decider).map_err(|e| e.to_string())?;
        tracing::info!(exec, open, "blocking with fanotify (enforce mode)");
        Ok(Some(BlockStage { blocker }))
    }

    /// The blocker's counters.
    pub fn metrics(&self) -> Arc<BlockMetrics> {
        self.blocker.metrics()
    }
}
