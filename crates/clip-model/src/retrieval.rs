//! Image ↔ text retrieval metrics for image–caption sets (Recall@K as in the CLIP paper's
//! Flickr30k/COCO tables): an image is retrieved correctly when any of its captions ranks in
//! the top K; a caption when its image does.

use crate::{l2_normalize, to_f32_vec};
use burn::tensor::Tensor;

/// Recall@K in both directions, for each K asked, as fractions in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    /// The K values.
    pub ks: Vec<usize>,
    /// Image → text: fraction of images with one of their captions in the top K.
    pub image_to_text: Vec<f64>,
    /// Text → image: fraction of captions whose image is in the top K.
    pub text_to_image: Vec<f64>,
}

/// Recall@`ks` between `image_features [I, E]` and `text_features [T, E]` (not necessarily
/// normalised), where caption `t` belongs to image `text_image[t]`. Ties rank the correct
/// item below the others (a pessimistic count).
///
/// # Panics
/// If `text_image` does not hold one valid image index per caption.
pub fn retrieval_recall(
    image_features: Tensor<2>,
    text_features: Tensor<2>,
    text_image: &[usize],
    ks: &[usize],
) -> Recall {
    let [images, _] = image_features.dims();
    let [texts, _] = text_features.dims();
    assert_eq!(texts, text_image.len(), "one image index per caption");
    assert!(
        text_image.iter().all(|&i| i < images),
        "image index out of range"
    );
    let sims =
        to_f32_vec(l2_normalize(image_features).matmul(l2_normalize(text_features).transpose()));
    let sim = |i: usize, t: usize| sims[i * texts + t];

    // Image → text: the best rank among the image's captions.
    let mut best_rank = vec![usize::MAX; images];
    for (t, &i) in text_image.iter().enumerate() {
        let s = sim(i, t);
        let rank = (0..texts).filter(|&u| u != t && sim(i, u) >= s).count();
        best_rank[i] = best_rank[i].min(rank);
    }
    let with_captions: Vec<usize> = best_rank
        .iter()
        .copied()
        .filter(|&r| r != usize::MAX)
        .collect();
    // Text → image: the rank of the caption's image.
    let text_rank: Vec<usize> = text_image
        .iter()
        .enumerate()
        .map(|(t, &i)| {
            let s = sim(i, t);
            (0..images).filter(|&j| j != i && sim(j, t) >= s).count()
        })
        .collect();
    let recall = |ranks: &[usize], k: usize| {
        ranks.iter().filter(|&&r| r < k).count() as f64 / ranks.len().max(1) as f64
    };
    Recall {
        ks: ks.to_vec(),
        image_to_text: ks.iter().map(|&k| recall(&with_captions, k)).collect(),
        text_to_image: ks.iter().map(|&k| recall(&text_rank, k)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor(rows: Vec<[f32; 2]>) -> Tensor<2> {
        let n = rows.len();
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        Tensor::from_data(TensorData::new(flat, [n, 2]), &Device::flex())
    }

    #[test]
    fn counts_ranks_in_both_directions() {
        // Image 0 points along x, image 1 along y.
        let images = tensor(vec![[1.0, 0.0], [0.0, 1.0]]);
        // Captions 0 and 1 belong to image 0, caption 2 to image 1; caption 1 points at
        // image 1 more than caption 2 does.
        let texts = tensor(vec![[1.0, 0.0], [0.1, 1.0], [0.7, 0.8]]);
        let r = retrieval_recall(images, texts, &[0, 0, 1], &[1, 2]);
        // Image 0: caption 0 first. Image 1: its caption 2 second, behind caption 1.
        assert_eq!(r.image_to_text, vec![0.5, 1.0]);
        // Caption 0 → image 0 first; caption 1 → image 0 second; caption 2 → image 1 first.
        assert_eq!(r.text_to_image, vec![2.0 / 3.0, 1.0]);
    }
}
