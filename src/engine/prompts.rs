//! What a new call's IVR starts with: the flows, the prompts of every
//! language (already decoded to 8 kHz samples), the default language and
//! the transfer allow-list, as one immutable version.
//!
//! Loading the files is the runtime's job; the engine only sees samples.
//! A reload builds a new [`IvrCatalog`] and swaps it in whole; a call keeps
//! the `Arc` of the catalog it started with, so its flow and prompts never
//! change under it. Invariant: the catalog's flows passed the loader's
//! checks against these prompts, so every literal prompt a flow names
//! exists in every language.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::ivr::FlowSet;
use crate::ivr::pattern::DigitPattern;
use crate::media::player::Prompt;

/// Named prompts of one language.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    prompts: HashMap<String, Prompt>,
}

impl PromptSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, prompt: Prompt) {
        self.prompts.insert(prompt.name.clone(), prompt);
    }

    pub fn get(&self, name: &str) -> Option<&Prompt> {
        self.prompts.get(name)
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.prompts.keys().map(String::as_str)
    }
}

/// One version of everything the IVR plays and walks.
#[derive(Debug)]
pub struct IvrCatalog {
    pub flows: Arc<FlowSet>,
    /// Language code → its prompts.
    pub prompts: BTreeMap<String, PromptSet>,
    /// The language a call starts in.
    pub language: String,
    pub transfer_allow: Arc<[DigitPattern]>,
    /// Counts reloads; shown in logs and the call's timeline.
    pub version: u64,
}

impl IvrCatalog {
    /// A catalog of one flow (named `main`) and one language's prompts:
    /// what tests, the fuzzer and benchmarks run the engine with.
    pub fn single_flow(
        text: &str,
        prompts: PromptSet,
        language: &str,
        transfer_allow: Vec<DigitPattern>,
    ) -> Result<IvrCatalog, crate::ivr::FlowErrors> {
        let names = prompts.names().map(str::to_owned).collect();
        let sources = crate::ivr::Sources {
            flows: vec![("main.toml".into(), text.into())],
            calendars: BTreeMap::new(),
            prompts: BTreeMap::from([(language.to_owned(), names)]),
            transfer_allow: transfer_allow.clone(),
            main: "main".into(),
        };
        let flows = crate::ivr::load(&sources)?;
        Ok(IvrCatalog {
            flows: Arc::new(flows),
            prompts: BTreeMap::from([(language.to_owned(), prompts)]),
            language: language.to_owned(),
            transfer_allow: transfer_allow.into(),
            version: 1,
        })
    }

    /// The prompts of `language`, or of the default language.
    pub fn prompts_for(&self, language: &str) -> Option<&PromptSet> {
        self.prompts
            .get(language)
            .or_else(|| self.prompts.get(&self.language))
    }

    pub fn prompt_count(&self) -> usize {
        self.prompts.values().map(PromptSet::len).sum()
    }
}
