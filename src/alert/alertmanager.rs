//! Prometheus Alertmanager, API v2: `POST {url}/api/v2/alerts` with a JSON array of
//! postable alerts (`labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`).
//!
//! Alertmanager resolves an alert on its own once `endsAt` passes, so a firing alert is
//! sent with `endsAt` = send time + 4 × `resend_interval` and sent again every
//! `resend_interval`, as Prometheus does; `endsAt` is stamped when the request is made, so
//! a notification that waited out an outage in the outbox still arrives as firing. A
//! resolved alert is sent with `endsAt` = the time it resolved.
//!
//! Alertmanager identifies an alert by its whole label set, `tier` included. An escalation
//! therefore sends two alerts: the new tier's label set, firing, and the previous one with
//! `endsAt` = the escalation time, so Alertmanager does not keep the old tier alive until
//! it times out.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::outbox::{Notification, NotificationKind};
use super::sinks::{self, Auth, DeliveryError, HttpClient, Method};

/// Multiple of the re-send interval a firing alert's `endsAt` lies ahead (Prometheus uses 4).
const ENDS_AT_RESENDS: u32 = 4;

#[derive(Debug)]
pub(crate) struct AlertmanagerSink {
    name: String,
    endpoint: String,
    auth: Auth,
    http: HttpClient,
    resend_interval: Duration,
}

/// One element of the `POST /api/v2/alerts` body (`postableAlert` in Alertmanager's
/// OpenAPI spec).
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<&'a str>,
}

impl AlertmanagerSink {
    pub(crate) fn new(
        name: String,
        url: &str,
        auth: Auth,
        http: HttpClient,
        resend_interval: Duration,
    ) -> AlertmanagerSink {
        AlertmanagerSink {
            name,
            endpoint: sinks::join_url(url, "/api/v2/alerts"),
            auth,
            http,
            resend_interval,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn deliver(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let alerts = postable_alerts(notification, now, self.resend_interval);
        let body = serde_json::to_vec(&alerts).map_err(|e| DeliveryError::Unreachable {
            url: self.endpoint.clone(),
            message: format!("cannot encode the alerts: {e}"),
        })?;
        self.http
            .send_json(Method::Post, &self.endpoint, &self.auth, &body)?
            .success(&self.endpoint)
            .map(drop)
    }
}

/// The alerts one notification becomes, sent at `now`.
pub(crate) fn postable_alerts(
    notification: &Notification,
    now: DateTime<Utc>,
    resend_interval: Duration,
) -> Vec<PostableAlert<'_>> {
    let starts_at = sinks::rfc3339(notification.starts_at);
    let firing_until = now
        + chrono::TimeDelta::from_std(resend_interval.saturating_mul(ENDS_AT_RESENDS))
            .unwrap_or(chrono::TimeDelta::MAX);
    let ends_at = match (notification.kind, notification.ends_at) {
        (NotificationKind::Resolved, Some(ended)) => ended,
        (NotificationKind::Resolved, None) => notification.created_at,
        _ => firing_until,
    };

    let mut alerts = vec![PostableAlert {
        labels: &notification.labels,
        annotations: &notification.annotations,
        starts_at: starts_at.clone(),
        ends_at: sinks::rfc3339(ends_at),
        generator_url: notification.generator_url.as_deref(),
    }];
    if let Some(previous) = &notification.replaces {
        alerts.push(PostableAlert {
            labels: previous,
            annotations: &notification.annotations,
            starts_at,
            ends_at: sinks::rfc3339(notification.created_at),
            generator_url: notification.generator_url.as_deref(),
        });
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn notification(kind: NotificationKind) -> Notification {
        Notification {
            kind,
            fingerprint: "0123456789abcdef".into(),
            labels: BTreeMap::from([
                ("alertname".into(), "Burn".into()),
                ("tier".into(), "L2".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "burning".into())]),
            starts_at: at(1_700_000_000),
            ends_at: None,
            created_at: at(1_700_000_100),
            generator_url: Some("http://vigil:4318/alerts/0123456789abcdef".into()),
            replaces: None,
        }
    }

    #[test]
    fn firing_alert_ends_four_resend_intervals_after_sending() {
        let n = notification(NotificationKind::Firing);
        let alerts = postable_alerts(&n, at(1_700_000_500), Duration::from_secs(60));
        let json = serde_json::to_value(&alerts).unwrap();
        assert_eq!(json[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            json[0]["endsAt"], "2023-11-14T22:25:40.000Z",
            "send time + 240 s"
        );
        assert_eq!(
            json[0]["generatorURL"],
            "http://vigil:4318/alerts/0123456789abcdef"
        );
        assert_eq!(json[0]["labels"]["alertname"], "Burn");
        assert_eq!(json.as_array().unwrap().len(), 1);
    }

    #[test]
    fn resolved_alert_ends_when_it_resolved() {
        let mut n = notification(NotificationKind::Resolved);
        n.ends_at = Some(at(1_700_000_300));
        let alerts = postable_alerts(&n, at(1_700_009_999), Duration::from_secs(60));
        assert_eq!(alerts[0].ends_at, "2023-11-14T22:18:20.000Z");
    }

    #[test]
    fn escalation_ends_the_previous_tier_label_set() {
        let mut n = notification(NotificationKind::Escalated);
        let mut previous = n.labels.clone();
        previous.insert("tier".into(), "L1".into());
        n.replaces = Some(previous);
        let alerts = postable_alerts(&n, at(1_700_000_100), Duration::from_secs(60));
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].labels["tier"], "L2");
        assert_eq!(alerts[1].labels["tier"], "L1");
        assert_eq!(alerts[1].ends_at, sinks::rfc3339(n.created_at));
    }
}
