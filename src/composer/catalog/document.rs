//! One published document: its bytes, the same bytes gzipped, and an entity
//! tag, all made once when the catalog is built so that a request only
//! copies a reference.

use crate::domain::Timestamp;
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    body: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Document {
    pub fn new(body: Vec<u8>) -> Self {
        let gzip = gzip(&body);
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

thread_local! {
    /// One compressor per build thread, reset for each document: setting
    /// one up allocates and clears some 300 KiB, which for a catalog of
    /// 20,000 small documents cost more than compressing them.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// `body` as a gzip member (RFC 1952): the fixed header (no name, no time),
/// the raw deflate stream, its CRC-32 and length. The fast level: metadata
/// is small and rebuilt often; the wire size differs from the default
/// level's by a few percent, the build time by several times.
fn gzip(body: &[u8]) -> Vec<u8> {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut out = Vec::with_capacity(HEADER.len() + body.len() / 3 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        loop {
            out.reserve(body.len() / 8 + 64);
            let read = usize::try_from(deflate.total_in()).unwrap_or(body.len());
            let status = deflate
                .compress_vec(&body[read..], &mut out, FlushCompress::Finish)
                .expect("deflate into memory cannot fail");
            if status == Status::StreamEnd {
                break;
            }
        }
    });
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t.0).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_variant_decodes_to_the_body_when_the_compressor_is_reused() {
        let bodies = [
            br#"{"packages":{}}"#.to_vec(),
            Vec::new(),
            // Incompressible and larger than one output reservation.
            (0..200_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            br#"{"a":1}"#.repeat(10_000),
        ];
        for body in bodies {
            let doc = Document::new(body.clone());
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(doc.gzip().as_ref())
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, body);
        }
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
