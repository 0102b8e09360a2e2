//! The access policy is local (issue 11, item 4): every run reads [`POLICY_FILE`] in the
//! configuration folder, which the Settings page and `configure` own. Without the file a run uses the
//! documented default policy ([`PolicySettings::default`]: enforcement off, the connector withdraws its
//! own entries and decides nothing), said once per process in the log.
//!
//! The retired connector's settings in Intune (`beta/deviceManagement/conditionalAccessSettings` and
//! `exchangeOnPremisesPolicy`, which Microsoft may remove at any time) are read only at setup —
//! [`import_at_setup`] from `configure`, [`import_legacy_policy`] from the setup's Connect — and only
//! while there is no local policy yet. A Graph failure there is a warning for the admin, never a
//! failure of setup or of a run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::intune::IntuneClient;
use crate::policy::PolicySettings;
use crate::secrets::SecretStore;
use crate::service::setup::{self, POLICY_FILE, SetupProblem};

/// How long setup waits for Graph before giving up on the import.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the "no policy file" notice was logged by this process.
static DEFAULT_POLICY_LOGGED: AtomicBool = AtomicBool::new(false);

/// The policy of a run: [`POLICY_FILE`], or the default policy when there is none. Never reads Graph.
pub fn local_policy(config_dir: &Path) -> Result<PolicySettings, SetupProblem> {
    if let Some(policy) = setup::policy_from_file(config_dir)? {
        return Ok(policy);
    }
    if !DEFAULT_POLICY_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "no policy file {}: the default policy applies (enforcement off: the connector decides \
             nothing and withdraws only its own entries). Set the policy on the setup's Settings page \
             or in that file",
            config_dir.join(POLICY_FILE).display()
        );
    }
    Ok(PolicySettings::default())
}

/// What the one-time import of the retired connector's policy did.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyImport {
    /// A local policy exists: nothing was read.
    AlreadyLocal(PathBuf),
    /// The tenant's settings were written to this file.
    Imported(PathBuf),
    /// The tenant holds no retired-connector settings: the default policy stays.
    NotInTenant,
    /// The settings could not be read or used (a warning: the default policy stays).
    Failed(String),
}

impl std::fmt::Display for LegacyImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text().english)
    }
}

impl LegacyImport {
    /// What the import did as a coded sentence, for the setup GUI to show in the admin's language
    /// (`Display` stays the English `configure` prints; Graph's words stay as they are).
    pub fn text(&self) -> crate::text_code::TextCode {
        use crate::coded;
        match self {
            LegacyImport::AlreadyLocal(path) => coded!(
                "pi_kept_local",
                "access policy: kept the local policy {path}",
                path = path.display()
            ),
            LegacyImport::Imported(path) => coded!(
                "pi_imported",
                "access policy: imported the retired connector's settings from Intune into {path}; review them on the Settings page",
                path = path.display()
            ),
            LegacyImport::NotInTenant => coded!(
                "pi_not_in_tenant",
                "access policy: the tenant holds no settings of the retired connector; the default policy (enforcement off) applies until you set one on the Settings page"
            ),
            LegacyImport::Failed(why) => coded!(
                "pi_failed",
                "warning: the retired connector's policy could not be imported from Intune ({why}); the default policy (enforcement off) applies until you set one on the Settings page",
                why = why
            ),
        }
    }
}

/// Imports the retired connector's policy with `intune` into [`POLICY_FILE`], unless a local policy
/// exists. Call it at setup (Connect); never from a run.
pub async fn import_legacy_policy(intune: &IntuneClient, config_dir: &Path) -> LegacyImport {
    let path = config_dir.join(POLICY_FILE);
    if path.exists() {
        return LegacyImport::AlreadyLocal(path);
    }
    let failed = |e: crate::intune::IntuneError| LegacyImport::Failed(crate::error_text::chain(&e));
    let targeting = match intune.conditional_access_settings().await {
        Ok(Some(ca)) => ca,
        Ok(None) => return LegacyImport::NotInTenant,
        Err(e) => return failed(e),
    };
    let exchange_policy = match intune.exchange_on_premises_policy().await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let policy = PolicySettings::from_legacy(&targeting, exchange_policy.as_ref());
    if let Err(e) = policy.validate() {
        return LegacyImport::Failed(format!("the tenant's settings cannot be used: {e}"));
    }
    let written = serde_json::to_vec_pretty(&policy)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            crate::atomic_file::write(&path, &json)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
    match written {
        Ok(()) => {
            tracing::info!(file = %path.display(), "imported the retired connector's policy");
            LegacyImport::Imported(path)
        }
        Err(e) => LegacyImport::Failed(e),
    }
}

/// [`import_legacy_policy`] for `configure`: builds the Graph client from the saved configuration and
/// the secrets, as a run would, and waits at most a minute.
pub async fn import_at_setup(
    config: &Config,
    secrets: &dyn SecretStore,
    instance: &str,
    config_dir: &Path,
) -> LegacyImport {
    let path = config_dir.join(POLICY_FILE);
    if path.exists() {
        return LegacyImport::AlreadyLocal(path);
    }
    let clients = setup::sync_setup(
        config,
        secrets,
        instance,
        config_dir,
        PolicySettings::default(),
    )
    .map_err(|e| crate::error_text::chain(&e))
    .and_then(|s| s.build().map_err(|e| crate::error_text::chain(&e)));
    let clients = match clients {
        Ok(c) => c,
        Err(e) => return LegacyImport::Failed(e),
    };
    let imported = tokio::time::timeout(
        IMPORT_TIMEOUT,
        import_legacy_policy(clients.intune(), config_dir),
    )
    .await;
    clients.shutdown().await;
    imported.unwrap_or_else(|_| {
        LegacyImport::Failed(format!(
            "Microsoft Graph did not answer within {} s",
            IMPORT_TIMEOUT.as_secs()
        ))
    })
}
