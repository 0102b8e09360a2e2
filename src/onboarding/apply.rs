//! What onboarding creates, shown first ([`plan`]) and then created with one line per action
//! ([`apply`]), found again by its tag on the next run so nothing is duplicated, and rolled back when
//! a step fails so nothing is left half-created. [`remove`] deletes it all.

use super::graph::{DirectoryClient, filter, odata_quote};
use super::{APP_TAG, Authority, OnboardingError};
use crate::certificate::ClientCertificate;
use crate::coded;
use crate::text_code::TextCode;
use base64::Engine as _;
use serde_json::{Value, json};

/// `appId` of Microsoft Graph (the Graph permissions reference reads its roles from
/// `servicePrincipals(appId='00000003-0000-0000-c000-000000000000')`).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// `appId` of Office 365 Exchange Online.
pub const EXCHANGE_ONLINE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// The role that may grant Microsoft Graph application permissions when the signed-in admin may not.
pub const CONSENT_ROLE: &str = "Privileged Role Administrator (or Global Administrator)";

/// [`CONSENT_ROLE`], coded (the setup GUI names the roles as Entra does in its language).
pub fn consent_role() -> TextCode {
    coded!("ob_consent_role", CONSENT_ROLE)
}

/// An application permission the connector needs. Its app-role id is read from the resource's service
/// principal (`appRoles`, by `value`) at run time; no id is hard-coded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPermission {
    /// Resource display name.
    pub resource: &'static str,
    /// Resource `appId`.
    pub resource_app_id: &'static str,
    /// Permission (`appRole.value`).
    pub value: &'static str,
    /// What the connector does with it (coded: the setup GUI shows it in its language).
    pub why: TextCode,
    /// Already granted to the existing app.
    pub granted: bool,
}

/// The application permissions the connector needs: what `intune` reads and what Connect checks
/// (`connection::checks`: the connector registration needs `DeviceManagementServiceConfig.ReadWrite.All`),
/// plus `Exchange.ManageAsApp` for hosted Exchange.
pub fn needed_permissions(hosted_exchange: bool) -> Vec<PlannedPermission> {
    let graph = |value, why: TextCode| PlannedPermission {
        resource: "Microsoft Graph",
        resource_app_id: GRAPH_APP_ID,
        value,
        why,
        granted: false,
    };
    let mut out = vec![
        graph(
            "DeviceManagementManagedDevices.Read.All",
            coded!(
                "ob_why_devices",
                "read Intune managed devices and their compliance"
            ),
        ),
        graph(
            "GroupMember.Read.All",
            coded!("ob_why_groups", "read the members of the targeted groups"),
        ),
        graph(
            "User.Read.All",
            coded!("ob_why_users", "read users (mailbox owners)"),
        ),
        graph(
            "DeviceManagementServiceConfig.ReadWrite.All",
            coded!(
                "ob_why_service_config",
                "register the connector and read the retired connector's settings"
            ),
        ),
    ];
    if hosted_exchange {
        out.push(PlannedPermission {
            resource: "Office 365 Exchange Online",
            resource_app_id: EXCHANGE_ONLINE_APP_ID,
            value: "Exchange.ManageAsApp",
            why: coded!(
                "ob_why_exchange",
                "run Exchange Online cmdlets as the app (plus an Exchange role for its service principal)"
            ),
            granted: false,
        });
    }
    out
}

/// What the admin chooses.
#[derive(Debug, Clone)]
pub struct OnboardOptions {
    /// Display name of the app registration.
    pub app_name: String,
    /// Exchange Online: also `Exchange.ManageAsApp`.
    pub hosted_exchange: bool,
    /// Validity of a new certificate, in days.
    pub certificate_days: i64,
}

impl Default for OnboardOptions {
    fn default() -> Self {
        OnboardOptions {
            app_name: super::DEFAULT_APP_NAME.to_string(),
            hosted_exchange: false,
            certificate_days: 730,
        }
    }
}

/// The app found by its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingApp {
    /// Object id.
    pub object_id: String,
    /// Client id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// SHA-1 thumbprints (upper-case hex) of its certificates.
    pub thumbprints: Vec<String>,
    /// Its service principal, if any.
    pub service_principal_id: Option<String>,
}

/// What onboarding will do, for the confirmation page and `--dry-run`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tenant.
    pub tenant: String,
    /// App name.
    pub app_name: String,
    /// The app found by its tag (then nothing new is registered).
    pub existing: Option<ExistingApp>,
    /// Permissions, with whether each is already granted.
    pub permissions: Vec<PlannedPermission>,
    /// Validity of a new certificate, in days.
    pub certificate_days: i64,
}

impl Plan {
    /// One line per action, in order (coded: English for the CLI, translated by the setup GUI).
    pub fn actions(&self, local_thumbprint: Option<&str>) -> Vec<TextCode> {
        let mut out = Vec::new();
        match &self.existing {
            None => out.push(coded!(
                "ob_plan_create_app",
                "create the app registration '{app}' (tag {tag}) with a new certificate made on this machine ({days} days; only its public key is uploaded)",
                app = self.app_name,
                tag = APP_TAG,
                days = self.certificate_days
            )),
            Some(app) => {
                let has_key = local_thumbprint
                    .is_some_and(|t| app.thumbprints.iter().any(|x| x.eq_ignore_ascii_case(t)));
                if !has_key {
                    out.push(coded!(
                        "ob_plan_add_server_key",
                        "add this server's certificate to the existing app {app_id} (made on this machine, {days} days; only its public key is uploaded, the keys of other servers are kept)",
                        app_id = app.app_id,
                        days = self.certificate_days
                    ));
                }
            }
        }
        if self
            .existing
            .as_ref()
            .is_none_or(|a| a.service_principal_id.is_none())
        {
            out.push(coded!(
                "ob_plan_create_sp",
                "create its service principal (enterprise application)"
            ));
        }
        for p in self.permissions.iter().filter(|p| !p.granted) {
            out.push(
                coded!(
                    "ob_plan_grant",
                    "grant {resource} application permission {permission} ({why})",
                    resource = p.resource,
                    permission = p.value
                )
                .with_text("why", p.why.clone()),
            );
        }
        out
    }
}

impl Plan {
    /// The plan as text, its actions judged against the certificate this machine already has.
    pub fn describe(&self, local_thumbprint: Option<&str>) -> String {
        struct Text<'a>(&'a Plan, Option<&'a str>);
        impl std::fmt::Display for Text<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.write(f, self.1)
            }
        }
        Text(self, local_thumbprint).to_string()
    }

    fn write(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        local_thumbprint: Option<&str>,
    ) -> std::fmt::Result {
        writeln!(f, "Tenant: {}", self.tenant)?;
        writeln!(f, "App registration: {} (tag {APP_TAG})", self.app_name)?;
        if let Some(app) = &self.existing {
            writeln!(f, "  already exists: client id {}", app.app_id)?;
        }
        writeln!(f, "Application permissions:")?;
        for p in &self.permissions {
            writeln!(
                f,
                "  {} / {}{} — {}",
                p.resource,
                p.value,
                if p.granted { " (granted)" } else { "" },
                p.why
            )?;
        }
        writeln!(
            f,
            "Consent: the signed-in admin grants them (app-role assignments) if they are a Global Administrator or Privileged Role Administrator; otherwise the consent URL is shown for one."
        )?;
        writeln!(f, "Actions:")?;
        let actions = self.actions(local_thumbprint);
        if actions.is_empty() {
            writeln!(f, "  nothing: everything is in place")?;
        }
        for a in actions {
            writeln!(f, "  - {a}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, None)
    }
}

/// One line of progress for the CLI and the GUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What was done (or found), coded (English for the CLI, translated by the setup GUI).
    pub line: TextCode,
}

/// Whether the application permissions are granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// Every permission is granted.
    Granted,
    /// The signed-in admin may not grant them: someone with `role` must open `url`.
    NeedsAdmin {
        /// The admin consent URL.
        url: String,
        /// Who can approve (coded: [`consent_role`]).
        role: TextCode,
        /// The permissions still missing.
        missing: Vec<String>,
    },
}

/// What onboarding leaves: the app's identity and, when it made one, the certificate (private key on
/// this machine only).
#[derive(Debug)]
pub struct OnboardingResult {
    /// Client id.
    pub client_id: String,
    /// Application object id.
    pub object_id: String,
    /// The new certificate, when one was made.
    pub new_certificate: Option<ClientCertificate>,
    /// Consent.
    pub consent: ConsentOutcome,
    /// Whether anything was created or changed.
    pub changed: bool,
}

/// The app onboarding created, found by [`APP_TAG`].
pub(super) async fn find_app(
    directory: &DirectoryClient,
) -> Result<Option<ExistingApp>, OnboardingError> {
    let apps = directory
        .list(
            "find the connector's app",
            &format!(
                "applications?{}",
                filter(&format!("tags/any(t:t eq {})", odata_quote(APP_TAG)))
            ),
        )
        .await?;
    let Some(app) = apps.first() else {
        return Ok(None);
    };
    let text = |v: &Value, n: &str| {
        v.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let app_id = text(app, "appId");
    let thumbprints = app
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(super::rotation::thumbprint_of_key)
        .collect();
    let sp = service_principal_of(directory, &app_id).await?;
    Ok(Some(ExistingApp {
        object_id: text(app, "id"),
        display_name: text(app, "displayName"),
        app_id,
        thumbprints,
        service_principal_id: sp.map(|s| text(&s, "id")),
    }))
}

async fn service_principal_of(
    directory: &DirectoryClient,
    app_id: &str,
) -> Result<Option<Value>, OnboardingError> {
    Ok(directory
        .list(
            "find a service principal",
            &format!(
                "servicePrincipals?{}",
                filter(&format!("appId eq {}", odata_quote(app_id)))
            ),
        )
        .await?
        .into_iter()
        .next())
}

/// A resource's service principal id and its app roles (`value` → `id`).
async fn resource_roles(
    directory: &DirectoryClient,
    app_id: &str,
    name: &str,
) -> Result<(String, Vec<(String, String)>), OnboardingError> {
    let sp = service_principal_of(directory, app_id)
        .await?
        .ok_or_else(|| OnboardingError::MissingAppRole {
            resource: name.to_string(),
            permission: "(no service principal in the tenant)".into(),
        })?;
    let roles = sp
        .get("appRoles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r.get("value")?.as_str()?.to_string(),
                r.get("id")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let id = sp
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((id, roles))
}

/// The role ids granted to a service principal.
async fn granted_role_ids(
    directory: &DirectoryClient,
    sp_id: &str,
) -> Result<Vec<String>, OnboardingError> {
    Ok(directory
        .list(
            "read the app's granted permissions",
            &format!("servicePrincipals/{sp_id}/appRoleAssignments"),
        )
        .await?
        .iter()
        .filter_map(|a| {
            a.get("appRoleId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect())
}

/// Reads the tenant and builds the plan: what exists (found by [`APP_TAG`]) and what is missing.
pub async fn plan(
    directory: &DirectoryClient,
    authority: &Authority,
    options: &OnboardOptions,
) -> Result<Plan, OnboardingError> {
    let existing = find_app(directory).await?;
    let mut permissions = needed_permissions(options.hosted_exchange);
    if let Some(sp_id) = existing
        .as_ref()
        .and_then(|a| a.service_principal_id.clone())
    {
        let granted = granted_role_ids(directory, &sp_id).await?;
        for p in &mut permissions {
            let (_, roles) = resource_roles(directory, p.resource_app_id, p.resource).await?;
            p.granted = roles
                .iter()
                .any(|(value, id)| value == p.value && granted.contains(id));
        }
    }
    Ok(Plan {
        tenant: authority.tenant.clone(),
        app_name: existing
            .as_ref()
            .map(|_| options.app_name.clone())
            .unwrap_or_else(|| options.app_name.clone()),
        existing,
        permissions,
        certificate_days: options.certificate_days,
    })
}

/// What this run created, undone in reverse order on failure.
#[derive(Default)]
struct Created {
    /// A key added to an existing app: the app and the key's id.
    added_key: Option<(ExistingApp, String)>,
    application: Option<String>,
    service_principal: Option<String>,
    assignments: Vec<(String, String)>,
}

impl Created {
    async fn undo(&self, directory: &DirectoryClient) -> Result<(), OnboardingError> {
        for (resource, id) in self.assignments.iter().rev() {
            directory
                .delete(
                    "remove a grant",
                    &format!("servicePrincipals/{resource}/appRoleAssignedTo/{id}"),
                )
                .await?;
        }
        if let Some(sp) = &self.service_principal {
            directory
                .delete(
                    "delete the service principal",
                    &format!("servicePrincipals/{sp}"),
                )
                .await?;
        }
        if let Some((app, key_id)) = &self.added_key {
            super::server_key::remove_server_key(directory, app, key_id).await?;
        }
        if let Some(app) = &self.application {
            directory
                .delete(
                    "delete the app registration",
                    &format!("applications/{app}"),
                )
                .await?;
        }
        Ok(())
    }
}

/// The `keyCredentials` entry of `certificate`'s public key.
pub(super) fn key_credential(certificate: &ClientCertificate) -> Value {
    json!({
        "keyId": super::rotation::key_id_for(certificate),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "displayName": certificate.subject,
        "key": base64::engine::general_purpose::STANDARD.encode(&certificate.certificate_der),
    })
}

/// Creates what the plan lists, reporting one [`Progress`] line per action. `local_certificate` is the
/// certificate this machine already has (its key kept when the app holds it). On a failure, what this
/// call created is deleted again before the error is returned.
pub async fn apply(
    directory: &DirectoryClient,
    authority: &Authority,
    plan: &Plan,
    local_certificate: Option<&ClientCertificate>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<OnboardingResult, OnboardingError> {
    let mut created = Created::default();
    match apply_steps(
        directory,
        authority,
        plan,
        local_certificate,
        progress,
        &mut created,
    )
    .await
    {
        Ok(result) => Ok(result),
        Err(cause) => {
            let anything = created.added_key.is_some()
                || created.application.is_some()
                || created.service_principal.is_some()
                || !created.assignments.is_empty();
            if anything {
                progress(Progress {
                    line: coded!("ob_undoing", "undoing what this run created"),
                });
            }
            match created.undo(directory).await {
                Ok(()) => Err(cause),
                Err(rollback) => Err(OnboardingError::RollbackFailed {
                    cause: Box::new(cause),
                    rollback: rollback.to_string(),
                    app_name: plan.app_name.clone(),
                }),
            }
        }
    }
}

async fn apply_steps(
    directory: &DirectoryClient,
    authority: &Authority,
    plan: &Plan,
    local_certificate: Option<&ClientCertificate>,
    progress: &mut (dyn FnMut(Progress) + Send),
    created: &mut Created,
) -> Result<OnboardingResult, OnboardingError> {
    let mut say = |line: TextCode| progress(Progress { line });
    // Role ids of every needed permission, by value, from the resources themselves.
    let mut wanted = Vec::new();
    for p in &plan.permissions {
        let (resource_id, roles) = resource_roles(directory, p.resource_app_id, p.resource).await?;
        let role_id = roles
            .iter()
            .find(|(value, _)| value == p.value)
            .map(|(_, id)| id.clone())
            .ok_or_else(|| OnboardingError::MissingAppRole {
                resource: p.resource.to_string(),
                permission: p.value.to_string(),
            })?;
        wanted.push((p, resource_id, role_id));
    }
    let mut changed = false;
    let mut new_certificate = None;

    let (object_id, app_id) = match &plan.existing {
        Some(app) => {
            let keeps_key = local_certificate.is_some_and(|c| {
                app.thumbprints
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&c.sha1_thumbprint_hex()))
            });
            if keeps_key {
                say(coded!(
                    "ob_found_app",
                    "found the app registration {app_id} with this machine's certificate",
                    app_id = app.app_id
                ));
            } else {
                let options = OnboardOptions {
                    app_name: plan.app_name.clone(),
                    hosted_exchange: false,
                    certificate_days: plan.certificate_days,
                };
                let certificate =
                    super::server_key::add_server_certificate(directory, app, &options, &mut |p| {
                        say(p.line)
                    })
                    .await?;
                created.added_key = Some((app.clone(), super::rotation::key_id_for(&certificate)));
                new_certificate = Some(certificate);
                changed = true;
            }
            (app.object_id.clone(), app.app_id.clone())
        }
        None => {
            let certificate = ClientCertificate::generate(&plan.app_name, plan.certificate_days)?;
            let mut by_resource: Vec<(&str, Vec<Value>)> = Vec::new();
            for (p, _, role_id) in &wanted {
                let entry = json!({ "id": role_id, "type": "Role" });
                match by_resource
                    .iter_mut()
                    .find(|(r, _)| *r == p.resource_app_id)
                {
                    Some((_, list)) => list.push(entry),
                    None => by_resource.push((p.resource_app_id, vec![entry])),
                }
            }
            let body = json!({
                "displayName": plan.app_name,
                "tags": [APP_TAG],
                "signInAudience": "AzureADMyOrg",
                "requiredResourceAccess": by_resource.iter().map(|(app, access)| json!({
                    "resourceAppId": app,
                    "resourceAccess": access,
                })).collect::<Vec<_>>(),
                "keyCredentials": [key_credential(&certificate)],
            });
            let app = match directory.post("applications", &body).await? {
                Ok(app) => app,
                Err(f) if f.is_denied() => {
                    return Err(OnboardingError::MayNotCreateApps { detail: f.message });
                }
                Err(f) => return Err(f.into_error("create the app registration")),
            };
            let text = |n: &str| {
                app.get(n)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (object_id, app_id) = (text("id"), text("appId"));
            created.application = Some(object_id.clone());
            say(coded!(
                "ob_created_app",
                "created the app registration '{app}' (client id {app_id}) with certificate {thumbprint}",
                app = plan.app_name,
                app_id = app_id,
                thumbprint = certificate.sha1_thumbprint_hex()
            ));
            new_certificate = Some(certificate);
            changed = true;
            (object_id, app_id)
        }
    };

    let sp_id = match plan
        .existing
        .as_ref()
        .and_then(|a| a.service_principal_id.clone())
    {
        Some(id) => id,
        None => {
            let sp = directory
                .post(
                    "servicePrincipals",
                    &json!({ "appId": app_id, "tags": [APP_TAG] }),
                )
                .await?
                .map_err(|f| f.into_error("create the service principal"))?;
            let id = sp
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if created.application.is_none() {
                created.service_principal = Some(id.clone());
            }
            say(coded!(
                "ob_created_sp",
                "created the service principal {id}",
                id = id
            ));
            changed = true;
            id
        }
    };

    let granted = granted_role_ids(directory, &sp_id).await?;
    let mut missing = Vec::new();
    for (p, resource_id, role_id) in &wanted {
        if granted.contains(role_id) {
            continue;
        }
        if !missing.is_empty() {
            missing.push(p.value.to_string());
            continue;
        }
        let body = json!({ "principalId": sp_id, "resourceId": resource_id, "appRoleId": role_id });
        match directory
            .post(
                &format!("servicePrincipals/{resource_id}/appRoleAssignedTo"),
                &body,
            )
            .await?
        {
            Ok(assignment) => {
                let id = assignment
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                created.assignments.push((resource_id.clone(), id));
                say(coded!(
                    "ob_granted",
                    "granted {resource} / {permission}",
                    resource = p.resource,
                    permission = p.value
                ));
                changed = true;
            }
            Err(f) if f.is_denied() => {
                say(
                    coded!(
                        "ob_may_not_grant",
                        "the signed-in account may not grant {resource} / {permission}: a {role} must consent",
                        resource = p.resource,
                        permission = p.value
                    )
                    .with_text("role", consent_role()),
                );
                missing.push(p.value.to_string());
            }
            Err(f) => return Err(f.into_error(&format!("grant {}", p.value))),
        }
    }
    let consent = if missing.is_empty() {
        ConsentOutcome::Granted
    } else {
        ConsentOutcome::NeedsAdmin {
            url: authority.admin_consent_url(&app_id),
            role: consent_role(),
            missing,
        }
    };
    if !changed {
        say(coded!(
            "ob_nothing_to_do",
            "nothing to do: the app, its certificate and its permissions are in place"
        ));
    }
    Ok(OnboardingResult {
        client_id: app_id,
        object_id,
        new_certificate,
        consent,
        changed,
    })
}

/// Deletes the app registration onboarding created (found by its tag) and its service principal.
/// Returns the client id removed, or `None` when there was nothing to remove.
pub async fn remove(
    directory: &DirectoryClient,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Option<String>, OnboardingError> {
    let Some(app) = find_app(directory).await? else {
        progress(Progress {
            line: coded!(
                "ob_nothing_to_remove",
                "no app registration tagged {tag}: nothing to remove",
                tag = APP_TAG
            ),
        });
        return Ok(None);
    };
    if let Some(sp) = &app.service_principal_id {
        directory
            .delete(
                "delete the service principal",
                &format!("servicePrincipals/{sp}"),
            )
            .await?;
        progress(Progress {
            line: coded!(
                "ob_deleted_sp",
                "deleted the service principal {id} and its permissions",
                id = sp
            ),
        });
    }
    directory
        .delete(
            "delete the app registration",
            &format!("applications/{}", app.object_id),
        )
        .await?;
    progress(Progress {
        line: coded!(
            "ob_deleted_app",
            "deleted the app registration {app_id}",
            app_id = app.app_id
        ),
    });
    Ok(Some(app.app_id))
}

/// The tenant id (GUID) of an authority whose tenant may be a domain, from its OpenID configuration's
/// `issuer` (`{login}/{tenant id}/v2.0`).
pub async fn tenant_id(
    http: &reqwest::Client,
    authority: &Authority,
) -> Result<String, OnboardingError> {
    let url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        authority.login_base.trim_end_matches('/'),
        authority.tenant
    );
    let unreachable = |reason: String| OnboardingError::Unreachable {
        url: url.clone(),
        reason,
    };
    let body: Value = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(crate::error_text::chain(&e)))?
        .json()
        .await
        .map_err(|e| unreachable(crate::error_text::chain(&e)))?;
    body.get("issuer")
        .and_then(Value::as_str)
        .and_then(|issuer| {
            issuer
                .trim_end_matches('/')
                .trim_end_matches("/v2.0")
                .rsplit('/')
                .next()
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unreachable("the OpenID configuration names no issuer".into()))
}

/// The connector package of an onboarded app, in memory: what setup's Connect and the hand-off take
/// from a package file. The PFX's password is random and travels only with the package.
pub fn connector_package(
    tenant_id: &str,
    authority: &Authority,
    client_id: &str,
    app_name: &str,
    certificate: &ClientCertificate,
    exchange_rest_base: Option<String>,
) -> Result<crate::package::ConnectorPackage, OnboardingError> {
    let password = crate::secret::Secret::new(uuid::Uuid::new_v4().simple().to_string());
    let certificate_pfx = certificate.to_pfx(&password)?;
    Ok(crate::package::ConnectorPackage {
        manifest: crate::package::PackageManifest {
            format_version: crate::package::FORMAT_VERSION,
            tenant_id: tenant_id.to_string(),
            tenant_name: None,
            client_id: client_id.to_string(),
            app_name: Some(app_name.to_string()),
            login_base: authority.login_base.clone(),
            graph_base: authority.graph_base.clone(),
            exchange_rest_base,
            certificate_password: password,
        },
        certificate_pfx,
    })
}
