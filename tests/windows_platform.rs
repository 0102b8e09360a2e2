#![cfg(windows)]
//! The Windows-only code paths, on Windows itself (or under Wine in CI: `.ci/windows.sh tests`):
//!
//! * secrets in the Windows Credential Manager through [`exchange_connector::secrets`], with Local
//!   persistence and a readable target name;
//! * the control channel over a named pipe through [`exchange_connector::service::channel`]: requests,
//!   replies and the progress stream, with a fake worker;
//! * the size limit of a credential blob with a real connector certificate, refused before anything
//!   of the set is stored; the certificate sealed with DPAPI in the service's vault instead;
//! * DACLs: the data folder's protected DACL set and read back, a folder others can write refused,
//!   owner-only files;
//! * the pipe client refusing a server that runs under an account it does not accept;
//! * the Event Log source;
//! * the Windows service of an instance through `exchange-connector-service service
//!   install|start|status|stop|uninstall` (skipped, saying so, while that binary has no `service`
//!   command).
//!
//! Build: `cargo test --target x86_64-pc-windows-gnu --no-run --test windows_platform`.

use exchange_connector::secret::Secret;
use exchange_connector::secrets::{self, KeyringStore, SecretStore, StoreKind};
use exchange_connector::service::channel::{
    AcceptedServers, ChannelAddress, ChannelClient, ChannelError, ChannelHandler, ProgressEvent,
    Reply, Request, RunPhase, SyncKind, serve,
};
use exchange_connector::service::messages::{Connection, StatusReply};
use exchange_connector::win::{acl, sid};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// A name no other test run uses at the same time.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}

#[test]
fn credential_manager_round_trip() {
    let store = KeyringStore::native().unwrap();
    assert_eq!(store.describe().english, "Windows Credential Manager");
    let instance = unique("wintest");
    let key = "ExchangePassword";
    assert!(store.get(&instance, key).unwrap().is_none());

    store
        .set(&instance, key, &Secret::new("first p@ss wörd"))
        .unwrap();
    assert_eq!(
        store.get(&instance, key).unwrap().unwrap().expose(),
        "first p@ss wörd"
    );
    // Replacing keeps one entry with the new value.
    store
        .set(&instance, key, &Secret::new("second password"))
        .unwrap();
    assert_eq!(
        store.get(&instance, key).unwrap().unwrap().expose(),
        "second password"
    );
    // Another instance does not see it.
    let other = unique("wintestother");
    assert!(store.get(&other, key).unwrap().is_none());

    // The entry is stored Local (not roaming) under a readable target name.
    let target = format!("{}/{instance}/{key}", secrets::SERVICE_PREFIX);
    assert_eq!(
        credential_persistence(&target),
        Some(windows_sys::Win32::Security::Credentials::CRED_PERSIST_LOCAL_MACHINE)
    );

    store.delete(&instance, key).unwrap();
    assert!(store.get(&instance, key).unwrap().is_none());
    // Deleting a missing secret is not an error.
    store.delete(&instance, key).unwrap();
}

#[test]
fn the_platform_default_store_is_the_credential_manager() {
    let dir = tempfile::tempdir().unwrap();
    let store = secrets::open(StoreKind::Auto, dir.path()).unwrap();
    assert!(
        store
            .describe()
            .english
            .starts_with("Windows Credential Manager"),
        "{}",
        store.describe()
    );
    // The file store stays available on request.
    let file = secrets::open(StoreKind::File, dir.path()).unwrap();
    let instance = unique("wintestfile");
    file.set(&instance, "ClientSecret", &Secret::new("s3cret"))
        .unwrap();
    assert_eq!(
        file.get(&instance, "ClientSecret")
            .unwrap()
            .unwrap()
            .expose(),
        "s3cret"
    );
}

/// The persistence of a generic credential, read back with `CredReadW` (windows-sys is a dependency of
/// the library on Windows; its `Win32_Security_Credentials` feature comes with the keyring store).
fn credential_persistence(target: &str) -> Option<u32> {
    use windows_sys::Win32::Security::Credentials::{
        CRED_TYPE_GENERIC, CREDENTIALW, CredFree, CredReadW,
    };
    let wide: Vec<u16> = target.encode_utf16().chain(std::iter::once(0)).collect();
    let mut credential: *mut CREDENTIALW = std::ptr::null_mut();
    // SAFETY: `wide` is NUL-terminated; the out pointer is valid; the result is freed below.
    let ok = unsafe { CredReadW(wide.as_ptr(), CRED_TYPE_GENERIC, 0, &mut credential) };
    if ok == 0 || credential.is_null() {
        return None;
    }
    // SAFETY: CredReadW succeeded, so `credential` points to a valid CREDENTIALW until CredFree.
    let persist = unsafe { (*credential).Persist };
    // SAFETY: allocated by CredReadW.
    unsafe { CredFree(credential as *const _) };
    Some(persist)
}

/// A worker stand-in: answers status, starts "syncs" that emit one progress event, records the keys
/// of stored secrets.
struct FakeWorker {
    events: broadcast::Sender<ProgressEvent>,
    stored: Mutex<Vec<String>>,
}

impl ChannelHandler for FakeWorker {
    async fn handle(&self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::Status(Box::new(StatusReply {
                connection: Connection::Connected,
                instance: "windows".into(),
                ..StatusReply::default()
            })),
            Request::Sync { kind, .. } => {
                let _ = self.events.send(ProgressEvent {
                    run_id: Some(7),
                    kind,
                    phase: RunPhase::Reading,
                    done: 1,
                    total: Some(2),
                    message: "reading Exchange".into(),
                });
                Reply::Accepted {
                    message: format!("{kind:?} sync started").into(),
                }
            }
            Request::StoreSecrets { secrets } => {
                self.stored.lock().unwrap().extend(secrets.keys().cloned());
                Reply::Accepted {
                    message: format!("{} secrets stored", secrets.len()).into(),
                }
            }
            other => Reply::Error {
                message: format!("not supported here: {other:?}").into(),
            },
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.events.subscribe()
    }
}

/// The test process serves its own pipes: accept its account (and the service's, for the installed
/// service test).
fn accept_own_account(address: &ChannelAddress) -> AcceptedServers {
    let mut sids = AcceptedServers::for_address(address).sids().to_vec();
    sids.push(sid::current_user_sid().unwrap());
    AcceptedServers::only(sids)
}

/// A [`FakeWorker`] serving `address`: the handler, the stop switch and the server task.
#[allow(clippy::type_complexity)]
fn serve_fake_worker(
    address: &ChannelAddress,
) -> (
    Arc<FakeWorker>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), ChannelError>>,
) {
    let (events, _) = broadcast::channel(16);
    let handler = Arc::new(FakeWorker {
        events,
        stored: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn({
        let address = address.clone();
        let handler = handler.clone();
        async move { serve(&address, handler, stopped).await }
    });
    (handler, stop, server)
}

async fn connect(address: &ChannelAddress) -> ChannelClient {
    let deadline = Instant::now() + Duration::from_secs(20);
    let accepted = accept_own_account(address);
    loop {
        match ChannelClient::connect_to(address, &accepted).await {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {}: {e}", address.0),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_pipe_channel_round_trip() {
    let instance = unique("wintest");
    let address = ChannelAddress::for_instance(&instance);
    assert_eq!(address.0, format!(r"\\.\pipe\ExchangeConnector-{instance}"));
    assert_eq!(
        exchange_connector::service::channel::PIPE_SDDL,
        "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"
    );

    // Nobody listens yet: the client says the worker is not running.
    let refused = ChannelClient::connect(&address).await.unwrap_err();
    assert!(
        refused.to_string().contains("not running"),
        "unexpected error: {refused}"
    );

    let (handler, stop, server) = serve_fake_worker(&address);

    let mut client = connect(&address).await;
    match client.request(&Request::Status).await.unwrap() {
        Reply::Status(status) => assert_eq!(status.connection, Connection::Connected),
        other => panic!("unexpected reply {other:?}"),
    }

    // A second client subscribes to progress; the first starts a sync.
    let mut watcher = connect(&address).await;
    let subscribe = tokio::spawn(async move {
        let first = watcher.request(&Request::Subscribe).await;
        (watcher, first)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = client
        .request(&Request::Sync {
            kind: SyncKind::Full,
            dry_run: true,
        })
        .await
        .unwrap();
    assert!(matches!(accepted, Reply::Accepted { .. }), "{accepted:?}");
    let (_watcher, progress) = tokio::time::timeout(Duration::from_secs(20), subscribe)
        .await
        .unwrap()
        .unwrap();
    match progress.unwrap() {
        Reply::Progress(event) => {
            assert_eq!(event.kind, SyncKind::Full);
            assert_eq!(event.phase, RunPhase::Reading);
            assert_eq!(event.run_id, Some(7));
        }
        other => panic!("unexpected reply {other:?}"),
    }

    // Secrets travel to the worker; only their keys are recorded here.
    let mut secrets = BTreeMap::new();
    secrets.insert("ExchangePassword".to_string(), Secret::new("pipe password"));
    let stored = client
        .request(&Request::StoreSecrets { secrets })
        .await
        .unwrap();
    assert!(matches!(stored, Reply::Accepted { .. }), "{stored:?}");
    assert_eq!(
        handler.stored.lock().unwrap().as_slice(),
        ["ExchangePassword"]
    );

    // A request the worker does not support gets an error reply, and the connection stays usable.
    assert!(matches!(
        client.request(&Request::CancelHeld).await.unwrap(),
        Reply::Error { .. }
    ));
    assert!(matches!(
        client.request(&Request::Status).await.unwrap(),
        Reply::Status(_)
    ));

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// The service binary beside this test executable (`target/<triple>/debug/`), else Cargo's path.
fn service_exe() -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|test| {
        Some(
            test.parent()?
                .parent()?
                .join("exchange-connector-service.exe"),
        )
    });
    match beside {
        Some(path) if path.exists() => path,
        _ => PathBuf::from(env!("CARGO_BIN_EXE_exchange-connector-service")),
    }
}

fn service_cmd(config_dir: &std::path::Path, instance: &str, args: &[&str]) -> Output {
    Command::new(service_exe())
        .arg("--instance")
        .arg(instance)
        .arg("--config-dir")
        .arg(config_dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn wait_for_state(config_dir: &std::path::Path, instance: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = service_cmd(config_dir, instance, &["service", "status"]);
        let said = text(&status);
        if status.status.success() && said.contains(wanted) {
            return said;
        }
        if Instant::now() > deadline {
            panic!("the service never reached {wanted}: {said}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Running under Wine (CI sets WINEPREFIX, which Wine passes into the Windows environment).
fn under_wine() -> bool {
    std::env::var_os("WINEPREFIX").is_some()
}

#[test]
fn service_install_start_stop_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let instance = unique("wintest");
    let help = service_cmd(dir.path(), &instance, &["service", "--help"]);
    if !help.status.success() {
        eprintln!(
            "skipped: exchange-connector-service has no `service` command in this build yet\n{}",
            text(&help)
        );
        return;
    }
    let name = format!("ExchangeConnector${instance}");

    let installed = service_cmd(dir.path(), &instance, &["service", "install"]);
    if under_wine() && text(&installed).contains("(os error 124)") {
        // Wine 8's ChangeServiceConfig2 has no SERVICE_CONFIG_DELAYED_AUTO_START_INFO (ERROR_INVALID_LEVEL):
        // the service exists, without delayed start and recovery actions. Go on with the rest.
        eprintln!(
            "note: Wine cannot set delayed start / recovery actions: {}",
            text(&installed)
        );
    } else {
        assert!(installed.status.success(), "install: {}", text(&installed));
        assert!(text(&installed).contains(&name), "{}", text(&installed));
    }
    wait_for_state(dir.path(), &instance, "Stopped");

    let started = service_cmd(dir.path(), &instance, &["service", "start"]);
    assert!(started.status.success(), "start: {}", text(&started));
    wait_for_state(dir.path(), &instance, "Running");
    // The running service answers on its control channel.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(async {
        let address = ChannelAddress::for_instance(&instance);
        let mut client = connect(&address).await;
        client.request(&Request::Status).await.unwrap()
    });
    assert!(matches!(reply, Reply::Status(_)), "{reply:?}");

    let stopped = service_cmd(dir.path(), &instance, &["service", "stop"]);
    assert!(stopped.status.success(), "stop: {}", text(&stopped));
    wait_for_state(dir.path(), &instance, "Stopped");

    let removed = service_cmd(dir.path(), &instance, &["service", "uninstall"]);
    assert!(removed.status.success(), "uninstall: {}", text(&removed));
    let gone = service_cmd(dir.path(), &instance, &["service", "status"]);
    assert!(
        !gone.status.success(),
        "the service is still there: {}",
        text(&gone)
    );
}

/// A connector certificate as the package carries it: a 2048-bit RSA PFX in base64 (~3.4 K
/// characters, ~6.8 KB as UTF-16).
fn real_size_certificate() -> (Secret, Secret) {
    use base64::Engine as _;
    let password = Secret::new("pfx-password-0123456789");
    let cert = exchange_connector::certificate::ClientCertificate::generate("wintest", 30).unwrap();
    let pfx = cert.to_pfx(&password).unwrap();
    assert!(
        pfx.len() > 2000,
        "a real PFX is ~2.5 KB, this one is {}",
        pfx.len()
    );
    (
        Secret::new(base64::engine::general_purpose::STANDARD.encode(pfx)),
        password,
    )
}

#[test]
fn credential_manager_refuses_a_full_size_certificate_before_storing_anything() {
    let store = KeyringStore::native().unwrap();
    let instance = unique("wintestbig");
    let (pfx, password) = real_size_certificate();
    let err = secrets::store_all(
        &store,
        &instance,
        &[
            ("CertificatePassword", &password),
            ("ClientCertificate", &pfx),
        ],
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, secrets::SecretError::TooLarge { limit: 2560, .. }),
        "{text}"
    );
    assert!(
        text.contains("ClientCertificate") && text.contains("nothing was stored"),
        "{text}"
    );
    // Not half-stored: the password before it was not saved either.
    assert!(
        store
            .get(&instance, "CertificatePassword")
            .unwrap()
            .is_none()
    );
    // A value at the limit still fits (1280 UTF-16 units = 2560 bytes), one more does not.
    let at_limit = Secret::new("a".repeat(1280));
    store.set(&instance, "ExchangePassword", &at_limit).unwrap();
    assert_eq!(
        store
            .get(&instance, "ExchangePassword")
            .unwrap()
            .unwrap()
            .expose(),
        at_limit.expose()
    );
    assert!(
        store
            .set(
                &instance,
                "ExchangePassword",
                &Secret::new("a".repeat(1281))
            )
            .is_err()
    );
    store.delete(&instance, "ExchangePassword").unwrap();
}

#[test]
fn the_service_vault_seals_the_certificate_with_dpapi() {
    let dir = tempfile::tempdir().unwrap();
    let vault = secrets::open(StoreKind::Auto, dir.path()).unwrap();
    let instance = unique("wintestvault");
    let (pfx, password) = real_size_certificate();
    secrets::store_all(
        vault.as_ref(),
        &instance,
        &[
            ("CertificatePassword", &password),
            ("ClientCertificate", &pfx),
        ],
    )
    .unwrap();
    assert_eq!(
        vault
            .get(&instance, "ClientCertificate")
            .unwrap()
            .unwrap()
            .expose(),
        pfx.expose()
    );
    assert_eq!(
        vault
            .get(&instance, "CertificatePassword")
            .unwrap()
            .unwrap()
            .expose(),
        password.expose()
    );
    // On disk: sealed (no base64 of the PFX in it), readable by its owner only.
    let file = dir
        .path()
        .join("secrets")
        .join(format!("{instance}.ClientCertificate.dpapi"));
    let sealed = std::fs::read(&file).unwrap();
    let head = &pfx.expose().as_bytes()[..64];
    assert!(
        !sealed.windows(head.len()).any(|w| w == head),
        "the PFX is sealed"
    );
    let me = sid::current_user_sid().unwrap();
    if sid::running_under_wine() {
        // Wine keeps no DACL (see data_folder_dacl_is_protected_and_loose_folders_are_refused).
        assert!(
            acl::others_who_can_write(&file, &[me, sid::SYSTEM.into()])
                .unwrap()
                .is_empty()
        );
    } else {
        assert_eq!(acl::dacl_sddl(&file).unwrap(), acl::owner_only_sddl(&me));
    }
    // A damaged blob is an error that names the file, never a wrong value.
    std::fs::write(&file, b"not a dpapi blob").unwrap();
    let err = vault
        .get(&instance, "ClientCertificate")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be decrypted"), "{err}");
    // Too large even for a sealed file: refused, nothing stored.
    let huge = Secret::new("A".repeat(exchange_connector::win::vault::MAX_SEALED_BYTES + 1));
    let other = unique("wintestvault2");
    assert!(
        secrets::store_all(
            vault.as_ref(),
            &other,
            &[
                ("CertificatePassword", &password),
                ("ClientCertificate", &huge)
            ],
        )
        .is_err()
    );
    assert!(vault.get(&other, "CertificatePassword").unwrap().is_none());
    vault.delete(&instance, "ClientCertificate").unwrap();
    vault.delete(&instance, "CertificatePassword").unwrap();
}

#[test]
fn data_folder_dacl_is_protected_and_loose_folders_are_refused() {
    use exchange_connector::file_rights;
    let wine = sid::running_under_wine();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ExchangeConnector");
    std::fs::create_dir(&folder).unwrap();
    // Loose: as %ProgramData% leaves it (Users may create files), and Everyone may write. Wine keeps
    // no DACL: it maps one onto the Unix mode and reads a descriptor back from the mode, so only
    // Everyone's write right survives there; Windows keeps both entries.
    acl::set_protected_dacl(
        &folder,
        "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;CI;0x116;;;BU)(A;OICI;FA;;;WD)",
    )
    .unwrap();
    let err =
        file_rights::check_not_writable_by_others(&folder, "ExchangeConnector", "policy.json")
            .unwrap_err()
            .to_string();
    assert!(err.contains("S-1-1-0") && err.contains("icacls"), "{err}");
    if !wine {
        assert!(err.contains("S-1-5-32-545"), "{err}");
    }

    file_rights::protect_data_folder(&folder, "ExchangeConnector").unwrap();
    let read_back = acl::dacl_sddl(&folder).unwrap();
    eprintln!("data folder DACL read back: {read_back}");
    assert!(!read_back.contains(";BU)"), "{read_back}");
    if !wine {
        assert!(read_back.starts_with("D:P"), "protected: {read_back}");
        assert!(
            read_back.contains(&sid::service_sid("ExchangeConnector")),
            "{read_back}"
        );
        assert!(!read_back.contains(";WD)"), "{read_back}");
    }
    // Nobody else may write any more (under Wine: Everyone's write bit is gone from the mode).
    file_rights::check_not_writable_by_others(&folder, "ExchangeConnector", "policy.json").unwrap();

    // Owner-only files (package, bundle, commands log).
    let package = folder.join("package.zip");
    drop(file_rights::create_owner_only(&package).unwrap());
    let me = sid::current_user_sid().unwrap();
    let read_back = acl::dacl_sddl(&package).unwrap();
    if wine {
        eprintln!("owner-only file read back under Wine: {read_back}");
        assert!(
            acl::others_who_can_write(&package, &[me, sid::SYSTEM.into()])
                .unwrap()
                .is_empty()
        );
    } else {
        assert_eq!(read_back, acl::owner_only_sddl(&me));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_served_by_another_account_gets_nothing() {
    let instance = unique("wintestimpostor");
    let address = ChannelAddress::for_instance(&instance);
    let (handler, stop, server) = serve_fake_worker(&address);
    connect(&address).await;
    // The impostor runs as this test's account; the client accepts SYSTEM only.
    let refused = ChannelClient::connect_to(
        &address,
        &AcceptedServers::only(vec![sid::SYSTEM.to_string()]),
    )
    .await
    .unwrap_err();
    let me = sid::current_user_sid().unwrap();
    match &refused {
        ChannelError::WrongServer { account, pid, .. } => {
            assert_eq!(account, &me);
            assert_eq!(*pid, std::process::id());
        }
        other => panic!("expected WrongServer, got {other}"),
    }
    assert!(
        refused.to_string().contains("nothing was sent"),
        "{refused}"
    );
    assert!(handler.stored.lock().unwrap().is_empty());
    // The service's SID for this instance is what a plain connect expects (and SYSTEM).
    assert_eq!(
        AcceptedServers::for_address(&address).sids(),
        [
            sid::service_sid(&format!("ExchangeConnector${instance}")),
            sid::SYSTEM.to_string()
        ]
    );
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
}

#[test]
fn event_log_source_accepts_errors_and_warnings() {
    use exchange_connector::logging::EventLevel;
    let source = exchange_connector::win::eventlog::EventSource::open("ExchangeConnector").unwrap();
    source
        .report(EventLevel::Error, 1200, "wintest: Exchange unreachable")
        .unwrap();
    source
        .report(EventLevel::Warning, 1101, "wintest: a warning")
        .unwrap();
}

#[test]
fn token_queries_answer() {
    let me = sid::current_identity().unwrap();
    assert!(me.user.starts_with("S-1-5-"), "{me:?}");
    eprintln!(
        "this test runs as {} (elevated: {:?}, Wine: {})",
        me.user,
        sid::is_elevated(),
        sid::running_under_wine()
    );
    let other = sid::process_identity(std::process::id()).unwrap();
    assert_eq!(other.user, me.user);
}
