//! Encode and batch-tokenize throughput on the fixture corpus, against
//! `instant-clip-tokenizer` in the same run. The Python reference is measured
//! on the same corpus by `tests/reference/bench_tokenizer.py`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn corpus() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/tokenizer/lines.txt"
    );
    std::fs::read_to_string(path)
        .expect("fixture corpus")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = corpus();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = clip_tokenizer::Tokenizer::new();
    let instant = instant_clip_tokenizer::Tokenizer::new();
    ours.encode("warm up");

    let mut group = c.benchmark_group("encode (1 thread)");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("clip-tokenizer", |b| {
        b.iter(|| {
            for t in &refs {
                black_box(ours.encode(t));
            }
        })
    });
    group.bench_function("clip-tokenizer, cold cache", |b| {
        b.iter(|| {
            let fresh = clip_tokenizer::Tokenizer::new();
            for t in &refs {
                black_box(fresh.encode(t));
            }
        })
    });
    group.bench_function("instant-clip-tokenizer", |b| {
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
    group.bench_function("clip-tokenizer", |b| {
        b.iter(|| black_box(ours.tokenize(&refs, 77, true).unwrap()))
    });
    group.bench_function("instant-clip-tokenizer", |b| {
        b.iter(|| black_box(instant.tokenize_batch(refs.iter().copied(), 77)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
