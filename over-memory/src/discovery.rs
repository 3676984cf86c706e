//! Discovery on the memory bus: the same `discover()` / `ping()` as over Redis, so tests of
//! code that lists or checks servers run in-process. A service is served by at most one server
//! per bus, which is always alive while registered (no heartbeat, no TTL: `ttlMs` is 0).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::{Discovery, Dispatcher, Error, Instance, Liveness, MethodInfo, Response};

use crate::client::MemoryClientTransport;

/// What the bus knows about the server of one service.
#[derive(Debug)]
pub(crate) struct Registration {
    instance: Instance,
    in_flight: AtomicU64,
    handled: AtomicU64,
    errors: AtomicU64,
}

/// One envelope being handled by a registered server: in flight until
/// [`finish`](Self::finish)ed or dropped (a handler that panicked or was cancelled).
#[derive(Debug)]
pub(crate) struct Running(Arc<Registration>);

impl Running {
    pub(crate) fn start(registration: Arc<Registration>) -> Self {
        registration.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(registration)
    }

    /// Counts the outcome (a request's response, or `None` for a notification) and ends it.
    pub(crate) fn finish(self, response: Option<&Response>) {
        self.0.note(response);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Instance ids are unique within the process: `memory-<n>`.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Registration {
    pub(crate) fn new(dispatcher: &Dispatcher, started_at_ms: i64) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut instance = Instance::new(dispatcher.service_name(), format!("memory-{id}"));
        instance.pid = std::process::id();
        instance.version = env!("CARGO_PKG_VERSION").to_owned();
        instance.started_at_ms = started_at_ms;
        instance.methods = MethodInfo::of_service(dispatcher.service());
        Self {
            instance,
            in_flight: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// One request answered (or a notification handled, `None`).
    fn note(&self, response: Option<&Response>) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if response.is_some_and(|r| r.outcome.is_err()) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Instance {
        let mut i = self.instance.clone();
        i.heartbeat_at_ms = now_ms();
        i.in_flight = self.in_flight.load(Ordering::Relaxed);
        i.handled = self.handled.load(Ordering::Relaxed);
        i.errors = self.errors.load(Ordering::Relaxed);
        i
    }
}

impl Discovery for MemoryClientTransport {
    /// The servers registered on the bus now (a stopped one is gone at once).
    async fn discover(&self, service: Option<&str>) -> Result<Vec<Instance>, Error> {
        let mut out: Vec<Instance> = self
            .bus()
            .registrations(service)
            .iter()
            .map(|r| r.snapshot())
            .collect();
        out.sort_by(|a, b| (&a.service, &a.instance_id).cmp(&(&b.service, &b.instance_id)));
        Ok(out)
    }

    /// The server of `service`, alive with a heartbeat age of 0, if one is registered.
    async fn ping(&self, service: &str, _deadline: Duration) -> Result<Vec<Liveness>, Error> {
        Ok(self
            .discover(Some(service))
            .await?
            .into_iter()
            .map(|i| Liveness::alive(i, 0))
            .collect())
    }
}
