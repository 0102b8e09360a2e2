//! The Settings page's group search and "Sync this user now" over the control channel, answered by
//! the real worker with its own clients and secrets (on Windows the setup process cannot read them).

use crate::common::small_lab;
use crate::worker::{configure, connect, status, terminate, wait_status};
use exchange_connector::model::exchange::DeviceAccessState;
use exchange_connector::model::intune::ComplianceState;
use exchange_connector::policy::DesiredAccess;
use exchange_connector::service::messages::{Reply, Request};
use exchange_connector::store::Store;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_searches_groups_by_name_with_their_user_count() {
    let lab = small_lab().await;
    let c = configure(&lab);
    let mut child = c.start(&[]);
    let mut client = connect(&c.socket()).await;

    let reply = client
        .request(&Request::SearchGroups {
            prefix: "eas".into(),
        })
        .await
        .unwrap();
    let Reply::Groups { groups } = reply else {
        panic!("{reply:?}")
    };
    let found: Vec<(&str, Option<usize>)> = groups
        .iter()
        .map(|g| (g.name.as_str(), g.members))
        .collect();
    // Nested groups count: the targeted group holds 7 users and Sales (one of them already in it).
    assert_eq!(
        found,
        vec![
            ("EAS - Conditional access", Some(8)),
            ("EAS - Exempt", Some(1))
        ]
    );
    let targeted = &lab.endpoints.policy.included_groups[0];
    assert!(
        groups.iter().any(|g| g.id.eq_ignore_ascii_case(targeted)),
        "{groups:?}"
    );

    let reply = client
        .request(&Request::SearchGroups {
            prefix: "nobody".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply, Reply::Groups { groups: Vec::new() });
    assert_eq!(terminate(&mut child).code(), Some(0));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_this_user_now_writes_only_that_users_mailbox() {
    let lab = small_lab().await;
    let c = configure(&lab);
    let mut child = c.start(&[]);
    let mut client = connect(&c.socket()).await;
    // The scheduled first full sync converges the organisation.
    wait_status(&mut client, "the first full sync", |s| {
        s.current_run.is_none() && s.report.as_ref().is_ok_and(|r| r.last_full_sync.is_some())
    })
    .await;
    lab.state
        .tenant_mut()
        .managed_devices
        .iter_mut()
        .filter(|d| {
            matches!(
                d.eas_device_id.as_deref(),
                Some("ALICEIPHONE0001" | "CAROLIPHONE0003")
            )
        })
        .for_each(|d| d.compliance_state = Some(ComplianceState::Noncompliant));
    let writes = || async {
        let counters = crate::common::control_get(&lab.endpoints, "/counters").await;
        serde_json::from_value::<BTreeMap<String, u64>>(counters["mailboxWrites"].clone()).unwrap()
    };
    let before = writes().await;
    let runs_before = status(&mut client).await.last_report.and_then(|r| r.run_id);

    let reply = client
        .request(&Request::SyncUser {
            user: "alice".into(),
        })
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Accepted { .. }), "{reply:?}");
    let s = wait_status(&mut client, "the one-user run", |s| {
        s.current_run.is_none() && s.last_report.as_ref().and_then(|r| r.run_id) != runs_before
    })
    .await;
    let report = s.last_report.unwrap();
    assert_eq!(report.mailboxes_seen, 1, "{report:?}");

    let after = writes().await;
    let written: Vec<&String> = after
        .iter()
        .filter(|(mailbox, n)| before.get(*mailbox) != Some(*n))
        .map(|(mailbox, _)| mailbox)
        .collect();
    assert_eq!(written, vec!["alice"]);
    let state = |id: &str| {
        lab.state
            .org()
            .mailboxes
            .iter()
            .flat_map(|m| &m.devices)
            .find(|d| d.device.device_id == id)
            .map(|d| d.device.device_access_state)
    };
    assert_eq!(state("ALICEIPHONE0001"), Some(DeviceAccessState::Blocked));
    assert_eq!(state("CAROLIPHONE0003"), Some(DeviceAccessState::Allowed));
    let store = Store::open(c.config_dir().join("state.db")).unwrap();
    let decisions = store.decisions_for_user("alice").unwrap();
    let alice = decisions
        .iter()
        .find(|d| d.device_id == "ALICEIPHONE0001")
        .unwrap();
    assert_eq!(alice.decision.desired, DesiredAccess::Block);
    assert_eq!(alice.run_id.map(|r| r.0), report.run_id);
    assert_eq!(terminate(&mut child).code(), Some(0));
    lab.shutdown().await;
}
