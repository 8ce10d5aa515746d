//! `POST /api/v1/query`: SQL over HTTP, answered with JSON rows.
//!
//! Request: `{"sql": "SELECT …"}` (JSON when declared so or when the body starts with
//! `{`), or the SQL as a plain-text body. Response:
//! `{"columns": [{"name", "type"}], "rows": [{…}], "row_count": n}`; errors are
//! `{"error": "…"}`: 403 for statements that would write, 400 for anything else wrong.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use super::{QueryEngine, QueryError, format};

pub fn routes(engine: QueryEngine) -> Router {
    Router::new()
        .route("/api/v1/query", post(query))
        .with_state(engine)
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": message }).to_string(),
    )
        .into_response()
}

async fn query(State(engine): State<QueryEngine>, headers: HeaderMap, body: Bytes) -> Response {
    // JSON when declared, or when the body is an object (curl -d sends a form type).
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"))
        || body.trim_ascii_start().starts_with(b"{");
    let sql = if is_json {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => match value
                .get("sql")
                .or_else(|| value.get("query"))
                .and_then(|v| v.as_str())
            {
                Some(sql) => sql.to_owned(),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "request body needs a \"sql\" string field".into(),
                    );
                }
            },
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid JSON request body: {e}"),
                );
            }
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(sql) => sql,
            Err(_) => return error(StatusCode::BAD_REQUEST, "request body is not UTF-8".into()),
        }
    };
    let result = match engine.sql(&sql).await {
        Ok(result) => result,
        Err(e @ QueryError::Refused(_)) => return error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let rows = match format::json_rows(&result) {
        Ok(rows) => rows,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode rows: {e}"),
            );
        }
    };
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let row_count: usize = result.batches.iter().map(|b| b.num_rows()).sum();
    // The rows are already JSON; splice them in rather than parse them again.
    let mut body = Vec::with_capacity(rows.len() + 256);
    body.extend_from_slice(b"{\"columns\":");
    body.extend_from_slice(serde_json::Value::Array(columns).to_string().as_bytes());
    body.extend_from_slice(b",\"rows\":");
    body.extend_from_slice(&rows);
    body.extend_from_slice(format!(",\"row_count\":{row_count}}}").as_bytes());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
