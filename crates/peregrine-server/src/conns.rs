//! The table of open connections: caps (global and per peer IP), eviction
//! of the oldest idle connection when a cap is reached, and per-connection
//! state the accept loop's watchdog reads (requests in flight, last
//! change) to close connections that idle or never send a request.

use crate::metrics::ServerMetrics;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What one connection's watchdog needs.
pub struct ConnState {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last request start or end.
    last_change_ms: AtomicU64,
    served: AtomicBool,
    /// Fired when the table evicts this connection.
    pub kill: tokio::sync::Notify,
}

impl ConnState {
    fn new(epoch: Instant) -> ConnState {
        ConnState {
            epoch,
            in_flight: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            served: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
        }
    }
    fn touch(&self) {
        self.last_change_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
    /// When the connection must be closed if nothing changes: `None` while
    /// a request is in flight (its handler bounds it). Before the first
    /// request the header timeout applies, afterwards the idle timeout.
    pub fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, &'static str)> {
        if !self.idle() {
            return None;
        }
        let last = self.epoch + Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
        Some(if self.served.load(Ordering::Relaxed) {
            (last + idle, "idle_timeout")
        } else {
            (last + header, "header_timeout")
        })
    }
}

/// Counts a request in flight from its start until its response body is
/// dropped (so a live stream counts as long as it runs).
pub struct RequestGuard(Arc<ConnState>);

impl RequestGuard {
    /// A request started on this connection.
    pub fn new(state: Arc<ConnState>) -> RequestGuard {
        state.served.store(true, Ordering::Relaxed);
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.touch();
        RequestGuard(state)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`RequestGuard`].
pub struct TrackedBody {
    inner: axum::body::Body,
    _guard: RequestGuard,
}

impl TrackedBody {
    /// Wrap `inner`.
    pub fn new(inner: axum::body::Body, guard: RequestGuard) -> TrackedBody {
        TrackedBody {
            inner,
            _guard: guard,
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

struct Entry {
    peer: IpAddr,
    opened: Instant,
    state: Arc<ConnState>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    per_peer: HashMap<IpAddr, usize>,
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&e.peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&e.peer);
            }
        }
        Some(e)
    }
    /// The oldest connection with no request in flight (of `peer`, or of
    /// anyone).
    fn oldest_idle(&self, peer: Option<IpAddr>) -> Option<u64> {
        self.conns
            .iter()
            .filter(|(_, e)| peer.is_none_or(|p| e.peer == p) && e.state.idle())
            .min_by_key(|(_, e)| e.opened)
            .map(|(id, _)| *id)
    }
}

/// Open connections and their caps.
pub struct ConnTable {
    inner: Mutex<Inner>,
    epoch: Instant,
    max_total: usize,
    max_peer: usize,
    metrics: Arc<ServerMetrics>,
    warned: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

/// A connection admitted to the table; dropping it frees its slot.
pub struct ConnSlot {
    table: Arc<ConnTable>,
    id: u64,
    /// The connection's state.
    pub state: Arc<ConnState>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut g = self.table.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.remove(self.id).is_some() {
            self.table.metrics.connections.dec();
        }
    }
}

impl ConnTable {
    /// A table with these caps.
    pub fn new(max_total: usize, max_peer: usize, metrics: Arc<ServerMetrics>) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            inner: Mutex::new(Inner::default()),
            epoch: Instant::now(),
            max_total: max_total.max(1),
            max_peer: max_peer.max(1),
            metrics,
            warned: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        })
    }

    /// Admit a connection from `peer`: at a cap, the oldest idle connection
    /// (of that peer for the per-peer cap) is closed to make room; with none
    /// idle the new connection is refused (`Err(reason)`).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnSlot, &'static str> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let caps = [
            (
                g.per_peer.get(&peer).copied().unwrap_or(0) >= self.max_peer,
                Some(peer),
                "per_peer_cap",
            ),
            (g.conns.len() >= self.max_total, None, "global_cap"),
        ];
        for (hit, scope, reason) in caps {
            if !hit {
                continue;
            }
            let Some(victim) = g.oldest_idle(scope) else {
                self.note(reason, peer, false);
                return Err(reason);
            };
            if let Some(e) = g.remove(victim) {
                e.state.kill.notify_one();
                self.metrics.connections.dec();
            }
            self.note(reason, peer, true);
        }
        g.next_id += 1;
        let id = g.next_id;
        let state = Arc::new(ConnState::new(self.epoch));
        g.conns.insert(
            id,
            Entry {
                peer,
                opened: Instant::now(),
                state: state.clone(),
            },
        );
        *g.per_peer.entry(peer).or_insert(0) += 1;
        self.metrics.connections.inc();
        Ok(ConnSlot {
            table: self.clone(),
            id,
            state,
        })
    }

    /// Count and log (at most one line per 5 s) a cap being reached.
    fn note(&self, reason: &'static str, peer: IpAddr, evicted: bool) {
        let what = if evicted { "evicted" } else { "refused" };
        self.metrics.closed(&format!("{reason}_{what}"));
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if w.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *w = Some(Instant::now());
        let more = self.suppressed.swap(0, Ordering::Relaxed);
        let (cap, limit) = match reason {
            "per_peer_cap" => ("max_connections_per_peer", self.max_peer),
            _ => ("max_connections", self.max_total),
        };
        let action = if evicted {
            "closed its oldest idle connection to make room"
        } else {
            "refused the new connection (none idle)"
        };
        tracing::warn!(
            %peer,
            "connection cap reached: {cap} = {limit}; {action} ({more} more since the last report)"
        );
    }
}
