//! Measures both index kinds on a collection: build time, query latency (p50/p99) and the
//! approximate index's recall@10 against the exact one. Queries are rows of the collection
//! with noise added (so a query is near, not equal to, its row).
//!
//! `cargo run -p clip-collection --example search_bench -- DIR [QUERIES]`
//! (rebuilds DIR/index twice; prints one JSON line).

use std::time::Instant;

use clip_collection::layout::read_embeddings;
use clip_collection::{Collection, Index, IndexKind, build_index};

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: search_bench DIR [QUERIES]")?;
    let count: usize = args.get(2).map_or(Ok(1000), |n| n.parse())?;
    let collection = Collection::at(dir);
    let shards = collection.all_shards()?;
    let (rows, width, values) = read_embeddings(&shards.first().ok_or("no shards")?.embeddings)?;
    // Deterministic picks and noise (SplitMix64).
    let mut state = 1u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let queries: Vec<Vec<f32>> = (0..count)
        .map(|_| {
            let row = (next() % rows as u64) as usize;
            let r = &values[row * width..(row + 1) * width];
            let scale = r.iter().map(|v| v.abs()).sum::<f32>() / width as f32;
            r.iter()
                .map(|v| v + 0.2 * scale * ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5))
                .collect()
        })
        .collect();
    let mut report = serde_json::Map::new();
    let mut truth = Vec::new();
    for kind in [IndexKind::Exact, IndexKind::Hnsw] {
        let start = Instant::now();
        let info = build_index(&collection, kind)?;
        let build = start.elapsed().as_secs_f64();
        let index = Index::open(dir)?;
        let mut latency = Vec::new();
        let mut found = Vec::new();
        for q in &queries {
            let start = Instant::now();
            let hits = index.search(q, 10)?;
            latency.push(start.elapsed().as_secs_f64() * 1e3);
            found.push(hits.into_iter().map(|h| h.path).collect::<Vec<_>>());
        }
        let name = format!("{kind:?}").to_lowercase();
        if kind == IndexKind::Exact {
            truth = found.clone();
        }
        let hit: usize = found
            .iter()
            .zip(&truth)
            .map(|(f, t)| f.iter().filter(|p| t.contains(p)).count())
            .sum();
        let recall = hit as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64;
        report.insert(
            name,
            serde_json::json!({
                "rows": info.rows, "width": info.width, "build_s": build,
                "p50_ms": percentile(latency.clone(), 0.5), "p99_ms": percentile(latency, 0.99),
                "recall_at_10": recall,
            }),
        );
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
