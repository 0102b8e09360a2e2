//! The cmdlet engine: runs Exchange management cmdlets against the lab's [`ExchangeOrg`], with
//! Exchange's parameter binding, defaults (`-ResultSize 1000`), warnings and error records. REST
//! `InvokeCommand` and the `/PowerShell/` endpoint both call [`invoke`].
//!
//! Results are [`Item`]s: for the large collections (devices, statistics, mailboxes, recipients) an item
//! is an index into the organisation, materialised only when a transport serialises it, so a
//! 50,000-device listing costs a vector of index pairs, and a REST page materialises only its own
//! objects. Mailboxes and partnerships are only ever appended, so indices stay valid across pages.

#![allow(clippy::result_large_err)] // the error record *is* the cmdlet's answer; rare, and boxing would leak into every caller

use super::opath::{self, FieldValue, Filter, FilterError, PropertyKind};
use crate::lab::LabState;
use crate::lab::org::{ExchangeOrg, LabAccount, LabDevice, LabMailbox};
use crate::model::exchange::{
    AccessLevel, ActiveSyncDeviceClass, CategoryInfo, CommandInfo, DeviceAccessRule, ErrorRecord,
    ExceptionInfo, MobileDevice, MobileDeviceStatistics, Recipient, RuleCharacteristic,
};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Who runs a cmdlet and where.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The account whose RBAC grants decide which cmdlets exist.
    pub account: &'a LabAccount,
    /// The server name put in error ids (`[Server=CAS01,...]`).
    pub server: &'a str,
}

/// One output object of a cmdlet.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `Get-MobileDevice`: (mailbox index, device index).
    Device(usize, usize),
    /// `Get-MobileDeviceStatistics`: (mailbox index, device index).
    Statistics(usize, usize),
    /// `Get-CASMailbox`: mailbox index.
    CasMailbox(usize),
    /// `Get-Recipient`: mailbox index.
    Recipient(usize),
    /// Anything small, already materialised.
    Value(Value),
}

/// What a cmdlet produced.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Output objects, in order.
    pub items: Vec<Item>,
    /// `WARNING:` lines.
    pub warnings: Vec<String>,
    /// Non-terminating errors.
    pub errors: Vec<ErrorRecord>,
}

/// The text Exchange writes when the default `-ResultSize` cut a listing short.
pub const RESULT_SIZE_WARNING: &str = "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify \"-ResultSize Unlimited\". Be aware that, depending on the actual number of items, returning all items can take a long time and consume a large amount of memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results to another task or script to perform batch changes.";

/// The text Exchange writes when an explicit `-ResultSize` cut a listing short.
pub const MORE_RESULTS_WARNING: &str = "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.";

/// Serialises one item with Exchange's property names.
pub fn item_value(org: &ExchangeOrg, item: &Item) -> Value {
    let result = match item {
        Item::Device(m, d) => serde_json::to_value(&org.mailboxes[*m].devices[*d].device),
        Item::Statistics(m, d) => serde_json::to_value(statistics(&org.mailboxes[*m].devices[*d])),
        Item::CasMailbox(m) => serde_json::to_value(&org.mailboxes[*m].cas),
        Item::Recipient(m) => serde_json::to_value(recipient(&org.mailboxes[*m])),
        Item::Value(v) => return v.clone(),
    };
    result.unwrap_or(Value::Null)
}

/// Writes one item as compact JSON (no intermediate `Value`), for streaming transports.
pub fn write_item(org: &ExchangeOrg, item: &Item, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match item {
        Item::Device(m, d) => serde_json::to_writer(out, &org.mailboxes[*m].devices[*d].device),
        Item::Statistics(m, d) => {
            serde_json::to_writer(out, &statistics(&org.mailboxes[*m].devices[*d]))
        }
        Item::CasMailbox(m) => serde_json::to_writer(out, &org.mailboxes[*m].cas),
        Item::Recipient(m) => serde_json::to_writer(out, &recipient(&org.mailboxes[*m])),
        Item::Value(v) => serde_json::to_writer(out, v),
    }
}

/// Counts one Exchange call and holds its answer until the injected base latency has passed since
/// the call `started`, then sleeps the per-object latency of `objects` objects. The base latency is
/// the whole time Exchange takes for a call: the lab's own work on it (running the cmdlet, writing a
/// page of JSON) is part of that time, not added to it, so a benchmark's lower bound (calls ×
/// latency) describes the lab it measures against. Never called with a lock held.
pub async fn charge_call(state: &LabState, objects: usize, started: Instant) {
    state
        .counters
        .exchange_calls
        .fetch_add(1, Ordering::Relaxed);
    let base = Duration::from_millis(state.faults().exchange_latency_ms);
    let left = base.saturating_sub(started.elapsed());
    if !left.is_zero() {
        tokio::time::sleep(left).await;
    }
    charge_objects(state, objects).await;
}

/// Counts `objects` returned objects and sleeps their injected per-object latency (streaming
/// transports call it per chunk). Never called with a lock held.
pub async fn charge_objects(state: &LabState, objects: usize) {
    state
        .counters
        .exchange_objects
        .fetch_add(objects as u64, Ordering::Relaxed);
    let per_object_us = state.faults().exchange_latency_per_object_us;
    let delay = Duration::from_micros(per_object_us.saturating_mul(objects as u64));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Runs `cmdlet` with `parameters` as `ctx.account`. `Err` is a terminating error.
pub fn invoke(
    state: &LabState,
    ctx: &CallContext<'_>,
    cmdlet: &str,
    parameters: &Map<String, Value>,
) -> Result<Output, ErrorRecord> {
    let cmdlet = cmdlet.trim();
    let spec = CMDLETS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(cmdlet))
        // Restricted RBAC looks exactly like a missing command from a remote session; Get-Command is
        // one of the proxies every restricted session keeps.
        .filter(|s| {
            s.name == "Get-Command"
                || ctx.account.may_run(s.name)
                || (ROLE_MANAGEMENT_CMDLETS.contains(&s.name) && manages_roles(state, ctx.account))
        })
        .ok_or_else(|| command_not_found(cmdlet))?;
    let params = bind(spec, parameters)?;
    let run = Run {
        state,
        ctx,
        spec,
        params,
    };
    (spec.run)(&run)
}

/// Convenience for tests and simple callers: runs a cmdlet and materialises every record.
pub fn invoke_values(
    state: &LabState,
    ctx: &CallContext<'_>,
    cmdlet: &str,
    parameters: &Map<String, Value>,
) -> Result<(Vec<Value>, Vec<String>), ErrorRecord> {
    let output = invoke(state, ctx, cmdlet, parameters)?;
    let org = state.org();
    let values = output.items.iter().map(|i| item_value(&org, i)).collect();
    Ok((values, output.warnings))
}

/// The cmdlets of RBAC for Applications: only an app that holds role management (Organization
/// Management, or the Entra role Exchange Administrator: [`super::app_rbac::AppRbac::role_managers`])
/// may run them.
pub const ROLE_MANAGEMENT_CMDLETS: &[&str] = &[
    "Get-ServicePrincipal",
    "New-ServicePrincipal",
    "Get-ManagementScope",
    "New-ManagementScope",
    "Set-ManagementScope",
    "Get-ManagementRoleAssignment",
    "New-ManagementRoleAssignment",
];

/// Whether `account` is an app (`APP\<client id>`, as REST callers are) that manages roles.
fn manages_roles(state: &LabState, account: &LabAccount) -> bool {
    account
        .user_name
        .strip_prefix("APP\\")
        .is_some_and(|client_id| state.org().app_rbac.manages_roles(client_id))
}

/// Whether an RBAC for Applications assignment of `Application Mail.Send` to the app `client_id` has
/// the mailbox at `mailbox` (an index into the organisation) in its custom resource scope: Graph
/// `sendMail` asks this. The scope's filter is evaluated now, as Exchange does (a change applies after
/// its cache expires there; at once here).
pub fn mail_send_in_rbac_scope(org: &ExchangeOrg, client_id: &str, mailbox: usize) -> bool {
    let Some(mb) = org.mailboxes.get(mailbox) else {
        return false;
    };
    org.app_rbac.assignments.iter().any(|a| {
        a.role.eq_ignore_ascii_case(MAIL_SEND_ROLE)
            && a.app.eq_ignore_ascii_case(client_id)
            // No custom resource scope: every mailbox of the organisation.
            && (a.custom_resource_scope.is_empty() || org
                .app_rbac
                .scope(&a.custom_resource_scope)
                .and_then(|scope| opath::parse(&scope.recipient_filter, RECIPIENT_PROPERTIES).ok())
                .is_some_and(|filter| filter.matches(&|p| recipient_field(mb, p))))
    })
}

/// The application role that allows Graph `sendMail`.
const MAIL_SEND_ROLE: &str = "Application Mail.Send";
/// The application roles the lab knows (a subset of Exchange Online's).
const APPLICATION_ROLES: &[&str] = &[
    "Application Mail.Send",
    "Application Mail.Read",
    "Application Mail.ReadWrite",
    "Application Calendars.Read",
    "Application Calendars.ReadWrite",
];

/// The account a REST caller acts as: an app with `Exchange.ManageAsApp`, granted every cmdlet.
pub fn app_account(client_id: &str) -> LabAccount {
    LabAccount {
        user_name: format!("APP\\{client_id}"),
        upn: format!("{client_id}@app"),
        password: crate::secret::Secret::new(String::new()),
        granted_cmdlets: crate::lab::org::ALL_CMDLETS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Cmdlet table and parameter binding
// ---------------------------------------------------------------------------------------------

type Handler = fn(&Run<'_>) -> Result<Output, ErrorRecord>;

struct CmdletSpec {
    name: &'static str,
    /// .NET task class, for `FullyQualifiedErrorId`.
    task: &'static str,
    params: &'static [&'static str],
    mandatory: &'static [&'static str],
    changes: bool,
    run: Handler,
}

const DEVICE_PARAMS: &[&str] = &[
    "Identity",
    "Mailbox",
    "Filter",
    "ResultSize",
    "SortBy",
    "ActiveSync",
    "OrganizationalUnit",
    "Monitoring",
    "OWAforDevices",
    "RestApi",
    "UniversalOutlook",
    "DomainController",
];
const STATS_PARAMS: &[&str] = &[
    "Identity",
    "Mailbox",
    "GetMailboxLog",
    "NotificationEmailAddresses",
    "ShowRecoveryPassword",
    "ActiveSync",
    "OWAforDevices",
    "RestApi",
    "UniversalOutlook",
    "DomainController",
];

const CMDLETS: &[CmdletSpec] = &[
    CmdletSpec {
        name: "Get-MobileDevice",
        task: "Microsoft.Exchange.Management.Tasks.GetMobileDevice",
        params: DEVICE_PARAMS,
        mandatory: &[],
        changes: false,
        run: get_mobile_device,
    },
    CmdletSpec {
        name: "Get-ActiveSyncDevice",
        task: "Microsoft.Exchange.Management.Tasks.GetActiveSyncDevice",
        params: DEVICE_PARAMS,
        mandatory: &[],
        changes: false,
        run: get_mobile_device,
    },
    CmdletSpec {
        name: "Get-MobileDeviceStatistics",
        task: "Microsoft.Exchange.Management.Tasks.GetMobileDeviceStatistics",
        params: STATS_PARAMS,
        mandatory: &[],
        changes: false,
        run: get_statistics,
    },
    CmdletSpec {
        name: "Get-ActiveSyncDeviceStatistics",
        task: "Microsoft.Exchange.Management.Tasks.GetActiveSyncDeviceStatistics",
        params: STATS_PARAMS,
        mandatory: &[],
        changes: false,
        run: get_statistics,
    },
    CmdletSpec {
        name: "Get-CASMailbox",
        task: "Microsoft.Exchange.Management.RecipientTasks.GetCasMailbox",
        params: &[
            "Identity",
            "Filter",
            "ResultSize",
            "RecalculateHasActiveSyncDevicePartnership",
            "ReadFromDomainController",
            "OrganizationalUnit",
            "SortBy",
            "ActiveSyncDebugLogging",
            "ProtocolSettings",
            "DomainController",
        ],
        mandatory: &[],
        changes: false,
        run: get_cas_mailbox,
    },
    CmdletSpec {
        name: "Set-CASMailbox",
        task: "Microsoft.Exchange.Management.RecipientTasks.SetCasMailbox",
        params: &[
            "Identity",
            "ActiveSyncAllowedDeviceIDs",
            "ActiveSyncBlockedDeviceIDs",
            "ActiveSyncEnabled",
            "ActiveSyncMailboxPolicy",
            "DomainController",
        ],
        mandatory: &["Identity"],
        changes: true,
        run: set_cas_mailbox,
    },
    CmdletSpec {
        name: "Get-ActiveSyncOrganizationSettings",
        task: "Microsoft.Exchange.Management.Tasks.GetActiveSyncOrganizationSettings",
        params: &["Identity", "DomainController"],
        mandatory: &[],
        changes: false,
        run: get_org_settings,
    },
    CmdletSpec {
        name: "Set-ActiveSyncOrganizationSettings",
        task: "Microsoft.Exchange.Management.Tasks.SetActiveSyncOrganizationSettings",
        params: &[
            "Identity",
            "DefaultAccessLevel",
            "UserMailInsert",
            "AdminMailRecipients",
            "OtaNotificationMailInsert",
            "AllowAccessForUnSupportedPlatform",
            "DomainController",
        ],
        mandatory: &[],
        changes: true,
        run: set_org_settings,
    },
    CmdletSpec {
        name: "Get-ActiveSyncDeviceAccessRule",
        task: "Microsoft.Exchange.Management.Tasks.GetActiveSyncDeviceAccessRule",
        params: &["Identity", "Filter", "ResultSize", "DomainController"],
        mandatory: &[],
        changes: false,
        run: get_rules,
    },
    CmdletSpec {
        name: "New-ActiveSyncDeviceAccessRule",
        task: "Microsoft.Exchange.Management.Tasks.NewActiveSyncDeviceAccessRule",
        params: &[
            "Characteristic",
            "QueryString",
            "AccessLevel",
            "DomainController",
        ],
        mandatory: &["Characteristic", "QueryString", "AccessLevel"],
        changes: true,
        run: new_rule,
    },
    CmdletSpec {
        name: "Set-ActiveSyncDeviceAccessRule",
        task: "Microsoft.Exchange.Management.Tasks.SetActiveSyncDeviceAccessRule",
        params: &["Identity", "AccessLevel", "DomainController"],
        mandatory: &["Identity"],
        changes: true,
        run: set_rule,
    },
    CmdletSpec {
        name: "Remove-ActiveSyncDeviceAccessRule",
        task: "Microsoft.Exchange.Management.Tasks.RemoveActiveSyncDeviceAccessRule",
        params: &["Identity", "DomainController"],
        mandatory: &["Identity"],
        changes: true,
        run: remove_rule,
    },
    CmdletSpec {
        name: "Get-ActiveSyncDeviceClass",
        task: "Microsoft.Exchange.Management.Tasks.GetActiveSyncDeviceClass",
        params: &[
            "Identity",
            "Filter",
            "ResultSize",
            "SortBy",
            "DomainController",
        ],
        mandatory: &[],
        changes: false,
        run: get_device_classes,
    },
    CmdletSpec {
        name: "Get-ExchangeServer",
        task: "Microsoft.Exchange.Management.SystemConfigurationTasks.GetExchangeServer",
        params: &["Identity", "Domain", "Status", "DomainController"],
        mandatory: &[],
        changes: false,
        run: get_exchange_server,
    },
    CmdletSpec {
        name: "Get-Recipient",
        task: "Microsoft.Exchange.Management.RecipientTasks.GetRecipient",
        params: &[
            "Identity",
            "RecipientTypeDetails",
            "RecipientType",
            "ResultSize",
            "Filter",
            "ReadFromDomainController",
            "OrganizationalUnit",
            "SortBy",
            "DomainController",
        ],
        mandatory: &[],
        changes: false,
        run: get_recipient,
    },
    CmdletSpec {
        name: "Set-ADServerSettings",
        task: "Microsoft.Exchange.Management.SystemConfigurationTasks.SetADServerSettings",
        params: &[
            "ViewEntireForest",
            "RecipientViewRoot",
            "PreferredServer",
            "ConfigurationDomainController",
            "PreferredGlobalCatalog",
            "RunspaceServerSettings",
        ],
        mandatory: &[],
        changes: false,
        run: set_ad_server_settings,
    },
    CmdletSpec {
        name: "Get-ServicePrincipal",
        task: "Microsoft.Exchange.Management.RbacTasks.GetServicePrincipal",
        params: &["Identity", "Organization"],
        mandatory: &[],
        changes: false,
        run: get_service_principal,
    },
    CmdletSpec {
        name: "New-ServicePrincipal",
        task: "Microsoft.Exchange.Management.RbacTasks.NewServicePrincipal",
        params: &["AppId", "ObjectId", "DisplayName", "Organization"],
        mandatory: &["AppId", "ObjectId"],
        changes: true,
        run: new_service_principal,
    },
    CmdletSpec {
        name: "Get-ManagementScope",
        task: "Microsoft.Exchange.Management.RbacTasks.GetManagementScope",
        params: &["Identity", "Exclusive", "Orphan", "DomainController"],
        mandatory: &[],
        changes: false,
        run: get_management_scope,
    },
    CmdletSpec {
        name: "New-ManagementScope",
        task: "Microsoft.Exchange.Management.RbacTasks.NewManagementScope",
        params: &[
            "Name",
            "RecipientRestrictionFilter",
            "RecipientRoot",
            "Exclusive",
            "Force",
            "DomainController",
        ],
        mandatory: &["Name", "RecipientRestrictionFilter"],
        changes: true,
        run: new_management_scope,
    },
    CmdletSpec {
        name: "Set-ManagementScope",
        task: "Microsoft.Exchange.Management.RbacTasks.SetManagementScope",
        params: &[
            "Identity",
            "RecipientRestrictionFilter",
            "Name",
            "Force",
            "DomainController",
        ],
        mandatory: &["Identity"],
        changes: true,
        run: set_management_scope,
    },
    CmdletSpec {
        name: "Get-ManagementRoleAssignment",
        task: "Microsoft.Exchange.Management.RbacTasks.GetManagementRoleAssignment",
        params: &[
            "Identity",
            "Role",
            "RoleAssignee",
            "RoleAssigneeType",
            "CustomResourceScope",
            "DomainController",
        ],
        mandatory: &[],
        changes: false,
        run: get_role_assignment,
    },
    CmdletSpec {
        name: "New-ManagementRoleAssignment",
        task: "Microsoft.Exchange.Management.RbacTasks.NewManagementRoleAssignment",
        params: &[
            "Name",
            "Role",
            "App",
            "CustomResourceScope",
            "RecipientAdministrativeUnitScope",
            "DomainController",
        ],
        mandatory: &["Role"],
        changes: true,
        run: new_role_assignment,
    },
    CmdletSpec {
        name: "Get-Command",
        task: "Microsoft.PowerShell.Commands.GetCommandCommand",
        params: &[
            "Name",
            "Module",
            "CommandType",
            "Noun",
            "Verb",
            "ListImported",
            "TotalCount",
            "ArgumentList",
            "FullyQualifiedModule",
            "All",
            "Syntax",
            "ShowCommandInfo",
            "ParameterName",
            "ParameterType",
        ],
        mandatory: &[],
        changes: false,
        run: get_command,
    },
];

/// Parameters every cmdlet accepts (PowerShell's common parameters).
const COMMON_PARAMS: &[&str] = &[
    "Verbose",
    "Debug",
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "ErrorVariable",
    "WarningVariable",
    "InformationVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
    "ProgressAction",
];

/// Accepted by cmdlets that change something.
const CHANGE_PARAMS: &[&str] = &["Confirm", "WhatIf", "Force"];

struct Run<'a> {
    state: &'a LabState,
    ctx: &'a CallContext<'a>,
    spec: &'static CmdletSpec,
    params: HashMap<&'static str, Value>,
}

fn bind(
    spec: &'static CmdletSpec,
    given: &Map<String, Value>,
) -> Result<HashMap<&'static str, Value>, ErrorRecord> {
    let mut bound = HashMap::new();
    for (key, value) in given {
        let key = key.trim_start_matches('-');
        let exact = spec.params.iter().find(|p| p.eq_ignore_ascii_case(key));
        // PowerShell binds any unambiguous prefix of a parameter name.
        let chosen = match exact {
            Some(p) => Some(*p),
            None => {
                let prefixed: Vec<&&str> = spec
                    .params
                    .iter()
                    .filter(|p| p.len() > key.len() && p[..key.len()].eq_ignore_ascii_case(key))
                    .collect();
                if prefixed.len() == 1 && !key.is_empty() {
                    Some(*prefixed[0])
                } else if prefixed.len() > 1 {
                    let names: Vec<&str> = prefixed.iter().map(|p| **p).collect();
                    return Err(binding_error(
                        spec,
                        &format!(
                            "Parameter cannot be processed because the parameter name '{key}' is ambiguous. Possible matches include: -{}.",
                            names.join(" -")
                        ),
                        "AmbiguousParameter",
                    ));
                } else {
                    None
                }
            }
        };
        match chosen {
            Some(p) => {
                bound.insert(p, value.clone());
            }
            None => {
                let common = COMMON_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(key))
                    || (spec.changes && CHANGE_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(key)));
                if !common {
                    return Err(binding_error(
                        spec,
                        &format!(
                            "A parameter cannot be found that matches parameter name '{key}'."
                        ),
                        "NamedParameterNotFound",
                    ));
                }
            }
        }
    }
    let missing: Vec<&str> = spec
        .mandatory
        .iter()
        .filter(|m| bound.get(**m).is_none_or(Value::is_null))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(binding_error(
            spec,
            &format!(
                "Cannot process command because of one or more missing mandatory parameters: {}.",
                missing.join(" ")
            ),
            "MissingMandatoryParameter",
        ));
    }
    Ok(bound)
}

// ---------------------------------------------------------------------------------------------
// Error records
// ---------------------------------------------------------------------------------------------

/// The error a remote session gives for a command that does not exist or is not granted.
pub fn command_not_found(cmdlet: &str) -> ErrorRecord {
    ErrorRecord {
        exception: ExceptionInfo {
            type_name: "System.Management.Automation.CommandNotFoundException".into(),
            message: format!(
                "The term '{cmdlet}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
            ),
        },
        category_info: CategoryInfo {
            category: "ObjectNotFound".into(),
            activity: String::new(),
            reason: "CommandNotFoundException".into(),
            target_name: cmdlet.to_string(),
        },
        fully_qualified_error_id: "CommandNotFoundException".into(),
    }
}

fn binding_error(spec: &CmdletSpec, message: &str, id: &str) -> ErrorRecord {
    ErrorRecord {
        exception: ExceptionInfo {
            type_name: "System.Management.Automation.ParameterBindingException".into(),
            message: message.to_string(),
        },
        category_info: CategoryInfo {
            category: "InvalidArgument".into(),
            activity: spec.name.into(),
            reason: "ParameterBindingException".into(),
            target_name: String::new(),
        },
        fully_qualified_error_id: format!("{id},{}", spec.name),
    }
}

/// Exchange's error ids are stable per error site; derive one from the site.
fn error_id(kind: &str, task: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in kind.bytes().chain(task.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08X}")
}

impl Run<'_> {
    /// An Exchange task error with its `[Server=..,RequestId=..,TimeStamp=..]` id.
    fn task_error(
        &self,
        exception: &str,
        category: &str,
        message: String,
        target: &str,
    ) -> ErrorRecord {
        let short = exception.rsplit('.').next().unwrap_or(exception);
        let now = Utc::now().format("%-m/%-d/%Y %-I:%M:%S %p");
        ErrorRecord {
            exception: ExceptionInfo {
                type_name: exception.to_string(),
                message,
            },
            category_info: CategoryInfo {
                category: category.into(),
                activity: self.spec.name.into(),
                reason: short.to_string(),
                target_name: target.to_string(),
            },
            fully_qualified_error_id: format!(
                "[Server={},RequestId={},TimeStamp={now}] [FailureCategory=Cmdlet-{short}] {},{}",
                self.ctx.server,
                uuid::Uuid::new_v4(),
                error_id(short, self.spec.task),
                self.spec.task
            ),
        }
    }

    fn not_found(&self, identity: &str, dc: &str) -> ErrorRecord {
        self.task_error(
            "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
            "NotSpecified",
            format!("The operation couldn't be performed because object '{identity}' couldn't be found on '{dc}'."),
            identity,
        )
    }

    fn bad_argument(&self, parameter: &str, message: String) -> ErrorRecord {
        binding_error(
            self.spec,
            &format!(
                "Cannot bind parameter '{parameter}' to the target. Exception setting \"{parameter}\": \"{message}\""
            ),
            "ParameterBindingFailed",
        )
    }

    fn text(&self, name: &str) -> Result<Option<String>, ErrorRecord> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_text(v)
                .map(Some)
                .ok_or_else(|| self.conversion(name, v, "System.String")),
        }
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, ErrorRecord> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match as_text(v)
                .map(|t| t.trim_start_matches('$').to_ascii_lowercase())
                .as_deref()
            {
                Some("true" | "1") => Ok(Some(true)),
                Some("false" | "0") => Ok(Some(false)),
                _ => Err(self.conversion(name, v, "System.Boolean")),
            },
        }
    }

    fn conversion(&self, name: &str, value: &Value, type_name: &str) -> ErrorRecord {
        binding_error(
            self.spec,
            &format!(
                "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{}\" to type \"{type_name}\".",
                display(value)
            ),
            "ParameterArgumentTransformationError",
        )
    }

    fn access_level(&self, name: &str) -> Result<Option<AccessLevel>, ErrorRecord> {
        match self.text(name)? {
            None => Ok(None),
            Some(t) => AccessLevel::parse(t.trim()).map(Some).ok_or_else(|| {
                binding_error(
                    self.spec,
                    &format!(
                        "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{t}\" to type \"Microsoft.Exchange.Data.Directory.SystemConfiguration.DeviceAccessLevel\". Error: \"Unable to match the identifier name {t} to a valid enumerator name. Specify one of the following enumerator names and try again:\nAllow, Block, Quarantine\""
                    ),
                    "ParameterArgumentTransformationError",
                )
            }),
        }
    }

    /// `-ResultSize`: (limit, whether the caller gave it).
    fn result_size(&self) -> Result<(usize, bool), ErrorRecord> {
        match self.params.get("ResultSize") {
            None | Some(Value::Null) => Ok((1000, false)),
            Some(Value::Number(n)) => n.as_u64().map(|n| (n as usize, true)).ok_or_else(|| {
                self.conversion(
                    "ResultSize",
                    &Value::Number(n.clone()),
                    "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]",
                )
            }),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("unlimited") => {
                Ok((usize::MAX, true))
            }
            Some(v @ Value::String(s)) => {
                s.trim().parse::<usize>().map(|n| (n, true)).map_err(|_| {
                    self.conversion(
                        "ResultSize",
                        v,
                        "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]",
                    )
                })
            }
            Some(v) => Err(self.conversion(
                "ResultSize",
                v,
                "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]",
            )),
        }
    }

    fn filter(
        &self,
        properties: &[(&'static str, PropertyKind)],
    ) -> Result<Option<Filter>, ErrorRecord> {
        let Some(text) = self.text("Filter")? else {
            return Ok(None);
        };
        opath::parse(&text, properties)
            .map(Some)
            .map_err(|e: FilterError| self.bad_argument("Filter", e.to_string()))
    }

    fn dc(&self, org: &ExchangeOrg) -> String {
        format!("DC01.{}", org.domain)
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        _ => None,
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(" "),
        Value::Object(_) => "System.Collections.Hashtable".into(),
        other => other.to_string(),
    }
}

/// Applies `-ResultSize` and adds Exchange's warning when it cut the listing short.
fn limit(
    mut items: Vec<Item>,
    (size, explicit): (usize, bool),
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    if items.len() > size {
        items.truncate(size);
        warnings.push(
            if explicit {
                MORE_RESULTS_WARNING
            } else {
                RESULT_SIZE_WARNING
            }
            .to_string(),
        );
    }
    items
}

fn output(items: Vec<Item>, warnings: Vec<String>) -> Result<Output, ErrorRecord> {
    Ok(Output {
        items,
        warnings,
        errors: Vec::new(),
    })
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Filterable properties
// ---------------------------------------------------------------------------------------------

/// Filterable properties of `Get-MobileDevice` (spec §6.1, plus `WhenChanged` / `WhenCreated`).
pub const DEVICE_PROPERTIES: &[(&str, PropertyKind)] = &[
    ("ClientType", PropertyKind::Text),
    ("DeviceAccessControlRule", PropertyKind::Text),
    ("DeviceAccessState", PropertyKind::Text),
    ("DeviceAccessStateReason", PropertyKind::Text),
    ("DeviceActiveSyncVersion", PropertyKind::Text),
    ("DeviceId", PropertyKind::Text),
    ("DeviceImei", PropertyKind::Text),
    ("DeviceMobileOperator", PropertyKind::Text),
    ("DeviceModel", PropertyKind::Text),
    ("DeviceOS", PropertyKind::Text),
    ("DeviceOSLanguage", PropertyKind::Text),
    ("DeviceTelephoneNumber", PropertyKind::Text),
    ("DeviceType", PropertyKind::Text),
    ("DeviceUserAgent", PropertyKind::Text),
    ("FirstSyncTime", PropertyKind::Date),
    ("FriendlyName", PropertyKind::Text),
    ("ProvisioningFlags", PropertyKind::Text),
    ("UserDisplayName", PropertyKind::Text),
    ("WhenChanged", PropertyKind::Date),
    ("WhenCreated", PropertyKind::Date),
];

fn opt_text(v: &Option<String>) -> FieldValue<'_> {
    v.as_deref().map_or(FieldValue::Null, FieldValue::Text)
}

fn opt_date(v: &Option<chrono::DateTime<Utc>>) -> FieldValue<'static> {
    v.map_or(FieldValue::Null, FieldValue::Date)
}

fn device_field<'a>(d: &'a MobileDevice, property: &str) -> FieldValue<'a> {
    match property {
        "ClientType" => opt_text(&d.client_type),
        "DeviceAccessControlRule" => opt_text(&d.device_access_control_rule),
        "DeviceAccessState" => FieldValue::Text(d.device_access_state.as_str()),
        "DeviceAccessStateReason" => FieldValue::Text(d.device_access_state_reason.as_str()),
        "DeviceActiveSyncVersion" => opt_text(&d.device_active_sync_version),
        "DeviceId" => FieldValue::Text(&d.device_id),
        "DeviceImei" => opt_text(&d.device_imei),
        "DeviceMobileOperator" => opt_text(&d.device_mobile_operator),
        "DeviceModel" => opt_text(&d.device_model),
        "DeviceOS" => opt_text(&d.device_os),
        "DeviceOSLanguage" => opt_text(&d.device_os_language),
        "DeviceTelephoneNumber" => opt_text(&d.device_telephone_number),
        "DeviceType" => FieldValue::Text(&d.device_type),
        "DeviceUserAgent" => opt_text(&d.device_user_agent),
        "FirstSyncTime" => opt_date(&d.first_sync_time),
        "FriendlyName" => opt_text(&d.friendly_name),
        "UserDisplayName" => opt_text(&d.user_display_name),
        "WhenChanged" => opt_date(&d.when_changed),
        "WhenCreated" => opt_date(&d.when_created),
        _ => FieldValue::Null,
    }
}

/// Filterable properties of `Get-CASMailbox`.
pub const CAS_PROPERTIES: &[(&str, PropertyKind)] = &[
    ("ActiveSyncAllowedDeviceIDs", PropertyKind::List),
    ("ActiveSyncBlockedDeviceIDs", PropertyKind::List),
    ("ActiveSyncEnabled", PropertyKind::Bool),
    ("ActiveSyncMailboxPolicy", PropertyKind::Text),
    ("Alias", PropertyKind::Text),
    ("DisplayName", PropertyKind::Text),
    ("ExternalDirectoryObjectId", PropertyKind::Text),
    ("Guid", PropertyKind::Text),
    ("HasActiveSyncDevicePartnership", PropertyKind::Bool),
    ("Name", PropertyKind::Text),
    ("PrimarySmtpAddress", PropertyKind::Text),
    ("SamAccountName", PropertyKind::Text),
];

fn cas_field<'a>(m: &'a LabMailbox, property: &str) -> FieldValue<'a> {
    let c = &m.cas;
    match property {
        "ActiveSyncAllowedDeviceIDs" => FieldValue::List(&c.active_sync_allowed_device_ids),
        "ActiveSyncBlockedDeviceIDs" => FieldValue::List(&c.active_sync_blocked_device_ids),
        "ActiveSyncEnabled" => FieldValue::Bool(c.active_sync_enabled),
        "ActiveSyncMailboxPolicy" => opt_text(&c.active_sync_mailbox_policy),
        "Alias" | "Name" => FieldValue::Text(&c.name),
        "DisplayName" => FieldValue::Text(&c.display_name),
        "ExternalDirectoryObjectId" => opt_text(&c.external_directory_object_id),
        "Guid" => FieldValue::Text(&c.guid),
        "HasActiveSyncDevicePartnership" => FieldValue::Bool(c.has_active_sync_device_partnership),
        "PrimarySmtpAddress" => FieldValue::Text(&c.primary_smtp_address),
        "SamAccountName" => opt_text(&c.sam_account_name),
        _ => FieldValue::Null,
    }
}

/// Filterable properties of `Get-Recipient`.
pub const RECIPIENT_PROPERTIES: &[(&str, PropertyKind)] = &[
    ("Alias", PropertyKind::Text),
    ("DisplayName", PropertyKind::Text),
    ("ExternalDirectoryObjectId", PropertyKind::Text),
    ("Guid", PropertyKind::Text),
    ("Name", PropertyKind::Text),
    ("PrimarySmtpAddress", PropertyKind::Text),
    ("RecipientType", PropertyKind::Text),
    ("RecipientTypeDetails", PropertyKind::Text),
    ("UserPrincipalName", PropertyKind::Text),
];

fn recipient_type(details: &str) -> &str {
    if details.ends_with("Mailbox") {
        "UserMailbox"
    } else {
        details
    }
}

fn recipient_field<'a>(m: &'a LabMailbox, property: &str) -> FieldValue<'a> {
    match property {
        "RecipientType" => FieldValue::Text(recipient_type(&m.recipient_type_details)),
        "RecipientTypeDetails" => FieldValue::Text(&m.recipient_type_details),
        "UserPrincipalName" => FieldValue::Text(&m.upn),
        other => cas_field(m, other),
    }
}

/// Filter accessor over an already materialised record (small collections).
fn value_field<'a>(v: &'a Value, property: &str) -> FieldValue<'a> {
    match v.get(property) {
        Some(Value::String(s)) => FieldValue::Text(s),
        Some(Value::Bool(b)) => FieldValue::Bool(*b),
        _ => FieldValue::Null,
    }
}

fn statistics(d: &LabDevice) -> MobileDeviceStatistics {
    let m = &d.device;
    MobileDeviceStatistics {
        identity: m.identity.clone(),
        device_id: m.device_id.clone(),
        device_type: m.device_type.clone(),
        device_model: m.device_model.clone(),
        device_os: m.device_os.clone(),
        device_user_agent: m.device_user_agent.clone(),
        device_friendly_name: m.friendly_name.clone(),
        device_imei: m.device_imei.clone(),
        device_phone_number: m.device_telephone_number.clone(),
        first_sync_time: m.first_sync_time,
        last_policy_update_time: d.last_policy_update_time,
        last_sync_attempt_time: d.last_sync_attempt_time,
        last_success_sync: d.last_success_sync,
        last_ping_heartbeat: d.last_success_sync.map(|_| 900),
        device_access_state: m.device_access_state,
        device_access_state_reason: m.device_access_state_reason,
        device_access_control_rule: m.device_access_control_rule.clone(),
        status: Some("DeviceOk".into()),
    }
}

fn recipient(m: &LabMailbox) -> Recipient {
    Recipient {
        identity: m.cas.identity.clone(),
        guid: m.cas.guid.clone(),
        alias: m.cas.name.clone(),
        display_name: m.cas.display_name.clone(),
        primary_smtp_address: m.cas.primary_smtp_address.clone(),
        recipient_type: recipient_type(&m.recipient_type_details).to_string(),
        recipient_type_details: m.recipient_type_details.clone(),
        external_directory_object_id: m.cas.external_directory_object_id.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Look-ups
// ---------------------------------------------------------------------------------------------

const DEVICES_CONTAINER: &str = "\\exchangeactivesyncdevices\\";

/// Finds a partnership by identity (`<mailbox>\ExchangeActiveSyncDevices\<name>`), GUID or object name.
fn resolve_device(org: &ExchangeOrg, identity: &str) -> Option<(usize, usize)> {
    let identity = identity.trim();
    // ASCII lower-casing keeps byte offsets valid for slicing the original.
    let lower = identity.to_ascii_lowercase();
    if let Some(pos) = lower.find(DEVICES_CONTAINER)
        && let Some(m) = org.find_mailbox(&identity[..pos])
    {
        let name = &identity[pos + DEVICES_CONTAINER.len()..];
        if let Some(d) = org.mailboxes[m].devices.iter().position(|d| {
            d.device.name.eq_ignore_ascii_case(name)
                || d.device.identity.eq_ignore_ascii_case(identity)
        }) {
            return Some((m, d));
        }
    }
    org.mailboxes.iter().enumerate().find_map(|(m, mb)| {
        mb.devices
            .iter()
            .position(|d| {
                d.device.identity.eq_ignore_ascii_case(identity)
                    || d.device.guid.eq_ignore_ascii_case(identity)
                    || d.device.name.eq_ignore_ascii_case(identity)
            })
            .map(|d| (m, d))
    })
}

fn find_rule(org: &ExchangeOrg, identity: &str) -> Option<usize> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase()
    };
    let wanted = squash(identity);
    org.rules
        .iter()
        .position(|r| squash(&r.name) == wanted || r.guid.eq_ignore_ascii_case(identity.trim()))
}

// ---------------------------------------------------------------------------------------------
// Cmdlets
// ---------------------------------------------------------------------------------------------

fn get_mobile_device(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let filter = run.filter(DEVICE_PROPERTIES)?;
    let size = run.result_size()?;
    let identity = run.text("Identity")?;
    let mailbox = run.text("Mailbox")?;
    let org = run.state.org();
    let keep = |m: usize, d: usize| {
        let device = &org.mailboxes[m].devices[d].device;
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&|p| device_field(device, p)))
    };
    let mut items = Vec::new();
    if let Some(identity) = identity.filter(|i| !i.trim().is_empty()) {
        let (m, d) = resolve_device(&org, &identity)
            .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
        if keep(m, d) {
            items.push(Item::Device(m, d));
        }
    } else if let Some(mailbox) = mailbox {
        let m = org
            .find_mailbox(&mailbox)
            .ok_or_else(|| run.not_found(&mailbox, &run.dc(&org)))?;
        items.extend(
            (0..org.mailboxes[m].devices.len())
                .filter(|d| keep(m, *d))
                .map(|d| Item::Device(m, d)),
        );
    } else if let Some(ids) = filter
        .as_ref()
        .and_then(|f| f.equality_texts("DeviceId"))
        .filter(|ids| ids.iter().all(|id| id.is_ascii()) && org.device_ids_are_ascii())
    {
        // `DeviceId -eq 'a' -or DeviceId -eq 'b' ...` (the connector's lookups): the DeviceId index
        // gives the only partnerships that can match, in the scan's order; the filter still decides.
        let mut found: Vec<(usize, usize)> = ids
            .iter()
            .flat_map(|id| org.find_devices(id).iter().copied())
            .filter(|(m, d)| keep(*m, *d))
            .collect();
        found.sort_unstable();
        found.dedup();
        found.truncate(size.0.saturating_add(1));
        items.extend(found.into_iter().map(|(m, d)| Item::Device(m, d)));
    } else {
        // Stop scanning one past the limit: enough to know whether to warn.
        let cap = size.0.saturating_add(1);
        'outer: for (m, mb) in org.mailboxes.iter().enumerate() {
            for d in 0..mb.devices.len() {
                if keep(m, d) {
                    items.push(Item::Device(m, d));
                    if items.len() >= cap {
                        break 'outer;
                    }
                }
            }
        }
    }
    let mut warnings = Vec::new();
    let items = limit(items, size, &mut warnings);
    output(items, warnings)
}

fn get_statistics(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?;
    let mailbox = run.text("Mailbox")?;
    let org = run.state.org();
    let items = match (identity, mailbox) {
        (Some(identity), None) => {
            let (m, d) = resolve_device(&org, &identity)
                .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
            vec![Item::Statistics(m, d)]
        }
        (None, Some(mailbox)) => {
            let m = org
                .find_mailbox(&mailbox)
                .ok_or_else(|| run.not_found(&mailbox, &run.dc(&org)))?;
            (0..org.mailboxes[m].devices.len())
                .map(|d| Item::Statistics(m, d))
                .collect()
        }
        // Statistics exist per mailbox only: no organisation-wide enumeration.
        _ => {
            return Err(binding_error(
                run.spec,
                "Parameter set cannot be resolved using the specified named parameters.",
                "AmbiguousParameterSet",
            ));
        }
    };
    output(items, Vec::new())
}

fn get_cas_mailbox(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let filter = run.filter(CAS_PROPERTIES)?;
    let size = run.result_size()?;
    let org = run.state.org();
    let keep = |m: usize| {
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&|p| cas_field(&org.mailboxes[m], p)))
    };
    let mut items = Vec::new();
    if let Some(identity) = run.text("Identity")?.filter(|i| !i.trim().is_empty()) {
        let m = org
            .find_mailbox(&identity)
            .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
        if keep(m) {
            items.push(Item::CasMailbox(m));
        }
    } else {
        let cap = size.0.saturating_add(1);
        items.extend(
            (0..org.mailboxes.len())
                .filter(|m| keep(*m))
                .take(cap)
                .map(Item::CasMailbox),
        );
    }
    let mut warnings = Vec::new();
    let items = limit(items, size, &mut warnings);
    output(items, warnings)
}

/// Applies a multi-valued edit: an array or a string replaces, `{"Add":..,"Remove":..}` edits in
/// place, `null` clears. Values compare case-insensitively, as DeviceIds do.
fn edit_list(current: &[String], value: &Value) -> Result<Vec<String>, String> {
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|i| as_text(i).ok_or_else(|| display(i)))
                .collect(),
            other => as_text(other)
                .map(|s| vec![s])
                .ok_or_else(|| display(other)),
        }
    };
    match value {
        Value::Object(table) => {
            let mut list = current.to_vec();
            for (key, v) in table {
                if key.starts_with('@') {
                    continue; // "@odata.type": "#Exchange.GenericHashTable" from REST
                }
                let values = strings(v)?;
                if key.eq_ignore_ascii_case("Add") {
                    for value in values {
                        if !list.iter().any(|e| e.eq_ignore_ascii_case(&value)) {
                            list.push(value);
                        }
                    }
                } else if key.eq_ignore_ascii_case("Remove") {
                    list.retain(|e| !values.iter().any(|r| r.eq_ignore_ascii_case(e)));
                } else {
                    return Err(format!(
                        "The hashtable key '{key}' is not valid. Valid keys are Add and Remove."
                    ));
                }
            }
            Ok(list)
        }
        other => {
            let mut list: Vec<String> = Vec::new();
            for value in strings(other)? {
                if !list.iter().any(|e| e.eq_ignore_ascii_case(&value)) {
                    list.push(value);
                }
            }
            Ok(list)
        }
    }
}

fn set_cas_mailbox(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?.unwrap_or_default();
    let enabled = run.flag("ActiveSyncEnabled")?;
    let mut org = run.state.org_mut();
    let m = org
        .find_mailbox(&identity)
        .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
    let mut cas = org.mailboxes[m].cas.clone();
    *run.state
        .counters
        .mailbox_writes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(cas.identity.clone())
        .or_default() += 1;
    for (name, is_allow) in [
        ("ActiveSyncAllowedDeviceIDs", true),
        ("ActiveSyncBlockedDeviceIDs", false),
    ] {
        if let Some(value) = run.params.get(name) {
            let list = if is_allow {
                &mut cas.active_sync_allowed_device_ids
            } else {
                &mut cas.active_sync_blocked_device_ids
            };
            *list = edit_list(list, value).map_err(|bad| {
                run.bad_argument(name, format!("The value \"{bad}\" is not valid."))
            })?;
        }
    }
    if let Some(enabled) = enabled {
        cas.active_sync_enabled = enabled;
    }
    if let Some(policy) = run.params.get("ActiveSyncMailboxPolicy") {
        match as_text(policy) {
            Some(name) => {
                cas.active_sync_mailbox_policy = Some(name);
                cas.active_sync_mailbox_policy_is_defaulted = false;
            }
            None => {
                cas.active_sync_mailbox_policy = Some("Default".into());
                cas.active_sync_mailbox_policy_is_defaulted = true;
            }
        }
    }
    let mut warnings = Vec::new();
    if cas == org.mailboxes[m].cas {
        warnings.push(format!(
            "The command completed successfully but no settings of '{}' have been modified.",
            org.mailboxes[m].cas.identity
        ));
    } else {
        org.mailboxes[m].cas = cas;
        org.recompute(m);
    }
    output(Vec::new(), warnings)
}

fn get_org_settings(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let org = run.state.org();
    output(vec![Item::Value(to_value(&org.settings))], Vec::new())
}

fn set_org_settings(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let level = run.access_level("DefaultAccessLevel")?;
    let mut texts = Vec::new();
    for name in ["UserMailInsert", "OtaNotificationMailInsert"] {
        if run.params.contains_key(name) {
            let text = run.text(name)?;
            if let Some(t) = &text {
                let n = t.chars().count();
                if n > 256 {
                    return Err(run.bad_argument(
                        name,
                        format!("The length of the property is too long. The maximum length is 256 and the length of the value provided is {n}."),
                    ));
                }
            }
            texts.push((name, text));
        }
    }
    let unsupported = run.flag("AllowAccessForUnSupportedPlatform")?;
    let mut org = run.state.org_mut();
    if let Some(identity) = run.text("Identity")?
        && !identity.eq_ignore_ascii_case(&org.settings.identity)
    {
        return Err(run.not_found(&identity, &run.dc(&org)));
    }
    let mut settings = org.settings.clone();
    if let Some(level) = level {
        settings.default_access_level = level;
    }
    for (name, text) in texts {
        if name == "UserMailInsert" {
            settings.user_mail_insert = text;
        } else {
            settings.ota_notification_mail_insert = text;
        }
    }
    if let Some(value) = run.params.get("AdminMailRecipients") {
        settings.admin_mail_recipients = edit_list(&settings.admin_mail_recipients, value)
            .map_err(|bad| {
                run.bad_argument(
                    "AdminMailRecipients",
                    format!("The value \"{bad}\" is not valid."),
                )
            })?;
    }
    if let Some(u) = unsupported {
        settings.allow_access_for_un_supported_platform = u;
    }
    let mut warnings = Vec::new();
    if settings == org.settings {
        warnings.push(format!(
            "The command completed successfully but no settings of '{}' have been modified.",
            org.settings.identity
        ));
    } else {
        let recompute = settings.default_access_level != org.settings.default_access_level;
        org.settings = settings;
        if recompute {
            org.recompute_all();
        }
    }
    output(Vec::new(), warnings)
}

const RULE_PROPERTIES: &[(&str, PropertyKind)] = &[
    ("AccessLevel", PropertyKind::Text),
    ("Characteristic", PropertyKind::Text),
    ("Name", PropertyKind::Text),
    ("QueryString", PropertyKind::Text),
];

fn get_rules(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let filter = run.filter(RULE_PROPERTIES)?;
    let size = run.result_size()?;
    let org = run.state.org();
    let rules: Vec<&DeviceAccessRule> = match run.text("Identity")? {
        Some(identity) => {
            let r = find_rule(&org, &identity)
                .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
            vec![&org.rules[r]]
        }
        None => org.rules.iter().collect(),
    };
    let items = rules
        .into_iter()
        .map(to_value)
        .filter(|v| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| value_field(v, p)))
        })
        .map(Item::Value)
        .collect();
    let mut warnings = Vec::new();
    let items = limit(items, size, &mut warnings);
    output(items, warnings)
}

fn new_rule(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let characteristic_text = run.text("Characteristic")?.unwrap_or_default();
    let characteristic = RuleCharacteristic::parse(characteristic_text.trim()).ok_or_else(|| {
        binding_error(
            run.spec,
            &format!(
                "Cannot process argument transformation on parameter 'Characteristic'. Cannot convert value \"{characteristic_text}\" to type \"Microsoft.Exchange.Data.Directory.SystemConfiguration.DeviceAccessCharacteristic\". Error: \"Unable to match the identifier name {characteristic_text} to a valid enumerator name. Specify one of the following enumerator names and try again:\nDeviceType, DeviceModel, DeviceOS, UserAgent, XMSWLHeader\""
            ),
            "ParameterArgumentTransformationError",
        )
    })?;
    let query_string = run.text("QueryString")?.unwrap_or_default();
    let level = run
        .access_level("AccessLevel")?
        .unwrap_or(AccessLevel::Allow);
    let mut org = run.state.org_mut();
    let name = DeviceAccessRule::name_for(&query_string, characteristic);
    if org.rules.iter().any(|r| {
        r.characteristic == characteristic && r.query_string.eq_ignore_ascii_case(&query_string)
    }) {
        let dn_domain = org
            .domain
            .split('.')
            .map(|p| format!("DC={p}"))
            .collect::<Vec<_>>()
            .join(",");
        let message = format!(
            "Active Directory operation failed on {}. The object 'CN={name},CN=Mobile Mailbox Settings,CN={},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dn_domain}' already exists.",
            run.dc(&org),
            org.name
        );
        return Err(run.task_error(
            "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
            "NotSpecified",
            message,
            &name,
        ));
    }
    let rule = DeviceAccessRule {
        identity: name.clone(),
        name,
        guid: uuid::Uuid::new_v4().to_string(),
        characteristic,
        query_string,
        access_level: level,
    };
    let value = to_value(&rule);
    org.rules.push(rule);
    org.recompute_all();
    output(vec![Item::Value(value)], Vec::new())
}

fn set_rule(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?.unwrap_or_default();
    let level = run.access_level("AccessLevel")?;
    let mut org = run.state.org_mut();
    let r = find_rule(&org, &identity).ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
    match level {
        Some(level) if level != org.rules[r].access_level => {
            org.rules[r].access_level = level;
            org.recompute_all();
            output(Vec::new(), Vec::new())
        }
        _ => output(
            Vec::new(),
            vec![format!(
                "The command completed successfully but no settings of '{}' have been modified.",
                org.rules[r].name
            )],
        ),
    }
}

fn remove_rule(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?.unwrap_or_default();
    let mut org = run.state.org_mut();
    let r = find_rule(&org, &identity).ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
    org.rules.remove(r);
    org.recompute_all();
    output(Vec::new(), Vec::new())
}

const CLASS_PROPERTIES: &[(&str, PropertyKind)] = &[
    ("DeviceModel", PropertyKind::Text),
    ("DeviceType", PropertyKind::Text),
    ("LastUpdateTime", PropertyKind::Date),
    ("Name", PropertyKind::Text),
];

fn get_device_classes(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let filter = run.filter(CLASS_PROPERTIES)?;
    let size = run.result_size()?;
    let identity = run.text("Identity")?;
    let org = run.state.org();
    let items: Vec<Item> = org
        .device_classes
        .iter()
        .map(|((device_type, model), seen)| {
            let name = format!("{device_type}§{model}");
            ActiveSyncDeviceClass {
                identity: name.clone(),
                name,
                device_type: device_type.clone(),
                device_model: model.clone(),
                last_update_time: Some(*seen),
            }
        })
        .filter(|c| {
            identity
                .as_deref()
                .is_none_or(|i| c.name.eq_ignore_ascii_case(i.trim()))
        })
        .map(|c| to_value(&c))
        .filter(|v| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| value_field(v, p)))
        })
        .map(Item::Value)
        .collect();
    if let Some(identity) = &identity
        && items.is_empty()
    {
        return Err(run.not_found(identity, &run.dc(&org)));
    }
    let mut warnings = Vec::new();
    let items = limit(items, size, &mut warnings);
    output(items, warnings)
}

fn get_exchange_server(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?;
    let domain = run.text("Domain")?;
    let _status = run.flag("Status")?;
    let org = run.state.org();
    let items: Vec<Item> = org
        .servers
        .iter()
        .filter(|s| {
            identity.as_deref().is_none_or(|i| {
                let i = i.trim();
                s.name.eq_ignore_ascii_case(i)
                    || s.fqdn.eq_ignore_ascii_case(i)
                    || s.identity.eq_ignore_ascii_case(i)
            })
        })
        .filter(|s| {
            domain.as_deref().is_none_or(|d| {
                s.fqdn.to_lowercase().ends_with(&format!(
                    ".{}",
                    d.trim().trim_start_matches('.').to_lowercase()
                ))
            })
        })
        .map(|s| Item::Value(to_value(s)))
        .collect();
    if let Some(identity) = &identity
        && items.is_empty()
    {
        return Err(run.not_found(identity, &run.dc(&org)));
    }
    output(items, Vec::new())
}

fn get_recipient(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let filter = run.filter(RECIPIENT_PROPERTIES)?;
    let size = run.result_size()?;
    let types = |name: &str| -> Vec<String> {
        match run.params.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
            Some(v) => as_text(v)
                .map(|t| {
                    t.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        }
    };
    let details = types("RecipientTypeDetails");
    let kinds = types("RecipientType");
    let org = run.state.org();
    let keep = |m: usize| {
        let mb = &org.mailboxes[m];
        (details.is_empty()
            || details
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&mb.recipient_type_details)))
            && (kinds.is_empty()
                || kinds
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(recipient_type(&mb.recipient_type_details))))
            && filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| recipient_field(mb, p)))
    };
    let mut items = Vec::new();
    if let Some(identity) = run.text("Identity")?.filter(|i| !i.trim().is_empty()) {
        let m = org
            .find_mailbox(&identity)
            .ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
        if keep(m) {
            items.push(Item::Recipient(m));
        }
    } else {
        let cap = size.0.saturating_add(1);
        items.extend(
            (0..org.mailboxes.len())
                .filter(|m| keep(*m))
                .take(cap)
                .map(Item::Recipient),
        );
    }
    let mut warnings = Vec::new();
    let items = limit(items, size, &mut warnings);
    output(items, warnings)
}

fn set_ad_server_settings(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    // Accepted for compatibility: the lab has one domain, so the whole forest is always in view.
    run.flag("ViewEntireForest")?;
    output(Vec::new(), Vec::new())
}

fn get_command(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let names: Vec<String> = match run.params.get("Name") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
        Some(v) => as_text(v).into_iter().collect(),
    };
    let granted: Vec<&str> = CMDLETS
        .iter()
        .map(|s| s.name)
        .filter(|n| run.ctx.account.may_run(n))
        .collect();
    let mut out = Output::default();
    let info = |name: &str| {
        Item::Value(to_value(&CommandInfo {
            name: name.to_string(),
            command_type: "Function".into(),
        }))
    };
    if names.is_empty() {
        out.items = granted.iter().map(|n| info(n)).collect();
        return Ok(out);
    }
    let mut seen = Vec::new();
    for pattern in &names {
        let wildcard = pattern.contains(['*', '?']);
        let hits: Vec<&&str> = granted.iter().filter(|n| opath::like(n, pattern)).collect();
        if hits.is_empty() && !wildcard {
            out.errors.push(command_not_found(pattern));
        }
        for hit in hits {
            if !seen.contains(hit) {
                seen.push(*hit);
                out.items.push(info(hit));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// RBAC for Applications (Exchange Online)
// ---------------------------------------------------------------------------------------------

fn already_exists(run: &Run<'_>, what: &str) -> ErrorRecord {
    run.task_error(
        "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
        "NotSpecified",
        format!("The object '{what}' already exists."),
        what,
    )
}

/// A `Get-` of RBAC objects: the one `-Identity` names (found by `find`), or all of them.
fn get_rbac_objects<T: Serialize>(
    run: &Run<'_>,
    all: impl Fn(&ExchangeOrg) -> &[T],
    find: impl for<'a> Fn(&'a ExchangeOrg, &str) -> Option<&'a T>,
) -> Result<Output, ErrorRecord> {
    let org = run.state.org();
    let items = match run.text("Identity")?.filter(|i| !i.trim().is_empty()) {
        Some(identity) => {
            let found =
                find(&org, &identity).ok_or_else(|| run.not_found(&identity, &run.dc(&org)))?;
            vec![Item::Value(to_value(found))]
        }
        None => all(&org).iter().map(|o| Item::Value(to_value(o))).collect(),
    };
    output(items, Vec::new())
}

fn get_service_principal(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    get_rbac_objects(
        run,
        |org| &org.app_rbac.service_principals,
        |org, identity| org.app_rbac.service_principal(identity),
    )
}

fn new_service_principal(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let app_id = run.text("AppId")?.unwrap_or_default().trim().to_string();
    let object_id = run.text("ObjectId")?.unwrap_or_default().trim().to_string();
    for (name, value) in [("AppId", &app_id), ("ObjectId", &object_id)] {
        if uuid::Uuid::parse_str(value).is_err() {
            return Err(run.bad_argument(name, format!("'{value}' is not a valid GUID.")));
        }
    }
    let display_name = run
        .text("DisplayName")?
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| app_id.clone());
    let mut org = run.state.org_mut();
    if org.app_rbac.service_principal(&app_id).is_some()
        || org.app_rbac.service_principal(&object_id).is_some()
    {
        return Err(already_exists(run, &object_id));
    }
    let sp = super::app_rbac::ServicePrincipal {
        app_id,
        identity: object_id.clone(),
        object_id,
        display_name,
    };
    let value = to_value(&sp);
    org.app_rbac.service_principals.push(sp);
    output(vec![Item::Value(value)], Vec::new())
}

fn get_management_scope(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    get_rbac_objects(
        run,
        |org| &org.app_rbac.scopes,
        |org, identity| org.app_rbac.scope(identity),
    )
}

/// `-RecipientRestrictionFilter`, checked as Exchange checks it (an OPATH filter on recipients).
fn recipient_filter(run: &Run<'_>) -> Result<Option<String>, ErrorRecord> {
    let Some(text) = run.text("RecipientRestrictionFilter")? else {
        return Ok(None);
    };
    opath::parse(&text, RECIPIENT_PROPERTIES)
        .map_err(|e| run.bad_argument("RecipientRestrictionFilter", e.to_string()))?;
    Ok(Some(text))
}

fn new_management_scope(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let name = run.text("Name")?.unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(run.bad_argument("Name", "The name cannot be empty.".into()));
    }
    let filter = recipient_filter(run)?.unwrap_or_default();
    let mut org = run.state.org_mut();
    if org.app_rbac.scope(&name).is_some() {
        return Err(already_exists(run, &name));
    }
    let scope = super::app_rbac::ManagementScope {
        identity: name.clone(),
        name,
        recipient_filter: filter,
        scope_restriction_type: "RecipientScope".into(),
    };
    let value = to_value(&scope);
    org.app_rbac.scopes.push(scope);
    output(vec![Item::Value(value)], Vec::new())
}

fn set_management_scope(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let identity = run.text("Identity")?.unwrap_or_default();
    let filter = recipient_filter(run)?;
    let mut org = run.state.org_mut();
    let dc = run.dc(&org);
    let scope = org
        .app_rbac
        .scopes
        .iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(identity.trim()))
        .ok_or_else(|| run.not_found(&identity, &dc))?;
    if let Some(filter) = filter {
        scope.recipient_filter = filter;
    }
    output(Vec::new(), Vec::new())
}

fn get_role_assignment(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let role = run.text("Role")?;
    let assignee = run.text("RoleAssignee")?;
    let scope = run.text("CustomResourceScope")?;
    let org = run.state.org();
    let same = |wanted: &Option<String>, value: &str| {
        wanted
            .as_deref()
            .is_none_or(|w| w.trim().eq_ignore_ascii_case(value))
    };
    let items = org
        .app_rbac
        .assignments
        .iter()
        .filter(|a| {
            same(&role, &a.role)
                && (same(&assignee, &a.role_assignee) || same(&assignee, &a.app))
                && same(&scope, &a.custom_resource_scope)
        })
        .map(|a| Item::Value(to_value(a)))
        .collect();
    output(items, Vec::new())
}

fn new_role_assignment(run: &Run<'_>) -> Result<Output, ErrorRecord> {
    let role = run.text("Role")?.unwrap_or_default().trim().to_string();
    let Some(role) = APPLICATION_ROLES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(&role))
        .map(|r| r.to_string())
    else {
        let org = run.state.org();
        return Err(run.not_found(&role, &run.dc(&org)));
    };
    let Some(app) = run.text("App")?.filter(|a| !a.trim().is_empty()) else {
        return Err(binding_error(
            run.spec,
            "An application role can only be assigned to an app: use -App.",
            "AmbiguousParameterSet",
        ));
    };
    let scope = run.text("CustomResourceScope")?;
    let mut org = run.state.org_mut();
    let dc = run.dc(&org);
    let sp = org
        .app_rbac
        .service_principal(&app)
        .cloned()
        .ok_or_else(|| run.not_found(&app, &dc))?;
    let scope = match scope {
        Some(name) => Some(
            org.app_rbac
                .scope(&name)
                .map(|s| s.name.clone())
                .ok_or_else(|| run.not_found(&name, &dc))?,
        ),
        None => None,
    };
    let scope_name = scope.unwrap_or_default();
    let name = run
        .text("Name")?
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{role}-{}", sp.display_name));
    if org.app_rbac.assignments.iter().any(|a| {
        a.name.eq_ignore_ascii_case(&name)
            || (a.role == role
                && a.role_assignee == sp.object_id
                && a.custom_resource_scope.eq_ignore_ascii_case(&scope_name))
    }) {
        return Err(already_exists(run, &name));
    }
    let assignment = super::app_rbac::RoleAssignment {
        identity: name.clone(),
        name,
        role,
        role_assignee: sp.object_id.clone(),
        role_assignee_type: "ServicePrincipal".into(),
        custom_resource_scope: scope_name,
        app: sp.app_id.clone(),
    };
    let value = to_value(&assignment);
    org.app_rbac.assignments.push(assignment);
    output(vec![Item::Value(value)], Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_edits() {
        let current = vec!["A".to_string(), "B".to_string()];
        let added = edit_list(&current, &serde_json::json!({"@odata.type": "#Exchange.GenericHashTable", "Add": ["C", "a"], "Remove": "b"})).unwrap();
        assert_eq!(added, vec!["A".to_string(), "C".to_string()]);
        assert_eq!(
            edit_list(&current, &serde_json::json!(["X"])).unwrap(),
            vec!["X".to_string()]
        );
        assert_eq!(
            edit_list(&current, &serde_json::json!("Y")).unwrap(),
            vec!["Y".to_string()]
        );
        assert!(edit_list(&current, &Value::Null).unwrap().is_empty());
        assert!(edit_list(&current, &serde_json::json!({"Replace": "x"})).is_err());
    }

    #[test]
    fn error_ids_are_eight_hex_digits() {
        let id = error_id(
            "ManagementObjectNotFoundException",
            "Microsoft.Exchange.Management.Tasks.GetMobileDevice",
        );
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
