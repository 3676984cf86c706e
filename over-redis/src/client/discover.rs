//! Discovery on the client: reads the presence the servers publish (see the README's
//! "Discovery" section). Reads only: a client never writes presence keys.
//!
//! `ping` is a presence read plus a freshness check on Redis's clock, not a round trip through
//! the server. A round trip would need a request the server reads: on the command stream a
//! Python or TypeScript peer in the same group would take it and answer -32601 (or worse, count
//! it as work), and a per-instance control stream would cost every server another blocking
//! connection while proving what the heartbeat already proves: the process runs and reaches
//! Redis. How busy it is shows in the record's `inFlight`.

use std::time::Duration;

use clamator_protocol::{Discovery, Error, Instance, Liveness, TransportError};
use redis::RedisError;

use super::RedisClientTransport;
use crate::connection::SharedConnection;
use crate::keys;
use crate::ops::{self, presence};

fn failed(e: RedisError) -> Error {
    TransportError::backend("redis discovery failed", e).into()
}

impl RedisClientTransport {
    fn conn(&self) -> Result<&SharedConnection, Error> {
        Ok(&self.shared.backend()?.conn)
    }

    /// Every instance id in a service's index (live, expired or stopped) with its record, if
    /// still there and readable.
    async fn instances_of(&self, service: &str) -> Result<Vec<(String, Option<Instance>)>, Error> {
        let conn = self.conn()?;
        let prefix = self.shared.opts.key_prefix();
        let index = keys::presence_instances(prefix, service);
        let ids: Vec<String> = presence::members(conn, &index)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let record_keys: Vec<String> = ids
            .iter()
            .map(|id| keys::presence_record(prefix, service, id))
            .collect();
        let records = presence::records(conn, &record_keys)
            .await
            .map_err(failed)?;
        Ok(ids
            .into_iter()
            .zip(records)
            .map(|(id, json)| {
                let parsed = json.and_then(|j| match serde_json::from_str::<Instance>(&j) {
                    Ok(i) => Some(i),
                    Err(e) => {
                        tracing::debug!(service, instance = %id, error = %e,
                            "redis presence record unreadable; skipped");
                        None
                    }
                });
                (id, parsed)
            })
            .collect())
    }

    async fn services(&self) -> Result<Vec<String>, Error> {
        let index = keys::presence_services(self.shared.opts.key_prefix());
        let mut names: Vec<String> = presence::members(self.conn()?, &index)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|(s, _)| s)
            .filter(|s| clamator_protocol::names::is_valid_service(s))
            .collect();
        names.sort();
        Ok(names)
    }
}

impl Discovery for RedisClientTransport {
    /// Instances whose record has not expired (a killed server is listed until its TTL passes;
    /// a stopped one is gone at once). Works before `start` too: it only needs the connection.
    async fn discover(&self, service: Option<&str>) -> Result<Vec<Instance>, Error> {
        let services = match service {
            Some(s) => vec![s.to_owned()],
            None => self.services().await?,
        };
        let mut out = Vec::new();
        for s in &services {
            out.extend(
                self.instances_of(s)
                    .await?
                    .into_iter()
                    .filter_map(|(_, i)| i),
            );
        }
        out.sort_by(|a, b| (&a.service, &a.instance_id).cmp(&(&b.service, &b.instance_id)));
        Ok(out)
    }

    /// Every instance the service's index remembers: alive when its record is there and its
    /// heartbeat (on Redis's clock) is younger than its TTL; dead instances stay listed with
    /// `alive = false` until a server removes their consumer.
    async fn ping(&self, service: &str, deadline: Duration) -> Result<Vec<Liveness>, Error> {
        let read = async {
            let now = ops::time_ms(self.conn()?).await.map_err(failed)?;
            let mut out: Vec<Liveness> = self
                .instances_of(service)
                .await?
                .into_iter()
                .map(|(id, record)| match record {
                    Some(i) => {
                        let age = u64::try_from(now.saturating_sub(i.heartbeat_at_ms)).unwrap_or(0);
                        Liveness::alive(i, age)
                    }
                    None => Liveness::gone(service, id),
                })
                .collect();
            out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
            Ok(out)
        };
        tokio::time::timeout(deadline, read)
            .await
            .map_err(|_| Error::Transport(TransportError::Timeout))?
    }
}
