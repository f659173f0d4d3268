//! Loads the WAV prompts of one language from disk into a [`PromptSet`].
//!
//! Prompts must be 8 kHz, 16-bit, mono PCM (what the player sends without
//! resampling); anything else is refused at start-up with the file named,
//! never discovered in the middle of a call.

use std::path::Path;
use std::sync::Arc;

use crate::engine::PromptSet;
use crate::media::player::Prompt;

/// Reads every `*.wav` in `dir/language/`; the prompt's name is the file
/// stem. Fails if a file is unreadable or of the wrong format, or if a
/// prompt the call flow needs is missing.
pub fn load(dir: &Path, language: &str) -> Result<PromptSet, String> {
    let folder = dir.join(language);
    let entries = std::fs::read_dir(&folder)
        .map_err(|e| format!("cannot read prompt folder {}: {e}", folder.display()))?;
    let mut set = PromptSet::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", folder.display()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let samples = read_wav(&path)?;
        set.insert(Prompt {
            name: name.to_owned(),
            samples: Arc::from(samples),
        });
    }
    set.check_complete().map_err(|missing| {
        format!(
            "{} lacks the prompts {} (run scripts/make-prompts.sh)",
            folder.display(),
            missing.join(", ")
        )
    })?;
    Ok(set)
}

/// Reads an 8 kHz 16-bit mono WAV file.
pub fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let reader =
        hound::WavReader::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "{} is {} Hz, {} channel(s), {}-bit; prompts must be 8000 Hz mono 16-bit PCM",
            path.display(),
            spec.sample_rate,
            spec.channels,
            spec.bits_per_sample
        ));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is damaged: {e}", path.display()))
}
