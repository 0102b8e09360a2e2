//! The lab's Exchange surface over loopback HTTPS: the `pwsh` stand-in as a real child process
//! speaking the bridge protocol to a CAS's `/PowerShell/` endpoint (credentials, the shell quota,
//! CAS failure, idle expiry, large streamed listings), and REST `InvokeCommand` paging with absolute
//! nextLinks.

use crate::common;

use common::{TestLab, client, generated_lab, small_lab};
use exchange_connector::bridge_protocol::{Authentication, OpenFailureKind, Reply, Request};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::lab::tokens::{self, Resource};
use exchange_connector::model::exchange::ErrorRecord;
use exchange_connector::secret::Secret;
use serde_json::{Map, Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
}

/// The CAS's connection URI under its FQDN (the stand-in resolves lab names to loopback).
fn powershell_uri(lab: &TestLab, cas: usize) -> (String, String) {
    let endpoint = &lab.endpoints.cas_servers[cas];
    let port = endpoint.base_url.rsplit(':').next().unwrap();
    (
        format!("https://{}:{port}/PowerShell/", endpoint.fqdn),
        endpoint.fqdn.clone(),
    )
}

impl Bridge {
    fn spawn(lab: &TestLab) -> Bridge {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_exchange-connector-lab"))
            .args([
                "pwsh",
                "--ca-file",
                &lab.endpoints.ca_cert_pem,
                "-NoProfile",
                "-NonInteractive",
                "-File",
                "exchange-bridge.ps1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Bridge { child, stdin, out }
    }

    async fn send(&mut self, request: &Request) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{}\n", request.to_line()).as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn reply(&mut self) -> Reply {
        let line = tokio::time::timeout(Duration::from_secs(60), self.out.next_line())
            .await
            .expect("bridge answers in time")
            .unwrap()
            .expect("bridge output still open");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a protocol line ({e}): {line}"))
    }

    async fn open(&mut self, uri: &str, user: &str, password: &str) -> Reply {
        self.send(&Request::Open {
            connection_uri: uri.to_string(),
            authentication: Authentication::Basic,
            user_name: user.to_string(),
            password: Secret::new(password),
            proxy: None,
            open_timeout_seconds: Some(20),
        })
        .await;
        self.reply().await
    }

    /// Runs one invoke: (records, errors, ok, count, session_broken).
    async fn invoke(
        &mut self,
        id: u64,
        cmdlet: &str,
        parameters: Value,
    ) -> (Vec<Value>, Vec<ErrorRecord>, bool, u64, bool) {
        let parameters: Map<String, Value> = match parameters {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.send(&Request::Invoke {
            id,
            cmdlet: cmdlet.to_string(),
            parameters,
        })
        .await;
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        loop {
            match self.reply().await {
                Reply::Record { id: rid, record } => {
                    assert_eq!(rid, id);
                    records.push(record);
                }
                Reply::Error { id: rid, error } => {
                    assert_eq!(rid, id);
                    errors.push(error);
                }
                Reply::End {
                    id: rid,
                    ok,
                    count,
                    session_broken,
                } => {
                    assert_eq!(rid, id);
                    return (records, errors, ok, count, session_broken);
                }
                other => panic!("unexpected reply {other:?}"),
            }
        }
    }

    /// Closes stdin and waits: (exit code, everything written to stdout after that, stderr).
    async fn finish(mut self) -> (i32, String, String) {
        drop(self.stdin.take());
        let mut rest = String::new();
        while let Ok(Some(line)) = self.out.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).await.unwrap();
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        (status.code().unwrap_or(-1), rest, stderr)
    }
}

fn service(lab: &TestLab) -> (String, String) {
    (
        lab.endpoints.service_account.user.clone(),
        lab.endpoints.service_account.password.clone(),
    )
}

fn shells(lab: &TestLab) -> usize {
    lab.state.shells.lock().unwrap().len()
}

#[tokio::test]
async fn stand_in_runs_cmdlets_and_closes_its_session() {
    let lab = small_lab().await;
    let (uri, fqdn) = powershell_uri(&lab, 0);
    let (user, password) = service(&lab);
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri, &user, &password).await {
        Reply::Opened {
            server,
            runspace_id,
            ..
        } => {
            assert_eq!(server, fqdn);
            assert!(lab.state.shells.lock().unwrap().contains_key(&runspace_id));
        }
        other => panic!("not opened: {other:?}"),
    }
    let (records, errors, ok, count, broken) = bridge
        .invoke(1, "Get-MobileDevice", json!({"ResultSize": "Unlimited"}))
        .await;
    assert!(ok && !broken && errors.is_empty());
    assert_eq!((records.len(), count), (9, 9));
    assert!(
        records
            .iter()
            .all(|r| r["DeviceAccessState"].is_string() && r["Identity"].is_string())
    );

    let (_, errors, ok, count, _) = bridge
        .invoke(
            2,
            "Set-CASMailbox",
            json!({"Identity": "dave", "ActiveSyncBlockedDeviceIDs": {"Add": ["DAVESAMSUNG0004"]}}),
        )
        .await;
    assert!(ok && errors.is_empty() && count == 0);
    let (records, _, _, _, _) = bridge
        .invoke(3, "Get-MobileDevice", json!({"Mailbox": "dave"}))
        .await;
    assert_eq!(records[0]["DeviceAccessState"], "Blocked");

    // A cmdlet error ends the invoke but not the session.
    let (records, errors, ok, _, broken) = bridge
        .invoke(4, "Get-CASMailbox", json!({"Identity": "nobody"}))
        .await;
    assert!(records.is_empty() && !ok && !broken);
    assert!(
        errors[0]
            .exception
            .message
            .starts_with("The operation couldn't be performed because object 'nobody'")
    );
    assert!(
        errors[0]
            .fully_qualified_error_id
            .starts_with("[Server=CAS01,")
    );
    let (_, errors, ok, _, _) = bridge.invoke(5, "Get-Bogus", Value::Null).await;
    assert!(!ok);
    assert_eq!(errors[0].category_info.category, "ObjectNotFound");
    let (records, _, ok, _, _) = bridge
        .invoke(6, "Get-ActiveSyncOrganizationSettings", Value::Null)
        .await;
    assert!(ok);
    assert_eq!(records[0]["DefaultAccessLevel"], "Allow");

    bridge.send(&Request::Close).await;
    let (code, rest, stderr) = bridge.finish().await;
    assert_eq!(code, 0);
    assert!(rest.is_empty(), "{rest}");
    assert!(!stderr.contains(&password));
    assert_eq!(shells(&lab), 0, "the session is removed on close");
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_password_fails_to_open_with_access_denied() {
    let lab = small_lab().await;
    let (uri, fqdn) = powershell_uri(&lab, 1);
    let (user, _) = service(&lab);
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri, &user, "Wrong-Password-9").await {
        Reply::OpenFailed { error, kind } => {
            assert_eq!(kind, OpenFailureKind::Authentication);
            assert!(
                error
                    .exception
                    .message
                    .starts_with(&format!("Connecting to remote server {fqdn} failed with the following error message : Access is denied.")),
                "{}",
                error.exception.message
            );
        }
        other => panic!("opened with a wrong password: {other:?}"),
    }
    let (code, rest, stderr) = bridge.finish().await;
    assert_eq!(code, 2);
    assert!(rest.is_empty());
    assert!(!stderr.contains("Wrong-Password-9"));
    assert_eq!(shells(&lab), 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn the_nineteenth_shell_is_refused() {
    let lab = small_lab().await;
    let (user, password) = service(&lab);
    let http = client(&lab.endpoints.ca_cert_pem);
    // 18 sessions spread over two CAS: the quota is per account, not per server.
    let mut ids = Vec::new();
    for n in 0..18 {
        let cas = &lab.endpoints.cas_servers[n % 2];
        let response = http
            .post(&cas.powershell_url)
            .basic_auth(&user, Some(&password))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let opened: Value = response.json().await.unwrap();
        ids.push((
            cas.base_url.clone(),
            opened["runspaceId"].as_str().unwrap().to_string(),
        ));
    }
    let (uri, fqdn) = powershell_uri(&lab, 2);
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri, &user, &password).await {
        Reply::OpenFailed { error, kind } => {
            assert_eq!(kind, OpenFailureKind::Throttled);
            assert!(error.exception.message.starts_with(&format!(
                "Connecting to remote server {fqdn} failed with the following error message : The WS-Management service cannot process the request. This user is allowed a maximum of 18 concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user."
            )), "{}", error.exception.message);
        }
        other => panic!("a 19th shell opened: {other:?}"),
    }
    assert_eq!(bridge.finish().await.0, 2);

    // Another account has its own quota.
    let helpdesk = http
        .post(&lab.endpoints.cas_servers[0].powershell_url)
        .basic_auth("helpdesk@contoso.lab", Some("Lab-Helpdesk-Pass-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(helpdesk.status(), 200);

    // Closing one frees a slot.
    let (base, id) = &ids[0];
    let closed = http
        .delete(format!("{base}/PowerShell/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 204);
    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    assert_eq!(bridge.finish().await.0, 0);

    // The quota follows the fault setting, and the message quotes it.
    lab.state.faults().max_concurrent_shells = 3;
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri, &user, &password).await {
        Reply::OpenFailed { error, .. } => assert!(
            error
                .exception
                .message
                .contains("a maximum of 3 concurrent shells")
        ),
        other => panic!("{other:?}"),
    }
    bridge.finish().await;
    lab.shutdown().await;
}

#[tokio::test]
async fn stopping_the_cas_breaks_the_session() {
    let lab = small_lab().await;
    let (uri, _) = powershell_uri(&lab, 0);
    let (user, password) = service(&lab);
    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    let (records, _, ok, _, _) = bridge
        .invoke(1, "Get-MobileDevice", json!({"Mailbox": "grace"}))
        .await;
    assert!(ok && records.len() == 2);

    lab.stop_cas("CAS01").await.unwrap();
    let (records, errors, ok, _, broken) = bridge
        .invoke(2, "Get-MobileDevice", json!({"Mailbox": "grace"}))
        .await;
    assert!(records.is_empty() && !ok && broken);
    assert_eq!(
        errors[0].exception.type_name,
        "System.Management.Automation.Remoting.PSRemotingTransportException"
    );
    // Later invokes on the broken bridge fail at once; the client recycles it.
    let (_, _, ok, _, broken) = bridge
        .invoke(3, "Get-ActiveSyncOrganizationSettings", Value::Null)
        .await;
    assert!(!ok && broken);
    let (code, _, _) = bridge.finish().await;
    assert_eq!(code, 0);

    // Another CAS serves a new bridge meanwhile.
    let (uri2, fqdn2) = powershell_uri(&lab, 1);
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri2, &user, &password).await {
        Reply::Opened { server, .. } => assert_eq!(server, fqdn2),
        other => panic!("{other:?}"),
    }
    let (_, _, ok, _, _) = bridge.invoke(1, "Get-ExchangeServer", Value::Null).await;
    assert!(ok);
    bridge.finish().await;

    // And with CAS01 down, opening there fails as a transport error.
    let mut bridge = Bridge::spawn(&lab);
    match bridge.open(&uri, &user, &password).await {
        Reply::OpenFailed { kind, .. } => assert_eq!(kind, OpenFailureKind::Transport),
        other => panic!("{other:?}"),
    }
    assert_eq!(bridge.finish().await.0, 2);
    lab.start_cas("CAS01").await.unwrap();
    lab.shutdown().await;
}

#[tokio::test]
async fn idle_sessions_expire_and_storms_break_the_call() {
    let lab = small_lab().await;
    let (uri, _) = powershell_uri(&lab, 0);
    let (user, password) = service(&lab);

    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    lab.state.storms_push_for_test();
    let (_, errors, ok, _, broken) = bridge
        .invoke(1, "Get-ActiveSyncOrganizationSettings", Value::Null)
        .await;
    assert!(!ok && broken && !errors.is_empty());
    bridge.finish().await;

    lab.state.faults().shell_idle_timeout_seconds = 1;
    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, errors, ok, _, broken) = bridge
        .invoke(1, "Get-ActiveSyncOrganizationSettings", Value::Null)
        .await;
    assert!(!ok && broken);
    assert!(
        errors[0].exception.message.contains("Broken"),
        "{}",
        errors[0].exception.message
    );
    bridge.finish().await;
    assert_eq!(shells(&lab), 0);
    lab.shutdown().await;
}

trait StormExt {
    fn storms_push_for_test(&self);
}

impl StormExt for exchange_connector::lab::LabState {
    fn storms_push_for_test(&self) {
        self.faults().storms.push(Storm {
            surface: Surface::PowerShell,
            status: 503,
            remaining: 1,
            retry_after_seconds: 0,
        });
    }
}

#[tokio::test]
async fn large_listings_stream_through_the_stand_in() {
    let lab = generated_lab(2000, 5000, 11).await;
    let (uri, _) = powershell_uri(&lab, 0);
    let (user, password) = service(&lab);
    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    let before = lab
        .state
        .counters
        .exchange_objects
        .load(std::sync::atomic::Ordering::Relaxed);
    let (records, errors, ok, count, _) = bridge
        .invoke(1, "Get-MobileDevice", json!({"ResultSize": "Unlimited"}))
        .await;
    assert!(ok && errors.is_empty());
    assert_eq!((records.len(), count), (5000, 5000));
    let after = lab
        .state
        .counters
        .exchange_objects
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 5000);
    // Default ResultSize: 1000 records (the warning goes to stderr, not the protocol).
    let (records, _, ok, _, _) = bridge.invoke(2, "Get-MobileDevice", Value::Null).await;
    assert!(ok);
    assert_eq!(records.len(), 1000);
    let (code, _, stderr) = bridge.finish().await;
    assert_eq!(code, 0);
    assert!(
        stderr.contains("WARNING: By default, only the first 1000 items are returned."),
        "{stderr}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn rest_pages_over_https_with_absolute_next_links() {
    let lab = small_lab().await;
    let (token, _) =
        tokens::mint(&lab.state, &lab.endpoints.client_id, Resource::Exchange).unwrap();
    let http = client(&lab.endpoints.ca_cert_pem);
    let body = json!({"CmdletInput": {"CmdletName": "Get-MobileDevice", "Parameters": {"ResultSize": "Unlimited"}}});
    let mut url = format!(
        "{}/adminapi/beta/{}/InvokeCommand",
        lab.endpoints.exchange_rest_base, lab.endpoints.tenant_id
    );
    let mut devices = Vec::new();
    let mut pages = 0;
    loop {
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .header("Prefer", "odata.maxpagesize=4")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        devices.extend(page["value"].as_array().unwrap().iter().cloned());
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&lab.endpoints.exchange_rest_base));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!((pages, devices.len()), (3, 9));

    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    lab.shutdown().await;
}

/// 50,000 partnerships through the stand-in and through REST pages. Slow in debug builds: run with
/// `cargo test --test integration -- --ignored lab_pwsh`.
#[tokio::test]
#[ignore]
async fn fifty_thousand_devices_stream_and_page() {
    let lab = generated_lab(20_000, 50_000, 42).await;
    let (uri, _) = powershell_uri(&lab, 0);
    let (user, password) = service(&lab);
    let mut bridge = Bridge::spawn(&lab);
    assert!(matches!(
        bridge.open(&uri, &user, &password).await,
        Reply::Opened { .. }
    ));
    let t = std::time::Instant::now();
    let (records, _, ok, count, _) = bridge
        .invoke(1, "Get-MobileDevice", json!({"ResultSize": "Unlimited"}))
        .await;
    eprintln!("stand-in: 50,000 devices in {:?}", t.elapsed());
    assert!(ok);
    assert_eq!((records.len(), count), (50_000, 50_000));
    drop(records);
    bridge.finish().await;

    let (token, _) =
        tokens::mint(&lab.state, &lab.endpoints.client_id, Resource::Exchange).unwrap();
    let http = client(&lab.endpoints.ca_cert_pem);
    let body = json!({"CmdletInput": {"CmdletName": "Get-MobileDevice", "Parameters": {"ResultSize": "Unlimited"}}});
    let mut url = format!(
        "{}/adminapi/beta/{}/InvokeCommand",
        lab.endpoints.exchange_rest_base, lab.endpoints.tenant_id
    );
    let t = std::time::Instant::now();
    let mut total = 0;
    loop {
        let page: Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        total += page["value"].as_array().unwrap().len();
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    eprintln!("REST: 50,000 devices in {:?}", t.elapsed());
    assert_eq!(total, 50_000);
    lab.shutdown().await;
}
