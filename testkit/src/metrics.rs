//! A recorder whose reads do not reset anything (metrics-util's `DebuggingRecorder` swaps
//! counters and gauges to zero on each snapshot, which breaks a gauge that is incremented and
//! decremented around reads), for tests that poll metrics until a condition holds.

use std::sync::{Arc, OnceLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

/// One series as read back: name, labels sorted by key, and its value (histograms: samples).
pub type Series = (String, Vec<(String, String)>, f64);

/// A recorder over an atomic registry; clones share it.
#[derive(Clone)]
pub struct TestRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Default for TestRecorder {
    fn default() -> Self {
        Self {
            registry: Arc::new(Registry::atomic()),
        }
    }
}

impl std::fmt::Debug for TestRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRecorder").finish_non_exhaustive()
    }
}

impl TestRecorder {
    /// The process-wide recorder of this test binary, installed on first use (spawned tasks
    /// see only a global recorder).
    pub fn global() -> &'static TestRecorder {
        static GLOBAL: OnceLock<TestRecorder> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let r = TestRecorder::default();
            metrics::set_global_recorder(r.clone()).expect("no other recorder in this binary");
            r
        })
    }

    /// Every series now.
    #[allow(clippy::cast_precision_loss)]
    pub fn series(&self) -> Vec<Series> {
        let mut out = Vec::new();
        let labels = |k: &Key| {
            let mut l: Vec<(String, String)> = k
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            l.sort();
            l
        };
        self.registry.visit_counters(|k, c| {
            let v = c.load(std::sync::atomic::Ordering::Relaxed) as f64;
            out.push((k.name().to_owned(), labels(k), v));
        });
        self.registry.visit_gauges(|k, g| {
            let v = f64::from_bits(g.load(std::sync::atomic::Ordering::Relaxed));
            out.push((k.name().to_owned(), labels(k), v));
        });
        self.registry.visit_histograms(|k, h| {
            out.push((k.name().to_owned(), labels(k), h.data().len() as f64));
        });
        out
    }

    /// Sum over the series of `name` whose labels include every pair of `with`.
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        value(&self.series(), name, with)
    }
}

/// Sum over the series of `name` in `all` whose labels include every pair of `with`.
pub fn value(all: &[Series], name: &str, with: &[(&str, &str)]) -> f64 {
    all.iter()
        .filter(|(n, labels, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}
