//! OpenAI's initialisation for pretraining from scratch (`CLIP.initialize_parameters` and
//! the constructors it leaves alone, which use PyTorch's defaults), drawn from a seeded
//! generator on the host so a seed gives the same model on every backend.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal, Uniform};

use crate::{Clip, ClipConfig};

/// How one parameter is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Draw {
    Normal(f64),
    Uniform(f64),
    Constant(f32),
}

/// Re-initialises every parameter of `model` as OpenAI's code does for a new model:
/// normal std 0.02 token and 0.01 positional embeddings; the text transformer's scaled
/// init (`attn_std = w^-½`, `proj_std = w^-½·(2L)^-½`, `fc_std = (2w)^-½`); the ViT's
/// `w^-½` class/positional embeddings and projection; the attention pool's `c_proj.in^-½`;
/// zeros for the last BatchNorm gain of each Bottleneck; PyTorch's defaults elsewhere
/// (Kaiming-uniform `±1/√fan_in` weights and biases, Xavier for attention `in_proj`,
/// zero attention biases, unit norms); `logit_scale = ln(1/0.07)` (with a logit bias,
/// open_clip's SigLIP start: `logit_scale = ln 10`, `logit_bias = −10`).
///
/// Each tensor is drawn from its own stream, seeded by `seed` and its path, so the result
/// depends on nothing but the seed and the configuration.
pub fn pretraining_init(model: Clip, seed: u64) -> Clip {
    let config = model.config.clone();
    model.map(&mut InitMapper {
        config,
        seed,
        path: Vec::new(),
        fan_in: 1,
    })
}

struct InitMapper {
    config: ClipConfig,
    seed: u64,
    path: Vec<String>,
    /// `fan_in` of the last weight seen: a Linear's bias follows its weight.
    fan_in: usize,
}

impl ModuleMapper for InitMapper {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = crate::train::module_path(&self.path);
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        if path.ends_with("weight") && D >= 2 {
            // Burn's Linear weight is [in, out]; a conv's is [out, in, kh, kw].
            self.fan_in = if D == 2 {
                dims[0]
            } else {
                dims[1..].iter().product()
            };
        }
        let draw = rule(&self.config, &path, self.fan_in);
        let count: usize = dims.iter().product();
        let mut rng = StdRng::seed_from_u64(self.seed ^ fnv1a(path.as_bytes()));
        let values: Vec<f32> = match draw {
            Draw::Constant(c) => vec![c; count],
            Draw::Normal(std) => {
                let normal = Normal::new(0.0, std).expect("a positive deviation");
                (0..count).map(|_| normal.sample(&mut rng) as f32).collect()
            }
            Draw::Uniform(bound) => {
                let uniform = Uniform::new_inclusive(-bound, bound).expect("a finite bound");
                (0..count).map(|_| rng.sample(uniform) as f32).collect()
            }
        };
        let device = tensor.device();
        let require_grad = tensor.is_require_grad();
        let mut fresh = Tensor::<D>::from_data(TensorData::new(values, dims), &device);
        if require_grad {
            fresh = fresh.require_grad();
        }
        Param::from_mapped_value(id, fresh, mapper)
    }
}

/// The distribution of the parameter at `path` (a Burn module path such as
/// `text.transformer.resblocks.0.attn.in_proj.weight`).
fn rule(config: &ClipConfig, path: &str, fan_in: usize) -> Draw {
    let text_width = config.transformer_width as f64;
    let kaiming = Draw::Uniform(1.0 / (fan_in.max(1) as f64).sqrt());
    let is = |suffix: &str| path.ends_with(suffix);
    // open_clip's SigLIP init (`init_logit_scale` ln 10, `init_logit_bias` −10) for models
    // with a bias, the paper's 1/0.07 temperature otherwise.
    if path == "logit_scale" {
        return Draw::Constant(match config.logit_bias {
            true => 10f32.ln(),
            false => (1.0f32 / 0.07).ln(),
        });
    }
    if path == "logit_bias" {
        return Draw::Constant(-10.0);
    }
    // Norms: LayerNorm gamma/beta, BatchNorm gamma/beta (bn3 of a Bottleneck starts at 0).
    if is("gamma") {
        let zero = path.contains(".layer") && is("bn3.gamma");
        return Draw::Constant(if zero { 0.0 } else { 1.0 });
    }
    if is("beta") || is("running_mean") {
        return Draw::Constant(0.0);
    }
    if is("running_var") {
        return Draw::Constant(1.0);
    }
    if path.starts_with("text.") {
        let proj_std = text_width.powf(-0.5) * ((2 * config.transformer_layers) as f64).powf(-0.5);
        return match () {
            _ if is("token_embedding.weight") => Draw::Normal(0.02),
            _ if is("positional_embedding") => Draw::Normal(0.01),
            _ if is("text_projection") => Draw::Normal(text_width.powf(-0.5)),
            _ if is("attn.in_proj.weight") => Draw::Normal(text_width.powf(-0.5)),
            _ if is("attn.out_proj.weight") || is("mlp.c_proj.weight") => Draw::Normal(proj_std),
            _ if is("mlp.c_fc.weight") => Draw::Normal((2.0 * text_width).powf(-0.5)),
            _ if is("attn.in_proj.bias") || is("attn.out_proj.bias") => Draw::Constant(0.0),
            _ => kaiming,
        };
    }
    let vision_width = config.vision_width as f64;
    if path.contains("attnpool.") {
        // OpenAI: std = c_proj.in_features^-½ (the pool's embed width, 32·width).
        let embed = (config.vision_width * 32) as f64;
        return match () {
            _ if is("positional_embedding") => Draw::Normal(embed.powf(-0.5)),
            _ if is("weight") => Draw::Normal(embed.powf(-0.5)),
            _ => kaiming,
        };
    }
    match () {
        _ if is("class_embedding") || is("positional_embedding") || is("visual.proj") => {
            Draw::Normal(vision_width.powf(-0.5))
        }
        _ if is("attn.in_proj.weight") => {
            // Xavier-uniform over the fused [width, 3·width] matrix.
            Draw::Uniform((6.0 / (vision_width + 3.0 * vision_width)).sqrt())
        }
        _ if is("attn.in_proj.bias") || is("attn.out_proj.bias") => Draw::Constant(0.0),
        _ => kaiming,
    }
}

/// A stable 64-bit hash of a parameter path (FNV-1a).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ModuleVisitor;
    use burn::tensor::Device;

    /// Collects `(path, mean, std)` of every float parameter.
    #[derive(Default)]
    struct Stats {
        path: Vec<String>,
        seen: Vec<(String, f64, f64)>,
    }

    impl ModuleVisitor for Stats {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v: Vec<f32> = param.val().into_data().try_to_vec::<f32>().unwrap();
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
            self.seen
                .push((crate::train::module_path(&self.path), mean, var.sqrt()));
        }
    }

    fn stats(model: &Clip) -> Vec<(String, f64, f64)> {
        let mut s = Stats::default();
        model.visit(&mut s);
        s.seen
    }

    fn tiny(vision: crate::VisionLayers, patch: Option<usize>) -> ClipConfig {
        ClipConfig {
            embed_dim: 32,
            image_resolution: 32,
            vision_layers: vision,
            vision_width: 64,
            vision_patch_size: patch,
            context_length: 16,
            vocab_size: 49408,
            transformer_width: 64,
            transformer_heads: 2,
            transformer_layers: 2,
            activation: clip_nn::Activation::QuickGelu,
            vision_head_width: 32,
            ..ClipConfig::preset("RN50").expect("a preset")
        }
    }

    #[test]
    fn draws_follow_openai_rules_and_the_seed() {
        let device = Device::flex();
        let config = tiny(crate::VisionLayers::Vit(2), Some(8));
        let a = stats(&pretraining_init(config.init(&device), 7));
        let b = stats(&pretraining_init(config.init(&device), 7));
        let c = stats(&pretraining_init(config.init(&device), 8));
        assert_eq!(a, b, "same seed, same model");
        assert_ne!(a, c, "another seed, another model");
        let find = |name: &str| {
            a.iter()
                .find(|(p, ..)| p == name)
                .unwrap_or_else(|| panic!("{name} in {a:?}"))
        };
        let close = |x: f64, y: f64, tol: f64| (x - y).abs() <= tol * y.abs().max(1e-12);
        assert!(close(find("text.token_embedding.weight").2, 0.02, 0.02));
        assert!(close(find("text.positional_embedding").2, 0.01, 0.2));
        // attn_std = 64^-½ = 0.125; proj_std = 0.125 · 4^-½ = 0.0625; fc_std = 128^-½.
        assert!(close(
            find("text.transformer.resblocks.0.attn.in_proj.weight").2,
            0.125,
            0.05
        ));
        assert!(close(
            find("text.transformer.resblocks.1.attn.out_proj.weight").2,
            0.0625,
            0.05
        ));
        assert!(close(
            find("text.transformer.resblocks.0.mlp.c_fc.weight").2,
            128f64.powf(-0.5),
            0.05
        ));
        assert_eq!(
            find("text.transformer.resblocks.0.attn.in_proj.bias").2,
            0.0
        );
        assert_eq!(find("text.ln_final.gamma").1, 1.0);
        assert!((find("logit_scale").1 - (1.0 / 0.07f64).ln()).abs() < 1e-6);
    }

    #[test]
    fn resnet_bottlenecks_start_with_zero_bn3() {
        let device = Device::flex();
        let config = tiny(crate::VisionLayers::ResNet([1, 1, 1, 1]), None);
        let s = stats(&pretraining_init(config.init(&device), 1));
        let bn3: Vec<_> = s
            .iter()
            .filter(|(p, ..)| p.contains(".layer") && p.ends_with("bn3.gamma"))
            .collect();
        assert_eq!(bn3.len(), 4, "{s:?}");
        assert!(bn3.iter().all(|(_, m, sd)| *m == 0.0 && *sd == 0.0));
        let stem = s.iter().find(|(p, ..)| p == "visual.bn3.gamma").unwrap();
        assert_eq!(stem.1, 1.0, "the stem's third norm is not a Bottleneck's");
        let q = s
            .iter()
            .find(|(p, ..)| p.ends_with("attnpool.q_proj.weight"))
            .unwrap();
        assert!(
            (q.2 - (64.0f64 * 32.0).powf(-0.5)).abs() < 0.05 * q.2,
            "{q:?}"
        );
    }
}
