//! The real `exchange-connector-service` binary: `configure` (answers file and lab endpoints),
//! `config show`, `package create`, with a temporary configuration folder and the file secret store.
//! Every run is checked for leaked secrets (output and configuration file).

use exchange_connector::certificate::ClientCertificate;
use exchange_connector::config::{CONFIG_FILE, Config};
use exchange_connector::package::ConnectorPackage;
use exchange_connector::secret::Secret;
use exchange_connector::secrets::{FileStore, SecretStore};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "66666666-7777-8888-9999-000000000000";

/// A temporary configuration folder and a way to run the binary against it.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn store(&self) -> FileStore {
        FileStore::new(self.config_dir().join("secrets"))
    }

    /// Runs the binary hermetically: no proxy or connector variables from the environment.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_exchange-connector-service"));
        cmd.arg("--config-dir")
            .arg(self.config_dir())
            .args(["--secret-store", "file"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "EXCHANGE_CONNECTOR_CONFIG_DIR",
            "EXCHANGE_CONNECTOR_INSTANCE",
            "EXCHANGE_CONNECTOR_SECRET_STORE",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                // The program may exit before reading (e.g. it refuses its arguments): a broken pipe
                // here is not the test's business.
                let _ = input.write_all(text.as_bytes());
            }
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text(&out)
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should have failed");
        text(&out)
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_dir().join(CONFIG_FILE)).unwrap()
    }

    fn show(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["config", "show", "--json"], None)).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(haystack: &str, secrets: &[&str], what: &str) {
    for s in secrets {
        assert!(!haystack.contains(s), "{what} contains the secret {s:?}");
    }
}

fn answers(extra: &str) -> String {
    format!(
        "# Exchange Connector answers\n\
         ExchangeServer = cas01.contoso.com\n\
         ExchangeUser = CONTOSO\\svc-eas\n\
         TenantId = {TENANT}\n\
         ClientId = {CLIENT}\n\
         {extra}"
    )
}

#[test]
fn settings_doc_is_generated_from_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/settings.md");
    let generated = exchange_connector::settings::settings_doc();
    if std::env::var_os("UPDATE_SETTINGS_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/settings.md differs from the registry: run `UPDATE_SETTINGS_DOC=1 cargo test --test integration settings_doc`"
    );
    // The binary prints the same text.
    let cli = Cli::new();
    assert_eq!(cli.ok(&["settings-doc"], None), generated);
    for key in [
        "IsCasFailoverEnabled",
        "EnableParallelCommandSupport",
        "ExchangeWebServiceURL",
    ] {
        assert!(generated.contains(&format!("`{key}`")));
    }
}

#[test]
fn configure_from_answers_writes_the_file_and_stores_the_secrets() {
    let cli = Cli::new();
    let secrets = ["Exch-Pa55!word", "Notify-S3cret", "Proxy-Pa55"];
    let path = cli.file(
        "answers.txt",
        &answers(
            "NotificationMailbox = notify@contoso.com\n\
             NotificationLanguage = FR\n\
             ExchangeWebServiceURL = https://mail.contoso.com/EWS/Exchange.asmx\n\
             EnableParallelCommandSupport = yes\n\
             ProxyEnabled = true\n\
             ProxyHost = PROXY.contoso.com:3128\n\
             ProxyUser = CONTOSO\\proxy-user\n\
             ExchangePassword = Exch-Pa55!word\n\
             NotificationPassword = \"Notify-S3cret\"\n",
        ),
    );
    let out = cli.ok(
        &[
            "configure",
            "--answers",
            path.to_str().unwrap(),
            "--secrets-stdin",
        ],
        Some("ProxyPassword=Proxy-Pa55\n"),
    );
    assert_no_secret(&out, &secrets, "configure's output");
    assert!(out.contains("contains secrets"), "{out}");
    assert!(out.contains("Delete the file"), "{out}");
    assert!(
        out.contains("ClientCertificate"),
        "warns about the missing app credential: {out}"
    );

    // The file keeps the documented elements and no secret.
    let xml = cli.config_text();
    assert_no_secret(&xml, &secrets, "the configuration file");
    for element in [
        "<IsCasFailoverEnabled>true</IsCasFailoverEnabled>",
        "<EnableParallelCommandSupport>true</EnableParallelCommandSupport>",
        "<ExchangeWebServiceURL>https://mail.contoso.com/EWS/Exchange.asmx</ExchangeWebServiceURL>",
        "<NotificationLanguage>fr</NotificationLanguage>",
        "<ProxyHost>http://proxy.contoso.com:3128</ProxyHost>",
        "<ExchangeUser>CONTOSO\\svc-eas</ExchangeUser>",
    ] {
        assert!(xml.contains(element), "{element} missing from\n{xml}");
    }
    for key in exchange_connector::settings::secret_keys() {
        assert!(!xml.contains(&format!("<{key}>")), "{key} in the file");
    }

    // The secrets are in the store, under the default instance.
    let store = cli.store();
    let get = |k: &str| {
        store
            .get("default", k)
            .unwrap()
            .map(|s| s.expose().to_string())
    };
    assert_eq!(get("ExchangePassword").as_deref(), Some("Exch-Pa55!word"));
    assert_eq!(
        get("NotificationPassword").as_deref(),
        Some("Notify-S3cret")
    );
    assert_eq!(get("ProxyPassword").as_deref(), Some("Proxy-Pa55"));
    assert_eq!(get("ClientSecret"), None);

    // config show: values, and secrets only as stored / missing.
    let shown = cli.show();
    let s = &shown["settings"];
    assert_eq!(s["ExchangeServer"], "cas01.contoso.com");
    assert_eq!(s["ExchangePassword"], "stored");
    assert_eq!(s["ClientSecret"], "missing");
    assert_no_secret(&shown.to_string(), &secrets, "config show");

    // The library reads what the binary wrote, and builds a client with the proxy and its password.
    let config = Config::load(&cli.config_dir()).unwrap().config;
    assert_eq!(
        config.proxy_spec().unwrap().unwrap().url(),
        "http://proxy.contoso.com:3128"
    );
    exchange_connector::connection::http_client(&config, &store, "default")
        .unwrap()
        .build()
        .unwrap();
}

#[test]
fn json_answers_are_accepted() {
    let cli = Cli::new();
    let path = cli.file(
        "answers.json",
        &format!(
            "{{\n  \"ExchangeServer\": \"cas01.contoso.com\",\n  \"ExchangeUser\": \"svc-eas@contoso.com\",\n  \"TenantId\": \"{TENANT}\",\n  \"ClientId\": \"{CLIENT}\",\n  \"ProxyEnabled\": true,\n  \"ProxyHost\": \"[::1]\",\n  \"ProxyPort\": 8080,\n  \"ClientSecret\": \"app-secret-value\"\n}}\n"
        ),
    );
    let out = cli.ok(&["configure", "--answers", path.to_str().unwrap()], None);
    assert_no_secret(&out, &["app-secret-value"], "output");
    let config = Config::load(&cli.config_dir()).unwrap().config;
    assert_eq!(
        config.proxy_spec().unwrap().unwrap().url(),
        "http://[::1]:8080"
    );
    assert_no_secret(
        &cli.config_text(),
        &["app-secret-value"],
        "the configuration file",
    );
}

#[test]
fn invalid_answers_report_every_problem_and_write_nothing() {
    let cli = Cli::new();
    let path = cli.file(
        "answers.txt",
        "ExchangeServer = https://cas01.contoso.com/\n\
         ExchangeUser = admin\n\
         ProxyPort = 70000\n\
         ProxyPrt = 8080\n\
         NotificationMailbox = notify\n\
         FullSyncTime = 25:00\n\
         ExchangeServerType = Cloud\n\
         TenantId = not-a-guid\n\
         this line has no equals sign\n",
    );
    let err = cli.fails(&["configure", "--answers", path.to_str().unwrap()], None);
    // A line without '=' is reported before anything else is looked at.
    assert!(err.contains("line 9: expected Key=value"), "{err}");

    std::fs::write(
        &path,
        "ExchangeServer = https://cas01.contoso.com/\n\
         ExchangeUser = admin\n\
         ProxyPort = 70000\n\
         ProxyPrt = 8080\n\
         NotificationMailbox = notify\n\
         FullSyncTime = 25:00\n\
         ExchangeServerType = Cloud\n\
         TenantId = not-a-guid\n\
         ExchangePassword = Leaky-Secret\n\
         ProxyEnabled = true\n\
         ProxyHost = proxy.contoso.com\n",
    )
    .unwrap();
    let err = cli.fails(&["configure", "--answers", path.to_str().unwrap()], None);
    for expected in [
        "line 1: ExchangeServer: 'https://cas01.contoso.com/' is a URL; give only the server's name",
        "line 2: ExchangeUser: 'admin' must be DOMAIN\\user (for example CONTOSO\\svc-eas) or a UPN",
        "line 3: ProxyPort: '70000' is not a port; use a number from 1 to 65535",
        "line 4: ProxyPrt: is not a setting; did you mean ProxyPort?",
        "line 5: NotificationMailbox: 'notify' is not a mail address",
        "line 6: FullSyncTime: '25:00' is not a time of day; use HH:MM",
        "line 7: ExchangeServerType: 'Cloud' is not one of OnPremises, Hosted",
        "line 8: TenantId: 'not-a-guid' is not a GUID",
        "ClientId: is required",
        "nothing was written",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
    assert_no_secret(&err, &["Leaky-Secret"], "the error output");
    assert!(!cli.config_dir().join(CONFIG_FILE).exists());
    assert!(
        !cli.config_dir().join("secrets").exists(),
        "no secret stored on failure"
    );

    // A proxy without any port is caught where the two settings meet.
    std::fs::write(
        &path,
        answers("ProxyEnabled = true\nProxyHost = proxy.contoso.com\n"),
    )
    .unwrap();
    let err = cli.fails(&["configure", "--answers", path.to_str().unwrap()], None);
    assert!(
        err.contains("line 7: ProxyHost: 'proxy.contoso.com' names no port; add :PORT to ProxyHost or set ProxyPort"),
        "{err}"
    );
    let not_pem = cli.file("ca.txt", "not a certificate");
    std::fs::write(
        &path,
        answers(&format!("TrustedCaFile = {}\n", not_pem.display())),
    )
    .unwrap();
    let err = cli.fails(&["configure", "--answers", path.to_str().unwrap()], None);
    assert!(
        err.contains("line 6: TrustedCaFile: the trusted CA file"),
        "{err}"
    );
    assert!(err.contains("contains no PEM certificate"), "{err}");
    std::fs::write(&path, answers("ProxyEnabled = true\n")).unwrap();
    let err = cli.fails(&["configure", "--answers", path.to_str().unwrap()], None);
    assert!(
        err.contains("ProxyHost: ProxyEnabled is true but ProxyHost is empty"),
        "{err}"
    );
}

#[test]
fn a_second_answers_file_updates_and_hand_edits_survive() {
    let cli = Cli::new();
    let first = cli.file("a.txt", &answers("QuickSyncIntervalMinutes = 5\n"));
    cli.ok(&["configure", "--answers", first.to_str().unwrap()], None);
    // An admin adds an element by hand (from a newer version, or a typo): the service must still start.
    let xml = cli.config_text().replace(
        "</OnPremisesExchangeConnectorServiceConfiguration>",
        "  <SomeFutureSetting>42</SomeFutureSetting>\n</OnPremisesExchangeConnectorServiceConfiguration>",
    );
    std::fs::write(cli.config_dir().join(CONFIG_FILE), xml).unwrap();
    let shown = cli.show();
    assert!(shown["warnings"].to_string().contains("SomeFutureSetting"));

    let second = cli.file("b.txt", "MaxRunspaces = 8\nQuickSyncIntervalMinutes =\n");
    cli.ok(&["configure", "--answers", second.to_str().unwrap()], None);
    let config = Config::load(&cli.config_dir()).unwrap().config;
    assert_eq!(config.max_runspaces, 8);
    assert_eq!(
        config.quick_sync_interval_minutes, 1,
        "cleared back to the default"
    );
    assert_eq!(config.exchange_server, "cas01.contoso.com", "kept");
    assert!(
        cli.config_text()
            .contains("<SomeFutureSetting>42</SomeFutureSetting>")
    );
}

#[test]
fn instances_keep_separate_secrets() {
    let cli = Cli::new();
    let a = cli.file("a.txt", &answers("ExchangePassword = first-pw\n"));
    cli.ok(&["configure", "--answers", a.to_str().unwrap()], None);
    let b = cli.file("b.txt", &answers("ExchangePassword = second-pw\n"));
    cli.ok(
        &[
            "--instance",
            "org2",
            "configure",
            "--answers",
            b.to_str().unwrap(),
        ],
        None,
    );
    let store = cli.store();
    assert_eq!(
        store
            .get("default", "ExchangePassword")
            .unwrap()
            .unwrap()
            .expose(),
        "first-pw"
    );
    assert_eq!(
        store
            .get("org2", "ExchangePassword")
            .unwrap()
            .unwrap()
            .expose(),
        "second-pw"
    );
    let err = cli.fails(&["--instance", "../evil", "config", "show"], None);
    assert!(
        err.contains("instance name '../evil' is not valid"),
        "{err}"
    );
}

#[test]
fn package_create_round_trip() {
    let cli = Cli::new();
    let cert = ClientCertificate::generate("Exchange Connector test", 30).unwrap();
    let pfx_password = "Pfx-Pa55";
    let pfx = cli.dir.path().join("app.pfx");
    std::fs::write(&pfx, cert.to_pfx(&Secret::new(pfx_password)).unwrap()).unwrap();
    let out = cli.dir.path().join("package.zip");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "package",
            "create",
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--certificate",
            pfx.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run_ok = |extra: &[&str], stdin| {
        let a = args(extra);
        cli.ok(&a.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    };
    let run_fail = |extra: &[&str], stdin| {
        let a = args(extra);
        cli.fails(&a.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    };

    // Wrong or missing password: refused before anything is written, with a hint.
    let err = run_fail(&[], None);
    assert!(err.contains("--certificate-password-stdin"), "{err}");
    let err = run_fail(&["--certificate-password-stdin"], Some("wrong\n"));
    assert!(err.contains("password may be wrong"), "{err}");
    assert!(!out.exists());

    let printed = run_ok(
        &["--certificate-password-stdin", "--tenant-name", "Contoso"],
        Some("Pfx-Pa55\n"),
    );
    assert_no_secret(&printed, &[pfx_password], "package create's output");
    assert!(printed.contains(&cert.sha1_thumbprint_hex()), "{printed}");
    let package = ConnectorPackage::read(&out).unwrap();
    assert_eq!(package.manifest.tenant_id, TENANT);
    assert_eq!(package.manifest.client_id, CLIENT);
    assert_eq!(package.manifest.tenant_name.as_deref(), Some("Contoso"));
    assert_eq!(
        package.manifest.login_base,
        "https://login.microsoftonline.com"
    );
    let back = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .unwrap();
    assert_eq!(back.certificate_der, cert.certificate_der);

    // No silent overwrite; bad ids are named.
    let err = run_fail(&["--certificate-password-stdin"], Some("Pfx-Pa55\n"));
    assert!(err.contains("--force"), "{err}");
    let err = cli.fails(
        &[
            "package",
            "create",
            "--tenant-id",
            "contoso",
            "--client-id",
            CLIENT,
            "--certificate",
            pfx.to_str().unwrap(),
            "--certificate-password-stdin",
            "--out",
            cli.dir.path().join("other.zip").to_str().unwrap(),
        ],
        Some("Pfx-Pa55\n"),
    );
    assert!(err.contains("tenantId 'contoso' is not a GUID"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_from_a_running_lab() {
    use exchange_connector::lab::scenario::Scenario;
    use exchange_connector::lab::server::{LabOptions, start};
    let cli = Cli::new();
    let lab_dir = cli.dir.path().join("lab");
    let lab = start(LabOptions {
        scenario: Scenario::small(),
        dir: lab_dir.clone(),
    })
    .await
    .unwrap();
    let endpoints_file = lab_dir.join("endpoints.json");
    assert!(endpoints_file.exists());
    let e = lab.endpoints.clone();

    // configure only reads files, so blocking one of the runtime's two workers is harmless.
    let printed = cli.ok(
        &[
            "configure",
            "--lab-endpoints",
            endpoints_file.to_str().unwrap(),
        ],
        None,
    );
    let package = ConnectorPackage::read(Path::new(&e.package_zip)).unwrap();
    let secrets = [
        e.service_account.password.as_str(),
        e.notification_account.password.as_str(),
        e.client_secret.as_str(),
        package.manifest.certificate_password.expose(),
    ];
    assert_no_secret(&printed, &secrets, "configure's output");
    assert_no_secret(&cli.config_text(), &secrets, "the configuration file");

    let config = Config::load(&cli.config_dir()).unwrap().config;
    assert_eq!(config.exchange_server, e.cas_servers[0].fqdn);
    assert_eq!(config.powershell_url(), e.cas_servers[0].powershell_url);
    assert_eq!(config.exchange_user, e.service_account.user);
    assert_eq!(
        config.notification_mailbox.as_deref(),
        Some(e.notification_account.address.as_str())
    );
    assert_eq!(config.tenant_id, e.tenant_id);
    assert_eq!(config.client_id, e.client_id);
    assert_eq!(config.graph_base, e.graph_base);
    assert_eq!(config.login_base, e.login_base);
    assert_eq!(config.exchange_rest_base, e.exchange_rest_base);
    assert_eq!(
        config.trusted_ca_file.as_deref(),
        Some(Path::new(&e.ca_cert_pem))
    );

    // Secrets, including the package's certificate, are in the store and open.
    let store = cli.store();
    let get = |k: &str| store.get("default", k).unwrap().unwrap();
    assert_eq!(get("ExchangePassword").expose(), e.service_account.password);
    assert_eq!(
        get("NotificationPassword").expose(),
        e.notification_account.password
    );
    assert_eq!(get("ClientSecret").expose(), e.client_secret);
    use base64::Engine as _;
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(get("ClientCertificate").expose())
        .unwrap();
    assert_eq!(pfx, package.certificate_pfx);
    ClientCertificate::from_pfx(&pfx, &get("CertificatePassword")).unwrap();

    // The configured client trusts the lab's CA (TrustedCaFile) and reaches it without a proxy.
    let client = exchange_connector::connection::http_client(&config, &store, "default")
        .unwrap()
        .build()
        .unwrap();
    let response = client
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            config.login_base, config.tenant_id
        ))
        .send()
        .await
        .unwrap();
    assert!(response.status().as_u16() < 500, "{}", response.status());
    lab.shutdown().await;
}

#[test]
fn proxy_spellings_are_normalised_by_configure() {
    let cli = Cli::new();
    let cases = [
        (
            "proxy.contoso.com:8080",
            "",
            "http://proxy.contoso.com:8080",
        ),
        (
            "http://Proxy.Contoso.com:3128/",
            "",
            "http://proxy.contoso.com:3128",
        ),
        (
            "https://proxy.contoso.com:443",
            "",
            "https://proxy.contoso.com:443",
        ),
        ("[::1]:8080", "", "http://[::1]:8080"),
        (
            "proxy.contoso.com",
            "ProxyPort = 80\n",
            "http://proxy.contoso.com:80",
        ),
        ("10.1.2.3", "ProxyPort = 3128\n", "http://10.1.2.3:3128"),
    ];
    for (host, extra, expected) in cases {
        let path = cli.file(
            "proxy.txt",
            &answers(&format!("ProxyEnabled = true\nProxyHost = {host}\n{extra}")),
        );
        cli.ok(
            &[
                "configure",
                "--replace",
                "--answers",
                path.to_str().unwrap(),
            ],
            None,
        );
        let config = Config::load(&cli.config_dir()).unwrap().config;
        assert_eq!(
            config.proxy_spec().unwrap().unwrap().url(),
            expected,
            "{host}"
        );
    }
    for (host, extra, message) in [
        (
            "socks5://proxy:1080",
            "",
            "scheme 'socks5' is not supported",
        ),
        ("http://user:pw@proxy:8080", "", "put the user in ProxyUser"),
        ("proxy:8080", "ProxyPort = 3128\n", "remove one of them"),
        (
            "http://wpad.contoso.com/wpad.dat",
            "",
            "PAC files are not supported",
        ),
    ] {
        let path = cli.file(
            "proxy.txt",
            &answers(&format!("ProxyEnabled = true\nProxyHost = {host}\n{extra}")),
        );
        let err = cli.fails(
            &[
                "configure",
                "--replace",
                "--answers",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert!(err.contains(message), "{host}: {err}");
        assert!(
            !err.contains(":pw@"),
            "the proxy password is not echoed: {err}"
        );
    }
}
