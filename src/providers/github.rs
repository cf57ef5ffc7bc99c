//! GitHub.com and GitHub Enterprise Server (placeholder until the provider lands).

use super::{ClientSettings, CodeHost, ProgressFn, ProviderCache, ProviderError, RequestStats};
use crate::domain::{Credential, RemoteOrg, RemoteSnapshot};
use async_trait::async_trait;
use std::sync::Arc;

pub struct GithubHost;

impl GithubHost {
    pub fn new(
        _api_url: &str,
        _org: &str,
        _credential: &Credential,
        _cache: Arc<dyn ProviderCache>,
        _settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        Ok(Self)
    }
}

#[async_trait]
impl CodeHost for GithubHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        todo!()
    }
    async fn snapshot(&self, _progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        todo!()
    }
    async fn fetch_archive(
        &self,
        _repo: &str,
        _commit: &str,
    ) -> Result<bytes::Bytes, ProviderError> {
        todo!()
    }
    fn stats(&self) -> RequestStats {
        RequestStats::default()
    }
}
