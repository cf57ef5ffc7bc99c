//! Answering a metadata request from a published document: validators
//! (`ETag`, `Last-Modified`), conditional requests (`If-None-Match`, then
//! `If-Modified-Since`, as RFC 9110 §13.2.2 orders them) and gzip. Composer
//! stores `Last-Modified` verbatim and sends it back; a bodiless 304 makes
//! it reuse its copy (COMPOSER-PROTOCOL.md §3). Callers answer only after
//! auth and visibility checks, since the client cache is not keyed by
//! credential.

use crate::composer::catalog::{Document, Modified};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Metadata is per token, so shared caches must not keep it, and clients
/// must revalidate it every time.
const CACHE_CONTROL: &str = "private, no-cache";

/// The answer depends on the credentials and on the accepted encodings.
const VARY: &str = "Authorization, Accept-Encoding";

/// `doc` as a 200 (gzipped when the client accepts gzip), or a 304 when the
/// client's copy is current.
pub fn respond(headers: &HeaderMap, doc: &Document, modified: Option<&Modified>) -> Response {
    let mut response = if is_fresh(headers, doc, modified) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let gzip = accepts_gzip(headers);
        let body = if gzip { doc.gzip() } else { doc.body() };
        let mut r = Response::new(Body::from(body.clone()));
        let out = r.headers_mut();
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if gzip {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let out = response.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    out.insert(header::VARY, HeaderValue::from_static(VARY));
    if let Ok(etag) = HeaderValue::from_str(doc.etag()) {
        out.insert(header::ETAG, etag);
    }
    if let Some(date) = modified.and_then(|m| HeaderValue::from_str(m.http_date()).ok()) {
        out.insert(header::LAST_MODIFIED, date);
    }
    response
}

/// True when the client's copy is current: by its entity tags when it sends
/// `If-None-Match` (then `If-Modified-Since` is ignored), else by date.
fn is_fresh(headers: &HeaderMap, doc: &Document, modified: Option<&Modified>) -> bool {
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        let Ok(tags) = tags.to_str() else {
            return false;
        };
        // Weak comparison: `W/"x"` matches `"x"`.
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == doc.etag());
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (modified, since) {
        (Some(modified), Some(since)) => modified.system_time() <= since,
        _ => false,
    }
}

/// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused
                && ["gzip", "x-gzip", "*"]
                    .iter()
                    .any(|c| coding.eq_ignore_ascii_case(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn doc() -> Document {
        Document::new(b"{}".to_vec())
    }

    #[test]
    fn copy_is_fresh_when_not_older_than_modification() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        let h = with(&[(header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let at = |t| Some(Modified::new(Timestamp(t)));
        assert!(is_fresh(&h, &doc(), at(784_111_777).as_ref()));
        assert!(is_fresh(&h, &doc(), at(784_111_776).as_ref()));
        assert!(!is_fresh(&h, &doc(), at(784_111_778).as_ref()));
    }

    #[test]
    fn copy_is_stale_when_header_or_time_is_missing() {
        let at = Some(Modified::new(Timestamp(1)));
        assert!(!is_fresh(&HeaderMap::new(), &doc(), at.as_ref()));
        let bad = with(&[(header::IF_MODIFIED_SINCE, "yesterday")]);
        assert!(!is_fresh(&bad, &doc(), at.as_ref()));
        let date = with(&[(header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert!(!is_fresh(&date, &doc(), None));
    }

    #[test]
    fn entity_tag_decides_when_if_none_match_is_sent() {
        let d = doc();
        let matching = format!("\"other\", W/{}", d.etag());
        let future = "Fri, 01 Jan 2100 00:00:00 GMT";
        let at = Some(Modified::new(Timestamp(1)));
        let h = with(&[(header::IF_NONE_MATCH, &matching)]);
        assert!(is_fresh(&h, &d, None));
        // A date that alone would be fresh does not count against a tag
        // that does not match.
        let h = with(&[
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, future),
        ]);
        assert!(!is_fresh(&h, &d, at.as_ref()));
    }

    #[test]
    fn gzip_is_chosen_when_accepted_with_nonzero_quality() {
        let accepts = |v: &str| accepts_gzip(&with(&[(header::ACCEPT_ENCODING, v)]));
        assert!(accepts("deflate, gzip, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("br, zstd"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn answer_carries_validators_and_vary() {
        let d = doc();
        let r = respond(
            &with(&[(header::ACCEPT_ENCODING, "gzip")]),
            &d,
            Some(&Modified::new(Timestamp(784_111_777))),
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::ETAG], d.etag());
        assert_eq!(
            r.headers()[header::LAST_MODIFIED],
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(r.headers()[header::VARY], VARY);
        let plain = respond(&HeaderMap::new(), &d, None);
        assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
        assert!(!plain.headers().contains_key(header::LAST_MODIFIED));
    }
}
