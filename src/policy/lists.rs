//! A mailbox's personal lists and the entries the connector owns on them: the vocabulary both
//! [`super::decide`] and [`super::plan`] speak (kept apart so neither imports the other's module back).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One of a mailbox's personal lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ListKind {
    /// `ActiveSyncAllowedDeviceIDs`.
    Allow,
    /// `ActiveSyncBlockedDeviceIDs`.
    Block,
}

impl ListKind {
    /// A stable word (`allow` / `block`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Allow => "allow",
            ListKind::Block => "block",
        }
    }

    /// Parses [`ListKind::as_str`], case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "allow" => Some(ListKind::Allow),
            "block" => Some(ListKind::Block),
            _ => None,
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entries of one mailbox's lists that the connector added (from the store). DeviceIds are kept
/// lowercase: Exchange compares them without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedEntries {
    allow: BTreeSet<String>,
    block: BTreeSet<String>,
}

impl OwnedEntries {
    /// No entries.
    pub fn new() -> Self {
        OwnedEntries::default()
    }

    /// Records an owned entry.
    pub fn insert(&mut self, list: ListKind, device_id: &str) {
        self.set_mut(list).insert(device_id.to_ascii_lowercase());
    }

    /// Whether the connector owns this entry.
    pub fn contains(&self, list: ListKind, device_id: &str) -> bool {
        self.set(list).contains(&device_id.to_ascii_lowercase())
    }

    /// The owned DeviceIds of one list (lowercase).
    pub fn iter(&self, list: ListKind) -> impl Iterator<Item = &str> {
        self.set(list).iter().map(String::as_str)
    }

    /// Whether the connector owns nothing on this mailbox.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.block.is_empty()
    }

    fn set(&self, list: ListKind) -> &BTreeSet<String> {
        match list {
            ListKind::Allow => &self.allow,
            ListKind::Block => &self.block,
        }
    }

    fn set_mut(&mut self, list: ListKind) -> &mut BTreeSet<String> {
        match list {
            ListKind::Allow => &mut self.allow,
            ListKind::Block => &mut self.block,
        }
    }
}

impl<S: AsRef<str>> FromIterator<(ListKind, S)> for OwnedEntries {
    fn from_iter<I: IntoIterator<Item = (ListKind, S)>>(iter: I) -> Self {
        let mut owned = OwnedEntries::new();
        for (list, id) in iter {
            owned.insert(list, id.as_ref());
        }
        owned
    }
}
