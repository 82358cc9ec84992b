//! Both index kinds over one synthetic collection written in the layout `embed` writes: the
//! exact index agrees with a brute-force ranking, and usearch's graph finds (nearly) the same
//! neighbours.

use clip_collection::layout::{Manifest, StoreDtype};
use clip_collection::{Collection, Index, IndexKind, Part, build_index};

const WIDTH: usize = 32;
const ROWS: usize = 3000;
const HALF: usize = ROWS / 2;

/// A little deterministic generator (SplitMix64), so the test needs no RNG crate.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Row `i`'s path.
fn path(i: usize) -> String {
    format!("/p/{}-{}.jpg", i / HALF, i % HALF)
}

/// Clustered rows (as CLIP features are), written as two shards; row 0 is unreadable.
fn collection(dir: &std::path::Path) -> (Collection, Vec<Vec<f32>>) {
    let mut mix = Mix(7);
    let centres: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..WIDTH).map(|_| mix.next()).collect())
        .collect();
    let rows: Vec<Vec<f32>> = (0..ROWS)
        .map(|i| {
            centres[i % 50]
                .iter()
                .map(|c| c + 0.3 * mix.next())
                .collect()
        })
        .collect();
    let collection = Collection::at(dir);
    for (seq, chunk) in rows.chunks(HALF).enumerate() {
        let files = collection.shard_files(Part::WHOLE, seq);
        std::fs::create_dir_all(files.embeddings.parent().unwrap()).unwrap();
        std::fs::create_dir_all(files.metadata.parent().unwrap()).unwrap();
        let mut npy = Vec::new();
        clip_model::npy::NpyHeader::f32(&[chunk.len(), WIDTH])
            .write(&mut npy)
            .unwrap();
        npy.extend(chunk.iter().flatten().flat_map(|v| v.to_le_bytes()));
        std::fs::write(&files.embeddings, npy).unwrap();
        let meta: String = (0..chunk.len())
            .map(|j| {
                let i = seq * HALF + j;
                let error = if i == 0 { "\"unreadable\"" } else { "null" };
                let path = path(i);
                format!(
                    "{{\"path\":\"{path}\",\"bytes\":null,\"width\":null,\"height\":null,\"error\":{error}}}\n"
                )
            })
            .collect();
        std::fs::write(&files.metadata, meta).unwrap();
    }
    let manifest = Manifest {
        version: 1,
        weights: "w".into(),
        model: "m".into(),
        fingerprint: "f".into(),
        embed_dim: WIDTH,
        dtype: StoreDtype::F32,
        part: "0/1".into(),
        complete: true,
        rows: ROWS as u64,
        errors: 1,
    };
    let json = serde_json::to_string(&manifest).unwrap();
    std::fs::write(collection.manifest_path(Part::WHOLE), json).unwrap();
    (collection, rows)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn exact_and_hnsw_indexes_find_the_nearest_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, rows) = collection(dir.path());
    let queries: Vec<usize> = (0..40).map(|q| 1 + q * 73).collect();

    let info = build_index(&collection, IndexKind::Exact).unwrap();
    assert_eq!((info.rows, info.skipped), (ROWS - 1, 1));
    let exact = Index::open(dir.path()).unwrap();
    let mut truth = Vec::new();
    for &q in &queries {
        let hits = exact.search(&rows[q], 10).unwrap();
        // Brute force over the readable rows.
        let mut scored: Vec<(f32, usize)> =
            (1..ROWS).map(|i| (cosine(&rows[q], &rows[i]), i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert_eq!(hits.len(), 10);
        for (hit, (score, i)) in hits.iter().zip(&scored) {
            assert!((hit.score - score).abs() < 1e-5, "{hit:?} vs {score}");
            assert!(hit.path == path(*i) || (hit.score - score).abs() < 1e-6);
        }
        assert_eq!(hits[0].path, path(q));
        truth.push(hits);
    }

    let info = build_index(&collection, IndexKind::Hnsw).unwrap();
    assert_eq!((info.kind, info.rows), (IndexKind::Hnsw, ROWS - 1));
    let graph = Index::open(dir.path()).unwrap();
    // Approximate: the graph is built by parallel insertions, so it differs from run to run,
    // and on random rows (the hardest case for a graph) a query may miss even itself.
    let (mut found, mut itself) = (0, 0);
    for (&q, truth) in queries.iter().zip(&truth) {
        let hits = graph.search(&rows[q], 10).unwrap();
        if hits[0].path == truth[0].path {
            assert!((hits[0].score - 1.0).abs() < 1e-4, "{:?}", hits[0]);
            itself += 1;
        }
        found += hits
            .iter()
            .filter(|h| truth.iter().any(|t| t.path == h.path))
            .count();
    }
    let recall = found as f64 / (10 * queries.len()) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
    assert!(
        itself >= queries.len() - 2,
        "{itself} of {} queries found themselves first",
        queries.len()
    );
}

#[test]
fn a_missing_or_damaged_index_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Index::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("cargo xtask index"), "{err}");
    let (collection, _) = collection(dir.path());
    build_index(&collection, IndexKind::Hnsw).unwrap();
    std::fs::write(dir.path().join("index/hnsw.usearch"), b"not an index").unwrap();
    let err = Index::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("hnsw.usearch"), "{err}");
}
