//! `--observe`: the bench with tracing and metrics on, as an operator runs it: a tracing
//! subscriber at `info` writing plain text (no terminal colours, as logs bound for a collector
//! are) to a sink (every span and event is built and formatted, then thrown away) and the Prometheus recorder installed (each run renders the exposition once at
//! the end, so the recorder's work is real). Built only with the bench's `metrics` feature.
//! `CLAMATOR_BENCH_OBSERVE=tracing` or `=metrics` turns on only one of the two (to tell their
//! costs apart); the server processes inherit it. `CLAMATOR_BENCH_ANSI=1` formats with
//! colours, the `fmt` default, which doubles the subscriber's own cost.

#[cfg(feature = "metrics")]
mod on {
    use std::sync::OnceLock;

    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

    /// Installs the subscriber and the recorder (once per process).
    pub(crate) fn install() -> Result<(), crate::BoxError> {
        let only = std::env::var("CLAMATOR_BENCH_OBSERVE").unwrap_or_default();
        if only != "metrics" {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_ansi(std::env::var_os("CLAMATOR_BENCH_ANSI").is_some())
                .with_writer(std::io::sink)
                .try_init()?;
        }
        if only == "tracing" {
            return Ok(());
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ],
            )?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder)?;
        clamator_protocol::metrics::describe();
        let _ = HANDLE.set(handle);
        Ok(())
    }

    /// Size of the Prometheus exposition now (0 when not observing).
    pub(crate) fn rendered_len() -> usize {
        HANDLE.get().map_or(0, |h| {
            h.run_upkeep();
            h.render().len()
        })
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) fn install() -> Result<(), crate::BoxError> {
    Err("--observe needs the bench built with `--features metrics`".into())
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn rendered_len() -> usize {
    0
}
