//! The README's least-privilege ACL rules ("Deploying", "ACL users") for any key prefix, with
//! the additions a deployment needs (`+cluster|slots` on a cluster, `+role` behind Sentinel).
//! `tests/acl.rs` keeps the lines verbatim; this builds the same rules for the tests that run
//! them elsewhere.

/// Which documented user.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Server,
    Client,
}

/// The commands of each role, as in the README.
fn commands(role: Role) -> &'static str {
    match role {
        Role::Server => {
            "+hello +ping +time +multi +exec +client|id +client|unblock +xgroup|create \
            +xreadgroup +xack +xadd +pexpire +xautoclaim +xclaim +xpending +xinfo|groups +xtrim \
            +set +del +exists +zadd +zrem +zrange +zrangebyscore +eval +xinfo|consumers \
            +xgroup|delconsumer"
        }
        Role::Client => {
            "+hello +ping +xadd +xread +xtrim +xinfo|stream +xinfo|groups +del +time +zrange +get"
        }
    }
}

/// `ACL SETUSER <name>` arguments: on, the password, the prefix's keys, the role's commands and
/// `extra`.
pub(crate) fn rules(prefix: &str, password: &str, role: Role, extra: &[&str]) -> Vec<String> {
    [
        "on".to_owned(),
        format!(">{password}"),
        "resetchannels".into(),
    ]
    .into_iter()
    .chain([format!("~{prefix}:*"), "-@all".into()])
    .chain(commands(role).split_whitespace().map(String::from))
    .chain(extra.iter().map(|e| (*e).to_owned()))
    .collect()
}

/// Runs `ACL SETUSER name rules…` on the Redis (or sentinel) at `url`.
pub(crate) fn set_user(url: &str, name: &str, rules: &[String]) {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg(rules)
        .query(&mut c)
        .unwrap();
}
