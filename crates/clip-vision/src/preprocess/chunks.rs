//! Many image files preprocessed a chunk at a time on every core, in input order, with bad
//! files either stopping the work or skipped as rows of NaN.

use std::path::Path;

use rayon::prelude::*;

use super::{ImageError, Preprocessor};

/// Files decoded per parallel chunk: bounds memory while keeping every core busy.
const CHUNK: usize = 64;

/// A file that could not be read or decoded, and its position in the input.
#[derive(Debug)]
pub struct Skipped {
    /// Position in the input.
    pub index: usize,
    /// The file and what is wrong with it.
    pub error: ImageError,
}

impl Preprocessor {
    /// Preprocesses `paths` chunk by chunk (decoded in parallel), handing each chunk's
    /// `[3, R, R]` rows, in input order, to `sink`; `progress` hears of each file done (from
    /// any thread). A file that does not decode is the error unless `skip_bad`: then its row
    /// is NaN (so rows still map to inputs) and it is in the list returned.
    pub fn load_chunks<P, E>(
        &self,
        paths: &[P],
        skip_bad: bool,
        progress: impl Fn() + Sync,
        mut sink: impl FnMut(&[Vec<f32>]) -> Result<(), E>,
    ) -> Result<Vec<Skipped>, E>
    where
        P: AsRef<Path> + Sync,
        E: From<ImageError>,
    {
        let r = self.resolution();
        let mut skipped = Vec::new();
        for (c, chunk) in paths.chunks(CHUNK).enumerate() {
            let results: Vec<_> = chunk
                .par_iter()
                .map(|p| {
                    let out = self.load(p);
                    progress();
                    out
                })
                .collect();
            let mut rows = Vec::with_capacity(chunk.len());
            for (i, result) in results.into_iter().enumerate() {
                match result {
                    Ok(pixels) => rows.push(pixels),
                    Err(error) if skip_bad => {
                        skipped.push(Skipped {
                            index: c * CHUNK + i,
                            error,
                        });
                        rows.push(vec![f32::NAN; 3 * r * r]);
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            sink(&rows)?;
        }
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_stop_the_work_or_become_nan_rows() {
        let dir = std::env::temp_dir().join(format!("clip-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.png");
        image::RgbImage::from_pixel(5, 3, image::Rgb([200, 10, 10]))
            .save(&good)
            .unwrap();
        let bad = dir.join("bad.png");
        std::fs::write(&bad, b"not an image").unwrap();
        let paths = [good.clone(), bad.clone(), good];
        let preprocessor = Preprocessor::new(4);

        let err = preprocessor
            .load_chunks(&paths, false, || {}, |_| Ok::<(), ImageError>(()))
            .unwrap_err();
        assert_eq!(err.path, bad);

        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut rows = Vec::new();
        let skipped = preprocessor
            .load_chunks(
                &paths,
                true,
                || {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                },
                |chunk| {
                    rows.extend_from_slice(chunk);
                    Ok::<(), ImageError>(())
                },
            )
            .unwrap();
        assert_eq!(done.into_inner(), 3);
        assert_eq!(skipped.len(), 1);
        assert_eq!((skipped[0].index, &skipped[0].error.path), (1, &bad));
        assert_eq!(rows.len(), 3);
        assert!(rows[1].iter().all(|v| v.is_nan()));
        assert_eq!(rows[0], rows[2]);
        assert_eq!(rows[0], preprocessor.load(&paths[0]).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
