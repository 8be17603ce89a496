//! The outbox relay (issue 13 item 5). Every stored result leaves an outbox record in the same
//! transaction. In cluster mode each node's relay publishes the records to the Redis stream
//! `{prefix}:results` and deletes them; a record is added to the stream once even when two nodes
//! (or a node that died between publishing and deleting) send it again, because the stream
//! entry and a per-record marker are written by one script. Without Redis nobody consumes the
//! records, so they are pruned after `outbox_retention_secs`.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::store::{Millis, OutboxRecord, Store};

/// How often the relay looks for records.
const INTERVAL: Duration = Duration::from_secs(1);
/// Records published per round.
const BATCH: i64 = 200;
/// How long the "already published" marker of a record is kept.
const MARKER_SECS: u64 = 7 * 24 * 3600;
/// The stream keeps about this many entries (older ones are trimmed).
const STREAM_MAXLEN: u64 = 100_000;

/// Adds the entry unless its marker exists; sets the marker. KEYS: stream, marker.
/// ARGV: outbox id, topic, payload, created_at, marker seconds, stream max length.
const PUBLISH_ONCE: &str = r#"
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[5]) then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*',
    'outboxId', ARGV[1], 'topic', ARGV[2], 'payload', ARGV[3], 'createdAt', ARGV[4])
  return 1
end
return 0
"#;

pub async fn run(
    store: Arc<dyn Store>,
    cluster: Option<Arc<Cluster>>,
    retention: Duration,
    now: impl Fn() -> Millis + Send + 'static,
) {
    let script = redis::Script::new(PUBLISH_ONCE);
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match &cluster {
            Some(cluster) => {
                // Publish until the outbox is empty or Redis fails.
                while let Ok(published) = publish(store.as_ref(), cluster, &script).await {
                    if published < BATCH as usize {
                        break;
                    }
                }
            }
            None => {
                let before = now().saturating_sub(retention.as_millis() as Millis);
                match store.outbox_prune(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(records = n, "outbox records pruned"),
                    Err(e) => tracing::warn!(error = %e, "outbox prune failed"),
                }
            }
        }
    }
}

/// One round: returns how many records were published (and deleted).
async fn publish(
    store: &dyn Store,
    cluster: &Cluster,
    script: &redis::Script,
) -> Result<usize, ()> {
    let records = store
        .outbox_batch(BATCH)
        .await
        .map_err(|e| tracing::warn!(error = %e, "reading the outbox failed"))?;
    if records.is_empty() {
        return Ok(0);
    }
    let stream = cluster.key("results");
    let mut done = Vec::with_capacity(records.len());
    for r in &records {
        match publish_one(cluster, script, &stream, r).await {
            Ok(added) => {
                if added {
                    metrics::counter!("liar_outbox_published_total").increment(1);
                }
                done.push(r.id);
            }
            Err(e) => {
                tracing::warn!(error = %e, "publishing results to Redis failed; retrying soon");
                break;
            }
        }
    }
    let published = done.len();
    if let Err(e) = store.outbox_delete(&done).await {
        // Published but kept: the markers stop them from being added twice next round.
        tracing::warn!(error = %e, "deleting published outbox records failed");
        return Err(());
    }
    if published < records.len() {
        return Err(());
    }
    Ok(published)
}

async fn publish_one(
    cluster: &Cluster,
    script: &redis::Script,
    stream: &str,
    r: &OutboxRecord,
) -> Result<bool, redis::RedisError> {
    let mut conn = cluster.connection();
    let added: i64 = script
        .key(stream)
        .key(cluster.key(&format!("results:sent:{}", r.id)))
        .arg(r.id)
        .arg(&r.topic)
        .arg(&r.payload)
        .arg(r.created_at)
        .arg(MARKER_SECS)
        .arg(STREAM_MAXLEN)
        .invoke_async(&mut conn)
        .await?;
    Ok(added == 1)
}
