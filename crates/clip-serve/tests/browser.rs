//! The search page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, Debian's `chromium-driver`, installed by `.ci/run`). A query is typed, the
//! described image must come first; an image chosen in the drop zone finds itself. A
//! screenshot is left in `target/tmp/serve-page.png` for review.
//!
//! The few WebDriver calls are plain JSON over HTTP, sent with the same client as the other
//! tests, rather than through a WebDriver crate and a second HTTP stack.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// chromedriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Option<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ureq::get(&format!("{}/status", driver.url)).call().is_ok() {
                return Some(driver);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not start within 20 s");
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = match body {
            Some(body) => agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string()),
            None if method == "DELETE" => agent.delete(&url).call(),
            None => agent.get(&url).call(),
        };
        let text = response.unwrap().body_mut().read_to_string().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert!(value["value"]["error"].is_null(), "{method} {path}: {text}");
        value["value"].clone()
    }
}

/// One browser session.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}

impl<'a> Session<'a> {
    fn new(driver: &'a Driver) -> Self {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,800"],
            },
        }}});
        let value = driver.call("POST", "/session", Some(capabilities));
        Session {
            driver,
            id: value["sessionId"].as_str().unwrap().to_owned(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call("POST", &format!("/session/{}{path}", self.id), Some(body))
    }

    fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css}));
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.post(&format!("/element/{element}/value"), json!({"text": text}));
    }

    fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }

    /// Waits for the page to show a search's outcome; returns the results' paths in order.
    fn results(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.script("return document.body.dataset.state || '';");
            match state.as_str() {
                Some("done") => break,
                Some("error") => panic!(
                    "the page shows an error: {}",
                    self.script("return document.getElementById('status').textContent;")
                ),
                _ if Instant::now() > deadline => panic!("no results within 30 s"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let paths = self.script(
            "document.body.dataset.state = ''; \
             return [...document.querySelectorAll('figure.result')].map(f => f.dataset.path);",
        );
        serde_json::from_value(paths).unwrap()
    }
}

#[test]
fn the_search_page_finds_images_by_typed_text_and_by_a_dropped_image() {
    let Some(driver) = Driver::start() else {
        if std::env::var_os("CLIP_SERVE_SKIP_BROWSER").is_some() {
            eprintln!("skipped: no chromedriver, and CLIP_SERVE_SKIP_BROWSER is set");
            return;
        }
        panic!(
            "chromedriver not found: install Debian's chromium and chromium-driver (.ci/run does), or set CLIP_SERVE_SKIP_BROWSER=1"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let session = Session::new(&driver);
    session.post("/url", json!({"url": format!("http://{}/", server.addr())}));

    session.type_into("#q", "a photo of a red circle.\n");
    let paths = session.results();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(paths[0].ends_with("red-circle.jpg"), "{paths:?}");
    // The thumbnails loaded (an image that failed has no natural width); they arrive after
    // the results, so a loaded machine may need a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let loaded = loop {
        let loaded = session.script(
            "return [...document.querySelectorAll('figure.result img')].every(i => i.complete && i.naturalWidth === 256);",
        );
        if loaded == json!(true) || Instant::now() > deadline {
            break loaded;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(loaded, json!(true));
    let screenshot =
        session
            .driver
            .call("GET", &format!("/session/{}/screenshot", session.id), None);
    let png = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(screenshot.as_str().unwrap())
            .unwrap()
    };
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());

    // The drop zone's file chooser: search by an image.
    let image = example("blue-triangle.jpg").canonicalize().unwrap();
    session.type_into("#file", image.to_str().unwrap());
    let paths = session.results();
    assert!(paths[0].ends_with("blue-triangle.jpg"), "{paths:?}");
}
