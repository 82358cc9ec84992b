//! webdataset shards streamed for training: corrupt images, samples without caption or
//! image and a truncated shard are skipped and counted, never fatal; every good sample is
//! used once per epoch; resuming at any batch gives exactly the batches of the
//! uninterrupted epoch.

use std::fs;
use std::path::Path;

use clip_model::data::{
    BatchSource, RankSlice, ShardLoader, StreamOptions, StreamStats, WebDataset,
};

fn png(value: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(6, 4, image::Rgb([value, 255 - value, 7]))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

fn shard(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.finish().unwrap();
}

fn good(key: &str, value: u8) -> Vec<(String, Vec<u8>)> {
    vec![
        (format!("{key}.png"), png(value)),
        (format!("{key}.txt"), format!("caption {key}").into_bytes()),
        (format!("{key}.json"), b"{}".to_vec()),
    ]
}

/// Three shards: 10 + 8 good samples and the defects, and a third cut in the middle of its
/// fourth sample's image.
fn shards(dir: &Path) -> String {
    let mut first = Vec::new();
    for i in 0..10 {
        first.extend(good(&format!("a{i:02}"), i * 20));
        if i == 3 {
            first.push(("bad.jpg".into(), b"not an image at all".to_vec()));
            first.push(("bad.txt".into(), b"a corrupt image".to_vec()));
        }
        if i == 6 {
            first.push(("nocap.png".into(), png(1)));
            first.push(("nocap.json".into(), b"{}".to_vec()));
            first.push(("noimg.txt".into(), b"a caption alone".to_vec()));
            first.push(("._a06.png".into(), b"\0\x05\x16\x07 macOS debris".to_vec()));
        }
    }
    shard(&dir.join("00000.tar"), &first);
    let second: Vec<_> = (0..8)
        .flat_map(|i| good(&format!("b{i:02}"), 100 + i))
        .collect();
    shard(&dir.join("00001.tar"), &second);
    let third: Vec<_> = (0..5)
        .flat_map(|i| good(&format!("c{i:02}"), 200 + i))
        .collect();
    let path = dir.join("00002.tar");
    shard(&path, &third);
    // Cut inside c03's image: c00..c02 stay usable.
    let bytes = fs::read(&path).unwrap();
    let cut = 3 * 3 * 512 + 3 * (512 + png(0).len().div_ceil(512) * 512) + 512 + 10;
    let cut = bytes.len().min(cut).min(bytes.len() - 1);
    fs::write(&path, &bytes[..cut]).unwrap();
    format!("{}/{{00000..00002}}.tar", dir.display())
}

fn loader(spec: &str, batch: usize) -> ShardLoader {
    let options = StreamOptions {
        shuffle_buffer: 6,
        ..StreamOptions::default()
    };
    ShardLoader::new(WebDataset::open(spec).unwrap(), 8, 16, batch, 11, options).unwrap()
}

#[test]
fn skips_and_counts_defects_and_uses_every_good_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = shards(dir.path());
    let data = WebDataset::open(&spec).unwrap();
    let (samples, stats) = data.count().unwrap();
    // 10 + 1 (the corrupt image still has both members) + 8 + 3 before the cut.
    assert_eq!(samples, 22);
    assert_eq!(
        (stats.no_caption, stats.no_image, stats.truncated_shards),
        (1, 1, 1),
        "{stats:?}"
    );

    let mut loader = loader(&spec, 4);
    assert_eq!(loader.batches_per_epoch(), 5);
    loader.seek(0, 0, 0).unwrap();
    let mut captions = Vec::new();
    while let Some(batch) = loader.next_batch() {
        let batch = batch.unwrap();
        assert_eq!(batch.captions.len(), 4);
        assert_eq!(batch.pixels.len(), 4 * 3 * 8 * 8);
        captions.extend(batch.captions);
    }
    // 21 decodable samples: five batches of four, one left over (dropped).
    assert_eq!(captions.len(), 20);
    let mut unique = captions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20, "a sample was used twice");
    assert!(!captions.iter().any(|c| c.contains("corrupt")));
    assert_ne!(captions[..10], {
        let mut sorted = captions[..10].to_vec();
        sorted.sort();
        sorted
    });
    let stats = loader.stats();
    assert_eq!(
        stats,
        StreamStats {
            used: 20,
            no_image: 1,
            no_caption: 1,
            undecodable: 1,
            truncated_shards: 1,
        }
    );
}

#[test]
fn resuming_at_any_batch_continues_the_same_stream() {
    let dir = tempfile::tempdir().unwrap();
    let spec = shards(dir.path());
    let mut full = loader(&spec, 3);
    let mut epochs = Vec::new();
    for epoch in 0..2 {
        full.seek(epoch, 0, 0).unwrap();
        let batches: Vec<_> = std::iter::from_fn(|| full.next_batch())
            .map(Result::unwrap)
            .collect();
        assert_eq!(batches.len(), 7);
        epochs.push(batches);
    }
    let order =
        |e: usize| -> Vec<String> { epochs[e].iter().flat_map(|b| b.captions.clone()).collect() };
    assert_ne!(order(0), order(1), "each epoch draws its own order");

    for (k, before) in epochs[1].iter().enumerate() {
        let mut resumed = loader(&spec, 3);
        resumed.seek(1, k + 1, before.position).unwrap();
        let rest: Vec<_> = std::iter::from_fn(|| resumed.next_batch())
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest.len(), epochs[1].len() - k - 1);
        for (got, want) in rest.iter().zip(&epochs[1][k + 1..]) {
            assert_eq!(got.captions, want.captions);
            assert_eq!(got.pixels, want.pixels);
            assert_eq!((got.index, got.position), (want.index, want.position));
        }
    }
}

#[test]
fn ranks_load_their_rows_of_the_same_batches() {
    // Two ranks walk the same stream and each decodes its half of every batch of 6: with no
    // corrupt image among them, their rows together are the batch one process would draw;
    // the batch holding the corrupt image trains one pair short instead of being refilled.
    let dir = tempfile::tempdir().unwrap();
    let spec = shards(dir.path());
    let whole: Vec<Vec<String>> = {
        let mut loader = loader(&spec, 6);
        loader.seek(0, 0, 0).unwrap();
        std::iter::from_fn(|| loader.next_batch())
            .map(|b| b.unwrap().captions)
            .collect()
    };
    let ranks: Vec<Vec<(Vec<String>, u64)>> = (0..2)
        .map(|rank| {
            let mut loader = loader(&spec, 6).sliced(RankSlice { rank, ranks: 2 });
            loader.seek(0, 0, 0).unwrap();
            std::iter::from_fn(|| loader.next_batch())
                .map(|b| {
                    let b = b.unwrap();
                    (b.captions, b.position)
                })
                .collect()
        })
        .collect();
    assert_eq!(ranks[0].len(), ranks[1].len());
    let mut short = 0;
    for (k, (a, b)) in ranks[0].iter().zip(&ranks[1]).enumerate() {
        assert_eq!(
            a.1, b.1,
            "batch {k}: both ranks stand at one position in the stream"
        );
        let rows: Vec<String> = a.0.iter().chain(&b.0).cloned().collect();
        if rows.len() == 6 {
            if short == 0 {
                // Past the short batch the one-process stream is a sample ahead.
                assert_eq!(rows, whole[k], "batch {k}");
            }
        } else {
            assert_eq!(rows.len(), 5, "batch {k}: {rows:?}");
            short += 1;
        }
    }
    assert_eq!(short, 1, "one batch holds the corrupt image");
}
