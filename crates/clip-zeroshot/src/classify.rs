//! Predictions for images: against classifier weights, or against candidate labels.

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softmax};
use clip_model::{Clip, l2_normalize, to_f32_vec};
use clip_tokenizer::Tokenize;

use crate::{Prompts, ZeroShotError};

/// Logits `[N, C]` of preprocessed images `[N, 3, R, R]` against classifier `weights`
/// `[E, C]`: `logit_scale · norm(encode_image(x)) · W` (OpenAI's notebook uses 100).
pub fn zeroshot_logits(
    model: &Clip,
    pixels: Tensor<4>,
    weights: Tensor<2>,
    logit_scale: f32,
) -> Tensor<2> {
    l2_normalize(model.encode_image(pixels)).matmul(weights) * logit_scale
}

/// One image `[1, 3, R, R]` against `labels`, each put into `template` (`"a photo of a {}."`):
/// softmax of CLIP's logits (with the model's own temperature), best first, as OpenAI's
/// README example computes them. A model with a logit bias (SigLIP) gives each label its own
/// sigmoid probability instead, as `torch.sigmoid(logits_per_image)` in its model card: they
/// need not sum to one.
pub fn label_probabilities(
    model: &Clip,
    tokenizer: &impl Tokenize,
    pixels: Tensor<4>,
    labels: &[String],
    template: &str,
) -> Result<Vec<(String, f32)>, ZeroShotError> {
    let prompts = Prompts::new(labels.to_vec(), vec![template.to_owned()])?;
    let texts: Vec<String> = (0..labels.len()).flat_map(|c| prompts.texts(c)).collect();
    let batch = tokenizer.tokenize_texts(&texts, model.config.context_length, false)?;
    let (per_image, _) = model.forward(pixels, &batch);
    let probs = match model.logit_bias {
        Some(_) => to_f32_vec(sigmoid(per_image)),
        None => to_f32_vec(softmax(per_image, 1)),
    };
    let mut ranked: Vec<(String, f32)> = labels.iter().cloned().zip(probs).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(ranked)
}

/// Top-1 / top-5 hits counted as OpenAI's notebook `accuracy(output, target, topk=(1, 5))`
/// does, accumulated over batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopK {
    /// Images whose best class is the label.
    pub top1: usize,
    /// Images whose label is among the five best classes (all of them if fewer).
    pub top5: usize,
    /// Images counted.
    pub seen: usize,
}

impl TopK {
    /// Counts a batch of logits `[n, classes]` against its `n` labels.
    ///
    /// # Panics
    /// If `labels` does not hold one label per row.
    pub fn add(&mut self, logits: Tensor<2>, labels: &[usize]) {
        let [rows, classes] = logits.dims();
        assert_eq!(rows, labels.len(), "one label per row");
        let values = to_f32_vec(logits);
        let k = 5.min(classes);
        for (row, &label) in values.chunks(classes.max(1)).zip(labels) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            self.top1 += usize::from(order.first() == Some(&label));
            self.top5 += usize::from(order[..k].contains(&label));
            self.seen += 1;
        }
    }

    /// Counts a batch of preprocessed images `[n, 3, R, R]` with their `labels`, scored
    /// against classifier `weights` (see [`zeroshot_logits`]).
    pub fn add_images(
        &mut self,
        model: &Clip,
        pixels: Tensor<4>,
        weights: &Tensor<2>,
        logit_scale: f32,
        labels: &[usize],
    ) {
        self.add(
            zeroshot_logits(model, pixels, weights.clone(), logit_scale),
            labels,
        );
    }

    /// `(top-1, top-5)` as fractions of the images seen.
    pub fn rates(&self) -> (f64, f64) {
        let n = self.seen.max(1) as f64;
        (self.top1 as f64 / n, self.top5 as f64 / n)
    }
}

/// Top-1 and top-5 accuracy of `model` over `batches` of preprocessed images `[n, 3, R, R]`
/// with their labels, against classifier `weights` (OpenAI's notebook `logit_scale` is 100).
pub fn top_k_accuracy(
    model: &Clip,
    batches: impl IntoIterator<Item = (Tensor<4>, Vec<usize>)>,
    weights: Tensor<2>,
    logit_scale: f32,
) -> (f64, f64) {
    let mut counts = TopK::default();
    for (pixels, labels) in batches {
        counts.add_images(model, pixels, &weights, logit_scale, &labels);
    }
    counts.rates()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn counts_top1_and_top5() {
        let logits = Tensor::<2>::from_data(
            TensorData::new(
                vec![
                    0.9f32, 0.1, 0.2, 0.3, 0.4, 0.5, // label 0: top-1
                    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, // label 1: fifth best
                    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, // label 0: sixth, missed
                ],
                [3, 6],
            ),
            &Device::flex(),
        );
        let mut counts = TopK::default();
        counts.add(logits, &[0, 1, 0]);
        assert_eq!(
            counts,
            TopK {
                top1: 1,
                top5: 2,
                seen: 3
            }
        );
        assert_eq!(counts.rates(), (1.0 / 3.0, 2.0 / 3.0));
    }
}
