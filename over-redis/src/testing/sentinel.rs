//! A local Sentinel deployment: one primary, one or more replicas and three sentinels watching
//! them, for failover tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::process::RedisProcess;
use super::{connect, unavailable, TestRedisError};

/// A primary, its replicas and three sentinels (quorum 2) on free loopback ports; stopped and
/// their files removed on drop. A killed primary is failed over in about two seconds.
pub struct RedisSentinels {
    master_name: String,
    primary: RedisProcess,
    replicas: Vec<RedisProcess>,
    sentinels: Vec<RedisProcess>,
    dir: PathBuf,
}

impl RedisSentinels {
    /// Starts a primary, one replica and three sentinels, and waits until the replica is in
    /// sync and every sentinel knows it.
    pub fn start() -> Result<Self, TestRedisError> {
        Self::start_with_replicas(1)
    }

    /// [`start`](Self::start) with `replicas` replicas (at least 1): with two, a failover
    /// leaves the new primary a replica, which replicated writes
    /// ([`ConnectionOptions::with_replicated_writes`](crate::ConnectionOptions::with_replicated_writes))
    /// need to go on writing.
    pub fn start_with_replicas(replicas: usize) -> Result<Self, TestRedisError> {
        let master_name = "clamator".to_owned();
        let dir = std::env::temp_dir().join(format!(
            "clamator-sentinel-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| unavailable(format!("temp dir: {e}")))?;
        // Every data node writes its files (a replica's full-sync RDB) under `dir`, not
        // into the test's working directory.
        let data_dir = dir.display().to_string();
        let primary = RedisProcess::start_with(&[
            "--dir",
            &data_dir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ])?;
        let primary_port = primary.port().to_string();
        let mut replica_nodes = Vec::new();
        for _ in 0..replicas.max(1) {
            replica_nodes.push(primary.start_replica(Some(&data_dir))?);
        }
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let conf = dir.join(format!("sentinel-{i}.conf"));
            let text = format!(
                "sentinel monitor {master_name} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {master_name} 1000\n\
                 sentinel failover-timeout {master_name} 5000\n\
                 sentinel parallel-syncs {master_name} 1\n"
            );
            std::fs::write(&conf, text).map_err(|e| unavailable(format!("sentinel conf: {e}")))?;
            sentinels.push(RedisProcess::start_sentinel(&conf)?);
        }
        let me = Self {
            master_name,
            primary,
            replicas: replica_nodes,
            sentinels,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !me.replicas_known()
            || !me
                .replicas
                .iter()
                .all(|r| super::cluster::replica_synced_or_primary(&r.url()))
        {
            if Instant::now() >= deadline {
                return Err(unavailable("sentinels did not discover the replica".into()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(me)
    }

    /// The name the sentinels monitor the primary under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `redis://127.0.0.1:<port>` of each sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisProcess::url).collect()
    }

    /// The process started as primary (after a failover it is the old one).
    pub fn primary(&mut self) -> &mut RedisProcess {
        &mut self.primary
    }

    /// The (first) process started as replica.
    pub fn replica(&mut self) -> &mut RedisProcess {
        &mut self.replicas[0]
    }

    /// Every process started as replica (a failover promotes one of them).
    pub fn replicas(&mut self) -> &mut [RedisProcess] {
        &mut self.replicas
    }

    /// The port the sentinels currently name as primary.
    pub fn current_primary_port(&self) -> Option<u16> {
        for url in self.sentinel_urls() {
            let Ok(mut conn) = connect(&url) else {
                continue;
            };
            let addr: Result<Vec<String>, _> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.master_name)
                .query(&mut conn);
            if let Some(port) = addr.ok().and_then(|a| a.get(1)?.parse().ok()) {
                return Some(port);
            }
        }
        None
    }

    /// Waits until the sentinels name one of the replicas as primary and it says it is one.
    pub fn wait_failover(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let promoted = self
                .current_primary_port()
                .and_then(|port| self.replicas.iter().find(|r| r.port() == port));
            if promoted.is_some_and(|r| is_primary(&r.url())) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn replicas_known(&self) -> bool {
        let wanted = self.replicas.len();
        self.sentinel_urls().iter().all(|url| {
            connect(url)
                .and_then(|mut c| {
                    redis::cmd("SENTINEL")
                        .arg("replicas")
                        .arg(&self.master_name)
                        .query::<Vec<redis::Value>>(&mut c)
                })
                .is_ok_and(|replicas| replicas.len() >= wanted)
        })
    }
}

/// True when the node at `url` answers `ROLE` as a primary.
fn is_primary(url: &str) -> bool {
    connect(url)
        .and_then(|mut c| redis::cmd("ROLE").query::<redis::Value>(&mut c))
        .is_ok_and(|role| match role {
            redis::Value::Array(items) => {
                matches!(items.first(), Some(redis::Value::BulkString(b)) if b == b"master")
            }
            _ => false,
        })
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        self.sentinels.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinels_promote_the_replica_when_the_primary_dies() {
        let mut set = RedisSentinels::start().expect("a local sentinel deployment");
        let before = set.primary().port();
        assert_eq!(set.current_primary_port(), Some(before));
        set.primary().kill();
        assert!(set.wait_failover(Duration::from_secs(30)));
        assert_ne!(set.current_primary_port(), Some(before));
    }
}
