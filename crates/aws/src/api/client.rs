//! Sending a request: the endpoint, SigV4 (`aws-sigv4`) with the credentials and region of the
//! SDK configuration, and the SDK's own HTTP client (`aws-smithy-http-client`, rustls).

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_http_client::{Connector, tls};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use super::model::ServiceModel;
use super::parse::Response;
use super::serialize::Request;
use super::{Error, Result};

/// How long one request may take, from connecting to the last byte of the response: the
/// adapters' SDK clients' attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = crate::sdk::ATTEMPT_TIMEOUT;

/// Signs and sends requests of any model, one request per [`ApiClient::send`] (retries are the
/// caller's: [`super::ModelOperation::invoke`]).
pub struct ApiClient {
    connector: Connector,
    credentials: Option<SharedCredentialsProvider>,
    region: Option<String>,
    endpoint_url: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client with the credentials, region and endpoint URL of `config` (the CLI's
    /// `--profile`, `--region`, `--endpoint-url`).
    #[must_use]
    pub fn new(config: &SdkConfig) -> Self {
        let connector = Connector::builder()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build();
        Self {
            connector,
            credentials: config.credentials_provider(),
            region: config.region().map(ToString::to_string),
            endpoint_url: config.endpoint_url().map(ToString::to_string),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the timeout of one request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The region requests are signed for (`us-east-1` when none is configured and an
    /// endpoint URL is given).
    ///
    /// # Errors
    /// [`Error::NoRegion`] without a region or endpoint URL.
    pub fn region(&self) -> Result<&str> {
        match (&self.region, &self.endpoint_url) {
            (Some(region), _) => Ok(region),
            (None, Some(_)) => Ok("us-east-1"),
            (None, None) => Err(Error::NoRegion),
        }
    }

    /// The base URL of the service: the endpoint URL when given, else
    /// `https://PREFIX.REGION.amazonaws.com` (`.amazonaws.com.cn` in China).
    ///
    /// # Errors
    /// [`Error::NoRegion`].
    pub fn endpoint(&self, model: &ServiceModel) -> Result<String> {
        if let Some(url) = &self.endpoint_url {
            return Ok(url.trim_end_matches('/').to_string());
        }
        let region = self.region()?;
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        Ok(format!(
            "https://{}.{region}.{suffix}",
            model.metadata().endpoint_prefix
        ))
    }

    /// Signs and sends `request` to the service of `model`.
    ///
    /// # Errors
    /// [`Error::Credentials`], [`Error::Sign`], [`Error::Send`] (including the timeout).
    pub async fn send(&self, model: &ServiceModel, request: &Request) -> Result<Response> {
        let url = format!("{}{}", self.endpoint(model)?, request.path);
        let uri: http::Uri = url.parse().map_err(|e| Error::Sign {
            reason: format!("bad URL {url}: {e}"),
        })?;
        let host = uri.authority().map(ToString::to_string).unwrap_or_default();
        let mut headers = request.headers.clone();
        headers.push(("Host".into(), host));

        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| Error::Credentials {
                reason: "no credentials provider is configured".into(),
            })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Error::Credentials {
                reason: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            })?;
        let identity: Identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region()?)
            .name(model.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Sign {
                reason: e.to_string(),
            })?
            .into();
        let signable = SignableRequest::new(
            &request.method,
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&request.body),
        )
        .map_err(|e| Error::Sign {
            reason: e.to_string(),
        })?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Error::Sign {
                reason: e.to_string(),
            })?
            .into_parts();

        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(uri);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let mut http_request = builder
            .body(SdkBody::from(request.body.clone()))
            .map_err(|e| Error::Sign {
                reason: e.to_string(),
            })?;
        instructions.apply_to_request_http1x(&mut http_request);
        let http_request = http_request.try_into().map_err(|e| Error::Sign {
            reason: format!("{e}"),
        })?;

        let exchange = async {
            let response = self
                .connector
                .call(http_request)
                .await
                .map_err(|e| Error::Send {
                    url: url.clone(),
                    reason: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                })?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            let body = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| Error::Send {
                    url: url.clone(),
                    reason: format!("failed to read the response body: {e}"),
                })?
                .into_bytes()
                .to_vec();
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Send {
                url: url.clone(),
                reason: format!("no complete response within {:?}", self.timeout),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;

    fn client(region: Option<&str>, url: Option<&str>) -> ApiClient {
        let mut config = SdkConfig::builder();
        if let Some(region) = region {
            config = config.region(Region::new(region.to_string()));
        }
        if let Some(url) = url {
            config = config.endpoint_url(url);
        }
        ApiClient::new(&config.build())
    }

    #[test]
    fn the_endpoint_is_the_regional_one_unless_an_endpoint_url_is_given() {
        let elbv2 = ServiceModel::builtin("elbv2").unwrap();
        assert_eq!(
            client(Some("eu-west-3"), None).endpoint(&elbv2).unwrap(),
            "https://elasticloadbalancing.eu-west-3.amazonaws.com"
        );
        assert_eq!(
            client(Some("cn-north-1"), None).endpoint(&elbv2).unwrap(),
            "https://elasticloadbalancing.cn-north-1.amazonaws.com.cn"
        );
        let local = client(None, Some("http://127.0.0.1:5000/"));
        assert_eq!(local.endpoint(&elbv2).unwrap(), "http://127.0.0.1:5000");
        assert_eq!(local.region().unwrap(), "us-east-1");
        assert!(matches!(
            client(None, None).endpoint(&elbv2),
            Err(Error::NoRegion)
        ));
        assert_eq!(elbv2.signing_name(), "elasticloadbalancing");
    }
}
