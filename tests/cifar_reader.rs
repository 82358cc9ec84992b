//! CIFAR-10/100 in the original python format, written by Python's pickle
//! (`reference/cifar_fixtures.py`): images and labels as torchvision's datasets yield them,
//! and clean errors for a truncated file and a malformed meta file.

use clip_tests::{fixture, read_npz};
use clip_zeroshot::{Cifar, read_cifar};

#[test]
fn reads_both_cifars_as_torchvision_does() {
    let expected = read_npz(&fixture("cifar/expected.npz"));
    for (kind, name, classes) in [
        (Cifar::Ten, "cifar10", 10),
        (Cifar::Hundred, "cifar100", 100),
    ] {
        for (test, split) in [(false, "train"), (true, "test")] {
            let set = read_cifar(&fixture("cifar"), kind, test).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(set.classes.len(), classes);
            let images = &expected[&format!("{name}_{split}_images")];
            let labels = &expected[&format!("{name}_{split}_labels")];
            assert_eq!(set.images.len(), images.shape()[0], "{name} {split}");
            let ours: Vec<f64> = set.images.iter().flatten().map(|&v| f64::from(v)).collect();
            let want: Vec<f64> = images.iter().copied().collect();
            assert_eq!(ours, want, "{name} {split} pixels");
            let ours: Vec<f64> = set.labels.iter().map(|&l| l as f64).collect();
            assert_eq!(
                ours,
                labels.iter().copied().collect::<Vec<_>>(),
                "{name} {split} labels"
            );
        }
    }
    let ten = read_cifar(&fixture("cifar/cifar-10-batches-py"), Cifar::Ten, true).unwrap();
    assert_eq!(
        ten.classes[3], "cat",
        "the extracted folder itself is accepted too"
    );
}

#[test]
fn corrupt_files_fail_cleanly() {
    let err = read_cifar(&fixture("cifar/bad"), Cifar::Ten, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test_batch") && err.contains("pickle"),
        "{err}"
    );
    let err = read_cifar(&fixture("cifar/bad-meta"), Cifar::Ten, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("batches.meta") && err.contains("non-string"),
        "{err}"
    );
    let err = read_cifar(&fixture("cifar/missing"), Cifar::Hundred, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("meta"), "{err}");
}
