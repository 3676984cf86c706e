//! Start-time checks that turn a deployment mistake into one clear error at `start()` instead
//! of loops that fail later: a Redis too old for the commands we send, and an ACL user that may
//! not run one of them.
//!
//! Each permission probe is a harmless form of a command the transport sends (`XADD …
//! NOMKSTREAM` on a key that does not exist, `XACK` of id `0-1`, `XAUTOCLAIM` with an idle time
//! nothing reaches, …), sent in one pipeline whose errors are kept per command. Only `NOPERM`
//! (and `NOAUTH` / `WRONGPASS`) fail the start; "no such key" and the like mean the command is
//! allowed.

use redis::{Cmd, RedisError, Value};

use super::{Conn, GroupKeys};
use crate::connection::{has_code, is_connection_error};

/// The oldest Redis the transport runs on: `XAUTOCLAIM` and `XADD … NOMKSTREAM` are 6.2.
pub(crate) const MIN_VERSION: (u32, u32) = (6, 2);

/// An idle time no entry reaches, so a probing claim claims nothing.
const NEVER_IDLE: &str = "9223372036854775807";

/// The largest stream id: a probing `XAUTOCLAIM` starting there scans no pending entry (from
/// `0-0` it would also purge references to deleted entries, a side effect a probe must not have).
const LAST_ID: &str = "18446744073709551615-18446744073709551615";

/// What a preflight found; its text names the version or the command refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The server's version (from `HELLO`) is older than [`MIN_VERSION`].
    TooOld(String),
    /// The user may not run this command (Redis's own `NOPERM` text kept).
    Denied { command: String, message: String },
    /// Wrong password, or no authentication where the server requires it.
    Auth(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooOld(v) => write!(
                f,
                "Redis {v} is too old: clamator needs Redis 6.2 or newer (XAUTOCLAIM, XADD NOMKSTREAM)"
            ),
            Self::Denied { command, message } => write!(
                f,
                "the Redis user may not run {command} ({message}); grant the ACL in the README's \
                 \"Deploying\" section"
            ),
            Self::Auth(m) => write!(f, "Redis authentication failed: {m}"),
        }
    }
}

/// `HELLO` (allowed to every user, unlike `INFO`) and its `version`.
pub(crate) async fn check_version(c: &impl Conn) -> Result<Result<(), Refusal>, RedisError> {
    let reply: Value = match c.query(&redis::cmd("HELLO")).await {
        Ok(v) => v,
        Err(e) => return auth_or(e),
    };
    let Some(version) = hello_version(&reply) else {
        return Ok(Ok(())); // a proxy that answers HELLO oddly: let the commands speak
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    Ok(if found < MIN_VERSION {
        Err(Refusal::TooOld(version))
    } else {
        Ok(())
    })
}

fn hello_version(reply: &Value) -> Option<String> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| Some((p.first()?, p.get(1)?)))
            .collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (k, v)).collect(),
        _ => return None,
    };
    pairs.into_iter().find_map(|(k, v)| {
        let key: String = redis::from_redis_value_ref(k).ok()?;
        (key == "version").then(|| redis::from_redis_value_ref(v).ok())?
    })
}

/// Probes of every command a server sends for one service.
pub(crate) fn server_probes(keys: &GroupKeys, reply_probe: &str, dead_letter: &str) -> Vec<Cmd> {
    let mut xreadgroup = redis::cmd("XREADGROUP");
    xreadgroup
        .arg("GROUP")
        .arg(&keys.group)
        .arg(&keys.consumer)
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&keys.stream)
        // History after the last possible id: nothing, so no delivery count moves.
        .arg(LAST_ID);
    let mut xack = redis::cmd("XACK");
    xack.arg(&keys.stream).arg(&keys.group).arg("0-1");
    let mut xautoclaim = redis::cmd("XAUTOCLAIM");
    xautoclaim
        .arg(&keys.stream)
        .arg(&keys.group)
        .arg(&keys.consumer)
        .arg(NEVER_IDLE)
        .arg(LAST_ID)
        .arg("COUNT")
        .arg(1)
        .arg("JUSTID");
    let mut xclaim = redis::cmd("XCLAIM");
    xclaim
        .arg(&keys.stream)
        .arg(&keys.group)
        .arg(&keys.consumer)
        .arg(NEVER_IDLE)
        .arg("0-1")
        .arg("JUSTID");
    let mut xpending = redis::cmd("XPENDING");
    xpending.arg(&keys.stream).arg(&keys.group);
    let mut xinfo = redis::cmd("XINFO");
    xinfo.arg("GROUPS").arg(&keys.stream);
    let mut xtrim = redis::cmd("XTRIM");
    xtrim.arg(&keys.stream).arg("MINID").arg("0");
    vec![
        xreadgroup,
        xack,
        xautoclaim,
        xclaim,
        xpending,
        xinfo,
        xtrim,
        absent_xadd(reply_probe),
        pexpire(reply_probe),
        absent_xadd(dead_letter),
    ]
}

/// Probes of every command a client sends (on its own reply stream, still empty at start, and
/// on `cmds_probe`, a command stream under its prefix).
pub(crate) fn client_probes(reply_stream: &str, cmds_probe: &str) -> Vec<Cmd> {
    let mut xread = redis::cmd("XREAD");
    xread
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(reply_stream)
        .arg("0");
    let mut xtrim = redis::cmd("XTRIM");
    xtrim.arg(reply_stream).arg("MINID").arg("0");
    let mut xinfo_stream = redis::cmd("XINFO");
    xinfo_stream.arg("STREAM").arg(reply_stream);
    let mut xinfo_groups = redis::cmd("XINFO");
    xinfo_groups.arg("GROUPS").arg(cmds_probe);
    let mut del = redis::cmd("DEL");
    del.arg(reply_stream);
    vec![
        xread,
        xtrim,
        xinfo_stream,
        xinfo_groups,
        absent_xadd(cmds_probe),
        del,
    ]
}

/// `XADD key NOMKSTREAM * probe 1`: checks the permission, writes nothing to a missing key.
fn absent_xadd(key: &str) -> Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key)
        .arg("NOMKSTREAM")
        .arg("*")
        .arg("probe")
        .arg("1");
    cmd
}

fn pexpire(key: &str) -> Cmd {
    let mut cmd = redis::cmd("PEXPIRE");
    cmd.arg(key).arg(1);
    cmd
}

/// Runs `probes` in one round trip; the first permission refusal wins.
pub(crate) async fn check_permissions(
    c: &impl Conn,
    probes: Vec<Cmd>,
) -> Result<Result<(), Refusal>, RedisError> {
    let names: Vec<String> = probes.iter().map(command_name).collect();
    let results: Vec<redis::RedisResult<Value>> = if c.is_cluster() {
        // The probes' keys sit on different slots: one command each, each on its own node.
        let mut results = Vec::with_capacity(probes.len());
        for probe in &probes {
            match c.query::<Value>(probe).await {
                Err(e) if is_connection_error(&e) => return Err(e),
                r => results.push(r),
            }
        }
        results
    } else {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for probe in probes {
            pipe.add_command(probe);
        }
        match c.pipe(&pipe).await {
            Ok(r) => r,
            Err(e) => return auth_or(e),
        }
    };
    for (name, result) in names.into_iter().zip(results) {
        if let Err(e) = result {
            if has_code(&e, "NOPERM") {
                return Ok(Err(Refusal::Denied {
                    command: name,
                    message: e.to_string(),
                }));
            }
            if has_code(&e, "NOAUTH") || has_code(&e, "WRONGPASS") {
                return Ok(Err(Refusal::Auth(e.to_string())));
            }
        }
    }
    Ok(Ok(()))
}

fn auth_or(e: RedisError) -> Result<Result<(), Refusal>, RedisError> {
    if has_code(&e, "NOAUTH") || has_code(&e, "WRONGPASS") {
        Ok(Err(Refusal::Auth(e.to_string())))
    } else {
        Err(e)
    }
}

/// `XINFO GROUPS` for an `XINFO` probe, else the command's name.
fn command_name(cmd: &Cmd) -> String {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    });
    let first = args.next().unwrap_or_default();
    if first == "XINFO" {
        format!("{first} {}", args.next().unwrap_or_default())
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_version_in_resp2_and_resp3() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let resp2 = Value::Array(vec![
            bulk("server"),
            bulk("redis"),
            bulk("version"),
            bulk("6.0.16"),
        ]);
        assert_eq!(hello_version(&resp2).as_deref(), Some("6.0.16"));
        let resp3 = Value::Map(vec![(bulk("version"), bulk("7.2.4"))]);
        assert_eq!(hello_version(&resp3).as_deref(), Some("7.2.4"));
        assert_eq!(hello_version(&Value::Nil), None);
    }

    #[test]
    fn refusals_say_what_to_do() {
        let old = Refusal::TooOld("6.0.16".into()).to_string();
        assert!(old.contains("6.0.16") && old.contains("6.2"), "{old}");
        let denied = Refusal::Denied {
            command: "XAUTOCLAIM".into(),
            message: "NOPERM …".into(),
        }
        .to_string();
        assert!(
            denied.contains("XAUTOCLAIM") && denied.contains("Deploying"),
            "{denied}"
        );
    }

    #[test]
    fn probes_are_named_by_their_command() {
        let keys = GroupKeys {
            stream: "p:cmds:s".into(),
            group: "s".into(),
            consumer: "s:i".into(),
        };
        let names: Vec<String> = server_probes(&keys, "p:replies:probe", "p:dead:s")
            .iter()
            .map(command_name)
            .collect();
        assert!(names.contains(&"XINFO GROUPS".to_owned()), "{names:?}");
        assert!(names.contains(&"XAUTOCLAIM".to_owned()));
    }
}
