//! A synthetic image–caption set in Flickr8k's layout: one coloured shape on a grey,
//! noisy background per image, five captions naming its colour and shape in varied words.
//! Some colour × shape combinations never appear in training, so zero-shot accuracy on
//! them measures whether a model composed what it learned rather than memorised pairs.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::DataError;

/// Colour names and their RGB.
pub const COLORS: [(&str, [u8; 3]); 8] = [
    ("red", [215, 35, 35]),
    ("green", [40, 165, 60]),
    ("blue", [40, 80, 225]),
    ("yellow", [240, 215, 40]),
    ("purple", [145, 55, 190]),
    ("orange", [245, 135, 25]),
    ("cyan", [40, 205, 215]),
    ("pink", [245, 125, 195]),
];

/// Shape names.
pub const SHAPES: [&str; 6] = ["circle", "square", "triangle", "cross", "bar", "ring"];

/// Combinations `(colour, shape)` kept out of training: one per colour, every shape held
/// out at least once and still seen with at least six other colours.
pub const HELD_OUT: [(usize, usize); 8] = [
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 5),
    (6, 0),
    (7, 2),
];

/// The class name of a combination, e.g. `red circle`.
pub fn class_name(color: usize, shape: usize) -> String {
    format!("{} {}", COLORS[color].0, SHAPES[shape])
}

/// All `colour shape` class names, colour-major.
pub fn class_names() -> Vec<String> {
    (0..COLORS.len())
        .flat_map(|c| (0..SHAPES.len()).map(move |s| class_name(c, s)))
        .collect()
}

/// Sizes of the generated set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticOptions {
    /// Training images (seen combinations only).
    pub train: usize,
    /// Validation images (seen combinations).
    pub dev: usize,
    /// Test images per group: this many of seen and this many of held-out combinations.
    pub test: usize,
    /// Side of the square images in pixels.
    pub size: u32,
    /// Seed of everything drawn.
    pub seed: u64,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        SyntheticOptions {
            train: 4000,
            dev: 300,
            test: 300,
            size: 64,
            seed: 0,
        }
    }
}

/// One generated test image and its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Image path.
    pub path: PathBuf,
    /// Index into [`class_names`].
    pub class: usize,
    /// Whether its combination was held out of training.
    pub held_out: bool,
}

/// Writes the set under `dir` (Flickr8k layout) and returns the test images with labels.
pub fn generate(dir: &Path, options: &SyntheticOptions) -> Result<Vec<Labelled>, DataError> {
    let images = dir.join("Flickr8k_Dataset").join("Flickr8k_Dataset");
    let text = dir.join("Flickr8k_text");
    for d in [&images, &text] {
        fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let seen: Vec<(usize, usize)> = (0..COLORS.len())
        .flat_map(|c| (0..SHAPES.len()).map(move |s| (c, s)))
        .filter(|combo| !HELD_OUT.contains(combo))
        .collect();
    let mut tokens = String::new();
    let mut splits = [String::new(), String::new(), String::new()];
    let mut labelled = Vec::new();
    let plan = [
        (0, options.train, false),
        (1, options.dev, false),
        (2, options.test, false),
        (2, options.test, true),
    ];
    let mut n = 0;
    for (split, count, held_out) in plan {
        for k in 0..count {
            let pool: &[(usize, usize)] = if held_out { &HELD_OUT } else { &seen };
            let (color, shape) = pool[k % pool.len()];
            let name = format!("{n:05}.jpg");
            n += 1;
            let scene = Scene::draw(&mut rng, color, shape);
            let path = images.join(&name);
            scene
                .render(options.size, &mut rng)
                .save_with_format(&path, image::ImageFormat::Jpeg)
                .map_err(|e| DataError::io(&path, std::io::Error::other(e)))?;
            for (j, caption) in scene.captions(&mut rng).iter().enumerate() {
                let _ = writeln!(tokens, "{name}#{j}\t{caption}");
            }
            let _ = writeln!(splits[split], "{name}");
            if split == 2 {
                labelled.push(Labelled {
                    path,
                    class: color * SHAPES.len() + shape,
                    held_out,
                });
            }
        }
    }
    let files = [
        ("Flickr8k.token.txt", tokens),
        ("Flickr8k.trainImages.txt", splits[0].clone()),
        ("Flickr8k.devImages.txt", splits[1].clone()),
        ("Flickr8k.testImages.txt", splits[2].clone()),
    ];
    for (file, body) in files {
        let path = text.join(file);
        fs::write(&path, body).map_err(|e| DataError::io(&path, e))?;
    }
    Ok(labelled)
}

/// Writes `pairs` training images (seen combinations) as webdataset shards under `dir`,
/// `per_shard` samples each, as img2dataset lays them out: `00000.tar` … holding
/// `KEY.jpg`, `KEY.txt` (one caption) and `KEY.json`. Returns the shard paths.
pub fn write_shards(
    dir: &Path,
    pairs: usize,
    per_shard: usize,
    size: u32,
    seed: u64,
) -> Result<Vec<PathBuf>, DataError> {
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let seen: Vec<(usize, usize)> = (0..COLORS.len())
        .flat_map(|c| (0..SHAPES.len()).map(move |s| (c, s)))
        .filter(|combo| !HELD_OUT.contains(combo))
        .collect();
    let mut shards = Vec::new();
    for (s, first) in (0..pairs).step_by(per_shard.max(1)).enumerate() {
        let path = dir.join(format!("{s:05}.tar"));
        crate::fs::write_atomic(&path, |tmp| -> Result<(), DataError> {
            let file = fs::File::create(tmp).map_err(|e| DataError::io(tmp, e))?;
            let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
            for n in first..(first + per_shard.max(1)).min(pairs) {
                let (color, shape) = seen[rng.random_range(0..seen.len())];
                let scene = Scene::draw(&mut rng, color, shape);
                let mut jpeg = Vec::new();
                scene
                    .render(size, &mut rng)
                    .write_to(
                        &mut std::io::Cursor::new(&mut jpeg),
                        image::ImageFormat::Jpeg,
                    )
                    .map_err(|e| DataError::io(&path, std::io::Error::other(e)))?;
                let caption = scene.captions(&mut rng).swap_remove(0);
                let key = format!("{n:09}");
                let json = serde_json::json!({"key": key, "caption": caption, "status": "success"})
                    .to_string();
                let members: [(&str, &[u8]); 3] = [
                    ("jpg", &jpeg),
                    ("txt", caption.as_bytes()),
                    ("json", json.as_bytes()),
                ];
                for (ext, bytes) in members {
                    let mut header = tar::Header::new_gnu();
                    header.set_size(bytes.len() as u64);
                    header.set_mode(0o644);
                    header.set_cksum();
                    tar.append_data(&mut header, format!("{key}.{ext}"), bytes)
                        .map_err(|e| DataError::io(tmp, e))?;
                }
            }
            tar.into_inner()
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .map(drop)
                .map_err(|e| DataError::io(tmp, e))
        })?;
        shards.push(path);
    }
    Ok(shards)
}

/// What one image shows.
struct Scene {
    color: usize,
    shape: usize,
    /// Centre and radius as fractions of the side.
    cx: f32,
    cy: f32,
    radius: f32,
    /// Background grey level.
    background: u8,
}

impl Scene {
    fn draw(rng: &mut StdRng, color: usize, shape: usize) -> Scene {
        let radius = if rng.random_bool(0.5) {
            rng.random_range(0.18..0.24)
        } else {
            rng.random_range(0.28..0.38)
        };
        Scene {
            color,
            shape,
            cx: rng.random_range(radius..1.0 - radius),
            cy: rng.random_range(radius..1.0 - radius),
            radius,
            background: rng.random_range(30..=225),
        }
    }

    fn render(&self, size: u32, rng: &mut StdRng) -> image::RgbImage {
        let s = size as f32;
        let (cx, cy, r) = (self.cx * s, self.cy * s, self.radius * s);
        // Each object gets its own shade of its colour, so shape detectors cannot lean on
        // one exact colour.
        let shade = rng.random_range(0.75f32..1.15);
        let rgb = COLORS[self.color]
            .1
            .map(|v| (v as f32 * shade + rng.random_range(-18.0f32..18.0)).clamp(0.0, 255.0) as u8);
        image::RgbImage::from_fn(size, size, |x, y| {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if inside(self.shape, dx, dy, r) {
                let jitter = |v: u8| v.saturating_add_signed(rng.random_range(-12..=12));
                image::Rgb(rgb.map(jitter))
            } else {
                let g = self
                    .background
                    .saturating_add_signed(rng.random_range(-20..=20));
                image::Rgb([g, g, g])
            }
        })
    }

    fn captions(&self, rng: &mut StdRng) -> Vec<String> {
        let color = COLORS[self.color].0;
        let shape = SHAPES[self.shape];
        let size = if self.radius < 0.26 { "small" } else { "large" };
        let tone = match self.background {
            0..=90 => "dark",
            91..=165 => "grey",
            _ => "light",
        };
        let all = [
            format!("a {size} {color} {shape}"),
            format!("a {color} {shape} on a {tone} background"),
            format!("a photo of a {color} {shape}."),
            format!("a {shape} that is {color}"),
            format!("there is a {color} {shape} in this picture"),
            format!("a {color} {shape}"),
            format!("a picture of a {size} {color} {shape} on {tone} grey"),
            // Half-descriptions: they teach the text encoder what each word alone means.
            format!("a {color} shape"),
            format!("a {size} {shape}"),
        ];
        let mut picked: Vec<String> = all.to_vec();
        // Five of the nine phrasings, in a random order.
        for i in (1..picked.len()).rev() {
            picked.swap(i, rng.random_range(0..=i));
        }
        picked.truncate(5);
        picked
    }
}

/// Whether the offset `(dx, dy)` from the centre is inside the shape of radius `r`.
fn inside(shape: usize, dx: f32, dy: f32, r: f32) -> bool {
    match SHAPES[shape] {
        "circle" => dx * dx + dy * dy <= r * r,
        "square" => dx.abs() <= 0.8 * r && dy.abs() <= 0.8 * r,
        "triangle" => {
            // Apex up, base at +0.8r.
            let top = -r;
            let bottom = 0.8 * r;
            dy >= top && dy <= bottom && dx.abs() <= (dy - top) / (bottom - top) * r
        }
        "cross" => {
            let arm = 0.3 * r;
            (dx.abs() <= arm && dy.abs() <= r) || (dy.abs() <= arm && dx.abs() <= r)
        }
        "ring" => {
            let d2 = dx * dx + dy * dy;
            d2 <= r * r && d2 >= 0.36 * r * r
        }
        _ => dx.abs() <= r && dy.abs() <= 0.35 * r, // bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Split, read_flickr8k};

    #[test]
    fn generates_a_readable_flickr8k_layout_with_held_out_combinations() {
        let dir = tempfile::tempdir().unwrap();
        let options = SyntheticOptions {
            train: 30,
            dev: 6,
            test: 6,
            size: 32,
            seed: 1,
        };
        let test = generate(dir.path(), &options).unwrap();
        let train = read_flickr8k(dir.path(), Split::Train).unwrap();
        assert_eq!(train.len(), 30);
        assert!(train.captions.iter().all(|c| c.len() == 5));
        for (color, shape) in HELD_OUT {
            let name = class_name(color, shape);
            assert!(
                train.captions.iter().flatten().all(|c| !c.contains(&name)),
                "{name} leaked into training"
            );
        }
        assert_eq!(read_flickr8k(dir.path(), Split::Test).unwrap().len(), 12);
        assert_eq!(test.iter().filter(|t| t.held_out).count(), 6);
        let img = image::open(&test[0].path).unwrap();
        assert_eq!((img.width(), img.height()), (32, 32));
    }
}
