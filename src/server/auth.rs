//! Token authentication. Composer sends credentials preemptively on every
//! request (COMPOSER-PROTOCOL.md §5): HTTP Basic from `http-basic` (any
//! username, the token as password) or `Authorization: Bearer` from `bearer`.
//! Tokens are looked up by hash and never logged.

use super::AppState;
use super::error::AppError;
use crate::composer::catalog::{Snapshot, TokenEntry};
use crate::domain::{Secret, Timestamp};
use crate::store::token_hash;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;

/// The authenticated caller, and the catalog snapshot its request is
/// answered from (one snapshot per request, so its answers agree).
#[derive(Clone)]
pub struct Caller {
    pub snapshot: Arc<Snapshot>,
    pub token: Arc<TokenEntry>,
}

/// Refuses requests without a known, unexpired token. Handlers that take a
/// `Caller` are the authenticated ones; unknown paths never get here.
impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let origin = || origin(&state.public_url).to_owned();
        let Some(secret) = presented_token(&parts.headers) else {
            return Err(refuse(
                parts,
                state,
                AppError::MissingToken { origin: origin() },
            ));
        };
        // The snapshot is taken before the lookup and includes every commit
        // that returned before this request started: a revoked token is
        // refused from the next request on.
        let snapshot = state.catalog.fresh().await?;
        let now = Timestamp::now();
        let Some(token) = snapshot
            .token(&token_hash(secret.expose()))
            // An expired token is refused like an unknown one.
            .filter(|t| !t.is_expired(now))
            .cloned()
        else {
            return Err(refuse(
                parts,
                state,
                AppError::UnknownToken { origin: origin() },
            ));
        };
        token.record_use(now);
        Ok(Caller { snapshot, token })
    }
}

/// `refusal`, or 429 when the client failed too often. Without a known
/// peer address (a router driven in-process) nothing is counted.
fn refuse(parts: &Parts, state: &AppState, refusal: AppError) -> AppError {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return refusal;
    };
    let client = state.auth_failures.client(peer.ip(), &parts.headers);
    match state.auth_failures.record(client) {
        Some(retry_after) => AppError::TooManyFailures { retry_after },
        None => refusal,
    }
}

/// The token from `Authorization: Basic …` (the password) or `Bearer …`.
fn presented_token(headers: &HeaderMap) -> Option<Secret> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let (_user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        password.to_owned()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_owned()
    } else {
        return None;
    };
    (!token.is_empty()).then(|| Secret::new(token))
}

/// The key Composer looks credentials up by: host, plus `:port` when the
/// URL names one (`Util/Url::getOrigin`).
fn origin(public_url: &str) -> &str {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn token_is_read_when_sent_as_basic_password_or_bearer() {
        // base64("anyone:s3cret:with:colons")
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:s3cret:with:colons");
        let got = presented_token(&with_auth(&format!("Basic {basic}"))).unwrap();
        assert_eq!(got.expose(), "s3cret:with:colons");
        let got = presented_token(&with_auth("bearer  tok123 ")).unwrap();
        assert_eq!(got.expose(), "tok123");
    }

    #[test]
    fn token_is_absent_when_header_is_malformed() {
        for bad in [
            "Basic !!!",
            "Basic dXNlcg==",
            "Bearer ",
            "Digest abc",
            "tok123",
        ] {
            assert!(presented_token(&with_auth(bad)).is_none(), "{bad}");
        }
        assert!(presented_token(&HeaderMap::new()).is_none());
    }

    #[test]
    fn origin_keeps_port_when_url_names_one() {
        assert_eq!(origin("http://127.0.0.1:8082/sub"), "127.0.0.1:8082");
        assert_eq!(origin("https://repo.example.com"), "repo.example.com");
        assert_eq!(
            origin("https://u:p@repo.example.com:8443/"),
            "repo.example.com:8443"
        );
    }
}
