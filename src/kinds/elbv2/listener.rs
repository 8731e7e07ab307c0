//! `elbv2/listener`.

use super::*;
use crate::diag::Label;
use crate::kinds::{path, Attr, Kind, KindSpec, RefRule, Spec};
use crate::model::check::Checker;
use crate::model::common::ref_resource;
use crate::model::common::Tags;
use crate::model::Resource;
use crate::validate::Cross;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A listener: a port on the load balancer and what it does with requests.
///
/// `moor import` takes the listener's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// The load balancer's ARN, `${lb.arn}`.
    pub load_balancer: String,
    pub port: u32,
    /// `HTTP` (the default) or `HTTPS`.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// ACM certificate ARN; required for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// TLS policy for HTTPS, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// `forward: ${tg.arn}`, `redirect: {…}` or `fixed_response: {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send to a target group (`${tg.arn}`), or share requests between
    /// several by weight (`[{target_group: …, weight: 80}, …]`), optionally
    /// sticky (`{target_groups: [{…}], stickiness: 3600}`).
    Forward(Forward),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

/// Where a forward sends requests.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Forward {
    /// One target group's ARN, `${tg.arn}`.
    One(String),
    /// Up to 5 target groups, each with its weight.
    Weighted(Vec<WeightedTarget>),
    /// Up to 5 target groups by weight, and how long a client sticks to the group it was sent to.
    Sticky(StickyForward),
}

/// By the shape of the value, so that a mistake inside one form is
/// reported where it is, not as a value of no form.
impl<'de> Deserialize<'de> for Forward {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Forward;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a target group ARN, a list of `{target_group, weight}`, or `{target_groups, stickiness}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Forward, E> {
                Ok(Forward::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Forward, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(a)).map(Forward::Weighted)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Forward, A::Error> {
                StickyForward::deserialize(serde::de::value::MapAccessDeserializer::new(a)).map(Forward::Sticky)
            }
        }
        d.deserialize_any(V)
    }
}

/// A target group of a weighted forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedTarget {
    /// The target group's ARN, `${tg.arn}`.
    pub target_group: String,
    /// 0–999: its share of the requests is its weight over the sum of the weights.
    pub weight: u32,
}

/// A weighted forward whose clients stay with one target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StickyForward {
    pub target_groups: Vec<WeightedTarget>,
    /// Seconds a client is sent to the same target group, 1–604800 (7 days).
    pub stickiness: u32,
}

impl Forward {
    /// The target groups, each with the path of its field below `forward`.
    pub fn targets(&self) -> Vec<(Vec<String>, &str)> {
        match self {
            Forward::One(tg) => vec![(Vec::new(), tg.as_str())],
            Forward::Weighted(v) => v
                .iter()
                .enumerate()
                .map(|(i, w)| (path(&[&i.to_string(), "target_group"]), w.target_group.as_str()))
                .collect(),
            Forward::Sticky(s) => s
                .target_groups
                .iter()
                .enumerate()
                .map(|(i, w)| (path(&["target_groups", &i.to_string(), "target_group"]), w.target_group.as_str()))
                .collect(),
        }
    }
}

impl Action {
    /// The target groups it forwards to, each with the path of its field
    /// below the action.
    pub fn target_groups(&self) -> Vec<(Vec<String>, &str)> {
        match self {
            Action::Forward(f) => f
                .targets()
                .into_iter()
                .map(|(p, tg)| (std::iter::once("forward".to_string()).chain(p).collect(), tg))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The resources of the stack it forwards to.
    pub fn attaches(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (_, tg) in self.target_groups() {
            if let Some(r) = ref_resource(tg) {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Its reference rules: each target group it forwards to; `at` is the
    /// action's path.
    pub fn reference_rules(&self, at: &str) -> Vec<RefRule<'_>> {
        self.target_groups()
            .into_iter()
            .map(|(p, tg)| RefRule::Kind {
                path: std::iter::once(at.to_string()).chain(p).collect(),
                value: tg,
                kinds: &[Kind::Elbv2TargetGroup],
                what: "a target group",
            })
            .collect()
    }

    /// The rules of the action at `at` that need only itself.
    pub fn check(&self, c: &mut Checker, at: &str) {
        match self {
            Action::Forward(f) => {
                let (list, stickiness): (&[WeightedTarget], _) = match f {
                    Forward::One(_) => (&[], None),
                    Forward::Weighted(v) => (v, None),
                    Forward::Sticky(s) => (&s.target_groups, Some(s.stickiness)),
                };
                let list_at: Vec<&str> = if matches!(f, Forward::Sticky(_)) {
                    vec![at, "forward", "target_groups"]
                } else {
                    vec![at, "forward"]
                };
                // An empty list that the file writes with items had items that did not load (reported).
                let written = c.node.path(&list_at).map_or(0, |n| match &n.kind {
                    crate::yaml::NodeKind::Seq(items) => items.len(),
                    _ => 0,
                });
                if !matches!(f, Forward::One(_)) && ((list.is_empty() && written == 0) || list.len() > 5) {
                    c.error(
                        "moor::listener-action",
                        &list_at,
                        format!("a weighted forward takes 1–5 target groups, {} given", list.len()),
                        "1–5 target groups",
                    );
                }
                for (i, w) in list.iter().enumerate() {
                    let i = i.to_string();
                    let mut p = list_at.clone();
                    p.extend([i.as_str(), "weight"]);
                    if w.weight > 999 {
                        c.error(
                            "moor::listener-action",
                            &p,
                            format!("weight {} is out of range", w.weight),
                            "must be 0–999",
                        );
                    }
                    if list[..i.parse::<usize>().unwrap_or(0)].iter().any(|o| o.target_group == w.target_group) {
                        p.pop();
                        p.push("target_group");
                        c.error(
                            "moor::listener-action",
                            &p,
                            format!("target group `{}` is given twice", w.target_group),
                            "given twice",
                        )
                        .help = Some("give each target group once, with its whole weight".into());
                    }
                }
                if !list.is_empty() && list.iter().all(|w| w.weight == 0) {
                    c.error(
                        "moor::listener-action",
                        &list_at,
                        "every target group has weight 0, so no request can be forwarded",
                        "all weights 0",
                    );
                }
                if let Some(s) = stickiness {
                    c.range(&[at, "forward", "stickiness"], "stickiness", s.into(), 1, 604_800);
                }
            }
            Action::Redirect(r) => {
                if let Some(p) = r.port {
                    c.port(&[at, "redirect", "port"], p);
                }
                if r.status_code != 301 && r.status_code != 302 {
                    c.error(
                        "moor::listener-action",
                        &[at, "redirect", "status_code"],
                        format!("redirect status {} is not 301 or 302", r.status_code),
                        "301 or 302",
                    );
                }
            }
            Action::FixedResponse(f) => {
                if !(200..=599).contains(&f.status_code) {
                    c.error(
                        "moor::listener-action",
                        &[at, "fixed_response", "status_code"],
                        format!("status {} is not an HTTP status", f.status_code),
                        "200–599",
                    );
                }
                if let Some(ct) = &f.content_type {
                    const TYPES: [&str; 5] =
                        ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
                    if !TYPES.contains(&ct.as_str()) {
                        c.error(
                            "moor::listener-action",
                            &[at, "fixed_response", "content_type"],
                            format!("content type `{ct}` is not offered by ELB"),
                            "unsupported",
                        )
                        .help = Some(format!("one of: {}", TYPES.join(", ")));
                    }
                }
                if f.message_body.as_ref().is_some_and(|b| b.len() > 1024) {
                    c.error(
                        "moor::listener-action",
                        &[at, "fixed_response", "message_body"],
                        "a fixed response body is at most 1024 characters",
                        "too long",
                    );
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<HttpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `301` (the default) or `302`.
    #[serde(default = "default_redirect_status")]
    pub status_code: u32,
}

fn default_redirect_status() -> u32 {
    301
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedResponse {
    pub status_code: u32,
    /// `text/plain` (the default), `text/html`, `text/css`, `application/javascript` or `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
}

impl KindSpec for Listener {
    const KIND: &'static str = "elbv2/listener";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "listener ARN"), Attr::integer("port", "listener port")];
    const REPLACE_ON: &'static [&'static str] = &["load_balancer"];
    const DELETE_RANK: u8 = 1;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.load_balancer)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let mut out = vec![RefRule::Kind {
            path: path(&["load_balancer"]),
            value: &self.load_balancer,
            kinds: &[Kind::Elbv2LoadBalancer],
            what: "a load balancer",
        }];
        out.extend(self.default_action.reference_rules("default_action"));
        out
    }

    fn cross_check(&self, r: &Resource, x: &mut Cross<'_>) {
        self.check_one_load_balancer(r, x);
        self.check_port(r, x);
    }

    fn attaches(&self) -> Vec<&str> {
        self.default_action.attaches()
    }

    fn validate(&self, c: &mut Checker) {
        c.port(&["port"], self.port);
        match self.protocol {
            HttpProtocol::Https if self.certificate.is_none() => {
                c.error(
                    "moor::https-certificate",
                    &["protocol"],
                    "an HTTPS listener needs a certificate",
                    "HTTPS without `certificate`",
                )
                .help = Some("set `certificate: arn:aws:acm:…` (an ACM certificate in the same region)".into());
            }
            HttpProtocol::Http if self.certificate.is_some() => {
                c.error(
                    "moor::https-certificate",
                    &["certificate"],
                    "a certificate is only used by an HTTPS listener",
                    "set `protocol: HTTPS`",
                );
            }
            _ => {}
        }
        self.default_action.check(c, "default_action");
        if let Action::Redirect(r) = &self.default_action {
            if r.port == Some(self.port) && r.protocol == Some(self.protocol) && r.host.is_none() && r.path.is_none() {
                c.error(
                    "moor::listener-action",
                    &["default_action", "redirect"],
                    "this redirect points at the listener itself",
                    "redirect loop",
                );
            }
        }
    }
}

impl Listener {
    /// A target group serves one load balancer: of the listeners that
    /// forward to one group, the first whose load balancer is not the first
    /// listener's reports it.
    fn check_one_load_balancer(&self, r: &Resource, x: &mut Cross<'_>) {
        let Some(tg) = self.attaches().first().copied() else {
            return;
        };
        // The listeners that forward to it, with their load balancer.
        let listeners: Vec<(&Resource, Option<&str>)> = x
            .stack
            .resources
            .iter()
            .filter_map(|o| match &o.spec {
                Spec::Elbv2Listener(l) if l.attaches().contains(&tg) => Some((o, ref_resource(&l.load_balancer))),
                _ => None,
            })
            .collect();
        let lbs: Vec<&str> = listeners.iter().filter_map(|(_, lb)| *lb).collect();
        let Some(other) = lbs.iter().find(|l| **l != lbs[0]) else {
            return;
        };
        let (second, _) = listeners.iter().find(|(_, lb)| lb == &Some(*other)).expect("found above");
        if second.name != r.name {
            return;
        }
        let (first, _) = listeners.iter().find(|(_, lb)| lb == &Some(lbs[0])).expect("found above");
        let first_span = x.span_of(&first.name, &["default_action", "forward"]);
        let first_lb = lbs[0];
        let mut c = x.checker(r);
        let d = c.error(
            "moor::target-group-shared",
            &["default_action", "forward"],
            format!("target group `{tg}` is used by load balancers `{first_lb}` and `{other}`"),
            format!("forwards from `{other}`"),
        );
        if let Some(span) = first_span {
            d.labels.push(Label { span, text: format!("forwards from `{first_lb}`") });
        }
        d.help = Some("a target group belongs to one load balancer; make a target group per load balancer".into());
    }

    /// One listener per port of a load balancer: each after the first on a
    /// port reports it.
    fn check_port(&self, r: &Resource, x: &mut Cross<'_>) {
        let first = x.stack.resources.iter().find(|o| {
            matches!(&o.spec, Spec::Elbv2Listener(l) if l.load_balancer == self.load_balancer && l.port == self.port)
        });
        let Some(first) = first.filter(|f| f.name != r.name) else {
            return;
        };
        let first_span = x.span_of(&first.name, &["port"]);
        let mut c = x.checker(r);
        let d = c.error(
            "moor::listener-port",
            &["port"],
            format!("listeners `{}` and `{}` both use port {} of one load balancer", first.name, r.name, self.port),
            "second listener on this port",
        );
        if let Some(span) = first_span {
            d.labels.push(Label { span, text: "first listener on this port".into() });
        }
        d.help = Some("a load balancer has one listener per port; give one of them another `port`".into());
    }
}
