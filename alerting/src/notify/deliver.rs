//! Delivery of queued notifications: one task per notification POSTs it with its receiver's
//! URL, headers and timeout; 2xx delivers, 429, 5xx, timeouts and connection errors retry
//! with exponential backoff and full jitter, other statuses give up. A notification gives up
//! as well when a newer one of its group supersedes it, when its receiver is gone after a
//! reload, or when it is older than [`MAX_AGE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use storage::now_ms;
use tokio::sync::watch;

use super::Notifier;
use super::config::Receiver;
use super::queue::Queued;

/// First retry delay bound; doubled per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A notification not delivered within this long is dropped: its news is stale, and the
/// group's next flush sends the current state instead.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(3600);

enum Outcome {
    Delivered,
    Retry(&'static str),
    GiveUp(&'static str),
}

/// The delay before attempt `attempts + 1`: uniform in `[0, min(max, base·2^(attempts-1))]`
/// ("full jitter"), so receivers recovering from an outage are not hit in lockstep.
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let bound = BASE_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

async fn post(client: &reqwest::Client, receiver: &Receiver, queued: &Queued) -> Outcome {
    let response = client
        .post(receiver.url.clone())
        .header(CONTENT_TYPE, queued.content_type.as_str())
        // after the content type, so that a configured Content-Type header wins
        .headers(receiver.headers.clone())
        .timeout(receiver.timeout)
        .body(queued.body.clone())
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            // Drain the body so the connection can be reused; its content does not matter.
            let _ = response.bytes().await;
            if status.is_success() {
                Outcome::Delivered
            } else if status.as_u16() == 429 {
                Outcome::Retry("status_429")
            } else if status.is_server_error() {
                Outcome::Retry("status_5xx")
            } else if status.is_client_error() {
                Outcome::GiveUp("status_4xx")
            } else {
                Outcome::GiveUp("status_other")
            }
        }
        Err(e) if e.is_timeout() => Outcome::Retry("timeout"),
        Err(e) if e.is_connect() => Outcome::Retry("connection"),
        Err(_) => Outcome::Retry("request"),
    }
}

/// Runs one notification to its end (delivered or given up), or until `stop` turns true:
/// then it returns at once while waiting or sending, leaving its file in the queue for the
/// next run, but never while recording an outcome, so a stop leaves the files consistent.
pub(crate) async fn deliver(
    notifier: Arc<Notifier>,
    mut queued: Queued,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if !notifier.queue.is_current(&queued) {
            tracing::debug!(receiver = %queued.receiver, id = %queued.id, "notification superseded");
            finish(&notifier, queued, None).await;
            return;
        }
        let receiver = notifier
            .compiled
            .read()
            .receivers
            .get(&queued.receiver)
            .cloned();
        let Some(receiver) = receiver else {
            finish(&notifier, queued, Some("receiver_removed")).await;
            return;
        };
        let now = now_ms();
        let max_age_ms = i64::try_from(MAX_AGE.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(queued.created_ms) > max_age_ms {
            finish(&notifier, queued, Some("expired")).await;
            return;
        }
        if queued.next_attempt_ms > now {
            let wait = u64::try_from(queued.next_attempt_ms - now).unwrap_or(0);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(wait)) => continue,
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
        let started = Instant::now();
        let attempt = async {
            let _slot = Arc::clone(&notifier.delivery_slots).acquire_owned().await;
            post(&notifier.client, &receiver, &queued).await
        };
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let metrics = &notifier.metrics;
        metrics
            .latency
            .with_label_values(&[receiver.name.as_str()])
            .observe(started.elapsed().as_secs_f64());
        queued.attempts += 1;
        match outcome {
            Outcome::Delivered => {
                metrics
                    .sent
                    .with_label_values(&[receiver.name.as_str()])
                    .inc();
                tracing::info!(
                    receiver = %receiver.name,
                    group_key = %queued.group_key,
                    attempts = queued.attempts,
                    "notification delivered"
                );
                delivered(&notifier, queued).await;
                return;
            }
            Outcome::GiveUp(reason) => {
                tracing::warn!(
                    receiver = %receiver.name,
                    group_key = %queued.group_key,
                    reason,
                    "notification refused by the receiver, dropped"
                );
                finish(&notifier, queued, Some(reason)).await;
                return;
            }
            Outcome::Retry(reason) => {
                metrics
                    .failed
                    .with_label_values(&[receiver.name.as_str(), reason])
                    .inc();
                metrics
                    .retries
                    .with_label_values(&[receiver.name.as_str()])
                    .inc();
                let delay = backoff(queued.attempts);
                tracing::warn!(
                    receiver = %receiver.name,
                    group_key = %queued.group_key,
                    reason,
                    attempts = queued.attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    "notification attempt failed, will retry"
                );
                queued.next_attempt_ms =
                    now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                if notifier.queue.is_current(&queued) {
                    let n = Arc::clone(&notifier);
                    let record = queued.clone();
                    let written = tokio::task::spawn_blocking(move || n.queue.write(&record)).await;
                    if let Ok(Err(e)) = written {
                        tracing::error!(error = %e, "cannot record a delivery attempt");
                    }
                }
            }
        }
    }
}

async fn delivered(notifier: &Arc<Notifier>, queued: Queued) {
    let n = Arc::clone(notifier);
    let result = tokio::task::spawn_blocking(move || {
        n.queue.remove(&queued)?;
        n.metrics.queue_length.set(n.queue.len() as i64);
        if n.nflog
            .mark_delivered(&queued.receiver, &queued.group_key, &queued.id, now_ms())
        {
            n.nflog.persist()?;
        }
        Ok::<(), crate::AlertingError>(())
    })
    .await;
    if let Ok(Err(e)) = result {
        tracing::error!(error = %e, "cannot record a delivered notification");
    }
}

/// Removes a notification that will not be delivered; with a `reason`, it failed, and the
/// notification log forgets it so the group's next flush tries again.
async fn finish(notifier: &Arc<Notifier>, queued: Queued, reason: Option<&'static str>) {
    if let Some(reason) = reason {
        notifier
            .metrics
            .failed
            .with_label_values(&[queued.receiver.as_str(), reason])
            .inc();
    }
    let n = Arc::clone(notifier);
    let result = tokio::task::spawn_blocking(move || {
        n.queue.remove(&queued)?;
        n.metrics.queue_length.set(n.queue.len() as i64);
        if reason.is_some()
            && n.nflog
                .forget(&queued.receiver, &queued.group_key, &queued.id)
        {
            n.nflog.persist()?;
        }
        Ok::<(), crate::AlertingError>(())
    })
    .await;
    if let Ok(Err(e)) = result {
        tracing::error!(error = %e, "cannot remove a finished notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_bound() {
        for attempts in 1u32..30 {
            let bound = BASE_BACKOFF
                .saturating_mul(1 << attempts.saturating_sub(1).min(16))
                .min(MAX_BACKOFF);
            for _ in 0..20 {
                assert!(backoff(attempts) <= bound);
            }
        }
        // jitter: not always the bound
        let draws: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(10)).collect();
        assert!(draws.len() > 1);
    }
}
