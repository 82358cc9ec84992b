//! Zero-shot classifier weights by prompt ensembling (OpenAI's `zeroshot_classifier`).

use burn::tensor::Tensor;
use clip_model::{Clip, l2_normalize};
use clip_tokenizer::Tokenize;

use crate::{Prompts, ZeroShotError};

/// Weights `[E, C]`: for each class, the templates' text features, each L2-normalised,
/// averaged and normalised again. Texts are encoded `batch_size` at a time (features do not
/// depend on the batch); `progress` is told how many texts each batch held.
pub fn zeroshot_classifier(
    model: &Clip,
    tokenizer: &impl Tokenize,
    prompts: &Prompts,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<Tensor<2>, ZeroShotError> {
    let (classes, templates) = (prompts.classes.len(), prompts.templates.len());
    let texts: Vec<String> = (0..classes).flat_map(|c| prompts.texts(c)).collect();
    let mut features = Vec::new();
    for chunk in texts.chunks(batch_size.max(1)) {
        let batch = tokenizer.tokenize_texts(chunk, model.config.context_length, false)?;
        features.push(l2_normalize(model.encode_text(&batch)));
        progress(chunk.len());
    }
    let all = Tensor::cat(features, 0); // [C·T, E]
    let embed = all.dims()[1];
    let per_class = all
        .reshape([classes, templates, embed])
        .mean_dim(1)
        .reshape([classes, embed]);
    Ok(l2_normalize(per_class).transpose())
}
