//! The Exchange client end to end against the lab, over loopback: the PowerShell bridge (with the lab's
//! `pwsh` stand-in as the host) and REST `InvokeCommand` (with a certificate-assertion token from the
//! lab's token endpoint).

use crate::common;

use common::TestLab;
use exchange_connector::bridge_protocol::Authentication;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::exchange::bridge::BridgeConfig;
use exchange_connector::exchange::cmdlets::{OrganizationSettingsUpdate, on_premises_session_init};
use exchange_connector::exchange::commands_log::CommandsLog;
use exchange_connector::exchange::failover::FailoverConfig;
use exchange_connector::exchange::pool::{PoolConfig, RetryPolicy};
use exchange_connector::exchange::rest::RestConfig;
use exchange_connector::exchange::{CasServer, DeviceListEdit, ExchangeClient, ExchangeError};
use exchange_connector::model::exchange::{AccessLevel, RuleCharacteristic};
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::secret::Secret;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Bridge,
    Rest,
}

pub(crate) struct Options {
    runspaces: usize,
    failover: bool,
    user: Option<(String, String)>,
    log: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            runspaces: 1,
            failover: true,
            user: None,
            log: None,
        }
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
    }
}

pub(crate) fn bridge_client(lab: &TestLab, options: Options) -> ExchangeClient {
    let e = &lab.endpoints;
    let (user, password) = options.user.unwrap_or_else(|| {
        (
            e.service_account.user.clone(),
            e.service_account.password.clone(),
        )
    });
    let config = BridgeConfig {
        program: env!("CARGO_BIN_EXE_exchange-connector-lab").into(),
        prefix_args: vec!["pwsh".into(), "--ca-file".into(), e.ca_cert_pem.clone()],
        authentication: Authentication::Basic,
        user_name: user,
        password: Secret::new(password),
        proxy: None,
        open_timeout: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(60),
        close_timeout: Duration::from_secs(5),
    };
    let cas = &e.cas_servers[0];
    let primary = CasServer {
        name: cas.name.clone(),
        fqdn: cas.fqdn.clone(),
        connection_uri: cas.powershell_url.clone(),
    };
    // The lab's servers listen on their own ports: map discovered FQDNs to their URIs.
    let uri_overrides = e
        .cas_servers
        .iter()
        .map(|c| (c.fqdn.clone(), c.powershell_url.clone()))
        .collect();
    let failover = FailoverConfig {
        enabled: options.failover,
        probe_interval: Duration::from_millis(500),
        down_for: Duration::from_secs(30),
        uri_overrides,
    };
    let pool = PoolConfig {
        max_runspaces: options.runspaces,
        retry: retry(),
        session_init: on_premises_session_init(),
        ..Default::default()
    };
    let log = options
        .log
        .map(|path| CommandsLog::append_to(&path).unwrap());
    ExchangeClient::on_premises(config, primary, failover, pool, log)
}

pub(crate) fn token_client(lab: &TestLab) -> Arc<TokenClient> {
    let e = &lab.endpoints;
    let pfx = std::fs::read(&e.client_certificate_pfx).unwrap();
    let cert =
        ClientCertificate::from_pfx(&pfx, &Secret::new(e.client_certificate_password.clone()))
            .unwrap();
    let config = OAuthConfig::new(
        &e.login_base,
        &e.tenant_id,
        &e.client_id,
        ClientCredential::Certificate(Arc::new(cert)),
    );
    Arc::new(TokenClient::new(config, common::client(&e.ca_cert_pem)))
}

fn rest_client(lab: &TestLab, options: Options) -> ExchangeClient {
    let e = &lab.endpoints;
    let mut config = RestConfig::new(&e.exchange_rest_base, &e.tenant_id);
    config.anchor_domain = e.domain.clone();
    config.retry = retry();
    let pool = PoolConfig {
        max_runspaces: options.runspaces,
        retry: retry(),
        ..Default::default()
    };
    let log = options
        .log
        .map(|path| CommandsLog::append_to(&path).unwrap());
    ExchangeClient::online(
        config,
        token_client(lab),
        common::client(&e.ca_cert_pem),
        pool,
        log,
    )
}

fn client(kind: Kind, lab: &TestLab, options: Options) -> ExchangeClient {
    match kind {
        Kind::Bridge => bridge_client(lab, options),
        Kind::Rest => rest_client(lab, options),
    }
}

fn open_shells(lab: &TestLab) -> usize {
    lab.state.shells.lock().unwrap().len()
}

async fn every_typed_call(kind: Kind) {
    let lab = common::small_lab().await;
    let before = chrono::Utc::now() - chrono::Duration::days(3650);
    let exchange = client(kind, &lab, Options::default());

    let devices = exchange.list_devices().await.unwrap();
    assert_eq!(devices.len(), lab.state.org().device_count(), "{kind:?}");
    assert!(!devices.is_empty());

    let mut streamed = Vec::new();
    let count = exchange
        .for_each_device(None, || {}, |d| streamed.push(d.identity))
        .await
        .unwrap();
    assert_eq!(count as usize, devices.len());
    assert_eq!(streamed.len(), devices.len());

    let changed = exchange.list_devices_changed_since(before).await.unwrap();
    assert_eq!(
        changed.len(),
        devices.len(),
        "everything changed in ten years"
    );
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(
        exchange
            .list_devices_changed_since(future)
            .await
            .unwrap()
            .is_empty()
    );

    let mailboxes = exchange.cas_mailboxes_with_devices().await.unwrap();
    assert!(!mailboxes.is_empty());
    assert!(
        mailboxes
            .iter()
            .all(|m| m.has_active_sync_device_partnership)
    );
    let first = &mailboxes[0];
    let one = exchange.cas_mailbox(&first.identity).await.unwrap();
    assert_eq!(one.guid, first.guid);
    let of_mailbox = exchange.mailbox_devices(&first.identity).await.unwrap();
    assert!(!of_mailbox.is_empty());
    let stats = exchange.device_statistics(&first.identity).await.unwrap();
    assert_eq!(stats.len(), of_mailbox.len());

    // Lists.
    let device_id = of_mailbox[0].device_id.clone();
    exchange
        .edit_device_lists(&first.identity, &DeviceListEdit::block(&device_id))
        .await
        .unwrap();
    let after = exchange.cas_mailbox(&first.identity).await.unwrap();
    assert!(after.active_sync_blocked_device_ids.contains(&device_id));
    assert!(!after.active_sync_allowed_device_ids.contains(&device_id));
    exchange
        .edit_device_lists(&first.identity, &DeviceListEdit::allow(&device_id))
        .await
        .unwrap();
    let after = exchange.cas_mailbox(&first.identity).await.unwrap();
    assert!(after.active_sync_allowed_device_ids.contains(&device_id));
    assert!(!after.active_sync_blocked_device_ids.contains(&device_id));

    // Organisation settings.
    let settings = exchange.organization_settings().await.unwrap();
    exchange
        .set_organization_settings(&OrganizationSettingsUpdate {
            default_access_level: Some(AccessLevel::Quarantine),
            user_mail_insert: Some("Enrol your device in Intune.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let changed_settings = exchange.organization_settings().await.unwrap();
    assert_eq!(
        changed_settings.default_access_level,
        AccessLevel::Quarantine
    );
    assert_eq!(
        changed_settings.user_mail_insert.as_deref(),
        Some("Enrol your device in Intune.")
    );
    exchange
        .set_organization_settings(&OrganizationSettingsUpdate {
            default_access_level: Some(settings.default_access_level),
            ..Default::default()
        })
        .await
        .unwrap();

    // Rules.
    let rules = exchange.device_access_rules().await.unwrap();
    let rule = exchange
        .new_device_access_rule(
            "ContosoPhone",
            RuleCharacteristic::DeviceModel,
            AccessLevel::Quarantine,
        )
        .await
        .unwrap();
    assert_eq!(rule.query_string, "ContosoPhone");
    exchange
        .set_device_access_rule(&rule.identity, AccessLevel::Block)
        .await
        .unwrap();
    let now_rules = exchange.device_access_rules().await.unwrap();
    assert_eq!(now_rules.len(), rules.len() + 1);
    assert!(
        now_rules
            .iter()
            .any(|r| r.identity == rule.identity && r.access_level == AccessLevel::Block)
    );
    exchange
        .remove_device_access_rule(&rule.identity)
        .await
        .unwrap();
    assert_eq!(
        exchange.device_access_rules().await.unwrap().len(),
        rules.len()
    );

    // Classes, servers, recipients, permissions.
    assert!(!exchange.device_classes().await.unwrap().is_empty());
    let cas = exchange.client_access_servers().await.unwrap();
    assert_eq!(cas.len(), lab.endpoints.cas_servers.len());
    assert!(!exchange.recipients(None).await.unwrap().is_empty());
    let report = exchange.check_permissions().await.unwrap();
    assert!(report.missing_required.is_empty(), "{report:?}");
    report.require().unwrap();

    // Not found is typed.
    let missing = exchange.cas_mailbox("nobody-at-all").await.unwrap_err();
    assert!(
        matches!(missing, ExchangeError::NotFound { .. }),
        "{missing:?}"
    );

    exchange.shutdown().await;
    if kind == Kind::Bridge {
        wait_for_no_shells(&lab).await;
    }
    lab.shutdown().await;
}

async fn wait_for_no_shells(lab: &TestLab) {
    for _ in 0..100 {
        if open_shells(lab) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} shells left open", open_shells(lab));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_every_typed_call() {
    every_typed_call(Kind::Bridge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_every_typed_call() {
    every_typed_call(Kind::Rest).await;
}

/// A sync's listings ask Exchange Online for the properties a sync reads (`$select`): the records
/// match the full ones there and carry nothing else (IMEI, phone number, GUID...).
#[tokio::test]
async fn rest_a_sync_listing_asks_only_for_what_a_sync_reads() {
    let lab = common::generated_lab(300, 1500, 21).await;
    let exchange = rest_client(&lab, Options::default());
    let full = exchange.list_devices().await.unwrap();
    let listed = std::sync::Mutex::new(Vec::new());
    exchange
        .for_each_device(
            None,
            || listed.lock().unwrap().clear(),
            |d| listed.lock().unwrap().push(d),
        )
        .await
        .unwrap();
    let lean = listed.into_inner().unwrap();
    assert_eq!(full.len(), 1500);
    assert_eq!(lean.len(), full.len(), "paged through the same listing");
    assert!(
        full.iter()
            .all(|d| !d.guid.is_empty() && d.first_sync_time.is_some())
    );
    let by_identity: std::collections::HashMap<&str, _> =
        full.iter().map(|d| (d.identity.as_str(), d)).collect();
    for l in &lean {
        let f = by_identity[l.identity.as_str()];
        let mut expected = f.clone();
        expected.guid = String::new();
        expected.device_imei = None;
        expected.device_mobile_operator = None;
        expected.device_os_language = None;
        expected.device_telephone_number = None;
        expected.first_sync_time = None;
        expected.when_changed = None;
        expected.when_created = None;
        assert_eq!(l, &expected, "only the sync's properties were sent");
    }
    let filtered = exchange
        .list_devices_filtered(&format!("DeviceId -eq '{}'", full[0].device_id))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert!(filtered[0].guid.is_empty() && filtered[0].first_sync_time.is_none());
    lab.shutdown().await;
}

async fn foreign_entries_untouched(kind: Kind) {
    let lab = common::small_lab().await;
    let (alias, foreign_allowed, foreign_blocked) = {
        let mut org = lab.state.org_mut();
        let mailbox = &mut org.mailboxes[0];
        mailbox
            .cas
            .active_sync_allowed_device_ids
            .push("ADMIN-ALLOWED-1".into());
        mailbox
            .cas
            .active_sync_blocked_device_ids
            .push("ADMIN-BLOCKED-1".into());
        (
            mailbox.cas.identity.clone(),
            mailbox.cas.active_sync_allowed_device_ids.clone(),
            mailbox.cas.active_sync_blocked_device_ids.clone(),
        )
    };
    let log_path = lab.dir.path().join("commands.log");
    let exchange = client(
        kind,
        &lab,
        Options {
            log: Some(log_path.clone()),
            ..Default::default()
        },
    );
    let edit = DeviceListEdit {
        allow_add: vec!["CONNECTOR-1".into(), "CONNECTOR-2".into()],
        block_add: vec!["CONNECTOR-3".into()],
        ..Default::default()
    };
    exchange.edit_device_lists(&alias, &edit).await.unwrap();
    // Applying it twice changes nothing (what makes retries after a failover safe).
    exchange.edit_device_lists(&alias, &edit).await.unwrap();
    exchange
        .edit_device_lists(
            &alias,
            &DeviceListEdit {
                allow_remove: vec!["CONNECTOR-2".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after = exchange.cas_mailbox(&alias).await.unwrap();
    for id in &foreign_allowed {
        assert!(
            after.active_sync_allowed_device_ids.contains(id),
            "{kind:?} lost {id}"
        );
    }
    for id in &foreign_blocked {
        assert!(
            after.active_sync_blocked_device_ids.contains(id),
            "{kind:?} lost {id}"
        );
    }
    let count = |list: &Vec<String>, id: &str| list.iter().filter(|x| *x == id).count();
    assert_eq!(
        count(&after.active_sync_allowed_device_ids, "CONNECTOR-1"),
        1
    );
    assert_eq!(
        count(&after.active_sync_allowed_device_ids, "CONNECTOR-2"),
        0
    );
    assert_eq!(
        count(&after.active_sync_blocked_device_ids, "CONNECTOR-3"),
        1
    );
    exchange.shutdown().await;
    // The commands log has every cmdlet with its device IDs, and never a secret.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sets: Vec<_> = lines
        .iter()
        .filter(|l| l["cmdlet"] == "Set-CASMailbox")
        .collect();
    assert_eq!(sets.len(), 3, "{log}");
    assert!(log.contains("CONNECTOR-3"));
    assert!(!log.contains(&lab.endpoints.service_account.password));
    assert!(!log.contains(&lab.endpoints.client_secret));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_add_remove_leaves_foreign_entries() {
    foreign_entries_untouched(Kind::Bridge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_add_remove_leaves_foreign_entries() {
    foreign_entries_untouched(Kind::Rest).await;
}

async fn never_truncated(kind: Kind) {
    let lab = common::generated_lab(1200, 2600, 7).await;
    let exchange = client(kind, &lab, Options::default());
    let devices = exchange.list_devices().await.unwrap();
    assert_eq!(devices.len(), 2600, "{kind:?}");
    let unique: HashSet<_> = devices.iter().map(|d| d.identity.clone()).collect();
    assert_eq!(unique.len(), 2600);
    let mailboxes = exchange.cas_mailboxes_with_devices().await.unwrap();
    let expected = lab
        .state
        .org()
        .mailboxes
        .iter()
        .filter(|m| !m.devices.is_empty())
        .count();
    assert_eq!(mailboxes.len(), expected);
    assert!(expected > 1000);
    exchange.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_the_1000_default_never_truncates() {
    never_truncated(Kind::Bridge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_the_1000_default_never_truncates() {
    never_truncated(Kind::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_cas_stopped_mid_listing_completes_on_another_and_returns() {
    let lab = common::generated_lab(2000, 4000, 11).await;
    let exchange = bridge_client(&lab, Options::default());
    // Open the first runspace and discover the servers.
    exchange.organization_settings().await.unwrap();
    let primary = lab.endpoints.cas_servers[0].name.clone();
    let failover = exchange.pool().failover().unwrap();
    assert_eq!(failover.current().name, primary);
    assert_eq!(
        failover.servers().len(),
        lab.endpoints.cas_servers.len(),
        "discovered"
    );
    // Slow the listing down so the server can die in its middle.
    lab.state.faults().exchange_latency_per_object_us = 400;
    let listing = {
        let exchange = exchange.clone();
        tokio::spawn(async move { exchange.list_devices().await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    lab.stop_cas(&primary).await.unwrap();
    let devices = listing.await.unwrap().unwrap();
    lab.state.faults().exchange_latency_per_object_us = 0;
    assert_eq!(devices.len(), 4000);
    let unique: HashSet<_> = devices.iter().map(|d| d.identity.clone()).collect();
    assert_eq!(unique.len(), 4000, "no duplicates after the restart");
    assert_ne!(failover.current().name, primary, "moved to another CAS");
    assert!(
        exchange.pool().stats().retries >= 1,
        "the listing was interrupted"
    );
    // The primary comes back: after the probe interval the client returns to it.
    lab.start_cas(&primary).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    exchange.organization_settings().await.unwrap();
    assert_eq!(failover.current().name, primary, "back on the primary");
    exchange.shutdown().await;
    lab.shutdown().await;
}

/// The full sync's listing: devices handed over one at a time as they arrive and grouped by their
/// mailbox, the groups cleared when a dead server makes the listing start again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_cas_stopped_mid_streamed_listing_restarts_the_groups_once() {
    use std::collections::HashMap;
    use std::sync::Mutex;
    let lab = common::generated_lab(2000, 4000, 17).await;
    let exchange = bridge_client(&lab, Options::default());
    exchange.organization_settings().await.unwrap();
    let primary = lab.endpoints.cas_servers[0].name.clone();
    lab.state.faults().exchange_latency_per_object_us = 400;
    let groups: Mutex<HashMap<String, Vec<String>>> = Mutex::new(HashMap::new());
    let restarts = Mutex::new(0usize);
    let listing = exchange.for_each_device(
        None,
        || {
            *restarts.lock().unwrap() += 1;
            groups.lock().unwrap().clear();
        },
        |d| {
            groups
                .lock()
                .unwrap()
                .entry(exchange_connector::sync::engine::mailbox_key_of(&d))
                .or_default()
                .push(d.identity)
        },
    );
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lab.stop_cas(&primary).await.unwrap();
    };
    let (count, ()) = tokio::join!(listing, stop);
    lab.state.faults().exchange_latency_per_object_us = 0;
    let groups = groups.into_inner().unwrap();
    let identities: Vec<&String> = groups.values().flatten().collect();
    assert_eq!(identities.len(), 4000, "every device once");
    assert_eq!(count.unwrap(), 4000);
    let unique: HashSet<_> = identities.iter().collect();
    assert_eq!(unique.len(), 4000, "no duplicates after the restart");
    assert!(
        *restarts.lock().unwrap() >= 1,
        "the listing was interrupted and started again"
    );
    exchange.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_cas_stopped_mid_batch_applies_every_write_once() {
    let lab = common::generated_lab(300, 600, 13).await;
    let exchange = bridge_client(
        &lab,
        Options {
            runspaces: 4,
            ..Default::default()
        },
    );
    exchange.organization_settings().await.unwrap();
    // 300 writes on 4 runspaces at 25 ms each: about 2 s, room to stop the server in the middle.
    lab.state.faults().exchange_latency_ms = 25;
    let aliases: Vec<String> = lab
        .state
        .org()
        .mailboxes
        .iter()
        .map(|m| m.cas.identity.clone())
        .collect();
    let edits: Vec<(String, DeviceListEdit)> = (0..300)
        .map(|i| {
            (
                aliases[i % aliases.len()].clone(),
                DeviceListEdit {
                    allow_add: vec![format!("BATCH-{i:04}")],
                    ..Default::default()
                },
            )
        })
        .collect();
    let primary = lab.endpoints.cas_servers[0].name.clone();
    let batch = {
        let exchange = exchange.clone();
        let edits = edits.clone();
        tokio::spawn(async move { exchange.apply_list_edits(&edits).await })
    };
    // Stop the server once some writes are in, not after a fixed time: on a loaded machine the
    // batch may not have started after 300 ms (seen once), or be over.
    let applied = || {
        lab.state
            .org()
            .mailboxes
            .iter()
            .flat_map(|m| m.cas.active_sync_allowed_device_ids.iter())
            .filter(|id| id.starts_with("BATCH-"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while applied() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lab.stop_cas(&primary).await.unwrap();
    assert!(
        applied() < 300,
        "the batch was over before the server stopped"
    );
    let results = batch.await.unwrap();
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "edit {i}: {r:?}");
    }
    assert!(
        exchange.pool().stats().retries >= 1,
        "the batch was interrupted"
    );
    let now_on = exchange.pool().failover().unwrap().current().name;
    assert_ne!(now_on, primary);
    {
        let org = lab.state.org();
        for i in 0..300 {
            let id = format!("BATCH-{i:04}");
            let found: usize = org
                .mailboxes
                .iter()
                .map(|m| {
                    m.cas
                        .active_sync_allowed_device_ids
                        .iter()
                        .filter(|x| **x == id)
                        .count()
                })
                .sum();
            assert_eq!(found, 1, "{id} applied exactly once");
        }
    }
    exchange.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_failover_disabled_stays_on_primary() {
    let lab = common::small_lab().await;
    let exchange = bridge_client(
        &lab,
        Options {
            failover: false,
            ..Default::default()
        },
    );
    exchange.organization_settings().await.unwrap();
    lab.stop_cas(&lab.endpoints.cas_servers[0].name)
        .await
        .unwrap();
    let err = exchange.organization_settings().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    exchange.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_respects_the_concurrency_limit() {
    let lab = common::generated_lab(200, 400, 17).await;
    lab.state.faults().max_concurrent_shells = 3;
    lab.state.faults().exchange_latency_ms = 5;
    let exchange = bridge_client(
        &lab,
        Options {
            runspaces: 6,
            ..Default::default()
        },
    );
    let aliases: Vec<String> = lab
        .state
        .org()
        .mailboxes
        .iter()
        .map(|m| m.cas.identity.clone())
        .collect();
    let edits: Vec<(String, DeviceListEdit)> = (0..120)
        .map(|i| {
            (
                aliases[i % aliases.len()].clone(),
                DeviceListEdit::block(&format!("LIMIT-{i}")),
            )
        })
        .collect();
    let results = exchange.apply_list_edits(&edits).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert!(
        exchange.pool().limit() <= 3,
        "pool shrank to {}",
        exchange.pool().limit()
    );
    assert!(exchange.pool().stats().shrinks >= 3);
    assert!(open_shells(&lab) <= 3);
    exchange.shutdown().await;
    wait_for_no_shells(&lab).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_survives_expired_tokens() {
    let lab = common::small_lab().await;
    let exchange = rest_client(&lab, Options::default());
    exchange.organization_settings().await.unwrap();
    let tokens_before = lab
        .state
        .counters
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    // Token times are whole seconds: let a second pass so the cached token is strictly older.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    lab.state.faults().tokens_not_before = Some(chrono::Utc::now());
    let devices = exchange.list_devices().await.unwrap();
    assert!(!devices.is_empty());
    let tokens_after = lab
        .state
        .counters
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        tokens_after,
        tokens_before + 1,
        "one new token after the 401"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_privileged_accounts_are_named_by_cmdlet() {
    let lab = common::small_lab().await;
    // The helpdesk account of the small scenario has a few read cmdlets only.
    let helpdesk = lab
        .state
        .org()
        .accounts
        .iter()
        .find(|a| a.user_name.to_ascii_lowercase().ends_with("helpdesk"))
        .map(|a| (a.user_name.clone(), a.password.expose().to_string()))
        .unwrap();
    let exchange = bridge_client(
        &lab,
        Options {
            user: Some(helpdesk),
            failover: false,
            ..Default::default()
        },
    );
    let report = exchange.check_permissions().await.unwrap();
    for needed in [
        "Set-CASMailbox",
        "Get-ExchangeServer",
        "Set-ActiveSyncOrganizationSettings",
        "New-ActiveSyncDeviceAccessRule",
    ] {
        assert!(
            report.missing_required.iter().any(|m| m == needed),
            "{needed} not named: {report:?}"
        );
    }
    assert!(
        !report
            .missing_required
            .iter()
            .any(|m| m.starts_with("Get-MobileDevice ")),
        "{report:?}"
    );
    let message = report.require().unwrap_err().to_string();
    assert!(message.contains("Set-CASMailbox"), "{message}");
    let denied = exchange
        .edit_device_lists("alice", &DeviceListEdit::allow("X"))
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, ExchangeError::PermissionDenied { cmdlet, .. } if cmdlet == "Set-CASMailbox"),
        "{denied:?}"
    );
    exchange.shutdown().await;

    // The service account loses a right: the check names it.
    {
        let mut org = lab.state.org_mut();
        let service = org
            .accounts
            .iter_mut()
            .find(|a| a.user_name.to_ascii_lowercase().ends_with("svc-eas"))
            .unwrap();
        service
            .granted_cmdlets
            .retain(|c| !c.eq_ignore_ascii_case("Get-ActiveSyncDeviceClass"));
    }
    let exchange = bridge_client(&lab, Options::default());
    let report = exchange.check_permissions().await.unwrap();
    assert_eq!(report.missing_required, ["Get-ActiveSyncDeviceClass"]);
    exchange.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_app_without_the_exchange_role_is_told_what_to_grant() {
    let lab = common::small_lab().await;
    {
        let client_id = lab.endpoints.client_id.clone();
        let mut tenant = lab.state.tenant_mut();
        let app = tenant
            .apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(&client_id))
            .unwrap();
        app.exchange_roles.clear();
    }
    let exchange = rest_client(&lab, Options::default());
    let err = exchange.list_devices().await.unwrap_err();
    assert!(
        matches!(err, ExchangeError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Exchange.ManageAsApp"), "{err}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_secret_certificate_cache_and_errors_against_the_lab() {
    let lab = common::small_lab().await;
    let e = &lab.endpoints;
    let graph = "https://graph.microsoft.com/.default";
    let secret_client = TokenClient::new(
        OAuthConfig::new(
            &e.login_base,
            &e.tenant_id,
            &e.client_id,
            ClientCredential::Secret(Secret::new(e.client_secret.clone())),
        ),
        common::client(&e.ca_cert_pem),
    );
    let requests = || {
        lab.state
            .counters
            .token_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = requests();
    let first = secret_client.token(graph).await.unwrap();
    let again = secret_client.token(graph).await.unwrap();
    assert_eq!(first, again, "cached");
    assert_eq!(requests(), before + 1);
    // A refused token is replaced once; a second caller with the same refused token gets the new one.
    let renewed = secret_client.refresh(graph, &first).await.unwrap();
    assert_eq!(secret_client.refresh(graph, &first).await.unwrap(), renewed);
    assert_eq!(requests(), before + 2);

    let certificate = token_client(&lab);
    certificate
        .token(exchange_connector::exchange::rest::EXCHANGE_ONLINE_SCOPE)
        .await
        .unwrap();

    let wrong = TokenClient::new(
        OAuthConfig::new(
            &e.login_base,
            &e.tenant_id,
            &e.client_id,
            ClientCredential::Secret(Secret::new("not-the-secret")),
        ),
        common::client(&e.ca_cert_pem),
    );
    let err = wrong.token(graph).await.unwrap_err();
    assert_eq!(err.aadsts_codes(), &[7000215], "{err}");
    let text = err.to_string();
    assert!(
        text.contains("AADSTS7000215") && text.contains("What to do"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"));
    assert!(!err.is_transient());

    let err = secret_client
        .token("https://nothing.example/.default")
        .await
        .unwrap_err();
    assert!(!err.aadsts_codes().is_empty(), "{err}");
    lab.shutdown().await;
}
