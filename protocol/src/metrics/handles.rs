//! Metric handles registered once per recorder and reused for every call.
//!
//! Why: each `counter!(name, labels…)` builds a key, hashes it and looks it up in the
//! recorder's registry (an allocation and a map probe, several per call), which cost more than
//! the rest of an in-process call. A handle is what the facade returns from that lookup, an
//! atomic to bump; the hot path keeps one per `(service, method)` and label value instead.
//!
//! Handles belong to the recorder that made them, so each cached set is keyed by the address of
//! the recorder in effect ([`metrics::with_recorder`]): installing the global recorder after
//! the first calls, or a test's local recorder, gets a fresh set rather than stale no-op
//! handles. The sets are bounded by the names: services and methods are the contracts'
//! `'static` names (or [`UNKNOWN`](super::labels::UNKNOWN)).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram};

/// `(recorder, service, method)`, by address: names are `'static`, so the address names them.
type Key = (usize, usize, usize);

/// One cache of handle sets, shared by every client or server of the process.
pub(crate) struct Cache<T> {
    sets: LazyLock<RwLock<HashMap<Key, Arc<T>>>>,
}

impl<T> Cache<T> {
    pub(crate) const fn new() -> Self {
        Self {
            sets: LazyLock::new(RwLock::default),
        }
    }

    /// The set for `service`/`method` under the recorder in effect, built on first use.
    pub(crate) fn get(
        &self,
        service: &'static str,
        method: &'static str,
        build: impl FnOnce() -> T,
    ) -> Arc<T> {
        let recorder = metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>().addr());
        let key = (recorder, service.as_ptr().addr(), method.as_ptr().addr());
        if let Some(set) = self
            .sets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(set);
        }
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(sets.entry(key).or_insert_with(|| Arc::new(build())))
    }
}

/// Counters of one labelled family, one per value of a fixed label list, each registered the
/// first time that value is counted.
pub(crate) struct CountersBy {
    values: &'static [&'static str],
    counters: Box<[OnceLock<Counter>]>,
}

impl CountersBy {
    pub(crate) fn new(values: &'static [&'static str]) -> Self {
        Self {
            values,
            counters: values.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// The counter of `value` (one of the list), registered with `register` on first use.
    pub(crate) fn get(&self, value: &'static str, register: impl FnOnce() -> Counter) -> &Counter {
        static NOOP: LazyLock<Counter> = LazyLock::new(Counter::noop);
        match self.values.iter().position(|v| *v == value) {
            Some(i) => self.counters[i].get_or_init(register),
            // Not in the list: a bug in this crate, counted nowhere rather than unbounded.
            None => &NOOP,
        }
    }
}

/// A client's handles for one `(service, method)`.
pub(crate) struct CallHandles {
    pub(crate) duration: Histogram,
    pub(crate) outcomes: CountersBy,
}

/// A server's handles for one `(service, method)`.
pub(crate) struct ServerHandles {
    pub(crate) in_flight: Gauge,
    pub(crate) duration: Histogram,
    pub(crate) codes: CountersBy,
}
