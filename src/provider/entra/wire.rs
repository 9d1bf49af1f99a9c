//! Microsoft Graph v1.0 and the Microsoft identity platform's token endpoint, as
//! their JSON reads (docs/providers/entra-graph-facts.md). Secrets only as
//! [`ClientSecret`]. Members clientops does not send are `None` and left out.

use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;

/// The `$select` of every application read: exactly what clientops compares or
/// needs (ids, the marker, the passwords' metadata).
pub const APPLICATION_SELECT: &str = "id,appId,uniqueName,displayName,signInAudience,web,spa,publicClient,requiredResourceAccess,info,notes,tags,passwordCredentials,createdDateTime";

/// An application (app registration).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The object id (Graph's key of the application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The application (client) id: what OAuth clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The alternate key a caller chooses at creation (immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spa: Option<RedirectUris>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<RedirectUris>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<InformationalUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Read only: Graph refuses it in a PATCH (`addPassword` adds one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
}

/// `web`: a server-side application's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_page_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit_grant_settings: Option<ImplicitGrantSettings>,
}

/// `web.implicitGrantSettings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImplicitGrantSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_id_token_issuance: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_access_token_issuance: Option<bool>,
}

/// `spa` and `publicClient`: a list of redirect URIs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectUris {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
}

/// `info`: the application's informational URLs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InformationalUrl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_statement_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
}

/// One entry of `requiredResourceAccess`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    #[serde(default)]
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// One permission of a `requiredResourceAccess` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceAccess {
    #[serde(default)]
    pub id: String,
    /// `Scope` or `Role`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// A password credential (client secret) of an application. `secretText` is
/// only in `addPassword`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// The first three characters of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_text: Option<ClientSecret>,
}

/// `POST /applications/{id}/addPassword`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddPassword {
    pub password_credential: PasswordCredential,
}

/// `POST /applications/{id}/removePassword`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovePassword {
    pub key_id: String,
}

/// A service principal (`POST /servicePrincipals {appId}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// One page of a collection.
#[derive(Clone, Debug, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The whole URL of the next page, when there is one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// Graph's error body: `{"error": {"code", "message", "innerError", "details"}}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<GraphError>,
}

/// The `error` of [`ErrorBody`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

/// One of `error.details`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
}

/// The token endpoint's success answer.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: ClientSecret,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// The token endpoint's error answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_bodies_read_and_secrets_stay_hidden() {
        let p: PasswordCredential = serde_json::from_str(
            r#"{"customKeyIdentifier":null,"endDateTime":"2028-12-07T00:00:00Z","keyId":"k1","startDateTime":"2026-12-07T00:00:00Z","secretText":"hunter2hunter2","hint":"hun","displayName":"clientops-x"}"#,
        )
        .unwrap();
        assert_eq!(p.key_id.as_deref(), Some("k1"));
        assert!(!format!("{p:?}").contains("hunter2"));
        let page: Page<Application> = serde_json::from_str(
            r#"{"@odata.context":"x","value":[{"id":"o1","appId":"a1","web":{"redirectUris":["https://a/cb"],"implicitGrantSettings":{"enableIdTokenIssuance":true}}}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/applications?$skiptoken=abc"}"#,
        )
        .unwrap();
        assert_eq!(page.value[0].app_id.as_deref(), Some("a1"));
        assert!(page.next_link.unwrap().contains("skiptoken"));
        // What clientops leaves unset is not sent (a PATCH of `null` clears).
        let body = serde_json::to_value(Application {
            display_name: Some("x".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"displayName": "x"}));
    }
}
