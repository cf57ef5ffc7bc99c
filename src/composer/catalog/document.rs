//! One published document: its bytes, the same bytes gzipped, and an entity
//! tag, all made once when the catalog is built so that a request only
//! copies a reference.

use crate::domain::Timestamp;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    body: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Document {
    pub fn new(body: Vec<u8>) -> Self {
        // A fast level: metadata is small and rebuilt often; the wire size
        // differs by a few percent from the default level, the build time by
        // several times.
        let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
        let gzip = encoder
            .write_all(&body)
            .and_then(|()| encoder.finish())
            .expect("gzip into memory cannot fail");
        // Strong tag from the content: a client's copy stays valid exactly
        // as long as the bytes do, whatever else was rebuilt.
        let mut hasher = std::hash::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = format!("\"{:016x}\"", hasher.finish());
        Self {
            body: body.into(),
            gzip: gzip.into(),
            etag,
        }
    }

    /// The JSON bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The same bytes, gzip-encoded.
    pub fn gzip(&self) -> &Bytes {
        &self.gzip
    }

    /// The quoted entity tag, as sent in `ETag`.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// A modification time with its `Last-Modified` spelling, formatted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    at: Timestamp,
    http_date: String,
}

impl Modified {
    pub fn new(at: Timestamp) -> Self {
        Self {
            at,
            http_date: httpdate::fmt_http_date(system_time(at)),
        }
    }

    pub fn at(&self) -> Timestamp {
        self.at
    }

    pub fn system_time(&self) -> SystemTime {
        system_time(self.at)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn http_date(&self) -> &str {
        &self.http_date
    }
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t.0).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_variant_decodes_to_the_body() {
        let doc = Document::new(br#"{"packages":{}}"#.to_vec());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(doc.gzip().as_ref())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, doc.body().as_ref());
    }

    #[test]
    fn etag_changes_when_bytes_change_and_only_then() {
        let a = Document::new(b"{\"a\":1}".to_vec());
        assert_eq!(a.etag(), Document::new(b"{\"a\":1}".to_vec()).etag());
        assert_ne!(a.etag(), Document::new(b"{\"a\":2}".to_vec()).etag());
        assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
    }

    #[test]
    fn modified_is_spelled_as_an_http_date() {
        assert_eq!(
            Modified::new(Timestamp(784_111_777)).http_date(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
