//! `clamator call` and `clamator notify`: one request or notification through the real client.

use std::io::Read;
use std::time::Duration;

use clamator_over_redis::keys::command_stream;
use clamator_over_redis::{RedisClientOptions, RedisRpcClient};
use clamator_protocol::{Error, TransportError};
use serde_json::{json, Value};

use crate::cli::{CallArgs, Global, NotifyArgs};
use crate::error::{CliError, CliResult};
use crate::output::{human_duration, Out};
use crate::store::{connect, has_group, prefix, split_target};

/// Params from the command line: absent → `{}`, `-` → stdin, else JSON text.
pub fn read_params(arg: Option<&str>) -> CliResult<Value> {
    let text = match arg {
        None => return Ok(json!({})),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::usage(format!("cannot read params from stdin: {e}")))?;
            s
        }
        Some(t) => t.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!("params are not valid JSON: {e}"))
            .hint(r#"quote them for the shell, e.g. '{"a": 2, "b": 3}'"#)
    })
}

/// A started client on the bus of the global options.
pub async fn client(g: &Global, timeout: Duration) -> CliResult<RedisRpcClient> {
    let opts = RedisClientOptions::new(prefix(g)?)
        .with_redis_url(g.redis_url.clone())
        .with_default_timeout(timeout);
    let client = RedisRpcClient::new(opts);
    client.start().await.map_err(|e| {
        CliError::transport(format!("cannot connect to Redis at {}: {e}", g.redis_url))
            .hint("is Redis running there? pass --redis-url or set REDIS_URL")
    })?;
    Ok(client)
}

/// Turns a failed call of `target` into the message, hint and exit code the user sees.
pub fn describe(e: &Error, g: &Global, target: &str, timeout: Duration) -> CliError {
    let prefix = g.prefix.as_deref().unwrap_or("");
    let service = target.split('.').next().unwrap_or(target);
    match e {
        Error::Rpc(rpc) => {
            let data = if rpc.data.is_null() {
                String::new()
            } else {
                format!(" (data: {})", rpc.data)
            };
            CliError::failed(format!(
                "{target} returned error {}: {}{data}",
                rpc.code, rpc.message
            ))
            .with_json(
                json!({"error": {"code": rpc.code, "message": rpc.message, "data": rpc.data}}),
            )
        }
        Error::Transport(TransportError::Timeout) => CliError::transport(format!(
            "{target}: no reply within {} (call timeout)",
            human_duration(timeout)
        ))
        .hint(format!(
            "is a server for \"{service}\" running with prefix \"{prefix}\"? \
             `clamator services` shows consumers and lag; slow methods need a longer --timeout"
        )),
        Error::Transport(TransportError::NoServer { service }) => CliError::transport(format!(
            "no server for service \"{service}\": {prefix}:cmds:{service} has no consumer group"
        ))
        .hint("start a server for it, or check --prefix; `clamator services` lists what is served"),
        Error::InvalidName(m) => CliError::usage(format!("{target}: {m}"))
            .hint("service and method names are like arith.add or arith.echoText"),
        Error::ParamsEncode(m) => CliError::usage(format!("{target}: {m}")),
        other => CliError::transport(format!("{target}: {other}"))
            .hint("is Redis reachable? pass --redis-url or set REDIS_URL"),
    }
}

/// `clamator call <service>.<method> [PARAMS] [--timeout]`.
pub async fn call(g: &Global, out: &Out, args: &CallArgs) -> CliResult {
    let (service, method) = split_target(&args.target)?;
    let params = read_params(args.params.as_deref())?;
    let client = client(g, args.timeout).await?;
    let started = std::time::Instant::now();
    let result = client
        .call_raw(service, method, params, Some(args.timeout))
        .await;
    client.stop().await;
    let result = result.map_err(|e| describe(&e, g, &args.target, args.timeout))?;
    out.debug(&format!(
        "{} answered in {}",
        args.target,
        human_duration(started.elapsed())
    ));
    out.value(&result);
    Ok(())
}

/// `clamator notify <service>.<method> [PARAMS]`.
pub async fn notify(g: &Global, out: &Out, args: &NotifyArgs) -> CliResult {
    let (service, method) = split_target(&args.target)?;
    let params = read_params(args.params.as_deref())?;
    let timeout = Duration::from_secs(5);
    if !args.force {
        // The client fails fast only for calls; a notification to nobody would sit unread.
        let mut con = connect(&g.redis_url, Duration::from_secs(10)).await?;
        let stream = command_stream(&prefix(g)?, service);
        if !has_group(&mut con, &stream, service).await {
            return Err(describe(
                &TransportError::NoServer {
                    service: service.to_owned(),
                }
                .into(),
                g,
                &args.target,
                timeout,
            )
            .hint("start a server for it, or check --prefix; --force sends it anyway"));
        }
    }
    let client = client(g, timeout).await?;
    let sent = client.notify_raw(service, method, params).await;
    client.stop().await;
    sent.map_err(|e| describe(&e, g, &args.target, timeout))?;
    if out.json {
        out.json_doc(&json!({"sent": true, "service": service, "method": method}));
    } else {
        out.note(&format!("sent notification {}", args.target));
    }
    Ok(())
}
