//! Generic webhooks, with Alertmanager's webhook body (`version: "4"`), so anything that
//! already takes Alertmanager webhooks takes Vigil's.
//!
//! Each message carries one alert. It is grouped by its identity labels (everything but
//! `handler` and `tier`), so `groupKey` stays the same across an alert's escalations and a
//! receiver that deduplicates by it sees one incident. As in Alertmanager, a firing alert's
//! `endsAt` is Go's zero time, `0001-01-01T00:00:00Z`; `fingerprint` is Vigil's
//! (see [`super::model::fingerprint`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{HANDLER, TIER};
use super::outbox::{Notification, NotificationKind};
use super::sinks::{self, Auth, DeliveryError, HttpClient, Method};

/// `endsAt` of a firing alert in Alertmanager's webhook bodies (Go's zero `time.Time`).
const FIRING_ENDS_AT: &str = "0001-01-01T00:00:00Z";

#[derive(Debug)]
pub(crate) struct WebhookSink {
    name: String,
    url: String,
    auth: Auth,
    external_url: String,
    http: HttpClient,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookMessage<'a> {
    version: &'static str,
    group_key: String,
    truncated_alerts: u64,
    status: &'static str,
    receiver: &'a str,
    group_labels: BTreeMap<&'a str, &'a str>,
    common_labels: &'a BTreeMap<String, String>,
    common_annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    alerts: Vec<WebhookAlert<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    status: &'static str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

impl WebhookSink {
    pub(crate) fn new(
        name: String,
        url: &str,
        auth: Auth,
        external_url: String,
        http: HttpClient,
    ) -> WebhookSink {
        WebhookSink {
            name,
            url: url.to_string(),
            auth,
            external_url,
            http,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let message = message(n, &self.name, &self.external_url);
        let body = serde_json::to_vec(&message).map_err(|e| DeliveryError::Unreachable {
            url: self.url.clone(),
            message: format!("cannot encode the webhook body: {e}"),
        })?;
        self.http
            .send_json(Method::Post, &self.url, &self.auth, &body)?
            .success(&self.url)
            .map(drop)
    }
}

pub(crate) fn message<'a>(
    n: &'a Notification,
    receiver: &'a str,
    external_url: &'a str,
) -> WebhookMessage<'a> {
    let resolved = n.kind == NotificationKind::Resolved;
    let status = if resolved { "resolved" } else { "firing" };
    let ends_at = match (resolved, n.ends_at) {
        (true, Some(ended)) => sinks::rfc3339(ended),
        (true, None) => sinks::rfc3339(n.created_at),
        (false, _) => FIRING_ENDS_AT.to_string(),
    };
    let group_labels: BTreeMap<&str, &str> = n
        .labels
        .iter()
        .filter(|(name, _)| *name != HANDLER && *name != TIER)
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let group_key = format!(
        "{{}}:{{{}}}",
        group_labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    WebhookMessage {
        version: "4",
        group_key,
        truncated_alerts: 0,
        status,
        receiver,
        group_labels,
        common_labels: &n.labels,
        common_annotations: &n.annotations,
        external_url,
        alerts: vec![WebhookAlert {
            status,
            labels: &n.labels,
            annotations: &n.annotations,
            starts_at: sinks::rfc3339(n.starts_at),
            ends_at,
            generator_url: n.generator_url.as_deref().unwrap_or(""),
            fingerprint: &n.fingerprint,
        }],
    }
}
