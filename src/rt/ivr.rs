//! Reads the IVR from disk — flow files, holiday calendars, WAV prompts of
//! every language — into an [`IvrCatalog`], and watches the folder to
//! reload it.
//!
//! Layout of the flows folder (`ivr.flows_dir`, `ivr-flows/` by default):
//! `*.toml` flows, `calendars/*.toml` holiday calendars,
//! `prompts/<language>/*.wav` prompts (8 kHz, 16-bit, mono PCM: what the
//! player sends without resampling; anything else is refused with the file
//! named, never discovered in the middle of a call).
//!
//! Reload: the folder is looked at every [`RELOAD_POLL`]; when any file's
//! size or modification time changed, everything is loaded and checked
//! again off the driver, and only a version that passes every check goes
//! live (for new calls). A bad edit is logged with its file:line messages
//! and the last good version stays.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::{error, info};

use crate::engine::{IvrCatalog, PromptSet};
use crate::ivr::pattern::DigitPattern;
use crate::ivr::{self, Sources};
use crate::media::player::Prompt;

/// How often the flows folder is checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// What to load: the configuration's `[ivr]` part.
#[derive(Debug, Clone)]
pub struct IvrFiles {
    pub dir: PathBuf,
    pub main_flow: String,
    pub language: String,
    pub transfer_allow: Vec<DigitPattern>,
    /// The ACD queues configured: a queue node must name one of them.
    /// Shared with the runtime, which replaces it when the configuration
    /// is reloaded.
    pub queues: Arc<std::sync::RwLock<Vec<String>>>,
    /// The callbacks campaigns configured: a callback node must name one.
    pub callback_campaigns: Vec<String>,
}

impl IvrFiles {
    pub fn from_settings(s: &crate::config::Settings) -> IvrFiles {
        IvrFiles {
            dir: s.flows_dir.clone(),
            main_flow: s.main_flow.clone(),
            language: s.language.clone(),
            queues: Arc::new(std::sync::RwLock::new(
                s.queues.iter().map(|q| q.name.clone()).collect(),
            )),
            transfer_allow: s.transfer_allow.clone(),
            callback_campaigns: s
                .campaigns
                .iter()
                .filter(|c| matches!(c.mode, crate::campaign::Mode::Callbacks { .. }))
                .map(|c| c.name.clone())
                .collect(),
        }
    }
}

/// Reads the folder into loader sources: flow texts, calendar texts and
/// the prompt names per language.
fn read_sources(files: &IvrFiles) -> Result<Sources, String> {
    let dir = &files.dir;
    let mut flows = Vec::new();
    for path in list(dir, "toml")? {
        flows.push((path.display().to_string(), read_text(&path)?));
    }
    let mut calendars = BTreeMap::new();
    let cal_dir = dir.join("calendars");
    if cal_dir.is_dir() {
        for path in list(&cal_dir, "toml")? {
            let name = format!("calendars/{}", file_name(&path));
            calendars.insert(name, read_text(&path)?);
        }
    }
    let mut prompts = BTreeMap::new();
    for lang in languages(dir)? {
        let names: BTreeSet<String> = list(&dir.join("prompts").join(&lang), "wav")?
            .iter()
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
            .collect();
        prompts.insert(lang, names);
    }
    if !prompts.contains_key(&files.language) {
        return Err(format!(
            "no prompts for the configured language `{}` (expected {}/prompts/{}/)",
            files.language,
            dir.display(),
            files.language
        ));
    }
    Ok(Sources {
        flows,
        calendars,
        prompts,
        transfer_allow: files.transfer_allow.clone(),
        main: files.main_flow.clone(),
    })
}

/// Queue nodes of `flows` naming a queue not in `queues`, and callback
/// nodes naming a campaign not in `callbacks`, one line each (file, line,
/// node).
pub fn unknown_queues(
    flows: &ivr::FlowSet,
    queues: &[String],
    callbacks: &[String],
) -> Vec<String> {
    let list = |names: &[String]| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    flows
        .flows
        .values()
        .flat_map(|f| {
            f.nodes.iter().filter_map(move |n| match &n.kind {
                ivr::flow::NodeKind::Queue(q) if !queues.contains(&q.queue) => Some(format!(
                    "{}:{}: node `{}`: queue `{}` is not configured (configured: {})",
                    f.file,
                    n.line,
                    n.id,
                    q.queue,
                    list(queues)
                )),
                ivr::flow::NodeKind::Callback { campaign, .. } if !callbacks.contains(campaign) => {
                    Some(format!(
                        "{}:{}: node `{}`: `{campaign}` is not a configured campaign of kind callbacks (configured: {})",
                        f.file,
                        n.line,
                        n.id,
                        list(callbacks)
                    ))
                }
                _ => None,
            })
        })
        .collect()
}

/// Loads and checks everything; `Err` is the message to print (every
/// flow error on its own line).
pub fn load_catalog(files: &IvrFiles, version: u64) -> Result<IvrCatalog, String> {
    let sources = read_sources(files)?;
    let flows = ivr::load(&sources).map_err(|e| e.to_string())?;
    // A caller sent to a queue no agent serves would wait for nothing.
    let queues = files
        .queues
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let unknown = unknown_queues(&flows, &queues, &files.callback_campaigns);
    if !unknown.is_empty() {
        return Err(unknown.join("\n"));
    }
    let mut prompts = BTreeMap::new();
    for lang in sources.prompts.keys() {
        prompts.insert(
            lang.clone(),
            load_prompts(&files.dir.join("prompts").join(lang))?,
        );
    }
    Ok(IvrCatalog {
        flows: Arc::new(flows),
        prompts,
        language: files.language.clone(),
        transfer_allow: files.transfer_allow.clone().into(),
        version,
    })
}

/// Every `*.wav` in a folder; the prompt's name is the file stem.
fn load_prompts(folder: &Path) -> Result<PromptSet, String> {
    let mut set = PromptSet::new();
    for path in list(folder, "wav")? {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        set.insert(Prompt {
            name: name.to_owned(),
            samples: Arc::from(read_wav(&path)?),
        });
    }
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

fn read_text(path: &Path) -> Result<String, String> {
    // The loader refuses big files with a clear message; do not read a
    // huge one whole first.
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if len > ivr::load::MAX_FILE_BYTES as u64 {
        return Err(format!(
            "{}: the file is {len} bytes, over the limit of {}",
            path.display(),
            ivr::load::MAX_FILE_BYTES
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// The files in `dir` ending in `.ext`, sorted.
fn list(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read folder {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_file() && path.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Language folders under `dir/prompts`.
fn languages(dir: &Path) -> Result<Vec<String>, String> {
    let prompts = dir.join("prompts");
    let entries = std::fs::read_dir(&prompts)
        .map_err(|e| format!("cannot read prompt folder {}: {e}", prompts.display()))?;
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    out.sort();
    Ok(out)
}

/// Size and modification time of every file the IVR reads.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// Watches the flows folder and sends each new good version to `tx`
/// (until the receiver is gone). `first` is the version loaded at start.
pub fn spawn_reloader(
    files: IvrFiles,
    first: u64,
    tx: mpsc::Sender<Arc<IvrCatalog>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let dir = files.dir.clone();
        let mut seen = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || fingerprint(&dir))
                .await
                .unwrap_or_default()
        };
        let mut version = first;
        loop {
            tokio::time::sleep(RELOAD_POLL).await;
            let now = {
                let dir = dir.clone();
                match tokio::task::spawn_blocking(move || fingerprint(&dir)).await {
                    Ok(f) => f,
                    Err(_) => continue,
                }
            };
            if now == seen {
                continue;
            }
            seen = now;
            let loaded = {
                let files = files.clone();
                let next = version + 1;
                tokio::task::spawn_blocking(move || load_catalog(&files, next)).await
            };
            match loaded {
                Ok(Ok(catalog)) => {
                    version += 1;
                    info!(
                        version,
                        flows = catalog.flows.flows.len(),
                        nodes = catalog.flows.node_count(),
                        prompts = catalog.prompt_count(),
                        "IVR reloaded: new calls use the new flows"
                    );
                    if tx.send(Arc::new(catalog)).await.is_err() {
                        return;
                    }
                }
                Ok(Err(message)) => {
                    error!("IVR reload refused; the last good version stays live:\n{message}")
                }
                Err(e) => error!(error = %e, "IVR reload failed"),
            }
        }
    })
}
