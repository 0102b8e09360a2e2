//! A run scoped to one user ("Sync this user now"): the same phases as any run — read, decide, guard,
//! apply, record, notify — over that user's mailbox alone. It reads the mailbox's partnerships and CAS
//! mailbox from Exchange and those devices' records from Graph, writes only that mailbox, and leaves the
//! watermarks and the organisation's default to the scheduled runs.

use std::collections::HashSet;

use tracing::Instrument as _;

use super::{GRAPH_LOOKUP_BATCH, MailboxData, ReadPhase, Snapshot, SyncEngine, filter_safe, phase};
use crate::model::intune::ManagedDevice;
use crate::policy::{GuardVerdict, OrgAccess, Targeting};
use crate::store::{JournalEntry, RunId};
use crate::sync::{RunOptions, RunReport, SyncError, SyncKind};

/// Which mailboxes a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope<'a> {
    /// Every mailbox the run's kind reads.
    Everyone,
    /// One user's mailbox (alias, UPN or SMTP address as the admin gave it).
    Mailbox(&'a str),
}

impl Scope<'_> {
    /// A one-user run never stores a held plan (that would replace the organisation's plan waiting
    /// for confirmation): when the guard holds it, the run ends with the guard's message.
    pub(super) fn held_alone(self, verdict: &GuardVerdict) -> Option<String> {
        match (self, verdict) {
            (Scope::Mailbox(user), GuardVerdict::Hold { message, .. }) => Some(format!(
                "{message} This one-user run for {user} applied nothing; the next scheduled run plans it \
                 with everyone else's devices."
            )),
            _ => None,
        }
    }
}

impl SyncEngine {
    /// Syncs one user's devices now: reads that user's mailbox and partnerships from Exchange and their
    /// managed devices from Graph, decides, guards, applies and records, like any run but only for
    /// that mailbox. Recorded as a quick run that names the mailbox: it is not the last quick sync,
    /// and the watermarks do not move (the scheduled runs still see everything that changed).
    pub async fn run_user(&self, user: &str) -> RunReport {
        self.run_scoped(SyncKind::Quick, Scope::Mailbox(user), RunOptions::default())
            .await
    }

    /// The read phase of a one-user run: the mailbox, its every partnership (so stale entries can
    /// go), the organisation's rules, the Intune records of those devices, group membership; the open
    /// journal entries of that mailbox are settled from what it holds now.
    pub(super) async fn read_user(
        &self,
        run_id: RunId,
        user: &str,
        open: Vec<JournalEntry>,
    ) -> Result<ReadPhase, SyncError> {
        let mark = chrono::Utc::now();
        let ex = &self.exchange;
        let (cas, org_settings, rules) = tokio::try_join!(
            ex.cas_mailbox(user),
            ex.organization_settings(),
            ex.device_access_rules()
        )
        .map_err(SyncError::from)?;
        let devices = ex
            .mailbox_devices(&cas.identity)
            .instrument(phase("read.exchange"))
            .await?;
        let members = if self.settings.enabled {
            self.intune
                .group_members(
                    &self.settings.included_groups,
                    &self.settings.excluded_groups,
                )
                .instrument(phase("read.graph"))
                .await?
        } else {
            Default::default()
        };
        // The Intune records of the user's devices: a filtered read that succeeds is complete for
        // those ids (no record = not enrolled); a failed one leaves them as they are.
        let ids: Vec<String> = devices
            .iter()
            .map(|d| d.device_id.to_ascii_lowercase())
            .filter(|id| filter_safe(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut managed: Vec<ManagedDevice> = Vec::new();
        let mut complete: HashSet<String> = HashSet::new();
        let mut intune_error = None;
        for chunk in ids.chunks(GRAPH_LOOKUP_BATCH) {
            let filter = chunk
                .iter()
                .map(|id| format!("easDeviceId eq '{id}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            match self.intune.decision_records(Some(&filter)).await {
                Ok(records) => {
                    managed.extend(records);
                    complete.extend(chunk.iter().cloned());
                }
                Err(e) => {
                    tracing::warn!(error = %e, user, "one-user sync: Intune lookup failed; those devices keep their access");
                    intune_error.get_or_insert(e.to_string());
                }
            }
        }
        let snap = Snapshot {
            org: OrgAccess {
                default_access_level: org_settings.default_access_level,
                rules,
            },
            devices_seen: devices.len(),
            mailboxes: vec![MailboxData {
                cas,
                devices: devices.into_iter().map(Box::new).collect(),
                complete: true,
            }],
            managed,
            complete_ids: Some(complete),
            intune_error,
            targeting: Targeting::new(members.included_users, members.excluded_users),
            exchange_mark: mark,
            intune_mark: mark,
            guard_base: self.recorded_guard_base().await?,
            read_ahead: None,
        };
        let identity = &snap.mailboxes[0].cas.identity;
        let open: Vec<JournalEntry> = open
            .into_iter()
            .filter(|e| e.change.mailbox.eq_ignore_ascii_case(identity))
            .collect();
        self.settle_and_own(run_id, SyncKind::Quick, open, snap)
            .await
    }
}
