//! Class names and templates. The published sets are data files in `data/`, written by
//! `tests/reference/gen_prompts.py` from OpenAI's lists.

use std::path::Path;

use crate::ZeroShotError;

/// Class names and the templates that turn each into prompts (`"a photo of a {}."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompts {
    /// One name per class, in label order.
    pub classes: Vec<String>,
    /// Templates with exactly one `{}`.
    pub templates: Vec<String>,
}

/// The entries of a list: lines with trailing whitespace dropped, blank ones skipped.
fn entries<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    lines
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    entries(text.lines())
}

impl Prompts {
    /// Checks that there is at least one class and one template, each with one `{}`.
    pub fn new(classes: Vec<String>, templates: Vec<String>) -> Result<Self, ZeroShotError> {
        if classes.is_empty() {
            return Err(ZeroShotError::NoLabels);
        }
        if templates.is_empty() {
            return Err(ZeroShotError::NoTemplates);
        }
        if let Some(bad) = templates.iter().find(|t| t.matches("{}").count() != 1) {
            return Err(ZeroShotError::BadTemplate(bad.clone()));
        }
        Ok(Prompts { classes, templates })
    }

    fn published(classes: &str, templates: &str) -> Self {
        Self::new(lines(classes), lines(templates)).expect("the published prompt data is valid")
    }

    /// ImageNet: OpenAI's 1000 class names and 80 templates.
    pub fn imagenet() -> Self {
        Self::published(
            include_str!("../data/imagenet/classes.txt"),
            include_str!("../data/imagenet/templates.txt"),
        )
    }

    /// ImageNet with OpenAI's 7-template subset.
    pub fn imagenet_7() -> Self {
        Self::published(
            include_str!("../data/imagenet/classes.txt"),
            include_str!("../data/imagenet/templates_7.txt"),
        )
    }

    /// CIFAR-10 with OpenAI's 18 CIFAR templates.
    pub fn cifar10() -> Self {
        Self::published(
            include_str!("../data/cifar10/classes.txt"),
            include_str!("../data/cifar/templates.txt"),
        )
    }

    /// CIFAR-100 with OpenAI's 18 CIFAR templates.
    pub fn cifar100() -> Self {
        Self::published(
            include_str!("../data/cifar100/classes.txt"),
            include_str!("../data/cifar/templates.txt"),
        )
    }

    /// Reads one class name per line and one template per line (blank lines ignored).
    pub fn from_files(classes: &Path, templates: &Path) -> Result<Self, ZeroShotError> {
        Self::new(Self::read_list(classes)?, Self::read_list(templates)?)
    }

    /// A class-name or template file: one entry per line, trailing whitespace and blank
    /// lines dropped.
    pub fn read_list(path: &Path) -> Result<Vec<String>, ZeroShotError> {
        let lines = clip_model::fs::read_lines(path)?;
        Ok(entries(lines.iter().map(String::as_str)))
    }

    /// The prompts for an image tree's class directories: ImageNet's for a 1000-class tree
    /// with integer names (ImageNetV2's layout), else the names with ImageNet's templates.
    pub fn for_folder(names: &[String]) -> Result<Self, ZeroShotError> {
        if names.len() == 1000 && names[0] == "0" {
            Ok(Self::imagenet())
        } else {
            Self::new(names.to_vec(), Self::imagenet().templates)
        }
    }

    /// The prompts of class `class`: every template filled with its name, as
    /// `template.format(classname)`.
    pub fn texts(&self, class: usize) -> Vec<String> {
        let name = &self.classes[class];
        self.templates
            .iter()
            .map(|t| t.replacen("{}", name, 1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_sets_have_their_sizes() {
        let sizes = |p: Prompts| (p.classes.len(), p.templates.len());
        assert_eq!(sizes(Prompts::imagenet()), (1000, 80));
        assert_eq!(sizes(Prompts::imagenet_7()), (1000, 7));
        assert_eq!(sizes(Prompts::cifar10()), (10, 18));
        assert_eq!(sizes(Prompts::cifar100()), (100, 18));
        assert_eq!(Prompts::cifar10().texts(3)[0], "a photo of a cat.");
    }

    #[test]
    fn bad_prompts_are_refused() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            Prompts::new(vec![], s(&["{}"])),
            Err(ZeroShotError::NoLabels)
        ));
        assert!(matches!(
            Prompts::new(s(&["a"]), vec![]),
            Err(ZeroShotError::NoTemplates)
        ));
        assert!(matches!(
            Prompts::new(s(&["a"]), s(&["a photo"])),
            Err(ZeroShotError::BadTemplate(_))
        ));
        assert!(matches!(
            Prompts::new(s(&["a"]), s(&["{} {}"])),
            Err(ZeroShotError::BadTemplate(_))
        ));
    }
}
