//! Generated organisations at scale, with realistic mixes: device families and models; enrolled and
//! compliant, enrolled and not compliant, in grace, not enrolled; users outside the targeted groups and
//! users excluded; allow and block entries an Exchange admin made by hand; Intune devices without EAS.
//! Deterministic for a given seed.

use super::scenario::{
    DeviceSpec, GroupSpec, MailboxSpec, PolicyTargets, Scenario, TenantSpec, contoso_organization,
};
use crate::model::intune::{ComplianceState, ManagedDevice, ManagementAgent};
use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;

/// What to generate: `users=N,devices=M,seed=S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Mailboxes (users).
    pub users: usize,
    /// EAS partnerships.
    pub devices: usize,
    /// Seed: the same seed gives the same organisation.
    pub seed: u64,
}

impl FromStr for GenerateSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut spec = GenerateSpec {
            users: 50,
            devices: 120,
            seed: 1,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("'{part}' is not key=value (expected users=N,devices=M,seed=S)")
            })?;
            let number: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("'{value}' is not a whole number (in '{part}')"))?;
            match key.trim() {
                "users" => spec.users = number as usize,
                "devices" => spec.devices = number as usize,
                "seed" => spec.seed = number,
                other => {
                    return Err(format!(
                        "unknown key '{other}' (expected users, devices, seed)"
                    ));
                }
            }
        }
        if spec.users == 0 {
            return Err("users must be at least 1".into());
        }
        Ok(spec)
    }
}

/// A device family: Exchange's view and Intune's.
struct Family {
    weight: u32,
    device_type: &'static str,
    models: &'static [&'static str],
    os: &'static str,
    user_agent: &'static str,
    intune_os: &'static str,
    manufacturer: &'static str,
    client_type: &'static str,
}

const FAMILIES: &[Family] = &[
    Family {
        weight: 38,
        device_type: "iPhone",
        models: &[
            "iPhone14C5",
            "iPhone15C2",
            "iPhone15C4",
            "iPhone16C1",
            "iPhone17C3",
        ],
        os: "iOS 17.4 21E219",
        user_agent: "Apple-iPhone15C2/2104.144",
        intune_os: "iOS",
        manufacturer: "Apple",
        client_type: "EAS",
    },
    Family {
        weight: 7,
        device_type: "iPad",
        models: &["iPad13C8", "iPad14C1"],
        os: "iOS 17.4 21E219",
        user_agent: "Apple-iPad13C8/2104.144",
        intune_os: "iPadOS",
        manufacturer: "Apple",
        client_type: "EAS",
    },
    Family {
        weight: 22,
        device_type: "SAMSUNGSMS911B",
        models: &["SM-S911B", "SM-G991B", "SM-A546B"],
        os: "Android 14",
        user_agent: "Android/14-EAS-2.0",
        intune_os: "Android",
        manufacturer: "samsung",
        client_type: "EAS",
    },
    Family {
        weight: 10,
        device_type: "Android",
        models: &["Pixel 7", "Pixel 8", "moto g84"],
        os: "Android 14",
        user_agent: "Android-Mail/2024.01.01",
        intune_os: "Android",
        manufacturer: "Google",
        client_type: "EAS",
    },
    Family {
        weight: 18,
        device_type: "Outlook",
        models: &["Outlook for iOS and Android"],
        os: "OutlookBasicAuth",
        user_agent: "Outlook-iOS-Android/1.0",
        intune_os: "iOS",
        manufacturer: "Apple",
        client_type: "Outlook",
    },
    Family {
        weight: 5,
        device_type: "WP8",
        models: &["Lumia 950"],
        os: "Windows Phone 10",
        user_agent: "MSFT-WP/10.0.15063",
        intune_os: "Windows",
        manufacturer: "Microsoft",
        client_type: "EAS",
    },
];

const FIRST: &[&str] = &[
    "Alice", "Bram", "Chloé", "Daan", "Emma", "Finn", "Gaëlle", "Hugo", "Inès", "Jan", "Lotte",
    "Mathis", "Noor", "Olivier", "Pauline", "Ruben", "Sofie", "Thomas", "Ugo", "Vera", "Wout",
    "Yara", "Zoé",
];
const LAST: &[&str] = &[
    "Martin", "Peeters", "Janssens", "Dubois", "de Vries", "Bakker", "Moreau", "Maes", "Laurent",
    "Visser", "Leroy", "Willems", "Smit", "Lambert", "Mulder", "Girard",
];

fn guid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn device_id(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The EAS protocol of a generated client (`ClientVersion`): a realistic mix without drawing from the
/// generator (so a seed's organisation is unchanged): Windows Phone's mail speaks 14.1, about one
/// generic Android mail app in three and one Samsung in ten still 16.0 or 14.1, Apple's Mail 16.1
/// (since iOS 10). Outlook's REST sync keeps the default.
fn client_version(family: &Family, device_id: &str) -> Option<String> {
    let bucket = device_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 30;
    let version = match (family.device_type, bucket) {
        ("WP8", _) => "14.1",
        ("Android", 0..5) => "16.0",
        ("Android", 5..10) => "14.1",
        ("SAMSUNGSMS911B", 0..2) => "16.0",
        ("SAMSUNGSMS911B", 2..3) => "14.1",
        _ if family.client_type == "EAS" => "16.1",
        _ => return None,
    };
    Some(version.into())
}

fn pick_family(rng: &mut ChaCha8Rng) -> &'static Family {
    let total: u32 = FAMILIES.iter().map(|f| f.weight).sum();
    let mut roll = rng.random_range(0..total);
    for family in FAMILIES {
        if roll < family.weight {
            return family;
        }
        roll -= family.weight;
    }
    &FAMILIES[0]
}

/// Generates an organisation of `users` mailboxes and `devices` partnerships.
///
/// The mix: 88 % of users are in the targeted group (half of them through a nested group), 4 % of those
/// also in the excluded group, 12 % outside; per device 60 % enrolled and compliant, 10 % enrolled and
/// not compliant, 3 % in grace, 27 % not enrolled; 2 % of mailboxes carry an admin's allow entry and 1 %
/// an admin's block entry; 10 % of users also have an Intune-managed laptop without EAS.
pub fn generate(spec: GenerateSpec) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let now = Utc::now();
    let tenant_id = guid(&mut rng);
    let client_id = guid(&mut rng);
    let g_targeted = guid(&mut rng);
    let g_nested = guid(&mut rng);
    let g_exempt = guid(&mut rng);
    let mut targeted_members = vec![g_nested.clone()];
    let mut nested_members = Vec::new();
    let mut exempt_members = Vec::new();
    let mut mailboxes = Vec::with_capacity(spec.users + 1);
    let mut managed = Vec::with_capacity(spec.devices);
    let per_user = spec.devices / spec.users;
    let extra = spec.devices % spec.users;
    for u in 0..spec.users {
        let user_id = guid(&mut rng);
        let first = FIRST[rng.random_range(0..FIRST.len())];
        let last = LAST[rng.random_range(0..LAST.len())];
        let alias = format!("user{u:05}");
        let roll = rng.random_range(0..100);
        if roll < 44 {
            targeted_members.push(user_id.clone());
        } else if roll < 88 {
            nested_members.push(user_id.clone());
        }
        if roll < 88 && rng.random_range(0..100) < 4 {
            exempt_members.push(user_id.clone());
        }
        let count = per_user + usize::from(u < extra);
        let mut devices = Vec::with_capacity(count);
        for _ in 0..count {
            let family = pick_family(&mut rng);
            let model = family.models[rng.random_range(0..family.models.len())];
            let id = device_id(&mut rng);
            let first_sync = now - Duration::minutes(rng.random_range(60..60 * 24 * 400));
            devices.push(DeviceSpec {
                device_id: id.clone(),
                device_type: family.device_type.into(),
                device_model: Some(model.into()),
                device_os: Some(family.os.into()),
                user_agent: Some(family.user_agent.into()),
                friendly_name: Some(format!("{first}'s {model}")),
                client_type: Some(family.client_type.into()),
                client_version: client_version(family, &id),
                first_sync_time: Some(first_sync),
                last_success_sync: Some(now - Duration::minutes(rng.random_range(1..60 * 24 * 3))),
                meets_mailbox_policy: true,
            });
            let enrolment = rng.random_range(0..100);
            let compliance = match enrolment {
                0..60 => Some(ComplianceState::Compliant),
                60..70 => Some(ComplianceState::Noncompliant),
                70..73 => Some(ComplianceState::InGracePeriod),
                _ => None,
            };
            if let Some(state) = compliance {
                managed.push(ManagedDevice {
                    id: guid(&mut rng),
                    user_id: Some(user_id.clone()),
                    device_name: Some(format!("{first}'s {model}")),
                    user_principal_name: None,
                    email_address: None,
                    operating_system: Some(family.intune_os.into()),
                    os_version: Some(family.os.rsplit(' ').next().unwrap_or("").into()),
                    model: Some(model.into()),
                    manufacturer: Some(family.manufacturer.into()),
                    management_agent: Some(ManagementAgent::EasMdm),
                    compliance_state: Some(state),
                    eas_activated: Some(true),
                    eas_activation_date_time: Some(first_sync),
                    eas_device_id: Some(id),
                    exchange_last_successful_sync_date_time: Some(now - Duration::hours(1)),
                    exchange_access_state: None,
                    exchange_access_state_reason: None,
                    last_sync_date_time: Some(
                        now - Duration::minutes(rng.random_range(30..60 * 24 * 7)),
                    ),
                    enrolled_date_time: Some(first_sync),
                    azure_ad_registered: Some(true),
                    azure_ad_device_id: Some(guid(&mut rng)),
                });
            }
        }
        if rng.random_range(0..100) < 10 {
            managed.push(ManagedDevice {
                id: guid(&mut rng),
                user_id: Some(user_id.clone()),
                device_name: Some(format!("LT-{alias}")),
                user_principal_name: None,
                email_address: None,
                operating_system: Some("Windows".into()),
                os_version: Some("10.0.22631.3447".into()),
                model: Some("Latitude 7440".into()),
                manufacturer: Some("Dell Inc.".into()),
                management_agent: Some(ManagementAgent::Mdm),
                compliance_state: Some(ComplianceState::Compliant),
                eas_activated: Some(false),
                eas_activation_date_time: None,
                eas_device_id: None,
                exchange_last_successful_sync_date_time: None,
                exchange_access_state: None,
                exchange_access_state_reason: None,
                last_sync_date_time: Some(now - Duration::hours(5)),
                enrolled_date_time: Some(now - Duration::days(100)),
                azure_ad_registered: Some(true),
                azure_ad_device_id: Some(guid(&mut rng)),
            });
        }
        let mut mailbox = MailboxSpec {
            alias,
            display_name: format!("{first} {last}"),
            user_id: Some(user_id),
            active_sync_enabled: true,
            allowed_device_ids: Vec::new(),
            blocked_device_ids: Vec::new(),
            devices,
        };
        if let Some(first_device) = mailbox.devices.first().map(|d| d.device_id.clone()) {
            match rng.random_range(0..100) {
                0..2 => mailbox.allowed_device_ids.push(first_device),
                2..3 => mailbox.blocked_device_ids.push(first_device),
                _ => {}
            }
        }
        mailboxes.push(mailbox);
    }
    mailboxes.push(MailboxSpec {
        alias: "notify".into(),
        display_name: "Intune Notifications".into(),
        user_id: Some(guid(&mut rng)),
        active_sync_enabled: false,
        allowed_device_ids: Vec::new(),
        blocked_device_ids: Vec::new(),
        devices: Vec::new(),
    });
    let password = |rng: &mut ChaCha8Rng, prefix: &str| format!("{prefix}-{}", &guid(rng)[..13]);
    Scenario {
        organization: contoso_organization(
            mailboxes,
            [
                password(&mut rng, "Svc"),
                password(&mut rng, "Notify"),
                password(&mut rng, "Helpdesk"),
            ],
            vec!["Get-MobileDevice".into(), "Get-Command".into()],
        ),
        tenant: TenantSpec {
            tenant_id,
            display_name: "Contoso Lab".into(),
            client_id,
            client_secret: password(&mut rng, "Secret"),
            graph_roles: None,
            exchange_roles: None,
            mail_send_scope: None,
            groups: vec![
                GroupSpec {
                    id: g_targeted.clone(),
                    display_name: "EAS - Conditional access".into(),
                    members: targeted_members,
                },
                GroupSpec {
                    id: g_nested,
                    display_name: "Sales and Field".into(),
                    members: nested_members,
                },
                GroupSpec {
                    id: g_exempt.clone(),
                    display_name: "EAS - Exempt".into(),
                    members: exempt_members,
                },
            ],
            policy: PolicyTargets {
                included_groups: vec![g_targeted],
                excluded_groups: vec![g_exempt],
            },
            managed_devices: managed,
            extra_users: Vec::new(),
            exchange_on_premises_policy: None,
            no_connector_app: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_and_rejects_nonsense() {
        let spec: GenerateSpec = "users=10,devices=25,seed=7".parse().unwrap();
        assert_eq!(
            spec,
            GenerateSpec {
                users: 10,
                devices: 25,
                seed: 7
            }
        );
        assert!("users=ten".parse::<GenerateSpec>().is_err());
        assert!("colour=blue".parse::<GenerateSpec>().is_err());
        assert!("users=0".parse::<GenerateSpec>().is_err());
    }

    #[test]
    fn same_seed_same_organisation_and_exact_counts() {
        let a = generate(GenerateSpec {
            users: 40,
            devices: 97,
            seed: 3,
        });
        let b = generate(GenerateSpec {
            users: 40,
            devices: 97,
            seed: 3,
        });
        let ids = |s: &Scenario| -> Vec<String> {
            s.organization
                .mailboxes
                .iter()
                .flat_map(|m| m.devices.iter().map(|d| d.device_id.clone()))
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(ids(&a).len(), 97);
        let (org, tenant, _) = a.build().unwrap();
        assert_eq!(org.device_count(), 97);
        assert!(
            tenant
                .managed_devices
                .iter()
                .any(|d| d.compliance_state == Some(ComplianceState::Noncompliant))
        );
    }
}
