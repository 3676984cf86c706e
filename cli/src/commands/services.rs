//! `clamator services`: one row per command stream under the prefix, from SCAN, XLEN,
//! XINFO GROUPS and XPENDING, and the live servers from the presence records (see the README's
//! "Discovery"): read-only, like every inspection command.

use clamator_over_redis::keys::{
    command_stream, consumer_group_name, dead_letter_stream, presence_instances, presence_record,
};
use clamator_protocol::{Instance, Liveness};
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde_json::{json, Value as Json};

use crate::cli::{Global, ServicesArgs};
use crate::error::CliResult;
use crate::output::{human_duration, Out, Table};
use crate::store::{self, connect, field, glob_escape, id_ms, int, pairs, prefix, query, text};

/// What `services` reports for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    /// Service name (the command stream's key suffix).
    pub service: String,
    /// `<prefix>:cmds:<service>`.
    pub stream: String,
    /// Whether the consumer group exists (a server ever served the service).
    pub group: bool,
    /// Consumers of the group (servers that ever joined; dead ones included).
    pub consumers: i64,
    /// XLEN of the command stream.
    pub entries: i64,
    /// Entries delivered and not acknowledged.
    pub pending: i64,
    /// Entries not yet delivered to the group (Redis 7+; `None` when Redis cannot tell).
    pub lag: Option<i64>,
    /// XLEN of the dead-letter stream.
    pub dead: i64,
    /// Age of the oldest pending entry (since it was written), ms.
    pub oldest_pending_ms: Option<u64>,
    /// The live servers of the service (a record whose heartbeat is younger than its TTL),
    /// by instance id. Peers publish no presence: their servers show only as consumers.
    pub instances: Vec<Instance>,
}

/// The live instances of `service`: the presence index's members whose record is still there
/// and fresh on Redis's clock (`now_ms`). Unreadable records are skipped, as `discover()` does.
pub async fn live_instances(
    con: &mut MultiplexedConnection,
    prefix: &str,
    service: &str,
    now_ms: u64,
) -> CliResult<Vec<Instance>> {
    let index = presence_instances(prefix, service);
    let ids: Vec<String> = query(
        con,
        redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1),
        &format!("ZRANGE {index}"),
    )
    .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids
        .iter()
        .map(|id| presence_record(prefix, service, id))
        .collect();
    let records: Vec<Option<String>> = query(
        con,
        redis::cmd("MGET").arg(&keys),
        "MGET of the presence records",
    )
    .await?;
    // Alive as `ping()` judges it: the record is there and its heartbeat within its TTL.
    let mut live: Vec<Instance> = records
        .into_iter()
        .flatten()
        .filter_map(|json| serde_json::from_str::<Instance>(&json).ok())
        .filter_map(|i| {
            let at = u64::try_from(i.heartbeat_at_ms).unwrap_or(0);
            let liveness = Liveness::alive(i, now_ms.saturating_sub(at));
            liveness.alive.then_some(liveness.instance).flatten()
        })
        .collect();
    live.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    Ok(live)
}

/// The command streams under `prefix`, sorted.
pub async fn command_streams(
    con: &mut MultiplexedConnection,
    prefix: &str,
) -> CliResult<Vec<String>> {
    let pattern = format!("{}:cmds:*", glob_escape(prefix));
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = query(
            con,
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("stream"),
            "SCAN for command streams",
        )
        .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Reads the figures of one service.
pub async fn service_row(
    con: &mut MultiplexedConnection,
    prefix: &str,
    service: &str,
    now_ms: u64,
) -> CliResult<ServiceRow> {
    let stream = command_stream(prefix, service);
    let group_name = consumer_group_name(service);
    let entries: i64 = query(con, redis::cmd("XLEN").arg(&stream), "XLEN").await?;
    let dead: i64 = query(
        con,
        redis::cmd("XLEN").arg(dead_letter_stream(prefix, service)),
        "XLEN of the dead-letter stream",
    )
    .await?;
    let groups: Value = query(
        con,
        redis::cmd("XINFO").arg("GROUPS").arg(&stream),
        &format!("XINFO GROUPS {stream}"),
    )
    .await?;
    let group = match &groups {
        Value::Array(gs) => gs
            .iter()
            .map(pairs)
            .find(|g| field(g, "name").and_then(text).as_deref() == Some(group_name.as_str())),
        _ => None,
    };
    let mut row = ServiceRow {
        service: service.to_owned(),
        stream: stream.clone(),
        group: group.is_some(),
        consumers: 0,
        entries,
        pending: 0,
        lag: None,
        dead,
        oldest_pending_ms: None,
        instances: live_instances(con, prefix, service, now_ms).await?,
    };
    let Some(group) = group else {
        return Ok(row);
    };
    row.consumers = field(&group, "consumers").and_then(int).unwrap_or(0);
    row.pending = field(&group, "pending").and_then(int).unwrap_or(0);
    row.lag = field(&group, "lag").and_then(int);
    if row.pending > 0 {
        let summary: Value = query(
            con,
            redis::cmd("XPENDING").arg(&stream).arg(&group_name),
            &format!("XPENDING {stream}"),
        )
        .await?;
        if let Value::Array(parts) = &summary {
            row.oldest_pending_ms = parts
                .get(1)
                .and_then(text)
                .and_then(|id| id_ms(&id))
                .map(|at| now_ms.saturating_sub(at));
        }
    }
    Ok(row)
}

impl ServiceRow {
    fn to_json(&self) -> Json {
        json!({
            "service": self.service, "stream": self.stream, "group": self.group,
            "live": self.instances.len(), "instances": self.instances,
            "consumers": self.consumers, "entries": self.entries, "pending": self.pending,
            "lag": self.lag, "deadLetters": self.dead, "oldestPendingMs": self.oldest_pending_ms,
        })
    }
}

/// `clamator services`.
pub async fn run(g: &Global, out: &Out, args: &ServicesArgs) -> CliResult {
    let prefix = prefix(g)?;
    let mut con = connect(&g.redis_url, std::time::Duration::from_secs(10)).await?;
    let now = store::redis_now_ms(&mut con).await?;
    let streams = command_streams(&mut con, &prefix).await?;
    out.debug(&format!(
        "SCAN {prefix}:cmds:* found {} command streams",
        streams.len()
    ));
    let bar = out.progress(streams.len() as u64, "reading services");
    let head = format!("{prefix}:cmds:");
    let mut rows = Vec::new();
    for key in &streams {
        let service = key.strip_prefix(&head).unwrap_or(key);
        rows.push(service_row(&mut con, &prefix, service, now).await?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if out.json {
        let rows: Vec<Json> = rows.iter().map(ServiceRow::to_json).collect();
        out.json_doc(&json!({"prefix": prefix, "services": rows}));
        return Ok(());
    }
    if rows.is_empty() {
        out.note(&format!(
            "no command streams under prefix \"{prefix}\" (nothing was ever called or served there)"
        ));
        return Ok(());
    }
    let mut table = Table::new(&[
        "SERVICE",
        "LIVE",
        "CONSUMERS",
        "ENTRIES",
        "PENDING",
        "LAG",
        "DEAD",
        "OLDEST PENDING",
    ]);
    for r in &rows {
        let dash = || "-".to_owned();
        table.row(vec![
            if r.group {
                r.service.clone()
            } else {
                format!("{} (no group)", r.service)
            },
            r.instances.len().to_string(),
            r.consumers.to_string(),
            r.entries.to_string(),
            r.pending.to_string(),
            r.lag.map_or_else(dash, |l| l.to_string()),
            r.dead.to_string(),
            r.oldest_pending_ms.map_or_else(dash, |ms| {
                human_duration(std::time::Duration::from_millis(ms))
            }),
        ]);
    }
    out.line(&table.render());
    if args.instances {
        out.line("");
        out.line(&instances_table(&rows, now).render());
    }
    Ok(())
}

/// One row per live instance: where it runs, since when, and how loaded it is.
fn instances_table(rows: &[ServiceRow], now_ms: u64) -> Table {
    let mut table = Table::new(&[
        "SERVICE",
        "INSTANCE",
        "HOST",
        "PID",
        "VERSION",
        "UP",
        "IN FLIGHT",
        "HANDLED",
        "ERRORS",
        "HEARTBEAT",
    ]);
    let ago = |at_ms: i64| {
        let at = u64::try_from(at_ms).unwrap_or(0);
        human_duration(std::time::Duration::from_millis(now_ms.saturating_sub(at)))
    };
    for r in rows {
        for i in &r.instances {
            table.row(vec![
                i.service.clone(),
                i.instance_id.clone(),
                i.host.clone(),
                i.pid.to_string(),
                i.version.clone(),
                ago(i.started_at_ms),
                i.in_flight.to_string(),
                i.handled.to_string(),
                i.errors.to_string(),
                format!("{} ago", ago(i.heartbeat_at_ms)),
            ]);
        }
    }
    table
}
