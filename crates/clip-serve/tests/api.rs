//! Every endpoint against a server on 127.0.0.1: answers equal the library's, errors are
//! JSON 4xx naming what is wrong, and the server survives all of them.

mod common;

use std::time::Duration;

use clip_serve::{BatchOptions, Limits};
use common::*;
use serde_json::{Value, json};

#[test]
fn embeddings_are_the_pipelines_features_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let texts = ["a photo of a red circle.", "blue triangle"];
    let images = [example("red-circle.jpg"), example("orange-ring.jpg")];
    let request = json!({
        "model": "tiny-shapes",
        "input": [
            texts[0],
            {"type": "image", "image": data_url(&images[0])},
            {"type": "text", "text": texts[1]},
            {"type": "image", "image_url": {"url": data_url(&images[1])}},
        ],
    });
    let (status, body) = post(&server, "/v1/embeddings", &request);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "tiny-shapes");
    let got = vectors(&body);
    let indices: Vec<u64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 1, 2, 3]);

    let pipeline = pipeline();
    let want_texts = pipeline.embed_texts(&texts).unwrap();
    let want_images = pipeline.embed_images(&images).unwrap();
    for (got, want) in [
        (&got[0], want_texts.row(0)),
        (&got[1], want_images.row(0)),
        (&got[2], want_texts.row(1)),
        (&got[3], want_images.row(1)),
    ] {
        assert!(max_abs_diff(got, want) <= 1e-6, "{got:?} vs {want:?}");
    }
    let tokens = pipeline.tokenize(&texts).unwrap();
    let counted: usize = tokens.lengths.iter().sum();
    assert_eq!(body["usage"]["prompt_tokens"], counted);

    // base64: the same f32 values, little-endian.
    let mut request = request;
    request["encoding_format"] = json!("base64");
    let (status, encoded) = post(&server, "/v1/embeddings", &request);
    assert_eq!(status, 200, "{encoded}");
    for (item, floats) in encoded["data"].as_array().unwrap().iter().zip(&got) {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(item["embedding"].as_str().unwrap())
            .unwrap();
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(&values, floats);
    }

    // normalize: unit rows in the same direction; a single string is one input.
    let (status, unit) = post(
        &server,
        "/v1/embeddings",
        &json!({"input": texts[0], "normalize": true}),
    );
    assert_eq!(status, 200, "{unit}");
    let unit = &vectors(&unit)[0];
    let norm: f32 = got[0].iter().map(|v| v * v).sum::<f32>().sqrt();
    let scaled: Vec<f32> = got[0].iter().map(|v| v / norm).collect();
    assert!(max_abs_diff(unit, &scaled) <= 1e-6);
}

#[test]
fn concurrent_requests_get_their_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    let batch = BatchOptions {
        max_batch: 64,
        max_wait: Duration::from_millis(200),
        ..BatchOptions::default()
    };
    let server = start_with(dir.path(), batch, Limits::default(), |s| s);
    let words = [
        "red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink",
    ];
    let answers: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = words
            .iter()
            .map(|w| {
                let server = &server;
                scope.spawn(move || {
                    let (status, body) = post(server, "/v1/embeddings", &json!({"input": w}));
                    assert_eq!(status, 200, "{body}");
                    vectors(&body).remove(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let want = pipeline().embed_texts(&words).unwrap();
    for (i, got) in answers.iter().enumerate() {
        assert!(max_abs_diff(got, want.row(i)) <= 1e-6, "{}", words[i]);
    }
    // Eight rows, in at most eight passes (how many depends on timing; the batcher's own
    // tests pin the grouping down).
    let metrics = metrics_text(&server);
    let passes = metric(&metrics, "clip_batch_rows_count{kind=\"text\"}");
    let rows = metric(&metrics, "clip_batch_rows_sum{kind=\"text\"}");
    assert_eq!(rows, 8.0, "{metrics}");
    assert!((1.0..=8.0).contains(&passes), "{passes} passes\n{metrics}");
}

fn metrics_text(server: &clip_serve::Running) -> String {
    let (status, content_type, body) = get_bytes(server, "/metrics");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text"));
    String::from_utf8(body).unwrap()
}

/// The value of the sample named `name` (with its labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn classify_gives_predicts_probabilities_from_json_and_from_an_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let labels = ["orange ring", "orange cross", "red ring"];
    let template = "a photo of a {}.";
    let image = example("orange-ring.jpg");
    let want = pipeline().classify(&image, &labels, template).unwrap();

    let (status, body) = post(
        &server,
        "/classify",
        &json!({"image": data_url(&image), "labels": labels, "templates": [template]}),
    );
    assert_eq!(status, 200, "{body}");
    let (content_type, form) = multipart(&[
        (
            "image",
            Some("orange-ring.jpg"),
            std::fs::read(&image).unwrap(),
        ),
        ("labels", None, labels.join(",").into_bytes()),
        ("template", None, template.as_bytes().to_vec()),
    ]);
    let (status, uploaded) = post_raw(&server, "/classify", &content_type, form);
    assert_eq!(status, 200, "{uploaded}");
    for got in [&body, &uploaded] {
        let ranked = got["labels"].as_array().unwrap();
        assert_eq!(ranked.len(), 3);
        assert_ranked_as(&want, ranked);
    }

    // Several templates are ensembled; top_k keeps the best.
    let (status, body) = post(
        &server,
        "/classify",
        &json!({"image": data_url(&image), "labels": labels,
                "templates": ["a photo of a {}.", "a drawing of a {}."], "top_k": 2}),
    );
    assert_eq!(status, 200, "{body}");
    let ranked = body["labels"].as_array().unwrap();
    assert_eq!(ranked.len(), 2);
    assert_eq!(ranked[0]["label"], "orange ring");
    assert!(ranked[0]["probability"].as_f64() >= ranked[1]["probability"].as_f64());
}

#[test]
fn search_finds_the_described_image_first_and_serves_its_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, body) = post(
        &server,
        "/search",
        &json!({"text": "red circle", "template": "a photo of a {}.", "k": 2}),
    );
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("red-circle.jpg")
    );
    assert_eq!(results[0]["rank"], 1);
    assert!(results[0]["score"].as_f64() > results[1]["score"].as_f64());

    // By image: the image itself first, cosine 1.
    let (status, body) = post(
        &server,
        "/search",
        &json!({"image": data_url(&example("blue-triangle.jpg"))}),
    );
    assert_eq!(status, 200, "{body}");
    let best = &body["results"][0];
    assert!(
        best["path"]
            .as_str()
            .unwrap()
            .ends_with("blue-triangle.jpg")
    );
    assert!((best["score"].as_f64().unwrap() - 1.0).abs() < 1e-4);

    let thumbnail = best["thumbnail"].as_str().unwrap();
    let (status, content_type, jpeg) = get_bytes(&server, thumbnail);
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    let decoded = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    for missing in ["/thumbnails/4", "/thumbnails/-1", "/thumbnails/x"] {
        let (status, body) = get(&server, missing);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
    }
}

#[test]
fn health_models_and_the_page_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, health) = get(&server, "/healthz");
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"status": "ok", "model": "tiny-shapes",
                              "embedding_dim": 64, "index_rows": 4})
    );
    let (_, models) = get(&server, "/v1/models");
    assert_eq!(models["data"][0]["id"], "tiny-shapes");
    let (status, content_type, page) = get_bytes(&server, "/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("fetch(\"/search\"")
            && !page.contains("http://")
            && !page.contains("https://")
    );
    let metrics = metrics_text(&server);
    assert!(metrics.contains("clip_http_requests_total{endpoint=\"/healthz\",status=\"200\"} 1"));
    assert!(metrics.contains("clip_queue_depth 0"), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"));
}

/// `(request, expected status, expected code)` for `POST path`.
fn refused(server: &clip_serve::Running, path: &str, body: Value, status: u16, code: &str) {
    let (got, answer) = post(server, path, &body);
    assert_eq!(got, status, "{path} {body}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{path} {body}: {answer}");
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    assert_eq!(answer["error"]["type"], kind);
    assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
}

#[test]
fn bad_requests_are_json_4xx_that_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body_bytes: 200_000,
        max_pixels: 50 * 50,
        max_inputs: 4,
        max_labels: 3,
        max_k: 3,
        ..Limits::default()
    };
    let server = start_with(dir.path(), BatchOptions::default(), limits, |s| s);
    let image = data_url(&example("red-circle.jpg"));
    let long = "word ".repeat(100);
    let e = "/v1/embeddings";
    refused(&server, e, json!({}), 400, "missing_input");
    refused(&server, e, json!({"input": []}), 400, "invalid_input");
    refused(&server, e, json!({"input": 3}), 400, "invalid_input");
    refused(
        &server,
        e,
        json!({"input": [[1, 2, 3]]}),
        400,
        "invalid_input",
    );
    refused(
        &server,
        e,
        json!({"input": [{"type": "audio"}]}),
        400,
        "invalid_input",
    );
    refused(
        &server,
        e,
        json!({"input": ["a", "a", "a", "a", "a"]}),
        400,
        "too_many_inputs",
    );
    refused(
        &server,
        e,
        json!({"input": "a", "encoding_format": "int8"}),
        400,
        "invalid_field",
    );
    refused(
        &server,
        e,
        json!({"input": "a", "dimensions": 32}),
        400,
        "invalid_field",
    );
    refused(
        &server,
        e,
        json!({"input": "a", "truncate": "yes"}),
        400,
        "invalid_field",
    );
    refused(&server, e, json!({"input": long}), 400, "text_too_long");
    refused(
        &server,
        e,
        json!({"input": [{"type": "image", "image": "@@@"}]}),
        400,
        "invalid_input",
    );
    refused(
        &server,
        e,
        json!({"input": [{"type": "image", "image": "aGVsbG8="}]}),
        400,
        "invalid_image",
    );
    // The example images are 64×64: more pixels than this server takes.
    refused(
        &server,
        e,
        json!({"input": [{"type": "image", "image": image}]}),
        413,
        "image_too_large",
    );
    // Far past the limit and the sockets' buffers: the answer must still arrive (the server
    // reads the rest of the body before it answers, or the client would see a reset).
    refused(
        &server,
        e,
        json!({"input": "x".repeat(8 << 20)}),
        413,
        "body_too_large",
    );
    let (status, ok) = post(&server, e, &json!({"input": long, "truncate": true}));
    assert_eq!(status, 200, "{ok}");

    let c = "/classify";
    refused(&server, c, json!({"labels": ["a"]}), 400, "missing_image");
    let small = data_url(&small_png());
    refused(
        &server,
        c,
        json!({"image": small, "labels": []}),
        400,
        "invalid_labels",
    );
    refused(
        &server,
        c,
        json!({"image": small, "labels": ["a", "b", "c", "d"]}),
        400,
        "too_many_labels",
    );
    refused(
        &server,
        c,
        json!({"image": small, "labels": ["a"], "templates": ["no slot"]}),
        400,
        "invalid_labels",
    );
    refused(
        &server,
        c,
        json!({"image": small, "labels": "a,b"}),
        400,
        "invalid_field",
    );

    let s = "/search";
    refused(&server, s, json!({}), 400, "invalid_query");
    refused(
        &server,
        s,
        json!({"text": "a", "image": small}),
        400,
        "invalid_query",
    );
    refused(
        &server,
        s,
        json!({"text": "a", "k": 4}),
        400,
        "invalid_field",
    );
    refused(
        &server,
        s,
        json!({"text": "a", "k": 0}),
        400,
        "invalid_field",
    );
    refused(
        &server,
        s,
        json!({"text": "a", "template": "{} {}"}),
        400,
        "invalid_field",
    );

    let (status, answer) = post_raw(&server, e, "application/json", b"{not json".to_vec());
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, answer) = post_raw(&server, e, "application/json", b"[1]".to_vec());
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, answer) = get(&server, "/v2/nothing");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, answer) = get(&server, "/search");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // Still serving after all of that.
    let (status, _) = get(&server, "/healthz");
    assert_eq!(status, 200);
}

/// A 16×16 PNG, small enough for any limit here.
fn small_png() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("clip-serve-small-{}.png", std::process::id()));
    image::RgbImage::from_pixel(16, 16, image::Rgb([200, 30, 30]))
        .save(&path)
        .unwrap();
    path
}

#[test]
fn search_without_an_index_is_a_404_that_says_how_to_get_one() {
    let server = clip_serve::Server::new(pipeline(), "tiny")
        .start("127.0.0.1:0")
        .unwrap();
    refused(&server, "/search", json!({"text": "a"}), 404, "no_index");
    let (status, _) = get(&server, "/thumbnails/0");
    assert_eq!(status, 404);
    let (_, health) = get(&server, "/healthz");
    assert_eq!(health["index_rows"], Value::Null);
}

#[test]
fn an_index_of_other_weights_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let index = collection(dir.path());
    let device = clip::device::Backend::Flex.device().unwrap();
    let mut model = pipeline().model().clone();
    model.text.text_projection = model.text.text_projection.map(|p| p * 2.0);
    let other = clip::ClipPipeline::new(model, &device);
    let error = clip_serve::Server::new(other, "other")
        .index(index)
        .err()
        .unwrap();
    assert!(error.to_string().contains("other weights"), "{error}");
}

async fn boom() -> &'static str {
    panic!("a bug in one request")
}

#[test]
fn a_panicking_request_is_answered_500_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        dir.path(),
        BatchOptions::default(),
        Limits::default(),
        |s| s.route("/boom", axum::routing::get(boom)),
    );
    let (status, body) = get(&server, "/boom");
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "internal_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a bug in one request")
    );
    let (status, _) = post(&server, "/v1/embeddings", &json!({"input": "still here"}));
    assert_eq!(status, 200);
    assert!(metrics_text(&server).contains("endpoint=\"/boom\",status=\"500\"} 1"));
}

#[test]
fn shutdown_lets_the_requests_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    // Each pass waits 500 ms for company: long enough to shut down while one is open.
    let batch = BatchOptions {
        max_wait: Duration::from_millis(500),
        ..BatchOptions::default()
    };
    let server = start_with(dir.path(), batch, Limits::default(), |s| s);
    let addr = server.addr();
    let in_flight = std::thread::spawn(move || {
        let body = json!({"input": "a photo of a red circle."}).to_string();
        let mut response = ureq::post(&format!("http://{addr}/v1/embeddings"))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    let started = std::time::Instant::now();
    server.shutdown().unwrap();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"embedding\""));
    assert!(started.elapsed() < Duration::from_secs(10));
    // And nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// A SigLIP model's server: `/classify` gives each label its sigmoid (as
/// `ClipPipeline::classify`, itself checked against transformers and open_clip), texts are
/// tokenized by the model's own tokenizer; without one, texts are refused with 501.
#[test]
fn a_siglip_model_classifies_by_sigmoid_with_its_own_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    for (from, file) in [
        ("tests/fixtures/models/siglip-tiny", "model.safetensors"),
        ("tests/fixtures/models/siglip-tiny", "config.json"),
        ("tests/fixtures/tokenizer/siglip", "tokenizer.json"),
        ("tests/fixtures/tokenizer/siglip", "tokenizer_config.json"),
    ] {
        std::fs::copy(repo(from).join(file), dir.path().join(file)).unwrap();
    }
    let device = clip::device::Backend::Flex.device().unwrap();
    let weights = dir.path().join("model.safetensors");
    let pipeline = clip::ClipPipeline::load(&weights, &device).unwrap();
    let labels = ["cat", "dog", "red car", "a_snake"];
    let image = repo("tests/fixtures/images/exact.png");
    let want = pipeline
        .classify(&image, &labels, "a photo of a {}.")
        .unwrap();
    let texts = pipeline.embed_texts(&["a photo of a cat"]).unwrap();
    let server = clip_serve::Server::new(pipeline, "siglip-tiny")
        .start("127.0.0.1:0")
        .unwrap();
    let (status, body) = post(
        &server,
        "/classify",
        &json!({"image": data_url(&image), "labels": labels, "templates": ["a photo of a {}."]}),
    );
    assert_eq!(status, 200, "{body}");
    let ranked = body["labels"].as_array().unwrap();
    let total: f64 = ranked
        .iter()
        .map(|l| l["probability"].as_f64().unwrap())
        .sum();
    assert!(
        (total - 1.0).abs() > 0.1,
        "sigmoids, not a softmax: {total}"
    );
    assert_ranked_as(&want, ranked);
    let (status, body) = post(
        &server,
        "/v1/embeddings",
        &json!({"input": "a photo of a cat"}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(max_abs_diff(&vectors(&body)[0], texts.row(0)) <= 1e-6);

    // The same weights without their tokenizer: images still, texts refused.
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let pipeline = clip::ClipPipeline::load(&weights, &device).unwrap();
    let server = clip_serve::Server::new(pipeline, "siglip-tiny")
        .start("127.0.0.1:0")
        .unwrap();
    let (status, body) = post(&server, "/v1/embeddings", &json!({"input": "a cat"}));
    assert_eq!(status, 501, "{body}");
    assert!(body.to_string().contains("tokenizer.json"), "{body}");
}

/// `/classify`'s ranked items are `want`'s labels in order, each probability within 1e-6.
fn assert_ranked_as(want: &[(String, f32)], ranked: &[serde_json::Value]) {
    for ((label, p), item) in want.iter().zip(ranked) {
        assert_eq!(item["label"], label.as_str());
        let q = item["probability"].as_f64().unwrap() as f32;
        assert!((q - p).abs() <= 1e-6, "{label}: {q} vs {p}");
    }
}
