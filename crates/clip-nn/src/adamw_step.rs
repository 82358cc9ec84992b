//! The settings of one AdamW step, for the fused update on the CPU fast path.

/// One AdamW step's settings, as Burn's `AdamWConfig` and its step take them.
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// ε, added to the bias-corrected second moment's root.
    pub epsilon: f32,
    /// Decoupled weight decay (`0.0`: none).
    pub weight_decay: f32,
    /// This step's learning rate.
    pub lr: f64,
    /// The step's number, from 1 (the moments' `time` after this step).
    pub time: usize,
}
