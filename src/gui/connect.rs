//! Connect: the connection checks of [`crate::connection::checks`] (the same `diagnose` prints) on the
//! clients the worker will build from the fields, run on a background tokio runtime and shown line by
//! line (one line per [`CheckId`]); then the registration in Intune and the save.
//!
//! A failure says what failed, why (the server's own words when it gave any) and what to do, and the
//! remaining lines are left unchecked. Nothing here touches the wizard's
//! fields: they stay as typed whatever happens. On success the secrets go to the worker over the control
//! channel (or, when no worker runs, to the local secret store) and the configuration file is written —
//! in that order, so a failure leaves no configuration that names missing secrets.

use crate::bridge_protocol::Authentication;
use crate::certificate::ClientCertificate;
use crate::coded;
use crate::config::Config;
use crate::connection::checks::{self, Check, CheckRun, Progress, Status};
use crate::connection::handoff::{self, HandOffError, PendingSecrets};
use crate::connection::{ClientOptions, ExchangeTransport, SyncSetup};
use crate::error_text::chain;
use crate::gui::wizard::{Field, ServerType, WizardState};
use crate::intune::IntuneClient;
use crate::model::intune::ExchangeConnector;
use crate::package::ConnectorPackage;
use crate::secret::Secret;
use crate::service::channel::ChannelAddress;
use crate::text_code::TextCode;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

pub use crate::connection::checks::CheckId;

/// A check's sentences as its line shows them: codes with parameters, rendered in the admin's language
/// when drawn ([`CheckText::text`]); the English is kept for tests and logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckText(pub Vec<TextCode>);

impl CheckText {
    /// The sentences in `lang`, separated by `; `.
    pub fn text(&self, lang: crate::gui::i18n::Lang) -> String {
        self.0
            .iter()
            .map(|t| crate::gui::i18n::coded_text(lang, t))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether the English text holds `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }

    /// These sentences, then `more`'s.
    fn then(&self, more: CheckText) -> CheckText {
        CheckText(self.0.iter().cloned().chain(more.0).collect())
    }
}

impl From<TextCode> for CheckText {
    fn from(text: TextCode) -> Self {
        CheckText(vec![text])
    }
}

impl From<&str> for CheckText {
    fn from(text: &str) -> Self {
        CheckText(vec![TextCode::plain(text)])
    }
}

impl From<String> for CheckText {
    fn from(text: String) -> Self {
        CheckText(vec![TextCode::plain(text)])
    }
}

impl std::fmt::Display for CheckText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let english: Vec<&str> = self.0.iter().map(|t| t.english.as_str()).collect();
        f.write_str(&english.join("; "))
    }
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What failed, in a sentence.
    pub what: CheckText,
    /// Why: the server's own words when it gave any (shown as they are).
    pub why: String,
    /// What to do.
    pub fix: CheckText,
}

/// The state of one line.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckState {
    /// Not started.
    Pending,
    /// Running (spinner).
    Running,
    /// Passed, with a short detail.
    Passed(CheckText),
    /// Failed.
    Failed(Failure),
    /// Not run because an earlier check failed.
    Skipped,
}

/// Replace the existing connector(s)?
#[derive(Debug)]
pub struct ReplaceQuestion {
    /// Descriptions of the connectors Intune already has for this organisation.
    pub existing: Vec<String>,
    /// The answer: `true` to replace.
    pub answer: tokio::sync::oneshot::Sender<bool>,
}

/// What happened after every check passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSuccess {
    /// The configuration file written.
    pub config_path: PathBuf,
    /// Where the secrets went (a local store's description, translated on screen).
    pub secrets_where: TextCode,
    /// Whether they went to the running worker over the channel (else to the local store).
    pub secrets_to_worker: bool,
    /// The package file, when its folder is not a secure place (offer to delete it).
    pub insecure_package: Option<PathBuf>,
}

/// A message from the checks to the UI.
#[derive(Debug)]
pub enum ConnectEvent {
    /// A line started, or one of its checks finished.
    Progress(Progress),
    /// Ask *Replace?*.
    AskReplace(ReplaceQuestion),
    /// Finished: `Ok` when everything passed and was saved.
    Finished(Result<ConnectSuccess, ()>),
}

/// Where the checks run and where they save: everything that differs between the product, the lab
/// demo and the tests.
#[derive(Debug, Clone)]
pub struct ConnectEnv {
    /// The connector instance.
    pub instance: String,
    /// The configuration folder.
    pub config_dir: PathBuf,
    /// The worker's control channel.
    pub channel: ChannelAddress,
    /// Local secret store folder when no worker runs: `None` for the platform's store.
    pub secrets_dir: Option<PathBuf>,
    /// Host names pinned to addresses (like a hosts file), e.g. the lab's CAS names.
    pub resolve: Vec<(String, SocketAddr)>,
    /// The PowerShell host and its arguments for the checks; `None`: the configuration's
    /// (`PowerShellPath`, else the platform's host with the bridge script).
    pub bridge_host: Option<(PathBuf, Vec<String>)>,
    /// `PowerShellAuthentication` of the checks' remote session; `None`: the configuration's.
    pub powershell_authentication: Option<Authentication>,
    /// Graph/Entra bases to use instead of the package's (never set in production).
    pub cloud_override: Option<(String, String)>,
    /// Settings this environment adds to the saved configuration where it has none yet, by registry
    /// key (the lab demo: its PowerShell stand-in, Basic authentication, the EWS URL; empty in
    /// production). The checks run on the configuration without them.
    pub extra_settings: Vec<(String, String)>,
}

impl ConnectEnv {
    /// The product's environment for an instance.
    pub fn for_instance(instance: &str) -> ConnectEnv {
        ConnectEnv {
            instance: instance.to_string(),
            config_dir: crate::config::default_config_dir(instance),
            channel: ChannelAddress::for_instance(instance),
            secrets_dir: None,
            resolve: Vec::new(),
            bridge_host: None,
            powershell_authentication: None,
            cloud_override: None,
            extra_settings: Vec::new(),
        }
    }

    /// The PowerShell host and authentication of this environment, over the configuration's.
    fn adjust(&self, setup: &mut SyncSetup) {
        if let ExchangeTransport::Bridge {
            program,
            prefix_args,
            authentication,
            ..
        } = &mut setup.exchange
        {
            if let Some((host, args)) = &self.bridge_host {
                *program = host.clone();
                *prefix_args = args.clone();
            }
            if let Some(chosen) = self.powershell_authentication {
                *authentication = chosen;
            }
        }
    }
}

/// What Connect (or Settings' *Check and save*) works on: a copy of the fields taken when the button was
/// pressed.
#[derive(Clone)]
pub struct ConnectInput {
    /// The fields.
    pub wizard: WizardState,
    /// Register the connector in Intune (Connect) or only check sign-in (Settings).
    pub register: bool,
}

/// The running checks, as the UI sees them.
#[derive(Debug)]
pub struct ConnectRun {
    /// One line per check.
    pub lines: Vec<(CheckId, CheckState)>,
    /// A pending *Replace?* question.
    pub question: Option<ReplaceQuestion>,
    /// The outcome, once finished.
    pub outcome: Option<Result<ConnectSuccess, ()>>,
    events: mpsc::Receiver<ConnectEvent>,
}

impl ConnectRun {
    /// Starts the checks on `runtime`; `repaint` is called after each event.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        env: ConnectEnv,
        input: ConnectInput,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> ConnectRun {
        let (tx, rx) = mpsc::channel();
        let repaint = Arc::new(repaint);
        runtime.spawn(async move {
            let send = |event: ConnectEvent| {
                let _ = tx.send(event);
                repaint();
            };
            run_checks(&env, &input, &send).await;
        });
        ConnectRun {
            lines: CheckId::ALL
                .iter()
                .map(|&c| (c, CheckState::Pending))
                .collect(),
            question: None,
            outcome: None,
            events: rx,
        }
    }

    /// A run that is over, with these lines (a preview of the page: snapshots and documentation).
    pub fn finished(
        lines: Vec<(CheckId, CheckState)>,
        outcome: Result<ConnectSuccess, ()>,
    ) -> ConnectRun {
        let (_, events) = mpsc::channel();
        ConnectRun {
            lines,
            question: None,
            outcome: Some(outcome),
            events,
        }
    }

    /// Takes the events that arrived; returns whether anything changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Ok(event) = self.events.try_recv() {
            changed = true;
            match event {
                ConnectEvent::Progress(progress) => self.apply(progress),
                ConnectEvent::AskReplace(q) => self.question = Some(q),
                ConnectEvent::Finished(outcome) => {
                    for line in &mut self.lines {
                        if matches!(line.1, CheckState::Pending | CheckState::Running) {
                            line.1 = CheckState::Skipped;
                        }
                    }
                    self.outcome = Some(outcome);
                }
            }
        }
        changed
    }

    /// A line's new state: running, or a check of the line done. A line shows its first failure, or
    /// the details of its passed checks one after another (a check that does not apply here, such as
    /// the proxy when none is set, counts as passed with its reason).
    fn apply(&mut self, progress: Progress) {
        let (id, next) = match progress {
            Progress::Running(id) => (id, CheckState::Running),
            Progress::Done(check) => (check.id, state_of(check)),
        };
        let Some(line) = self.lines.iter_mut().find(|(c, _)| *c == id) else {
            return;
        };
        line.1 = match (&line.1, next) {
            (CheckState::Failed(_), _) => return,
            (CheckState::Passed(before), CheckState::Running) => CheckState::Passed(before.clone()),
            (CheckState::Passed(before), CheckState::Passed(detail)) => {
                CheckState::Passed(before.then(detail))
            }
            (_, next) => next,
        };
    }

    /// Answers the pending *Replace?* question.
    pub fn answer_replace(&mut self, replace: bool) {
        if let Some(q) = self.question.take() {
            let _ = q.answer.send(replace);
        }
    }

    /// Whether the checks are still running.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// The state of a line.
    pub fn state(&self, id: CheckId) -> &CheckState {
        self.lines
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, s)| s)
            .unwrap_or(&CheckState::Pending)
    }
}

/// A check as its line shows it.
fn state_of(check: Check) -> CheckState {
    match check.status {
        Status::Ok | Status::Skip => CheckState::Passed((*check.detail_code).into()),
        Status::Fail => CheckState::Failed(Failure {
            what: (*check.detail_code).into(),
            why: check.cause.unwrap_or_default(),
            fix: check
                .fix_code
                .map(|fix| CheckText::from(*fix))
                .unwrap_or_default(),
        }),
    }
}

struct Prepared {
    package: ConnectorPackage,
    certificate: ClientCertificate,
    login_base: String,
    graph_base: String,
}

async fn run_checks(
    env: &ConnectEnv,
    input: &ConnectInput,
    send: &(dyn Fn(ConnectEvent) + Send + Sync),
) {
    let w = &input.wizard;
    let progress = |p: Progress| send(ConnectEvent::Progress(p));
    let done = |check: Check| progress(Progress::Done(check));
    let finish_failed = || send(ConnectEvent::Finished(Err(())));

    // The package and its certificate, and the configuration the fields describe.
    progress(Progress::Running(CheckId::Package));
    let package_path = PathBuf::from(w.package_path.trim());
    let prepared = match prepare(env, w, &package_path) {
        Ok(p) => p,
        Err(check) => {
            done(check);
            return finish_failed();
        }
    };
    done(Check::ok(
        CheckId::Package,
        "package",
        coded!(
            "ck_package_ok",
            "tenant {tenant}, certificate {thumbprint}",
            tenant = prepared.package.manifest.tenant_id,
            thumbprint = prepared.certificate.sha1_thumbprint_hex()
        ),
    ));
    let (config, save_config) = match configs(env, w, &prepared) {
        Ok(c) => c,
        Err(check) => {
            done(check);
            return finish_failed();
        }
    };
    let secrets = wizard_secrets(w, &prepared);

    // Every connection check, on the clients the worker will build from this configuration.
    let pending = PendingSecrets::new(secrets.clone());
    let adjust = |setup: &mut SyncSetup| env.adjust(setup);
    let mut options = ClientOptions::for_checks();
    options.resolve = env.resolve.clone();
    let outcome = checks::run(
        &CheckRun {
            config: &config,
            secrets: &pending,
            instance: &env.instance,
            config_dir: &env.config_dir,
            options,
            policy: Default::default(),
            stop_at_first_failure: true,
            adjust: Some(&adjust),
        },
        &progress,
    )
    .await;
    let Some(intune) = outcome.intune.as_ref().filter(|_| !outcome.failed()) else {
        return finish_failed();
    };

    // The registration in Intune.
    if input.register {
        progress(Progress::Running(CheckId::Intune));
        let check = register(
            intune,
            &config.server_name(),
            w.server_type,
            &outcome.connectors,
            send,
        )
        .await;
        let failed = check.status == Status::Fail;
        done(check);
        if failed {
            return finish_failed();
        }
    }

    // Save.
    progress(Progress::Running(CheckId::Save));
    match save(env, w, save_config, &secrets).await {
        Ok(success) => {
            done(Check::ok(CheckId::Save, "save", saved_text(&success)));
            // The retired connector's policy, once, while no local one exists (a Graph failure is a
            // warning: the default policy applies, never a run's dependency).
            let import = crate::policy_import::import_legacy_policy(intune, &env.config_dir).await;
            done(Check::ok(CheckId::Save, "access policy", import.text()));
            send(ConnectEvent::Finished(Ok(success)));
        }
        Err(check) => {
            done(check);
            finish_failed();
        }
    }
}

/// Where Connect saved the configuration and the secrets: the service's store as a whole sentence
/// (translated), a local store by its own description (a product name or a file).
pub fn saved_text(success: &ConnectSuccess) -> TextCode {
    let file = success.config_path.display();
    if success.secrets_to_worker {
        coded!(
            "ck_saved_to_worker",
            "{file}; secrets: the connector service's credential store",
            file = file
        )
    } else {
        coded!("ck_saved", "{file}; secrets: {place}", file = file)
            .with_text("place", success.secrets_where.clone())
    }
}

fn prepare(env: &ConnectEnv, w: &WizardState, path: &Path) -> Result<Prepared, Check> {
    let id = CheckId::Package;
    let read = match w.onboarded_package() {
        Some(package) => Ok(package.clone()),
        None => ConnectorPackage::read(path),
    };
    let package = read.map_err(|e| {
        Check::fail(
            id,
            "package",
            coded!("ck_package_unusable", "The connector package cannot be used."),
            e.to_string(),
            coded!("ck_fix_package_download", "Download the connector package for your tenant again from the Intune admin center and choose that file."),
        )
    })?;
    let certificate = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .map_err(|e| {
        Check::fail(
            id,
            "package",
            coded!(
                "ck_package_certificate",
                "The package's certificate cannot be opened."
            ),
            e.to_string(),
            coded!(
                "ck_fix_package_repack",
                "Download the connector package again; do not repack it."
            ),
        )
    })?;
    let ca = w.trusted_ca_file.trim();
    if !ca.is_empty()
        && let Err(e) = crate::tls::read_pem_certificates(Path::new(ca))
    {
        return Err(Check::fail(
            id,
            "package",
            coded!("ck_ca_unusable", "The trusted CA file cannot be used."),
            e.to_string(),
            coded!(
                "ck_fix_ca_field",
                "Give a PEM file holding the CA certificate, or leave the field empty."
            ),
        ));
    }
    let (login_base, graph_base) = env.cloud_override.clone().unwrap_or_else(|| {
        (
            package.manifest.login_base.clone(),
            package.manifest.graph_base.clone(),
        )
    });
    Ok(Prepared {
        certificate,
        package,
        login_base,
        graph_base,
    })
}

/// The configuration to check (the saved one with the fields on top) and the one to save (the same
/// with the environment's extra settings where it has none).
fn configs(env: &ConnectEnv, w: &WizardState, p: &Prepared) -> Result<(Config, Config), Check> {
    let m = &p.package.manifest;
    // Settings the wizard does not show (schedule, language, PowerShell options, unknown elements of
    // a newer version) stay as saved.
    let (saved, unknown) = Config::load_values(&env.config_dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut with_extras = saved.clone();
    for (key, value) in &env.extra_settings {
        with_extras
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
    let build = |values| {
        config_from(
            w,
            &m.tenant_id,
            &m.client_id,
            &p.login_base,
            &p.graph_base,
            m.exchange_rest_base.as_deref(),
            values,
        )
        .map_err(|e| {
            Check::fail(
                CheckId::Package,
                "configuration",
                coded!("ck_config_invalid", "The configuration is not valid."),
                e,
                coded!("ck_fix_fields", "Correct the fields named above."),
            )
        })
    };
    let checked = build(saved)?;
    let mut to_save = build(with_extras)?;
    to_save.unknown = unknown;
    Ok((checked, to_save))
}

/// The secrets the fields and the package hold, by the keys the worker reads.
fn wizard_secrets(w: &WizardState, p: &Prepared) -> BTreeMap<String, Secret> {
    use base64::Engine as _;
    let m = &p.package.manifest;
    let mut secrets: BTreeMap<String, Secret> = BTreeMap::new();
    // Only the passwords of fields in use: hosted Exchange has none, and no mailbox needs none.
    let active = w.active_fields();
    for (key, field) in [
        ("ExchangePassword", Field::ExchangePassword),
        ("NotificationPassword", Field::NotificationPassword),
        ("ProxyPassword", Field::ProxyPassword),
    ] {
        if active.contains(&field) {
            secrets.insert(key.into(), w.secret(field));
        }
    }
    secrets.insert(
        "ClientCertificate".into(),
        Secret::new(base64::engine::general_purpose::STANDARD.encode(&p.package.certificate_pfx)),
    );
    secrets.insert("CertificatePassword".into(), m.certificate_password.clone());
    secrets
}

fn same_organisation(existing: &ExchangeConnector, server: &str) -> bool {
    let domain = |s: &str| s.split_once('.').map(|(_, d)| d.to_ascii_lowercase());
    let ours = domain(server);
    existing
        .server_name
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(server) || (ours.is_some() && domain(s) == ours))
        || existing
            .exchange_organization
            .as_deref()
            .zip(ours.as_deref())
            .is_some_and(|(org, d)| org.eq_ignore_ascii_case(d))
}

/// Registers this connector in Intune, replacing the organisation's existing one(s) when the admin
/// says so.
async fn register(
    intune: &IntuneClient,
    server: &str,
    server_type: ServerType,
    connectors: &[ExchangeConnector],
    send: &(dyn Fn(ConnectEvent) + Send + Sync),
) -> Check {
    let id = CheckId::Intune;
    let name = "connector registration";
    let fix = coded!(
        "ck_fix_registration",
        "Check that the package belongs to this tenant and that the app still has the DeviceManagementServiceConfig.ReadWrite.All permission with admin consent (Intune admin center)."
    );
    let same: Vec<&ExchangeConnector> = connectors
        .iter()
        .filter(|c| same_organisation(c, server))
        .collect();
    if !same.is_empty() {
        let (answer, reply) = tokio::sync::oneshot::channel();
        send(ConnectEvent::AskReplace(ReplaceQuestion {
            existing: same
                .iter()
                .map(|c| {
                    format!(
                        "{} on {} (last sync {})",
                        c.server_name.as_deref().unwrap_or("?"),
                        c.connector_server_name.as_deref().unwrap_or("?"),
                        c.last_sync_date_time
                            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_else(|| "never".into())
                    )
                })
                .collect(),
            answer,
        }));
        if !reply.await.unwrap_or(false) {
            return Check::fail(
                id,
                name,
                coded!(
                    "ck_connector_exists",
                    "Intune already has a connector for this organisation."
                ),
                "You chose not to replace it.",
                coded!(
                    "ck_fix_replace",
                    "Click Connect and choose Replace to install this connector instead, or cancel to keep the original."
                ),
            );
        }
        for c in &same {
            if let Err(e) = intune.delete_connector(&c.id).await {
                return Check::fail(
                    id,
                    name,
                    coded!(
                        "ck_connector_not_removed",
                        "The existing connector could not be removed from Intune."
                    ),
                    chain(&e),
                    fix.clone(),
                );
            }
        }
    }
    let kind = match server_type {
        ServerType::OnPremises => "onPremises",
        ServerType::Hosted => "hosted",
    };
    let record: ExchangeConnector = match serde_json::from_value(serde_json::json!({
        "serverName": server,
        "connectorServerName": crate::host::host_name(),
        "exchangeConnectorType": kind,
        "version": env!("CARGO_PKG_VERSION"),
        "status": "connected",
    })) {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                id,
                name,
                coded!("ck_record_unbuilt", "The connector record cannot be built."),
                e.to_string(),
                coded!("ck_fix_bug", "Report this as a bug."),
            );
        }
    };
    match intune.register_connector(&record).await {
        Ok(c) => Check::ok(
            id,
            name,
            if same.is_empty() {
                coded!("ck_registered", "registered as {id}", id = c.id)
            } else {
                coded!(
                    "ck_registered_replacing",
                    "registered as {id} (replaced the original)",
                    id = c.id
                )
            },
        ),
        Err(e) => Check::fail(
            id,
            name,
            coded!(
                "ck_register_failed",
                "Registering the connector in Intune failed."
            ),
            chain(&e),
            fix,
        ),
    }
}

/// The configuration the fields describe.
/// The keys the wizard edits; every other saved setting (schedule, language, PowerShell options,
/// `ExchangeWebServiceURL`, ...) is kept as it was.
const WIZARD_KEYS: &[&str] = &[
    "ExchangeServer",
    "ExchangeServerType",
    "ExchangePowerShellURL",
    "ExchangeUser",
    "NotificationMailbox",
    "TrustedCaFile",
    "ProxyEnabled",
    "ProxyHost",
    "ProxyPort",
    "ProxyUser",
    "TenantId",
    "ClientId",
    "ApplicationObjectId",
    "LoginBase",
    "GraphBase",
    "ExchangeRestBase",
];

/// The configuration of the wizard's fields on top of `saved` (the values already in the file, see
/// `Config::load_values`): the wizard's keys replaced, the rest kept.
pub fn config_from(
    w: &WizardState,
    p_tenant: &str,
    p_client: &str,
    login: &str,
    graph: &str,
    rest: Option<&str>,
    saved: crate::config::Values,
) -> Result<Config, String> {
    let mut values = saved;
    values.retain(|k, _| !WIZARD_KEYS.contains(&k.as_str()));
    let mut put = |k: &str, v: &str| {
        if !v.trim().is_empty() {
            values.insert(k.to_string(), v.trim().to_string());
        }
    };
    match w.server_type {
        ServerType::OnPremises => {
            put("ExchangeServer", &w.server);
            put("ExchangeServerType", "OnPremises");
            put("ExchangePowerShellURL", &w.powershell_url);
            put("ExchangeUser", &w.exchange_user);
        }
        ServerType::Hosted => {
            // Exchange Online asks for no server or account: the app signs in to the REST endpoint
            // (the registry requires `ExchangeServer` and `ExchangeUser` on premises only).
            put("ExchangeServerType", "Hosted");
        }
    }
    put("NotificationMailbox", &w.notification_mailbox);
    put("TrustedCaFile", &w.trusted_ca_file);
    put(
        "ProxyEnabled",
        if w.proxy_enabled { "true" } else { "false" },
    );
    if w.proxy_enabled {
        put("ProxyHost", &w.proxy_host);
        put("ProxyPort", &w.proxy_port);
        if w.proxy_auth {
            put("ProxyUser", &w.proxy_user);
        }
    }
    put("TenantId", p_tenant);
    put("ClientId", p_client);
    if w.onboarded_package().is_some()
        && let Some(object_id) = &w.onboarded_object_id
    {
        put("ApplicationObjectId", object_id);
    }
    put("LoginBase", login);
    put("GraphBase", graph);
    if let Some(rest) = rest {
        put("ExchangeRestBase", rest);
    }
    Config::from_values(&values).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

async fn save(
    env: &ConnectEnv,
    w: &WizardState,
    config: Config,
    secrets: &BTreeMap<String, Secret>,
) -> Result<ConnectSuccess, Check> {
    let id = CheckId::Save;
    let name = "save";
    // Secrets first: to the worker (on Windows always: a stopped service is started, and nothing ever
    // goes to this account's own vault, which the service cannot read), else (Linux, no worker) to the
    // local store.
    let local = || match &env.secrets_dir {
        Some(dir) => Ok(Box::new(crate::secrets::FileStore::new(dir.clone()))
            as Box<dyn crate::secrets::SecretStore>),
        None => crate::secrets::default_for_platform(&env.config_dir),
    };
    let place = handoff::hand_off(&env.channel, local, &env.instance, secrets)
        .await
        .map_err(|e| {
            let (what, fix) = match &e {
                HandOffError::Refused(_) => (
                    coded!(
                        "ck_handoff_refused",
                        "The connector service refused the secrets."
                    ),
                    coded!(
                        "ck_fix_service_log",
                        "Check the service's log, then click Connect again."
                    ),
                ),
                HandOffError::Unexpected(_) => (
                    coded!(
                        "ck_handoff_unexpected",
                        "The connector service gave an unexpected answer."
                    ),
                    coded!("ck_fix_update_service", "Update the connector service."),
                ),
                HandOffError::NotElevated => (
                    coded!(
                        "ck_not_elevated",
                        "Setup is not running as an administrator."
                    ),
                    coded!(
                        "ck_fix_run_as_admin",
                        "Close setup and start it again with 'Run as administrator'."
                    ),
                ),
                HandOffError::CannotStart { .. } | HandOffError::Channel(_) => (
                    coded!(
                        "ck_service_unreachable",
                        "The connector service could not be reached."
                    ),
                    coded!(
                        "ck_fix_start_service",
                        "Start the service (services.msc), then click Connect again."
                    ),
                ),
                HandOffError::OpenStore(_) | HandOffError::Store(_) => (
                    coded!("ck_store_unusable", "The credential store cannot be used."),
                    coded!("ck_fix_admin", "Run setup as an administrator."),
                ),
            };
            Check::fail(id, name, what, chain(&e), fix)
        })?;
    let config_path = config.save(&env.config_dir).map_err(|e| {
        Check::fail(
            id,
            name,
            coded!(
                "ck_config_unwritten",
                "The configuration file could not be written."
            ),
            chain(&e),
            coded!("ck_fix_admin", "Run setup as an administrator."),
        )
    })?;
    let package = PathBuf::from(w.package_path.trim());
    // A package the sign-in step made lives in memory only: there is no file to delete.
    let insecure_package =
        (w.onboarded_package().is_none() && !folder_is_secure(&package)).then_some(package);
    let secrets_to_worker = place.is_worker();
    Ok(ConnectSuccess {
        config_path,
        secrets_where: match place {
            handoff::SecretsPlace::Worker(_) => coded!(
                "ck_service_store",
                "the connector service's credential store"
            ),
            handoff::SecretsPlace::Local(store) => store,
        },
        secrets_to_worker,
        insecure_package,
    })
}

/// Whether only the owner (and administrators) can read files in the package's folder.
pub fn folder_is_secure(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let check = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o077 == 0)
                .unwrap_or(false)
        };
        check(file) && file.parent().is_some_and(check)
    }
    #[cfg(not(unix))]
    {
        // Downloads and the desktop are readable by other tools of the same user and often synced:
        // treat a package anywhere but under ProgramData as not secure.
        let _ = file;
        false
    }
}
