//! Key, group and field names (spec §6.1, §6.2). Exported so tools and tests can find a
//! service's streams exactly as the Python and TypeScript peers name them.

/// `<prefix>:cmds:<service>`: the stream clients write requests and notifications to.
pub fn command_stream(key_prefix: &str, service: &str) -> String {
    format!("{key_prefix}:cmds:{service}")
}

/// `<prefix>:replies:<client-instance-id>`: the stream servers write a client's responses to.
pub fn reply_stream(key_prefix: &str, client_instance_id: &str) -> String {
    format!("{key_prefix}:replies:{client_instance_id}")
}

/// `<prefix>:replies:`: what every reply stream key of this prefix starts with. A server writes
/// replies only to keys of this shape, whatever an entry's `reply-to` says.
pub fn reply_stream_prefix(key_prefix: &str) -> String {
    format!("{key_prefix}:replies:")
}

/// The consumer group on a command stream is named after the service, so every server of the
/// service competes for its entries.
pub fn consumer_group_name(service: &str) -> String {
    service.to_owned()
}

/// `<service>:<server-instance-id>`: one consumer per server and service.
pub fn consumer_name(service: &str, server_instance_id: &str) -> String {
    format!("{service}:{server_instance_id}")
}

/// `<prefix>:dead:<service>`: where entries go after too many deliveries. Not a peer key: the
/// peers retry forever.
pub fn dead_letter_stream(key_prefix: &str, service: &str) -> String {
    format!("{key_prefix}:dead:{service}")
}

/// `<prefix>:presence`: sorted set of service names, scored by the latest expiry (ms, Redis
/// clock) any of their instances published, so `discover(None)` finds every service with one
/// read. Not a peer key.
pub fn presence_services(key_prefix: &str) -> String {
    format!("{key_prefix}:presence")
}

/// `<prefix>:presence:<service>`: sorted set of the instance ids that published presence for
/// the service, scored by when their record expires (ms, Redis clock; 0 once stopped). An
/// expired member is a dead instance whose consumer may be removed. Not a peer key.
pub fn presence_instances(key_prefix: &str, service: &str) -> String {
    format!("{key_prefix}:presence:{service}")
}

/// `<prefix>:presence:<service>:<instance-id>`: the instance's JSON record, with a TTL renewed
/// by its heartbeat. Service names have no `:`, so this never equals another service's
/// [`presence_instances`] key. Not a peer key.
pub fn presence_record(key_prefix: &str, service: &str, instance_id: &str) -> String {
    format!("{key_prefix}:presence:{service}:{instance_id}")
}

/// Entry field names and values. All values are strings on the wire.
pub mod fields {
    /// Written as [`TYPE_RPC`] on every entry; never read (as the peers).
    pub const TYPE: &str = "type";
    /// The only value of [`TYPE`].
    pub const TYPE_RPC: &str = "rpc";
    /// The JSON envelope.
    pub const ENVELOPE: &str = "envelope";
    /// The reply stream of the caller (requests only).
    pub const REPLY_TO: &str = "reply-to";
    /// Extra field written by this crate's client on requests: the caller's timeout in
    /// milliseconds, counted from the entry id's timestamp. Peers ignore it.
    pub const TIMEOUT_MS: &str = "timeout-ms";
    /// Added to a dead-lettered entry: why it was moved.
    pub const DEAD_REASON: &str = "dead-reason";
    /// Added to a dead-lettered entry: its id in the command stream.
    pub const DEAD_ENTRY_ID: &str = "dead-entry-id";
    /// Added to a dead-lettered entry: how many times it had been delivered.
    pub const DEAD_DELIVERIES: &str = "dead-deliveries";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_peers() {
        assert_eq!(command_stream("app", "arith"), "app:cmds:arith");
        assert_eq!(reply_stream("app", "c1"), "app:replies:c1");
        assert!(reply_stream("app", "c1").starts_with(&reply_stream_prefix("app")));
        assert_eq!(consumer_group_name("arith"), "arith");
        assert_eq!(consumer_name("arith", "s1"), "arith:s1");
        assert_eq!(dead_letter_stream("app", "arith"), "app:dead:arith");
        assert_eq!(presence_services("app"), "app:presence");
        assert_eq!(presence_instances("app", "arith"), "app:presence:arith");
        assert_eq!(
            presence_record("app", "arith", "s1"),
            "app:presence:arith:s1"
        );
    }
}
