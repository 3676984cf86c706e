//! A real local Redis Cluster: `redis-server --cluster-enabled yes` nodes on free loopback
//! ports, joined with `redis-cli --cluster create`, for failover and slot-migration tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::RedisProcess;
use super::{connect, unavailable, TestPki, TestRedisError};

/// Node timeout of test clusters: a killed primary is failed over in about two of these.
const NODE_TIMEOUT_MS: u64 = 1000;

/// A local cluster (3 primaries + 3 replicas by default); every node is stopped and its files
/// removed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisProcess>,
    dir: PathBuf,
    /// TLS nodes: the harness's own connections skip certificate checks (`#insecure`); the
    /// code under test is given the CA.
    tls: bool,
}

impl RedisCluster {
    /// Three primaries, one replica each.
    pub fn start() -> Result<Self, TestRedisError> {
        Self::start_with(3, 1)
    }

    /// `primaries` primaries with `replicas` replicas each, slots spread evenly.
    pub fn start_with(primaries: usize, replicas: usize) -> Result<Self, TestRedisError> {
        Self::start_nodes(primaries, replicas, None)
    }

    /// A TLS-only cluster on `pki`'s certificates (clients and the cluster bus both): three
    /// primaries without replicas; [`seed_urls`](Self::seed_urls) are `rediss://`, verified
    /// against [`TestPki::ca_pem`].
    pub fn start_tls(pki: &TestPki) -> Result<Self, TestRedisError> {
        Self::start_nodes(3, 0, Some(pki))
    }

    fn start_nodes(
        primaries: usize,
        replicas: usize,
        tls: Option<&TestPki>,
    ) -> Result<Self, TestRedisError> {
        let dir = std::env::temp_dir().join(format!(
            "clamator-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| unavailable(format!("temp dir: {e}")))?;
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
            tls: tls.is_some(),
        };
        for _ in 0..primaries * (1 + replicas) {
            let port = cluster_port();
            let conf = cluster.dir.join(format!("nodes-{port}.conf"));
            let node_dir = cluster.dir.display().to_string();
            let conf = conf.display().to_string();
            let timeout = NODE_TIMEOUT_MS.to_string();
            let tls_args: Vec<String> = tls.map_or_else(Vec::new, |pki| {
                let mut a = pki.server_tls_args(false);
                a.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
                a
            });
            let args: Vec<&str> = tls_args
                .iter()
                .map(String::as_str)
                .chain([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    &timeout,
                    // A replica may take over however long it was cut off (a freshly created
                    // cluster's replica may not have synced yet: tests want the failover).
                    "--cluster-replica-validity-factor",
                    "0",
                    // Replicas sync at once instead of after the default 5 s batching delay.
                    "--repl-diskless-sync-delay",
                    "0",
                    "--dir",
                    &node_dir,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .collect();
            let node = if tls.is_some() {
                RedisProcess::start_tls_on_port(port, &args)?
            } else {
                RedisProcess::start_on_port(port, &args)?
            };
            cluster.nodes.push(node);
        }
        let mut create = Command::new("redis-cli");
        if let Some(pki) = tls {
            create.arg("--tls").arg("--cacert").arg(pki.ca_file());
        }
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .map_err(|e| {
                unavailable(format!(
                    "redis-cli --cluster create: {e} (apt-get install redis-tools)"
                ))
            })?;
        if !out.status.success() {
            return Err(unavailable(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        if !cluster.wait_healthy(Duration::from_secs(30)) {
            return Err(unavailable(
                "the cluster did not reach cluster_state:ok".into(),
            ));
        }
        Ok(cluster)
    }

    /// `redis://127.0.0.1:<port>` of every node started (seed nodes for a cluster client).
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisProcess::url).collect()
    }

    /// The URL the harness itself connects to node `index` with.
    fn admin_url(&self, index: usize) -> String {
        let url = self.nodes[index].url();
        if self.tls {
            format!("{url}/#insecure")
        } else {
            url
        }
    }

    /// The node at `index` (in start order), to kill or restart.
    pub fn node(&mut self, index: usize) -> &mut RedisProcess {
        &mut self.nodes[index]
    }

    /// How many nodes were started.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: a cluster has nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&mut self, key: &str) -> Result<u16, TestRedisError> {
        let mut conn = self.any_connection()?;
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .map_err(|e| unavailable(format!("CLUSTER KEYSLOT: {e}")))
    }

    /// Index of the running primary that serves `slot`, from `CLUSTER NODES`.
    pub fn primary_of_slot(&mut self, slot: u16) -> Result<usize, TestRedisError> {
        for node in self.topology()? {
            if node.primary && node.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)) {
                if let Some(i) = self.index_of_port(node.port) {
                    return Ok(i);
                }
            }
        }
        Err(unavailable(format!("no live primary serves slot {slot}")))
    }

    /// Index of the running primary that owns `key`.
    pub fn primary_of(&mut self, key: &str) -> Result<usize, TestRedisError> {
        let slot = self.slot_of(key)?;
        self.primary_of_slot(slot)
    }

    /// Waits until every running node reports `cluster_state:ok` with all slots served by a
    /// live primary (after a kill: the replica's promotion is done).
    pub fn wait_healthy(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.healthy() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Waits until every running replica's link to its primary is up (what it holds is then
    /// what a failover keeps).
    pub fn wait_replicas_synced(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let synced = (0..self.nodes.len()).all(|i| {
                !self.nodes[i].is_running() || replica_synced_or_primary(&self.admin_url(i))
            });
            if synced {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn healthy(&mut self) -> bool {
        let mut seen = 0;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_running() {
                continue;
            }
            let Ok(mut conn) = connect(&self.admin_url(i)) else {
                return false;
            };
            let info: String = match redis::cmd("CLUSTER").arg("INFO").query(&mut conn) {
                Ok(info) => info,
                Err(_) => return false,
            };
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                return false;
            }
            seen += 1;
        }
        seen > 0
            && self.topology().is_ok_and(|nodes| {
                let served: usize = nodes
                    .iter()
                    .filter(|n| n.primary && self.index_of_port(n.port).is_some())
                    .flat_map(|n| n.slots.iter().map(|&(a, b)| usize::from(b - a) + 1))
                    .sum();
                served == 16384
            })
    }

    /// Moves `slot` with its keys to the primary at `to`, the way `redis-cli --cluster
    /// reshard` does (IMPORTING/MIGRATING, `MIGRATE` in batches, `SETSLOT NODE`), while clients
    /// keep running: they see `ASK` during the move and `MOVED` after it.
    pub fn migrate_slot(&mut self, slot: u16, to: usize) -> Result<(), TestRedisError> {
        let from = self.primary_of_slot(slot)?;
        if from == to {
            return Ok(());
        }
        let err = |what: &str, e: redis::RedisError| unavailable(format!("{what}: {e}"));
        let mut src = connect(&self.admin_url(from)).map_err(|e| err("connect", e))?;
        let mut dst = connect(&self.admin_url(to)).map_err(|e| err("connect", e))?;
        let src_id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut src)
            .map_err(|e| err("MYID", e))?;
        let dst_id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut dst)
            .map_err(|e| err("MYID", e))?;
        let setslot = |conn: &mut redis::Connection, state: &str, id: &str| {
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .query::<()>(conn)
        };
        setslot(&mut dst, "IMPORTING", &src_id).map_err(|e| err("SETSLOT IMPORTING", e))?;
        setslot(&mut src, "MIGRATING", &dst_id).map_err(|e| err("SETSLOT MIGRATING", e))?;
        let port = self.nodes[to].port();
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut src)
                .map_err(|e| err("GETKEYSINSLOT", e))?;
            if keys.is_empty() {
                break;
            }
            redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query::<()>(&mut src)
                .map_err(|e| err("MIGRATE", e))?;
        }
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_running() {
                continue;
            }
            if let Ok(mut conn) = connect(&self.admin_url(i)) {
                // Replicas refuse SETSLOT; the primaries' word is what counts.
                let _ = setslot(&mut conn, "NODE", &dst_id);
            }
        }
        Ok(())
    }

    fn any_connection(&mut self) -> Result<redis::Connection, TestRedisError> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_running() {
                if let Ok(conn) = connect(&self.admin_url(i)) {
                    return Ok(conn);
                }
            }
        }
        Err(unavailable("no cluster node answers".into()))
    }

    fn index_of_port(&mut self, port: u16) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.nodes[i].port() == port && self.nodes[i].is_running())
    }

    fn topology(&mut self) -> Result<Vec<NodeLine>, TestRedisError> {
        let mut conn = self.any_connection()?;
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut conn)
            .map_err(|e| unavailable(format!("CLUSTER NODES: {e}")))?;
        Ok(text.lines().filter_map(NodeLine::parse).collect())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One line of `CLUSTER NODES`: `<id> <ip:port@cport> <flags> <master> … <slot ranges>`.
struct NodeLine {
    port: u16,
    primary: bool,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let addr = fields.get(1)?;
        let port = addr.split('@').next()?.rsplit(':').next()?.parse().ok()?;
        let flags = fields.get(2)?;
        let primary = flags.split(',').any(|f| f == "master") && !flags.contains("fail");
        let slots = fields
            .iter()
            .skip(8)
            .filter(|s| !s.starts_with('['))
            .filter_map(|range| match range.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => range.parse().ok().map(|s| (s, s)),
            })
            .collect();
        Some(Self {
            port,
            primary,
            slots,
        })
    }
}

/// True for a primary, or a replica whose replication link is up.
pub(super) fn replica_synced_or_primary(url: &str) -> bool {
    connect(url)
        .and_then(|mut c| {
            redis::cmd("INFO")
                .arg("replication")
                .query::<String>(&mut c)
        })
        .is_ok_and(|info| info.contains("role:master") || info.contains("master_link_status:up"))
}

/// A free port whose cluster-bus port (+10 000) is also valid and free.
fn cluster_port() -> u16 {
    loop {
        let port = super::process::free_port();
        if port > 0
            && port <= 55_535
            && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_lines_parse() {
        let line =
            "07c3 127.0.0.1:30004@40004 myself,master - 0 0 1 connected 0-5460 5462 [5461->-e7d1]";
        let node = NodeLine::parse(line).unwrap();
        assert_eq!(node.port, 30004);
        assert!(node.primary);
        assert_eq!(node.slots, vec![(0, 5460), (5462, 5462)]);
        let failed = "e7d1 127.0.0.1:30005@40005 master,fail - 0 0 2 connected 5461-10922";
        assert!(!NodeLine::parse(failed).unwrap().primary);
        let replica = "a1b2 127.0.0.1:30006@40006 slave 07c3 0 0 1 connected";
        let replica = NodeLine::parse(replica).unwrap();
        assert!(!replica.primary && replica.slots.is_empty());
    }

    #[test]
    fn a_cluster_forms_fails_over_and_moves_slots() {
        let mut cluster = RedisCluster::start().expect("a local cluster");
        assert_eq!(cluster.len(), 6);
        let key = "t:cmds:arith";
        let owner = cluster.primary_of(key).unwrap();
        cluster.node(owner).kill();
        let healthy = cluster.wait_healthy(Duration::from_secs(30));
        if !healthy {
            let mut conn = cluster.any_connection().unwrap();
            let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut conn).unwrap();
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut conn).unwrap();
            panic!("not healthy:\n{nodes}\n{info}");
        }
        let new_owner = cluster.primary_of(key).unwrap();
        assert_ne!(new_owner, owner);
        let slot = cluster.slot_of(key).unwrap();
        // Only primaries take slots: the primary of another slot range.
        let target = [0u16, 8000, 16000]
            .into_iter()
            .filter_map(|s| cluster.primary_of_slot(s).ok())
            .find(|&p| p != new_owner)
            .expect("another primary");
        cluster.migrate_slot(slot, target).unwrap();
        assert_eq!(cluster.primary_of(key).unwrap(), target);
    }
}
