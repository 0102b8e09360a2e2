//! What the GUI test binaries share: a runtime, a folder and (when the test needs one) a lab, the
//! setup app built on them, and a UI stepper that waits for background work.
#![allow(dead_code)]

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use exchange_connector::gui::app::{AppParts, SetupApp};
use exchange_connector::gui::connect::ConnectEnv;
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::lab_demo;
use exchange_connector::gui::wizard::WizardState;
use exchange_connector::gui::wizard::package::FixedPicker;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::server::{LabOptions, RunningLab, start};
use exchange_connector::service::channel::ChannelAddress;
use std::time::{Duration, Instant};

/// The lab binary (its PowerShell stand-in is what the lab demo's configuration runs).
pub const LAB: &str = env!("CARGO_BIN_EXE_exchange-connector-lab");
/// The service binary.
pub const SERVICE: &str = env!("CARGO_BIN_EXE_exchange-connector-service");

/// A runtime, a folder, and a lab when the test needs one.
pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub lab: Option<RunningLab>,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// Writes a minimal valid configuration (no lab) into the configuration folder.
    pub fn write_minimal_config(&self) {
        let values: std::collections::BTreeMap<String, String> = [
            ("ExchangeServer", "cas01.contoso.lab"),
            ("ExchangeUser", "CONTOSO\\svc-connector"),
            ("TenantId", "11111111-2222-3333-4444-555555555555"),
            ("ClientId", "66666666-7777-8888-9999-000000000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        exchange_connector::config::Config::from_values(&values)
            .unwrap()
            .save(&self.env().config_dir)
            .unwrap();
    }

    pub fn without_lab() -> Fixture {
        Fixture {
            rt: runtime(),
            lab: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn with_lab() -> Fixture {
        Fixture::with_scenario(Scenario::small())
    }

    /// A lab serving `scenario`.
    pub fn with_scenario(scenario: Scenario) -> Fixture {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let lab = rt
            .block_on(start(LabOptions {
                scenario,
                dir: dir.path().join("lab"),
            }))
            .unwrap();
        Fixture {
            rt,
            lab: Some(lab),
            dir,
        }
    }

    pub fn lab(&self) -> &RunningLab {
        self.lab.as_ref().unwrap()
    }

    /// The lab demo's environment, or (no lab) one in this fixture's folder.
    pub fn env(&self) -> ConnectEnv {
        match &self.lab {
            Some(lab) => lab_demo::env(&lab.endpoints, LAB.as_ref(), self.dir.path()),
            None => {
                let mut env = ConnectEnv::for_instance("test");
                env.config_dir = self.dir.path().join("config");
                env.secrets_dir = Some(env.config_dir.clone());
                env.channel =
                    ChannelAddress(self.dir.path().join("worker.sock").display().to_string());
                env
            }
        }
    }

    pub fn app_with(&self, wizard: WizardState, lang: Lang) -> SetupApp {
        SetupApp::new(AppParts {
            env: self.env(),
            runtime: self.rt.handle().clone(),
            picker: Box::new(FixedPicker(None)),
            wizard,
            lang,
            keep_alive: Vec::new(),
        })
    }

    /// The app in English, its wizard prefilled for the lab when there is one.
    pub fn app(&self) -> SetupApp {
        let wizard = match &self.lab {
            Some(lab) => lab_demo::prefill(&lab.endpoints),
            None => WizardState::default(),
        };
        self.app_with(wizard, Lang::En)
    }

    /// The saved configuration.
    pub fn config(&self) -> exchange_connector::config::Config {
        exchange_connector::config::Config::load(&self.env().config_dir)
            .unwrap()
            .config
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The app in a window of the fallback size (1024×768).
pub fn harness(app: SetupApp) -> Harness<'static, SetupApp> {
    Harness::builder()
        .with_size(exchange_connector::gui::app::FALLBACK_WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), app)
}

/// Steps the UI (spinners repaint forever, so `run` would not settle) until `done` or a deadline.
pub fn wait_until(h: &mut Harness<'_, SetupApp>, what: &str, done: impl Fn(&SetupApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            h.state().connect
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces the whole text of the field named `label` (select all, then type).
pub fn replace_text(h: &mut Harness<'_, SetupApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
    h.step();
}

/// A worker process, stopped when the test ends (passed or not).
pub struct StopOnDrop(pub std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real worker for `env` on `lab` (whose files are in `dir/lab`): configured by the real
/// `configure --lab-endpoints`, on Exchange's REST transport, the policy enforced with the mass-change
/// guard at `guard_percent`, a quick sync every `quick_seconds`.
pub fn start_lab_worker(
    env: &ConnectEnv,
    lab: &RunningLab,
    dir: &std::path::Path,
    guard_percent: f64,
    quick_seconds: u32,
) -> StopOnDrop {
    let service = || {
        let mut command = std::process::Command::new(SERVICE);
        command
            .args(["--instance", &env.instance, "--channel", &env.channel.0])
            .args(["--secret-store", "file", "--config-dir"])
            .arg(&env.config_dir);
        command
    };
    let configure = |args: &[&str]| {
        let out = service().arg("configure").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "configure {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let endpoints = dir.join("lab").join("endpoints.json");
    configure(&["--lab-endpoints", endpoints.to_str().unwrap()]);
    let answers = dir.join("answers.txt");
    std::fs::write(&answers, "ExchangeServerType=Hosted\n").unwrap();
    configure(&["--answers", answers.to_str().unwrap()]);
    let policy = exchange_connector::policy::PolicySettings {
        enabled: true,
        included_groups: lab.endpoints.policy.included_groups.clone(),
        excluded_groups: lab.endpoints.policy.excluded_groups.clone(),
        unmanaged_default_access: lab.state.org().settings.default_access_level,
        mass_change_threshold_percent: guard_percent,
        ..Default::default()
    };
    std::fs::write(
        env.config_dir.join("policy.json"),
        serde_json::to_string(&policy).unwrap(),
    )
    .unwrap();
    StopOnDrop(
        service()
            .args([
                "run",
                "--quick-interval-seconds",
                &quick_seconds.to_string(),
                "--log-dir",
            ])
            .arg(dir.join("logs"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}
