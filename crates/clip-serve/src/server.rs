//! A server put together from a loaded pipeline: run until a signal, or in the background.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use clip::ClipPipeline;
use clip_collection::{Index, fingerprint};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::batcher::Batcher;
use crate::metrics::Metrics;
use crate::routes::{self, AppState};
use crate::{BatchOptions, Limits, ServeError};

/// A model ready to be served, with its options.
pub struct Server {
    pipeline: ClipPipeline,
    name: String,
    batch: BatchOptions,
    limits: Limits,
    index: Option<Index>,
    extra: Router<Arc<AppState>>,
}

impl Server {
    /// Serves `pipeline` under `name` (what `/v1/models` and every answer's `model` say).
    pub fn new(pipeline: ClipPipeline, name: impl Into<String>) -> Self {
        Server {
            pipeline,
            name: name.into(),
            batch: BatchOptions::default(),
            limits: Limits::default(),
            index: None,
            extra: Router::new(),
        }
    }

    /// How requests share forward passes.
    pub fn batching(mut self, batch: BatchOptions) -> Self {
        self.batch = batch;
        self
    }

    /// What a request may ask.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A collection to search (`/search`, the page), which must have been embedded with
    /// this model.
    pub fn index(mut self, index: Index) -> Result<Self, ServeError> {
        if fingerprint(self.pipeline.model()) != index.info().fingerprint {
            return Err(ServeError::Index(format!(
                "the index was embedded with other weights ({}) than the model served",
                index.info().weights
            )));
        }
        self.index = Some(index);
        Ok(self)
    }

    /// Adds a route of the embedding program's own, under the same layers (metrics, panic
    /// containment, body limit) as the built-in ones.
    pub fn route(mut self, path: &str, route: axum::routing::MethodRouter<Arc<AppState>>) -> Self {
        self.extra = self.extra.route(path, route);
        self
    }

    /// The application: warms the model up, starts its thread and returns every route.
    pub fn router(self) -> Router {
        warm_up(&self.pipeline);
        let metrics = Arc::new(Metrics::default());
        let model = self.pipeline.model();
        let state = AppState {
            tokenizer: model.tokenizer().map_err(|e| e.to_string()),
            context_length: model.config.context_length,
            preprocessor: self.pipeline.preprocessor(),
            logit_scale: clip::model::to_f32_vec(model.logit_scale.val().exp())[0],
            logit_bias: model
                .logit_bias
                .as_ref()
                .map(|b| clip::model::to_f32_vec(b.val())[0]),
            embed_dim: model.config.embed_dim,
            model_name: self.name,
            index: self.index,
            limits: self.limits,
            metrics: metrics.clone(),
            decoders: tokio::sync::Semaphore::new(decoders()),
            batcher: Batcher::spawn(self.pipeline, self.batch, metrics),
        };
        routes::router(Arc::new(state), self.extra)
    }

    /// Serves on `addr` until Ctrl-C or SIGTERM, then lets the requests in flight finish.
    pub fn run(self, addr: &str) -> Result<(), ServeError> {
        let runtime = runtime()?;
        runtime.block_on(async {
            let listener = bind(addr).await?;
            let router = self.router();
            eprintln!("serving on http://{}", listener.local_addr()?);
            serve(listener, router, signal()).await
        })
    }

    /// Serves on `addr` (port 0: any free port) from a thread of its own; the returned
    /// handle knows the address and stops the server when shut down or dropped.
    pub fn start(self, addr: &str) -> Result<Running, ServeError> {
        let runtime = runtime()?;
        let listener = runtime.block_on(bind(addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = self.router();
        let thread = std::thread::Builder::new()
            .name("clip-serve".into())
            .spawn(move || {
                runtime.block_on(serve(listener, router, async {
                    let _ = stopped.await;
                }))
            })?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A server running in the background (see [`Server::start`]).
pub struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking connections, waits for the requests in flight and returns how serving
    /// ended.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError::Io(std::io::Error::other("the server panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// An image and a text through the model twice before the first request: the CPU fast
/// path keeps a weight packed in its kernel's panels from its second use on, which the first
/// clients would otherwise pay for (ViT-B/32 on an AVX2 Zen 3: p99 at one client 427 ms
/// against p50 104 ms), and the memory seen at the start is then the serving memory.
fn warm_up(pipeline: &ClipPipeline) {
    let side = pipeline.preprocessor().resolution();
    let image = vec![0.0; 3 * side * side];
    for _ in 0..2 {
        let _ = pipeline.embed_pixels(std::slice::from_ref(&image));
        // Without a tokenizer text requests are refused anyway.
        let _ = pipeline.embed_texts(&["a photo."]);
    }
}

/// Images decoded at once: one per core (they run below the model's priority).
fn decoders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("clip-serve-io")
        .on_thread_start(yield_to_the_model)
        .build()?)
}

/// Lowers the calling thread's scheduling priority (nice 10) so that HTTP, JSON and image
/// decoding run in the time the model leaves: a matrix product split over every core waits
/// for its slowest part, so a preempted model thread costs far more than the work that
/// preempted it (measured in docs/serve.md). Requests still get the CPU at once when the
/// model is idle.
fn yield_to_the_model() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; on Linux, `who = 0` with PRIO_PROCESS
    // names the calling thread (nice values are per thread there).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| ServeError::Bind {
            addr: addr.to_owned(),
            error,
        })
}

async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `kill`, systemd and Kubernetes send).
async fn signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("shutting down: finishing the requests in flight");
}
