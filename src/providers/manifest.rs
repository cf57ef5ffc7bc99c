//! composer.json as every host delivers it: raw bytes (Bitbucket) or base64
//! inside a JSON envelope (GitHub's contents API, GitLab's files API). One
//! set of rules, so an admin sees the same reasons whatever the host.

use crate::domain::{Manifest, PackageName};
use base64::Engine as _;

/// A composer.json is usable when it is UTF-8 JSON, an object, and names a
/// valid package. Every other case becomes `Invalid` with the reason.
pub fn parse(bytes: &[u8]) -> Manifest {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Manifest::Invalid("composer.json is not valid UTF-8".to_owned());
    };
    let map = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return Manifest::Invalid("composer.json is not a JSON object".to_owned()),
        Err(e) => return Manifest::Invalid(format!("composer.json is not valid JSON: {e}")),
    };
    match map.get("name") {
        Some(serde_json::Value::String(name)) if PackageName::new(name).is_ok() => {
            Manifest::Found(map)
        }
        None => Manifest::Invalid("composer.json has no \"name\"".to_owned()),
        Some(name) => Manifest::Invalid(format!(
            "composer.json \"name\" {name} is not a valid package name (expected \"vendor/package\")"
        )),
    }
}

/// Decodes base64 `content` of a file of `size` bytes (hosts wrap the text,
/// so whitespace is ignored) and parses it; files over `max_bytes` are refused.
pub fn decode_base64(content: &str, size: u64, max_bytes: usize) -> Manifest {
    if size > max_bytes as u64 {
        return Manifest::Invalid(format!("composer.json is larger than {max_bytes} bytes"));
    }
    let text: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) => parse(&bytes),
        Err(_) => Manifest::Invalid("composer.json content is not valid base64".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_found_when_object_names_a_valid_package() {
        assert!(
            matches!(parse(br#"{"name":"acme/log"}"#), Manifest::Found(m) if m["name"] == "acme/log")
        );
    }

    #[test]
    fn manifest_is_invalid_with_the_reason_when_unusable() {
        let cases: [(&[u8], &str); 6] = [
            (&[0xff, 0xfe], "not valid UTF-8"),
            (b"{\"name\": ", "not valid JSON"),
            (b"[1]", "not a JSON object"),
            (b"{}", "has no \"name\""),
            (br#"{"name":"Not A Name"}"#, "not a valid package name"),
            (br#"{"name":7}"#, "not a valid package name"),
        ];
        for (bytes, reason) in cases {
            let Manifest::Invalid(got) = parse(bytes) else {
                panic!("{bytes:?} accepted")
            };
            assert!(got.contains(reason), "{got} lacks {reason}");
        }
    }

    #[test]
    fn base64_content_is_decoded_when_wrapped_and_refused_when_too_large() {
        let wrapped = "eyJuYW1l\nIjoiYS9i\nIn0=\n";
        assert!(matches!(
            decode_base64(wrapped, 14, 1024),
            Manifest::Found(_)
        ));
        assert!(
            matches!(decode_base64("!!!", 3, 1024), Manifest::Invalid(r) if r.contains("base64"))
        );
        assert!(
            matches!(decode_base64(wrapped, 14, 4), Manifest::Invalid(r) if r.contains("larger than 4 bytes"))
        );
    }
}
