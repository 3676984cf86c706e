//! The named types stream replies decode into (`XREAD`, `XREADGROUP`, `XAUTOCLAIM`,
//! `XPENDING`, `XINFO`), in RESP2 or RESP3 shape, with fields as bytes or strings. Nothing here
//! panics on unexpected shapes: they decode to "nothing".
//!
//! `XPENDING` and `XINFO GROUPS` go through the redis crate's typed replies
//! ([`redis::streams`]). Entry replies (`XREAD`, `XREADGROUP`, `XAUTOCLAIM`) and `XINFO STREAM`
//! do not, because its types do not fit them: [`StreamId`](redis::streams::StreamId) keeps
//! fields in a `HashMap<String, Value>`, which loses their order (a dead letter copies an
//! entry's fields in order), needs UTF-8 field names, and costs a map per entry on the hot path
//! (and `StreamReadReply` clones the whole reply before decoding it); an entry deleted while
//! pending (nil fields, from `XREADGROUP … 0`) has no place in it; and
//! [`StreamInfoStreamReply`](redis::streams::StreamInfoStreamReply) has no `entries-added`,
//! which the reply-lost check needs.

use redis::streams::{StreamInfoGroupsReply, StreamPendingCountReply, StreamPendingReply};
use redis::{FromRedisValue, Value};

/// One stream entry with its fields in stream order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamEntry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StreamEntry {
    /// The first value of field `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The field as UTF-8 text; `Some(Err)` when it is present but not UTF-8.
    pub(crate) fn text(&self, name: &str) -> Option<Result<&str, std::str::Utf8Error>> {
        self.get(name).map(std::str::from_utf8)
    }
}

/// The text of a bulk, simple or verbatim string, or an integer's decimal form.
pub(crate) fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

pub(crate) fn string(v: &Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => string(other)?.parse().ok(),
    }
}

fn items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        _ => None,
    }
}

/// Key/value pairs of a RESP3 map or a flat RESP2 array.
pub(crate) fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(a) => a.chunks_exact(2).map(|c| (&c[0], &c[1])).collect(),
        _ => Vec::new(),
    }
}

/// One `[id, [field, value, …]]` entry; `Err(id)` when the entry was deleted (nil fields).
fn entry(v: &Value) -> Option<Result<StreamEntry, String>> {
    let parts = items(v)?;
    let id = string(parts.first()?)?;
    match parts.get(1) {
        None | Some(Value::Nil) => Some(Err(id)),
        Some(fields) => {
            let fields = pairs(fields)
                .into_iter()
                .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
                .collect();
            Some(Ok(StreamEntry { id, fields }))
        }
    }
}

/// The entries of one read: those still in the stream, in stream order, and the ids of
/// entries deleted while pending (their fields come back nil).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Entries {
    pub(crate) live: Vec<StreamEntry>,
    pub(crate) deleted: Vec<String>,
}

impl Entries {
    /// The largest id read, live or deleted (where a paging read goes on from).
    pub(crate) fn last_id(&self) -> Option<&String> {
        self.live
            .iter()
            .map(|e| &e.id)
            .chain(&self.deleted)
            .max_by_key(|id| parse_id(id))
    }

    fn extend_from(&mut self, v: &Value) {
        for e in items(v).unwrap_or_default().iter().filter_map(entry) {
            match e {
                Ok(e) => self.live.push(e),
                Err(id) => self.deleted.push(id),
            }
        }
    }
}

/// One `XAUTOCLAIM` page.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AutoClaimed {
    /// Where the next page starts; `0-0` (or empty) when the scan is complete.
    pub(crate) next: String,
    pub(crate) entries: Entries,
}

impl AutoClaimed {
    /// True when the scan has gone round the whole pending list.
    pub(crate) fn is_last_page(&self) -> bool {
        self.next == "0-0" || self.next.is_empty()
    }
}

/// `XREAD` / `XREADGROUP` of one stream: nil on timeout, `[[key, entries]]` (RESP2) or
/// `{key: entries}` (RESP3).
pub(crate) fn read_reply(v: &Value) -> Entries {
    let mut out = Entries::default();
    match v {
        Value::Map(m) => m.iter().for_each(|(_, e)| out.extend_from(e)),
        Value::Array(a) => a
            .iter()
            .filter_map(|s| items(s)?.get(1))
            .for_each(|e| out.extend_from(e)),
        _ => {}
    }
    out
}

/// `XAUTOCLAIM` reply: next cursor, claimed entries, ids deleted while pending.
pub(crate) fn autoclaim_reply(v: &Value) -> AutoClaimed {
    let parts = items(v).unwrap_or_default();
    let next = parts
        .first()
        .and_then(string)
        .unwrap_or_else(|| "0-0".into());
    let mut entries = Entries::default();
    if let Some(list) = parts.get(1) {
        entries.extend_from(list);
    }
    if let Some(ids) = parts.get(2).and_then(items) {
        entries.deleted.extend(ids.iter().filter_map(string));
    }
    AutoClaimed { next, entries }
}

/// Extended `XPENDING` reply: `(id, deliveries)` per entry. The redis crate's
/// [`StreamPendingCountReply`] fits this reply exactly; a shape it does not know decodes to no
/// rows (every entry then counts as delivered once), as every decoder here does.
pub(crate) fn pending_deliveries(v: &Value) -> Vec<(String, u64)> {
    StreamPendingCountReply::from_redis_value_ref(v)
        .map(|r| {
            r.ids
                .into_iter()
                .map(|p| (p.id, p.times_delivered as u64))
                .collect()
        })
        .unwrap_or_default()
}

/// Summary `XPENDING` reply: the smallest pending id, if any entry is pending (the redis
/// crate's [`StreamPendingReply`]).
pub(crate) fn pending_min_id(v: &Value) -> Option<String> {
    match StreamPendingReply::from_redis_value_ref(v).ok()? {
        StreamPendingReply::Data(d) => Some(d.start_id),
        _ => None,
    }
}

/// A group as `XINFO GROUPS` describes it: the fields this crate uses of the redis crate's
/// [`StreamInfoGroup`](redis::streams::StreamInfoGroup).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupInfo {
    pub(crate) name: String,
    pub(crate) pending: u64,
    pub(crate) last_delivered_id: String,
    /// Entries not yet delivered to the group (Redis 7+; `None` when Redis cannot tell).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) lag: Option<u64>,
}

/// `XINFO GROUPS` reply, through the redis crate's [`StreamInfoGroupsReply`] (RESP2 and RESP3);
/// a shape it cannot decode means no groups.
pub(crate) fn groups(v: &Value) -> Vec<GroupInfo> {
    StreamInfoGroupsReply::from_redis_value_ref(v)
        .map(|r| {
            r.groups
                .into_iter()
                .map(|g| GroupInfo {
                    name: g.name,
                    pending: g.pending as u64,
                    lag: g.lag.map(|l| l as u64),
                    last_delivered_id: if g.last_delivered_id.is_empty() {
                        "0-0".to_owned()
                    } else {
                        g.last_delivered_id
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What `XINFO STREAM` says about a stream's history (Redis ≥ 7.0 for `entries_added`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    /// Entries in the stream now.
    pub(crate) length: u64,
    /// Entries ever added to it.
    pub(crate) entries_added: u64,
    /// Id of its first entry, if it has one.
    pub(crate) first_entry_id: Option<String>,
    /// The id the last `XADD` generated.
    pub(crate) last_generated_id: String,
}

/// `XINFO STREAM` reply (RESP2 flat list or RESP3 map); `None` without `entries-added`
/// (Redis before 7.0) or on any other shape.
pub(crate) fn stream_info(v: &Value) -> Option<StreamInfo> {
    let mut info = StreamInfo {
        length: 0,
        entries_added: 0,
        first_entry_id: None,
        last_generated_id: "0-0".into(),
    };
    let mut has_added = false;
    for (k, v) in pairs(v) {
        match string(k).as_deref() {
            Some("length") => info.length = u64::try_from(int(v)?).ok()?,
            Some("entries-added") => {
                info.entries_added = u64::try_from(int(v)?).ok()?;
                has_added = true;
            }
            Some("last-generated-id") => info.last_generated_id = string(v)?,
            Some("first-entry") => {
                info.first_entry_id = items(v).and_then(|e| e.first()).and_then(string);
            }
            _ => {}
        }
    }
    has_added.then_some(info)
}

/// A stream id as `(milliseconds, sequence)`, for comparing and for the caller-deadline check.
pub(crate) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn decodes_resp2_read_replies_and_deleted_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("envelope"), bulk("{}")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let read = read_reply(&reply);
        assert_eq!(read.live.len(), 1);
        assert_eq!(read.live[0].text("envelope").unwrap().unwrap(), "{}");
        assert_eq!(read.deleted, vec!["2-0".to_owned()]);
        assert_eq!(read.last_id().map(String::as_str), Some("2-0"));
        assert_eq!(read_reply(&Value::Nil), Entries::default());
    }

    #[test]
    fn decodes_resp3_maps() {
        let reply = Value::Map(vec![(
            bulk("k"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Map(vec![(bulk("type"), Value::SimpleString("rpc".into()))]),
            ])]),
        )]);
        let read = read_reply(&reply);
        assert_eq!(read.live[0].get("type"), Some(&b"rpc"[..]));
    }

    #[test]
    fn odd_shapes_decode_to_nothing() {
        for v in [Value::Int(3), Value::Array(vec![Value::Nil]), Value::Okay] {
            assert!(read_reply(&v).live.is_empty());
            assert!(autoclaim_reply(&v).is_last_page());
            assert!(pending_deliveries(&v).is_empty());
            assert!(groups(&v).iter().all(|g| g.name.is_empty()));
            assert_eq!(pending_min_id(&v), None);
        }
    }

    #[test]
    fn decodes_stream_info_in_both_protocols() {
        let flat = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("9-0"),
            bulk("entries-added"),
            Value::Int(10),
            bulk("first-entry"),
            Value::Array(vec![bulk("8-0"), Value::Array(vec![bulk("k"), bulk("v")])]),
            bulk("last-entry"),
            Value::Nil,
        ]);
        let want = StreamInfo {
            length: 2,
            entries_added: 10,
            first_entry_id: Some("8-0".into()),
            last_generated_id: "9-0".into(),
        };
        assert_eq!(stream_info(&flat), Some(want.clone()));
        let Value::Array(items) = flat else {
            unreachable!()
        };
        let map = Value::Map(
            items
                .chunks(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect(),
        );
        assert_eq!(stream_info(&map), Some(want));
        // Redis 6.2 has no entries-added: nothing to conclude.
        assert_eq!(
            stream_info(&Value::Array(vec![bulk("length"), Value::Int(1)])),
            None
        );
        assert_eq!(stream_info(&Value::Int(1)), None);
    }

    #[test]
    fn parses_ids() {
        assert_eq!(parse_id("1700000000000-3"), Some((1_700_000_000_000, 3)));
        assert_eq!(parse_id("5"), Some((5, 0)));
        assert_eq!(parse_id("x-1"), None);
    }
}
