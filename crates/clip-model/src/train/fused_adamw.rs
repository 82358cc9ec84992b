//! Burn's AdamW with its update fused into one pass per parameter on the CPU fast path.

use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};
use clip_nn::{AdamWStep, adamw_step};

/// AdamW whose steps equal Burn's `AdamW` bit for bit, with the same state (so checkpoints
/// written by either resume under the other): `flex` float32 parameters take
/// [`clip_nn::adamw_step`] (one pass, both cores), everything else Burn's own step.
#[derive(Clone)]
pub struct FusedAdamW {
    burn: AdamW,
    settings: [f32; 4],
}

impl FusedAdamW {
    /// AdamW with β₁, β₂, ε and decoupled weight decay (AMSGrad off, no gradient clipping
    /// inside the optimiser).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> FusedAdamW {
        let burn = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        FusedAdamW {
            burn,
            settings: [beta_1, beta_2, epsilon, weight_decay],
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let [beta_1, beta_2, epsilon, weight_decay] = self.settings;
        let momentum = state.as_ref().map(|s| &s.momentum);
        let step = AdamWStep {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            lr,
            time: momentum.map_or(1, |m| m.time + 1),
        };
        let moments = momentum
            .filter(|m| m.max_moment_2.is_none())
            .map(|m| [&m.moment_1, &m.moment_2]);
        // An AMSGrad state (never written here) keeps Burn's step.
        let plain = momentum.is_none() || moments.is_some();
        if plain && let Some([tensor, m, v]) = adamw_step(&tensor, &grad, moments, &step) {
            let momentum = AdaptiveMomentumState::new(step.time, m, v);
            return (tensor, Some(AdamWState::new(momentum)));
        }
        self.burn.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    fn data<const D: usize>(t: &Tensor<D>) -> TensorData {
        t.to_data()
    }

    #[test]
    fn steps_equal_burns_adamw_bit_for_bit() {
        let device = Device::flex();
        let random =
            |shape: [usize; 2]| Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        for decay in [0.0, 0.2] {
            let ours = FusedAdamW::new(0.9, 0.98, 1e-6, decay);
            let burns = AdamWConfig::new()
                .with_beta_1(0.9)
                .with_beta_2(0.98)
                .with_epsilon(1e-6)
                .with_weight_decay(decay)
                .build();
            // More elements than one thread task, so the pass is split.
            let start = random([300, 70]);
            let (mut a, mut b) = (start.clone(), start);
            let (mut sa, mut sb) = (None, None);
            for (step, lr) in [5e-4, 3e-4, 1e-4].into_iter().enumerate() {
                let grad = random([300, 70]).mul_scalar(0.1 * (step + 1) as f64);
                assert!(
                    adamw_step(
                        &a,
                        &grad,
                        None,
                        &AdamWStep {
                            beta_1: 0.9,
                            beta_2: 0.98,
                            epsilon: 1e-6,
                            weight_decay: decay,
                            lr,
                            time: 1,
                        }
                    )
                    .is_some(),
                    "flex float32 takes the fused pass"
                );
                (a, sa) = ours.step(lr, a, grad.clone(), sa);
                (b, sb) = burns.step(lr, b, grad, sb);
                let (ma, mb) = (
                    &sa.as_ref().unwrap().momentum,
                    &sb.as_ref().unwrap().momentum,
                );
                assert_eq!(ma.time, mb.time);
                assert_eq!(data(&a), data(&b), "parameter, step {step}, decay {decay}");
                assert_eq!(data(&ma.moment_1), data(&mb.moment_1), "first moment");
                assert_eq!(data(&ma.moment_2), data(&mb.moment_2), "second moment");
            }
        }
    }
}
