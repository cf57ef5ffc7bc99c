//! What the outside feeds packyard never makes it panic: every host's
//! webhook payloads (the published fixtures, cut short and corrupted at
//! random, and arbitrary bytes), delivery headers, signatures, and the
//! shape check of presented tokens. A refusal is an error value, never a
//! crash of the receiver.

use packyard::domain::{ProviderKind, Secret, token_shape};
use packyard::providers::hooks;
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

const HOSTS: [(ProviderKind, &str); 4] = [
    (ProviderKind::Github, "github"),
    (ProviderKind::Gitlab, "gitlab"),
    (ProviderKind::BitbucketCloud, "bitbucket-cloud"),
    (ProviderKind::BitbucketServer, "bitbucket-server"),
];

/// Every (host, event, payload) the fixtures' `events` maps name.
fn payloads() -> Vec<(ProviderKind, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (kind, host) in HOSTS {
        let dir = format!("{FIXTURES}/{host}/webhooks");
        let headers: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/headers.json")).unwrap()).unwrap();
        let Some(events) = headers["events"].as_object() else {
            continue;
        };
        for (file, names) in events {
            let Some(event) = names.as_object().and_then(|n| n.values().next()) else {
                continue;
            };
            if let Ok(body) = std::fs::read(format!("{dir}/{file}")) {
                out.push((kind, event.as_str().unwrap_or_default().to_owned(), body));
            }
        }
    }
    out
}

fn corrupt(body: &[u8], cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut out = body[..cut % (body.len() + 1)].to_vec();
    for (at, byte) in flips {
        if !out.is_empty() {
            let i = at % out.len();
            out[i] = *byte;
        }
    }
    out
}

#[test]
fn every_fixture_payload_is_read_without_error() {
    let all = payloads();
    assert!(
        all.len() >= 20,
        "the fixtures name their events: {}",
        all.len()
    );
    for (kind, event, body) in &all {
        assert!(
            hooks::targets(*kind, event, body).is_ok(),
            "{kind:?} {event}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn corrupted_fixture_payloads_give_targets_or_an_error(
        pick in any::<prop::sample::Index>(),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let all = payloads();
        let (kind, event, body) = &all[pick.index(all.len())];
        let _ = hooks::targets(*kind, event, &corrupt(body, cut, &flips));
    }

    #[test]
    fn arbitrary_bytes_under_any_event_name_never_panic(
        host in 0..4usize,
        event in prop_oneof![
            Just("push".to_owned()), Just("Push Hook".to_owned()), Just("repo:push".to_owned()),
            Just("repo:refs_changed".to_owned()), Just("membership".to_owned()),
            Just("Member Hook".to_owned()), Just("System Hook".to_owned()), ".{0,24}",
        ],
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = hooks::targets(HOSTS[host].0, &event, &body);
    }

    #[test]
    fn arbitrary_delivery_headers_are_refused_or_read_never_panic(
        host in 0..4usize,
        pairs in prop::collection::vec(
            (
                prop_oneof![
                    Just("X-Hub-Signature-256"), Just("X-Hub-Signature"), Just("X-Gitlab-Token"),
                    Just("X-GitHub-Event"), Just("X-Gitlab-Event"), Just("X-Event-Key"),
                    Just("Idempotency-Key"), Just("X-Gitlab-Webhook-UUID"), Just("X-GitHub-Delivery"),
                ],
                prop::collection::vec(32u8..127, 0..80),
            ),
            0..6,
        ),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let kind = HOSTS[host].0;
        let mut headers = HeaderMap::new();
        for (name, value) in &pairs {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
            }
        }
        let verified = hooks::verify(kind, &headers, &body, &Secret::new("s3cret"));
        prop_assert!(verified.is_err(), "a guessed signature never verifies");
        let _ = hooks::delivery_headers_of(kind, &headers);
    }

    #[test]
    fn token_shape_check_takes_any_string(presented in ".{0,120}") {
        let _ = token_shape(&presented);
    }
}
