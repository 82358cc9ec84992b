//! What `/metrics` reports, in the Prometheus (OpenMetrics) text format: requests by endpoint
//! and status, their latency, the batches the model ran and the queue in front of it.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's counters, shared by every request and the model's thread.
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Histograms<Endpoint>,
    batch_rows: Histograms<Kind>,
    batch_seconds: Histograms<Kind>,
    queue: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clip");
        let requests = Family::<Request, Counter<u64, AtomicU64>>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        // 1 ms to 32 s.
        let latency: Histograms<Endpoint> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        // 1 to 512 rows.
        let batch_rows: Histograms<Kind> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 2.0, 10)));
        registry.register(
            "batch_rows",
            "Rows (texts or images) in each forward pass",
            batch_rows.clone(),
        );
        let batch_seconds: Histograms<Kind> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register(
            "batch_duration_seconds",
            "Time of each forward pass",
            batch_seconds.clone(),
        );
        let queue = Gauge::default();
        registry.register(
            "queue_depth",
            "Requests waiting for the model",
            queue.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            batch_rows,
            batch_seconds,
            queue,
        }
    }
}

impl Metrics {
    /// One answered request: its route pattern (`/thumbnails/{row}`, not the row), status and
    /// seconds taken.
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        let endpoint = endpoint.to_owned();
        self.requests
            .get_or_create(&Request {
                endpoint: endpoint.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Endpoint { endpoint })
            .observe(seconds);
    }

    /// One forward pass of `rows` texts or images.
    pub fn batch(&self, kind: &'static str, rows: usize, seconds: f64) {
        let kind = Kind { kind };
        self.batch_rows.get_or_create(&kind).observe(rows as f64);
        self.batch_seconds.get_or_create(&kind).observe(seconds);
    }

    /// The queue grew (`+1`) or shrank (`-n`).
    pub fn queue(&self, change: i64) {
        self.queue.inc_by(change);
    }

    /// Everything, as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
