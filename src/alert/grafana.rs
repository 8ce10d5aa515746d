//! Grafana annotations (HTTP API `/api/annotations`, service account token as Bearer).
//!
//! An alert's firing period becomes one region annotation, following Grafana's documented
//! API:
//!
//! - firing: `POST /api/annotations` with `time` = `timeEnd` = `startsAt` (epoch ms), the
//!   tags and a text; Grafana answers with the annotation's `id`, which is remembered in
//!   `grafana-annotations.json` beside the outbox (so a restart can still close it);
//! - escalated: `PATCH /api/annotations/{id}` with the new text and tags;
//! - resolved: `PATCH /api/annotations/{id}` with `timeEnd` = the resolve time, which turns
//!   the annotation into the region the alert fired over.
//!
//! When no id is known (the create was refused, or someone deleted the annotation and
//! Grafana answers 404) the sink creates the annotation instead, with both ends when the
//! alert has resolved. Annotations are organization-wide unless `dashboard_uid` is set.
//! Tags: `vigil`, `alertname:<name>`, `severity:<sev>`, and `slo:<slo>` when the alert has
//! an `slo` label, so a dashboard's annotation query can filter on any of them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use super::model::{ALERTNAME, SEVERITY, TIER};
use super::outbox::{Notification, NotificationKind};
use super::persist;
use super::sinks::{self, Auth, DeliveryError, HttpClient, Method};

const IDS_FILE: &str = "grafana-annotations.json";

#[derive(Debug)]
pub(crate) struct GrafanaSink {
    name: String,
    url: String,
    auth: Auth,
    dashboard_uid: Option<String>,
    http: HttpClient,
    ids_path: PathBuf,
    /// Annotation id per alert firing period, keyed `<fingerprint>@<startsAt epoch ms>`.
    ids: Mutex<BTreeMap<String, i64>>,
}

/// Body of `POST /api/annotations`.
#[derive(Debug, Serialize)]
struct CreateAnnotation<'a> {
    #[serde(rename = "dashboardUID", skip_serializing_if = "Option::is_none")]
    dashboard_uid: Option<&'a str>,
    time: i64,
    #[serde(rename = "timeEnd")]
    time_end: i64,
    tags: Vec<String>,
    text: String,
}

/// Body of `PATCH /api/annotations/{id}`.
#[derive(Debug, Serialize)]
struct PatchAnnotation {
    #[serde(rename = "timeEnd", skip_serializing_if = "Option::is_none")]
    time_end: Option<i64>,
    tags: Vec<String>,
    text: String,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: i64,
}

impl GrafanaSink {
    /// A sink remembering its annotation ids in `state_dir`. An unreadable ids file is
    /// logged and started afresh: the worst outcome is a second annotation for an alert.
    pub(crate) fn new(
        name: String,
        url: &str,
        auth: Auth,
        dashboard_uid: Option<String>,
        http: HttpClient,
        state_dir: &std::path::Path,
    ) -> GrafanaSink {
        let ids_path = state_dir.join(IDS_FILE);
        let ids = match std::fs::read(&ids_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %ids_path.display(), error = %e, "Grafana annotation ids unreadable; open alerts will get new annotations");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                warn!(path = %ids_path.display(), error = %e, "cannot read Grafana annotation ids; open alerts will get new annotations");
                BTreeMap::new()
            }
        };
        GrafanaSink {
            name,
            url: url.trim_end_matches('/').to_string(),
            auth,
            dashboard_uid,
            http,
            ids_path,
            ids: Mutex::new(ids),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let key = format!("{}@{}", n.fingerprint, n.starts_at.timestamp_millis());
        let known = self.lock_ids().get(&key).copied();
        let ends_at = match n.kind {
            NotificationKind::Resolved => {
                Some(n.ends_at.unwrap_or(n.created_at).timestamp_millis())
            }
            NotificationKind::Firing | NotificationKind::Escalated => None,
            // Nothing changed for Grafana; the dispatcher does not route re-sends here.
            NotificationKind::Resend => return Ok(()),
        };

        let patched = match known {
            Some(id) => self.patch(id, n, ends_at)?,
            None => false,
        };
        if !patched {
            let id = self.create(n, ends_at)?;
            if ends_at.is_none()
                && let Some(id) = id
            {
                self.remember(key.clone(), Some(id));
            }
        }
        if ends_at.is_some() {
            self.remember(key, None);
        }
        Ok(())
    }

    /// Patches annotation `id`; false when Grafana no longer has it.
    fn patch(
        &self,
        id: i64,
        n: &Notification,
        time_end: Option<i64>,
    ) -> Result<bool, DeliveryError> {
        let url = sinks::join_url(&self.url, &format!("/api/annotations/{id}"));
        let body = PatchAnnotation {
            time_end,
            tags: tags(n),
            text: text(n),
        };
        let body = encode(&url, &body)?;
        let reply = self
            .http
            .send_json(Method::Patch, &url, &self.auth, &body)?;
        if reply.status == 404 {
            warn!(sink = %self.name, id, "Grafana annotation is gone; creating it again");
            return Ok(false);
        }
        reply.success(&url).map(|_| true)
    }

    /// Creates the annotation; its id when Grafana said which.
    fn create(
        &self,
        n: &Notification,
        time_end: Option<i64>,
    ) -> Result<Option<i64>, DeliveryError> {
        let url = sinks::join_url(&self.url, "/api/annotations");
        let time = n.starts_at.timestamp_millis();
        let body = CreateAnnotation {
            dashboard_uid: self.dashboard_uid.as_deref(),
            time,
            time_end: time_end.unwrap_or(time),
            tags: tags(n),
            text: text(n),
        };
        let body = encode(&url, &body)?;
        let answer = self
            .http
            .send_json(Method::Post, &url, &self.auth, &body)?
            .success(&url)?;
        match serde_json::from_str::<Created>(&answer) {
            Ok(created) => Ok(Some(created.id)),
            Err(e) => {
                warn!(sink = %self.name, error = %e, "Grafana created an annotation without saying its id; it will be closed by a second one");
                Ok(None)
            }
        }
    }

    fn remember(&self, key: String, id: Option<i64>) {
        let mut ids = self.lock_ids();
        match id {
            Some(id) => ids.insert(key, id),
            None => ids.remove(&key),
        };
        let saved = serde_json::to_vec(&*ids)
            .map_err(std::io::Error::other)
            .and_then(|bytes| persist::write_atomically(&self.ids_path, &bytes));
        if let Err(e) = saved {
            error!(path = %self.ids_path.display(), error = %e, "cannot save Grafana annotation ids; after a restart open alerts get new annotations");
        }
    }

    fn lock_ids(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn encode<T: Serialize>(url: &str, body: &T) -> Result<Vec<u8>, DeliveryError> {
    serde_json::to_vec(body).map_err(|e| DeliveryError::Unreachable {
        url: url.to_string(),
        message: format!("cannot encode the annotation: {e}"),
    })
}

fn tags(n: &Notification) -> Vec<String> {
    let mut tags = vec!["vigil".to_string()];
    for name in [ALERTNAME, "slo", SEVERITY] {
        if let Some(value) = n.labels.get(name) {
            tags.push(format!("{name}:{value}"));
        }
    }
    tags
}

/// `"<status> <alertname> (<severity>, tier <tier>): <summary>"`, the summary being the
/// `summary` annotation, else `description`.
fn text(n: &Notification) -> String {
    let status = match n.kind {
        NotificationKind::Firing | NotificationKind::Resend => "Firing",
        NotificationKind::Escalated => "Firing, escalated",
        NotificationKind::Resolved => "Resolved",
    };
    let label = |name: &str| n.labels.get(name).map(String::as_str).unwrap_or("?");
    let mut text = format!(
        "{status}: {} ({}, tier {})",
        label(ALERTNAME),
        label(SEVERITY),
        label(TIER)
    );
    if let Some(summary) = n
        .annotations
        .get("summary")
        .or_else(|| n.annotations.get("description"))
    {
        text.push_str(": ");
        text.push_str(summary);
    }
    text
}
