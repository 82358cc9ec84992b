//! `cargo xtask list-models`: what `--weights NAME` loads by name — OpenAI's nine and
//! open_clip's pretrained tags of the architectures built here.

use anyhow::Result;
use clip_model::hub::open_clip;

#[derive(clap::Args)]
pub struct Args {
    /// Only names containing this text (case-insensitive), e.g. `bigG` or `laion2b`.
    filter: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let filter = args.filter.unwrap_or_default().to_lowercase();
    let wanted = |name: &str| name.to_lowercase().contains(&filter);
    for name in clip_model::available_models().iter().filter(|n| wanted(n)) {
        println!("{name}\tOpenAI's release");
    }
    for tag in open_clip::table().pretrained.iter() {
        let name = tag.name();
        if wanted(&name) {
            println!("{name}\thf-hub:{}", tag.hf_hub);
        }
    }
    eprintln!(
        "(open_clip tags from open-clip-torch {}; any file, URL or hf-hub:ORG/REPO loads too)",
        open_clip::table().open_clip_version
    );
    Ok(())
}
