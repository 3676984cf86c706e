//! Presence options: how often a server announces itself and how long the announcement lives.
//! The heartbeat itself is in `server::presence`, discovery in `client::discover`.

use std::time::Duration;

use crate::options::OptionsError;

/// The shortest heartbeat interval accepted: below it the heartbeat is mostly Redis load.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// How long the presence indexes (`<prefix>:presence`, `<prefix>:presence:<service>`) outlive
/// the last heartbeat of any instance: long enough to remember dead instances whose consumers
/// still have pending entries, bounded so an abandoned prefix leaves nothing behind.
pub const INDEX_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Presence of a server (see the README's "Discovery" section): a record per service renewed
/// every `heartbeat`, expiring after `ttl` without one, so `discover()` lists live instances and
/// a killed server disappears after `ttl`.
///
/// ```
/// use std::time::Duration;
/// use clamator_over_redis::{PresenceOptions, RedisServerOptions};
///
/// let presence = PresenceOptions::new()
///     .with_heartbeat(Duration::from_millis(500))
///     .with_ttl(Duration::from_millis(1500));
/// let opts = RedisServerOptions::new("app").with_presence(presence);
/// assert!(opts.validate().is_ok());
///
/// // A TTL that a single late heartbeat would outrun makes instances flap: refused.
/// let flappy = PresenceOptions::new().with_ttl(Duration::from_secs(3));
/// assert!(RedisServerOptions::new("app").with_presence(flappy).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceOptions {
    enabled: bool,
    heartbeat: Duration,
    ttl: Duration,
}

impl Default for PresenceOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PresenceOptions {
    /// Defaults: heartbeat every 2 s, TTL 6 s (two heartbeats may be missed).
    pub fn new() -> Self {
        Self {
            enabled: true,
            heartbeat: Duration::from_secs(2),
            ttl: Duration::from_secs(6),
        }
    }

    /// No presence at all: for an ACL user without the presence commands. The server is then
    /// invisible to `discover()`, and its consumer is never removed by other servers.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// How often the record is renewed.
    #[must_use]
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a record lives without renewal: how soon a killed server disappears. At least
    /// twice the heartbeat.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// See [`disabled`](Self::disabled).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// See [`with_heartbeat`](Self::with_heartbeat).
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// See [`with_ttl`](Self::with_ttl).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Refuses a heartbeat below [`MIN_HEARTBEAT`] and a TTL below twice the heartbeat.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.heartbeat < MIN_HEARTBEAT {
            return Err(OptionsError::TooShort {
                option: "presence heartbeat",
                min: MIN_HEARTBEAT,
                value: self.heartbeat,
            });
        }
        let min_ttl = self.heartbeat.saturating_mul(2);
        if self.ttl < min_ttl {
            return Err(OptionsError::TooShort {
                option: "presence ttl",
                min: min_ttl,
                value: self.ttl,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_refused() {
        assert!(PresenceOptions::new().validate().is_ok());
        assert_eq!(PresenceOptions::new().heartbeat(), Duration::from_secs(2));
        assert_eq!(PresenceOptions::new().ttl(), Duration::from_secs(6));
        let fast = PresenceOptions::new().with_heartbeat(Duration::from_millis(1));
        assert!(matches!(
            fast.validate(),
            Err(OptionsError::TooShort {
                option: "presence heartbeat",
                ..
            })
        ));
        let short = PresenceOptions::new()
            .with_heartbeat(Duration::from_millis(100))
            .with_ttl(Duration::from_millis(199));
        assert!(matches!(
            short.validate(),
            Err(OptionsError::TooShort {
                option: "presence ttl",
                ..
            })
        ));
        assert!(!PresenceOptions::disabled().enabled());
    }
}
