//! Encode and batch-tokenize throughput against `instant-clip-tokenizer` in the same run,
//! on two corpora: `fixtures`, the adversarial parity corpus (mojibake, entities, controls,
//! scripts; most lines need some ftfy fixer), and `prompts`, the zero-shot workload (OpenAI's
//! 80 ImageNet templates over the 1000 class names, every 10th text). The Python reference is
//! measured on the same corpora by `tests/reference/bench_tokenizer.py`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn read(relative: &str) -> String {
    let path = format!("{}/../../{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The benchmark corpora by name (the Python script builds the same ones).
fn corpora() -> Vec<(&'static str, Vec<String>)> {
    let fixtures = read("tests/fixtures/tokenizer/lines.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    let classes = read("crates/clip-zeroshot/data/imagenet/classes.txt");
    let templates = read("crates/clip-zeroshot/data/imagenet/templates.txt");
    let prompts = templates
        .lines()
        .flat_map(|t| classes.lines().map(move |c| t.replace("{}", c)))
        .step_by(10)
        .collect();
    vec![("fixtures", fixtures), ("prompts", prompts)]
}

fn bench(c: &mut Criterion) {
    let ours = clip_tokenizer::Tokenizer::new();
    let instant = instant_clip_tokenizer::Tokenizer::new();
    ours.encode("warm up");
    for (corpus, texts) in corpora() {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

        let mut group = c.benchmark_group("encode (1 thread)");
        group.throughput(Throughput::Elements(texts.len() as u64));
        group.bench_function(BenchmarkId::new("clip-tokenizer", corpus), |b| {
            b.iter(|| {
                for t in &refs {
                    black_box(ours.encode(t));
                }
            })
        });
        group.bench_function(
            BenchmarkId::new("clip-tokenizer, cold cache", corpus),
            |b| {
                b.iter(|| {
                    let fresh = clip_tokenizer::Tokenizer::new();
                    for t in &refs {
                        black_box(fresh.encode(t));
                    }
                })
            },
        );
        group.bench_function(BenchmarkId::new("instant-clip-tokenizer", corpus), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                for t in &refs {
                    out.clear();
                    instant.encode(t, &mut out);
                    black_box(&out);
                }
            })
        });
        group.finish();

        let mut group = c.benchmark_group("tokenize batch (all threads)");
        group.throughput(Throughput::Elements(texts.len() as u64));
        group.bench_function(BenchmarkId::new("clip-tokenizer", corpus), |b| {
            b.iter(|| black_box(ours.tokenize(&refs, 77, true).unwrap()))
        });
        group.bench_function(BenchmarkId::new("instant-clip-tokenizer", corpus), |b| {
            b.iter(|| black_box(instant.tokenize_batch(refs.iter().copied(), 77)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
