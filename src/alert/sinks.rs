//! Delivery: the sinks notifications go to, and the dispatcher that drains the outbox into
//! them.
//!
//! Each sink gets its own task. The task takes the oldest delivery the outbox holds for
//! its sink, sends it (blocking HTTP, on tokio's blocking pool) and completes it on
//! success. While a sink is down its task retries the same delivery with exponential
//! backoff (doubling from [`RetryPolicy::initial`] up to [`RetryPolicy::max`]) and the
//! deliveries behind it wait, so every sink sees an alert's notifications in the order the
//! engine produced them. A sink that is down never delays another sink.
//!
//! A delivery the receiver refuses as malformed (HTTP 400, 413, 422) can never succeed: it
//! is moved to the dead-letter file and logged as an error. Everything else (connection
//! refused, timeouts, 5xx, 401/403 after a token change, 404 from a wrong URL) is retried
//! until it goes through, since a person can fix those and nothing may be lost meanwhile.
//!
//! A queued [`NotificationKind::Resend`] is skipped when a later delivery for the same
//! alert waits behind it: that one says the same or newer, so an outage does not end in a
//! burst of stale re-sends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};

use super::alertmanager::AlertmanagerSink;
use super::config::Secret;
use super::grafana::GrafanaSink;
use super::outbox::{Delivery, Notification, NotificationKind, Outbox, OutboxError};
use super::webhook::WebhookSink;

/// How long to wait before retrying a sink that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait; doubling stops here.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

impl DeliveryError {
    /// Whether the receiver refused the content itself, so sending it again cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DeliveryError::Status {
                status: 400 | 413 | 422,
                ..
            }
        )
    }
}

/// The kinds of sink, and which notifications each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Alertmanager,
    Grafana,
    Webhook,
}

impl SinkKind {
    /// Alertmanager takes every notification, re-sends included, since it resolves an
    /// alert it stops hearing about. Grafana and webhooks take changes only.
    pub fn accepts(self, kind: NotificationKind) -> bool {
        match self {
            SinkKind::Alertmanager => true,
            SinkKind::Grafana | SinkKind::Webhook => kind != NotificationKind::Resend,
        }
    }
}

/// A configured destination for notifications. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sink(Arc<SinkImpl>);

#[derive(Debug)]
enum SinkImpl {
    Alertmanager(AlertmanagerSink),
    Grafana(GrafanaSink),
    Webhook(WebhookSink),
}

impl Sink {
    pub(crate) fn alertmanager(sink: AlertmanagerSink) -> Sink {
        Sink(Arc::new(SinkImpl::Alertmanager(sink)))
    }

    pub(crate) fn grafana(sink: GrafanaSink) -> Sink {
        Sink(Arc::new(SinkImpl::Grafana(sink)))
    }

    pub(crate) fn webhook(sink: WebhookSink) -> Sink {
        Sink(Arc::new(SinkImpl::Webhook(sink)))
    }

    /// The name deliveries are queued under; unique among the configured sinks.
    pub fn name(&self) -> &str {
        match &*self.0 {
            SinkImpl::Alertmanager(s) => s.name(),
            SinkImpl::Grafana(s) => s.name(),
            SinkImpl::Webhook(s) => s.name(),
        }
    }

    pub fn kind(&self) -> SinkKind {
        match &*self.0 {
            SinkImpl::Alertmanager(_) => SinkKind::Alertmanager,
            SinkImpl::Grafana(_) => SinkKind::Grafana,
            SinkImpl::Webhook(_) => SinkKind::Webhook,
        }
    }

    /// Sends one notification; blocking.
    pub fn deliver(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        match &*self.0 {
            SinkImpl::Alertmanager(s) => s.deliver(notification, now),
            SinkImpl::Grafana(s) => s.deliver(notification),
            SinkImpl::Webhook(s) => s.deliver(notification),
        }
    }
}

/// The running sink tasks. Start it inside a tokio runtime.
#[derive(Debug)]
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts one task per sink. Deliveries queued for a sink that is no longer configured
    /// are moved to the dead-letter file first.
    pub fn start(
        outbox: Arc<Outbox>,
        sinks: Vec<Sink>,
        retry: RetryPolicy,
    ) -> Result<Dispatcher, OutboxError> {
        for delivery in outbox.pending() {
            if !sinks.iter().any(|s| s.name() == delivery.sink) {
                let reason = format!("sink {:?} is no longer configured", delivery.sink);
                outbox.dead_letter(delivery.id, &reason)?;
            }
        }

        let (stop, stop_rx) = watch::channel(false);
        let tasks = sinks
            .into_iter()
            .map(|sink| tokio::spawn(run_sink(sink, outbox.clone(), retry, stop_rx.clone())))
            .collect();
        Ok(Dispatcher { stop, tasks })
    }

    /// Stops the sink tasks; a request already in flight finishes (bounded by the HTTP
    /// timeout). Undelivered notifications stay in the outbox for the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                error!(error = %e, "alert sink task failed");
            }
        }
    }
}

async fn run_sink(
    sink: Sink,
    outbox: Arc<Outbox>,
    retry: RetryPolicy,
    mut stop: watch::Receiver<bool>,
) {
    let mut changed = outbox.subscribe();
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        // Mark the current queue as seen before reading it, so an enqueue that lands after
        // the read still wakes the wait below.
        changed.borrow_and_update();
        let queue = outbox.pending_for(sink.name());
        if queue.is_empty() {
            tokio::select! {
                _ = changed.changed() => {}
                _ = stop.changed() => {}
            }
            continue;
        }

        let (attempting, from) = (sink.clone(), outbox.clone());
        let error =
            match tokio::task::spawn_blocking(move || attempt(&attempting, &from, &queue)).await {
                Ok(Ok(())) => {
                    failures = 0;
                    continue;
                }
                Ok(Err(error)) => error,
                Err(e) => format!("delivery task failed: {e}"),
            };

        failures = failures.saturating_add(1);
        let wait = retry.delay(failures);
        warn!(
            sink = %sink.name(),
            %error,
            attempt = failures,
            retry_in_ms = wait.as_millis() as u64,
            "alert delivery failed; will retry"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One blocking attempt at the head of a sink's queue: skip it if superseded, else send
/// it; then record the outcome in the outbox. `Err` says why it must be tried again.
fn attempt(sink: &Sink, outbox: &Outbox, queue: &[Delivery]) -> Result<(), String> {
    let Some((head, rest)) = queue.split_first() else {
        return Ok(());
    };
    let n = &head.notification;
    let recorded = if is_superseded(head, rest) {
        debug!(sink = %sink.name(), fingerprint = %n.fingerprint, "skipping a re-send superseded by a later notification");
        outbox.complete(head.id)
    } else {
        match sink.deliver(n, Utc::now()) {
            Ok(()) => {
                debug!(sink = %sink.name(), fingerprint = %n.fingerprint, kind = ?n.kind, "delivered");
                outbox.complete(head.id)
            }
            Err(e) if e.is_permanent() => outbox.dead_letter(head.id, &e.to_string()),
            Err(e) => return Err(e.to_string()),
        }
    };
    recorded.map_err(|e| {
        error!(sink = %sink.name(), error = %e, "cannot record a delivery in the outbox; it may be sent again");
        format!("cannot record the delivery: {e}")
    })
}

fn is_superseded(head: &Delivery, rest: &[Delivery]) -> bool {
    head.notification.kind == NotificationKind::Resend
        && rest
            .iter()
            .any(|d| d.notification.fingerprint == head.notification.fingerprint)
}

/// Credentials for a receiver. Debug-printing shows the scheme only.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic(redacted)",
            Auth::Bearer(_) => "Bearer(redacted)",
        })
    }
}

impl Auth {
    fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                Some(format!("Basic {}", base64(pair.as_bytes())))
            }
            Auth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Post,
    Patch,
}

/// What a receiver answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Reply {
    /// The body of a 2xx answer, or the error naming the status.
    pub(crate) fn success(self, url: &str) -> Result<String, DeliveryError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(DeliveryError::Status {
            url: url.to_string(),
            status: self.status,
            body: shorten(&self.body, 200),
        })
    }
}

/// A blocking HTTP client for JSON requests.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> HttpClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpClient { agent }
    }

    /// Sends `body` as JSON and reads the answer, whatever its status.
    pub(crate) fn send_json(
        &self,
        method: Method,
        url: &str,
        auth: &Auth,
        body: &[u8],
    ) -> Result<Reply, DeliveryError> {
        let unreachable = |e: ureq::Error| DeliveryError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut request = match method {
            Method::Post => self.agent.post(url),
            Method::Patch => self.agent.patch(url),
        }
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
        if let Some(value) = auth.header() {
            request = request.header("Authorization", value);
        }

        let mut response = request.send(body).map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(unreachable)?;
        Ok(Reply { status, body })
    }
}

/// RFC 3339 with milliseconds and `Z`, as Alertmanager writes its own times.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `url` without a trailing `/`, joined with `path` (which starts with `/`).
pub(crate) fn join_url(url: &str, path: &str) -> String {
    format!("{}{path}", url.trim_end_matches('/'))
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for HTTP basic authentication.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64(input.as_bytes()), expected, "base64({input:?})");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=9).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(policy.delay(1000), Duration::from_secs(60));
    }

    #[test]
    fn only_malformed_content_is_permanent() {
        let status = |status| DeliveryError::Status {
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(status(400).is_permanent());
        assert!(status(422).is_permanent());
        for transient in [401, 403, 404, 429, 500, 503] {
            assert!(!status(transient).is_permanent(), "{transient}");
        }
    }

    #[test]
    fn resend_with_a_later_notification_queued_is_skipped_without_sending() {
        use std::collections::BTreeMap;

        use super::super::alertmanager::AlertmanagerSink;

        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let t = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let note = |kind| Notification {
            kind,
            fingerprint: "00000000000000aa".into(),
            labels: BTreeMap::from([("alertname".into(), "Burn".into())]),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            created_at: t,
            generator_url: None,
            replaces: None,
        };
        outbox
            .enqueue(vec![
                ("am".into(), note(NotificationKind::Resend)),
                ("am".into(), note(NotificationKind::Resolved)),
            ])
            .unwrap();
        // Port 9 (discard) refuses connections: any real send would fail.
        let sink = Sink::alertmanager(AlertmanagerSink::new(
            "am".into(),
            "http://127.0.0.1:9",
            Auth::None,
            HttpClient::new(Duration::from_secs(1)),
            Duration::from_secs(60),
        ));

        assert_eq!(attempt(&sink, &outbox, &outbox.pending_for("am")), Ok(()));
        let left = outbox.pending_for("am");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].notification.kind, NotificationKind::Resolved);

        let err = attempt(&sink, &outbox, &left).unwrap_err();
        assert!(err.contains("127.0.0.1:9"), "{err}");
        assert_eq!(outbox.len(), 1, "a failed send stays queued");
    }

    #[test]
    fn auth_debug_hides_credentials() {
        let auth = Auth::Basic {
            username: "vigil".into(),
            password: Secret::new("hunter2".into()),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert_eq!(auth.header().as_deref(), Some("Basic dmlnaWw6aHVudGVyMg=="));
    }
}
