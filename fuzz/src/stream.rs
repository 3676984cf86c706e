//! Target `stream_entry`: Redis replies through over-redis's stream decoders, three ways:
//!
//! * raw bytes parsed as RESP by the redis crate (whatever the parser accepts);
//! * arbitrary `redis::Value` trees (RESP3 shapes the parser rarely produces from random bytes);
//! * a model of well-formed `XREADGROUP` / `XAUTOCLAIM` / `XPENDING` / `XINFO GROUPS` replies,
//!   written as RESP2 and as RESP3 and read back: the decoders must return the model exactly.

use arbitrary::{Arbitrary, Unstructured};
use clamator_over_redis::fuzzing as dec;
use redis::{PushKind, Value, VerbatimFormat};

use crate::resp::{StrStyle, Writer};

/// Every decoder on one value; none may panic. Ids that parse must print back the same way.
pub fn all_decoders(v: &Value) {
    let (live, deleted) = dec::read_reply(v);
    let (cursor, claimed, gone) = dec::autoclaim_reply(v);
    let pending = dec::pending_deliveries(v);
    let min = dec::pending_min_id(v);
    let groups = dec::groups(v);
    let ids = live
        .iter()
        .chain(&claimed)
        .map(|e| &e.0)
        .chain(&deleted)
        .chain(&gone)
        .chain(pending.iter().map(|p| &p.0))
        .chain(min.iter())
        .chain(groups.iter().map(|g| &g.2))
        .chain(std::iter::once(&cursor));
    for id in ids {
        check_id(id);
    }
}

/// `parse_id` on any text: a parsed id prints back to an id that parses the same.
pub fn check_id(id: &str) {
    if let Some((ms, seq)) = dec::parse_id(id) {
        assert_eq!(
            dec::parse_id(&format!("{ms}-{seq}")),
            Some((ms, seq)),
            "{id:?}"
        );
    }
}

/// Field names the decoders look for, so generated maps hit them often.
#[derive(Debug, Arbitrary)]
enum Key {
    Envelope,
    ReplyTo,
    TimeoutMs,
    Name,
    Pending,
    LastDeliveredId,
    Other(String),
}

impl Key {
    fn text(&self) -> &str {
        match self {
            Key::Envelope => "envelope",
            Key::ReplyTo => "reply-to",
            Key::TimeoutMs => "timeout-ms",
            Key::Name => "name",
            Key::Pending => "pending",
            Key::LastDeliveredId => "last-delivered-id",
            Key::Other(s) => s,
        }
    }
}

/// A `redis::Value` tree (every variant the decoders could meet; `ServerError` aside).
#[derive(Debug, Arbitrary)]
enum ArbValue {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Simple(String),
    Okay,
    Double(f64),
    Boolean(bool),
    Verbatim(bool, String),
    Id(u64, u64),
    Key(Key),
    Array(Vec<ArbValue>),
    Set(Vec<ArbValue>),
    Map(Vec<(ArbValue, ArbValue)>),
    Attribute(Box<ArbValue>, Vec<(ArbValue, ArbValue)>),
    Push(Vec<ArbValue>),
}

fn to_value(a: ArbValue, depth: usize) -> Value {
    if depth > 24 {
        return Value::Nil;
    }
    let list = |v: Vec<ArbValue>| v.into_iter().map(|a| to_value(a, depth + 1)).collect();
    let pairs = |v: Vec<(ArbValue, ArbValue)>| {
        v.into_iter()
            .map(|(k, v)| (to_value(k, depth + 1), to_value(v, depth + 1)))
            .collect()
    };
    match a {
        ArbValue::Nil => Value::Nil,
        ArbValue::Int(i) => Value::Int(i),
        ArbValue::Bulk(b) => Value::BulkString(b),
        ArbValue::Simple(s) => Value::SimpleString(s),
        ArbValue::Okay => Value::Okay,
        ArbValue::Double(d) => Value::Double(d),
        ArbValue::Boolean(b) => Value::Boolean(b),
        ArbValue::Verbatim(md, text) => Value::VerbatimString {
            format: if md {
                VerbatimFormat::Markdown
            } else {
                VerbatimFormat::Text
            },
            text,
        },
        ArbValue::Id(ms, seq) => Value::BulkString(format!("{ms}-{seq}").into_bytes()),
        ArbValue::Key(k) => Value::BulkString(k.text().as_bytes().to_vec()),
        ArbValue::Array(v) => Value::Array(list(v)),
        ArbValue::Set(v) => Value::Set(list(v)),
        ArbValue::Map(v) => Value::Map(pairs(v)),
        ArbValue::Attribute(data, attributes) => Value::Attribute {
            data: Box::new(to_value(*data, depth + 1)),
            attributes: pairs(attributes),
        },
        ArbValue::Push(v) => Value::Push {
            kind: PushKind::Message,
            data: list(v),
        },
    }
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Arbitrary)]
struct ModelEntry {
    id: (u64, u64),
    /// `None`: deleted while pending (nil fields).
    fields: Option<Fields>,
    fields_as_map: bool,
}

#[derive(Debug, Arbitrary)]
struct PendingRow {
    id: (u64, u64),
    consumer: String,
    idle: u32,
    deliveries: u32,
}

#[derive(Debug, Arbitrary)]
struct Group {
    name: String,
    consumers: u32,
    pending: i64,
    last: (u64, u64),
    entries_read: Option<u32>,
    lag: Option<u32>,
}

/// Count, smallest and largest pending id, per-consumer counts.
type Summary = (u32, (u64, u64), (u64, u64), Vec<(String, u32)>);

#[derive(Debug, Arbitrary)]
struct Model {
    resp3: bool,
    id_style: StrStyle,
    streams: Vec<(Vec<u8>, Vec<ModelEntry>)>,
    cursor: (u64, u64),
    claimed: Vec<ModelEntry>,
    claimed_deleted: Vec<(u64, u64)>,
    pending: Vec<PendingRow>,
    summary: Option<Summary>,
    groups: Vec<Group>,
}

fn id_text((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}

fn write_entries(w: &mut Writer, style: StrStyle, entries: &[ModelEntry]) {
    w.array(entries.len());
    for e in entries {
        w.array(2).text(&id_text(e.id), style);
        match &e.fields {
            None => {
                w.nil();
            }
            Some(fields) => {
                if e.fields_as_map {
                    w.map(fields.len());
                } else {
                    w.array(2 * fields.len());
                }
                for (k, v) in fields {
                    w.bulk(k).bulk(v);
                }
            }
        }
    }
}

/// Live entries as `(id, fields)` and the ids of deleted ones, in order.
fn expected(entries: &[ModelEntry]) -> (Vec<dec::Entry>, Vec<String>) {
    let live = entries
        .iter()
        .filter_map(|e| Some((id_text(e.id), e.fields.clone()?)))
        .collect();
    let deleted = entries
        .iter()
        .filter(|e| e.fields.is_none())
        .map(|e| id_text(e.id))
        .collect();
    (live, deleted)
}

fn parse(w: Writer) -> Value {
    redis::parse_redis_value(&w.out)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&w.out)))
}

fn check_model(m: Model) {
    let style = m.id_style;
    let new = || Writer::new(m.resp3);

    // XREADGROUP: nil on timeout, else one element per stream.
    let mut w = new();
    if m.streams.is_empty() {
        w.nil();
    } else if m.resp3 {
        w.map(m.streams.len());
        for (key, entries) in &m.streams {
            w.bulk(key);
            write_entries(&mut w, style, entries);
        }
    } else {
        w.array(m.streams.len());
        for (key, entries) in &m.streams {
            w.array(2).bulk(key);
            write_entries(&mut w, style, entries);
        }
    }
    let v = parse(w);
    let all: Vec<&ModelEntry> = m.streams.iter().flat_map(|(_, e)| e).collect();
    let (live, deleted) = dec::read_reply(&v);
    let want_live: Vec<dec::Entry> = all
        .iter()
        .filter_map(|e| Some((id_text(e.id), e.fields.clone()?)))
        .collect();
    let want_deleted: Vec<String> = all
        .iter()
        .filter(|e| e.fields.is_none())
        .map(|e| id_text(e.id))
        .collect();
    assert_eq!(live, want_live, "XREADGROUP live entries of {v:?}");
    assert_eq!(deleted, want_deleted, "XREADGROUP deleted entries of {v:?}");
    all_decoders(&v);

    // XAUTOCLAIM: [cursor, entries, deleted ids].
    let mut w = new();
    w.array(3).text(&id_text(m.cursor), style);
    write_entries(&mut w, style, &m.claimed);
    w.array(m.claimed_deleted.len());
    for id in &m.claimed_deleted {
        w.text(&id_text(*id), style);
    }
    let v = parse(w);
    let (cursor, live, deleted) = dec::autoclaim_reply(&v);
    let (want_live, mut want_deleted) = expected(&m.claimed);
    want_deleted.extend(m.claimed_deleted.iter().map(|id| id_text(*id)));
    assert_eq!(cursor, id_text(m.cursor));
    assert_eq!(live, want_live, "XAUTOCLAIM entries of {v:?}");
    assert_eq!(deleted, want_deleted, "XAUTOCLAIM deleted of {v:?}");
    all_decoders(&v);

    // XPENDING <key> <group> - + <n>: [id, consumer, idle, deliveries] rows.
    let mut w = new();
    w.array(m.pending.len());
    for row in &m.pending {
        w.array(4)
            .text(&id_text(row.id), style)
            .bulk(row.consumer.as_bytes())
            .int(row.idle.into())
            .int(row.deliveries.into());
    }
    let v = parse(w);
    let want: Vec<(String, u64)> = m
        .pending
        .iter()
        .map(|r| (id_text(r.id), r.deliveries.into()))
        .collect();
    assert_eq!(dec::pending_deliveries(&v), want, "XPENDING rows of {v:?}");
    all_decoders(&v);

    // XPENDING <key> <group>: [count, min, max, [[consumer, count]]], or [0, nil, nil, nil].
    let mut w = new();
    w.array(4);
    let want = match &m.summary {
        Some((count, min, max, consumers)) if *count > 0 => {
            w.int((*count).into())
                .text(&id_text(*min), style)
                .text(&id_text(*max), style)
                .array(consumers.len());
            for (name, n) in consumers {
                // Redis writes the per-consumer count as a bulk string.
                w.array(2)
                    .bulk(name.as_bytes())
                    .bulk(n.to_string().as_bytes());
            }
            Some(id_text(*min))
        }
        _ => {
            w.int(0).nil().nil().nil();
            None
        }
    };
    let v = parse(w);
    assert_eq!(dec::pending_min_id(&v), want, "XPENDING summary {v:?}");
    all_decoders(&v);

    // XINFO GROUPS: one map (RESP3) or flat array (RESP2) per group.
    let mut w = new();
    w.array(m.groups.len());
    for g in &m.groups {
        w.map(6);
        w.text("name", style).bulk(g.name.as_bytes());
        w.text("consumers", style).int(g.consumers.into());
        w.text("pending", style).int(g.pending);
        w.text("last-delivered-id", style)
            .text(&id_text(g.last), style);
        w.text("entries-read", style);
        match g.entries_read {
            Some(n) => w.int(n.into()),
            None => w.nil(),
        };
        w.text("lag", style);
        match g.lag {
            Some(n) => w.int(n.into()),
            None => w.nil(),
        };
    }
    let v = parse(w);
    let want: Vec<(String, i64, String)> = m
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.pending, id_text(g.last)))
        .collect();
    assert_eq!(dec::groups(&v), want, "XINFO GROUPS {v:?}");
    all_decoders(&v);
}

/// Target `stream_entry`. The first byte picks the mode: raw RESP, a `Value` tree, or the model.
pub fn check_stream_entry(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 | 1 => {
            // Raw RESP (half the inputs): the first value the parser reads, then every decoder.
            if let Ok(v) = redis::parse_redis_value(rest) {
                all_decoders(&v);
            }
            if let Ok(text) = std::str::from_utf8(rest) {
                check_id(text);
            }
        }
        2 => {
            if let Ok(a) = ArbValue::arbitrary_take_rest(Unstructured::new(rest)) {
                all_decoders(&to_value(a, 0));
            }
        }
        _ => {
            if let Ok(m) = Model::arbitrary_take_rest(Unstructured::new(rest)) {
                check_model(m);
            }
        }
    }
}
