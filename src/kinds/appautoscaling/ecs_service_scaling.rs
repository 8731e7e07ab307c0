//! `appautoscaling/ecs_service_scaling`.

use crate::kinds::{path, Attr, Kind, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::{ref_parts, ref_resource, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Application Auto Scaling of an ECS service's task count: a scalable
/// target (`min`–`max` tasks), target-tracking policies that keep a
/// metric near a target value, and schedules that change `min` and `max`
/// at given times (none at night, two by day). The service's
/// `desired_count` is then the scaler's: moor sets it when it creates the
/// service and leaves it alone afterwards. A bound its schedules set
/// (`min`, `max`) is theirs too once the scaling exists. Destroyed before
/// its service.
///
/// `moor import` takes the scalable target's ARN, or its resource id
/// (`service/<cluster>/<service>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsServiceScaling {
    /// The service's ARN, `${web.arn}` (it names the cluster too). Changing
    /// it replaces the scaling.
    pub service: String,
    /// Fewest tasks the scaler keeps, 0 or more.
    pub min: u32,
    /// Most tasks the scaler starts, at least `min`.
    pub max: u32,
    /// Target-tracking policies: each keeps one metric near its target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tracking: Vec<TargetTracking>,
    /// Scheduled actions: each sets `min`, `max` or both at the times its
    /// schedule says. They then own those bounds: after the create, moor
    /// neither plans nor sends the scaling's own `min` if a schedule sets
    /// one, nor its `max` if a schedule sets one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
}

/// One scheduled action (named `moor-<name>` in AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Its name, unique in the scaling: letters, digits, `-` and `_`.
    pub name: String,
    /// When: `cron(<minutes> <hours> <day of month> <month> <day of week>
    /// <year>)` as AWS writes it (`cron(0 20 ? * MON-FRI *)`), or
    /// `rate(<n> <minute|minutes|hour|hours|day|days>)`. One-time
    /// `at(...)` schedules are refused: once run, AWS may drop them, and
    /// each apply would put them back.
    pub schedule: String,
    /// The IANA time zone the schedule is in (`Europe/Berlin`); UTC if
    /// not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The fewest tasks from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The most tasks from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl Schedule {
    /// The name of moor's scheduled action.
    pub fn action_name(&self) -> String {
        format!("{POLICY_PREFIX}{}", self.name)
    }
}

/// Why a schedule expression is not one AWS takes, if it is not.
pub fn schedule_problem(expr: &str) -> Option<String> {
    let inner = |prefix: &str| expr.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(cron) = inner("cron(") {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if fields.len() != 6 {
            return Some(format!(
                "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), this has {}",
                fields.len()
            ));
        }
        return (fields[2] != "?" && fields[4] != "?")
            .then(|| "one of day-of-month and day-of-week is `?` in AWS's cron: `cron(0 7 * * ? *)`".into());
    }
    if let Some(rate) = inner("rate(") {
        let parts: Vec<&str> = rate.split_whitespace().collect();
        let ok = match parts.as_slice() {
            [n, unit] => match n.parse::<u32>() {
                Ok(1) => ["minute", "hour", "day"].contains(unit),
                Ok(n) if n > 1 => ["minutes", "hours", "days"].contains(unit),
                _ => false,
            },
            _ => false,
        };
        return (!ok).then(|| "a rate is a whole number above 0 and a unit: `rate(1 day)`, `rate(6 hours)`".into());
    }
    if expr.starts_with("at(") {
        // A one-time action may be gone once it ran, and the plan would
        // put it back, to run again: not something to keep in a file.
        return Some("one-time `at(...)` schedules are not kept in a stack file: once run, AWS may drop them and each apply would put them back".into());
    }
    Some("a schedule is `cron(...)` or `rate(...)`".into())
}

/// One target-tracking policy (named `moor-<metric>` in AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    /// The metric: `cpu` or `memory` (the service's average utilization,
    /// in percent) or `request_count_per_target` (requests per task per
    /// minute through `target_group`).
    pub metric: Metric,
    /// The value to keep the metric at: a percentage of 1–100 for `cpu`
    /// and `memory`, a request count above 0 for `request_count_per_target`.
    pub target: f64,
    /// For `request_count_per_target`: the target group the service is
    /// behind, `${tg.arn}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group: Option<String>,
    /// Seconds after a scale-in before another (AWS's default for ECS: 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown: Option<u32>,
    /// Seconds after a scale-out before another (AWS's default for ECS: 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_cooldown: Option<u32>,
    /// Never remove tasks: scale out only.
    #[serde(default)]
    pub disable_scale_in: bool,
}

/// A metric a target-tracking policy follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `ECSServiceAverageCPUUtilization`.
    Cpu,
    /// `ECSServiceAverageMemoryUtilization`.
    Memory,
    /// `ALBRequestCountPerTarget`.
    RequestCountPerTarget,
}

impl Metric {
    /// The predefined metric type AWS names it by.
    pub fn aws(self) -> &'static str {
        match self {
            Metric::Cpu => "ECSServiceAverageCPUUtilization",
            Metric::Memory => "ECSServiceAverageMemoryUtilization",
            Metric::RequestCountPerTarget => "ALBRequestCountPerTarget",
        }
    }

    pub fn of_aws(s: &str) -> Option<Metric> {
        [Metric::Cpu, Metric::Memory, Metric::RequestCountPerTarget].into_iter().find(|m| m.aws() == s)
    }

    /// The file's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::RequestCountPerTarget => "request_count_per_target",
        }
    }

    /// The name of moor's policy for this metric.
    pub fn policy_name(self) -> String {
        format!("{POLICY_PREFIX}{}", self.as_str())
    }
}

/// moor's policies on a scalable target are named `moor-<metric>`, its
/// scheduled actions `moor-<name>`; other policies and actions on it are
/// someone else's and left alone.
pub const POLICY_PREFIX: &str = "moor-";

/// The scalable target's resource id of a service ARN
/// (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`):
/// `service/<cluster>/<name>`. `None` for anything else, including the old
/// ARN form without the cluster.
pub fn resource_id_of(service_arn: &str) -> Option<String> {
    let parts: Vec<&str> = service_arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecs" {
        return None;
    }
    let rest = parts[5].strip_prefix("service/")?;
    let (cluster, name) = rest.split_once('/')?;
    (!cluster.is_empty() && !name.is_empty() && !name.contains('/')).then(|| format!("service/{cluster}/{name}"))
}

impl EcsServiceScaling {
    /// The schedules' names, expressions and ranges.
    fn validate_schedules(&self, c: &mut Checker) {
        let mut seen: Vec<&str> = Vec::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let at = i.to_string();
            let ok_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_';
            if s.name.is_empty() || s.name.len() > 200 || !s.name.chars().all(ok_char) {
                c.error(
                    "moor::scaling-schedule",
                    &["schedules", &at, "name"],
                    format!("`{}` is not a schedule name", crate::text::abbreviate(&s.name)),
                    "letters, digits, - and _ only",
                )
                .help = Some("name it like `night` or `weekday-morning`".into());
            } else if seen.contains(&s.name.as_str()) {
                c.error(
                    "moor::scaling-schedule",
                    &["schedules", &at, "name"],
                    format!("a second schedule named `{}`", s.name),
                    "name already used",
                )
                .help = Some("give each schedule of the scaling its own name".into());
            }
            seen.push(&s.name);
            if let Some(why) = schedule_problem(&s.schedule) {
                c.error(
                    "moor::scaling-schedule",
                    &["schedules", &at, "schedule"],
                    format!("`{}` is not a schedule AWS takes", crate::text::abbreviate(&s.schedule)),
                    why,
                )
                .help = Some("for example `cron(0 20 ? * MON-FRI *)` (20:00 on weekdays) or `rate(1 day)`".into());
            }
            if let Some(tz) = &s.timezone {
                // `Area/Place` (`Europe/Berlin`, `Etc/GMT+5`), or a name in
                // capitals such as `UTC`, `GMT` or `EST5EDT`.
                let chars = tz.chars().all(|ch| ch.is_ascii_alphanumeric() || "/_-+".contains(ch));
                let area = tz.contains('/') && !tz.starts_with('/') && !tz.ends_with('/');
                let capitals = tz.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
                    && tz.starts_with(|ch: char| ch.is_ascii_uppercase())
                    && (3..=8).contains(&tz.len());
                let plausible = !tz.is_empty() && chars && (area || capitals);
                if !plausible {
                    c.error(
                        "moor::scaling-schedule",
                        &["schedules", &at, "timezone"],
                        format!("`{}` is not a time zone name", crate::text::abbreviate(tz)),
                        "not an IANA time zone",
                    )
                    .help = Some("write an IANA name such as `Europe/Berlin` or `America/New_York`, or `UTC`".into());
                }
            }
            match (s.min, s.max) {
                (None, None) => {
                    c.error(
                        "moor::scaling-schedule",
                        &["schedules", &at],
                        format!("schedule `{}` sets neither `min` nor `max`", s.name),
                        "changes nothing",
                    )
                    .help = Some("give the range from that time on: `min`, `max` or both".into());
                }
                (Some(min), Some(max)) if min > max => {
                    c.error(
                        "moor::scaling-schedule",
                        &["schedules", &at, "min"],
                        format!("`min` ({min}) is more than `max` ({max})"),
                        "more than max",
                    )
                    .help = Some("make `min` at most `max`".into());
                }
                _ => {}
            }
        }
    }
}

impl KindSpec for EcsServiceScaling {
    /// It keeps its service at `min` tasks or more.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        let lowest = self.schedules.iter().filter_map(|s| s.min).filter(|m| *m < self.min).min();
        Some(crate::cost::Billing::Scales { target: &self.service, min: self.min, lowest })
    }

    const KIND: &'static str = "appautoscaling/ecs_service_scaling";
    const ATTRIBUTES: &'static [Attr] =
        &[Attr::string("resource_id", "the scalable target's resource id, `service/<cluster>/<service>`")];
    const REPLACE_ON: &'static [&'static str] = &["service"];
    // The scalable target's ARN, new for each registration.
    const ID_IS_UNIQUE: bool = true;
    // Sent on register, where AWS keeps them, but not read: ownership is
    // the record's ARN.
    const TAGGED: bool = false;
    // With the services it scales, before anything they use.
    const DELETE_RANK: u8 = 0;

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.service)
    }

    /// No tags of its own in the file, but the stack's and moor's are sent
    /// on register (a kind without tags, like a DNS record set, gets none).
    fn tags(&self) -> Option<&Tags> {
        static NONE_OF_ITS_OWN: Tags = Tags::new();
        Some(&NONE_OF_ITS_OWN)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let mut out = vec![RefRule::Kind {
            path: path(&["service"]),
            value: &self.service,
            kinds: &[Kind::EcsService],
            what: "an ECS service",
        }];
        for (i, t) in self.target_tracking.iter().enumerate() {
            if let Some(tg) = &t.target_group {
                out.push(RefRule::Kind {
                    path: path(&["target_tracking", &i.to_string(), "target_group"]),
                    value: tg,
                    kinds: &[Kind::Elbv2TargetGroup],
                    what: "a target group",
                });
            }
        }
        out
    }

    /// The scaler sets its service's task count.
    fn sets_fields_of(&self) -> Vec<(&str, &'static str)> {
        ref_resource(&self.service).map(|s| (s, "desired_count")).into_iter().collect()
    }

    /// Its schedules set the bounds of its range that they name.
    fn sets_own_fields(&self) -> Vec<(&'static str, &'static str)> {
        let why = "its `schedules` set it after the create";
        let mut out = Vec::new();
        if self.schedules.iter().any(|s| s.min.is_some()) {
            out.push(("min", why));
        }
        if self.schedules.iter().any(|s| s.max.is_some()) {
            out.push(("max", why));
        }
        out
    }

    fn validate(&self, c: &mut Checker) {
        match ref_parts(&self.service) {
            Some((res, attr)) if attr != "arn" => {
                c.error(
                    "moor::scaling-service",
                    &["service"],
                    format!("`service` takes the service's ARN, not its {attr}"),
                    "not an ARN",
                )
                .help = Some(format!("write `service: ${{{res}.arn}}`: the ARN names the service's cluster too"));
            }
            Some(_) => {}
            None if self.service.contains("${") => {}
            None => {
                if resource_id_of(&self.service).is_none() {
                    c.error(
                        "moor::scaling-service",
                        &["service"],
                        format!("`{}` is not an ECS service ARN", crate::text::abbreviate(&self.service)),
                        "not a service ARN",
                    )
                    .help = Some(
                        "give `${web.arn}`, or `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`".into(),
                    );
                }
            }
        }
        if self.min > self.max {
            c.error(
                "moor::scaling-capacity",
                &["min"],
                format!("`min` ({}) is more than `max` ({})", self.min, self.max),
                "more than max",
            )
            .help = Some("the scaler keeps the task count between `min` and `max`: make `min` at most `max`".into());
        }
        self.validate_schedules(c);
        let mut seen: Vec<Metric> = Vec::new();
        for (i, t) in self.target_tracking.iter().enumerate() {
            let at = i.to_string();
            if seen.contains(&t.metric) {
                c.error(
                    "moor::scaling-metric",
                    &["target_tracking", &at, "metric"],
                    format!("a second target-tracking policy on `{}`", t.metric.as_str()),
                    "metric already tracked",
                )
                .help = Some("keep one policy per metric".into());
            }
            seen.push(t.metric);
            let percent = t.metric != Metric::RequestCountPerTarget;
            let ok = if percent { t.target > 0.0 && t.target <= 100.0 } else { t.target > 0.0 };
            if !ok || !t.target.is_finite() {
                c.error(
                    "moor::scaling-target",
                    &["target_tracking", &at, "target"],
                    format!("target {} is out of range for `{}`", t.target, t.metric.as_str()),
                    if percent { "must be a percentage above 0, at most 100" } else { "must be above 0" },
                )
                .help = Some(if percent {
                    "`cpu` and `memory` are average utilization in percent: a target such as 60".into()
                } else {
                    "`request_count_per_target` counts requests per task per minute: a target such as 1000".into()
                });
            }
            match (t.metric, &t.target_group) {
                (Metric::RequestCountPerTarget, None) => {
                    c.error(
                        "moor::scaling-target-group",
                        &["target_tracking", &at, "metric"],
                        "`request_count_per_target` needs the target group it counts requests of",
                        "no target_group",
                    )
                    .help = Some("add `target_group: ${tg.arn}`, a target group the service is behind".into());
                }
                (Metric::Cpu | Metric::Memory, Some(_)) => {
                    c.error(
                        "moor::scaling-target-group",
                        &["target_tracking", &at, "target_group"],
                        format!("`{}` is not counted per target group", t.metric.as_str()),
                        "only for request_count_per_target",
                    )
                    .help = Some("remove `target_group`, or use `metric: request_count_per_target`".into());
                }
                _ => {}
            }
        }
    }

    /// A request count's target group is one the service is behind.
    fn cross_check(&self, r: &crate::model::Resource, x: &mut crate::validate::Cross<'_>) {
        let Some(svc) = x.target(&self.service) else { return };
        let crate::model::Spec::EcsService(s) = &svc.spec else { return };
        let svc_name = svc.name.clone();
        let behind: Vec<&str> = s.load_balancers.iter().filter_map(|lb| ref_resource(&lb.target_group)).collect();
        let literal: Vec<&str> = s.load_balancers.iter().map(|lb| lb.target_group.as_str()).collect();
        for (i, t) in self.target_tracking.iter().enumerate() {
            let Some(tg) = &t.target_group else { continue };
            let ok = match ref_resource(tg) {
                Some(res) => behind.contains(&res),
                None => literal.contains(&tg.as_str()),
            };
            if !ok {
                x.checker(r)
                    .error(
                        "moor::scaling-target-group",
                        &["target_tracking", &i.to_string(), "target_group"],
                        format!(
                            "service `{svc_name}` is not behind target group `{}`",
                            ref_resource(tg).unwrap_or(tg.as_str())
                        ),
                        "not one of the service's target groups",
                    )
                    .help = Some(format!(
                    "request counts per target come from a target group in the `load_balancers` of `{svc_name}`"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_arn_gives_its_resource_id() {
        assert_eq!(
            resource_id_of("arn:aws:ecs:us-east-1:123456789012:service/main/web").as_deref(),
            Some("service/main/web")
        );
        for bad in [
            "arn:aws:ecs:us-east-1:123456789012:service/web",
            "arn:aws:ecs:us-east-1:123456789012:cluster/main",
            "arn:aws:iam::123456789012:role/x",
            "service/main/web",
            "arn:aws:ecs:us-east-1:123456789012:service/main/web/x",
        ] {
            assert_eq!(resource_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn schedules_are_cron_rate_or_at_as_aws_writes_them() {
        for ok in ["cron(0 20 ? * MON-FRI *)", "cron(0 7 * * ? *)", "rate(1 day)", "rate(6 hours)", "rate(30 minutes)"]
        {
            assert_eq!(schedule_problem(ok), None, "{ok}");
        }
        for bad in [
            "cron(0 20 * * *)",
            "cron(0 7 * * * *)",
            "0 20 * * ? *",
            "rate(1 days)",
            "rate(2 hour)",
            "rate(0 minutes)",
            "rate(day)",
            "at(2027-01-01T00:00:00)",
            "at(2027-01-01)",
            "cron(0 20 ? * MON-FRI *",
            "",
        ] {
            assert!(schedule_problem(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[test]
    fn metrics_round_trip_their_aws_names() {
        for m in [Metric::Cpu, Metric::Memory, Metric::RequestCountPerTarget] {
            assert_eq!(Metric::of_aws(m.aws()), Some(m));
        }
        assert_eq!(Metric::Cpu.policy_name(), "moor-cpu");
    }
}
