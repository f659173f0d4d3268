//! The prompts a call can play, by name, already decoded to 8 kHz samples.
//!
//! Loading WAV files is the runtime's job; the engine only sees samples.
//! Invariant: a [`PromptSet`] that [`PromptSet::check_complete`] accepted
//! holds every prompt the call flow asks for, so a call never reaches a
//! missing prompt.

use std::collections::HashMap;

use crate::media::player::Prompt;

/// Prompts the skeleton call flow plays.
pub const REQUIRED: &[&str] = &[
    "welcome",
    "you-entered",
    "goodbye",
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "digit-star",
];

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

    /// Names of required prompts that are missing, if any.
    pub fn check_complete(&self) -> Result<(), Vec<&'static str>> {
        let missing: Vec<_> = REQUIRED
            .iter()
            .copied()
            .filter(|n| !self.prompts.contains_key(*n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }

    /// The prompt that says one keypad digit (`#` has none: it ends input).
    pub fn digit_name(digit: char) -> Option<String> {
        match digit {
            '0'..='9' => Some(format!("digit-{digit}")),
            '*' => Some("digit-star".into()),
            _ => None,
        }
    }
}
