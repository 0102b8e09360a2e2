//! The lab's Exchange management surface: the cmdlet engine (ABQ through cmdlets, ResultSize,
//! filters, list edits, errors, RBAC) and REST `InvokeCommand` (paging, auth, errors, storms),
//! exercised without listeners.

#![allow(clippy::result_large_err)] // helpers return the engine's error record as is

use axum::body::Body;
use axum::http::{Request, StatusCode};
use exchange_connector::lab::LabState;
use exchange_connector::lab::exchange::engine::{
    self, CallContext, MORE_RESULTS_WARNING, RESULT_SIZE_WARNING,
};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::org::LabAccount;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::tokens::{self, Resource};
use exchange_connector::model::exchange::ErrorRecord;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tower::ServiceExt;

fn state_of(scenario: Scenario) -> LabState {
    let (org, tenant, credentials) = scenario.build().unwrap();
    LabState::new(org, tenant, credentials)
}

fn small() -> LabState {
    state_of(Scenario::small())
}

fn account(state: &LabState, name: &str) -> LabAccount {
    state
        .org()
        .accounts
        .iter()
        .find(|a| a.is_named(name))
        .cloned()
        .unwrap()
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => panic!("parameters must be an object, got {other}"),
    }
}

fn run_as(
    state: &LabState,
    who: &str,
    cmdlet: &str,
    p: Value,
) -> Result<(Vec<Value>, Vec<String>), ErrorRecord> {
    let account = account(state, who);
    let ctx = CallContext {
        account: &account,
        server: "CAS01",
    };
    engine::invoke_values(state, &ctx, cmdlet, &params(p))
}

fn run(state: &LabState, cmdlet: &str, p: Value) -> Result<(Vec<Value>, Vec<String>), ErrorRecord> {
    run_as(state, "svc-eas", cmdlet, p)
}

fn ok(state: &LabState, cmdlet: &str, p: Value) -> Vec<Value> {
    match run(state, cmdlet, p) {
        Ok((values, _)) => values,
        Err(e) => panic!("{cmdlet} failed: {}", e.exception.message),
    }
}

/// (DeviceAccessState, DeviceAccessStateReason, DeviceAccessControlRule) of a device, read through
/// Get-MobileDevice as the connector would.
fn access(state: &LabState, device_id: &str) -> (String, String, Value) {
    let devices = ok(
        state,
        "Get-MobileDevice",
        json!({"Filter": format!("DeviceId -eq '{device_id}'")}),
    );
    assert_eq!(devices.len(), 1, "{device_id}");
    let d = &devices[0];
    (
        d["DeviceAccessState"].as_str().unwrap().to_string(),
        d["DeviceAccessStateReason"].as_str().unwrap().to_string(),
        d["DeviceAccessControlRule"].clone(),
    )
}

fn is(state: &LabState, device_id: &str, expected: (&str, &str)) {
    let (s, r, _) = access(state, device_id);
    assert_eq!((s.as_str(), r.as_str()), expected, "{device_id}");
}

#[test]
fn records_carry_exchange_property_names() {
    let state = small();
    let devices = ok(&state, "Get-MobileDevice", json!({"Mailbox": "alice"}));
    assert_eq!(devices.len(), 1);
    let d = devices[0].as_object().unwrap();
    for key in [
        "Identity",
        "Guid",
        "DeviceId",
        "DeviceType",
        "DeviceModel",
        "DeviceOS",
        "FirstSyncTime",
        "DeviceAccessState",
        "DeviceAccessStateReason",
        "UserDisplayName",
        "WhenChanged",
    ] {
        assert!(d.contains_key(key), "MobileDevice lacks {key}: {d:?}");
    }
    assert_eq!(
        d["Identity"],
        "alice\\ExchangeActiveSyncDevices\\iPhone§ALICEIPHONE0001"
    );
    // -Identity accepts the identity Get-MobileDevice returned, and the device's GUID.
    let by_identity = ok(
        &state,
        "Get-ActiveSyncDevice",
        json!({"Identity": d["Identity"]}),
    );
    assert_eq!(by_identity[0]["DeviceId"], "ALICEIPHONE0001");
    let by_guid = ok(&state, "Get-MobileDevice", json!({"Identity": d["Guid"]}));
    assert_eq!(by_guid[0]["DeviceId"], "ALICEIPHONE0001");

    let cas = ok(
        &state,
        "Get-CASMailbox",
        json!({"Identity": "grace@contoso.lab"}),
    );
    assert_eq!(
        cas[0]["ActiveSyncAllowedDeviceIDs"],
        json!(["GRACEIPHONE0007"])
    );
    assert_eq!(cas[0]["HasActiveSyncDevicePartnership"], true);
    let settings = ok(&state, "Get-ActiveSyncOrganizationSettings", Value::Null);
    assert_eq!(settings[0]["DefaultAccessLevel"], "Allow");
    assert_eq!(settings[0]["Identity"], "Mobile Mailbox Settings");
    let rules = ok(&state, "Get-ActiveSyncDeviceAccessRule", Value::Null);
    assert_eq!(rules[0]["Name"], "WP8 (DeviceType)");
    assert_eq!(rules[0]["Characteristic"], "DeviceType");
}

#[test]
fn abq_order_holds_case_by_case_through_cmdlets() {
    let state = small();
    // The scenario's starting point: default Allow, a Block rule on WP8, Grace's iPhone allowed,
    // Heidi's phone blocked by an admin.
    is(&state, "ALICEIPHONE0001", ("Allowed", "Global"));
    let (s, r, rule) = access(&state, "GRACEWP00000007");
    assert_eq!(
        (s.as_str(), r.as_str(), rule),
        ("Blocked", "DeviceRule", json!("WP8 (DeviceType)"))
    );
    is(&state, "GRACEIPHONE0007", ("Allowed", "Individual"));
    is(&state, "HEIDISAMSUNG008", ("Blocked", "Individual"));

    // Block list beats allow list.
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "heidi", "ActiveSyncAllowedDeviceIDs": ["HEIDISAMSUNG008"]}),
    );
    is(&state, "HEIDISAMSUNG008", ("Blocked", "Individual"));
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "heidi", "ActiveSyncBlockedDeviceIDs": {"Remove": ["HEIDISAMSUNG008"]}}),
    );
    is(&state, "HEIDISAMSUNG008", ("Allowed", "Individual"));

    // Rules: Quarantine on the family, then Block on the model: Block beats Quarantine.
    ok(
        &state,
        "New-ActiveSyncDeviceAccessRule",
        json!({"Characteristic": "DeviceType", "QueryString": "iPhone", "AccessLevel": "Quarantine"}),
    );
    is(&state, "ALICEIPHONE0001", ("Quarantined", "DeviceRule"));
    ok(
        &state,
        "New-ActiveSyncDeviceAccessRule",
        json!({"Characteristic": "DeviceModel", "QueryString": "iPhone15C2", "AccessLevel": "Block"}),
    );
    let (s, r, rule) = access(&state, "ALICEIPHONE0001");
    assert_eq!(
        (s.as_str(), r.as_str(), rule),
        ("Blocked", "DeviceRule", json!("iPhone15C2 (DeviceModel)"))
    );
    // Quarantine beats Allow.
    ok(
        &state,
        "Remove-ActiveSyncDeviceAccessRule",
        json!({"Identity": "iPhone15C2 (DeviceModel)", "Confirm": false}),
    );
    ok(
        &state,
        "New-ActiveSyncDeviceAccessRule",
        json!({"Characteristic": "DeviceOS", "QueryString": "iOS 17.4 21E219", "AccessLevel": "Allow"}),
    );
    is(&state, "ALICEIPHONE0001", ("Quarantined", "DeviceRule"));
    // The allow list beats any rule.
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "alice", "ActiveSyncAllowedDeviceIDs": {"Add": "ALICEIPHONE0001"}}),
    );
    is(&state, "ALICEIPHONE0001", ("Allowed", "Individual"));
    // Lowering the family rule to Allow: Carol's iPhone is now allowed by a rule.
    is(&state, "CAROLIPHONE0003", ("Quarantined", "DeviceRule"));
    ok(
        &state,
        "Set-ActiveSyncDeviceAccessRule",
        json!({"Identity": "iPhone(DeviceType)", "AccessLevel": "Allow"}),
    );
    is(&state, "CAROLIPHONE0003", ("Allowed", "DeviceRule"));

    // The default applies to what nothing else covers, and changing it recomputes at once.
    is(&state, "DAVESAMSUNG0004", ("Allowed", "Global"));
    ok(
        &state,
        "Set-ActiveSyncOrganizationSettings",
        json!({"DefaultAccessLevel": "Quarantine"}),
    );
    is(&state, "DAVESAMSUNG0004", ("Quarantined", "Global"));
    is(&state, "CAROLIPHONE0003", ("Allowed", "DeviceRule"));
    ok(
        &state,
        "Set-ActiveSyncOrganizationSettings",
        json!({"DefaultAccessLevel": "Block"}),
    );
    is(&state, "DAVESAMSUNG0004", ("Blocked", "Global"));

    // EAS disabled for the mailbox: blocked by policy whatever the lists say.
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "alice", "ActiveSyncEnabled": false}),
    );
    is(&state, "ALICEIPHONE0001", ("Blocked", "Policy"));
}

#[test]
fn add_remove_keeps_other_entries_and_arrays_replace() {
    let state = small();
    let allowed = |state: &LabState| {
        ok(state, "Get-CASMailbox", json!({"Identity": "grace"}))[0]["ActiveSyncAllowedDeviceIDs"]
            .clone()
    };
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": {"@odata.type": "#Exchange.GenericHashTable", "Add": ["NEW1", "NEW2"]}}),
    );
    assert_eq!(allowed(&state), json!(["GRACEIPHONE0007", "NEW1", "NEW2"]));
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": {"Add": "new2", "Remove": ["NEW1"]}}),
    );
    assert_eq!(allowed(&state), json!(["GRACEIPHONE0007", "NEW2"]));
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": ["ONLY"]}),
    );
    assert_eq!(allowed(&state), json!(["ONLY"]));
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": "SINGLE"}),
    );
    assert_eq!(allowed(&state), json!(["SINGLE"]));
    ok(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": null}),
    );
    assert_eq!(allowed(&state), json!([]));
    // Grace's iPhone lost its exemption and falls to the default.
    is(&state, "GRACEIPHONE0007", ("Allowed", "Global"));
    // A no-op change says so, as Exchange does.
    let (_, warnings) = run(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "grace", "ActiveSyncAllowedDeviceIDs": null}),
    )
    .unwrap();
    assert!(
        warnings[0].contains("no settings of 'grace' have been modified"),
        "{warnings:?}"
    );
}

#[test]
fn result_size_defaults_to_1000_with_a_warning() {
    let state = state_of(generate(GenerateSpec {
        users: 700,
        devices: 1500,
        seed: 7,
    }));
    let total = state.org().device_count();
    assert_eq!(total, 1500);
    let (devices, warnings) = run(&state, "Get-MobileDevice", Value::Null).unwrap();
    assert_eq!(devices.len(), 1000);
    assert_eq!(warnings, vec![RESULT_SIZE_WARNING.to_string()]);
    assert!(warnings[0].starts_with("By default, only the first 1000 items are returned."));
    let (devices, warnings) = run(
        &state,
        "Get-MobileDevice",
        json!({"ResultSize": "Unlimited"}),
    )
    .unwrap();
    assert_eq!(devices.len(), 1500);
    assert!(warnings.is_empty());
    let (devices, warnings) = run(&state, "Get-MobileDevice", json!({"ResultSize": 10})).unwrap();
    assert_eq!(devices.len(), 10);
    assert_eq!(warnings, vec![MORE_RESULTS_WARNING.to_string()]);
    let (devices, _) = run(&state, "Get-MobileDevice", json!({"ResultSize": "1500"})).unwrap();
    assert_eq!(devices.len(), 1500);
    let (mailboxes, warnings) =
        run(&state, "Get-CASMailbox", json!({"ResultSize": "unlimited"})).unwrap();
    assert_eq!(mailboxes.len(), state.org().mailboxes.len());
    assert!(warnings.is_empty());
    let (recipients, _) = run(
        &state,
        "Get-Recipient",
        json!({"RecipientTypeDetails": "UserMailbox", "ResultSize": 5}),
    )
    .unwrap();
    assert_eq!(recipients.len(), 5);
    let e = run(&state, "Get-MobileDevice", json!({"ResultSize": "lots"})).unwrap_err();
    assert_eq!(e.category_info.category, "InvalidArgument");
}

#[test]
fn filters_on_dates_states_and_partnerships() {
    let state = small();
    {
        let mut org = state.org_mut();
        let recent = "2024-05-02T08:00:00Z".parse().unwrap();
        let old = "2024-04-01T08:00:00Z".parse().unwrap();
        for mb in &mut org.mailboxes {
            for d in &mut mb.devices {
                d.device.first_sync_time = Some(if d.device.device_type == "iPhone" {
                    recent
                } else {
                    old
                });
            }
        }
    }
    let iphones = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "FirstSyncTime -gt '2024-05-01T10:00:00Z'"}),
    );
    assert_eq!(iphones.len(), 4);
    assert!(iphones.iter().all(|d| d["DeviceType"] == "iPhone"));
    let culture = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "FirstSyncTime -le '05/01/2024 10:00:00'"}),
    );
    assert_eq!(culture.len(), 5);

    let blocked = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "DeviceAccessState -eq 'Blocked'"}),
    );
    let mut ids: Vec<&str> = blocked
        .iter()
        .map(|d| d["DeviceId"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["GRACEWP00000007", "HEIDISAMSUNG008"]);
    let by_rule = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "{(DeviceAccessState -eq \"Blocked\") -and (DeviceAccessStateReason -eq 'DeviceRule')}"}),
    );
    assert_eq!(by_rule.len(), 1);
    let not_iphone = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "-not (DeviceType -like 'iPh*') -and UserDisplayName -ne $null"}),
    );
    assert_eq!(not_iphone.len(), 5);
    let changed = ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "WhenChanged -ge '2000-01-01'"}),
    );
    assert_eq!(changed.len(), 9);

    let with_devices = ok(
        &state,
        "Get-CASMailbox",
        json!({"ResultSize": "Unlimited", "Filter": "HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'"}),
    );
    assert_eq!(with_devices.len(), 8);
    assert!(with_devices.iter().all(|m| m["Name"] != "notify"));

    let e = run(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "DeviceAccessState -eq"}),
    )
    .unwrap_err();
    assert!(
        e.exception
            .message
            .starts_with("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"Invalid filter syntax"),
        "{}",
        e.exception.message
    );
    assert_eq!(e.category_info.category, "InvalidArgument");
    let e = run(
        &state,
        "Get-MobileDevice",
        json!({"Filter": "Colour -eq 'red'"}),
    )
    .unwrap_err();
    assert!(
        e.exception
            .message
            .contains("\"Colour\" is not a recognized filterable property"),
        "{}",
        e.exception.message
    );
}

#[test]
fn errors_read_as_exchange_writes_them() {
    let state = small();
    let e = run(&state, "Get-Mailboxx", Value::Null).unwrap_err();
    assert_eq!(
        e.exception.type_name,
        "System.Management.Automation.CommandNotFoundException"
    );
    assert!(e.exception.message.starts_with(
        "The term 'Get-Mailboxx' is not recognized as the name of a cmdlet, function, script file, or operable program."
    ));
    assert_eq!(e.category_info.category, "ObjectNotFound");

    // Not granted looks exactly like not existing.
    let e = run_as(
        &state,
        "helpdesk",
        "Set-CASMailbox",
        json!({"Identity": "alice"}),
    )
    .unwrap_err();
    assert_eq!(
        e.exception.type_name,
        "System.Management.Automation.CommandNotFoundException"
    );
    assert!(
        e.exception
            .message
            .starts_with("The term 'Set-CASMailbox' is not recognized")
    );

    let e = run(&state, "Get-MobileDevice", json!({"Colour": "red"})).unwrap_err();
    assert_eq!(
        e.exception.type_name,
        "System.Management.Automation.ParameterBindingException"
    );
    assert_eq!(
        e.exception.message,
        "A parameter cannot be found that matches parameter name 'Colour'."
    );
    assert_eq!(e.category_info.category, "InvalidArgument");
    // Common parameters and unambiguous prefixes bind.
    ok(
        &state,
        "Get-MobileDevice",
        json!({"ErrorAction": "Stop", "Mailb": "alice"}),
    );

    let e = run(
        &state,
        "Get-MobileDevice",
        json!({"Identity": "nobody\\ExchangeActiveSyncDevices\\x"}),
    )
    .unwrap_err();
    assert_eq!(
        e.exception.message,
        "The operation couldn't be performed because object 'nobody\\ExchangeActiveSyncDevices\\x' couldn't be found on 'DC01.contoso.lab'."
    );
    assert_eq!(
        e.exception.type_name,
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    );
    assert!(
        e.fully_qualified_error_id
            .starts_with("[Server=CAS01,RequestId="),
        "{}",
        e.fully_qualified_error_id
    );
    assert!(
        e.fully_qualified_error_id
            .contains("[FailureCategory=Cmdlet-ManagementObjectNotFoundException]")
    );
    assert!(
        e.fully_qualified_error_id
            .ends_with(",Microsoft.Exchange.Management.Tasks.GetMobileDevice")
    );
    assert_eq!(e.exchange_error_id().map(str::len), Some(8));
    let e = run(
        &state,
        "Set-CASMailbox",
        json!({"Identity": "nobody", "ActiveSyncEnabled": true}),
    )
    .unwrap_err();
    assert!(
        e.fully_qualified_error_id
            .ends_with("Microsoft.Exchange.Management.RecipientTasks.SetCasMailbox")
    );
    let e = run(&state, "Set-CASMailbox", json!({"ActiveSyncEnabled": true})).unwrap_err();
    assert!(
        e.exception
            .message
            .contains("missing mandatory parameters: Identity")
    );

    // A duplicate rule is refused; the list of rules is unchanged.
    let e = run(
        &state,
        "New-ActiveSyncDeviceAccessRule",
        json!({"Characteristic": "DeviceType", "QueryString": "wp8", "AccessLevel": "Allow"}),
    )
    .unwrap_err();
    assert!(
        e.exception
            .type_name
            .ends_with("ADObjectAlreadyExistsException")
    );
    assert!(
        e.exception.message.contains("already exists"),
        "{}",
        e.exception.message
    );
    assert_eq!(state.org().rules.len(), 1);
    let e = run(
        &state,
        "New-ActiveSyncDeviceAccessRule",
        json!({"Characteristic": "Colour", "QueryString": "x", "AccessLevel": "Allow"}),
    )
    .unwrap_err();
    assert_eq!(e.category_info.category, "InvalidArgument");
    let e = run(
        &state,
        "Set-ActiveSyncOrganizationSettings",
        json!({"DefaultAccessLevel": "Maybe"}),
    )
    .unwrap_err();
    assert!(e.exception.message.contains("Allow, Block, Quarantine"));

    // UserMailInsert: 256 characters at most.
    let e = run(
        &state,
        "Set-ActiveSyncOrganizationSettings",
        json!({"UserMailInsert": "x".repeat(257)}),
    )
    .unwrap_err();
    assert!(e.exception.message.contains("maximum length is 256"));
    ok(
        &state,
        "Set-ActiveSyncOrganizationSettings",
        json!({"UserMailInsert": "y".repeat(256), "AdminMailRecipients": ["it@contoso.lab"]}),
    );
    let settings = ok(&state, "Get-ActiveSyncOrganizationSettings", Value::Null);
    assert_eq!(
        settings[0]["UserMailInsert"].as_str().map(str::len),
        Some(256)
    );
    assert_eq!(
        settings[0]["AdminMailRecipients"],
        json!(["it@contoso.lab"])
    );
}

#[test]
fn get_command_lists_what_the_account_is_granted() {
    let state = small();
    let names = |values: Vec<Value>| -> Vec<String> {
        values
            .iter()
            .map(|v| v["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let (helpdesk, _) = run_as(&state, "helpdesk", "Get-Command", Value::Null).unwrap();
    assert_eq!(
        names(helpdesk),
        vec![
            "Get-MobileDevice",
            "Get-MobileDeviceStatistics",
            "Get-CASMailbox",
            "Get-Command"
        ]
    );
    let (sets, _) = run_as(&state, "helpdesk", "Get-Command", json!({"Name": "Set-*"})).unwrap();
    assert!(sets.is_empty());
    let account = account(&state, "helpdesk");
    let ctx = CallContext {
        account: &account,
        server: "CAS01",
    };
    let out = engine::invoke(
        &state,
        &ctx,
        "Get-Command",
        &params(json!({"Name": ["Get-MobileDevice", "Set-CASMailbox"]})),
    )
    .unwrap();
    assert_eq!(out.items.len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert!(
        out.errors[0]
            .exception
            .message
            .starts_with("The term 'Set-CASMailbox' is not recognized")
    );

    let (all, _) = run(&state, "Get-Command", json!({"Name": "*ActiveSync*"})).unwrap();
    assert!(names(all).contains(&"New-ActiveSyncDeviceAccessRule".to_string()));
    let (notify, _) = run_as(&state, "notify", "Get-Command", Value::Null).unwrap();
    assert!(notify.is_empty());
    assert_eq!(
        run_as(&state, "helpdesk", "Get-Command", Value::Null)
            .unwrap()
            .0[0]["CommandType"],
        "Function"
    );
}

#[test]
fn statistics_servers_recipients_and_classes() {
    let state = small();
    let stats = ok(
        &state,
        "Get-MobileDeviceStatistics",
        json!({"Mailbox": "grace"}),
    );
    assert_eq!(stats.len(), 2);
    assert!(stats[0].get("LastSuccessSync").is_some() && stats[0].get("DeviceID").is_some());
    let identity = stats[1]["Identity"].clone();
    let one = ok(
        &state,
        "Get-ActiveSyncDeviceStatistics",
        json!({"Identity": identity}),
    );
    assert_eq!(one[0]["DeviceID"], "GRACEWP00000007");
    let e = run(&state, "Get-MobileDeviceStatistics", Value::Null).unwrap_err();
    assert_eq!(e.category_info.category, "InvalidArgument");

    let servers = ok(
        &state,
        "Get-ExchangeServer",
        json!({"Domain": "contoso.lab", "Status": true}),
    );
    assert_eq!(servers.len(), 3);
    let cas02 = ok(
        &state,
        "Get-ExchangeServer",
        json!({"Identity": "cas02.contoso.lab"}),
    );
    assert_eq!(cas02[0]["Fqdn"], "cas02.contoso.lab");
    assert!(run(&state, "Get-ExchangeServer", json!({"Identity": "EX99"})).is_err());

    ok(
        &state,
        "Set-ADServerSettings",
        json!({"ViewEntireForest": true}),
    );
    let recipients = ok(
        &state,
        "Get-Recipient",
        json!({"RecipientTypeDetails": ["UserMailbox"], "ResultSize": "Unlimited"}),
    );
    assert_eq!(recipients.len(), 9);
    let erin = ok(
        &state,
        "Get-Recipient",
        json!({"Filter": "PrimarySmtpAddress -eq 'erin@contoso.lab'"}),
    );
    assert_eq!(erin[0]["Alias"], "erin");
    assert_eq!(erin[0]["RecipientType"], "UserMailbox");

    let classes = ok(&state, "Get-ActiveSyncDeviceClass", Value::Null);
    assert_eq!(classes.len(), 3);
    let lumia = ok(
        &state,
        "Get-ActiveSyncDeviceClass",
        json!({"Filter": "DeviceType -eq 'WP8'"}),
    );
    assert_eq!(lumia[0]["DeviceModel"], "Lumia 950");
}

// ---------------------------------------------------------------------------------------------
// REST InvokeCommand through the router
// ---------------------------------------------------------------------------------------------

struct Rest {
    state: Arc<LabState>,
    tenant: String,
    token: String,
}

impl Rest {
    fn new(state: LabState) -> Rest {
        let state = Arc::new(state);
        let client_id = state.credentials.client_id.clone();
        let tenant = state.tenant().tenant_id.clone();
        let (token, _) = tokens::mint(&state, &client_id, Resource::Exchange).unwrap();
        Rest {
            state,
            tenant,
            token,
        }
    }

    async fn post(
        &self,
        uri: &str,
        token: Option<&str>,
        prefer: Option<&str>,
        body: &Value,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = Request::post(uri)
            .header("host", "outlook.lab.test")
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let router =
            exchange_connector::lab::exchange::rest_router().with_state(self.state.clone());
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, value)
    }

    fn uri(&self) -> String {
        format!("/adminapi/beta/{}/InvokeCommand", self.tenant)
    }
}

fn cmdlet(name: &str, parameters: Value) -> Value {
    json!({"CmdletInput": {"CmdletName": name, "Parameters": parameters}})
}

#[tokio::test]
async fn rest_pages_with_next_links_and_select() {
    let rest = Rest::new(state_of(generate(GenerateSpec {
        users: 900,
        devices: 2300,
        seed: 3,
    })));
    let body = cmdlet("Get-MobileDevice", json!({"ResultSize": "Unlimited"}));
    let mut uri = format!("{}?$select=DeviceId,DeviceAccessState", rest.uri());
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let (status, headers, page) = rest
            .post(
                &uri,
                Some(&rest.token),
                Some("odata.maxpagesize=1000"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(headers["preference-applied"], "odata.maxpagesize=1000");
        pages += 1;
        assert!(
            page["@odata.context"]
                .as_str()
                .unwrap()
                .contains("$metadata#MobileDevice")
        );
        for d in page["value"].as_array().unwrap() {
            let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 2, "{d}");
            assert!(seen.insert(d["DeviceId"].as_str().unwrap().to_string()));
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with("https://outlook.lab.test/adminapi/beta/"),
                    "{next}"
                );
                uri = next
                    .trim_start_matches("https://outlook.lab.test")
                    .to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2300);
    assert_eq!(
        rest.state
            .counters
            .exchange_calls
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(
        rest.state
            .counters
            .exchange_objects
            .load(std::sync::atomic::Ordering::Relaxed),
        2300
    );

    // Without ResultSize: 1000 records, one page, and Exchange's warning.
    let (_, _, page) = rest
        .post(
            &rest.uri(),
            Some(&rest.token),
            None,
            &cmdlet("Get-MobileDevice", Value::Null),
        )
        .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 1000);
    assert!(page.get("@odata.nextLink").is_none());
    assert!(
        page["@adminapi.warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("By default, only the first 1000 items")
    );

    // A nextLink replayed with another body is refused.
    let (_, _, first) = rest
        .post(
            &rest.uri(),
            Some(&rest.token),
            Some("odata.maxpagesize=10"),
            &cmdlet("Get-CASMailbox", json!({"ResultSize": 50})),
        )
        .await;
    let next = first["@odata.nextLink"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://outlook.lab.test")
        .to_string();
    let (status, _, _) = rest
        .post(
            &next,
            Some(&rest.token),
            None,
            &cmdlet("Get-CASMailbox", json!({"ResultSize": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rest_edits_with_generic_hashtables() {
    let rest = Rest::new(small());
    let body = cmdlet(
        "Set-CASMailbox",
        json!({"Identity": "alice", "ActiveSyncBlockedDeviceIDs": {"@odata.type": "#Exchange.GenericHashTable", "Add": ["ALICEIPHONE0001"]}}),
    );
    let (status, _, page) = rest.post(&rest.uri(), Some(&rest.token), None, &body).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["value"], json!([]));
    let (_, _, page) = rest
        .post(
            &format!("/adminapi/v2.0/{}/InvokeCommand", rest.tenant),
            Some(&rest.token),
            None,
            &cmdlet("Get-MobileDevice", json!({"Mailbox": "alice"})),
        )
        .await;
    assert_eq!(page["value"][0]["DeviceAccessState"], "Blocked");
    assert_eq!(page["value"][0]["DeviceAccessStateReason"], "Individual");
}

#[tokio::test]
async fn rest_refuses_missing_expired_and_underprivileged_tokens() {
    let rest = Rest::new(small());
    let body = cmdlet("Get-ActiveSyncOrganizationSettings", Value::Null);
    let (status, headers, _) = rest.post(&rest.uri(), None, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let (status, _, _) = rest
        .post(&rest.uri(), Some("not-a-token"), None, &body)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // "Expire every token now".
    rest.state.faults().tokens_not_before = Some(chrono::Utc::now() + chrono::Duration::seconds(5));
    let (status, headers, _) = rest.post(&rest.uri(), Some(&rest.token), None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    rest.state.faults().tokens_not_before = None;

    // An app without Exchange.ManageAsApp.
    let client_id = rest.state.credentials.client_id.clone();
    rest.state.tenant_mut().apps[0].exchange_roles.clear();
    let (weak, _) = tokens::mint(&rest.state, &client_id, Resource::Exchange).unwrap();
    let (status, _, _) = rest.post(&rest.uri(), Some(&weak), None, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, page) = rest.post(&rest.uri(), Some(&rest.token), None, &body).await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

#[tokio::test]
async fn rest_errors_and_storms() {
    let rest = Rest::new(small());
    let (status, _, error) = rest
        .post(
            &rest.uri(),
            Some(&rest.token),
            None,
            &cmdlet("Get-Nothing", Value::Null),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let detail = error["error"]["details"][0]["message"].as_str().unwrap();
    // "<ErrorCode>|<ExceptionType>|<Message>", as Exchange Online writes it.
    let parts: Vec<&str> = detail.splitn(3, '|').collect();
    assert!(
        parts[0].starts_with("Ex") && parts[0].len() == 8,
        "{detail}"
    );
    assert_eq!(
        parts[1],
        "System.Management.Automation.CommandNotFoundException"
    );
    assert!(
        parts[2].starts_with("The term 'Get-Nothing' is not recognized"),
        "{detail}"
    );
    let (status, _, error) = rest
        .post(
            &rest.uri(),
            Some(&rest.token),
            None,
            &cmdlet("Get-CASMailbox", json!({"Identity": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let parts: Vec<&str> = error["error"]["details"][0]["message"]
        .as_str()
        .unwrap()
        .splitn(3, '|')
        .collect();
    assert_eq!(
        parts[1],
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    );
    assert!(parts[2].starts_with(
        "The operation couldn't be performed because object 'nobody' couldn't be found"
    ));
    assert!(error["error"]["innererror"]["internalException"]["message"].is_string());

    rest.state.faults().storms.push(Storm {
        surface: Surface::ExchangeRest,
        status: 429,
        remaining: 1,
        retry_after_seconds: 7,
    });
    let body = cmdlet("Get-ActiveSyncOrganizationSettings", Value::Null);
    let (status, headers, error) = rest.post(&rest.uri(), Some(&rest.token), None, &body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum number of concurrent requests per tenant")
    );
    let (status, _, _) = rest.post(&rest.uri(), Some(&rest.token), None, &body).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn injected_latency_applies_per_call_and_per_object() {
    let rest = Rest::new(small());
    {
        let mut faults = rest.state.faults();
        faults.exchange_latency_ms = 150;
        faults.exchange_latency_per_object_us = 20_000;
    }
    let started = std::time::Instant::now();
    let (status, _, page) = rest
        .post(
            &rest.uri(),
            Some(&rest.token),
            None,
            &cmdlet("Get-MobileDevice", json!({"ResultSize": "Unlimited"})),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["value"].as_array().unwrap().len(), 9);
    // 150 ms for the call plus 9 × 20 ms for the objects.
    assert!(
        elapsed >= std::time::Duration::from_millis(330),
        "{elapsed:?}"
    );
}

/// The DeviceId index that answers `DeviceId -eq ... -or ...` gives what the full scan gives: the
/// same partnerships, in the same order, case-insensitively, and `-ResultSize` still applies.
#[test]
fn device_id_lookups_by_the_index_answer_as_the_scan_does() {
    let state = state_of(exchange_connector::lab::generate::generate(
        exchange_connector::lab::generate::GenerateSpec {
            users: 40,
            devices: 120,
            seed: 5,
        },
    ));
    let all = ok(
        &state,
        "Get-MobileDevice",
        json!({"ResultSize": "Unlimited"}),
    );
    let ids: Vec<String> = all
        .iter()
        .step_by(7)
        .map(|d| d["DeviceId"].as_str().unwrap().to_string())
        .collect();
    // Mixed case, a repeated id and one that does not exist.
    let mut wanted: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            if i % 2 == 0 {
                id.to_ascii_lowercase()
            } else {
                id.clone()
            }
        })
        .collect();
    wanted.push(ids[0].clone());
    wanted.push("NOSUCHDEVICE".into());
    let or = wanted
        .iter()
        .map(|id| format!("DeviceId -eq '{id}'"))
        .collect::<Vec<_>>()
        .join(" -or ");
    let ids_of = |records: Vec<Value>| -> Vec<String> {
        records
            .iter()
            .map(|d| d["Identity"].as_str().unwrap().to_string())
            .collect()
    };
    let indexed = ids_of(ok(&state, "Get-MobileDevice", json!({"Filter": or})));
    // The same filter in a shape the index does not take: scanned.
    let scanned = ids_of(ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": format!("({or}) -and DeviceId -ne 'zzz'")}),
    ));
    assert_eq!(indexed.len(), ids.len(), "{indexed:?}");
    assert_eq!(indexed, scanned);
    let capped = ids_of(ok(
        &state,
        "Get-MobileDevice",
        json!({"Filter": or, "ResultSize": 3}),
    ));
    assert_eq!(capped, indexed[..3]);
}
