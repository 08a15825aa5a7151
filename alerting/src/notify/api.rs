//! The silences HTTP API in Alertmanager's JSON (its v2 shapes, so `amtool`-style clients
//! work): `GET/POST /api/v1/silences`, `GET/DELETE /api/v1/silences/{id}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use storage::now_ms;

use super::Notifier;
use super::body::go_time;
use super::silence::{Silence, SilenceMatcher, SilenceRequest};
use crate::error::{AlertingError, error_response};

/// The silences API over this notifier.
pub fn silences_router(notifier: Arc<Notifier>) -> Router {
    Router::new()
        .route("/api/v1/silences", get(list).post(create))
        .route("/api/v1/silences/{id}", get(get_one).delete(expire))
        .with_state(notifier)
}

/// A silence as Alertmanager lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableSilence<'a> {
    id: &'a str,
    status: Status,
    updated_at: String,
    comment: &'a str,
    created_by: &'a str,
    ends_at: String,
    matchers: &'a [SilenceMatcher],
    starts_at: String,
}

#[derive(Serialize)]
struct Status {
    state: &'static str,
}

impl<'a> GettableSilence<'a> {
    fn new(silence: &'a Silence, now_ms: i64) -> Self {
        GettableSilence {
            id: &silence.id,
            status: Status {
                state: silence.state(now_ms).as_str(),
            },
            updated_at: go_time(silence.updated_at_ms),
            comment: &silence.comment,
            created_by: &silence.created_by,
            ends_at: go_time(silence.ends_at_ms),
            matchers: &silence.matchers,
            starts_at: go_time(silence.starts_at_ms),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn list(State(notifier): State<Arc<Notifier>>) -> Response {
    let now = now_ms();
    let silences = notifier.silences();
    let body: Vec<GettableSilence<'_>> = silences
        .iter()
        .map(|s| GettableSilence::new(s, now))
        .collect();
    axum::Json(body).into_response()
}

async fn get_one(State(notifier): State<Arc<Notifier>>, Path(id): Path<String>) -> Response {
    match notifier.silences.get(&id) {
        Some(silence) => axum::Json(GettableSilence::new(&silence, now_ms())).into_response(),
        None => AlertingError::SilenceNotFound { id }.into_response(),
    }
}

fn parse_time(field: &str, text: &str) -> Result<i64, AlertingError> {
    query::parse_rfc3339(text).ok_or_else(|| AlertingError::InvalidSilence {
        reason: format!("{field}: {text:?} is not an RFC 3339 time"),
    })
}

async fn create(State(notifier): State<Arc<Notifier>>, body: Bytes) -> Response {
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(posted) => posted,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("invalid silence: {e}")),
    };
    let request = match (
        parse_time("startsAt", &posted.starts_at),
        parse_time("endsAt", &posted.ends_at),
    ) {
        (Ok(starts_at_ms), Ok(ends_at_ms)) => SilenceRequest {
            id: posted.id.filter(|id| !id.is_empty()),
            matchers: posted.matchers,
            starts_at_ms,
            ends_at_ms,
            created_by: posted.created_by,
            comment: posted.comment,
        },
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let result =
        tokio::task::spawn_blocking(move || notifier.silences.upsert(request, now_ms())).await;
    match result {
        Ok(Ok(id)) => {
            tracing::info!(silence = %id, "silence saved");
            axum::Json(serde_json::json!({ "silenceID": id })).into_response()
        }
        Ok(Err(e)) => e.into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn expire(State(notifier): State<Arc<Notifier>>, Path(id): Path<String>) -> Response {
    let result = tokio::task::spawn_blocking(move || notifier.silences.expire(&id, now_ms())).await;
    match result {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
