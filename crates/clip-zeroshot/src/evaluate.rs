//! Evaluating a model on labelled images: OpenAI's zero-shot top-1/top-5, and the image
//! features the linear probe is fitted on.

use burn::tensor::Tensor;
use clip_model::Clip;

use crate::{LabelledImages, TopK, ZeroShotError};

/// Top-1/top-5 of `model` on `images` against classifier `weights` `[E, C]` (logits
/// `100 · norm(I) · W`, as OpenAI's ImageNet notebook), `batch` images per forward pass;
/// `progress` hears how many images each chunk held.
pub fn evaluate(
    model: &Clip,
    images: &LabelledImages,
    weights: &Tensor<2>,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<TopK, ZeroShotError> {
    images.check_labels(weights.dims()[1])?;
    let labels = images.labels();
    let preprocessor = model.preprocessor();
    let device = model.logit_scale.val().device();
    let mut counts = TopK::default();
    images.for_each_chunk(preprocessor, |rows| -> Result<(), ZeroShotError> {
        for rows in rows.chunks(batch.max(1)) {
            let first = counts.seen;
            let pixels = preprocessor.to_tensor(rows, &device);
            counts.add_images(
                model,
                pixels,
                weights,
                100.0,
                &labels[first..first + rows.len()],
            );
        }
        progress(rows.len());
        Ok(())
    })?;
    Ok(counts)
}

/// Image features `[n, embed_dim]` (row-major, not normalised, as the paper's linear probe
/// takes them) of every image, `batch` per forward pass.
pub fn image_features(
    model: &Clip,
    images: &LabelledImages,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f32>, ZeroShotError> {
    let preprocessor = model.preprocessor();
    let mut out = Vec::with_capacity(images.len() * model.config.embed_dim);
    images.for_each_chunk(preprocessor, |rows| -> Result<(), ZeroShotError> {
        out.extend(model.image_features(&rows.concat(), batch.max(1), |_| {}));
        progress(rows.len());
        Ok(())
    })?;
    Ok(out)
}
