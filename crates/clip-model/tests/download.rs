//! Loading by name/URL against a local HTTP server on 127.0.0.1 (no test leaves the
//! machine): verified download, cache hit without a request, resume after an interrupted
//! transfer, checksum mismatch, server down.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clip_model::hub::{DownloadError, download};
use sha2::{Digest, Sha256};

/// How the server answers.
#[derive(Clone, Copy)]
enum Mode {
    /// Honour `Range`, send everything asked for.
    Full,
    /// Promise the whole body but close the connection after this many bytes.
    CutAfter(usize),
}

struct Server {
    url: String,
    mode: Arc<Mutex<Mode>>,
    /// The `Range` header of each request (empty when absent).
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(body: Vec<u8>, path: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Full));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (m, r) = (mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mode = *m.lock().unwrap();
                answer(stream, &body, mode, &r);
            }
        });
        Server {
            url,
            mode,
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, body: &[u8], mode: Mode, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
            range = v.trim().to_string();
        }
    }
    log.lock().unwrap().push(range.clone());
    let start: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let rest = &body[start..];
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            rest.len(),
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            rest.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    let sent = match mode {
        Mode::Full => rest,
        Mode::CutAfter(n) => &rest[..n.min(rest.len())],
    };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
}

fn tiny_checkpoint() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models/tiny-vit/openai.pt");
    std::fs::read(path).unwrap()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn part(dest: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part", dest.display()))
}

#[test]
fn verified_download_then_cache_hit_without_a_request() {
    let body = tiny_checkpoint();
    let server = Server::start(body.clone(), "/models/tiny.pt");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/tiny.pt");
    download(&server.url, Some(&sha(&body)), &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!part(&dest).exists());
    download(&server.url, Some(&sha(&body)), &dest).unwrap();
    assert_eq!(
        server.requests().len(),
        1,
        "the cached file was fetched again"
    );
}

#[test]
fn interrupted_transfer_resumes_with_a_range_request() {
    let body = tiny_checkpoint();
    let server = Server::start(body.clone(), "/tiny.pt");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("tiny.pt");
    let half = body.len() / 2;
    *server.mode.lock().unwrap() = Mode::CutAfter(half);
    let err = download(&server.url, Some(&sha(&body)), &dest).unwrap_err();
    assert!(matches!(err, DownloadError::Network { .. }), "{err}");
    assert!(
        err.to_string().contains("interrupted") && err.to_string().contains(&server.url),
        "{err}"
    );
    assert!(!dest.exists());
    assert_eq!(std::fs::metadata(part(&dest)).unwrap().len(), half as u64);

    *server.mode.lock().unwrap() = Mode::Full;
    download(&server.url, Some(&sha(&body)), &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        server.requests(),
        ["".to_string(), format!("bytes={half}-")]
    );
}

#[test]
fn checksum_mismatch_deletes_the_download() {
    let body = tiny_checkpoint();
    let server = Server::start(body, "/tiny.pt");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("tiny.pt");
    let wrong = "0".repeat(64);
    let err = download(&server.url, Some(&wrong), &dest).unwrap_err();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{err}");
    assert!(
        err.to_string().contains("SHA-256 mismatch") && err.to_string().contains("deleted"),
        "{err}"
    );
    assert!(!dest.exists() && !part(&dest).exists());
}

#[test]
fn server_down_names_the_url_and_where_to_put_the_file() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x/ViT-B-32.pt");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("ViT-B-32.pt");
    let err = download(&url, None, &dest).unwrap_err().to_string();
    assert!(
        err.contains(&url) && err.contains("by hand") && err.contains(&dest.display().to_string()),
        "{err}"
    );
}

/// `Clip::load` of a URL: downloads into `CLIP_CACHE_DIR`, converts once beside the download,
/// and gives the same model as loading the file directly.
#[test]
fn clip_load_by_url_caches_download_and_conversion() {
    let body = tiny_checkpoint();
    let digest = sha(&body);
    let server = Server::start(body, &format!("/clip/models/{digest}/tiny.pt"));
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary that reads or writes the environment.
    unsafe { std::env::set_var("CLIP_CACHE_DIR", dir.path()) };
    let device = burn::tensor::Device::flex();
    let model = clip_model::Clip::load(&server.url, &device).unwrap();
    assert!(dir.path().join("tiny.pt").is_file());
    assert!(
        dir.path().join("tiny.safetensors").is_file(),
        "converted copy not cached"
    );
    let again = clip_model::Clip::load(&server.url, &device).unwrap();
    assert_eq!(server.requests().len(), 1);
    let a = model.logit_scale.val().into_data();
    let b = again.logit_scale.val().into_data();
    assert_eq!(a, b);

    // A name resolves to OpenAI's URL under the mirror base and is checked against the
    // digest OpenAI published for it: the tiny file served here must be refused.
    let base = server.url.split("/clip/").next().unwrap().to_string() + "/clip/models";
    // SAFETY: as above.
    unsafe { std::env::set_var("CLIP_MODEL_BASE_URL", &base) };
    let err = clip_model::Clip::load("RN50", &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SHA-256 mismatch") && err.contains("afeb0e10f9e5a86d"),
        "{err}"
    );
    assert!(err.contains(&format!("{base}/afeb0e10")), "{err}");
    assert!(!dir.path().join("RN50.pt").exists() && !dir.path().join("RN50.pt.part").exists());
}
