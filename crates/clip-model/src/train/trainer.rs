//! One optimiser step of contrastive training, with gradient accumulation that keeps the
//! whole batch in the loss.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use clip_tokenizer::TokenBatch;

use super::distributed::{Collective, GradientSum, gather_rows};
use super::loss::{ContrastiveOutput, Objective, in_batch_accuracy};
use super::optimizer::{OptimOptions, clip_grad_norm};
use crate::Clip;

/// `ln(100)`: the logit scale is clamped here after every step (OpenAI, open_clip).
pub const MAX_LOGIT_SCALE: f32 = 4.605_170_3;

/// What one step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Contrastive loss of the batch before the update.
    pub loss: f64,
    /// In-batch retrieval accuracy, image → text and text → image averaged.
    pub accuracy: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Logit scale `t` after the update (the temperature is `exp(t)`).
    pub logit_scale: f64,
    /// Pairs the loss contrasted: the batch, across all ranks of a job.
    pub pairs: usize,
}

/// A model being trained, its optimiser and the number of steps taken.
pub struct Trainer {
    /// The model, on an autodiff device.
    pub model: Clip,
    /// AdamW state for every parameter.
    pub optim: ModuleOptimizer,
    /// Optimiser and schedule settings.
    pub options: OptimOptions,
    /// Optimiser steps taken so far.
    pub step: usize,
    /// The buffer of gradients summed over ranks ([`Trainer::step_across`]).
    pub(crate) gradient_sum: GradientSum,
}

impl Trainer {
    /// Starts training `model` (moved to autodiff if it is not there yet) from step 0.
    pub fn new(model: Clip, options: OptimOptions) -> Self {
        let model = model.train();
        let optim = options.build(&model);
        Trainer {
            model,
            optim,
            options,
            step: 0,
            gradient_sum: GradientSum::default(),
        }
    }

    /// One optimiser step on a batch of `pixels [N, 3, R, R]` and their captions.
    ///
    /// With `micro_batches > 1` the batch is encoded in that many pieces so only one
    /// piece's activations are alive at a time, yet the loss still contrasts all `N` pairs:
    /// every piece's features are first computed without a graph, then each piece is
    /// recomputed with one and its gradient taken through the full-batch loss in which the
    /// other pieces' features are constants. The sum of those gradients is the full-batch
    /// gradient (the logit scale takes its gradient from the first piece only).
    pub fn step(
        &mut self,
        pixels: Tensor<4>,
        tokens: &TokenBatch,
        micro_batches: usize,
    ) -> StepStats {
        self.step_on(pixels, tokens, micro_batches, &[])
    }

    /// [`Trainer::step`] with the batch's pieces spread over `devices` (autodiff devices of one
    /// backend; piece `j` on device `j mod D`, at least one piece per device), each device
    /// working in its own thread on a fork of the model. Features are gathered on the model's
    /// device between the two passes and gradients summed there, so the step is the same as
    /// on one device: data parallelism that keeps the whole batch in the loss. BatchNorm
    /// running statistics are updated on the model's own device only. With fewer than two
    /// devices this is [`Trainer::step`].
    pub fn step_on(
        &mut self,
        pixels: Tensor<4>,
        tokens: &TokenBatch,
        micro_batches: usize,
        devices: &[Device],
    ) -> StepStats {
        if devices.len() > 1 {
            let (loss, accuracy, grads) =
                self.sharded_gradients(pixels, tokens, micro_batches, devices);
            return self.apply(tokens.len(), loss, accuracy, grads);
        }
        let pieces = Pieces::new(&pixels, tokens, micro_batches);
        let model = &self.model;
        let (loss, accuracy, grads) = if pieces.len() == 1 {
            let out = batch_loss(
                model,
                model.encode_image(pixels.clone()),
                model.encode_text(tokens),
                true,
            );
            let grads = GradientsParams::from_grads(out.loss.backward(), model);
            (scalar(out.loss), accuracy_of(&out.logits_per_image), grads)
        } else {
            let device = model.logit_scale.val().device();
            let all = 0..pieces.len();
            let features = pieces.features(model, all.clone(), &device, &device);
            let constants = Constants::of_pieces(features);
            let results = pieces.gradients(model, all, &constants, &device, &device);
            sum_pieces(model, results)
        };
        self.apply(tokens.len(), loss, accuracy, grads)
    }

    /// [`Trainer::step_on`] as one rank of a job: `pixels` and `tokens` are this rank's rows
    /// of the global batch (any number, none included). Every rank's features are gathered so
    /// the loss contrasts the global batch, each rank back-propagates it with only its own
    /// rows carrying the graph, and the gradients are summed over the ranks, so every rank
    /// takes the step one process would take on the global batch and the weights stay equal.
    /// The logit scale takes its gradient on the first rank that has rows. BatchNorm running
    /// statistics are each rank's own.
    pub fn step_across(
        &mut self,
        pixels: Tensor<4>,
        tokens: &TokenBatch,
        micro_batches: usize,
        devices: &[Device],
        group: &dyn Collective,
    ) -> StepStats {
        let main = self.model.logit_scale.val().device();
        let width = self.model.config.embed_dim;
        let rows = tokens.len();
        let pieces = Pieces::new(&pixels, tokens, micro_batches.max(devices.len()));
        if pieces.len() == 1 && rows > 0 {
            return self.step_across_once(pixels, tokens, group);
        }
        let spread = devices.len().max(1);
        let mine = |d: usize| (0..pieces.len()).filter(move |j| j % spread == d);

        // Pass 1: this rank's features without a graph, then every rank's.
        let mut features = if rows == 0 {
            Vec::new()
        } else {
            on_devices_or_main(&self.model, devices, &main, |model, d, device| {
                pieces.features(model, mine(d), device, &main)
            })
        };
        features.sort_by_key(|f| f.0);
        let (images, texts): (Vec<_>, Vec<_>) = features
            .iter()
            .map(|(_, i, t)| (values_of(i.clone()), values_of(t.clone())))
            .unzip();
        let (images, offset) = gather_rows(group, images.concat(), width, &main);
        let (texts, _) = gather_rows(group, texts.concat(), width, &main);
        let pairs = texts.dims()[0];
        let out = batch_loss(&self.model, images.clone(), texts.clone(), false);
        let (loss, accuracy) = (scalar(out.loss), accuracy_of(&out.logits_per_image));

        // Pass 2: each piece with a graph through the global loss; then the sum over ranks.
        let grads = if rows == 0 {
            GradientsParams::new()
        } else {
            let constants = Constants::around(images, texts, offset, &pieces.bounds);
            let results = on_devices_or_main(&self.model, devices, &main, |model, d, device| {
                pieces.gradients(model, mine(d), &constants, device, &main)
            });
            sum_pieces(&self.model, results).2
        };
        let grads = self.gradient_sum.sum(group, &self.model, grads);
        self.apply(pairs, loss, accuracy, grads)
    }

    /// [`Trainer::step_across`] with this rank's rows in one piece on the model's device: one
    /// forward pass whose features carry the graph, their values gathered from every rank
    /// (open_clip's `gather_with_grad=False`), no recomputation.
    fn step_across_once(
        &mut self,
        pixels: Tensor<4>,
        tokens: &TokenBatch,
        group: &dyn Collective,
    ) -> StepStats {
        let main = self.model.logit_scale.val().device();
        let width = self.model.config.embed_dim;
        let image = self.model.encode_image(pixels);
        let text = self.model.encode_text(tokens);
        let (images, offset) = gather_rows(group, values_of(image.clone().detach()), width, &main);
        let (texts, _) = gather_rows(group, values_of(text.clone().detach()), width, &main);
        let pairs = texts.dims()[0];
        let constants = Constants::around(images, texts, offset, &[(0, tokens.len())]);
        let (_, grads, loss, accuracy) =
            constants.backward(&self.model, 0, image, text, &main, &main);
        let grads = self.gradient_sum.sum(group, &self.model, grads);
        self.apply(pairs, loss, accuracy, grads)
    }

    /// Clips `grads`, takes the optimiser step and clamps the logit scale.
    fn apply(
        &mut self,
        pairs: usize,
        loss: f64,
        accuracy: f64,
        mut grads: GradientsParams,
    ) -> StepStats {
        let grad_norm = clip_grad_norm(&self.model, &mut grads, self.options.max_grad_norm);
        let lr = self.options.lr_at(self.step);
        let model = self.optim.step(lr, self.model.clone(), grads);
        self.model = clamp_logit_scale(model);
        self.step += 1;
        StepStats {
            loss,
            accuracy,
            lr,
            grad_norm,
            logit_scale: scalar(self.model.logit_scale.val()),
            pairs,
        }
    }
}

impl Trainer {
    /// The full-batch loss, in-batch accuracy and gradient (on the model's device) with the
    /// pieces of the batch computed on `devices`, one thread per device.
    fn sharded_gradients(
        &self,
        pixels: Tensor<4>,
        tokens: &TokenBatch,
        micro_batches: usize,
        devices: &[Device],
    ) -> (f64, f64, GradientsParams) {
        let main = self.model.logit_scale.val().device();
        let pieces = Pieces::new(&pixels, tokens, micro_batches.max(devices.len()));
        let mine = |d: usize| (0..pieces.len()).filter(move |j| j % devices.len() == d);
        // Pass 1: every piece's features, without a graph, gathered on the main device.
        let mut features = on_every_device(&self.model, devices, |model, d, device| {
            pieces.features(model, mine(d), device, &main)
        });
        features.sort_by_key(|f| f.0);
        let constants = Constants::of_pieces(features);

        // Pass 2: each piece with a graph through the full-batch loss.
        let results = on_every_device(&self.model, devices, |model, d, device| {
            pieces.gradients(model, mine(d), &constants, device, &main)
        });
        sum_pieces(&self.model, results)
    }
}

/// Runs `work` on a fork of `model` on every device, each in its own thread, and gathers
/// what the workers return.
fn on_every_device<T: Send>(
    model: &Clip,
    devices: &[Device],
    work: impl Fn(&Clip, usize, &Device) -> Vec<T> + Sync,
) -> Vec<T> {
    std::thread::scope(|s| {
        let workers: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(d, device)| {
                let (model, work) = (model.clone(), &work);
                s.spawn(move || work(&model.fork(device), d, device))
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a training worker panicked"))
            .collect()
    })
}

/// [`on_every_device`] when there are several devices; else `work` on the model itself, as
/// device 0 (`main`).
fn on_devices_or_main<T: Send>(
    model: &Clip,
    devices: &[Device],
    main: &Device,
    work: impl Fn(&Clip, usize, &Device) -> Vec<T> + Sync,
) -> Vec<T> {
    if devices.len() > 1 {
        on_every_device(model, devices, work)
    } else {
        work(model, 0, main)
    }
}

/// A batch cut into pieces of (nearly) equal size, for accumulation or for devices.
struct Pieces<'a> {
    pixels: &'a Tensor<4>,
    tokens: &'a TokenBatch,
    bounds: Vec<(usize, usize)>,
}

/// `(piece, image features, text features)`.
type PieceFeatures = (usize, Tensor<2>, Tensor<2>);

/// `(piece, its gradients on the model's device, full-batch loss, in-batch accuracy)`.
type PieceGradients = (usize, GradientsParams, f64, f64);

impl<'a> Pieces<'a> {
    /// `count` pieces (at least 1, at most one per row).
    fn new(pixels: &'a Tensor<4>, tokens: &'a TokenBatch, count: usize) -> Self {
        let rows = tokens.len();
        let count = count.clamp(1, rows.max(1));
        let bounds = (0..count)
            .map(|j| (j * rows / count, (j + 1) * rows / count))
            .collect();
        Pieces {
            pixels,
            tokens,
            bounds,
        }
    }

    fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Piece `j`'s pixels on `device` and its tokens.
    fn get(&self, j: usize, device: &Device) -> (Tensor<4>, TokenBatch) {
        let (a, b) = self.bounds[j];
        (
            self.pixels.clone().narrow(0, a, b - a).to_device(device),
            self.tokens.slice_rows(a, b),
        )
    }

    /// Features of pieces `which` by `model` (on `device`), detached and moved to `main`.
    fn features(
        &self,
        model: &Clip,
        which: impl Iterator<Item = usize>,
        device: &Device,
        main: &Device,
    ) -> Vec<PieceFeatures> {
        which
            .map(|j| {
                let (pixels, tokens) = self.get(j, device);
                let image = model.encode_image(pixels).detach().to_device(main);
                let text = model.encode_text(&tokens).detach().to_device(main);
                (j, image, text)
            })
            .collect()
    }

    /// For each piece of `which`: its features recomputed with a graph, the loss over the
    /// whole batch with the `constants` around them, and the gradients (moved to `main`).
    fn gradients(
        &self,
        model: &Clip,
        which: impl Iterator<Item = usize>,
        constants: &Constants,
        device: &Device,
        main: &Device,
    ) -> Vec<PieceGradients> {
        which
            .map(|j| {
                let (pixels, tokens) = self.get(j, device);
                let image = model.encode_image(pixels);
                let text = model.encode_text(&tokens);
                constants.backward(model, j, image, text, device, main)
            })
            .collect()
    }
}

/// The features a piece's loss is computed against, as constants: the whole batch's, in
/// segments, piece `j`'s at `slot + j` (replaced there by the piece's features with a graph).
struct Constants {
    images: Vec<Tensor<2>>,
    texts: Vec<Tensor<2>>,
    slot: usize,
    /// The one piece through which the logit scale takes its gradient.
    scale_piece: Option<usize>,
}

impl Constants {
    /// One process's batch: the pieces' own features, the scale's gradient from piece 0.
    fn of_pieces(features: Vec<PieceFeatures>) -> Self {
        let (images, texts) = features.into_iter().map(|(_, i, t)| (i, t)).unzip();
        Constants {
            images,
            texts,
            slot: 0,
            scale_piece: Some(0),
        }
    }

    /// One rank's pieces (`bounds`, local rows) inside the global batch's `images`/`texts`
    /// `[N, E]`, whose rows `offset..` are this rank's: the other ranks' rows before and after
    /// as two segments. The scale's gradient comes from piece 0 of the rank whose rows come
    /// first.
    fn around(
        images: Tensor<2>,
        texts: Tensor<2>,
        offset: usize,
        bounds: &[(usize, usize)],
    ) -> Self {
        let [total, _] = images.dims();
        let end = offset + bounds.last().map_or(0, |b| b.1);
        let mut segments: Vec<(usize, usize)> = Vec::new();
        if offset > 0 {
            segments.push((0, offset));
        }
        let slot = segments.len();
        segments.extend(bounds.iter().map(|&(a, b)| (offset + a, offset + b)));
        if end < total {
            segments.push((end, total));
        }
        let cut = |t: &Tensor<2>| -> Vec<Tensor<2>> {
            (segments.iter())
                .map(|&(a, b)| t.clone().narrow(0, a, b - a))
                .collect()
        };
        Constants {
            images: cut(&images),
            texts: cut(&texts),
            slot,
            scale_piece: (offset == 0).then_some(0),
        }
    }
}

impl Constants {
    /// Piece `j`'s gradients (moved to `main`) from its features with a graph, `image` and
    /// `text`, put in their place among the constants on `device`, through the loss of the
    /// whole batch; with that loss and the batch's in-batch accuracy.
    fn backward(
        &self,
        model: &Clip,
        j: usize,
        image: Tensor<2>,
        text: Tensor<2>,
        device: &Device,
        main: &Device,
    ) -> PieceGradients {
        let on_device = |all: &[Tensor<2>]| -> Vec<Tensor<2>> {
            all.iter().map(|t| t.clone().to_device(device)).collect()
        };
        let (mut images, mut texts) = (on_device(&self.images), on_device(&self.texts));
        images[self.slot + j] = image;
        texts[self.slot + j] = text;
        let tracked = self.scale_piece == Some(j);
        let out = batch_loss(
            model,
            Tensor::cat(images, 0),
            Tensor::cat(texts, 0),
            tracked,
        );
        let grads = GradientsParams::from_grads(out.loss.backward(), model).to_device(main, model);
        (
            j,
            grads,
            scalar(out.loss),
            accuracy_of(&out.logits_per_image),
        )
    }
}

/// The batch's loss under the model's [`Objective`]; the logit scale (and bias) carry their
/// gradient only when `tracked` (one piece of a step takes it).
fn batch_loss(
    model: &Clip,
    images: Tensor<2>,
    texts: Tensor<2>,
    tracked: bool,
) -> ContrastiveOutput {
    let scale = model.logit_scale.val();
    let bias = model.logit_bias.as_ref().map(|b| b.val());
    let (scale, bias) = match tracked {
        true => (scale, bias),
        false => (scale.detach(), bias.map(|b| b.detach())),
    };
    Objective::of(&model.config).loss(images, texts, scale, bias)
}

/// A tensor's values, in f32.
fn values_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// The summed gradient, with piece 0's loss and accuracy (those of the whole batch).
fn sum_pieces(model: &Clip, results: Vec<PieceGradients>) -> (f64, f64, GradientsParams) {
    let mut accumulator = GradientsAccumulator::<Clip>::new();
    let mut first = (0.0, 0.0);
    for (j, grads, loss, accuracy) in results {
        accumulator.accumulate(model, grads);
        if j == 0 {
            first = (loss, accuracy);
        }
    }
    (first.0, first.1, accumulator.grads())
}

/// Keeps `t` in `[0, ln 100]`, as the reference training loops do after each step.
fn clamp_logit_scale(mut model: Clip) -> Clip {
    model.logit_scale = model.logit_scale.map(|t| {
        let tracked = t.is_require_grad();
        // A fresh leaf: clamp outside the graph, then track it again, with the device's
        // gradient checkpointing (tensors of one operation must share it).
        let Some(strategy) = t.gradient_checkpointing_strategy() else {
            return t.clamp(0.0, MAX_LOGIT_SCALE);
        };
        let clamped = (t.inner().clamp(0.0, MAX_LOGIT_SCALE).autodiff())
            .with_gradient_checkpointing_strategy(strategy);
        if tracked {
            clamped.require_grad()
        } else {
            clamped
        }
    });
    model
}

fn accuracy_of(logits: &Tensor<2>) -> f64 {
    let (i2t, t2i) = in_batch_accuracy(logits);
    (i2t + t2i) / 2.0
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}
