//! The messages of the control channel: one [`Request`] per line from a client, one [`Reply`] per
//! line back. The worker serialises these types and its clients (the setup GUI, the CLI) deserialise
//! the same types: the Rust types are the contract, so no client reads a reply by guessing JSON keys.
//!
//! Every request has one reply variant: `Status` → [`Reply::Status`], `LookupUser` →
//! [`Reply::LookupUser`], `Devices` → [`Reply::Devices`], `SearchGroups` → [`Reply::Groups`],
//! `Subscribe` → a stream of
//! [`Reply::Progress`], the others →
//! [`Reply::Accepted`] or [`Reply::Error`]. The plan the mass-change guard holds is part of the status
//! ([`StatusReport::held_plan`]); `ConfirmHeld` and `CancelHeld` act on it.

use crate::text_code::TextCode;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::store::{AuditRecord, DecisionRecord, InventoryRecord};
use crate::sync::{RunReport, StatusReport};

pub use crate::sync::SyncKind;

/// A request to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "camelCase")]
pub enum Request {
    /// Connection state, last syncs, device counts, the current run: answered by [`Reply::Status`].
    Status,
    /// Start a sync now.
    #[serde(rename_all = "camelCase")]
    Sync {
        /// Quick or full.
        kind: SyncKind,
        /// Compute and report the plan without applying it.
        #[serde(default)]
        dry_run: bool,
    },
    /// Apply the plan the mass-change guard is holding.
    ConfirmHeld,
    /// Drop the plan the guard is holding.
    CancelHeld,
    /// Why is this phone blocked? A user's devices with Exchange's state, the connector's last
    /// decision and its reason: answered by [`Reply::LookupUser`].
    #[serde(rename_all = "camelCase")]
    LookupUser {
        /// Mailbox alias, UPN or SMTP address.
        user: String,
    },
    /// Validate and apply a new configuration (setting key → value).
    #[serde(rename_all = "camelCase")]
    ApplyConfig {
        /// Settings by registry key.
        values: BTreeMap<String, String>,
    },
    /// Store secrets in the worker's own credential vault.
    #[serde(rename_all = "camelCase")]
    StoreSecrets {
        /// Secrets by registry key.
        secrets: BTreeMap<String, Secret>,
    },
    /// Stream progress events.
    Subscribe,
    /// One page of every device the store knows, by mailbox then DeviceId, each with the connector's
    /// last decision: answered by [`Reply::Devices`]. Pages keep each reply line well under the
    /// channel's 1 MiB limit (the worker serves at most [`DEVICE_PAGE_MAX`] devices per page).
    #[serde(rename_all = "camelCase")]
    Devices {
        /// Devices to skip.
        offset: usize,
        /// Devices wanted (capped at [`DEVICE_PAGE_MAX`]).
        limit: usize,
    },
    /// Sync this user's devices now: answered by [`Reply::Accepted`] or [`Reply::Error`]. The worker
    /// queues a one-user run ([`crate::sync::SyncEngine::run_user`]) that reads, decides and writes
    /// only that user's mailbox.
    #[serde(rename_all = "camelCase")]
    SyncUser {
        /// Mailbox alias, UPN or SMTP address.
        user: String,
    },
    /// The directory's groups whose name starts with `prefix`, each with its transitive user count
    /// (the Settings page's group picker): answered by [`Reply::Groups`] or [`Reply::Error`]. The
    /// worker signs in with its own secrets, which the setup process cannot read on Windows.
    #[serde(rename_all = "camelCase")]
    SearchGroups {
        /// The start of a group's display name.
        prefix: String,
    },
}

/// Most groups one [`Request::SearchGroups`] returns.
pub const GROUP_SEARCH_MAX: u32 = 10;

/// One group a search found: its name, id and how many users it holds (transitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupHit {
    /// Object id (what the policy stores).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Users in the group, nested groups included; `None` when the count could not be read.
    #[serde(default)]
    pub members: Option<usize>,
}

/// Most devices in one [`Reply::Devices`] page (a device with its decision is under 1 KiB of JSON).
pub const DEVICE_PAGE_MAX: usize = 500;

/// A reply from the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "camelCase")]
pub enum Reply {
    /// The answer to [`Request::Status`].
    Status(Box<StatusReply>),
    /// The answer to [`Request::LookupUser`].
    LookupUser(LookupReply),
    /// The request was accepted.
    Accepted {
        /// What will happen: coded, so the setup GUI says it in its language (an older worker's
        /// plain English reads as uncoded text).
        message: TextCode,
    },
    /// The request was refused or failed.
    Error {
        /// What went wrong and what to do (coded as [`Reply::Accepted`]'s).
        message: TextCode,
    },
    /// A progress event (after [`Request::Subscribe`]).
    Progress(ProgressEvent),
    /// The answer to [`Request::Devices`].
    Devices(DevicePage),
    /// The answer to [`Request::SearchGroups`].
    Groups {
        /// The groups found, by name.
        groups: Vec<GroupHit>,
    },
}

/// One page of the device table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePage {
    /// Devices in the store (all pages).
    pub total: usize,
    /// The first device's position.
    pub offset: usize,
    /// The devices of this page, each with the connector's last decision.
    pub devices: Vec<DeviceLookup>,
}

impl DevicePage {
    /// The offset of the next page, if there is one.
    pub fn next_offset(&self) -> Option<usize> {
        let next = self.offset + self.devices.len();
        (!self.devices.is_empty() && next < self.total).then_some(next)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunPhase {
    /// Queued work has begun.
    Started,
    /// Reading Exchange and Intune.
    Reading,
    /// Deciding and planning.
    Planning,
    /// Sending changes to Exchange.
    Applying,
    /// Reading, planning and applying (the engine reports no finer phase).
    Running,
    /// The service is stopping; the run in flight finishes first.
    Stopping,
    /// The run ended (whatever its outcome: see the run's report).
    Finished,
    /// The run could not start or stopped with an error.
    Failed,
}

impl RunPhase {
    /// The word shown to admins.
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::Started => "started",
            RunPhase::Reading => "reading",
            RunPhase::Planning => "planning",
            RunPhase::Applying => "applying",
            RunPhase::Running => "running",
            RunPhase::Stopping => "stopping",
            RunPhase::Finished => "finished",
            RunPhase::Failed => "failed",
        }
    }

    /// Whether the run is over (nothing more comes for it).
    pub fn is_over(self) -> bool {
        matches!(self, RunPhase::Finished | RunPhase::Failed)
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A progress event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    /// Run id, once the run is recorded.
    #[serde(default)]
    pub run_id: Option<i64>,
    /// Quick or full.
    pub kind: SyncKind,
    /// Where the run is.
    pub phase: RunPhase,
    /// Work done in this phase.
    pub done: u64,
    /// Work in this phase, when known.
    #[serde(default)]
    pub total: Option<u64>,
    /// A sentence for the admin, coded (an older worker's plain English reads as uncoded text).
    pub message: TextCode,
}

/// The worker's status: what only the running worker knows, and the store's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReply {
    /// The connector instance.
    pub instance: String,
    /// How the worker's connection to Exchange and Intune stands.
    pub connection: Connection,
    /// The last error (engine build or run).
    pub last_error: Option<String>,
    /// The run in flight.
    pub current_run: Option<CurrentRun>,
    /// Runs waiting behind the current one (at most one per kind).
    pub queued: Vec<SyncKind>,
    /// The next scheduled run.
    pub next_run: Option<NextRun>,
    /// The report of the last run this worker made (since it started).
    pub last_report: Option<RunReport>,
    /// The connector's registration in Intune.
    pub registration: Registration,
    /// The connector certificate's expiry (none with a client secret).
    pub certificate: Option<CertificateStatus>,
    /// The Exchange server the bridge uses (none with REST).
    pub exchange_server: Option<ExchangeServerInUse>,
    /// The store's report (last successful syncs, devices by state, held plan), or why the store
    /// could not be read.
    pub report: Result<StatusReport, String>,
    /// The last access changes the connector made, newest first.
    pub recent_changes: Vec<AuditRecord>,
    /// Decisions of the last successful full sync of each recent day, oldest first.
    pub history: Vec<HistoryDay>,
}

impl Default for StatusReply {
    fn default() -> Self {
        StatusReply {
            instance: String::new(),
            connection: Connection::default(),
            last_error: None,
            current_run: None,
            queued: Vec::new(),
            next_run: None,
            last_report: None,
            registration: Registration::default(),
            certificate: None,
            exchange_server: None,
            report: Ok(StatusReport::default()),
            recent_changes: Vec::new(),
            history: Vec::new(),
        }
    }
}

impl StatusReply {
    /// What the admin should act on: a certificate near or past its expiry, a refused registration,
    /// an Exchange version out of support, devices Exchange Online refuses for their EAS protocol.
    pub fn warnings(&self) -> Vec<TextCode> {
        let certificate = self
            .certificate
            .as_ref()
            .and_then(|c| c.warning.clone())
            .map(TextCode::plain);
        let registration = match &self.registration {
            Registration::Refused { problem } => Some(TextCode::plain(problem.clone())),
            _ => None,
        };
        let unsupported = self
            .exchange_server
            .as_ref()
            .filter(|s| s.version_supported == Some(false))
            .and_then(|s| match &s.unsupported {
                Some(u) => Some(crate::exchange::cmdlets::out_of_support(
                    &u.server, &u.product, &u.version, &u.since,
                )),
                None => s.version.clone().map(TextCode::plain),
            });
        let eas_protocol = self
            .report
            .as_ref()
            .ok()
            .and_then(StatusReport::eas_protocol_warning);
        certificate
            .into_iter()
            .chain(registration)
            .chain(unsupported)
            .chain(eas_protocol)
            .collect()
    }
}

/// How the worker's connection stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Connection {
    /// The worker has not built its engine yet.
    #[default]
    NotConnectedYet,
    /// The engine is built; no run has finished since.
    Configured,
    /// The engine cannot be built (see [`StatusReply::last_error`]).
    NotConfigured,
    /// The last run reached Exchange and Intune.
    Connected,
    /// The last run failed.
    Failed {
        /// Why.
        error: String,
    },
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::NotConnectedYet => f.write_str("not connected yet"),
            Connection::Configured => f.write_str("configured"),
            Connection::NotConfigured => f.write_str("not configured"),
            Connection::Connected => f.write_str("connected"),
            Connection::Failed { error } => write!(f, "error: {error}"),
        }
    }
}

/// The run in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentRun {
    /// Quick or full.
    pub kind: SyncKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Where it is.
    pub phase: RunPhase,
    /// Whether it only computes the plan.
    pub dry_run: bool,
}

/// The next scheduled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextRun {
    /// Quick or full.
    pub kind: SyncKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// The connector's registration in Intune.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Registration {
    /// Not tried yet (the engine is not built).
    #[default]
    NotYet,
    /// Registered as an Exchange connector.
    Registered {
        /// The connector's id in Intune.
        id: String,
    },
    /// The tenant refused it (syncs go on).
    Refused {
        /// Why, and what to do.
        problem: String,
    },
}

/// The connector certificate's validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// End of validity.
    pub expires: DateTime<Utc>,
    /// The warning while the expiry is near or past.
    pub warning: Option<String>,
    /// The last automatic rotation: when, and the thumbprints switched.
    #[serde(default)]
    pub rotated: Option<String>,
}

/// The Client Access server in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeServerInUse {
    /// Its name.
    pub server: String,
    /// After a failover: the primary it replaced.
    pub failed_over_from: Option<String>,
    /// The organisation's Exchange version and its support (`Get-ExchangeServer`'s
    /// `AdminDisplayVersion`, read when the worker connects), e.g. `Exchange 2019 (Version 15.2 (Build
    /// 1544.4)): out of support since 14 October 2025; ...`.
    #[serde(default)]
    pub version: Option<String>,
    /// `false` when a server runs a version Microsoft no longer supports.
    #[serde(default)]
    pub version_supported: Option<bool>,
    /// That unsupported version in parts, so the status page says it in the admin's language.
    #[serde(default)]
    pub unsupported: Option<UnsupportedExchange>,
}

/// An on-premises Exchange server on a version out of support, in parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsupportedExchange {
    /// The server's name.
    pub server: String,
    /// The product, e.g. `Exchange 2019`.
    pub product: String,
    /// `AdminDisplayVersion`, e.g. `Version 15.2 (Build 1544.4)`.
    pub version: String,
    /// The day support ended, ISO 8601 (`2025-10-14`).
    pub since: String,
}

/// One day of the status page's chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryDay {
    /// The day.
    pub day: NaiveDate,
    /// Decisions by desired access (`Allow`, `Block`, ...).
    pub decisions: BTreeMap<String, u64>,
}

/// The answer to [`Request::LookupUser`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupReply {
    /// The mailbox found.
    pub user: String,
    /// Its devices.
    pub devices: Vec<DeviceLookup>,
}

/// One device of a look-up: as Exchange had it at the last sync, and the connector's last decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceLookup {
    /// The device and Exchange's state and reason.
    pub device: InventoryRecord,
    /// The connector's last decision, its reason, and when it was applied.
    pub decision: Option<DecisionRecord>,
}

impl DeviceLookup {
    /// One line for the admin: Exchange's state, the connector's decision and why, and, for Exchange
    /// Online, a device it refuses for its EAS protocol.
    pub fn line(&self) -> String {
        let mut line = self.state_line();
        if let Some(flag) = self.eas_protocol_flag() {
            line.push_str(" — ");
            line.push_str(&flag);
        }
        line
    }

    /// Why Exchange Online refuses this device whatever the connector decides: its EAS protocol
    /// (`ClientVersion`) is below 16.1. `None` on premises and for every other device.
    pub fn eas_protocol_flag(&self) -> Option<String> {
        let d = &self.device;
        d.eas_protocol_refused.then(|| {
            crate::model::exchange::refused_protocol_explanation(
                d.client_version.as_deref().unwrap_or("?"),
            )
        })
    }

    fn state_line(&self) -> String {
        let d = &self.device;
        let model = d.device_model.as_deref().unwrap_or(&d.device_type);
        let time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "—".into(), |t| t.to_rfc3339());
        match &self.decision {
            Some(x) => format!(
                "{} ({model}): Exchange {:?} ({:?}); connector: {} ({}) — {} [decided {}, applied {}]",
                d.device_id,
                d.access_state,
                d.access_reason,
                x.decision.desired.as_str(),
                x.decision.reason.as_str(),
                x.decision.explanation,
                time(Some(x.decided_at)),
                time(x.applied_at),
            ),
            None => format!(
                "{} ({model}): Exchange {:?} ({:?}); connector: no decision yet",
                d.device_id, d.access_state, d.access_reason,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reply variant is a JSON object with its `reply` tag (an internally tagged variant that
    /// wraps a list would not serialise): the group search's reply round-trips.
    #[test]
    fn a_group_search_reply_round_trips() {
        let reply = Reply::Groups {
            groups: vec![GroupHit {
                id: "6f1e4b1a-0000-4000-8000-00000000a002".into(),
                name: "Sales".into(),
                members: Some(2),
            }],
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert!(line.contains(r#""reply":"groups""#), "{line}");
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
    }

    /// An answer and a progress line carry their sentence coded; an older worker's plain English
    /// (`"message": "..."`) still reads, as uncoded text.
    #[test]
    fn answers_carry_coded_sentences_and_an_older_workers_english_still_reads() {
        let reply = Reply::Accepted {
            // Not `coded!`: the key-coverage test reads this file for the GUI's keys.
            message: TextCode::new(
                "k_started",
                "{run} started",
                vec![("run", "full sync".into())],
            ),
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);

        let old: Reply =
            serde_json::from_str(r#"{"reply":"error","message":"the worker is stopping"}"#)
                .unwrap();
        assert_eq!(
            old,
            Reply::Error {
                message: TextCode::plain("the worker is stopping")
            }
        );
        let old: Reply = serde_json::from_str(
            r#"{"reply":"progress","kind":"Full","phase":"running","done":0,"message":"reading"}"#,
        )
        .unwrap();
        let Reply::Progress(event) = old else {
            panic!("{old:?}")
        };
        assert_eq!(event.message, TextCode::plain("reading"));
    }
    use crate::model::exchange::{DeviceAccessState, DeviceAccessStateReason};
    use crate::policy::{Decision, DesiredAccess, ListKind, ReasonCode};
    use crate::store::{AuditEntry, ChangeOp, RunId, RunOutcome};
    use crate::sync::cli::RunSummary;
    use crate::sync::{HeldDevice, HeldPlan, PlanSummary, SyncOutcome};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A status with every field filled, as a worker that has run for days sends it.
    fn full_status() -> StatusReply {
        let run = |id, kind: &str| RunSummary {
            id,
            started_at: at(&format!("2026-11-23T{kind}:00:00Z")),
            ended_at: Some(at(&format!("2026-11-23T{kind}:00:41.5Z"))),
            duration_seconds: Some(41.5),
            outcome: RunOutcome::Succeeded,
            devices_seen: 368,
            error: None,
        };
        StatusReply {
            instance: "default".into(),
            connection: Connection::Failed {
                error: "Exchange: timed out".into(),
            },
            last_error: Some("Exchange: timed out".into()),
            current_run: Some(CurrentRun {
                kind: SyncKind::Quick,
                started_at: at("2026-11-23T12:00:00.123456789Z"),
                phase: RunPhase::Applying,
                dry_run: true,
            }),
            queued: vec![SyncKind::Full],
            next_run: Some(NextRun {
                kind: SyncKind::Full,
                at: at("2026-11-24T02:00:00Z"),
            }),
            last_report: Some(RunReport {
                run_id: Some(7),
                kind: SyncKind::Full,
                outcome: SyncOutcome::HeldByGuard,
                error: Some("held".into()),
                warnings: vec!["Intune read failed".into()],
                devices_seen: 368,
                mailboxes_seen: 31,
                decisions: [("Allow".to_string(), 300)].into(),
                changes_planned: 4,
                changes_applied: 0,
                changes_failed: 0,
                journal_reconciled: 0,
                rollout_entries: 0,
                notifications_sent: 0,
                notifications_failed: 0,
                exchange_calls: 12,
                graph_requests: 9,
                duration_ms: 4100,
                plan: PlanSummary::default(),
            }),
            registration: Registration::Refused {
                problem: "the tenant refused".into(),
            },
            certificate: Some(CertificateStatus {
                expires: at("2026-12-03T00:00:00Z"),
                warning: Some("expires in 10 days".into()),
                rotated: None,
            }),
            exchange_server: Some(ExchangeServerInUse {
                server: "cas02.contoso.lab".into(),
                failed_over_from: Some("cas01.contoso.lab".into()),
                version: None,
                version_supported: None,
                unsupported: None,
            }),
            report: Ok(StatusReport {
                last_quick_sync: Some(run(2, "11")),
                last_full_sync: Some(run(1, "02")),
                last_run: Some(run(2, "11")),
                devices_by_state: [("Allowed".to_string(), 312), ("Blocked".to_string(), 41)]
                    .into(),
                decisions: [("Block".to_string(), 41)].into(),
                held_plan: Some(HeldPlan {
                    held_at: at("2026-11-23T11:00:05Z"),
                    kind: SyncKind::Full,
                    message: "40% of allowed devices would be restricted".into(),
                    summary: PlanSummary {
                        mailboxes: 3,
                        entries: 4,
                        restricted: 4,
                        allowed_now: 10,
                        released: 0,
                        restricted_now: 41,
                        changes: Vec::new(),
                    },
                    devices: vec![HeldDevice {
                        mailbox: "dave".into(),
                        user_display_name: Some("Dave Noël".into()),
                        device_id: "DAVESAMSUNG0004".into(),
                        model: "SM-S911B".into(),
                        before: DeviceAccessState::Allowed,
                        after: DeviceAccessState::Blocked,
                        code: ReasonCode::PlatformException {
                            name: "Android".into(),
                            access: "Block".into(),
                        },
                    }],
                }),
                open_journal_entries: 1,
                eas_protocol_refused: 2,
            }),
            recent_changes: vec![AuditRecord {
                id: 9,
                at: at("2026-11-23T11:58:00Z"),
                entry: AuditEntry {
                    run_id: Some(RunId(2)),
                    actor: r"HOST\svc".into(),
                    mailbox: "dave".into(),
                    list: ListKind::Block,
                    op: ChangeOp::Add,
                    device_id: "DAVESAMSUNG0004".into(),
                    reason: "notEnrolled".into(),
                    error: Some("refused".into()),
                },
            }],
            history: vec![HistoryDay {
                day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                decisions: [("Allow".to_string(), 300)].into(),
            }],
        }
    }

    /// A device of a look-up with every field filled.
    fn full_lookup_device() -> DeviceLookup {
        DeviceLookup {
            device: InventoryRecord {
                mailbox: "alice".into(),
                device_id: "ALICEIPHONE0001".into(),
                device_type: "iPhone".into(),
                device_model: None,
                first_seen: at("2026-11-01T08:00:00Z"),
                last_seen: at("2026-11-23T08:00:00Z"),
                access_state: DeviceAccessState::Quarantined,
                access_reason: DeviceAccessStateReason::Global,
                user_display_name: Some("Alice Émond".into()),
                device_os: Some("iOS 17.4".into()),
                client_version: Some("14.1".into()),
                eas_protocol_refused: true,
            },
            decision: Some(DecisionRecord {
                mailbox: "alice".into(),
                device_id: "ALICEIPHONE0001".into(),
                decision: Decision {
                    desired: DesiredAccess::Block,
                    reason: crate::model::intune::ExchangeAccessStateReason::NotEnrolled,
                    explanation: "not enrolled in Intune".into(),
                    code: ReasonCode::BlockedInsteadOfQuarantine {
                        because: Box::new(ReasonCode::NotCompliant {
                            record: "md-1".into(),
                            state: "conflict".into(),
                        }),
                    },
                },
                decided_at: at("2026-11-23T08:00:01Z"),
                applied_at: None,
                run_id: Some(RunId(2)),
            }),
        }
    }

    fn round_trip(reply: &Reply) -> Reply {
        let line = serde_json::to_string(reply).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    #[test]
    fn every_reply_survives_the_wire_unchanged() {
        let lookup = LookupReply {
            user: "alice".into(),
            devices: vec![full_lookup_device()],
        };
        let replies = [
            Reply::Status(Box::new(full_status())),
            Reply::Status(Box::new(StatusReply {
                report: Err("the state store is locked".into()),
                ..StatusReply::default()
            })),
            Reply::LookupUser(lookup.clone()),
            Reply::Devices(DevicePage {
                total: 3,
                offset: 2,
                devices: lookup.devices.clone(),
            }),
            Reply::Accepted {
                message: "quick sync started".into(),
            },
            Reply::Error {
                message: "no plan is waiting for confirmation".into(),
            },
            Reply::Progress(ProgressEvent {
                run_id: Some(7),
                kind: SyncKind::Full,
                phase: RunPhase::Finished,
                done: 2,
                total: Some(2),
                message: "full sync succeeded".into(),
            }),
        ];
        for reply in &replies {
            assert_eq!(&round_trip(reply), reply);
        }
    }

    #[test]
    fn every_request_survives_the_wire_unchanged() {
        let requests = [
            Request::Status,
            Request::Devices {
                offset: 500,
                limit: DEVICE_PAGE_MAX,
            },
            Request::SyncUser {
                user: "inès.martin@contoso.lab".into(),
            },
            Request::LookupUser {
                user: "alice".into(),
            },
            Request::ConfirmHeld,
        ];
        for request in &requests {
            let line = serde_json::to_string(request).unwrap();
            let back: Request =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(&back, request);
        }
    }

    #[test]
    fn a_page_names_the_next_one_until_the_last() {
        let page = |offset, n| DevicePage {
            total: 5,
            offset,
            devices: vec![full_lookup_device(); n],
        };
        assert_eq!(page(0, 2).next_offset(), Some(2));
        assert_eq!(page(4, 1).next_offset(), None);
        assert_eq!(page(9, 0).next_offset(), None);
    }

    #[test]
    fn a_full_page_of_devices_fits_a_channel_line() {
        let page = Reply::Devices(DevicePage {
            total: DEVICE_PAGE_MAX,
            offset: 0,
            devices: vec![full_lookup_device(); DEVICE_PAGE_MAX],
        });
        let line = serde_json::to_string(&page).unwrap();
        assert!(line.len() < 1024 * 1024 / 2, "{} bytes", line.len());
    }

    #[test]
    fn warnings_name_the_certificate_and_a_refused_registration() {
        let warnings: Vec<String> = full_status()
            .warnings()
            .into_iter()
            .map(|w| w.english)
            .collect();
        assert_eq!(warnings[..2], ["expires in 10 days", "the tenant refused"]);
        // And the devices Exchange Online refuses for their EAS protocol, counted.
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[2].starts_with("2 device(s) cannot sync") && warnings[2].contains("16.1"),
            "{warnings:?}"
        );
        assert!(StatusReply::default().warnings().is_empty());
    }
}
