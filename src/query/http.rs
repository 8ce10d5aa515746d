//! `POST /api/v1/query`: SQL over HTTP, answered with JSON rows, CSV or Arrow.
//!
//! Request: `{"sql": "SELECT …"}` (JSON when declared so or when the body starts with
//! `{`), or the SQL as a plain-text body. `GET /api/v1/query?sql=…` answers the same, so
//! a query can be a link (alerts carry one as `generatorURL`). The response format follows `Accept`:
//! - `application/json` (the default):
//!   `{"columns": [{"name", "type"}], "rows": [{…}], "row_count": n}`;
//! - `text/csv`: a header line, then one line per row;
//! - `application/vnd.apache.arrow.stream`: an Arrow IPC stream, types kept exactly.
//!
//! Errors are `{"error": "…"}`: 403 for statements that would write, 422 for a query
//! over the memory limit, 503 (with `Retry-After`) when it timed out or found no free
//! query slot, 400 for anything else wrong.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use super::{QueryEngine, QueryError, format};

pub fn routes(engine: QueryEngine) -> Router {
    Router::new()
        .route("/api/v1/query", post(query).get(query_link))
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
    answer(&engine, &headers, &sql).await
}

/// `GET /api/v1/query?sql=…`.
async fn query_link(State(engine): State<QueryEngine>, headers: HeaderMap, uri: Uri) -> Response {
    let sql = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "sql")
        .map(|(_, sql)| sql.into_owned());
    match sql {
        Some(sql) => answer(&engine, &headers, &sql).await,
        None => error(
            StatusCode::BAD_REQUEST,
            "the query string needs a sql parameter".into(),
        ),
    }
}

/// Runs `sql` and encodes the result as `headers` accept.
async fn answer(engine: &QueryEngine, headers: &HeaderMap, sql: &str) -> Response {
    let result = match engine.sql(sql).await {
        Ok(result) => result,
        Err(e @ QueryError::Refused(_)) => return error(StatusCode::FORBIDDEN, e.to_string()),
        Err(e @ QueryError::MemoryLimit(_)) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
        Err(e @ (QueryError::Timeout(_) | QueryError::Busy(_))) => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return response;
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match accepted(headers) {
        Accepted::Json => {}
        Accepted::Csv => return encoded(&result, format::Format::Csv, "text/csv; charset=utf-8"),
        Accepted::Arrow => return arrow_stream(&result),
    }
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

enum Accepted {
    Json,
    Csv,
    Arrow,
}

/// The first format in `Accept` that Vigil writes; JSON when none is named.
fn accepted(headers: &HeaderMap) -> Accepted {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for media in accept.split(',') {
        let media = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json" => return Accepted::Json,
            "text/csv" => return Accepted::Csv,
            "application/vnd.apache.arrow.stream" => return Accepted::Arrow,
            _ => {}
        }
    }
    Accepted::Json
}

fn encoded(result: &super::QueryResult, format: format::Format, media: &'static str) -> Response {
    let mut body = Vec::new();
    match format::write(result, format, &mut body) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, media)], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode rows: {e}"),
        ),
    }
}

fn arrow_stream(result: &super::QueryResult) -> Response {
    let write = || -> Result<Vec<u8>, arrow::error::ArrowError> {
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &result.schema)?;
        for batch in &result.batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        writer.into_inner()
    };
    match write() {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode rows: {e}"),
        ),
    }
}
