//! GitLab's two pagination styles and its conditional GETs.
//!
//! Offset pagination answers `page`/`per_page` (default 20, at most 100)
//! with `Link` (next, prev, first, last) and the `X-Page`, `X-Per-Page`,
//! `X-Next-Page`, `X-Prev-Page`, `X-Total` and `X-Total-Pages` headers.
//! Keyset pagination (`pagination=keyset`, ordered by id) answers with a
//! `Link: <…&id_after=N>; rel="next"` only, and no totals.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, ETAG, LINK};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha1::{Digest, Sha1};

const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 100;

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ListQuery {
    pub per_page: Option<usize>,
    pub page: Option<usize>,
    pub pagination: Option<String>,
    pub id_after: Option<u64>,
    pub with_shared: Option<bool>,
    pub with_projects: Option<bool>,
}

impl ListQuery {
    fn per_page(&self) -> usize {
        self.per_page
            .unwrap_or(DEFAULT_PER_PAGE)
            .clamp(1, MAX_PER_PAGE)
    }
}

/// `{base}{path}?{query}` with `param` set to `value`.
fn link(base: &str, uri: &Uri, param: &str, value: impl std::fmt::Display) -> String {
    let mut params: Vec<String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(param))
        .map(str::to_owned)
        .collect();
    params.push(format!("{param}={value}"));
    format!("{base}{}?{}", uri.path(), params.join("&"))
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Keyset pagination when asked for, offset pagination otherwise. `items`
/// are `(id, body)` sorted by id.
pub(super) fn listing(
    base: &str,
    uri: &Uri,
    query: &ListQuery,
    items: Vec<(u64, Value)>,
) -> Response {
    if query.pagination.as_deref() != Some("keyset") {
        return offset(base, uri, query, items);
    }
    let per_page = query.per_page();
    let after = query.id_after.unwrap_or(0);
    let mut rest = items.into_iter().filter(|(id, _)| *id > after).peekable();
    let page: Vec<(u64, Value)> = rest.by_ref().take(per_page).collect();
    let more = rest.peek().is_some();
    let last_id = page.last().map(|(id, _)| *id);
    let mut response =
        axum::Json(page.into_iter().map(|(_, v)| v).collect::<Vec<_>>()).into_response();
    if more && let Some(last_id) = last_id {
        let next = format!("<{}>; rel=\"next\"", link(base, uri, "id_after", last_id));
        insert(response.headers_mut(), LINK.as_str(), &next);
    }
    response
}

/// One page of `items` with GitLab's offset pagination headers.
pub(super) fn offset(
    base: &str,
    uri: &Uri,
    query: &ListQuery,
    items: Vec<(u64, Value)>,
) -> Response {
    let per_page = query.per_page();
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let current = query.page.unwrap_or(1).max(1);
    let page: Vec<Value> = items
        .into_iter()
        .skip((current - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(_, v)| v)
        .collect();
    let next = (current < last).then_some(current + 1);
    let prev = (current > 1).then(|| (current - 1).min(last));
    let mut links = Vec::new();
    if let Some(n) = next {
        links.push(format!("<{}>; rel=\"next\"", link(base, uri, "page", n)));
    }
    if let Some(p) = prev {
        links.push(format!("<{}>; rel=\"prev\"", link(base, uri, "page", p)));
    }
    links.push(format!("<{}>; rel=\"first\"", link(base, uri, "page", 1)));
    links.push(format!("<{}>; rel=\"last\"", link(base, uri, "page", last)));
    let mut response = axum::Json(page).into_response();
    let headers = response.headers_mut();
    insert(headers, LINK.as_str(), &links.join(", "));
    let text = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    insert(headers, "x-page", &current.to_string());
    insert(headers, "x-per-page", &per_page.to_string());
    insert(headers, "x-next-page", &text(next));
    insert(headers, "x-prev-page", &text(prev));
    insert(headers, "x-total", &total.to_string());
    insert(headers, "x-total-pages", &last.to_string());
    response
}

/// Adds a weak ETag (SHA-1 of the body, as GitLab's API sends `W/"…"`) to
/// JSON 200s and turns them into 304 when the client already holds it.
pub(super) async fn with_etag(response: Response, if_none_match: Option<HeaderValue>) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = format!("\"{}\"", hex::encode(Sha1::digest(&bytes)));
    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == tag || t == "*")
        });
    insert(&mut parts.headers, ETAG.as_str(), &format!("W/{tag}"));
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(CONTENT_TYPE);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}
