//! GitHub App authentication (GitHub.com and GHES).
//!
//! An app proves who it is with a short JWT signed (RS256) by its private
//! key, and trades it at `POST /app/installations/{id}/access_tokens` for an
//! installation token that lasts an hour. [`AppAuthorizer`] plugs into
//! [`HttpClient`](super::super::http::HttpClient) as its
//! [`Authorizer`]: every request gets `Bearer <installation token>`, and the
//! token is renewed before it runs out. The renewal holds a lock, so one
//! exchange runs at a time and concurrent requests wait for its result.
//!
//! The key, the JWT and the installation token never reach logs, errors or
//! `Debug` output.

use super::super::ProviderError;
use super::super::http::{Authorizer, error_chain, error_message, host_label};
use super::wire;
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use reqwest::{StatusCode, Url};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub rejects a JWT issued in its future; backdating covers clock skew.
const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// GitHub accepts at most 10 minutes; stay under it for the same reason.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// Renew this long before expiry, so a request that starts with the token
/// does not outlive it (archives can take a while).
const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The JWT claims GitHub reads: issued at, expiry and the app as issuer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Claims {
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
}

impl Claims {
    pub fn at(app_id: u64, now: SystemTime) -> Self {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            iat: now.saturating_sub(JWT_BACKDATE).as_secs(),
            exp: (now + JWT_LIFETIME).as_secs(),
            iss: app_id.to_string(),
        }
    }
}

/// Whether a token issued at `issued_at` and expiring at `expires_at` must
/// be renewed at `now`: when less than [`RENEW_MARGIN`] remains, or, for
/// tokens shorter-lived than twice that, when half their life is gone (else
/// every request would renew them).
pub(super) fn needs_renewal(
    now: SystemTime,
    issued_at: SystemTime,
    expires_at: SystemTime,
) -> bool {
    let lifetime = expires_at.duration_since(issued_at).unwrap_or_default();
    let margin = RENEW_MARGIN.min(lifetime / 2);
    expires_at
        .duration_since(now)
        .map_or(true, |left| left <= margin)
}

/// An installation token in use.
struct Installation {
    authorization: HeaderValue,
    issued_at: SystemTime,
    expires_at: SystemTime,
}

/// Signs JWTs for one app and keeps its installation token fresh.
pub(super) struct AppAuthorizer {
    client: reqwest::Client,
    exchange_url: Url,
    host: String,
    app_id: u64,
    key: EncodingKey,
    current: tokio::sync::Mutex<Option<Installation>>,
}

impl std::fmt::Debug for AppAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuthorizer")
            .field("host", &self.host)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl AppAuthorizer {
    /// Checks the key by signing once, so a wrong key fails when the sync is
    /// configured rather than at its first run.
    pub fn new(
        api: &Url,
        app_id: u64,
        installation_id: u64,
        private_key_pem: &str,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let host = host_label(api);
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|e| {
            ProviderError::InvalidAppKey {
                reason: format!("not an RSA private key in PEM form ({e})"),
            }
        })?;
        let mut exchange_url = api.clone();
        let installation = installation_id.to_string();
        if let Ok(mut path) = exchange_url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["app", "installations", &installation, "access_tokens"]);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ProviderError::Unreachable {
                host: host.clone(),
                reason: error_chain(&e),
            })?;
        let authorizer = Self {
            client,
            exchange_url,
            host,
            app_id,
            key,
            current: tokio::sync::Mutex::new(None),
        };
        authorizer.sign_jwt(SystemTime::now())?;
        Ok(authorizer)
    }

    fn sign_jwt(&self, now: SystemTime) -> Result<String, ProviderError> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &Claims::at(self.app_id, now),
            &self.key,
        )
        .map_err(|e| ProviderError::InvalidAppKey {
            reason: format!("signing failed ({e}); is it an RSA private key?"),
        })
    }

    /// Trades a fresh JWT for an installation token.
    async fn fetch_installation_token(&self) -> Result<Installation, ProviderError> {
        let issued_at = SystemTime::now();
        let mut jwt = HeaderValue::try_from(format!("Bearer {}", self.sign_jwt(issued_at)?))
            .map_err(|_| ProviderError::InvalidAppKey {
                reason: "the signed JWT is not a valid header value".to_owned(),
            })?;
        jwt.set_sensitive(true);
        let path = self.exchange_url.path().to_owned();
        let response = self
            .client
            .post(self.exchange_url.clone())
            .header(AUTHORIZATION, jwt)
            .header(ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(USER_AGENT, concat!("packyard/", env!("CARGO_PKG_VERSION")))
            .send()
            .await
            .map_err(|e| ProviderError::Unreachable {
                host: self.host.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Unreachable {
                host: self.host.clone(),
                reason: error_chain(&e),
            })?;
        if !status.is_success() {
            return Err(exchange_error(&self.host, &path, status, &body));
        }
        let decoded: wire::AccessToken =
            serde_json::from_slice(&body).map_err(|e| ProviderError::Decode {
                host: self.host.clone(),
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let expires_at = time::OffsetDateTime::parse(
            &decoded.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| ProviderError::Decode {
            host: self.host.clone(),
            path: path.clone(),
            reason: format!("expires_at: {e}"),
        })?;
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", decoded.token))
            .map_err(|_| ProviderError::Decode {
                host: self.host.clone(),
                path,
                reason: "the installation token is not a valid header value".to_owned(),
            })?;
        authorization.set_sensitive(true);
        tracing::debug!(host = %self.host, app_id = self.app_id, "installation token renewed");
        Ok(Installation {
            authorization,
            issued_at,
            expires_at: SystemTime::from(expires_at),
        })
    }
}

#[async_trait]
impl Authorizer for AppAuthorizer {
    async fn authorization(&self) -> Result<HeaderValue, ProviderError> {
        // Held across the exchange on purpose: concurrent requests queue
        // here and then reuse the token the first one obtained.
        let mut current = self.current.lock().await;
        if let Some(installation) = current
            .as_ref()
            .filter(|i| !needs_renewal(SystemTime::now(), i.issued_at, i.expires_at))
        {
            return Ok(installation.authorization.clone());
        }
        let fresh = self.fetch_installation_token().await?;
        let value = fresh.authorization.clone();
        *current = Some(fresh);
        Ok(value)
    }

    fn identity(&self) -> String {
        // One installation, one budget, whichever token it currently has.
        self.exchange_url.to_string()
    }

    fn reject(&self, rejected: &HeaderValue) {
        // A renewal in progress holds the lock and replaces the token anyway.
        if let Ok(mut current) = self.current.try_lock()
            && current
                .as_ref()
                .is_some_and(|i| i.authorization == rejected)
        {
            *current = None;
        }
    }
}

/// 401 (bad JWT: wrong key or app id) and 404 (no such installation for
/// this app) both mean the app's configuration is wrong.
fn exchange_error(host: &str, path: &str, status: StatusCode, body: &[u8]) -> ProviderError {
    let message = error_message(status, body);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => ProviderError::AppRejected {
            host: host.to_owned(),
            status: status.as_u16(),
            message,
        },
        _ => ProviderError::Http {
            host: host.to_owned(),
            path: path.to_owned(),
            status: status.as_u16(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn claims_are_backdated_and_short_when_signed() {
        let claims = Claims::at(42, at(1_700_000_000));
        assert_eq!(
            claims,
            Claims {
                iat: 1_700_000_000 - 60,
                exp: 1_700_000_000 + 540,
                iss: "42".to_owned(),
            }
        );
    }

    #[test]
    fn renewal_is_needed_when_less_than_five_minutes_remain() {
        let issued = at(0);
        let expires = issued + 60 * MINUTE;
        assert!(!needs_renewal(issued, issued, expires));
        assert!(!needs_renewal(issued + 54 * MINUTE, issued, expires));
        assert!(needs_renewal(issued + 55 * MINUTE, issued, expires));
        assert!(needs_renewal(issued + 61 * MINUTE, issued, expires));
    }

    #[test]
    fn renewal_is_needed_at_half_life_when_token_is_short_lived() {
        let issued = at(1_000);
        let expires = issued + Duration::from_secs(4);
        assert!(!needs_renewal(
            issued + Duration::from_secs(1),
            issued,
            expires
        ));
        assert!(needs_renewal(
            issued + Duration::from_secs(2),
            issued,
            expires
        ));
        // A token that expired at once, or before it was issued, is renewed.
        assert!(needs_renewal(issued, issued, issued));
        assert!(needs_renewal(issued, issued, at(0)));
    }

    #[test]
    fn exchange_error_names_app_settings_when_401_or_404() {
        let body = br#"{"message":"A JSON web token could not be decoded","documentation_url":"https://docs.github.com/rest"}"#;
        let err = exchange_error("api.github.com", "/app/x", StatusCode::UNAUTHORIZED, body);
        let text = err.to_string();
        assert!(matches!(
            err,
            ProviderError::AppRejected { status: 401, .. }
        ));
        for part in ["api.github.com", "app id", "installation id", "private key"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(matches!(
            exchange_error("h", "/p", StatusCode::NOT_FOUND, b"{}"),
            ProviderError::AppRejected { status: 404, .. }
        ));
        assert!(matches!(
            exchange_error("h", "/p", StatusCode::BAD_GATEWAY, b""),
            ProviderError::Http { status: 502, .. }
        ));
    }

    #[test]
    fn new_fails_when_key_is_not_an_rsa_private_key() {
        let api = Url::parse("https://api.github.com").unwrap();
        for pem in [
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let err = AppAuthorizer::new(&api, 1, 2, pem, MINUTE).unwrap_err();
            assert!(
                matches!(err, ProviderError::InvalidAppKey { .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn access_token_fixture_decodes_when_read_with_wire_dto() {
        let token: wire::AccessToken = serde_json::from_str(include_str!(
            "../../../../shared/fixtures/github/api/post-app-installations-installation_id-access_tokens.201.json"
        ))
        .unwrap();
        assert_eq!(token.token, "ghs_16C7e42F292c6912E7710c838347Ae178B4a");
        let expires = time::OffsetDateTime::parse(
            &token.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(expires.unix_timestamp(), 1_468_275_250);
    }
}
