//! What an operator sets: batching and the limits every request is held to.

use std::time::Duration;

/// How requests are gathered into forward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most rows (texts or images) in one forward pass. Default 32.
    pub max_batch: usize,
    /// Longest a request waits for others to share its pass, under load: a request that
    /// finds the model idle is run at once, and no wait is longer than the previous pass
    /// took. Default 5 ms.
    pub max_wait: Duration,
    /// Requests waiting for the model before new ones are refused with 503. Default 1024.
    pub max_queue: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_batch: 32,
            max_wait: Duration::from_millis(5),
            max_queue: 1024,
        }
    }
}

/// Bounds on a request; each one crossed is a 4xx JSON error naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes (413). Default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest image, in pixels, checked from its header before decoding (413). Default
    /// 40 megapixels: a 6000×6000 photo passes, a decompression bomb does not.
    pub max_pixels: u64,
    /// Most inputs in one embeddings request (400). Default 256.
    pub max_inputs: usize,
    /// Most labels in one classification (400). Default 1000.
    pub max_labels: usize,
    /// Most templates in one classification (400). Default 100.
    pub max_templates: usize,
    /// Most results of one search (400). Default 1000.
    pub max_k: usize,
    /// Cut texts longer than the model's context instead of refusing them (400), unless a
    /// request says otherwise with `"truncate"`. Default false, as `clip.tokenize`.
    pub truncate: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 << 20,
            max_pixels: 40_000_000,
            max_inputs: 256,
            max_labels: 1000,
            max_templates: 100,
            max_k: 1000,
            truncate: false,
        }
    }
}
