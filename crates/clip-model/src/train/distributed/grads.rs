//! Gradients summed over the ranks as one flat vector, parameters in the model's visiting
//! order (the same on every rank, whatever their `ParamId`s).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};

use super::Collective;
use crate::Clip;

/// Sums gradients over the ranks, keeping its buffer between steps: the message is the size
/// of the model (600 MB for ViT-B/32), and fresh pages for it every step cost more than the
/// copy itself.
#[derive(Default)]
pub struct GradientSum {
    flat: Vec<f32>,
}

impl GradientSum {
    /// The sum over the ranks of each rank's `grads` for `model`'s parameters. A parameter
    /// that no rank has a gradient for stays without one (the optimiser then leaves it alone,
    /// as it would in one process); one that some ranks lack counts as zero there.
    pub fn sum(
        &mut self,
        group: &dyn Collective,
        model: &Clip,
        grads: GradientsParams,
    ) -> GradientsParams {
        self.flat.clear();
        let mut flatten = Flatten {
            grads,
            values: &mut self.flat,
            present: Vec::new(),
        };
        model.visit(&mut flatten);
        // One message: the values, then one presence count per parameter.
        let present = flatten.present;
        let params = present.len();
        self.flat.extend(present);
        group.all_reduce_sum(&mut self.flat);
        let (values, present) = self.flat.split_at(self.flat.len() - params);
        let mut rebuild = Rebuild {
            values,
            present,
            offset: 0,
            param: 0,
            grads: GradientsParams::new(),
        };
        model.visit(&mut rebuild);
        rebuild.grads
    }
}

/// A checksum of `model`'s parameters (their sum and the sum of their absolute values, in
/// f64): equal on ranks that hold the same weights.
pub fn fingerprint(model: &Clip) -> [f64; 2] {
    struct Sum([f64; 2]);
    impl ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data().convert::<f32>();
            for &v in data.as_slice::<f32>().unwrap_or_default() {
                self.0[0] += v as f64;
                self.0[1] += v.abs() as f64;
            }
        }
    }
    let mut sum = Sum([0.0; 2]);
    model.visit(&mut sum);
    sum.0
}

/// Appends every parameter's gradient (zeros where absent) and whether it was present.
struct Flatten<'a> {
    grads: GradientsParams,
    values: &'a mut Vec<f32>,
    present: Vec<f32>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let numel = param.shape().num_elements();
        match self.grads.remove::<D>(param.id) {
            Some(grad) => {
                let data = grad.into_data().convert::<f32>();
                self.values
                    .extend_from_slice(data.as_slice::<f32>().expect("f32 gradient"));
                self.present.push(1.0);
            }
            None => {
                self.values.resize(self.values.len() + numel, 0.0);
                self.present.push(0.0);
            }
        }
    }
}

/// Cuts the summed vector back into one gradient per parameter, on the parameter's device.
struct Rebuild<'a> {
    values: &'a [f32],
    present: &'a [f32],
    offset: usize,
    param: usize,
    grads: GradientsParams,
}

impl ModuleVisitor for Rebuild<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.shape();
        let numel = shape.num_elements();
        let values = &self.values[self.offset..self.offset + numel];
        self.offset += numel;
        let present = self.present[self.param] > 0.0;
        self.param += 1;
        if present {
            let device = param.val().inner().device();
            let data = TensorData::new(values.to_vec(), shape);
            self.grads
                .register::<D>(param.id, Tensor::from_data(data, &device));
        }
    }
}
