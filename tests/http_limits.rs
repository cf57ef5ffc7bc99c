//! The serve loop's limits, on a real listener: slow or idle clients are
//! cut off, and a flood of half-sent requests does not keep a valid client
//! waiting.

use packyard::composer::{ArchiveSource, Catalog, DistCache};
use packyard::domain::{Package, Timestamp, Token, TokenScope};
use packyard::server::{AppState, AuthFailures, Limits, router, serve_router};
use packyard::store::{Store, token_hash};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "limits-token-0123456789";

/// Bounds waits that must end: a hang fails the test instead of blocking it.
const BOUND: Duration = Duration::from_secs(20);

struct NoArchives;

#[async_trait::async_trait]
impl ArchiveSource for NoArchives {
    async fn fetch_archive(&self, _: &Package, _: &str) -> Result<bytes::Bytes, String> {
        Err("no archives in this test".into())
    }
}

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .apply_new_token(&Token {
            id: "t".into(),
            label: "t".into(),
            scope: TokenScope::OrgWide,
            hash: token_hash(TOKEN),
            created_at: Timestamp(1),
            last_used: None,
            expires_at: None,
        })
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let public_url = format!("http://{addr}");
    let state = AppState {
        catalog: Catalog::open(store.clone(), public_url.clone())
            .await
            .unwrap(),
        dists: DistCache::new(store),
        archives: Arc::new(NoArchives),
        auth_failures: Arc::new(AuthFailures::new(Vec::new())),
        public_url,
    };
    let stop = CancellationToken::new();
    let app = router(state);
    let shutdown = stop.clone();
    tokio::spawn(async move { serve_router(listener, app, &limits, shutdown).await });
    Server {
        addr,
        stop,
        _dir: dir,
    }
}

fn short() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// Reads until the server closes the connection; what it sent before.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_request(path: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("composer:{TOKEN}"));
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\r\n")
}

#[tokio::test]
async fn connection_is_closed_when_headers_do_not_arrive_in_time() {
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /packages.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_timeout() {
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(valid_request("/packages.json").as_bytes())
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn request_is_refused_when_its_body_does_not_arrive_in_time() {
    use base64::Engine;
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("composer:{TOKEN}"));
    let head = format!(
        "POST /downloads/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"downloads\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut stream).await;
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    assert!((400..500).contains(&status), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_client_is_served_while_1000_half_sent_requests_are_open() {
    let server = start(Limits::default()).await;
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /packages.json HTTP/1.1\r\nHost: x\r\nAuthor")
            .await
            .unwrap();
        stalled.push(stream);
    }
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(valid_request("/packages.json").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 15];
    tokio::time::timeout(BOUND, stream.read_exact(&mut head))
        .await
        .expect("an answer while the others stall")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200 OK");
    drop(stalled);
}
