//! `Last-Modified` / `If-Modified-Since` for metadata. Composer stores the
//! header verbatim and sends it back; a bodiless 304 makes it reuse its copy
//! (COMPOSER-PROTOCOL.md §3). Callers decide freshness only after auth and
//! visibility checks, since the client cache is not keyed by credential.

use crate::domain::Timestamp;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metadata is per token, so shared caches must not keep it, and clients
/// must revalidate it every time.
const CACHE_CONTROL: &str = "private, no-cache";

/// True when the client's copy (per `If-Modified-Since`) is still current.
pub fn is_fresh(headers: &HeaderMap, modified: Option<Timestamp>) -> bool {
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (modified, since) {
        (Some(modified), Some(since)) => system_time(modified) <= since,
        _ => false,
    }
}

/// The bodiless 304.
pub fn not_modified(modified: Option<Timestamp>) -> Response {
    with_validators(StatusCode::NOT_MODIFIED.into_response(), modified)
}

/// A 200 JSON response carrying `Last-Modified`.
pub fn json(body: Vec<u8>, modified: Option<Timestamp>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_validators(response, modified)
}

fn with_validators(mut response: Response, modified: Option<Timestamp>) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    if let Some(date) = modified
        .map(|m| httpdate::fmt_http_date(system_time(m)))
        .and_then(|d| HeaderValue::from_str(&d).ok())
    {
        headers.insert(header::LAST_MODIFIED, date);
    }
    response
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t.0).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ims(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn copy_is_fresh_when_not_older_than_modification() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        let h = ims("Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(is_fresh(&h, Some(Timestamp(784_111_777))));
        assert!(is_fresh(&h, Some(Timestamp(784_111_776))));
        assert!(!is_fresh(&h, Some(Timestamp(784_111_778))));
    }

    #[test]
    fn copy_is_stale_when_header_or_time_is_missing() {
        assert!(!is_fresh(&HeaderMap::new(), Some(Timestamp(1))));
        assert!(!is_fresh(&ims("yesterday"), Some(Timestamp(1))));
        assert!(!is_fresh(&ims("Sun, 06 Nov 1994 08:49:37 GMT"), None));
    }

    #[test]
    fn last_modified_is_an_http_date_when_known() {
        let r = json(b"{}".to_vec(), Some(Timestamp(784_111_777)));
        assert_eq!(
            r.headers()[header::LAST_MODIFIED],
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert!(
            !json(Vec::new(), None)
                .headers()
                .contains_key(header::LAST_MODIFIED)
        );
    }
}
