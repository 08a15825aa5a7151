//! The notification settings as the binary deserializes them from `argus.toml`'s `[alerting]`
//! table (`receivers` and `route`), and their validation into the compiled form the notifier
//! runs on: receivers by name and the routing tree.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::route::{GroupBy, Route};
use crate::error::AlertingError;
use crate::parse_duration;
use crate::template::Template;

/// Receivers and the routing tree. `NotifyConfig::default()` has neither: alerts are kept and
/// listed but not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// Required as soon as a receiver is defined.
    #[serde(default)]
    pub route: Option<RouteConfig>,
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    /// `http://` URL the notification is POSTed to.
    pub url: String,
    /// Extra request headers, e.g. `Authorization = "Bearer …"`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-attempt timeout, a Prometheus duration; default `10s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Whether resolved alerts are notified; default `true`.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(default)]
    pub body: BodyKind,
    /// The Go template of the body when `body = "template"`, over Alertmanager's notification
    /// data (`alerting/docs/notifications.md` lists the fields).
    #[serde(default)]
    pub body_template: Option<String>,
    /// Default `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// At most this many alerts in a body (the rest counted in `truncatedAlerts`); 0 = all.
    #[serde(default)]
    pub max_alerts: usize,
}

fn default_true() -> bool {
    true
}

/// The shape of the request body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    /// Alertmanager's webhook payload, version 4.
    #[default]
    Alertmanager,
    /// Grafana's legacy alerting webhook (`ruleName`, `state`, `evalMatches`, …).
    Grafana,
    /// A Slack incoming-webhook message (`text` and coloured `attachments`).
    Slack,
    /// `body_template` rendered over Alertmanager's notification data.
    Template,
}

/// A node of the routing tree; children inherit what they leave unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Required on the root; inherited by children.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Labels that split alerts into groups; `["..."]` = every label. Root default: none (one
    /// group per route).
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Root default `30s`.
    #[serde(default)]
    pub group_wait: Option<String>,
    /// Root default `5m`.
    #[serde(default)]
    pub group_interval: Option<String>,
    /// Root default `4h`.
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Alertmanager matchers, all of which an alert must match (not allowed on the root).
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Keep looking at later siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

impl NotifyConfig {
    /// Checks everything [`crate::Notifier::open`] and [`crate::Notifier::reload`] would
    /// refuse, with a message naming the receiver or route at fault.
    pub fn validate(&self) -> Result<(), AlertingError> {
        Compiled::new(self).map(|_| ())
    }
}

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// A validated receiver.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) name: String,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
    pub(crate) send_resolved: bool,
    pub(crate) body: BodyKind,
    /// Parsed `body_template`; present exactly when `body` is [`BodyKind::Template`].
    pub(crate) template: Option<Template>,
    pub(crate) content_type: String,
    pub(crate) max_alerts: usize,
}

/// The validated configuration the notifier runs on.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub(crate) receivers: HashMap<String, Arc<Receiver>>,
    pub(crate) route: Option<Arc<Route>>,
}

impl Compiled {
    pub(crate) fn new(config: &NotifyConfig) -> Result<Self, AlertingError> {
        let mut receivers = HashMap::new();
        for receiver in &config.receivers {
            let compiled = compile_receiver(receiver)?;
            if receivers
                .insert(receiver.name.clone(), Arc::new(compiled))
                .is_some()
            {
                return Err(AlertingError::DuplicateReceiver {
                    name: receiver.name.clone(),
                });
            }
        }
        let route = match &config.route {
            Some(root) => {
                let inherited = Inherited {
                    receiver: None,
                    group_by: GroupBy::Labels(Vec::new()),
                    group_wait: DEFAULT_GROUP_WAIT,
                    group_interval: DEFAULT_GROUP_INTERVAL,
                    repeat_interval: DEFAULT_REPEAT_INTERVAL,
                };
                if !root.matchers.is_empty() {
                    return Err(route_error("route", "the root route cannot have matchers"));
                }
                if root.continue_matching {
                    return Err(route_error("route", "the root route cannot set continue"));
                }
                Some(compile_route(root, "route", &inherited, None, &receivers)?)
            }
            None if receivers.is_empty() => None,
            None => {
                return Err(route_error(
                    "route",
                    "receivers are defined but there is no [alerting.route] to choose them",
                ));
            }
        };
        Ok(Compiled { receivers, route })
    }
}

fn route_error(route: &str, reason: &str) -> AlertingError {
    AlertingError::InvalidRoute {
        route: route.to_owned(),
        reason: reason.to_owned(),
    }
}

fn compile_receiver(config: &ReceiverConfig) -> Result<Receiver, AlertingError> {
    let invalid = |reason: String| AlertingError::InvalidReceiver {
        receiver: config.name.clone(),
        reason,
    };
    if config.name.trim().is_empty() {
        return Err(invalid("the name is empty".to_owned()));
    }
    let url = reqwest::Url::parse(&config.url)
        .map_err(|e| invalid(format!("url {:?}: {e}", config.url)))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid(format!(
                "url scheme {other:?} is not http or https"
            )));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|e| invalid(format!("header {name:?} value: {e}")))?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    let timeout = match &config.timeout {
        Some(text) => {
            let timeout = parse_duration(text).map_err(|e| invalid(format!("timeout: {e}")))?;
            if timeout.is_zero() {
                return Err(invalid("timeout must be positive".to_owned()));
            }
            timeout
        }
        None => DEFAULT_TIMEOUT,
    };
    let template = match (config.body, &config.body_template) {
        (BodyKind::Template, Some(text)) => Some(
            Template::parse_with_vars(&format!("{}.body_template", config.name), text, &[])
                .map_err(|e| invalid(format!("body_template: {e}")))?,
        ),
        (BodyKind::Template, None) => {
            return Err(invalid(
                "body = \"template\" needs a body_template".to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err(invalid(
                "body_template is only used with body = \"template\"".to_owned(),
            ));
        }
        (_, None) => None,
    };
    let content_type = config
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".to_owned());
    HeaderValue::from_str(&content_type)
        .map_err(|e| invalid(format!("content_type {content_type:?}: {e}")))?;
    Ok(Receiver {
        name: config.name.clone(),
        url,
        headers,
        timeout,
        send_resolved: config.send_resolved,
        body: config.body,
        template,
        content_type,
        max_alerts: config.max_alerts,
    })
}

/// What a route passes down to its children.
struct Inherited {
    receiver: Option<String>,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

fn compile_route(
    config: &RouteConfig,
    path: &str,
    parent: &Inherited,
    parent_key: Option<&str>,
    receivers: &HashMap<String, Arc<Receiver>>,
) -> Result<Arc<Route>, AlertingError> {
    let duration = |field: &str, value: &Option<String>, inherited: Duration| match value {
        Some(text) => parse_duration(text).map_err(|e| AlertingError::InvalidRoute {
            route: path.to_owned(),
            reason: format!("{field}: {e}"),
        }),
        None => Ok(inherited),
    };
    let group_wait = duration("group_wait", &config.group_wait, parent.group_wait)?;
    let group_interval = duration(
        "group_interval",
        &config.group_interval,
        parent.group_interval,
    )?;
    let repeat_interval = duration(
        "repeat_interval",
        &config.repeat_interval,
        parent.repeat_interval,
    )?;
    if group_interval.is_zero() {
        return Err(route_error(path, "group_interval must be positive"));
    }
    if repeat_interval.is_zero() {
        return Err(route_error(path, "repeat_interval must be positive"));
    }
    let receiver = config
        .receiver
        .clone()
        .or_else(|| parent.receiver.clone())
        .ok_or_else(|| route_error(path, "no receiver (the root route must name one)"))?;
    if !receivers.contains_key(&receiver) {
        return Err(AlertingError::UnknownReceiver {
            route: path.to_owned(),
            receiver,
        });
    }
    let group_by = match &config.group_by {
        Some(labels) => {
            GroupBy::from_labels(labels).map_err(|reason| AlertingError::InvalidRoute {
                route: path.to_owned(),
                reason,
            })?
        }
        None => parent.group_by.clone(),
    };
    let matchers = config
        .matchers
        .iter()
        .map(|text| super::matcher::Matcher::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let key = match parent_key {
        Some(parent_key) => format!(
            "{parent_key}/{}",
            super::matcher::matchers_string(&matchers)
        ),
        None => super::matcher::matchers_string(&matchers),
    };
    let inherited = Inherited {
        receiver: Some(receiver.clone()),
        group_by: group_by.clone(),
        group_wait,
        group_interval,
        repeat_interval,
    };
    let routes = config
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| {
            compile_route(
                child,
                &format!("{path}.routes[{i}]"),
                &inherited,
                Some(&key),
                receivers,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Route {
        id: path.to_owned(),
        key,
        receiver,
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
        matchers,
        continue_matching: config.continue_matching,
        routes,
    }))
}
