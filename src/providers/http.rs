//! Shared HTTP client behaviour for every code host.
//!
//! [`HttpClient`] wraps one `reqwest::Client` per sync and adds what all
//! providers need:
//! - a concurrency limit (a semaphore permit per request in flight),
//! - request counters ([`RequestStats`]),
//! - conditional GETs: the ETag and body of a listing are kept in the
//!   [`ProviderCache`]; a 304 replays the cached body, so a no-change resync
//!   costs mostly 304s,
//! - request budgets ([`super::budget`]): every response's rate headers
//!   feed the credential's [`Budget`], which every request asks first; a
//!   full run stops at the reserve, a refusal (403/429 with `Retry-After` or
//!   a reset, secondary limits) blocks the bucket for every client of the
//!   credential. Waits up to `max_rate_limit_wait` are waited out in place;
//!   a longer one ends the request with [`ProviderError::RateLimited`],
//!   which pauses the run. Before refusing on a remembered reset, the host's
//!   free rate-limit endpoint (GitHub `GET /rate_limit`) is asked, since
//!   windows can reset early and limits grow,
//! - retries with exponential backoff and jitter on 5xx, timeouts and
//!   connection errors, up to `max_attempts`,
//! - a body size limit,
//! - writes (hook management) through the same limits and error mapping,
//!   retried only where repeating them is harmless.
//!
//! Credentials that change over time (GitHub App installation tokens) plug
//! in through an [`Authorizer`], asked for the `Authorization` value before
//! every attempt; fixed tokens stay plain default headers.
//!
//! Pagination is pluggable through [`Pagination`]: [`LinkHeader`] follows
//! `Link: <…>; rel="next"` (GitHub, GitLab); hosts that put the next page in
//! the body (Bitbucket) implement the trait over the page envelope.
//!
//! Errors name the host, never the credentials: the `Authorization` header is
//! marked sensitive and reqwest errors are stripped of their URL.

use super::budget::{Admission, Budget, HostLimits};
use super::{CachedResponse, ClientSettings, ProviderCache, ProviderError, RequestStats};
use crate::domain::{Credential, ProviderKind};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Response headers kept with a cached body, because a 304 may omit them.
const REPLAYED_HEADERS: [&str; 1] = ["link"];

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How often one request may be paused by a rate limit before giving up:
/// a host that keeps limiting after its announced reset is not recovering.
const MAX_RATE_LIMIT_WAITS: u32 = 3;

/// GitHub asks clients hit by a secondary limit without `Retry-After` to
/// wait at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether a GET may be answered from the ETag cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Send `If-None-Match` with the stored ETag and store the new one.
    Conditional,
    /// Plain GET; nothing is stored (content addressed by commit, archives).
    Bypass,
}

/// A successful response (2xx, or a 304 replayed from the cache).
#[derive(Debug, Clone)]
pub struct Response {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// True when the host answered 304 and `body` came from the cache.
    pub not_modified: bool,
}

/// What a paginated listing produced. `complete` is false when a page failed
/// (then `error` says why) or the chain of pages was broken.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub complete: bool,
    pub error: Option<ProviderError>,
}

/// How a host spreads a listing over pages.
pub trait Pagination: Send + std::marker::Sync {
    /// The items of one page body.
    fn items<T: DeserializeOwned>(&self, body: &[u8]) -> Result<Vec<T>, serde_json::Error>;
    /// The URL of the page after `current`, if any.
    fn next(&self, current: &Url, headers: &HeaderMap, body: &[u8]) -> Option<Url>;
}

/// Pages whose body is a JSON array and whose next page is announced in a
/// `Link` header (RFC 8288), as GitHub and GitLab do.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkHeader;

impl Pagination for LinkHeader {
    fn items<T: DeserializeOwned>(&self, body: &[u8]) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_slice(body)
    }

    fn next(&self, current: &Url, headers: &HeaderMap, _body: &[u8]) -> Option<Url> {
        headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| parse_link_header::parse_with_rel(v).ok())
            .find_map(|links| links.get("next").map(|link| link.raw_uri.clone()))
            .and_then(|next| current.join(&next).ok())
    }
}

/// A host's API base URL: `url` trimmed of a trailing `/` (or `default` when
/// empty), which must be an absolute http(s) URL with a host.
pub fn api_base(url: &str, default: &str) -> Result<Url, ProviderError> {
    let url = match url.trim().trim_end_matches('/') {
        "" => default,
        given => given,
    };
    let invalid = |reason: String| ProviderError::Unreachable {
        host: url.to_owned(),
        reason,
    };
    let api = Url::parse(url).map_err(|e| invalid(format!("invalid API URL: {e}")))?;
    if !matches!(api.scheme(), "http" | "https") || api.host_str().is_none() {
        return Err(invalid(
            "the API URL must be an http(s) URL with a host".to_owned(),
        ));
    }
    Ok(api)
}

/// The `Authorization` header for `credential`: a token as `Bearer`, a
/// username and secret as HTTP Basic. Marked sensitive so it never shows in
/// Debug output, and reqwest drops it on a redirect to another host.
/// Credentials `provider` cannot take (a GitHub App elsewhere) are refused,
/// saying what it takes (`expected`).
pub fn authorization(
    credential: &Credential,
    api: &Url,
    provider: ProviderKind,
    expected: &'static str,
) -> Result<HeaderMap, ProviderError> {
    let value = match credential {
        Credential::Token(token) => format!("Bearer {}", token.expose()),
        Credential::Basic { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        Credential::GithubApp { .. } => {
            return Err(ProviderError::UnsupportedCredential { provider, expected });
        }
    };
    let mut auth = HeaderValue::from_str(&value).map_err(|_| ProviderError::Unreachable {
        host: api.host_str().unwrap_or_default().to_owned(),
        reason: "the credentials contain characters not allowed in an HTTP header".to_owned(),
    })?;
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, auth);
    Ok(headers)
}

/// Supplies the `Authorization` header of credentials that expire, such as
/// GitHub App installation tokens. Implementations renew the credential
/// themselves and return a value marked sensitive.
#[async_trait]
pub trait Authorizer: Send + std::marker::Sync {
    /// The value to send with the next request, renewed first if needed.
    async fn authorization(&self) -> Result<HeaderValue, ProviderError>;
    /// What tells this credential apart from others at the same host (for
    /// its budget; hashed, never shown). Not secret material.
    fn identity(&self) -> String;
    /// The host answered 401 to `rejected`: forget it, so the next call to
    /// [`Authorizer::authorization`] fetches a fresh one (a token revoked or
    /// expired early because of clock skew).
    fn reject(&self, rejected: &HeaderValue);
}

/// The HTTP client of one sync. Cheap to share by reference across tasks.
pub struct HttpClient {
    client: reqwest::Client,
    origin: reqwest::Url,
    host: String,
    cache: Arc<dyn ProviderCache>,
    settings: ClientSettings,
    permits: Semaphore,
    requests: AtomicU64,
    not_modified: AtomicU64,
    /// The credential's budget, shared with every client of the credential.
    budget: Arc<Budget>,
    limits: &'static HostLimits,
    /// The host's free rate-limit endpoint and how to read its answer.
    budget_check: Option<BudgetCheck>,
    /// When the free endpoint was last asked: concurrent requests that find
    /// the budget spent ask it once between them.
    last_check: tokio::sync::Mutex<Option<Instant>>,
    authorizer: Option<Arc<dyn Authorizer>>,
}

/// A rate-limit endpoint that costs nothing (GitHub's `GET /rate_limit`),
/// and the function that reports its answer to the budget.
struct BudgetCheck {
    url: Url,
    report: fn(&Budget, &HeaderMap, &[u8]),
}

/// How long a free check stays good enough for requests that find the
/// budget spent right after it.
const CHECK_FRESH: Duration = Duration::from_secs(5);

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("host", &self.host)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A request the budget let go, until its answer is observed. Dropped
/// unanswered (the run was cancelled or another request's error ended it),
/// it stops counting as in flight.
struct Admitted<'a> {
    budget: &'a Budget,
    bucket: Option<&'static str>,
}

impl Admitted<'_> {
    fn answered(mut self, headers: &HeaderMap, now: SystemTime) {
        if let Some(bucket) = self.bucket.take() {
            self.budget.observe(bucket, headers, now);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(bucket) = self.bucket.take() {
            self.budget.abandoned(bucket);
        }
    }
}

/// Why one attempt failed before a status was available.
enum AttemptError {
    Transport(reqwest::Error),
    TooLarge,
}

impl HttpClient {
    /// `api_url` is the host's API base; `headers` are sent with every
    /// request (mark credentials with `HeaderValue::set_sensitive`); `limits`
    /// are the host's documented budgets. The credential's budget is found
    /// by its `Authorization` header in `settings.budgets`.
    pub fn new(
        api_url: &Url,
        headers: HeaderMap,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
        limits: &'static HostLimits,
    ) -> Result<Self, ProviderError> {
        let host = host_label(api_url);
        let identity = headers
            .get(AUTHORIZATION)
            .map_or(&[][..], HeaderValue::as_bytes);
        let budget = settings
            .budgets
            .of(&host, identity, limits, settings.budget_reserve_percent);
        let mut headers = headers;
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "packyard/",
                env!("CARGO_PKG_VERSION")
            )));
        // reqwest's default redirect policy keeps Authorization on same-origin
        // redirects and drops it cross-origin, which is what archives need.
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| ProviderError::Unreachable {
                host: host.clone(),
                reason: error_chain(&e),
            })?;
        Ok(Self {
            client,
            origin: api_url.clone(),
            host,
            cache,
            settings: settings.clone(),
            permits: Semaphore::new(settings.concurrency.max(1)),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            budget,
            limits,
            budget_check: None,
            last_check: tokio::sync::Mutex::new(None),
            authorizer: None,
        })
    }

    /// Sends the `Authorization` value `authorizer` gives with every request,
    /// for credentials that expire (instead of a fixed default header). The
    /// budget becomes the one of the authorizer's credential.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.budget = self.settings.budgets.of(
            &self.host,
            authorizer.identity().as_bytes(),
            self.limits,
            self.settings.budget_reserve_percent,
        );
        self.authorizer = Some(authorizer);
        self
    }

    /// Asks `url` (a rate-limit endpoint that costs nothing) before refusing
    /// a request because the budget is spent; `report` reads its answer.
    pub fn with_budget_check(mut self, url: Url, report: fn(&Budget, &HeaderMap, &[u8])) -> Self {
        self.budget_check = Some(BudgetCheck { url, report });
        self
    }

    /// The credential's budget.
    pub fn budget(&self) -> Arc<Budget> {
        self.budget.clone()
    }

    /// The host as shown in messages, e.g. `api.github.com`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn stats(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
        }
    }

    /// GETs `url` and decodes the JSON body.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        mode: CacheMode,
    ) -> Result<T, ProviderError> {
        let response = self.get(url, mode, self.settings.max_body_bytes).await?;
        self.decode(url, &response.body)
    }

    /// Decodes the JSON `body` received from `url`.
    pub fn decode<T: DeserializeOwned>(&self, url: &Url, body: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(body).map_err(|e| self.decode_error(url, &e))
    }

    /// Follows a paginated listing to its end. A page that fails ends the
    /// walk: the caller gets the items so far with `complete = false`.
    pub async fn get_all<T: DeserializeOwned, P: Pagination>(
        &self,
        first: Url,
        pagination: &P,
    ) -> Paged<T> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                tracing::warn!(host = %self.host, path = url.path(), "pagination loops back; listing marked partial");
                return Paged {
                    items,
                    complete: false,
                    error: None,
                };
            }
            let response = match self
                .get(&url, CacheMode::Conditional, self.settings.max_body_bytes)
                .await
            {
                Ok(r) => r,
                Err(error) => {
                    return Paged {
                        items,
                        complete: false,
                        error: Some(error),
                    };
                }
            };
            match pagination.items(&response.body) {
                Ok(page) => items.extend(page),
                Err(e) => {
                    return Paged {
                        items,
                        complete: false,
                        error: Some(self.decode_error(&url, &e)),
                    };
                }
            }
            next = pagination.next(&url, &response.headers, &response.body);
            // The token goes to every page: never follow a link elsewhere.
            if next
                .as_ref()
                .is_some_and(|n| n.origin() != self.origin.origin())
            {
                tracing::warn!(host = %self.host, "next page is on another host; listing marked partial");
                return Paged {
                    items,
                    complete: false,
                    error: None,
                };
            }
        }
        Paged {
            items,
            complete: true,
            error: None,
        }
    }

    /// GETs `url` with retries and rate-limit waits. Any non-success status
    /// becomes a [`ProviderError`]; bodies above `limit` bytes are refused.
    pub async fn get(
        &self,
        url: &Url,
        mode: CacheMode,
        limit: usize,
    ) -> Result<Response, ProviderError> {
        self.request(Method::GET, url, None, mode, limit, true)
            .await
    }

    /// POSTs a read-only query (GraphQL): retried like a GET, never cached.
    pub async fn post_query(
        &self,
        url: &Url,
        body: &serde_json::Value,
        limit: usize,
    ) -> Result<Response, ProviderError> {
        self.request(
            Method::POST,
            url,
            Some(body),
            CacheMode::Bypass,
            limit,
            true,
        )
        .await
    }

    /// Sends a write (`POST`, `PUT`, `DELETE`) with an optional JSON body,
    /// with the same rate-limit waits and error mapping as [`Self::get`].
    /// Only idempotent methods are retried after the host may have acted on
    /// the request, so a retried `POST` cannot create something twice.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, ProviderError> {
        let limit = self.settings.max_body_bytes;
        let idempotent = method.is_idempotent();
        self.request(method, url, body, CacheMode::Bypass, limit, idempotent)
            .await
    }

    async fn request(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        mode: CacheMode,
        limit: usize,
        idempotent: bool,
    ) -> Result<Response, ProviderError> {
        let cached = match mode {
            CacheMode::Conditional => self.cache.etag(url.as_str()),
            CacheMode::Bypass => None,
        };
        let bucket = self.budget.bucket_of(url);
        let mut attempt = 1;
        let mut rate_waits = 0;
        let mut reauthorized = false;
        loop {
            let authorization = match &self.authorizer {
                Some(a) => Some(a.authorization().await?),
                None => None,
            };
            // Every request admitted here is observed below, answered or
            // not, or given back if this future is dropped in between.
            let mut admitted = match bucket {
                Some(bucket) => Some(self.admit(bucket).await?),
                None => None,
            };
            let outcome = self
                .attempt(
                    &method,
                    url,
                    body,
                    cached.as_ref(),
                    limit,
                    authorization.as_ref(),
                )
                .await;
            let now = SystemTime::now();
            if let Some(admitted) = admitted.take() {
                let none = HeaderMap::new();
                let headers = outcome.as_ref().map_or(&none, |(_, headers, _)| headers);
                admitted.answered(headers, now);
            }
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(AttemptError::TooLarge) => {
                    return Err(ProviderError::Decode {
                        host: self.host.clone(),
                        path: url.path().to_owned(),
                        reason: format!("the response is larger than {limit} bytes"),
                    });
                }
                Err(AttemptError::Transport(e)) => {
                    // A request that never connected was not acted on.
                    let safe = idempotent || e.is_connect();
                    if safe && retryable_transport(&e) && attempt < self.settings.max_attempts {
                        tracing::debug!(host = %self.host, path = url.path(), attempt, error = %error_chain(&e), "retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ProviderError::Unreachable {
                        host: self.host.clone(),
                        reason: error_chain(&e),
                    });
                }
            };
            if status == StatusCode::NOT_MODIFIED
                && let Some(cached) = &cached
            {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok(replay(cached, headers));
            }
            if let Some(wait) = rate_limit_wait(status, &headers, &body) {
                rate_waits += 1;
                if let Some(bucket) = bucket {
                    self.budget.refused(bucket, wait, now);
                }
                if bucket.is_none() || rate_waits > MAX_RATE_LIMIT_WAITS {
                    return Err(self.rate_limited(bucket, wait));
                }
                tracing::info!(host = %self.host, wait_s = wait.as_secs_f64(), "rate limited");
                continue;
            }
            // A renewable credential rejected once is renewed and tried once
            // more; a second 401 means the credential itself is wrong.
            if status == StatusCode::UNAUTHORIZED
                && !reauthorized
                && let (Some(authorizer), Some(rejected)) = (&self.authorizer, &authorization)
            {
                authorizer.reject(rejected);
                reauthorized = true;
                continue;
            }
            if status.is_server_error() && idempotent && attempt < self.settings.max_attempts {
                tracing::debug!(host = %self.host, path = url.path(), attempt, %status, "retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            if !status.is_success() {
                return Err(self.status_error(url, status, &body));
            }
            if mode == CacheMode::Conditional {
                self.store(url, &headers, &body);
            }
            return Ok(Response {
                headers,
                body,
                not_modified: false,
            });
        }
    }

    /// One request under a concurrency permit, body read to the end.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        cached: Option<&CachedResponse>,
        limit: usize,
        authorization: Option<&HeaderValue>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AttemptError> {
        // The semaphore is never closed, so acquiring cannot fail; a closed
        // one would only mean running without the limit.
        let _permit = self.permits.acquire().await.ok();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        if let Some(etag) = cached.and_then(|c| HeaderValue::from_str(&c.etag).ok()) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(AttemptError::Transport)?;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(AttemptError::TooLarge);
        }
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(AttemptError::Transport)? {
            if body.len() + chunk.len() > limit {
                return Err(AttemptError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, Bytes::from(body)))
    }

    fn store(&self, url: &Url, headers: &HeaderMap, body: &Bytes) {
        let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let replayed = REPLAYED_HEADERS
            .iter()
            .flat_map(|name| {
                headers.get_all(*name).iter().filter_map(move |v| {
                    v.to_str().ok().map(|v| ((*name).to_owned(), v.to_owned()))
                })
            })
            .collect();
        self.cache.put_etag(
            url.as_str(),
            CachedResponse {
                etag: etag.to_owned(),
                body: body.to_vec(),
                headers: replayed,
            },
        );
    }

    /// Waits until the budget lets a request to `bucket` go: waits up to
    /// `max_rate_limit_wait` are waited out; a longer one, after the free
    /// endpoint confirmed it, is [`ProviderError::RateLimited`].
    async fn admit(&self, bucket: &'static str) -> Result<Admitted<'_>, ProviderError> {
        let mut checked = false;
        loop {
            let now = SystemTime::now();
            let wait = match self.budget.admit(bucket, now) {
                Admission::Go => {
                    return Ok(Admitted {
                        budget: &self.budget,
                        bucket: Some(bucket),
                    });
                }
                Admission::Wait(wait) => wait,
                Admission::Spent { until, .. } => {
                    if !checked && self.check_budget().await {
                        checked = true;
                        continue;
                    }
                    until.duration_since(now).unwrap_or_default()
                }
            };
            if wait > self.settings.max_rate_limit_wait {
                return Err(self.rate_limited(Some(bucket), wait));
            }
            tracing::info!(host = %self.host, bucket, wait_s = wait.as_secs_f64(), "request budget spent; waiting");
            tokio::time::sleep(wait).await;
        }
    }

    /// Asks the free rate-limit endpoint, unless another request just did;
    /// true when the budget may have changed.
    async fn check_budget(&self) -> bool {
        let Some(check) = &self.budget_check else {
            return false;
        };
        let mut last = self.last_check.lock().await;
        if last.is_some_and(|at| at.elapsed() < CHECK_FRESH) {
            return true;
        }
        *last = Some(Instant::now());
        // The endpoint is free (its bucket is `None`), so this never waits
        // on the budget it is checking.
        let answer = Box::pin(self.request(
            Method::GET,
            &check.url,
            None,
            CacheMode::Bypass,
            1 << 20,
            true,
        ));
        match answer.await {
            Ok(response) => {
                (check.report)(&self.budget, &response.headers, &response.body);
                true
            }
            Err(e) => {
                tracing::debug!(host = %self.host, error = %e, "rate-limit check failed");
                false
            }
        }
    }

    fn rate_limited(&self, bucket: Option<&'static str>, wait: Duration) -> ProviderError {
        let budget =
            bucket.and_then(|b| self.budget.headroom().into_iter().find(|h| h.bucket == b));
        ProviderError::RateLimited {
            host: self.host.clone(),
            retry_after: wait,
            budget: budget.map(Box::new),
        }
    }

    fn status_error(&self, url: &Url, status: StatusCode, body: &[u8]) -> ProviderError {
        let host = self.host.clone();
        let path = url.path().to_owned();
        let message = error_message(status, body);
        match status {
            StatusCode::UNAUTHORIZED => ProviderError::Unauthorized { host, message },
            StatusCode::FORBIDDEN => ProviderError::Forbidden {
                host,
                path,
                message,
            },
            StatusCode::NOT_FOUND => ProviderError::NotFound { host, path },
            _ => ProviderError::Http {
                host,
                path,
                status: status.as_u16(),
                message,
            },
        }
    }

    fn decode_error(&self, url: &Url, error: &serde_json::Error) -> ProviderError {
        ProviderError::Decode {
            host: self.host.clone(),
            path: url.path().to_owned(),
            reason: error.to_string(),
        }
    }
}

/// `host[:port]` of an API URL, for messages.
pub(super) fn host_label(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => url.as_str().to_owned(),
    }
}

fn replay(cached: &CachedResponse, mut headers: HeaderMap) -> Response {
    for (name, value) in &cached.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) && !headers.contains_key(&name)
        {
            headers.append(name, value);
        }
    }
    Response {
        headers,
        body: Bytes::from(cached.body.clone()),
        not_modified: true,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// How long a rate-limited response asks us to wait, or `None` when the
/// response is not a rate limit (a plain 403 stays a permission error).
pub fn rate_limit_wait(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(value) = header_str(headers, RETRY_AFTER.as_str()) {
        return Some(parse_retry_after(value).unwrap_or(SECONDARY_LIMIT_WAIT));
    }
    if header_str(headers, "x-ratelimit-remaining") == Some("0") {
        return Some(reset_wait(headers).unwrap_or(SECONDARY_LIMIT_WAIT));
    }
    let secondary = String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("rate limit");
    (status == StatusCode::TOO_MANY_REQUESTS || secondary).then_some(SECONDARY_LIMIT_WAIT)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Time until `x-ratelimit-reset` (epoch seconds). Measured against the
/// host's `Date` header when present, so a skewed local clock does not
/// matter; `Date` is truncated to the second, which errs on waiting longer.
pub fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_str(headers, "x-ratelimit-reset")?
        .parse::<u64>()
        .ok()?;
    // A reset beyond what the clock can hold is no reset time at all.
    let reset = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    let now = header_str(headers, "date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(SystemTime::now);
    Some(reset.duration_since(now).unwrap_or_default())
}

/// Exponential backoff with jitter: half the delay is fixed, half random,
/// so clients retrying together spread out.
fn backoff(attempt: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let delay = exp.min(MAX_BACKOFF);
    let half = delay / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let random = getrandom::u64().unwrap_or(0);
    half + Duration::from_millis(random % jitter_ms.max(1))
}

fn retryable_transport(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// The error and its causes, without the request URL.
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() || e.is_timeout() {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        parts.insert(0, kind.to_owned());
    }
    parts.dedup();
    parts.join(": ")
}

/// The host's own explanation: the JSON `message` field when present, at
/// the top (GitHub, GitLab), under `error` (Bitbucket Cloud:
/// `{"type":"error","error":{"message":…}}`) or in `errors[0]` (Bitbucket
/// Server).
pub(super) fn error_message(status: StatusCode, body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    ["/message", "/error/message", "/errors/0/message"]
        .iter()
        .find_map(|p| value.pointer(p).and_then(serde_json::Value::as_str))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn next_page_follows_link_when_fixture_headers() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/response-headers.json"
        ))
        .unwrap();
        let link = fixture["pagination"]["Link"].as_str().unwrap();
        let current = Url::parse("https://api.github.com/resource?page=1").unwrap();
        let next = LinkHeader.next(&current, &headers(&[("link", link)]), b"[]");
        assert_eq!(
            next.map(String::from).as_deref(),
            Some("https://api.github.com/resource?page=2")
        );
    }

    #[test]
    fn next_page_is_resolved_against_the_current_url_when_link_is_relative() {
        let url = Url::parse("https://a.test/api/r?page=1").unwrap();
        let h = headers(&[(
            "link",
            "</api/r?page=2>; rel=\"next\", </api/r?page=9>; rel=\"last\"",
        )]);
        let next = LinkHeader.next(&url, &h, b"[]");
        assert_eq!(
            next.map(String::from).as_deref(),
            Some("https://a.test/api/r?page=2")
        );
    }

    #[test]
    fn next_page_is_none_when_on_last_page() {
        let url = Url::parse("https://a.test/r?page=5").unwrap();
        let h = headers(&[("link", "<https://a.test/r?page=4>; rel=\"prev\"")]);
        assert_eq!(LinkHeader.next(&url, &h, b"[]"), None);
    }

    #[test]
    fn rate_limit_wait_is_none_when_forbidden_for_permissions() {
        let body = br#"{"message":"Resource not accessible by integration"}"#;
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new(), body),
            None
        );
    }

    #[test]
    fn rate_limit_wait_follows_retry_after_when_present() {
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, b""),
            Some(Duration::from_secs(7))
        );
    }

    /// Splits a fixture `.http` exchange into status, headers and body.
    fn exchange(text: &str) -> (StatusCode, HeaderMap, &str) {
        let (head, body) = text.split_once("\n\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
        let mut h = HeaderMap::new();
        for line in lines {
            let (k, v) = line.split_once(':').unwrap();
            h.append(
                HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes()).unwrap(),
                HeaderValue::from_str(v.trim()).unwrap(),
            );
        }
        (StatusCode::from_bytes(status.as_bytes()).unwrap(), h, body)
    }

    #[test]
    fn rate_limit_wait_uses_reset_and_date_when_exhausted() {
        let (status, h, body) = exchange(include_str!(
            "../../../shared/fixtures/github/api/errors/403-rate-limit-exceeded.http"
        ));
        // Reset 1377013266 is 15:41:06 UTC, 3025 s after the Date header.
        assert_eq!(
            rate_limit_wait(status, &h, body.as_bytes()),
            Some(Duration::from_secs(3025))
        );
    }

    /// Serves every request with `status` and `headers` on a loopback port.
    async fn answering(status: u16, headers: &'static [(&'static str, &'static str)]) -> Url {
        let app = axum::Router::new().fallback(move || async move {
            let mut response = axum::response::IntoResponse::into_response((
                axum::http::StatusCode::from_u16(status).unwrap(),
                "{}",
            ));
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(*name, axum::http::HeaderValue::from_static(value));
            }
            response
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/r", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_reset_beyond_the_clock_neither_panics_nor_pauses_when_a_host_sends_it() {
        const HUGE: &[(&str, &str)] = &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "18446744073709551615"),
        ];
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &headers(HUGE), b""),
            Some(SECONDARY_LIMIT_WAIT),
            "an impossible reset is no reset: wait as for an unexplained limit"
        );
        let settings = ClientSettings {
            max_rate_limit_wait: Duration::from_secs(1),
            ..ClientSettings::default()
        };
        let ok = answering(200, HUGE).await;
        let client = HttpClient::new(
            &ok,
            HeaderMap::new(),
            Arc::new(super::super::MemoryCache::default()),
            &settings,
            &super::super::budget::UNDOCUMENTED,
        )
        .unwrap();
        for _ in 0..2 {
            let response = tokio::time::timeout(
                Duration::from_secs(10),
                client.get(&ok, CacheMode::Bypass, 1024),
            )
            .await
            .expect("the second request is not paused until the end of time");
            assert!(response.is_ok(), "{response:?}");
        }
        let refused = answering(403, HUGE).await;
        let result = client.get(&refused, CacheMode::Bypass, 1024).await;
        assert!(
            matches!(result, Err(ProviderError::RateLimited { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn secondary_limit_waits_a_minute_when_no_header_says_otherwise() {
        let (status, h, body) = exchange(include_str!(
            "../../../shared/fixtures/github/api/errors/403-secondary-rate-limit.http"
        ));
        assert_eq!(
            rate_limit_wait(status, &h, body.as_bytes()),
            Some(SECONDARY_LIMIT_WAIT)
        );
    }

    #[test]
    fn status_error_is_unauthorized_when_fixture_401() {
        let client = HttpClient::new(
            &Url::parse("https://api.github.com").unwrap(),
            HeaderMap::new(),
            Arc::new(super::super::MemoryCache::default()),
            &ClientSettings::default(),
            &super::super::budget::UNDOCUMENTED,
        )
        .unwrap();
        let url = Url::parse("https://api.github.com/orgs/acme").unwrap();
        let body =
            include_bytes!("../../../shared/fixtures/github/api/errors/401-bad-credentials.json");
        match client.status_error(&url, StatusCode::UNAUTHORIZED, body) {
            ProviderError::Unauthorized { host, message } => {
                assert_eq!(
                    (host.as_str(), message.as_str()),
                    ("api.github.com", "Bad credentials")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_message_is_read_when_body_lists_errors() {
        let body = include_bytes!(
            "../../../shared/fixtures/bitbucket-server/api/errors/404-not-found.json"
        );
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, body),
            "Project dev does not exist."
        );
    }

    #[test]
    fn error_message_is_read_when_nested_under_error() {
        let body = include_bytes!(
            "../../../shared/fixtures/bitbucket-cloud/api/errors/404-not-found.json"
        );
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, body),
            "Repository dev/null not found"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>"),
            "Bad Gateway"
        );
    }

    #[tokio::test]
    async fn a_failing_post_is_sent_once_and_a_failing_put_is_retried() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |method: axum::http::Method| {
            log.lock().unwrap().push(method.to_string());
            async { (axum::http::StatusCode::BAD_GATEWAY, "{}") }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/hooks", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = HttpClient::new(
            &url,
            HeaderMap::new(),
            Arc::new(super::super::MemoryCache::default()),
            &ClientSettings {
                max_attempts: 2,
                ..ClientSettings::default()
            },
            &super::super::budget::UNDOCUMENTED,
        )
        .unwrap();
        let body = serde_json::json!({ "url": "http://p.test/w" });
        let post = client.send(Method::POST, &url, Some(&body)).await;
        let put = client.send(Method::PUT, &url, Some(&body)).await;
        for result in [post, put] {
            assert!(
                matches!(result, Err(ProviderError::Http { status: 502, .. })),
                "{:?}",
                result.map(|r| r.body)
            );
        }
        assert_eq!(*seen.lock().unwrap(), ["POST", "PUT", "PUT"]);
    }

    #[test]
    fn backoff_grows_and_stays_bounded_when_attempts_increase() {
        for attempt in 1..40 {
            let d = backoff(attempt);
            let exp = BASE_BACKOFF
                .saturating_mul(1 << attempt.saturating_sub(1).min(16))
                .min(MAX_BACKOFF);
            assert!(d >= exp / 2 && d <= exp, "{attempt}: {d:?}");
        }
    }
}
