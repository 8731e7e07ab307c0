//! `elbv2/listener_rule`.

use super::*;
use crate::diag::Label;
use crate::kinds::{path, Attr, Kind, KindSpec, RefRule, Spec};
use crate::model::check::Checker;
use crate::model::common::Tags;
use crate::model::Resource;
use crate::validate::Cross;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A rule of a listener: requests that meet its conditions get its action
/// instead of the listener's default one. Rules are tried by priority, lowest first.
///
/// `moor import` takes the rule's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerRule {
    /// The listener's ARN, `${http.arn}`. Changing it replaces the rule.
    pub listener: String,
    /// 1–50000, unique among the listener's rules; the lowest is tried first.
    pub priority: u32,
    /// What a request must match: every condition given, and one of the values of each.
    pub conditions: Conditions,
    /// What matching requests get (the same actions as a listener's `default_action`).
    pub action: Action,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// A rule's conditions. AWS allows at most 3 values in one condition and 5
/// in the whole rule; `*` and `?` are wildcards (at most 5 in a rule).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// URL paths such as `/api/*` (case-sensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_patterns: Vec<String>,
    /// Host names such as `api.example.com` or `*.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_headers: Vec<String>,
    /// Request methods such as `GET` or `POST` (upper case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_methods: Vec<String>,
    /// Client addresses as CIDR blocks, such as `10.0.0.0/8`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// Headers, each a condition of its own: `{name: X-Env, values: [beta]}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HeaderCondition>,
    /// Query string parameters, any of which matches: `{key: version, value: v2}` (a `value` alone matches any key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_strings: Vec<QueryCondition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderCondition {
    /// The header's name, at most 40 characters.
    pub name: String,
    /// The values that match, any one of them.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// AWS's limits on a rule's match values.
const PER_CONDITION: usize = 3;
const PER_RULE: usize = 5;
const WILDCARDS: usize = 5;

impl Conditions {
    /// Each condition as AWS counts it: its field path, and its values.
    fn each(&self) -> Vec<(Vec<String>, Vec<&str>)> {
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let mut out = Vec::new();
        for (f, v) in [
            ("path_patterns", &self.path_patterns),
            ("host_headers", &self.host_headers),
            ("http_methods", &self.http_methods),
            ("source_ips", &self.source_ips),
        ] {
            if !v.is_empty() {
                out.push((path(&["conditions", f]), strs(v)));
            }
        }
        for (i, h) in self.http_headers.iter().enumerate() {
            out.push((path(&["conditions", "http_headers", &i.to_string(), "values"]), strs(&h.values)));
        }
        if !self.query_strings.is_empty() {
            let values = self.query_strings.iter().map(|q| q.value.as_str()).collect();
            out.push((path(&["conditions", "query_strings"]), values));
        }
        out
    }

    /// The values that may hold wildcards (not methods, not addresses).
    fn wildcards(&self) -> usize {
        let count = |s: &str| s.chars().filter(|c| *c == '*' || *c == '?').count();
        let mut n: usize = 0;
        for v in self.path_patterns.iter().chain(&self.host_headers) {
            n += count(v);
        }
        for h in &self.http_headers {
            n += h.values.iter().map(|v| count(v)).sum::<usize>();
        }
        for q in &self.query_strings {
            n += count(&q.value) + q.key.as_deref().map(count).unwrap_or(0);
        }
        n
    }
}

impl KindSpec for ListenerRule {
    const KIND: &'static str = "elbv2/listener_rule";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "listener rule ARN")];
    const REPLACE_ON: &'static [&'static str] = &["listener"];
    // Before the listener and the target groups it uses.
    const DELETE_RANK: u8 = 0;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.listener)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let mut out = vec![RefRule::Kind {
            path: path(&["listener"]),
            value: &self.listener,
            kinds: &[Kind::Elbv2Listener],
            what: "a listener",
        }];
        out.extend(self.action.reference_rules("action"));
        out
    }

    fn attaches(&self) -> Vec<&str> {
        self.action.attaches()
    }

    fn cross_check(&self, r: &Resource, x: &mut Cross<'_>) {
        self.check_priority(r, x);
    }

    fn validate(&self, c: &mut Checker) {
        c.range(&["priority"], "priority", self.priority.into(), 1, 50_000);
        let each = self.conditions.each();
        if each.is_empty() {
            c.error("moor::rule-conditions", &["conditions"], "a listener rule needs at least one condition", "no condition")
                .help = Some("add `path_patterns: [\"/api/*\"]`, `host_headers: […]` or another condition; requests that match nothing go to the listener's `default_action`".into());
        }
        for (p, values) in &each {
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            if values.is_empty() {
                c.error("moor::rule-conditions", &p, "a condition needs at least one value", "no value");
            } else if values.len() > PER_CONDITION {
                c.error(
                    "moor::rule-conditions",
                    &p,
                    format!("{} values in one condition; AWS allows at most {PER_CONDITION}", values.len()),
                    "too many values",
                )
                .help = Some("split the rule into two rules with the same action".into());
            }
        }
        let total: usize = each.iter().map(|(_, v)| v.len()).sum();
        if total > PER_RULE {
            c.error(
                "moor::rule-conditions",
                &["conditions"],
                format!("{total} condition values in one rule; AWS allows at most {PER_RULE}"),
                "too many values",
            )
            .help = Some("AWS counts every path, host, method, address, header value and query pair; split the rule into two rules with the same action".into());
        }
        let wild = self.conditions.wildcards();
        if wild > WILDCARDS {
            c.error(
                "moor::rule-conditions",
                &["conditions"],
                format!("{wild} wildcards (`*`, `?`) in one rule; AWS allows at most {WILDCARDS}"),
                "too many wildcards",
            );
        }
        for (i, m) in self.conditions.http_methods.iter().enumerate() {
            let ok = m.contains("${")
                || !m.is_empty() && m.len() <= 40 && m.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c == '-');
            if !ok {
                c.error(
                    "moor::rule-conditions",
                    &["conditions", "http_methods", &i.to_string()],
                    format!("`{m}` is not an HTTP method as ELB matches it"),
                    "upper-case letters, `-` and `_`",
                )
                .help = Some(format!("methods match case-sensitively; write `{}`", m.to_ascii_uppercase()));
            }
        }
        for (i, ip) in self.conditions.source_ips.iter().enumerate() {
            if !ip.contains("${") && !is_cidr(ip) {
                c.error(
                    "moor::rule-conditions",
                    &["conditions", "source_ips", &i.to_string()],
                    format!("`{ip}` is not a CIDR block"),
                    "not a CIDR block",
                )
                .help = Some("write an address with its prefix length, like `10.0.0.0/8` or `203.0.113.7/32`".into());
            }
        }
        for (i, h) in self.conditions.http_headers.iter().enumerate() {
            if h.name.is_empty() || h.name.len() > 40 {
                c.error(
                    "moor::rule-conditions",
                    &["conditions", "http_headers", &i.to_string(), "name"],
                    "a header name is 1–40 characters",
                    "bad header name",
                );
            }
        }
        let long = |s: &str| s.len() > 128;
        for (f, v) in
            [("path_patterns", &self.conditions.path_patterns), ("host_headers", &self.conditions.host_headers)]
        {
            for (i, s) in v.iter().enumerate() {
                if long(s) || s.is_empty() {
                    c.error(
                        "moor::rule-conditions",
                        &["conditions", f, &i.to_string()],
                        "a condition value is 1–128 characters",
                        "bad length",
                    );
                }
            }
        }
        self.action.check(c, "action");
    }
}

/// `a.b.c.d/n` or an IPv6 address with its prefix length.
fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else { return false };
    let Ok(len) = len.parse::<u8>() else { return false };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

impl ListenerRule {
    /// One rule per priority of a listener: each after the first with a
    /// priority reports it.
    fn check_priority(&self, r: &Resource, x: &mut Cross<'_>) {
        let first = x.stack.resources.iter().find(|o| {
            matches!(&o.spec, Spec::Elbv2ListenerRule(l) if l.listener == self.listener && l.priority == self.priority)
        });
        let Some(first) = first.filter(|f| f.name != r.name) else {
            return;
        };
        let first_span = x.span_of(&first.name, &["priority"]);
        let mut c = x.checker(r);
        let d = c.error(
            "moor::rule-priority",
            &["priority"],
            format!("rules `{}` and `{}` both have priority {} on one listener", first.name, r.name, self.priority),
            "second rule with this priority",
        );
        if let Some(span) = first_span {
            d.labels.push(Label { span, text: "first rule with this priority".into() });
        }
        d.help = Some("a listener tries its rules in order of priority, so each needs its own; give one of them another `priority`".into());
    }
}
