//! A bounded load test of a running `cargo xtask serve`, on this machine only: N clients
//! send one-input embeddings requests back to back for a while, at each concurrency; one JSON
//! line per run with throughput, latency percentiles, failures and the server's memory.
//!
//! ```sh
//! cargo xtask serve --weights weights/tiny-shapes.safetensors --addr 127.0.0.1:8080 &
//! cargo run --example load_test -p clip-serve -- --addr 127.0.0.1:8080 --pid $! \
//!     --kind image --image weights/examples/red-circle.jpg --concurrency 1,8,64 --seconds 30
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;

struct Args {
    addr: SocketAddr,
    kind: String,
    image: Option<String>,
    concurrency: Vec<usize>,
    seconds: f64,
    pid: Option<u32>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".parse().unwrap(),
        kind: "text".into(),
        image: None,
        concurrency: vec![1, 8, 64],
        seconds: 30.0,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| format!("--addr: {e}"))?,
            "--kind" => args.kind = value,
            "--image" => args.image = Some(value),
            "--concurrency" => {
                args.concurrency = value
                    .split(',')
                    .map(|c| c.trim().parse().map_err(|e| format!("--concurrency: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => args.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--pid" => args.pid = Some(value.parse().map_err(|e| format!("--pid: {e}"))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !args.addr.ip().is_loopback() {
        return Err("the load test only runs against this machine (127.0.0.1)".into());
    }
    if args.seconds > 120.0 || args.concurrency.iter().any(|&c| c == 0 || c > 256) {
        return Err("bounded: at most 120 s and 256 clients".into());
    }
    Ok(args)
}

/// The server's resident memory, in MiB (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let body = match args.kind.as_str() {
        "text" => serde_json::json!({"input": "a photo of a red circle."}),
        "image" => {
            let path = args
                .image
                .as_deref()
                .unwrap_or("weights/examples/red-circle.jpg");
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            serde_json::json!({"input": [{"type": "image", "image": data}]})
        }
        other => {
            eprintln!("error: --kind {other}: expected text or image");
            std::process::exit(2);
        }
    }
    .to_string();
    let url = format!("http://{}/v1/embeddings", args.addr);
    for &clients in &args.concurrency {
        let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
        let rss_before = args.pid.and_then(rss_mib);
        let started = Instant::now();
        let (results, rss_max): (Vec<(Vec<f64>, usize)>, Option<f64>) =
            std::thread::scope(|scope| {
                // The server's memory, sampled twice a second while the clients run.
                let sampler = scope.spawn(|| {
                    let mut max = None::<f64>;
                    while Instant::now() < deadline {
                        if let Some(rss) = args.pid.and_then(rss_mib) {
                            max = Some(max.map_or(rss, |m| m.max(rss)));
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    max
                });
                let handles: Vec<_> = (0..clients)
                    .map(|_| {
                        let (url, body) = (&url, &body);
                        scope.spawn(move || {
                            let agent: ureq::Agent = ureq::Agent::config_builder()
                                .http_status_as_error(false)
                                .build()
                                .into();
                            let (mut latencies, mut failed) = (Vec::new(), 0);
                            while Instant::now() < deadline {
                                let sent = Instant::now();
                                let ok = agent
                                    .post(url)
                                    .header("content-type", "application/json")
                                    .send(body.as_str())
                                    .map(|mut r| {
                                        r.status() == 200
                                            && r.body_mut()
                                                .read_to_string()
                                                .is_ok_and(|b| b.contains("\"embedding\""))
                                    })
                                    .unwrap_or(false);
                                if ok {
                                    latencies.push(sent.elapsed().as_secs_f64());
                                } else {
                                    failed += 1;
                                }
                            }
                            (latencies, failed)
                        })
                    })
                    .collect();
                let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
                (results, sampler.join().unwrap())
            });
        let elapsed = started.elapsed().as_secs_f64();
        let failed: usize = results.iter().map(|r| r.1).sum();
        let mut latencies: Vec<f64> = results.into_iter().flat_map(|r| r.0).collect();
        latencies.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map(|s| s * 1000.0)
        };
        println!(
            "{}",
            serde_json::json!({
                "kind": args.kind,
                "concurrency": clients,
                "seconds": elapsed,
                "requests": latencies.len(),
                "failed": failed,
                "per_second": latencies.len() as f64 / elapsed,
                "p50_ms": pick(0.50),
                "p99_ms": pick(0.99),
                "server_rss_mib_before": rss_before,
                "server_rss_mib_max": rss_max,
                "server_rss_mib_after": args.pid.and_then(rss_mib),
            })
        );
    }
}
