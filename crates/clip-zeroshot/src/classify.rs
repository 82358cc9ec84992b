//! Predictions for images: against classifier weights, or against candidate labels.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use clip_model::{Clip, l2_normalize};
use clip_text::TokenIds;
use clip_tokenizer::Tokenizer;

use crate::{Prompts, ZeroShotError};

/// Logits `[N, C]` of preprocessed images `[N, 3, R, R]` against classifier `weights`
/// `[E, C]`: `logit_scale · norm(encode_image(x)) · W` (OpenAI's notebook uses 100).
pub fn predict_once(
    model: &Clip,
    pixels: Tensor<4>,
    weights: Tensor<2>,
    logit_scale: f32,
) -> Tensor<2> {
    l2_normalize(model.encode_image(pixels)).matmul(weights) * logit_scale
}

/// One image `[1, 3, R, R]` against `labels`, each put into `template` (`"a photo of a {}."`):
/// softmax of CLIP's logits (with the model's own temperature), best first, as OpenAI's
/// README example computes them.
pub fn classify(
    model: &Clip,
    tokenizer: &Tokenizer,
    pixels: Tensor<4>,
    labels: &[String],
    template: &str,
) -> Result<Vec<(String, f32)>, ZeroShotError> {
    let prompts = Prompts::new(labels.to_vec(), vec![template.to_owned()])?;
    let texts: Vec<String> = (0..labels.len()).flat_map(|c| prompts.texts(c)).collect();
    let batch = tokenizer.tokenize(&texts, model.config.context_length, false)?;
    let (per_image, _) = model.forward(pixels, &TokenIds::from(&batch));
    let probs = softmax(per_image, 1)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32");
    let mut ranked: Vec<(String, f32)> = labels.iter().cloned().zip(probs).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(ranked)
}
