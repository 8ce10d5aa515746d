//! The alert API on Vigil's HTTP port.
//!
//! - `GET /api/v1/alerts`: the open (pending and firing) alerts as JSON, newest first.
//! - `POST /api/v1/alerts/{id}/ack` with `{"by": "who"}` (or an empty body: `api`):
//!   acknowledges the firing alert whose fingerprint is, or starts with, `id`; it then
//!   escalates no further. The transition is written to the `alerts` table. Answers 404
//!   for an unknown id, 409 when the alert is not firing or already acknowledged, 400 for
//!   an ambiguous id or a bad body.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use super::{AlertEngine, AlertError, transitions_to_batch};
use crate::store::{Store, Table};

/// The alert engine as the SLO job and the HTTP API share it. Its calls block on fsync:
/// take the lock on the blocking pool.
pub type SharedEngine = Arc<Mutex<AlertEngine>>;

#[derive(Debug, Clone)]
struct Api {
    engine: SharedEngine,
    store: Store,
}

pub fn routes(engine: SharedEngine, store: Store) -> Router {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .with_state(Api { engine, store })
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn list(State(api): State<Api>) -> Response {
    let engine = api.engine.clone();
    let alerts = tokio::task::spawn_blocking(move || {
        let engine = engine.lock().unwrap_or_else(|e| e.into_inner());
        let mut alerts: Vec<_> = engine.alerts().cloned().collect();
        alerts.sort_by_key(|a| std::cmp::Reverse(a.active_since));
        serde_json::to_value(alerts)
    })
    .await;
    match alerts {
        Ok(Ok(alerts)) => reply(StatusCode::OK, alerts),
        Ok(Err(e)) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("cannot encode alerts: {e}")}),
        ),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("alert listing failed: {e}")}),
        ),
    }
}

async fn ack(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> Response {
    let by = if body.trim_ascii().is_empty() {
        "api".to_owned()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => match value.get("by").and_then(|v| v.as_str()) {
                Some(by) => by.to_owned(),
                None => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "the body needs a \"by\" string: who acknowledges"}),
                    );
                }
            },
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("invalid JSON body: {e}")}),
                );
            }
        }
    };
    let engine = api.engine.clone();
    let acked = tokio::task::spawn_blocking(move || {
        let mut engine = engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.ack(&id, &by, chrono::Utc::now())
    })
    .await;
    let transition = match acked {
        Ok(Ok(transition)) => transition,
        Ok(Err(e)) => {
            let status = match &e {
                AlertError::UnknownAlert { .. } => StatusCode::NOT_FOUND,
                AlertError::NotFiring { .. } | AlertError::AlreadyAcknowledged { .. } => {
                    StatusCode::CONFLICT
                }
                AlertError::AmbiguousId { .. } | AlertError::MissingAcknowledger => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return reply(status, json!({"error": e.to_string()}));
        }
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": format!("acknowledgement failed: {e}")}),
            );
        }
    };
    let recorded = match transitions_to_batch(std::slice::from_ref(&transition)) {
        Ok(batch) => api
            .store
            .append_derived(Table::Alerts, batch)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = recorded {
        // The acknowledgement itself is saved in the engine's state; only its row is lost.
        tracing::warn!(error = %e, "acknowledgement not written to the alerts table");
    }
    reply(
        StatusCode::OK,
        json!({
            "fingerprint": transition.fingerprint,
            "alertname": transition.alertname,
            "state": transition.state.as_str(),
            "severity": transition.severity.as_str(),
            "acknowledged_by": transition.acknowledged_by,
            "acknowledged_at": transition.acknowledged_at.map(|t| t.to_rfc3339()),
        }),
    )
}
