//! Dashboard sign-in and the lifetime of authenticated things.
//!
//! * One-time sign-in codes: single use, valid for minutes, exchanged
//!   (`POST /api/v1/session`) for a session cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Secure` over HTTPS), so neither the token nor a
//!   reusable secret lands in a URL, a log or browser storage.
//! * Sessions: in memory, tied to the token they were opened with; every
//!   request re-checks that token in the store.
//! * Live watch: every open stream registers its token; a watcher re-reads
//!   those tokens four times a second and ends the streams of any token
//!   revoked or given another role (also by another process, such as
//!   `peregrine server token revoke`), and of ended sessions.

use peregrine_store::{Role, Store};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "pg_session";
/// How often open streams' tokens are re-checked.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

fn random_hex(prefix: &str) -> std::io::Result<String> {
    let mut b = [0u8; 24];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(format!(
        "{prefix}{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

fn key(secret: &str) -> String {
    crate::auth::digest(secret)
}

struct Code {
    token_digest: String,
    expires: Instant,
}

/// An open dashboard session.
#[derive(Clone)]
pub struct Session {
    /// SHA-256 of the token it was opened with.
    pub token_digest: String,
    /// The token's role then (a role change ends the session).
    pub role: Role,
    expires: Instant,
}

struct Watched {
    token_digest: String,
    role: Role,
    session: Option<String>,
    end: Arc<tokio::sync::Notify>,
    ended: Arc<AtomicBool>,
}

impl Watched {
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.end.notify_one();
    }
}

/// Codes, sessions and watched streams.
pub struct Sessions {
    codes: Mutex<HashMap<String, Code>>,
    sessions: Mutex<HashMap<String, Session>>,
    watched: Mutex<HashMap<u64, Watched>>,
    next: AtomicU64,
    code_ttl: Duration,
    session_ttl: Duration,
    /// Sweeps started, and the last one finished (see [`Sessions::fresh`]).
    sweeps_started: AtomicU64,
    sweeps_done: tokio::sync::watch::Sender<u64>,
    wake: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes a stream from the watch when dropped.
pub struct WatchGuard {
    sessions: Arc<Sessions>,
    id: u64,
    /// Fired when the stream must end.
    pub end: Arc<tokio::sync::Notify>,
    ended: Arc<AtomicBool>,
}

impl WatchGuard {
    /// Whether the stream must end (also once `end` was consumed).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        lock(&self.sessions.watched).remove(&self.id);
    }
}

impl Sessions {
    /// Codes valid for `code_ttl`, sessions for `session_ttl`.
    pub fn new(code_ttl: Duration, session_ttl: Duration) -> Arc<Sessions> {
        Arc::new(Sessions {
            codes: Mutex::default(),
            sessions: Mutex::default(),
            watched: Mutex::default(),
            next: AtomicU64::new(0),
            code_ttl,
            session_ttl,
            sweeps_started: AtomicU64::new(0),
            sweeps_done: tokio::sync::watch::channel(0).0,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// A new single-use sign-in code for the token with this digest.
    pub fn issue_code(&self, token_digest: &str) -> std::io::Result<String> {
        let code = random_hex("pgc_")?;
        let now = Instant::now();
        let mut codes = lock(&self.codes);
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            key(&code),
            Code {
                token_digest: token_digest.to_string(),
                expires: now + self.code_ttl,
            },
        );
        Ok(code)
    }

    /// Use up a code: the token digest it stands for, if valid.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let c = lock(&self.codes).remove(&key(code))?;
        (c.expires > Instant::now()).then_some(c.token_digest)
    }

    /// Open a session; returns the cookie value.
    pub fn open(&self, token_digest: &str, role: Role) -> std::io::Result<String> {
        let sid = random_hex("pgs_")?;
        let now = Instant::now();
        let mut s = lock(&self.sessions);
        s.retain(|_, v| v.expires > now);
        s.insert(
            key(&sid),
            Session {
                token_digest: token_digest.to_string(),
                role,
                expires: now + self.session_ttl,
            },
        );
        Ok(sid)
    }

    /// The live session of this cookie value.
    pub fn get(&self, sid: &str) -> Option<Session> {
        let k = key(sid);
        let mut s = lock(&self.sessions);
        match s.get(&k) {
            Some(v) if v.expires > Instant::now() => Some(v.clone()),
            Some(_) => {
                s.remove(&k);
                None
            }
            None => None,
        }
    }

    /// End a session (sign-out, or its token went away).
    pub fn close(&self, sid: &str) {
        self.close_key(&key(sid));
    }

    fn close_key(&self, k: &str) {
        lock(&self.sessions).remove(k);
        for w in lock(&self.watched).values() {
            if w.session.as_deref() == Some(k) {
                w.end();
            }
        }
    }

    /// Watch a stream opened with this token (and session, if any).
    pub fn watch(
        self: &Arc<Self>,
        token_digest: &str,
        role: Role,
        sid: Option<&str>,
    ) -> WatchGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let end = Arc::new(tokio::sync::Notify::new());
        let ended = Arc::new(AtomicBool::new(false));
        lock(&self.watched).insert(
            id,
            Watched {
                token_digest: token_digest.to_string(),
                role,
                session: sid.map(key),
                end: end.clone(),
                ended: ended.clone(),
            },
        );
        WatchGuard {
            sessions: self.clone(),
            id,
            end,
            ended,
        }
    }

    /// Wait for a sweep that starts after this call: whatever a stream
    /// received before calling this is delivered only if its token was
    /// still valid after the alert was announced.
    pub async fn fresh(&self) {
        let started = self.sweeps_started.load(Ordering::Acquire);
        let mut done = self.sweeps_done.subscribe();
        self.wake.notify_one();
        let _ = done.wait_for(|d| *d > started).await;
    }

    /// Streams open now.
    pub fn watched(&self) -> usize {
        lock(&self.watched).len()
    }

    /// One pass of the watcher (blocking: reads the store): end the streams
    /// and sessions whose token is revoked or has another role.
    pub fn sweep(&self, store: &dyn Store) {
        let mut digests: HashSet<String> = lock(&self.watched)
            .values()
            .map(|w| w.token_digest.clone())
            .collect();
        digests.extend(
            lock(&self.sessions)
                .values()
                .map(|s| s.token_digest.clone()),
        );
        let mut current: HashMap<String, Option<Role>> = HashMap::new();
        for d in digests {
            match store.token(&d) {
                Ok(r) => {
                    current.insert(d, r.map(|r| r.role));
                }
                // Store unreachable: keep what is open, try again next pass.
                Err(e) => tracing::debug!("token re-check: {e}"),
            }
        }
        let gone = |d: &str, role: Role| current.get(d).is_some_and(|r| *r != Some(role));
        lock(&self.sessions).retain(|_, s| !gone(&s.token_digest, s.role));
        let live = lock(&self.sessions).keys().cloned().collect::<HashSet<_>>();
        for w in lock(&self.watched).values() {
            let session_ended = w.session.as_ref().is_some_and(|k| !live.contains(k));
            if gone(&w.token_digest, w.role) || session_ended {
                w.end();
            }
        }
    }
}

/// Re-check watched tokens until the runtime stops.
pub async fn watcher(sessions: Arc<Sessions>, store: Arc<dyn Store>) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = tick.tick() => false,
            _ = sessions.wake.notified() => true,
        };
        let idle = sessions.watched() == 0 && lock(&sessions.sessions).is_empty();
        if idle && !asked {
            continue;
        }
        let n = sessions.sweeps_started.fetch_add(1, Ordering::AcqRel) + 1;
        let (s, st) = (sessions.clone(), store.clone());
        let _ = tokio::task::spawn_blocking(move || s.sweep(st.as_ref())).await;
        sessions.sweeps_done.send_replace(n);
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_expire() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(60));
        let c = s.issue_code("d1").unwrap();
        assert!(c.starts_with("pgc_") && c.len() == 52);
        assert_eq!(s.redeem(&c).as_deref(), Some("d1"));
        assert_eq!(s.redeem(&c), None, "a code works once");
        let c = s.issue_code("d1").unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(s.redeem(&c), None, "an expired code is refused");
        assert_eq!(s.redeem("pgc_guess"), None);
    }

    #[test]
    fn cookies_parse() {
        assert_eq!(cookie("a=1; pg_session=pgs_x; b=2", COOKIE), Some("pgs_x"));
        assert_eq!(cookie("a=1", COOKIE), None);
    }
}
