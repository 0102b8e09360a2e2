//! Which Microsoft cloud to sign in to. The sign-in host and the Graph root differ per national cloud
//! (learn.microsoft.com/graph/deployments: "App registration and token service root endpoints" and
//! "Microsoft Graph and Graph Explorer service root endpoints"); scopes must name the cloud's own Graph
//! host (learn.microsoft.com/graph/sdks/national-clouds, "Permission scopes").

/// A Microsoft cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// The global service (and GCC).
    #[default]
    Commercial,
    /// US Government L4 (GCC High).
    UsGovHigh,
    /// US Government L5 (DoD).
    UsDod,
    /// Operated by 21Vianet in China.
    China,
}

impl Cloud {
    /// The Microsoft Entra sign-in host.
    pub fn login_base(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://login.microsoftonline.com",
            Cloud::UsGovHigh | Cloud::UsDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Microsoft Graph root.
    pub fn graph_base(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://graph.microsoft.com",
            Cloud::UsGovHigh => "https://graph.microsoft.us",
            Cloud::UsDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Exchange Online's REST root (hosted Exchange), per cloud.
    pub fn exchange_rest_base(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://outlook.office365.com",
            Cloud::UsGovHigh => "https://outlook.office365.us",
            Cloud::UsDod => "https://webmail.apps.mil",
            Cloud::China => "https://partner.outlook.cn",
        }
    }

    /// Every cloud, in the order the setup lists them.
    pub const ALL: [Cloud; 4] = [
        Cloud::Commercial,
        Cloud::UsGovHigh,
        Cloud::UsDod,
        Cloud::China,
    ];

    /// Parses `commercial`, `gcchigh`, `dod` or `china`.
    pub fn parse(text: &str) -> Option<Cloud> {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_', ' '], "")
            .as_str()
        {
            "commercial" | "global" | "public" | "gcc" => Some(Cloud::Commercial),
            "gcchigh" | "usgov" | "usgovhigh" => Some(Cloud::UsGovHigh),
            "dod" | "usdod" => Some(Cloud::UsDod),
            "china" | "21vianet" => Some(Cloud::China),
            _ => None,
        }
    }
}

/// Where to sign in and which Graph to call: a cloud's hosts, or explicit ones (the lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Sign-in host, e.g. `https://login.microsoftonline.com`.
    pub login_base: String,
    /// Graph root, e.g. `https://graph.microsoft.com`.
    pub graph_base: String,
    /// Tenant id or verified domain (`organizations` before it is known).
    pub tenant: String,
}

impl Authority {
    /// The hosts of a cloud for a tenant.
    pub fn of_cloud(cloud: Cloud, tenant: &str) -> Authority {
        Authority {
            login_base: cloud.login_base().to_string(),
            graph_base: cloud.graph_base().to_string(),
            tenant: tenant.to_string(),
        }
    }

    /// `{login}/{tenant}/oauth2/v2.0/{endpoint}`.
    pub fn oauth_endpoint(&self, endpoint: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{endpoint}",
            self.login_base.trim_end_matches('/'),
            self.tenant
        )
    }

    /// The delegated scopes of the admin's sign-in, on this cloud's Graph host.
    pub fn sign_in_scope(&self) -> String {
        super::SIGN_IN_PERMISSIONS
            .iter()
            .map(|p| format!("{}/{p}", self.graph_base.trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The admin consent URL for an app (v2.0 `adminconsent` endpoint with the `.default` scope), for an
    /// admin who may grant what the signed-in one may not.
    pub fn admin_consent_url(&self, client_id: &str) -> String {
        let mut url = format!(
            "{}/{}/v2.0/adminconsent",
            self.login_base.trim_end_matches('/'),
            self.tenant
        );
        url.push_str(&format!(
            "?client_id={client_id}&scope={}",
            percent_encoding::utf8_percent_encode(
                &format!("{}/.default", self.graph_base.trim_end_matches('/')),
                percent_encoding::NON_ALPHANUMERIC
            )
        ));
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_have_their_own_hosts() {
        assert_eq!(Cloud::parse("GCC-High"), Some(Cloud::UsGovHigh));
        let a = Authority::of_cloud(Cloud::China, "contoso.cn");
        assert_eq!(
            a.oauth_endpoint("devicecode"),
            "https://login.chinacloudapi.cn/contoso.cn/oauth2/v2.0/devicecode"
        );
        assert!(
            a.sign_in_scope()
                .starts_with("https://microsoftgraph.chinacloudapi.cn/Application.ReadWrite.All")
        );
    }
}
