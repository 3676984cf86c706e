//! `clamator pending <service>`: XPENDING of the service's group, with each entry's method
//! read from its envelope (XRANGE id id).

use std::time::Duration;

use clamator_over_redis::keys::{command_stream, consumer_group_name, fields};
use redis::Value;
use serde_json::{json, Value as Json};

use crate::cli::{Global, PendingArgs};
use crate::error::{CliError, CliResult};
use crate::output::{human_duration, Out, Table};
use crate::store::{connect, entry_by_id, envelope_method, int, prefix, text};

/// One pending entry.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Entry id in the command stream.
    pub id: String,
    /// The consumer it was delivered to (`<service>:<server-instance-id>`).
    pub consumer: String,
    /// Milliseconds since it was last delivered (or its idle time refreshed).
    pub idle_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// `<service>.<method>` of its envelope; `None` if the entry is gone or unreadable.
    pub method: Option<String>,
}

/// `clamator pending <service>`.
pub async fn run(g: &Global, out: &Out, args: &PendingArgs) -> CliResult {
    let prefix = prefix(g)?;
    let stream = command_stream(&prefix, &args.service);
    let group = consumer_group_name(&args.service);
    let mut con = connect(&g.redis_url, Duration::from_secs(10)).await?;
    let reply: Value = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(&group)
        .arg("-")
        .arg("+")
        .arg(args.limit.max(1))
        .query_async(&mut con)
        .await
        .map_err(|e| {
            if e.code() == Some("NOGROUP") {
                CliError::transport(format!(
                    "{stream} has no consumer group \"{group}\": no server ever served \"{}\"",
                    args.service
                ))
                .hint("check --prefix and the service name; `clamator services` lists them")
            } else {
                CliError::redis(&format!("XPENDING {stream}"), &e)
            }
        })?;
    let mut rows = Vec::new();
    if let Value::Array(items) = &reply {
        for item in items {
            let Value::Array(p) = item else { continue };
            let (Some(id), Some(consumer)) = (p.first().and_then(text), p.get(1).and_then(text))
            else {
                continue;
            };
            rows.push(PendingRow {
                id,
                consumer,
                idle_ms: p.get(2).and_then(int).unwrap_or(0).max(0) as u64,
                deliveries: p.get(3).and_then(int).unwrap_or(0).max(0) as u64,
                method: None,
            });
        }
    }
    out.debug(&format!(
        "XPENDING {stream} {group}: {} entries (limit {})",
        rows.len(),
        args.limit
    ));
    let bar = out.progress(rows.len() as u64, "reading envelopes");
    for row in &mut rows {
        row.method = entry_by_id(&mut con, &stream, &row.id)
            .await?
            .and_then(|e| e.get(fields::ENVELOPE).and_then(envelope_method))
            .map(|(m, _)| m);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if out.json {
        let items: Vec<Json> = rows
            .iter()
            .map(|r| {
                json!({"id": r.id, "consumer": r.consumer, "idleMs": r.idle_ms,
                       "deliveries": r.deliveries, "method": r.method})
            })
            .collect();
        out.json_doc(&json!({"service": args.service, "stream": stream, "pending": items}));
        return Ok(());
    }
    if rows.is_empty() {
        out.note(&format!("nothing pending on {stream}"));
        return Ok(());
    }
    let mut table = Table::new(&["ID", "CONSUMER", "IDLE", "DELIVERIES", "METHOD"]);
    for r in &rows {
        table.row(vec![
            r.id.clone(),
            r.consumer.clone(),
            human_duration(Duration::from_millis(r.idle_ms)),
            r.deliveries.to_string(),
            r.method
                .clone()
                .unwrap_or_else(|| "(entry gone)".to_owned()),
        ]);
    }
    out.line(&table.render());
    Ok(())
}
