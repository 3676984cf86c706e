//! A real Redis for test suites (feature `testing`; `clamator::redis::testing` through the
//! umbrella crate), so a service's own tests exercise the transport they deploy on.
//!
//! Where the Redis comes from, in this order:
//!
//! 1. `REDIS_URL`, when set and not empty (CI services, a developer's local Redis);
//! 2. a private `redis-server` from `PATH` on a free loopback port, without persistence;
//! 3. with the `testcontainers` feature, a `redis:7.4` container through the `testcontainers`
//!    and `testcontainers-modules` crates (the module's own default tag is 5.0, which lacks
//!    `XAUTOCLAIM`; the tag is pinned here). Needs a Docker engine. **Untested in this
//!    project's CI**, whose machines have none; it compiles there.
//! 4. otherwise a [`TestRedisError`] that says how to get one. Tests should fail with it, never
//!    skip: a suite that silently skips its Redis tests proves nothing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use clamator_over_redis::testing::{TestPrefix, TestRedis};
//!
//! let redis = TestRedis::start().await?;          // gone when dropped
//! let keys = TestPrefix::new(redis.url(), "my-test"); // its keys deleted when dropped
//! let opts = clamator_over_redis::RedisServerOptions::new(keys.prefix()).with_redis_url(redis.url());
//! # let _ = opts; Ok(()) }
//! ```
//!
//! [`RedisProcess`] also gives fault tests a server they may kill, restart or start with
//! extra arguments (`--appendonly yes`, ACL files, TLS ports).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

mod cluster;
mod pki;
mod process;
mod sentinel;

pub use cluster::RedisCluster;
pub use pki::TestPki;
pub use process::RedisProcess;
pub use sentinel::RedisSentinels;

use process::wait_ready;

/// Why no Redis could be provided; its text says what to install or set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestRedisError {
    /// Nothing on the list worked.
    #[error(
        "these tests need a real Redis (7 or newer): set REDIS_URL=redis://host:port, or install \
         `redis-server` on PATH (Debian: apt-get install redis-server), or enable the \
         `testcontainers` feature where a Docker engine runs{detail}"
    )]
    Unavailable {
        /// What the last attempt reported (empty when nothing was tried).
        detail: String,
    },
    /// The test certificates of [`TestPki`] could not be made or written.
    #[error("test certificates: {detail}")]
    Certificates {
        /// What failed.
        detail: String,
    },
    /// `REDIS_URL` is set but nothing answers there.
    #[error("REDIS_URL={url} does not answer PING within 10 s")]
    UrlNotAnswering {
        /// The URL from the environment.
        url: String,
    },
    /// `redis-server` was found but did not come up (bad arguments, port taken, …).
    #[error("redis-server {args} did not accept connections on port {port}")]
    ProcessFailed {
        /// The port it was given.
        port: u16,
        /// The extra arguments it was given.
        args: String,
    },
}

/// A Redis owned by one test: dropped, it is stopped (a process or a container; a `REDIS_URL`
/// server is left alone).
pub struct TestRedis {
    url: String,
    _owner: Owner,
}

enum Owner {
    External,
    // Held only to be stopped on drop.
    #[allow(dead_code)]
    Process(RedisProcess),
    #[cfg(feature = "testcontainers")]
    Container(
        // Held only to be removed on drop.
        #[allow(dead_code)]
        Box<
            testcontainers_modules::testcontainers::ContainerAsync<
                testcontainers_modules::redis::Redis,
            >,
        >,
    ),
}

impl TestRedis {
    /// A Redis from the first source that works (see the [module docs](self)).
    pub async fn start() -> Result<Self, TestRedisError> {
        if let Some(url) = env_url() {
            let probe = url.clone();
            tokio::task::spawn_blocking(move || wait_ready(&probe))
                .await
                .unwrap_or(false)
                .then_some(())
                .ok_or_else(|| TestRedisError::UrlNotAnswering { url: url.clone() })?;
            return Ok(Self {
                url,
                _owner: Owner::External,
            });
        }
        let process = tokio::task::spawn_blocking(RedisProcess::start).await;
        let detail = match process {
            Ok(Ok(process)) => {
                return Ok(Self {
                    url: process.url(),
                    _owner: Owner::Process(process),
                })
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        #[cfg(feature = "testcontainers")]
        {
            match container::start().await {
                Ok((url, c)) => {
                    return Ok(Self {
                        url,
                        _owner: Owner::Container(Box::new(c)),
                    })
                }
                Err(e) => {
                    return Err(TestRedisError::Unavailable {
                        detail: format!(" (redis-server: {detail}; container: {e})"),
                    })
                }
            }
        }
        #[allow(unreachable_code)]
        Err(unavailable(detail))
    }

    /// `redis://host:port` of this Redis.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// One Redis shared by every test of a test binary (started on first use, stopped when the
/// binary exits): `REDIS_URL`, else a private `redis-server`. Cheaper than a [`TestRedis`] per
/// test; give each test its own [`TestPrefix`].
pub fn shared_url() -> Result<String, TestRedisError> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    static PROCESS: OnceLock<Mutex<RedisProcess>> = OnceLock::new();
    let found = URL.get_or_init(|| {
        if let Some(url) = env_url() {
            return if wait_ready(&url) {
                Ok(url)
            } else {
                Err(TestRedisError::UrlNotAnswering { url }.to_string())
            };
        }
        match RedisProcess::start() {
            Ok(process) => {
                let url = process.url();
                // Its watchdog shell stops redis-server when this process exits.
                let _ = PROCESS.set(Mutex::new(process));
                Ok(url)
            }
            Err(e) => Err(e.to_string()),
        }
    });
    found.clone().map_err(unavailable)
}

fn env_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// A unique key prefix for one test on a shared Redis; its keys are deleted when dropped.
pub struct TestPrefix {
    url: String,
    prefix: String,
}

impl TestPrefix {
    /// `t-<name>-<8 hex>` on the Redis at `url`.
    pub fn new(url: impl Into<String>, name: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            url: url.into(),
            prefix: format!("t-{name}-{}", &id[..8]),
        }
    }

    /// The key prefix to give servers and clients.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `<prefix>:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        delete_keys(&self.url, &self.prefix);
    }
}

/// Deletes every key under `<prefix>:` (best effort), as a [`TestPrefix`] does on drop; for
/// harnesses that name their own prefixes.
pub fn delete_keys(url: &str, prefix: &str) {
    let Ok(mut conn) = connect(url) else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut conn)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut conn);
    }
}

/// A synchronous connection with a 1 s timeout, for the harness's own checks.
fn connect(url: &str) -> Result<redis::Connection, redis::RedisError> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(1))
}

/// [`TestRedisError::Unavailable`] with `detail` in parentheses.
fn unavailable(detail: String) -> TestRedisError {
    TestRedisError::Unavailable {
        detail: format!(" ({detail})"),
    }
}

#[cfg(feature = "testcontainers")]
mod container {
    //! The container fallback. Compiled in CI; run only where a Docker engine exists.
    use testcontainers_modules::redis::{Redis, REDIS_PORT};
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

    /// Redis 7.4: streams with `XAUTOCLAIM` (6.2+) and the `entries-added` field (7.0+).
    const TAG: &str = "7.4";

    pub(super) async fn start() -> Result<(String, ContainerAsync<Redis>), String> {
        let container = Redis::default()
            .with_tag(TAG)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let host = container.get_host().await.map_err(|e| e.to_string())?;
        let port = container
            .get_host_port_ipv4(REDIS_PORT)
            .await
            .map_err(|e| e.to_string())?;
        Ok((format!("redis://{host}:{port}"), container))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_redis_answers_and_a_prefix_cleans_up_after_itself() {
        let redis = TestRedis::start().await.expect("a Redis for tests");
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let key;
        {
            let keys = TestPrefix::new(redis.url(), "cleanup");
            key = keys.key("k");
            let _: () = redis::cmd("SET").arg(&key).arg(1).query(&mut conn).unwrap();
        }
        let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
        assert_eq!(exists, 0, "the prefix's keys are deleted on drop");
    }
}
