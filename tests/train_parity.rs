//! Training against OpenAI's model code with the paper's loss (fixtures by
//! `reference/train_fixtures.py`): the loss and named gradients on one batch, then 20
//! AdamW steps (decay groups, warmup + cosine, clipping, logit-scale clamp).
//!
//! Targets (issue 6): gradients within 1e-4 relative, step losses within 1e-3. And SigLIP's
//! sigmoid loss against open_clip's `SigLipLoss` (issue 23): loss and gradients within 1e-5,
//! 20 steps within 1e-3.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use clip_model::Clip;
use clip_model::data::RankSlice;
use clip_model::train::distributed::{Collective, ThreadGroup};
use clip_model::train::{OptimOptions, Trainer, contrastive_loss, sigmoid_loss};
use clip_tests::{fixture, read_npz};
use clip_tokenizer::TokenBatch;
use ndarray::ArrayD;

type Npz = HashMap<String, ArrayD<f64>>;

/// A parameter in PyTorch's layout: dims, values, gradient (if one was asked for and exists).
type Tensors = HashMap<String, (Vec<usize>, Vec<f32>, Option<Vec<f32>>)>;

/// Batch `s` of the fixture: pixels and tokens.
fn batch(reference: &Npz, s: usize, device: &Device) -> (Tensor<4>, TokenBatch) {
    let pixels = &reference["pixels"];
    let shape = pixels.shape();
    let (n, r) = (shape[1], shape[3]);
    let per = n * 3 * r * r;
    let data: Vec<f32> = pixels
        .iter()
        .skip(s * per)
        .take(per)
        .map(|&v| v as f32)
        .collect();
    let pixels = Tensor::from_data(TensorData::new(data, [n, 3, r, r]), device);
    let tokens = &reference["tokens"];
    let ctx = tokens.shape()[2];
    let ids: Vec<u32> = tokens
        .iter()
        .skip(s * n * ctx)
        .take(n * ctx)
        .map(|&v| v as u32)
        .collect();
    (pixels, TokenBatch::from_ids(ids, ctx).unwrap())
}

/// OpenAI key → Burn module path (norm gains/biases are `gamma`/`beta` here).
fn burn_path(key: &str) -> String {
    let mut path = if key.starts_with("visual.") || key.starts_with("logit_") {
        key.to_string()
    } else {
        format!("text.{key}")
    };
    path = path
        .replace("in_proj_weight", "in_proj.weight")
        .replace("in_proj_bias", "in_proj.bias")
        .replace("downsample.1.", "downsample.bn.")
        .replace("downsample.0.", "downsample.conv.");
    let parts: Vec<&str> = path.rsplitn(2, '.').collect();
    if let [leaf, module] = parts[..] {
        let last = module.rsplit('.').next().unwrap_or(module);
        if last.starts_with("ln_") || last.starts_with("bn") {
            let leaf = if leaf == "weight" { "gamma" } else { "beta" };
            return format!("{module}.{leaf}");
        }
    }
    path
}

/// Every float parameter: path → (dims, value, gradient if any), in PyTorch's layout
/// (Linear weights transposed back to [out, in]).
struct Collect<'a> {
    path: Vec<String>,
    grads: Option<&'a burn::tensor::Gradients>,
    out: Tensors,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = clip_model::train::module_path(&self.path);
        let linear = D == 2 && path.ends_with(".weight") && !path.contains("embedding");
        let torch = |t: Tensor<D>| -> (Vec<usize>, Vec<f32>) {
            let t = if linear { t.transpose() } else { t };
            let dims = t.dims().to_vec();
            (dims, clip_model::to_f32_vec(t))
        };
        let value = param.val();
        let grad = self.grads.and_then(|g| value.grad(g)).map(|g| torch(g).1);
        let (dims, data) = torch(value);
        self.out.insert(path, (dims, data, grad));
    }
}

fn collect(model: &Clip, grads: Option<&burn::tensor::Gradients>) -> Tensors {
    let mut c = Collect {
        path: Vec::new(),
        grads,
        out: HashMap::new(),
    };
    model.visit(&mut c);
    c.out
}

/// `max|a − b| / max|b|`.
fn relative(ours: &[f32], reference: &ArrayD<f64>) -> f64 {
    assert_eq!(ours.len(), reference.len(), "element count");
    let scale = reference
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-30);
    ours.iter()
        .zip(reference.iter())
        .fold(0.0f64, |m, (&a, &b)| m.max((f64::from(a) - b).abs()))
        / scale
}

fn options(dir: &Path) -> OptimOptions {
    let text = std::fs::read_to_string(dir.join("options.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(dir: &Path) -> Clip {
    Clip::load(dir.join("init.pt"), &Device::flex()).unwrap_or_else(|e| panic!("{e}"))
}

fn check_gradients(name: &str) {
    let dir = fixture(&format!("train/{name}"));
    let reference = read_npz(&dir.join("reference.npz"));
    let device = Device::flex().autodiff();
    let model = load(&dir).train();
    let (pixels, tokens) = batch(&reference, 0, &device);
    let out = contrastive_loss(
        model.encode_image(pixels),
        model.encode_text(&tokens),
        model.logit_scale.val(),
    );
    let loss = out.loss.clone().into_scalar::<f32>() as f64;
    let expected = reference["loss0"][[0]];
    assert!(
        (loss - expected).abs() <= 1e-5 * expected,
        "{name} loss {loss} vs {expected}"
    );
    let grads = out.loss.backward();
    let ours = collect(&model, Some(&grads));
    let mut checked = 0;
    for (key, want) in reference
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("grad/")?, v)))
    {
        let path = burn_path(key);
        let (dims, _, grad) = ours
            .get(&path)
            .unwrap_or_else(|| panic!("{name}: no parameter {path} among {:?}", ours.keys()));
        let want_dims: Vec<usize> = if want.shape().is_empty() {
            vec![1]
        } else {
            want.shape().to_vec()
        };
        assert_eq!(dims, &want_dims, "{name} {key} shape");
        let grad = grad
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {key} has no gradient"));
        let rel = relative(grad, want);
        eprintln!("{name} grad {key}: max relative error {rel:.2e}");
        assert!(rel <= 1e-4, "{name} grad {key}: {rel}");
        checked += 1;
    }
    assert!(checked >= 10, "{name}: only {checked} gradients compared");
}

fn check_steps(name: &str, micro_batches: usize) {
    check_steps_on(name, micro_batches, &[]);
}

fn check_steps_on(name: &str, micro_batches: usize, devices: &[Device]) {
    let (losses, model) = run_steps(name, |trainer, pixels, tokens| {
        trainer.step_on(pixels, tokens, micro_batches, devices).loss
    });
    assert_matches_reference(
        &format!("{name} ({micro_batches} micro-batches)"),
        name,
        &losses,
        &model,
    );
}

/// The fixture's steps, each taken by `step` on a trainer of the fixture's initial model:
/// the step losses and the final parameters.
fn run_steps(
    name: &str,
    step: impl Fn(&mut Trainer, Tensor<4>, &TokenBatch) -> f64,
) -> (Vec<f64>, Tensors) {
    let dir = fixture(&format!("train/{name}"));
    let reference = read_npz(&dir.join("reference.npz"));
    let device = Device::flex().autodiff();
    let options = options(&dir);
    let batches = reference["pixels"].shape()[0];
    let mut trainer = Trainer::new(load(&dir), options.clone());
    let losses = (0..options.total_steps)
        .map(|s| {
            let (pixels, tokens) = batch(&reference, s % batches, &device);
            step(&mut trainer, pixels, &tokens)
        })
        .collect();
    (losses, collect(&trainer.model.valid(), None))
}

/// Step losses within 1e-3 of PyTorch's and final parameters within 2e-3.
fn assert_matches_reference(label: &str, name: &str, losses: &[f64], model: &Tensors) {
    let dir = fixture(&format!("train/{name}"));
    let reference = read_npz(&dir.join("reference.npz"));
    let want = &reference["losses"];
    assert_eq!(losses.len(), want.len(), "{label}: steps");
    let mut worst: f64 = 0.0;
    for (step, &loss) in losses.iter().enumerate() {
        let expected = want[[step]];
        let diff = (loss - expected).abs();
        let rel = diff / expected.abs();
        worst = worst.max(rel);
        // Near convergence the loss is a small difference of logits up to `logit_scale`
        // (~100) in size, so float32 rounding alone moves it by ~1e-5 in absolute terms:
        // there the bound is absolute.
        assert!(
            rel <= 1e-3 || diff <= 1e-5,
            "{label} step {step}: loss {loss} vs {expected}"
        );
    }
    eprintln!(
        "{label}: {} step losses, max relative error {worst:.2e}",
        losses.len()
    );
    for (key, want) in reference
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("final/")?, v)))
    {
        let (_, value, _) = &model[&burn_path(key)];
        let rel = relative(value, want);
        // Adam divides by the root of the squared-gradient average, so on parameters whose
        // gradients are nearly zero (some ResNet biases) it turns float32 rounding
        // differences in the gradients into whole steps: 20 steps reach ~1e-3.
        assert!(rel <= 2e-3, "{label} final {key}: {rel}");
    }
}

#[test]
fn vit_gradients_match_pytorch() {
    check_gradients("tiny-vit");
}

#[test]
fn resnet_gradients_match_pytorch() {
    check_gradients("tiny-rn");
}

#[test]
fn vit_adamw_steps_match_pytorch() {
    check_steps("tiny-vit", 1);
}

#[test]
fn resnet_adamw_steps_match_pytorch() {
    check_steps("tiny-rn", 1);
}

#[test]
fn accumulated_micro_batches_match_the_full_batch() {
    // ViT only: BatchNorm statistics differ per micro-batch by design.
    check_steps("tiny-vit", 4);
}

#[test]
fn pieces_on_two_devices_match_pytorch() {
    // Two workers (threads) on the one CPU device: the gathering of features and gradients
    // across devices is exercised; the result must stay the full batch's.
    let device = Device::flex().autodiff();
    check_steps_on("tiny-vit", 2, &[device.clone(), device]);
}

/// The fixture's steps on `ranks` ranks as threads, each taking its rows of every batch and
/// spreading them over `devices` workers: each rank's step losses and final parameters.
fn on_ranks(name: &str, ranks: usize, devices: usize) -> Vec<(Vec<f64>, Tensors)> {
    std::thread::scope(|s| {
        let workers: Vec<_> = ThreadGroup::new(ranks)
            .into_iter()
            .map(|member| {
                s.spawn(move || {
                    let devices = match devices {
                        1 => Vec::new(),
                        n => vec![Device::flex().autodiff(); n],
                    };
                    let slice = RankSlice {
                        rank: member.rank(),
                        ranks,
                    };
                    run_steps(name, |trainer, pixels, tokens| {
                        let rows = slice.rows(tokens.len());
                        let pixels = pixels.narrow(0, rows.start, rows.len());
                        let tokens = tokens.slice_rows(rows.start, rows.end);
                        trainer
                            .step_across(pixels, &tokens, 1, &devices, &member)
                            .loss
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    })
}

#[test]
fn ranks_match_one_process_and_pytorch() {
    // Three ranks as threads of this process (MPI's processes are xtask/tests/distributed_cli.rs),
    // each loading its rows of every batch: features gathered, gradients summed. Each rank's
    // run must be the one-process run on the whole batch, and all ranks' weights one. The
    // one-process run accumulates the same three pieces (`micro_batches` = ranks), so that
    // its gradients are summed in the same order: the plain step, one backward pass over the
    // whole batch, rounds differently, and AdamW turns rounding noise in gradients that are
    // mathematically zero (attention's key bias) into whole steps (~1e-4 after 20 steps; the
    // PyTorch comparison below bounds that).
    let name = "tiny-vit";
    let ranks = 3;
    let (one_losses, one_model) = run_steps(name, |trainer, pixels, tokens| {
        trainer.step(pixels, tokens, ranks).loss
    });
    let runs = on_ranks(name, ranks, 1);
    for (rank, (losses, model)) in runs.iter().enumerate() {
        assert_eq!(losses, &runs[0].0, "rank {rank}'s losses are rank 0's");
        assert_eq!(model, &runs[0].1, "rank {rank}'s weights are rank 0's");
    }
    let (losses, model) = &runs[0];
    let mut worst_loss: f64 = 0.0;
    for (a, b) in losses.iter().zip(&one_losses) {
        worst_loss = worst_loss.max((a - b).abs() / b.abs());
    }
    let mut worst: f64 = 0.0;
    for (path, (_, value, _)) in model {
        let one = &one_model[path].1;
        let scale = one.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
        let diff = value
            .iter()
            .zip(one)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst = worst.max((diff / scale) as f64);
    }
    eprintln!(
        "{ranks} ranks vs one process: losses within {worst_loss:.2e}, final weights within \
         {worst:.2e} relative"
    );
    assert!(
        worst_loss <= 1e-5,
        "losses {worst_loss:.2e} from the one-process run's"
    );
    assert!(
        worst <= 1e-5,
        "final weights {worst:.2e} from the one-process run's"
    );
    assert_matches_reference(&format!("{name} on {ranks} ranks"), name, losses, model);
}

#[test]
fn ranks_with_two_devices_each_match_pytorch() {
    // Two ranks, each spreading its rows over two workers (`--devices 2` under mpirun): the
    // features of both levels are gathered and the gradients summed twice; still the whole
    // batch's step.
    let name = "tiny-vit";
    let ranks = 2;
    let runs = on_ranks(name, ranks, 2);
    assert_eq!(runs[0], runs[1], "the ranks' runs differ");
    let (losses, model) = &runs[0];
    assert_matches_reference(
        &format!("{name} on {ranks} ranks × 2 devices"),
        name,
        losses,
        model,
    );
}

/// open_clip's `SigLipLoss` on raw features (normalised inside): the loss and its gradients
/// with respect to both features, the scale and the bias (fixture by
/// `reference/siglip_train_fixtures.py`). Target (issue 23): 1e-5.
#[test]
fn sigmoid_loss_and_gradients_match_open_clip() {
    let reference = read_npz(&fixture("train/sigmoid_loss.npz"));
    let device = Device::flex().autodiff();
    let tensor = |key: &str| {
        let a = &reference[key];
        let dims: Vec<usize> = if a.shape().is_empty() {
            vec![1]
        } else {
            a.shape().to_vec()
        };
        let values: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        (values, dims)
    };
    let (values, dims) = tensor("image");
    let image =
        Tensor::<2>::from_data(TensorData::new(values, [dims[0], dims[1]]), &device).require_grad();
    let (values, dims) = tensor("text");
    let text =
        Tensor::<2>::from_data(TensorData::new(values, [dims[0], dims[1]]), &device).require_grad();
    let scale = Tensor::<1>::from_data(TensorData::new(tensor("logit_scale").0, [1]), &device)
        .require_grad();
    let bias = Tensor::<1>::from_data(TensorData::new(tensor("logit_bias").0, [1]), &device)
        .require_grad();
    let out = sigmoid_loss(image.clone(), text.clone(), scale.clone(), bias.clone());
    let loss = f64::from(out.loss.clone().into_scalar::<f32>());
    let want = reference["loss"][[0]];
    assert!((loss - want).abs() <= 1e-5 * want, "loss {loss} vs {want}");
    let grads = out.loss.backward();
    for (key, t) in [("image", image.grad(&grads)), ("text", text.grad(&grads))] {
        let rel = relative(
            &clip_model::to_f32_vec(t.unwrap()),
            &reference[&format!("grad/{key}")],
        );
        eprintln!("sigmoid loss grad {key}: {rel:.2e}");
        assert!(rel <= 1e-5, "grad {key}: {rel}");
    }
    for (key, t) in [
        ("logit_scale", scale.grad(&grads)),
        ("logit_bias", bias.grad(&grads)),
    ] {
        let rel = relative(
            &clip_model::to_f32_vec(t.unwrap()),
            &reference[&format!("grad/{key}")],
        );
        eprintln!("sigmoid loss grad {key}: {rel:.2e}");
        assert!(rel <= 1e-5, "grad {key}: {rel}");
    }
}

/// 20 AdamW steps of the tiny ViT with the sigmoid loss, its logit bias starting at −10 and
/// its scale at ln 10, against PyTorch running open_clip's `SigLipLoss`. Target: 1e-3.
#[test]
fn sigmoid_steps_match_open_clip() {
    // Whole batches, and two micro-batches each (the loss still over the whole batch).
    for micro_batches in [1, 2] {
        sigmoid_steps(micro_batches);
    }
}

fn sigmoid_steps(micro_batches: usize) {
    let dir = fixture("train/tiny-vit");
    let reference = read_npz(&dir.join("reference.npz"));
    let sigmoid = read_npz(&dir.join("sigmoid.npz"));
    let device = Device::flex().autodiff();
    let options = options(&dir);
    let mut model = load(&dir);
    model.config.logit_bias = true;
    model.logit_scale = Param::from_tensor(Tensor::from_floats([10f32.ln()], &Device::flex()));
    model.logit_bias = Some(Param::from_tensor(Tensor::from_floats(
        [-10.0f32],
        &Device::flex(),
    )));
    let mut trainer = Trainer::new(model, options.clone());
    let batches = reference["pixels"].shape()[0];
    let mut worst: f64 = 0.0;
    for step in 0..options.total_steps {
        let (pixels, tokens) = batch(&reference, step % batches, &device);
        let loss = trainer.step(pixels, &tokens, micro_batches).loss;
        let want = sigmoid["losses"][[step]];
        let rel = (loss - want).abs() / want.abs();
        worst = worst.max(rel);
        assert!(
            rel <= 1e-3,
            "{micro_batches} micro-batches, step {step}: {loss} vs {want}"
        );
    }
    eprintln!("sigmoid steps ({micro_batches} micro-batches): max relative loss error {worst:.2e}");
    let model = collect(&trainer.model.valid(), None);
    for (key, want) in sigmoid
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("final/")?, v)))
    {
        let (_, value, _) = &model[&burn_path(key)];
        let rel = if key == "logit_bias" {
            // How far it moved from −10, not its size: the step is ~1e-3 of it.
            let (ours, want) = (f64::from(value[0]) + 10.0, want[[0]] + 10.0);
            (ours - want).abs() / want.abs()
        } else {
            relative(value, want)
        };
        eprintln!("sigmoid final {key}: {rel:.2e}");
        assert!(
            rel <= 2e-3,
            "{micro_batches} micro-batches, final {key}: {rel}"
        );
    }
}
