//! Setup of RBAC for Applications for the notification mailbox (Exchange Online): the connector's app
//! may send as that mailbox and no other. Three Exchange objects (learn.microsoft.com/exchange/
//! permissions-exo/application-rbac):
//!
//! 1. the service principal pointer: `New-ServicePrincipal -AppId <client id> -ObjectId <enterprise
//!    app object id> -DisplayName …` (Exchange's reference to the Entra service principal);
//! 2. the management scope: `New-ManagementScope -Name … -RecipientRestrictionFilter
//!    "PrimarySmtpAddress -eq '<mailbox>'"`;
//! 3. the role assignment: `New-ManagementRoleAssignment -App <service principal> -Role "Application
//!    Mail.Send" -CustomResourceScope …`.
//!
//! Each is read first (`Get-…`) and only created when missing, so running it again changes nothing; a
//! scope whose filter names another mailbox is corrected (`Set-ManagementScope`). The cmdlets go
//! through the connector's Exchange client (REST `InvokeCommand` with the app's token), which works
//! when the app holds role management in Exchange (the Organization Management role group, or the
//! Entra role Exchange Administrator). Without it the cmdlets are not there for the app, and the
//! admin gets the commands to run in Exchange Online PowerShell ([`RbacError::commands`]).

use serde::Deserialize;

use super::graph_mail::{SCOPE_NAME, SEND_ROLE, rbac_commands};
use crate::exchange::{ExchangeClient, ExchangeError, Invocation};

/// The display name the connector gives its service principal pointer.
pub const SERVICE_PRINCIPAL_NAME: &str = "Exchange Connector";

/// What [`ensure_mail_send_scope`] found and did, one line per object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacOutcome {
    /// One sentence per object: created, corrected or already there.
    pub lines: Vec<String>,
    /// Whether anything was created or changed.
    pub changed: bool,
}

/// Why the scope could not be set up by the connector.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// Exchange does not know the app yet, and its enterprise app object id was not given.
    #[error(
        "Exchange Online has no service principal for the app {client_id} yet; give the enterprise application's object id (Entra admin center > Enterprise applications > the app > Object ID) with --service-principal-id"
    )]
    ServicePrincipalIdNeeded {
        /// The app's client id.
        client_id: String,
    },
    /// A cmdlet failed: usually the app lacks role management in Exchange.
    #[error(
        "the app cannot set up RBAC for Applications itself ({cmdlet}: {source}); it needs the Organization Management role group or the Entra role Exchange Administrator — or an Exchange admin runs the commands below"
    )]
    Exchange {
        /// The cmdlet that failed.
        cmdlet: String,
        /// Exchange's error.
        source: ExchangeError,
    },
}

/// `Get-ServicePrincipal` (the fields used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServicePrincipalRecord {
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    object_id: String,
}

/// `Get-ManagementScope` (the fields used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScopeRecord {
    #[serde(default)]
    name: String,
    #[serde(default)]
    recipient_filter: String,
}

/// `Get-ManagementRoleAssignment` (the fields used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssignmentRecord {
    #[serde(default)]
    role: String,
    #[serde(default)]
    role_assignee: String,
    #[serde(default)]
    custom_resource_scope: String,
}

/// The filter of the scope that holds only `mailbox` (a quote doubled, as OPATH strings escape it).
pub fn scope_filter(mailbox: &str) -> String {
    format!("PrimarySmtpAddress -eq '{}'", mailbox.replace('\'', "''"))
}

/// The commands an Exchange admin runs when the connector cannot: the service principal pointer (with
/// the enterprise app's object id, or a placeholder), then [`rbac_commands`].
pub fn admin_commands(client_id: &str, mailbox: &str, object_id: Option<&str>) -> Vec<String> {
    let object_id = object_id.unwrap_or("<enterprise application object id>");
    let [scope, assignment] = rbac_commands(client_id, mailbox);
    vec![
        format!(
            "New-ServicePrincipal -AppId {client_id} -ObjectId {object_id} -DisplayName \"{SERVICE_PRINCIPAL_NAME}\" (only if Get-ServicePrincipal -Identity {client_id} finds none)"
        ),
        scope,
        assignment,
    ]
}

fn failed(cmdlet: &str) -> impl FnOnce(ExchangeError) -> RbacError + '_ {
    move |source| RbacError::Exchange {
        cmdlet: cmdlet.to_string(),
        source,
    }
}

/// Runs a cmdlet that creates or changes an object.
async fn change(exchange: &ExchangeClient, invocation: Invocation) -> Result<(), RbacError> {
    exchange
        .call_void(&invocation)
        .await
        .map_err(failed(&invocation.cmdlet))
}

/// Makes sure the app `client_id` holds `Application Mail.Send` on `mailbox` only: reads each object
/// first and creates (or corrects) only what is missing. `service_principal_id` is the enterprise
/// app's object id, needed only when Exchange has no pointer for the app yet.
pub async fn ensure_mail_send_scope(
    exchange: &ExchangeClient,
    client_id: &str,
    mailbox: &str,
    service_principal_id: Option<&str>,
) -> Result<RbacOutcome, RbacError> {
    let mut outcome = RbacOutcome {
        lines: Vec::new(),
        changed: false,
    };

    // 1. The service principal pointer.
    let get = "Get-ServicePrincipal";
    let known: Vec<ServicePrincipalRecord> = exchange
        .call(&Invocation::new(get))
        .await
        .map_err(failed(get))?;
    let object_id = match known
        .iter()
        .find(|sp| sp.app_id.eq_ignore_ascii_case(client_id))
    {
        Some(sp) => {
            outcome.lines.push(format!(
                "service principal: Exchange already knows the app {client_id} (object id {})",
                sp.object_id
            ));
            sp.object_id.clone()
        }
        None => {
            let object_id =
                service_principal_id.ok_or_else(|| RbacError::ServicePrincipalIdNeeded {
                    client_id: client_id.to_string(),
                })?;
            change(
                exchange,
                Invocation::new("New-ServicePrincipal")
                    .param("AppId", client_id)
                    .param("ObjectId", object_id)
                    .param("DisplayName", SERVICE_PRINCIPAL_NAME),
            )
            .await?;
            outcome.changed = true;
            outcome.lines.push(format!(
                "service principal: created for the app {client_id} (object id {object_id})"
            ));
            object_id.to_string()
        }
    };

    // 2. The management scope holding only the mailbox.
    let filter = scope_filter(mailbox);
    let get = "Get-ManagementScope";
    let scopes: Vec<ScopeRecord> = exchange
        .call(&Invocation::new(get))
        .await
        .map_err(failed(get))?;
    match scopes
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(SCOPE_NAME))
    {
        Some(scope) if scope.recipient_filter == filter => outcome.lines.push(format!(
            "management scope \"{SCOPE_NAME}\": already holds only {mailbox}"
        )),
        Some(scope) => {
            change(
                exchange,
                Invocation::new("Set-ManagementScope")
                    .param("Identity", SCOPE_NAME)
                    .param("RecipientRestrictionFilter", filter.as_str()),
            )
            .await?;
            outcome.changed = true;
            outcome.lines.push(format!(
                "management scope \"{SCOPE_NAME}\": changed from {} to {filter}",
                scope.recipient_filter
            ));
        }
        None => {
            change(
                exchange,
                Invocation::new("New-ManagementScope")
                    .param("Name", SCOPE_NAME)
                    .param("RecipientRestrictionFilter", filter.as_str()),
            )
            .await?;
            outcome.changed = true;
            outcome.lines.push(format!(
                "management scope \"{SCOPE_NAME}\": created ({filter})"
            ));
        }
    }

    // 3. The role assignment in that scope.
    let get = "Get-ManagementRoleAssignment";
    let assignments: Vec<AssignmentRecord> = exchange
        .call(&Invocation::new(get).param("Role", SEND_ROLE))
        .await
        .map_err(failed(get))?;
    let assigned = assignments.iter().any(|a| {
        a.role.eq_ignore_ascii_case(SEND_ROLE)
            && (a.role_assignee.eq_ignore_ascii_case(&object_id)
                || a.role_assignee.eq_ignore_ascii_case(client_id))
            && a.custom_resource_scope.eq_ignore_ascii_case(SCOPE_NAME)
    });
    if assigned {
        outcome.lines.push(format!(
            "role assignment: the app already holds \"{SEND_ROLE}\" in \"{SCOPE_NAME}\""
        ));
    } else {
        change(
            exchange,
            Invocation::new("New-ManagementRoleAssignment")
                .param("App", object_id.as_str())
                .param("Role", SEND_ROLE)
                .param("CustomResourceScope", SCOPE_NAME),
        )
        .await?;
        outcome.changed = true;
        outcome.lines.push(format!(
            "role assignment: \"{SEND_ROLE}\" assigned to the app in \"{SCOPE_NAME}\" (Exchange Online may take up to two hours to apply it)"
        ));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_gets_three_commands_with_the_real_names() {
        let commands = admin_commands("9a8b", "o'neil@contoso.com", None);
        assert!(commands[0].starts_with(
            "New-ServicePrincipal -AppId 9a8b -ObjectId <enterprise application object id>"
        ));
        assert!(commands[1].contains("PrimarySmtpAddress -eq 'o''neil@contoso.com'"));
        assert!(commands[2].starts_with("New-ManagementRoleAssignment -App 9a8b"));
        assert_eq!(scope_filter("a@b.c"), "PrimarySmtpAddress -eq 'a@b.c'");
    }
}
