//! A small client for the EC2 query API (the calls the `aws_ec2` driver makes), signed with
//! SigV4 by `aws-sigv4` and sent with reqwest. It speaks to any EC2-compatible endpoint.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use super::DriverError;

const API_VERSION: &str = "2016-11-15";

pub struct Ec2<'a> {
    pub http: &'a reqwest::Client,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub timeout: std::time::Duration,
}

/// One instance as `DescribeInstances` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub state: String,
    pub image_id: String,
}

impl Ec2<'_> {
    /// Calls `action` with `params`; the response's XML, or the API's error code and message.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, DriverError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", API_VERSION);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let url = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| DriverError::Config(format!("aws_ec2.endpoint {}: {e}", self.endpoint)))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return Err(DriverError::Config("aws_ec2.endpoint has no host".into())),
        };
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity = AwsCredentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            None,
            None,
            "loaner-secrets",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| DriverError::Config(format!("cannot sign the EC2 request: {e}")))?
            .into();
        let headers = [("content-type", content_type), ("host", host.as_str())];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .and_then(|r| sign(r, &params))
        .map_err(|e| DriverError::Config(format!("cannot sign the EC2 request: {e}")))?;
        let (instructions, _signature) = signable.into_parts();
        let mut request = self
            .http
            .post(url.clone())
            .timeout(self.timeout)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let what = format!("EC2 {action} at {}", self.endpoint);
        let response = request.send().await.map_err(|e| DriverError::Failed {
            message: format!("{what}: no answer ({e})"),
            output: String::new(),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        let code = tag(&text, "Code").unwrap_or("no error code");
        let message = tag(&text, "Message").unwrap_or("");
        Err(DriverError::Failed {
            message: format!("{what} was refused ({status}): {code} {message}"),
            output: String::new(),
        })
    }

    pub async fn describe(&self, id: &str) -> Result<Instance, DriverError> {
        let xml = self
            .call("DescribeInstances", &[("InstanceId.1", id)])
            .await?;
        let state = section(&xml, "instanceState")
            .and_then(|s| tag(s, "name"))
            .ok_or_else(|| DriverError::Failed {
                message: format!("EC2 knows no instance {id}"),
                output: String::new(),
            })?;
        Ok(Instance {
            id: id.to_owned(),
            state: state.to_owned(),
            image_id: tag(&xml, "imageId").unwrap_or_default().to_owned(),
        })
    }

    /// Starts a new instance; returns its id.
    pub async fn run_instance(&self, params: &[(&str, &str)]) -> Result<String, DriverError> {
        let xml = self.call("RunInstances", params).await?;
        section(&xml, "instancesSet")
            .and_then(|s| tag(s, "instanceId"))
            .map(str::to_owned)
            .ok_or_else(|| DriverError::Failed {
                message: "EC2 RunInstances answered without an instance".into(),
                output: String::new(),
            })
    }
}

/// The text of the first `<name>…</name>` in `xml`.
pub fn tag<'x>(xml: &'x str, name: &str) -> Option<&'x str> {
    section(xml, name).map(str::trim)
}

/// Everything between the first `<name>` and the `</name>` that follows it.
pub fn section<'x>(xml: &'x str, name: &str) -> Option<&'x str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_the_first_matching_section() {
        let xml = "<r><instancesSet><item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></r>";
        assert_eq!(tag(xml, "instanceId"), Some("i-1"));
        assert_eq!(
            section(xml, "instanceState").and_then(|s| tag(s, "name")),
            Some("running")
        );
        assert_eq!(tag(xml, "imageId"), None);
    }
}
