//! The policy: every row of the documented table (`docs/policy-decisions.md`) is checked here, the plan
//! is proved by Exchange's ABQ evaluation, and properties are checked over every combination of inputs.

use std::collections::BTreeSet;

use exchange_connector::model::exchange::{
    AccessLevel, CasMailbox, DeviceAccessRule, DeviceAccessState, MobileDevice, RuleCharacteristic,
};
use exchange_connector::model::intune::{
    ConditionalAccessSettings, ExchangeOnPremisesPolicy, ManagedDevice,
};
use exchange_connector::policy::{
    DecisionInput, DesiredAccess, EnforcementAction, GuardVerdict, InventoryCompleteness, ListKind,
    MailboxChange, MailboxInput, ManagedIndex, OrgAccess, OwnedEntries, PlannedDevice,
    PlatformException, PlatformKind, PolicySettings, RolloutMailbox, SettingsError, Targeting,
    decide, expected_outcome, guard, plan, plan_mailbox, rollout_plan,
};
use serde_json::json;

const DOC: &str = include_str!("../../docs/policy-decisions.md");

fn device(id: &str, state: DeviceAccessState) -> MobileDevice {
    serde_json::from_value(json!({
        "Identity": format!("alice\\ExchangeActiveSyncDevices\\iPhone§{id}"),
        "Guid": format!("guid-{id}"),
        "Name": format!("iPhone§{id}"),
        "DeviceId": id,
        "DeviceType": "iPhone",
        "DeviceModel": "iPhone15C2",
        "DeviceOS": "iOS 17.4 21E219",
        "DeviceAccessState": state.as_str(),
        "DeviceAccessStateReason": "Global",
    }))
    .unwrap()
}

fn mailbox(allowed: &[&str], blocked: &[&str], eas: bool) -> CasMailbox {
    serde_json::from_value(json!({
        "Identity": "alice",
        "Guid": "mbx-guid",
        "Name": "alice",
        "DisplayName": "Alice",
        "PrimarySmtpAddress": "alice@contoso.com",
        "ActiveSyncEnabled": eas,
        "ActiveSyncAllowedDeviceIDs": allowed,
        "ActiveSyncBlockedDeviceIDs": blocked,
        "HasActiveSyncDevicePartnership": true,
        "ExternalDirectoryObjectId": "USER-1",
    }))
    .unwrap()
}

fn managed(eas_id: &str, agent: &str, compliance: Option<&str>) -> ManagedDevice {
    let mut v = json!({
        "id": format!("intune-{eas_id}"),
        "userId": "user-1",
        "managementAgent": agent,
        "easDeviceId": eas_id,
    });
    if let Some(c) = compliance {
        v["complianceState"] = json!(c);
    }
    serde_json::from_value(v).unwrap()
}

fn rule(level: AccessLevel) -> DeviceAccessRule {
    DeviceAccessRule {
        identity: DeviceAccessRule::name_for("iPhone", RuleCharacteristic::DeviceType),
        name: DeviceAccessRule::name_for("iPhone", RuleCharacteristic::DeviceType),
        guid: "rule-guid".into(),
        characteristic: RuleCharacteristic::DeviceType,
        query_string: "iPhone".into(),
        access_level: level,
    }
}

fn base_settings() -> PolicySettings {
    PolicySettings {
        enabled: true,
        included_groups: vec!["group-1".into()],
        ..PolicySettings::default()
    }
}

/// One parsed row of the documented table.
#[derive(Debug)]
struct Row {
    n: String,
    targeted: String,
    record: String,
    compliance: String,
    exception: String,
    entries: String,
    org: String,
    complete: String,
    settings: String,
    decision: String,
    reason: String,
    changes: String,
    state: String,
    explanation: String,
}

fn table_rows() -> Vec<Row> {
    let start = DOC
        .find("<!-- cases:")
        .expect("the doc has the cases marker");
    let mut rows = Vec::new();
    for line in DOC[start..].lines().skip(1) {
        let line = line.trim();
        if !line.starts_with('|') {
            if rows.is_empty() {
                continue;
            }
            break;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if cells[0] == "#" || cells[0].starts_with("---") {
            continue;
        }
        assert_eq!(cells.len(), 14, "row {line:?} must have 14 cells");
        let mut c = cells.into_iter();
        let mut next = || c.next().unwrap();
        rows.push(Row {
            n: next(),
            targeted: next(),
            record: next(),
            compliance: next(),
            exception: next(),
            entries: next(),
            org: next(),
            complete: next(),
            settings: next(),
            decision: next(),
            reason: next(),
            changes: next(),
            state: next(),
            explanation: next(),
        });
    }
    rows
}

fn level(word: &str) -> AccessLevel {
    AccessLevel::parse(word).unwrap_or_else(|| panic!("unknown access level {word:?}"))
}

fn list(cell: &str) -> Vec<&str> {
    cell.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-" && *s != "none")
        .collect()
}

/// The planned change for DEV1 in the table's notation.
fn notation(change: &MailboxChange, id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (ids, word) in [
        (&change.allow_add, "+allow"),
        (&change.allow_remove, "-allow"),
        (&change.block_add, "+block"),
        (&change.block_remove, "-block"),
    ] {
        if ids.iter().any(|d| d.eq_ignore_ascii_case(id)) {
            out.insert(word.to_string());
        }
    }
    out
}

fn check_row(row: &Row) -> Result<(), String> {
    let mut settings = base_settings();
    let mut grandfathered = false;
    let mut eas = true;
    let mut intune_read_failed = false;
    for s in list(&row.settings) {
        match s {
            "override=off" => settings.override_default_rule = false,
            "grace=off" => settings.grace_counts_as_compliant = false,
            "unenrolled=Quarantine" => settings.unenrolled_action = EnforcementAction::Quarantine,
            "noncompliant=Quarantine" => {
                settings.noncompliant_action = EnforcementAction::Quarantine
            }
            "rollout" => grandfathered = true,
            "compliant-beats-exception" => settings.compliant_beats_platform_restriction = true,
            "eas-off" => eas = false,
            "intune-failed" => intune_read_failed = true,
            other => return Err(format!("unknown setting {other:?}")),
        }
    }
    let targeted = match row.targeted.as_str() {
        "yes" => true,
        "no" => false,
        "disabled" => {
            settings.enabled = false;
            true
        }
        other => return Err(format!("unknown targeted? {other:?}")),
    };
    for e in list(&row.exception) {
        let (kind, lvl) = e.split_once(' ').ok_or("bad exception")?;
        let (kind, name) = match kind {
            "family" => (PlatformKind::Family, "IPHONE"),
            "model" => (PlatformKind::Model, "iphone15c2"),
            other => return Err(format!("unknown exception kind {other:?}")),
        };
        settings.platform_exceptions.push(PlatformException {
            kind,
            name: name.into(),
            access: level(lvl),
        });
    }
    let org = match row.org.split_once('+') {
        None => OrgAccess {
            default_access_level: level(row.org.trim()),
            rules: vec![],
        },
        Some((default, r)) => OrgAccess {
            default_access_level: level(default.trim()),
            rules: vec![rule(level(
                r.trim().strip_suffix(" rule").ok_or("bad org rule")?,
            ))],
        },
    };
    let mut allowed = vec![];
    let mut blocked = vec![];
    let mut owned = OwnedEntries::new();
    for e in list(&row.entries) {
        match e {
            "admin allow" => allowed.push("DEV1"),
            "admin block" => blocked.push("DEV1"),
            "own allow" => {
                allowed.push("dev1");
                owned.insert(ListKind::Allow, "DEV1");
            }
            "own block" => {
                blocked.push("dev1");
                owned.insert(ListKind::Block, "DEV1");
            }
            other => return Err(format!("unknown entry {other:?}")),
        }
    }
    // Other devices' entries, admin's and the connector's, must never be disturbed.
    allowed.push("OTHER-ADMIN-A");
    blocked.push("OTHER-ADMIN-B");
    let mbx = mailbox(&allowed, &blocked, eas);
    let before = org
        .evaluate(
            &mbx,
            &device("DEV1", DeviceAccessState::Unknown),
            &mbx.active_sync_allowed_device_ids,
            &mbx.active_sync_blocked_device_ids,
        )
        .state;
    let dev = device("DEV1", before);
    let record = match row.record.as_str() {
        "none" => None,
        "mdm" | "eas-only" => {
            let agent = if row.record == "mdm" { "mdm" } else { "eas" };
            let compliance = (row.compliance != "-").then_some(row.compliance.as_str());
            Some(managed("dev1", agent, compliance))
        }
        other => return Err(format!("unknown record {other:?}")),
    };
    let inventory = match row.complete.as_str() {
        "yes" => InventoryCompleteness::Complete,
        "no" => InventoryCompleteness::Incomplete,
        other => return Err(format!("unknown completeness {other:?}")),
    };
    let index = ManagedIndex::new(record.iter());
    let input = DecisionInput {
        device: &dev,
        mailbox: &mbx,
        targeted,
        managed: index.get(&dev.device_id),
        inventory,
        owned: &owned,
        grandfathered,
        intune_read_failed,
    };
    let decision = decide(&settings, &org, &input);
    let mut problems = vec![];
    if decision.desired.as_str() != row.decision {
        problems.push(format!("decision {} ≠ {}", decision.desired, row.decision));
    }
    if decision.reason.as_str() != row.reason {
        problems.push(format!("reason {} ≠ {}", decision.reason, row.reason));
    }
    if !decision
        .explanation
        .to_lowercase()
        .contains(&row.explanation.to_lowercase())
    {
        problems.push(format!(
            "explanation {:?} lacks {:?}",
            decision.explanation, row.explanation
        ));
    }
    let mb_input = MailboxInput {
        mailbox: &mbx,
        devices: vec![PlannedDevice {
            device: &dev,
            decision: &decision,
        }],
        devices_complete: true,
        owned: &owned,
    };
    let (change, effects) = plan_mailbox(&org, &settings, &mb_input);
    let got = notation(&change, "DEV1");
    let want: BTreeSet<String> = list(&row.changes).into_iter().map(String::from).collect();
    if got != want {
        problems.push(format!("entries {got:?} ≠ {want:?}"));
    }
    if change.len() != got.len() {
        problems.push(format!("the change touches other entries: {change:?}"));
    }
    let outcome = expected_outcome(&org, &mbx, &dev, &change);
    if outcome.state.as_str() != row.state {
        problems.push(format!("Exchange state {} ≠ {}", outcome.state, row.state));
    }
    if effects[0].after != outcome.state || effects[0].before != before {
        problems.push(format!("effect {:?} disagrees", effects[0]));
    }
    if let Some(state) = decision.desired.expected_state()
        && state != outcome.state
    {
        problems.push(format!(
            "the plan yields {} but the decision promises {state}",
            outcome.state
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
fn every_row_of_the_documented_table_holds() {
    let rows = table_rows();
    assert!(
        rows.len() >= 50,
        "expected the table of cases, found {} rows",
        rows.len()
    );
    let mut failures = vec![];
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.n, (i + 1).to_string(), "rows are numbered in order");
        if let Err(e) = check_row(row) {
            failures.push(format!("row {}: {e}", row.n));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every combination of facts: decisions are realised exactly by the plan (ABQ-proved), entries the
/// connector does not own are never removed, Untouched never changes the device's entries, and applying
/// the plan then planning again changes nothing (convergence, minimality).
#[test]
fn property_plans_realise_decisions_and_converge() {
    let compliance = [
        None,
        Some("compliant"),
        Some("noncompliant"),
        Some("inGracePeriod"),
        Some("unknown"),
        Some("error"),
    ];
    let records = ["none", "mdm", "eas"];
    let entry_sets: &[&[&str]] = &[
        &[],
        &["admin allow"],
        &["admin block"],
        &["own allow"],
        &["own block"],
        &["admin allow", "own block"],
        &["admin block", "own allow"],
    ];
    let orgs = [
        (AccessLevel::Allow, None),
        (AccessLevel::Block, None),
        (AccessLevel::Quarantine, None),
        (AccessLevel::Allow, Some(AccessLevel::Quarantine)),
        (AccessLevel::Quarantine, Some(AccessLevel::Block)),
        (AccessLevel::Block, Some(AccessLevel::Allow)),
    ];
    let exceptions = [
        None,
        Some(AccessLevel::Allow),
        Some(AccessLevel::Quarantine),
    ];
    let mut cases = 0;
    for &c in &compliance {
        for &r in &records {
            for entries in entry_sets {
                for &(default, org_rule) in &orgs {
                    for &exc in &exceptions {
                        for flags in 0u8..32 {
                            cases += 1;
                            check_property(c, r, entries, default, org_rule, exc, flags);
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 10_000);
}

fn check_property(
    compliance: Option<&str>,
    record: &str,
    entries: &[&str],
    default: AccessLevel,
    org_rule: Option<AccessLevel>,
    exception: Option<AccessLevel>,
    flags: u8,
) {
    let mut settings = base_settings();
    settings.override_default_rule = flags & 1 != 0;
    settings.unenrolled_action = if flags & 2 != 0 {
        EnforcementAction::Quarantine
    } else {
        EnforcementAction::Block
    };
    settings.noncompliant_action = if flags & 4 != 0 {
        EnforcementAction::Quarantine
    } else {
        EnforcementAction::Block
    };
    let inventory = if flags & 8 != 0 {
        InventoryCompleteness::Complete
    } else {
        InventoryCompleteness::Incomplete
    };
    let targeted = flags & 16 != 0;
    settings.compliant_beats_platform_restriction = (flags & 1) ^ ((flags >> 2) & 1) == 1;
    if let Some(access) = exception {
        settings.platform_exceptions.push(PlatformException {
            kind: PlatformKind::Model,
            name: "iPhone15C2".into(),
            access,
        });
    }
    let org = OrgAccess {
        default_access_level: default,
        rules: org_rule.map(rule).into_iter().collect(),
    };
    let mut allowed = vec!["ADMIN-OTHER".to_string()];
    let mut blocked = vec!["ADMIN-OTHER-B".to_string()];
    let mut owned = OwnedEntries::new();
    // An owned entry of a DeviceId that no longer has a partnership (a reset device).
    allowed.push("RESET-OLD".into());
    owned.insert(ListKind::Allow, "RESET-OLD");
    for e in entries {
        match *e {
            "admin allow" => allowed.push("DEV1".into()),
            "admin block" => blocked.push("DEV1".into()),
            "own allow" => {
                allowed.push("DEV1".into());
                owned.insert(ListKind::Allow, "DEV1");
            }
            "own block" => {
                blocked.push("DEV1".into());
                owned.insert(ListKind::Block, "DEV1");
            }
            _ => unreachable!(),
        }
    }
    let allowed_ref: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let blocked_ref: Vec<&str> = blocked.iter().map(String::as_str).collect();
    let mut mbx = mailbox(&allowed_ref, &blocked_ref, true);
    let rec = match record {
        "none" => None,
        "mdm" => Some(managed("DEV1", "mdm", compliance)),
        _ => Some(managed("DEV1", "eas", compliance)),
    };
    let ctx = format!(
        "compliance={compliance:?} record={record} entries={entries:?} org={default}/{org_rule:?} exception={exception:?} flags={flags:05b}"
    );
    let state_now = |mbx: &CasMailbox| {
        org.evaluate(
            mbx,
            &device("DEV1", DeviceAccessState::Unknown),
            &mbx.active_sync_allowed_device_ids,
            &mbx.active_sync_blocked_device_ids,
        )
        .state
    };

    let mut last_change = None;
    for round in 0..2 {
        let dev = device("DEV1", state_now(&mbx));
        let input = DecisionInput {
            device: &dev,
            mailbox: &mbx,
            targeted,
            managed: rec.as_ref(),
            inventory,
            owned: &owned,
            grandfathered: false,
            intune_read_failed: false,
        };
        let decision = decide(&settings, &org, &input);
        let (change, _) = plan_mailbox(
            &org,
            &settings,
            &MailboxInput {
                mailbox: &mbx,
                devices: vec![PlannedDevice {
                    device: &dev,
                    decision: &decision,
                }],
                devices_complete: true,
                owned: &owned,
            },
        );
        // Never remove what the connector does not own.
        for id in &change.allow_remove {
            assert!(
                owned.contains(ListKind::Allow, id),
                "{ctx}: removes admin allow {id}"
            );
        }
        for id in &change.block_remove {
            assert!(
                owned.contains(ListKind::Block, id),
                "{ctx}: removes admin block {id}"
            );
        }
        // The reset device's stale entry goes; other devices' admin entries stay.
        if round == 0 {
            assert!(
                change.allow_remove.iter().any(|d| d == "RESET-OLD"),
                "{ctx}: {change:?}"
            );
        }
        let outcome = expected_outcome(&org, &mbx, &dev, &change);
        match decision.desired.expected_state() {
            Some(state) => assert_eq!(outcome.state, state, "{ctx}: {decision:?} {change:?}"),
            None => {
                if decision.desired == DesiredAccess::Untouched {
                    assert!(
                        notation(&change, "DEV1").is_empty(),
                        "{ctx}: Untouched changed DEV1: {change:?}"
                    );
                    assert_eq!(outcome.state, dev.device_access_state, "{ctx}");
                } else {
                    assert!(
                        change.allow_add.is_empty() && change.block_add.is_empty(),
                        "{ctx}"
                    );
                }
            }
        }
        // Never lock out: no positive fact, no new block.
        let positive = matches!(compliance, Some("noncompliant" | "error"))
            || record == "eas"
            || (record == "none" && inventory == InventoryCompleteness::Complete)
            || exception.is_some();
        if !positive {
            assert!(
                change.block_add.is_empty(),
                "{ctx}: blocked without a positive fact"
            );
        }
        if round == 1 {
            assert!(
                change.is_empty(),
                "{ctx}: second plan not empty: {change:?} after {last_change:?}"
            );
        }
        // Apply, as the reconciler would: lists and ownership.
        let (a, b) = change.apply_to(&mbx);
        for id in &change.allow_add {
            owned.insert(ListKind::Allow, id);
        }
        for id in &change.block_add {
            owned.insert(ListKind::Block, id);
        }
        let mut next = OwnedEntries::new();
        for (kind, current, removed) in [
            (ListKind::Allow, &a, &change.allow_remove),
            (ListKind::Block, &b, &change.block_remove),
        ] {
            for id in owned.iter(kind) {
                if !removed.iter().any(|r| r.eq_ignore_ascii_case(id))
                    && current.iter().any(|c| c.eq_ignore_ascii_case(id))
                {
                    next.insert(kind, id);
                }
            }
        }
        owned = next;
        mbx.active_sync_allowed_device_ids = a;
        mbx.active_sync_blocked_device_ids = b;
        last_change = Some(change);
    }
    assert!(
        mbx.active_sync_allowed_device_ids
            .contains(&"ADMIN-OTHER".to_string())
    );
    assert!(
        mbx.active_sync_blocked_device_ids
            .contains(&"ADMIN-OTHER-B".to_string())
    );
}

#[test]
fn a_reset_device_is_a_new_device_and_the_old_entries_go() {
    let settings = base_settings();
    let org = OrgAccess {
        default_access_level: AccessLevel::Block,
        rules: vec![],
    };
    let mbx = mailbox(&["OLD-ID"], &["OLD-BLOCKED"], true);
    let owned: OwnedEntries = [
        (ListKind::Allow, "old-id"),
        (ListKind::Block, "OLD-BLOCKED"),
    ]
    .into_iter()
    .collect();
    let new = device("NEW-ID", DeviceAccessState::Blocked);
    let rec = managed("NEW-ID", "mdm", Some("compliant"));
    let decision = decide(
        &settings,
        &org,
        &DecisionInput {
            device: &new,
            mailbox: &mbx,
            targeted: true,
            managed: Some(&rec),
            inventory: InventoryCompleteness::Complete,
            owned: &owned,
            grandfathered: false,
            intune_read_failed: false,
        },
    );
    assert_eq!(decision.desired, DesiredAccess::Allow);
    let devices = vec![PlannedDevice {
        device: &new,
        decision: &decision,
    }];
    let complete = MailboxInput {
        mailbox: &mbx,
        devices: devices.clone(),
        devices_complete: true,
        owned: &owned,
    };
    let (change, _) = plan_mailbox(&org, &settings, &complete);
    assert_eq!(change.allow_add, vec!["NEW-ID"]);
    // Removal names the entry as spelled on the list.
    assert_eq!(change.allow_remove, vec!["OLD-ID"]);
    assert_eq!(change.block_remove, vec!["OLD-BLOCKED"]);

    // With an incomplete device read, the old DeviceId might still sync: its entries stay.
    let partial = MailboxInput {
        devices_complete: false,
        ..complete
    };
    let (change, _) = plan_mailbox(&org, &settings, &partial);
    assert_eq!(change.allow_add, vec!["NEW-ID"]);
    assert!(change.allow_remove.is_empty() && change.block_remove.is_empty());
}

#[test]
fn owned_entries_an_admin_removed_are_forgotten() {
    let settings = base_settings();
    let org = OrgAccess {
        default_access_level: AccessLevel::Allow,
        rules: vec![],
    };
    let mbx = mailbox(&[], &[], true);
    let owned: OwnedEntries = [(ListKind::Block, "GONE")].into_iter().collect();
    let input = MailboxInput {
        mailbox: &mbx,
        devices: vec![],
        devices_complete: false,
        owned: &owned,
    };
    let (change, _) = plan_mailbox(&org, &settings, &input);
    assert!(change.is_empty());
    assert_eq!(
        change.forget_owned,
        vec![(ListKind::Block, "gone".to_string())]
    );
    let p = plan(&org, &settings, &[input]);
    assert_eq!(p.changes.len(), 1, "kept so the store forgets the entry");
    assert!(p.is_empty(), "nothing to send to Exchange");
}

fn fleet(n: usize, state: DeviceAccessState) -> Vec<MobileDevice> {
    (0..n).map(|i| device(&format!("D{i}"), state)).collect()
}

#[test]
fn guard_holds_a_plan_that_would_block_an_unusual_share() {
    // Graph returned an empty device list but "complete": every device looks not enrolled.
    let settings = base_settings();
    let org = OrgAccess {
        default_access_level: AccessLevel::Allow,
        rules: vec![],
    };
    let mbx = mailbox(&[], &[], true);
    let devices = fleet(20, DeviceAccessState::Allowed);
    let owned = OwnedEntries::new();
    let decisions: Vec<_> = devices
        .iter()
        .map(|d| {
            decide(
                &settings,
                &org,
                &DecisionInput {
                    device: d,
                    mailbox: &mbx,
                    targeted: true,
                    managed: None,
                    inventory: InventoryCompleteness::Complete,
                    owned: &owned,
                    grandfathered: false,
                    intune_read_failed: false,
                },
            )
        })
        .collect();
    let p = plan(
        &org,
        &settings,
        &[MailboxInput {
            mailbox: &mbx,
            devices: devices
                .iter()
                .zip(&decisions)
                .map(|(device, decision)| PlannedDevice { device, decision })
                .collect(),
            devices_complete: true,
            owned: &owned,
        }],
    );
    assert_eq!(p.restricted().count(), 20);
    match guard(&p, 100, settings.mass_change_threshold_percent) {
        GuardVerdict::Hold {
            restricted,
            allowed,
            message,
            ..
        } => {
            assert_eq!((restricted, allowed), (20, 100));
            assert!(message.contains("20 of the 100"), "{message}");
            assert!(message.contains("10% threshold"), "{message}");
        }
        other => panic!("expected Hold, got {other:?}"),
    }
    // 20 of 200 is exactly 10%: allowed. 20 of 199 is above.
    assert!(guard(&p, 200, 10.0).may_proceed());
    assert!(!guard(&p, 199, 10.0).may_proceed());
    // The plan's own count is a floor for the denominator (a stale organisation count).
    assert!(!guard(&p, 0, 10.0).may_proceed());
    assert!(guard(&p, 0, 100.0).may_proceed());
    assert!(guard(&exchange_connector::policy::Plan::default(), 0, 10.0).may_proceed());
}

#[test]
fn the_guard_holds_a_mass_release_and_names_the_devices() {
    use exchange_connector::policy::{DeviceEffect, GuardBase, Plan, RELEASE_GUARD_MINIMUM};
    let releases = |n: usize| Plan {
        changes: vec![],
        effects: (0..n)
            .map(|i| DeviceEffect {
                mailbox: format!("user{i}"),
                device_id: format!("DEV{i:03}"),
                before: if i % 2 == 0 {
                    DeviceAccessState::Blocked
                } else {
                    DeviceAccessState::Quarantined
                },
                after: DeviceAccessState::Allowed,
                after_reason: exchange_connector::model::exchange::DeviceAccessStateReason::Global,
            })
            .collect(),
    };
    let p = releases(20);
    assert_eq!(p.released().count(), 20);
    assert_eq!(p.restricted().count(), 0);
    let base = GuardBase {
        allowed: 1000,
        restricted: 100,
    };
    match guard(&p, base, 10.0) {
        GuardVerdict::Hold {
            released,
            restricted_now,
            restricted,
            message,
            ..
        } => {
            assert_eq!((released, restricted_now, restricted), (20, 100, 0));
            assert!(message.contains("allow 20 of the 100"), "{message}");
            assert!(message.contains("user0/DEV000"), "{message}");
            assert!(message.contains("and 10 more"), "{message}");
            assert!(message.contains("group membership"), "{message}");
        }
        other => panic!("expected Hold, got {other:?}"),
    }
    // 20 of 200 is exactly 10%: allowed. The plan's own count is a floor for the denominator.
    let wide = GuardBase {
        allowed: 1000,
        restricted: 200,
    };
    assert!(guard(&p, wide, 10.0).may_proceed());
    assert!(!guard(&p, 0, 10.0).may_proceed());
    // A few users becoming compliant at once is not a mass release.
    let few = releases(RELEASE_GUARD_MINIMUM - 1);
    assert!(guard(&few, GuardBase::default(), 10.0).may_proceed());
    assert!(!guard(&releases(RELEASE_GUARD_MINIMUM), GuardBase::default(), 10.0).may_proceed());
}

#[test]
fn rollout_allow_lists_devices_already_syncing_for_targeted_users_only() {
    let org = OrgAccess {
        default_access_level: AccessLevel::Allow,
        rules: vec![],
    };
    let alice = mailbox(&["ALREADY"], &["ADMIN-BLOCKED"], true);
    let mut bob = mailbox(&[], &[], true);
    bob.identity = "bob".into();
    let alice_devices = [
        device("SYNCING", DeviceAccessState::Allowed),
        device("ALREADY", DeviceAccessState::Allowed),
        device("QUARANTINED", DeviceAccessState::Quarantined),
        device("ADMIN-BLOCKED", DeviceAccessState::Blocked),
    ];
    let bob_devices = [device("BOBS", DeviceAccessState::Allowed)];
    let alice_devices: Vec<&MobileDevice> = alice_devices.iter().collect();
    let bob_devices: Vec<&MobileDevice> = bob_devices.iter().collect();
    let p = rollout_plan(
        &org,
        &[
            RolloutMailbox {
                mailbox: &alice,
                devices: &alice_devices,
                targeted: true,
            },
            RolloutMailbox {
                mailbox: &bob,
                devices: &bob_devices,
                targeted: false,
            },
        ],
    );
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].mailbox, "alice");
    assert_eq!(p.changes[0].allow_add, vec!["SYNCING"]);
    assert_eq!(p.changes[0].len(), 1);
    assert_eq!(p.restricted().count(), 0);
}

#[test]
fn legacy_settings_become_the_starting_policy() {
    let ca: ConditionalAccessSettings = serde_json::from_value(json!({
        "id": "ca", "enabled": true,
        "includedGroups": ["g-in"], "excludedGroups": ["g-out"],
        "overrideDefaultRule": false,
    }))
    .unwrap();
    let legacy: ExchangeOnPremisesPolicy = serde_json::from_value(json!({
        "id": "p",
        "defaultAccessLevel": "quarantine",
        "accessRules": [
            {"deviceClass": {"name": "iPhone", "type": "family"}, "accessLevel": "allow"},
            {"deviceClass": {"name": "SM-G991B", "type": "model"}, "accessLevel": "block"},
            {"deviceClass": {"name": "Ignored", "type": "model"}, "accessLevel": "none"},
            {"deviceClass": {"name": "Future", "type": "os"}, "accessLevel": "block"}
        ]
    }))
    .unwrap();
    let s = PolicySettings::from_legacy(&ca, Some(&legacy));
    assert!(s.enabled);
    assert_eq!(s.included_groups, vec!["g-in"]);
    assert_eq!(s.excluded_groups, vec!["g-out"]);
    assert!(!s.override_default_rule);
    assert_eq!(s.unmanaged_default_access, AccessLevel::Quarantine);
    assert_eq!(s.unenrolled_action, EnforcementAction::Quarantine);
    assert_eq!(s.noncompliant_action, EnforcementAction::Quarantine);
    assert!(s.compliant_beats_platform_restriction);
    assert_eq!(
        s.platform_exceptions,
        vec![
            PlatformException {
                kind: PlatformKind::Family,
                name: "iPhone".into(),
                access: AccessLevel::Allow
            },
            PlatformException {
                kind: PlatformKind::Model,
                name: "SM-G991B".into(),
                access: AccessLevel::Block
            },
        ]
    );
    assert!(s.grace_counts_as_compliant);
    assert_eq!(s.mass_change_threshold_percent, 10.0);
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(
        s.default_access_to_set(AccessLevel::Allow),
        Some(AccessLevel::Quarantine)
    );
    assert_eq!(s.default_access_to_set(AccessLevel::Quarantine), None);

    let only_ca = PolicySettings::from_legacy(&ca, None);
    assert_eq!(only_ca.unmanaged_default_access, AccessLevel::Allow);
    assert_eq!(only_ca.unenrolled_action, EnforcementAction::Block);
    assert!(only_ca.platform_exceptions.is_empty());
}

#[test]
fn settings_deserialise_with_defaults_and_validate() {
    let s: PolicySettings = serde_json::from_value(json!({"enabled": true})).unwrap();
    assert!(s.grace_counts_as_compliant);
    assert!(s.override_default_rule);
    assert_eq!(s.mass_change_threshold_percent, 10.0);
    assert_eq!(s.validate(), Err(SettingsError::NoIncludedGroups));
    let bad = PolicySettings {
        mass_change_threshold_percent: 150.0,
        ..PolicySettings::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(SettingsError::BadThreshold(_))
    ));
    let round: PolicySettings =
        serde_json::from_str(&serde_json::to_string(&base_settings()).unwrap()).unwrap();
    assert_eq!(round, base_settings());
}

#[test]
fn targeting_exclusion_wins_and_ids_ignore_case() {
    let t = Targeting::new(["A-1".to_string(), "b-2".to_string()], ["B-2".to_string()]);
    assert!(t.is_targeted("a-1"));
    assert!(!t.is_targeted("b-2"), "in both: excluded");
    assert!(!t.is_targeted("c-3"));
    let mut mbx = mailbox(&[], &[], true);
    mbx.external_directory_object_id = Some("A-1".into());
    assert!(t.is_mailbox_targeted(&mbx));
    mbx.external_directory_object_id = None;
    assert!(
        !t.is_mailbox_targeted(&mbx),
        "unmatched mailbox is left alone"
    );
}

#[test]
fn managed_index_joins_case_insensitively_and_prefers_the_latest_record() {
    let mut old = managed("AbC", "mdm", Some("noncompliant"));
    old.id = "old".into();
    old.last_sync_date_time = Some("2026-01-01T00:00:00Z".parse().unwrap());
    let mut new = managed("abc", "mdm", Some("compliant"));
    new.id = "new".into();
    new.last_sync_date_time = Some("2026-06-01T00:00:00Z".parse().unwrap());
    let mut no_eas = managed("", "mdm", Some("compliant"));
    no_eas.eas_device_id = None;
    let all = [new.clone(), old, no_eas];
    let index = ManagedIndex::new(all.iter());
    assert_eq!(index.len(), 1);
    assert_eq!(index.get("ABC").map(|d| d.id.as_str()), Some("new"));
    assert!(index.get("other").is_none());
}

#[test]
fn the_policy_module_stays_pure() {
    let sources = [
        include_str!("../../src/policy/mod.rs"),
        include_str!("../../src/policy/settings.rs"),
        include_str!("../../src/policy/decide.rs"),
        include_str!("../../src/policy/lists.rs"),
        include_str!("../../src/policy/plan.rs"),
    ];
    for source in sources {
        for line in source
            .lines()
            .filter(|l| l.trim_start().starts_with("use "))
        {
            for forbidden in [
                "tokio",
                "reqwest",
                "rusqlite",
                "crate::lab",
                "crate::store",
                "std::fs",
                "std::net",
            ] {
                assert!(
                    !line.contains(forbidden),
                    "policy imports {forbidden}: {line}"
                );
            }
        }
    }
}

proptest::proptest! {
    /// The index finds a record by its `easDeviceId` in any ASCII case, as Exchange compares
    /// DeviceIds, and never the record of another id (ids of up to 80 characters: the index hashes
    /// them a chunk at a time).
    #[test]
    fn the_managed_index_matches_device_ids_without_regard_to_case(
        ids in proptest::collection::btree_set("[A-Za-z0-9]{1,80}", 1..12),
        flips in proptest::collection::vec(proptest::bool::ANY, 80),
    ) {
        // Distinct without regard to case, as Exchange's DeviceIds are.
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<String> = ids.into_iter().filter(|id| seen.insert(id.to_ascii_lowercase())).collect();
        let records: Vec<ManagedDevice> = ids.iter().map(|id| managed(id, "eas", None)).collect();
        let index = ManagedIndex::new(records.iter());
        proptest::prop_assert_eq!(index.len(), ids.len());
        for id in &ids {
            let asked: String = id
                .chars()
                .zip(flips.iter().cycle())
                .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let found = index.get(&asked).and_then(|r| r.eas_device_id.clone());
            proptest::prop_assert_eq!(found.as_deref(), Some(id.as_str()));
            let other = format!("{asked}x");
            proptest::prop_assert!(index.get(&other).is_none_or(|r| r.eas_device_id.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&other))));
        }
    }
}
