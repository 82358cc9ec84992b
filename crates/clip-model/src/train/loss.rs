//! The two objectives: the symmetric contrastive loss of the CLIP paper's pseudocode, and
//! SigLIP's pairwise sigmoid loss (open_clip's `SigLipLoss`).

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::l2_normalize;

/// The loss of one batch and the logits it came from.
#[derive(Debug, Clone)]
pub struct ContrastiveOutput {
    /// `(CE(rows) + CE(columns)) / 2` (or the sigmoid loss), shape [1].
    pub loss: Tensor<1>,
    /// `exp(t) · norm(I) · norm(T)ᵀ (+ b)`, `[images, texts]`; pair `i` is on the diagonal.
    pub logits_per_image: Tensor<2>,
}

/// The paper's loss: L2-normalised features, `logits = exp(t)·I·Tᵀ`, cross-entropy with
/// the diagonal as targets over rows (image → text) and columns (text → image), averaged.
///
/// `logit_scale` is `t`, shape [1]. Features are `[batch, embed]`, row `i` of each a pair.
pub fn contrastive_loss(
    image_features: Tensor<2>,
    text_features: Tensor<2>,
    logit_scale: Tensor<1>,
) -> ContrastiveOutput {
    let image = l2_normalize(image_features);
    let text = l2_normalize(text_features);
    let scale = logit_scale.exp().unsqueeze::<2>();
    let logits_per_image = image.matmul(text.transpose()) * scale;
    let loss = (diagonal_cross_entropy(logits_per_image.clone())
        + diagonal_cross_entropy(logits_per_image.clone().transpose()))
        / 2.0;
    ContrastiveOutput {
        loss,
        logits_per_image,
    }
}

/// Which loss a batch is trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// [`contrastive_loss`] (CLIP).
    Contrastive,
    /// [`sigmoid_loss`] (SigLIP; needs the model's logit bias).
    Sigmoid,
}

impl Objective {
    /// The objective a model is trained with: the sigmoid loss when its logits carry a bias.
    pub fn of(config: &crate::ClipConfig) -> Self {
        match config.logit_bias {
            true => Objective::Sigmoid,
            false => Objective::Contrastive,
        }
    }

    /// The loss of a batch of features; `logit_bias` is used by the sigmoid loss only.
    pub fn loss(
        self,
        image_features: Tensor<2>,
        text_features: Tensor<2>,
        logit_scale: Tensor<1>,
        logit_bias: Option<Tensor<1>>,
    ) -> ContrastiveOutput {
        match (self, logit_bias) {
            (Objective::Sigmoid, Some(bias)) => {
                sigmoid_loss(image_features, text_features, logit_scale, bias)
            }
            _ => contrastive_loss(image_features, text_features, logit_scale),
        }
    }
}

/// SigLIP's loss: L2-normalised features, `logits = exp(t)·I·Tᵀ + b`, every pair a binary
/// label (+1 on the diagonal, −1 elsewhere), `−Σ log σ(label · logit) / n` — open_clip's
/// `SigLipLoss` on one process (`logits_per_image` are those logits).
pub fn sigmoid_loss(
    image_features: Tensor<2>,
    text_features: Tensor<2>,
    logit_scale: Tensor<1>,
    logit_bias: Tensor<1>,
) -> ContrastiveOutput {
    let image = l2_normalize(image_features);
    let text = l2_normalize(text_features);
    let [n, _] = image.dims();
    let scale = logit_scale.exp().unsqueeze::<2>();
    let logits_per_image = image.matmul(text.transpose()) * scale + logit_bias.unsqueeze::<2>();
    let device = logits_per_image.device();
    let labels: Tensor<2> = Tensor::<2>::eye(n, &device) * 2.0 - 1.0;
    let loss = -log_sigmoid(logits_per_image.clone() * labels)
        .sum()
        .reshape([1])
        / n.max(1) as f64;
    ContrastiveOutput {
        loss,
        logits_per_image,
    }
}

/// Mean over rows of `-log softmax(row)[i]` for row `i`: cross-entropy with `arange` labels.
fn diagonal_cross_entropy(logits: Tensor<2>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    let labels: Vec<i64> = (0..rows as i64).collect();
    let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [rows, 1]), &logits.device());
    -log_softmax(logits, 1).gather(1, labels).mean().reshape([1])
}

/// Fraction of rows whose largest logit is on the diagonal (image → text), and the same
/// for columns (text → image).
pub fn in_batch_accuracy(logits_per_image: &Tensor<2>) -> (f64, f64) {
    let [rows, cols] = logits_per_image.dims();
    let hits = |argmax: Tensor<2, Int>| {
        let idx: Vec<i64> = argmax
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        idx.iter()
            .enumerate()
            .filter(|&(i, &j)| i as i64 == j)
            .count()
    };
    let per_image = hits(logits_per_image.clone().argmax(1)) as f64 / rows.max(1) as f64;
    let per_text = hits(logits_per_image.clone().transpose().argmax(1)) as f64 / cols.max(1) as f64;
    (per_image, per_text)
}
