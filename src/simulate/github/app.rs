//! A GitHub App installed on the simulated organization.
//!
//! `POST /app/installations/{id}/access_tokens` checks the JWT as GitHub
//! does (RS256 signature with the app's public key, `iss` = app id, `exp`
//! not past and at most ten minutes ahead) and issues `ghs_…` installation
//! tokens with a configurable lifetime, which the simulator then accepts like
//! the scenario token until they expire.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub refuses JWTs that expire further ahead than this.
const MAX_JWT_LIFETIME: u64 = 10 * 60;

/// Why an exchange was refused: the HTTP status and GitHub's message.
pub(super) type Refusal = (u16, &'static str);

#[derive(serde::Deserialize)]
struct Claims {
    exp: u64,
}

pub(super) struct App {
    id: u64,
    installation_id: u64,
    key: DecodingKey,
    token_lifetime: Duration,
    /// Issued installation tokens and when each stops working.
    tokens: HashMap<String, SystemTime>,
}

/// An installation token as issued.
pub(super) struct Issued {
    pub token: String,
    pub expires_at: SystemTime,
}

impl App {
    /// `public_key_pem` is the app's RSA public key (`PUBLIC KEY` or
    /// `RSA PUBLIC KEY`).
    pub fn new(
        id: u64,
        installation_id: u64,
        public_key_pem: &str,
        token_lifetime: Duration,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            id,
            installation_id,
            key: DecodingKey::from_rsa_pem(public_key_pem.as_bytes())?,
            token_lifetime,
            tokens: HashMap::new(),
        })
    }

    /// Verifies the JWT and issues a token for `installation_id`.
    pub fn exchange(
        &mut self,
        jwt: &str,
        installation_id: u64,
        now: SystemTime,
    ) -> Result<Issued, Refusal> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.id.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(jwt, &self.key, &validation)
            .map_err(|_| (401, "A JSON web token could not be decoded"))?
            .claims;
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if claims.exp > now_secs + MAX_JWT_LIFETIME {
            return Err((
                401,
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        if installation_id != self.installation_id {
            return Err((404, "Not Found"));
        }
        // Whole seconds, as `expires_at` is reported: the token stops
        // working exactly when the client was told.
        let expires_at = UNIX_EPOCH
            + Duration::from_secs(
                (now + self.token_lifetime)
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
        let token = format!(
            "ghs_{:016x}{:016x}",
            getrandom::u64().unwrap_or(0),
            getrandom::u64().unwrap_or(1)
        );
        self.tokens.retain(|_, expiry| *expiry > now);
        self.tokens.insert(token.clone(), expires_at);
        Ok(Issued { token, expires_at })
    }

    pub fn installation_id(&self) -> u64 {
        self.installation_id
    }

    /// Whether `token` is an installation token still valid at `now`.
    pub fn accepts(&self, token: &str, now: SystemTime) -> bool {
        self.tokens.get(token).is_some_and(|expiry| *expiry > now)
    }
}
