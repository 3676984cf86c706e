//! `clamator dead list|show|replay|purge`: the dead-letter stream `<prefix>:dead:<service>`.
//!
//! A dead letter keeps the original entry's fields (`type`, `envelope`, `reply-to`,
//! `timeout-ms`) and adds `dead-reason`, `dead-entry-id` and `dead-deliveries`.

use std::time::Duration;

use clamator_over_redis::keys::{command_stream, dead_letter_stream, fields};
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde_json::{json, Map, Value as Json};

use crate::cli::{DeadCommand, Global};
use crate::error::{CliError, CliResult};
use crate::output::{human_duration, Out, Table};
use crate::store::{
    self, connect, entries, entry_by_id, envelope_method, has_group, is_stream_id, prefix, query,
    Entry,
};

/// Fields copied back to the command stream on replay, in the order the peers write them.
pub const REPLAYED_FIELDS: [&str; 4] = [
    fields::TYPE,
    fields::ENVELOPE,
    fields::REPLY_TO,
    fields::TIMEOUT_MS,
];

/// Runs a `dead` subcommand.
pub async fn run(g: &Global, out: &Out, cmd: &DeadCommand) -> CliResult {
    let prefix = prefix(g)?;
    let mut con = connect(&g.redis_url, Duration::from_secs(10)).await?;
    match cmd {
        DeadCommand::List { service, limit } => list(&mut con, out, &prefix, service, *limit).await,
        DeadCommand::Show { service, id } => show(&mut con, out, &prefix, service, id).await,
        DeadCommand::Replay {
            service,
            ids,
            all,
            dry_run,
        } => replay(&mut con, out, &prefix, service, ids, *all, *dry_run).await,
        DeadCommand::Purge {
            service,
            older_than,
            dry_run,
        } => purge(&mut con, out, &prefix, service, *older_than, *dry_run).await,
    }
}

/// Up to `count` entries of `key` after `after` (exclusive; `None` = from the start).
async fn page(
    con: &mut MultiplexedConnection,
    key: &str,
    after: Option<&str>,
    end: &str,
    count: usize,
) -> CliResult<Vec<Entry>> {
    let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
    let v: Value = query(
        con,
        redis::cmd("XRANGE")
            .arg(key)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(count),
        &format!("XRANGE {key}"),
    )
    .await?;
    Ok(entries(&v))
}

fn method_of(e: &Entry) -> Option<String> {
    e.get(fields::ENVELOPE)
        .and_then(envelope_method)
        .map(|(m, _)| m)
}

fn entry_json(e: &Entry, now_ms: u64) -> Json {
    json!({
        "id": e.id,
        "entryId": e.get(fields::DEAD_ENTRY_ID),
        "method": method_of(e),
        "deliveries": e.get(fields::DEAD_DELIVERIES).and_then(|d| d.parse::<u64>().ok()),
        "reason": e.get(fields::DEAD_REASON),
        "replyTo": e.get(fields::REPLY_TO),
        "ageMs": store::id_ms(&e.id).map(|at| now_ms.saturating_sub(at)),
    })
}

async fn list(
    con: &mut MultiplexedConnection,
    out: &Out,
    prefix: &str,
    service: &str,
    limit: usize,
) -> CliResult {
    let key = dead_letter_stream(prefix, service);
    let now = store::redis_now_ms(con).await?;
    let rows = page(con, &key, None, "+", limit.max(1)).await?;
    if out.json {
        let items: Vec<Json> = rows.iter().map(|e| entry_json(e, now)).collect();
        out.json_doc(&json!({"service": service, "stream": key, "dead": items}));
        return Ok(());
    }
    if rows.is_empty() {
        out.note(&format!("no dead letters in {key}"));
        return Ok(());
    }
    let mut table = Table::new(&["ID", "ENTRY ID", "AGE", "DELIVERIES", "METHOD", "REASON"]);
    for e in &rows {
        let age = store::id_ms(&e.id).map_or_else(
            || "-".to_owned(),
            |at| human_duration(Duration::from_millis(now.saturating_sub(at))),
        );
        table.row(vec![
            e.id.clone(),
            e.get(fields::DEAD_ENTRY_ID).unwrap_or("-").to_owned(),
            age,
            e.get(fields::DEAD_DELIVERIES).unwrap_or("-").to_owned(),
            method_of(e).unwrap_or_else(|| "-".to_owned()),
            e.get(fields::DEAD_REASON).unwrap_or("-").to_owned(),
        ]);
    }
    out.line(&table.render());
    Ok(())
}

fn check_id(id: &str) -> CliResult {
    if is_stream_id(id) {
        Ok(())
    } else {
        Err(
            CliError::usage(format!("\"{id}\" is not a stream entry id"))
                .hint("ids look like 1764670000000-0; `clamator dead list <service>` shows them"),
        )
    }
}

fn not_found(id: &str, key: &str) -> CliError {
    CliError::usage(format!("no dead letter {id} in {key}"))
        .hint("`clamator dead list <service>` shows the ids")
}

async fn show(
    con: &mut MultiplexedConnection,
    out: &Out,
    prefix: &str,
    service: &str,
    id: &str,
) -> CliResult {
    check_id(id)?;
    let key = dead_letter_stream(prefix, service);
    let entry = entry_by_id(con, &key, id)
        .await?
        .ok_or_else(|| not_found(id, &key))?;
    let envelope: Option<Json> = entry
        .get(fields::ENVELOPE)
        .and_then(|t| serde_json::from_str(t).ok());
    if out.json {
        let mut map = Map::new();
        for (k, v) in &entry.fields {
            map.insert(k.clone(), Json::String(v.clone()));
        }
        out.json_doc(&json!({"id": entry.id, "stream": key, "fields": map, "envelope": envelope}));
        return Ok(());
    }
    let mut table = Table::new(&["FIELD", "VALUE"]);
    table.row(vec!["id".into(), entry.id.clone()]);
    for (k, v) in &entry.fields {
        if k != fields::ENVELOPE {
            table.row(vec![k.clone(), v.clone()]);
        }
    }
    out.line(&table.render());
    match envelope {
        Some(env) => out.line(&format!(
            "envelope:\n{}",
            serde_json::to_string_pretty(&env).unwrap_or_default()
        )),
        None => out.line(&format!(
            "envelope (not JSON): {}",
            entry.get(fields::ENVELOPE).unwrap_or("(missing)")
        )),
    }
    Ok(())
}

/// Adds the original fields of `e` to `stream`; the new entry id.
async fn re_add(con: &mut MultiplexedConnection, stream: &str, e: &Entry) -> CliResult<String> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for name in REPLAYED_FIELDS {
        match (name, e.get(name)) {
            (_, Some(v)) => cmd.arg(name).arg(v),
            // `type` is never read, but every writer sets it.
            (fields::TYPE, None) => cmd.arg(name).arg(fields::TYPE_RPC),
            _ => continue,
        };
    }
    query(con, &cmd, &format!("XADD {stream}")).await
}

async fn replay(
    con: &mut MultiplexedConnection,
    out: &Out,
    prefix: &str,
    service: &str,
    ids: &[String],
    all: bool,
    dry_run: bool,
) -> CliResult {
    let key = dead_letter_stream(prefix, service);
    let stream = command_stream(prefix, service);
    for id in ids {
        check_id(id)?;
    }
    if !dry_run && !has_group(con, &stream, service).await {
        out.note(&format!(
            "warning: {stream} has no consumer group yet; a server started later at `$` would not see \
             the replayed entries"
        ));
    }
    // Work list: given ids, or every entry up to the last one present now.
    let mut todo: Vec<String> = ids.to_vec();
    if all {
        let mut after: Option<String> = None;
        loop {
            let batch = page(con, &key, after.as_deref(), "+", 500).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            todo.extend(batch.into_iter().map(|e| e.id));
        }
    }
    let bar = out.progress(
        todo.len() as u64,
        if dry_run { "checking" } else { "replaying" },
    );
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for id in &todo {
        let Some(entry) = entry_by_id(con, &key, id).await? else {
            missing.push(id.clone());
            results.push(json!({"id": id, "status": "missing"}));
            bar.inc(1);
            continue;
        };
        if entry.get(fields::ENVELOPE).is_none() {
            missing.push(id.clone());
            results.push(json!({"id": id, "status": "no envelope"}));
            bar.inc(1);
            continue;
        }
        let method = method_of(&entry);
        if dry_run {
            results
                .push(json!({"id": id, "method": method, "status": "would replay", "newId": null}));
        } else {
            // Add first, delete after: an interruption leaves a duplicate, never a loss.
            let new_id = re_add(con, &stream, &entry).await?;
            let _: i64 = query(
                con,
                redis::cmd("XDEL").arg(&key).arg(id),
                &format!("XDEL {key}"),
            )
            .await?;
            out.debug(&format!("XADD {stream} -> {new_id}, then XDEL {key} {id}"));
            results
                .push(json!({"id": id, "method": method, "status": "replayed", "newId": new_id}));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let done = results.len() - missing.len();
    if out.json {
        out.json_doc(
            &json!({"service": service, "stream": stream, "dryRun": dry_run,
                             "replayed": if dry_run { 0 } else { done }, "results": results}),
        );
    } else if results.is_empty() {
        out.note(&format!("no dead letters in {key}"));
    } else {
        let mut table = Table::new(&["ID", "METHOD", "STATUS", "NEW ID"]);
        for r in &results {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            table.row(vec![s("id"), s("method"), s("status"), s("newId")]);
        }
        out.line(&table.render());
        let verb = if dry_run { "would replay" } else { "replayed" };
        out.note(&format!("{verb} {done} of {} to {stream}", results.len()));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        let err = not_found(&missing.join(", "), &key);
        Err(if out.json { err.already_printed() } else { err })
    }
}

async fn purge(
    con: &mut MultiplexedConnection,
    out: &Out,
    prefix: &str,
    service: &str,
    older_than: Option<Duration>,
    dry_run: bool,
) -> CliResult {
    let key = dead_letter_stream(prefix, service);
    let threshold = match older_than {
        Some(age) => {
            let now = store::redis_now_ms(con).await?;
            let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            Some(now.saturating_sub(age_ms))
        }
        None => None,
    };
    let deleted: u64 = match (threshold, dry_run) {
        (None, true) => query(con, redis::cmd("XLEN").arg(&key), "XLEN").await?,
        (None, false) => {
            query(
                con,
                redis::cmd("XTRIM").arg(&key).arg("MAXLEN").arg(0),
                &format!("XTRIM {key}"),
            )
            .await?
        }
        (Some(t), false) => {
            query(
                con,
                redis::cmd("XTRIM")
                    .arg(&key)
                    .arg("MINID")
                    .arg(format!("{t}-0")),
                &format!("XTRIM {key}"),
            )
            .await?
        }
        (Some(t), true) => {
            let end = format!("({t}-0");
            let mut n = 0u64;
            let mut after: Option<String> = None;
            loop {
                let batch = page(con, &key, after.as_deref(), &end, 1000).await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id.clone());
                n += batch.len() as u64;
            }
            n
        }
    };
    if out.json {
        out.json_doc(
            &json!({"service": service, "stream": key, "dryRun": dry_run,
                             "deleted": if dry_run { 0 } else { deleted }, "matched": deleted}),
        );
    } else {
        let what = older_than.map_or_else(String::new, |d| {
            format!(" older than {}", humantime::format_duration(d))
        });
        let verb = if dry_run { "would delete" } else { "deleted" };
        let noun = if deleted == 1 { "letter" } else { "letters" };
        out.line(&format!("{verb} {deleted} dead {noun}{what} from {key}"));
    }
    Ok(())
}
