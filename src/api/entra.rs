//! The Microsoft Entra ID blocks: `spec.entra` of a provider object (which tenant,
//! which Graph and login endpoints, which credentials) and `spec.entra` of an
//! `OAuthClient` (the application settings only Entra has).
//!
//! How the shared client fields map onto an Entra application is in
//! `crate::provider::entra::fields` and `docs/providers/entra.md`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretKeyRef;

/// Default authority (login) URL: Microsoft's global cloud.
pub const ENTRA_DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Default Microsoft Graph URL: Microsoft's global cloud.
pub const ENTRA_DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// An Entra ID tenant whose app registrations clientops manages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntraTenant {
    /// The directory (tenant) id, a GUID such as
    /// `72f988bf-86f1-41af-91ab-2d7cd011db47`, or a verified domain such as
    /// `contoso.onmicrosoft.com`.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9][A-Za-z0-9.-]*$')",
        "message": "spec.entra.tenantId must be the tenant's GUID or a domain such as contoso.onmicrosoft.com"
    }]))]
    pub tenant_id: String,
    /// Where tokens are obtained (`{authorityUrl}/{tenantId}/oauth2/v2.0/token`).
    /// Default `https://login.microsoftonline.com`; set it for a national cloud
    /// (e.g. `https://login.microsoftonline.us`) or `clientops emulate entra`.
    /// `http://` is accepted only for loopback hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1'])) && !self.contains('?') && !self.contains('#')",
        "message": "spec.entra.authorityUrl must be an https:// URL without query or fragment (http:// only for localhost, 127.0.0.1 or [::1])"
    }]))]
    pub authority_url: Option<String>,
    /// Microsoft Graph (`{graphUrl}/v1.0/applications`). Default
    /// `https://graph.microsoft.com`; set it for a national cloud (e.g.
    /// `https://graph.microsoft.us`) or `clientops emulate entra`. `http://` is
    /// accepted only for loopback hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1'])) && !self.contains('?') && !self.contains('#')",
        "message": "spec.entra.graphUrl must be an https:// URL without query or fragment (http:// only for localhost, 127.0.0.1 or [::1])"
    }]))]
    pub graph_url: Option<String>,
    /// How clientops authenticates to Microsoft Graph.
    pub auth: EntraAuth,
}

impl EntraTenant {
    /// The authority URL, default applied.
    pub fn authority_url(&self) -> &str {
        self.authority_url
            .as_deref()
            .unwrap_or(ENTRA_DEFAULT_AUTHORITY_URL)
    }

    /// The Graph URL, default applied.
    pub fn graph_url(&self) -> &str {
        self.graph_url.as_deref().unwrap_or(ENTRA_DEFAULT_GRAPH_URL)
    }
}

/// clientops' own app registration in the tenant: its application (client) id
/// and a client secret or a certificate, used with the `client_credentials`
/// grant. It needs the Graph application permission
/// `Application.ReadWrite.OwnedBy` (admin consent); it becomes the owner of every
/// application it creates. Set exactly one of `clientSecretSecretRef`,
/// `certificate` and `workloadIdentity`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "[has(self.clientSecretSecretRef), has(self.certificate), has(self.workloadIdentity)].filter(x, x).size() == 1",
    "message": "spec.entra.auth: set exactly one of clientSecretSecretRef, certificate or workloadIdentity"
}]))]
pub struct EntraAuth {
    /// The application (client) id of clientops' own app registration (a GUID).
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",
        "message": "spec.entra.auth.clientId must be the application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000"
    }]))]
    pub client_id: String,
    /// The Secret key holding a client secret of that app registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_secret_ref: Option<SecretKeyRef>,
    /// A certificate of that app registration and its private key: clientops
    /// signs a short-lived assertion (`client_assertion`, PS256) with it for each
    /// token, and no secret crosses the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<EntraCertificate>,
    /// Workload identity federation: no secret at all. The operator's own
    /// service-account token (projected into its pod with the audience
    /// `api://AzureADTokenExchange`, file given by `clientops run
    /// --federated-token-file`) is the `client_assertion`; the app registration
    /// trusts it by a federated identity credential naming the cluster's issuer
    /// and `system:serviceaccount:<namespace>:<name>`. Only a
    /// ClusterOAuthProvider may use it: the operator's identity is the admin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<EntraWorkloadIdentity>,
}

/// Workload identity federation from the operator's projected service-account
/// token (`spec.entra.auth.workloadIdentity: {}`). Which file holds the token is
/// the operator's setting, never the provider object's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct EntraWorkloadIdentity {}

/// A certificate credential: the certificate (PEM) uploaded to the app
/// registration, and its RSA private key (PEM, PKCS#8 or PKCS#1).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntraCertificate {
    /// The Secret key holding the certificate, e.g. `tls.crt` of a
    /// `kubernetes.io/tls` Secret.
    pub certificate_secret_ref: SecretKeyRef,
    /// The Secret key holding its private key, e.g. `tls.key`.
    pub private_key_secret_ref: SecretKeyRef,
}

/// Where an application's redirect URIs are registered.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RedirectPlatform {
    /// A server-side web application (`web.redirectUris`): the authorization
    /// code is redeemed with the client secret.
    #[default]
    Web,
    /// A single-page application (`spa.redirectUris`): code flow with PKCE from
    /// the browser; Entra allows cross-origin token requests from these URIs.
    Spa,
    /// A mobile or desktop application (`publicClient.redirectUris`).
    PublicClient,
}

/// Who may sign in to the application (`signInAudience`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum SignInAudience {
    /// Accounts of this tenant only (the default).
    #[default]
    AzureADMyOrg,
    /// Accounts of any Entra tenant.
    AzureADMultipleOrgs,
    /// Accounts of any Entra tenant and personal Microsoft accounts.
    AzureADandPersonalMicrosoftAccount,
    /// Personal Microsoft accounts only.
    PersonalMicrosoftAccount,
}

impl SignInAudience {
    /// Graph's name of the audience.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInAudience::AzureADMyOrg => "AzureADMyOrg",
            SignInAudience::AzureADMultipleOrgs => "AzureADMultipleOrgs",
            SignInAudience::AzureADandPersonalMicrosoftAccount => {
                "AzureADandPersonalMicrosoftAccount"
            }
            SignInAudience::PersonalMicrosoftAccount => "PersonalMicrosoftAccount",
        }
    }

    /// The audience Graph names `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [
            SignInAudience::AzureADMyOrg,
            SignInAudience::AzureADMultipleOrgs,
            SignInAudience::AzureADandPersonalMicrosoftAccount,
            SignInAudience::PersonalMicrosoftAccount,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// Whether personal Microsoft accounts may sign in (Entra then allows at
    /// most two client secrets and 100 redirect URIs).
    pub fn allows_personal_accounts(self) -> bool {
        matches!(
            self,
            SignInAudience::AzureADandPersonalMicrosoftAccount
                | SignInAudience::PersonalMicrosoftAccount
        )
    }
}

/// One API the application asks permissions of (`requiredResourceAccess`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccessRequest {
    /// The API's application id, e.g. `00000003-0000-0000-c000-000000000000`
    /// for Microsoft Graph.
    #[schemars(length(min = 1, max = 64))]
    pub resource_app_id: String,
    /// The permissions asked of it.
    #[schemars(length(min = 1, max = 64))]
    pub resource_access: Vec<ResourceAccess>,
}

/// One permission of an API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccess {
    /// The permission's id (a GUID of the API's `oauth2PermissionScopes` or
    /// `appRoles`), e.g. `e1fe6dd8-ba31-4d61-89e7-88639da4683d` for Graph's
    /// `User.Read`.
    #[schemars(length(min = 1, max = 64))]
    pub id: String,
    /// `Scope` (a delegated permission) or `Role` (an application permission).
    #[serde(rename = "type")]
    pub kind: ResourceAccessType,
}

/// The type of a permission.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ResourceAccessType {
    /// A delegated permission (on behalf of a signed-in user).
    Scope,
    /// An application permission (as the application itself).
    Role,
}

impl ResourceAccessType {
    /// Graph's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceAccessType::Scope => "Scope",
            ResourceAccessType::Role => "Role",
        }
    }
}

/// Entra-only application settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntraClientFields {
    /// Where `spec.redirectUris` are registered: `web` (the default), `spa` or
    /// `publicClient`. The other platforms' lists are kept empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_platform: Option<RedirectPlatform>,
    /// Who may sign in. Default `AzureADMyOrg` (this tenant only). Always
    /// managed: a change in the portal is reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<SignInAudience>,
    /// The API permissions the application asks for (what an administrator
    /// consents to). Always managed: absent means none, and a permission added
    /// in the portal is removed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub required_resource_access: Option<Vec<ResourceAccessRequest>>,
    /// Notes for the tenant's administrators. Managed when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub notes: Option<String>,
    /// Tags (also shown on the service principal). Managed when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(t, !t.matches('\\\\s'))",
        "message": "spec.entra.tags: Entra allows no whitespace in a tag"
    }]))]
    pub tags: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_blocks_read_as_documented() {
        let t: EntraTenant = serde_json::from_value(json!({
            "tenantId": "contoso.onmicrosoft.com",
            "auth": {"clientId": "00000000-0000-0000-0000-000000000001",
                "clientSecretSecretRef": {"namespace": "clientops-system", "name": "entra", "key": "secret"}},
        }))
        .unwrap();
        assert_eq!(t.authority_url(), ENTRA_DEFAULT_AUTHORITY_URL);
        assert_eq!(t.graph_url(), ENTRA_DEFAULT_GRAPH_URL);
        let c: EntraClientFields = serde_json::from_value(json!({
            "redirectPlatform": "publicClient",
            "signInAudience": "AzureADMultipleOrgs",
            "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
        }))
        .unwrap();
        assert_eq!(c.redirect_platform, Some(RedirectPlatform::PublicClient));
        assert_eq!(
            c.sign_in_audience.map(SignInAudience::as_str),
            Some("AzureADMultipleOrgs")
        );
        assert_eq!(
            SignInAudience::parse("AzureADandPersonalMicrosoftAccount"),
            Some(SignInAudience::AzureADandPersonalMicrosoftAccount)
        );
        assert_eq!(SignInAudience::parse("azureadmyorg"), None);
    }
}
