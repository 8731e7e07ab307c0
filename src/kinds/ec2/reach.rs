//! Whether security groups let one peer reach another on a port: the
//! question behind "can the load balancer reach the service's tasks".
//!
//! Rules are read in the file's shape (`protocol`, `port` or `ports`,
//! `cidr`/`cidrs`/`ipv6_cidrs`, `source_group`), whether they come from the
//! file or, for a group moor does not manage, from its live rules (which the
//! provider reports in the same shape, with `prefix_list` for a prefix list).
//! The answer is `Unknown` whenever something cannot be told (a group whose
//! rules are not known, a prefix list, a group known only by an id that may
//! or may not be the peer's), so a check built on it only speaks when it is
//! sure.

use serde_json::Value;

/// The answer to "is it let in".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Yes,
    No,
    Unknown,
}

/// What the check knows about groups, each named as the file names it
/// (`${sg.id}`) or by a literal id (`sg-0abc…`).
pub trait Groups {
    /// The ingress rules of a group, in the file's shape; `None` when they
    /// are not known.
    fn ingress(&self, group: &str) -> Option<Vec<Value>>;
    /// Whether two names are the same group; `None` when that cannot be told.
    fn same(&self, a: &str, b: &str) -> Option<bool>;
}

/// Whether a rule covers TCP `port`.
fn covers(rule: &Value, port: u32) -> bool {
    let proto = rule.get("protocol").and_then(Value::as_str).unwrap_or("tcp");
    match proto {
        "all" | "-1" => true,
        "tcp" | "6" => {
            let n = |v: Option<&Value>| v.and_then(Value::as_u64).map(|n| n as u32);
            if let Some(p) = n(rule.get("port")) {
                return p == port;
            }
            match rule.get("ports") {
                Some(r) => match (n(r.get("from")), n(r.get("to"))) {
                    (Some(from), Some(to)) => from <= port && port <= to,
                    _ => false,
                },
                // A TCP rule without ports is every port.
                None => true,
            }
        }
        _ => false,
    }
}

/// Whether ingress `rules` let TCP `port` in from a member of any of the
/// `sources` groups. An IPv4 CIDR on the port counts as letting it in: the
/// load balancer's addresses are not known before it exists, and a CIDR is
/// how many setups allow their VPC.
pub fn admits(rules: &[Value], port: u32, sources: &[&str], g: &dyn Groups) -> Reach {
    let mut answer = Reach::No;
    for r in rules.iter().filter(|r| covers(r, port)) {
        let cidr = r.get("cidr").is_some_and(|c| !c.is_null())
            || r.get("cidrs").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
        if cidr {
            return Reach::Yes;
        }
        if r.get("prefix_list").is_some_and(|p| !p.is_null()) {
            answer = Reach::Unknown;
        }
        if let Some(src) = r.get("source_group").and_then(Value::as_str) {
            for s in sources {
                match g.same(src, s) {
                    Some(true) => return Reach::Yes,
                    Some(false) => {}
                    None => answer = Reach::Unknown,
                }
            }
        }
    }
    answer
}

/// Whether a task in all of `targets` (a task is in every group it is
/// given, so one of them letting it in is enough) can be reached on TCP
/// `port` from something in all of `sources`.
pub fn reaches(targets: &[&str], port: u32, sources: &[&str], g: &dyn Groups) -> Reach {
    if targets.is_empty() || sources.is_empty() {
        // The VPC's default group, whose rules and id the file does not give.
        return Reach::Unknown;
    }
    let mut answer = Reach::No;
    for t in targets {
        match g.ingress(t).map(|rules| admits(&rules, port, sources, g)) {
            Some(Reach::Yes) => return Reach::Yes,
            Some(Reach::No) => {}
            Some(Reach::Unknown) | None => answer = Reach::Unknown,
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    struct Fake {
        rules: HashMap<&'static str, Vec<Value>>,
        /// Pairs known to be the same group besides equal names.
        alias: Vec<(&'static str, &'static str)>,
        /// Names whose identity cannot be told.
        unknown: Vec<&'static str>,
    }

    impl Groups for Fake {
        fn ingress(&self, group: &str) -> Option<Vec<Value>> {
            self.rules.get(group).cloned()
        }
        fn same(&self, a: &str, b: &str) -> Option<bool> {
            if self.unknown.contains(&a) || self.unknown.contains(&b) {
                return None;
            }
            Some(a == b || self.alias.iter().any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b)))
        }
    }

    fn fake(rules: Vec<Value>) -> Fake {
        Fake { rules: HashMap::from([("svc", rules)]), alias: Vec::new(), unknown: Vec::new() }
    }

    #[test]
    fn a_rule_from_the_balancer_on_the_port_lets_it_in() {
        let g = fake(vec![json!({"protocol": "tcp", "port": 8080, "source_group": "lb"})]);
        assert_eq!(reaches(&["svc"], 8080, &["lb"], &g), Reach::Yes);
        assert_eq!(reaches(&["svc"], 80, &["lb"], &g), Reach::No, "another port");
        assert_eq!(reaches(&["svc"], 8080, &["other"], &g), Reach::No, "another group");
    }

    #[test]
    fn ranges_all_traffic_and_cidrs_count() {
        let range = fake(vec![json!({"protocol": "tcp", "ports": {"from": 8000, "to": 8100}, "source_group": "lb"})]);
        assert_eq!(reaches(&["svc"], 8080, &["lb"], &range), Reach::Yes);
        assert_eq!(reaches(&["svc"], 8101, &["lb"], &range), Reach::No);
        let all = fake(vec![json!({"protocol": "all", "source_group": "lb"})]);
        assert_eq!(reaches(&["svc"], 1, &["lb"], &all), Reach::Yes);
        let cidr = fake(vec![json!({"protocol": "tcp", "port": 8080, "cidr": "10.0.0.0/16"})]);
        assert_eq!(reaches(&["svc"], 8080, &["lb"], &cidr), Reach::Yes);
        let udp = fake(vec![json!({"protocol": "udp", "port": 8080, "source_group": "lb"})]);
        assert_eq!(reaches(&["svc"], 8080, &["lb"], &udp), Reach::No, "UDP does not carry HTTP");
        let v6 = fake(vec![json!({"protocol": "tcp", "port": 8080, "ipv6_cidrs": ["::/0"]})]);
        assert_eq!(reaches(&["svc"], 8080, &["lb"], &v6), Reach::No, "the balancer reaches ip targets over IPv4");
    }

    #[test]
    fn any_group_of_the_task_is_enough() {
        let mut g = fake(vec![]);
        g.rules.insert("second", vec![json!({"protocol": "tcp", "port": 80, "source_group": "lb"})]);
        assert_eq!(reaches(&["svc", "second"], 80, &["lb"], &g), Reach::Yes);
        assert_eq!(reaches(&["svc"], 80, &["lb"], &g), Reach::No);
    }

    #[test]
    fn what_cannot_be_told_is_unknown_not_no() {
        let g = fake(vec![json!({"protocol": "tcp", "port": 80, "prefix_list": "pl-1"})]);
        assert_eq!(reaches(&["svc"], 80, &["lb"], &g), Reach::Unknown, "a prefix list");
        assert_eq!(reaches(&["nobody-knows"], 80, &["lb"], &g), Reach::Unknown, "a group whose rules are not known");
        assert_eq!(reaches(&[], 80, &["lb"], &g), Reach::Unknown, "the default group");
        assert_eq!(reaches(&["svc"], 80, &[], &g), Reach::Unknown, "a balancer in the default group");
        let mut g = fake(vec![json!({"protocol": "tcp", "port": 80, "source_group": "sg-1"})]);
        g.unknown.push("sg-1");
        assert_eq!(reaches(&["svc"], 80, &["lb"], &g), Reach::Unknown, "an id that may be the balancer's group");
        g.unknown.clear();
        g.alias.push(("sg-1", "lb"));
        assert_eq!(reaches(&["svc"], 80, &["lb"], &g), Reach::Yes, "the id of the balancer's group");
    }
}
