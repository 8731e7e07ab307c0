//! Rules between resources: what AWS would refuse only after a long apply,
//! checked before any API call.
//!
//! - a reference field names a resource of the right kind;
//! - the service's container and port exist in its task definition;
//! - a Fargate/awsvpc service sends traffic to target groups of type `ip`,
//!   and has a `network` block;
//! - a service's target group is forwarded to by a listener (CreateService
//!   fails without one), and a target group serves one load balancer only;
//! - one listener per port of a load balancer;
//! - physical names are unique where AWS requires it.

use crate::diag::{Diag, Label};
use crate::model::check::Checker;
use crate::model::common::ref_resource;
use crate::model::ecs::NetworkMode;
use crate::model::elbv2::{Action, TargetType};
use crate::model::{Kind, Resource, Spec, Stack};
use crate::yaml::{Node, Span};
use std::collections::HashMap;

pub fn cross_checks(stack: &Stack, tree: &Node, diags: &mut Vec<Diag>) {
    let mut v = Cross { stack, tree, diags };
    for r in &stack.resources {
        v.kinds_of_refs(r);
        if let Spec::EcsService(_) = &r.spec {
            v.service(r);
        }
    }
    v.target_groups();
    v.listener_ports();
    v.unique_names();
}

struct Cross<'a> {
    stack: &'a Stack,
    tree: &'a Node,
    diags: &'a mut Vec<Diag>,
}

impl Cross<'_> {
    fn checker(&mut self, r: &Resource) -> Checker<'_> {
        // The stack was loaded from this tree: each resource has its node.
        let node = self.tree.path(&["resources", &r.name]).expect("resource in tree");
        Checker { file: &self.stack.file, node, key_span: r.key_span, logical: "", diags: self.diags }
    }

    fn target(&self, value: &str) -> Option<&Resource> {
        self.stack.resource(ref_resource(value)?)
    }

    /// A field that takes the ARN (or id) of a resource names the right kind.
    fn expect_kind(&mut self, r: &Resource, path: &[&str], value: &str, kinds: &[Kind], what: &str) {
        let Some(t) = self.target(value) else { return };
        if kinds.contains(&t.kind()) {
            return;
        }
        let (tname, tkind) = (t.name.clone(), t.kind());
        let want = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
        let mut c = self.checker(r);
        c.error(
            "moor::reference-kind",
            path,
            format!("`{tname}` is {} {tkind}, but this field takes {what}", crate::text::article(tkind.as_str())),
            format!("expects {want}"),
        )
        .help = Some(format!("refer to {} {want} resource here", crate::text::article(&want)));
    }

    /// `security_groups` takes group ids and `subnets` subnet ids.
    fn id_list(&mut self, r: &Resource, path: &[&str], list: &crate::model::common::StrList, want: &str) {
        // Callers name a field: the path is never empty.
        let field = *path.last().expect("a field");
        let entries: Vec<(Vec<String>, &str)> = match list {
            crate::model::common::StrList::Ref(s) => vec![(path.iter().map(|p| p.to_string()).collect(), s.as_str())],
            crate::model::common::StrList::Items(items) => items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut p: Vec<String> = path.iter().map(|p| p.to_string()).collect();
                    p.push(i.to_string());
                    (p, s.as_str())
                })
                .collect(),
        };
        for (p, value) in entries {
            let Some((res, attr)) = crate::model::common::ref_parts(value) else { continue };
            let Some(target) = self.stack.resource(res) else { continue };
            // A single value in place of the list is reported by the loader.
            let is_list = target.kind().attribute(attr).is_some_and(|a| a.ty == crate::model::AttrType::List);
            if matches!(list, crate::model::common::StrList::Ref(_)) && !is_list {
                continue;
            }
            let ok = match want {
                "security group" => target.kind() == Kind::Ec2SecurityGroup && attr == "id",
                _ => attr == "subnet_ids",
            };
            if !ok {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                let what = if want == "security group" {
                    "security group ids, such as `${app_sg.id}`"
                } else {
                    "subnet ids, such as `${net.subnet_ids}`"
                };
                self.checker(r)
                    .error(
                        "moor::reference-kind",
                        &p,
                        format!("`{field}` takes {want} ids, but `${{{res}.{attr}}}` is not one"),
                        format!("not {} {want} id", crate::text::article(want)),
                    )
                    .help = Some(format!("`{field}` takes {what}"));
            }
        }
    }

    fn kinds_of_refs(&mut self, r: &Resource) {
        match &r.spec {
            Spec::Elbv2LoadBalancer(lb) => {
                self.id_list(r, &["subnets"], &lb.subnets, "subnet");
                self.id_list(r, &["security_groups"], &lb.security_groups, "security group");
            }
            Spec::EcsService(s) => {
                if let Some(n) = &s.network {
                    self.id_list(r, &["network", "subnets"], &n.subnets, "subnet");
                    self.id_list(r, &["network", "security_groups"], &n.security_groups, "security group");
                }
                self.expect_kind(r, &["cluster"], &s.cluster, &[Kind::EcsCluster], "a cluster");
                self.expect_kind(
                    r,
                    &["task_definition"],
                    &s.task_definition,
                    &[Kind::EcsTaskDefinition],
                    "a task definition",
                );
                for (i, lb) in s.load_balancers.iter().enumerate() {
                    self.expect_kind(
                        r,
                        &["load_balancers", &i.to_string(), "target_group"],
                        &lb.target_group,
                        &[Kind::Elbv2TargetGroup],
                        "a target group",
                    );
                }
            }
            Spec::EcsTaskDefinition(t) => {
                let roles = [Kind::IamRole, Kind::IamExistingRole];
                if let Some(x) = &t.execution_role {
                    self.expect_kind(r, &["execution_role"], x, &roles, "a role");
                }
                if let Some(x) = &t.task_role {
                    self.expect_kind(r, &["task_role"], x, &roles, "a role");
                }
            }
            Spec::Elbv2Listener(l) => {
                self.expect_kind(
                    r,
                    &["load_balancer"],
                    &l.load_balancer,
                    &[Kind::Elbv2LoadBalancer],
                    "a load balancer",
                );
                if let Action::Forward(tg) = &l.default_action {
                    self.expect_kind(
                        r,
                        &["default_action", "forward"],
                        tg,
                        &[Kind::Elbv2TargetGroup],
                        "a target group",
                    );
                }
            }
            Spec::IamRole(role) => {
                for (i, p) in role.policies.iter().enumerate() {
                    self.expect_kind(r, &["policies", &i.to_string()], p, &[Kind::IamPolicy], "a managed policy ARN");
                }
            }
            Spec::Ec2SecurityGroup(sg) => {
                for (dir, rules) in [("ingress", Some(&sg.ingress)), ("egress", sg.egress.as_ref())] {
                    for (i, rule) in rules.into_iter().flatten().enumerate() {
                        if let Some(src) = &rule.source_group {
                            self.expect_kind(
                                r,
                                &[dir, &i.to_string(), "source_group"],
                                src,
                                &[Kind::Ec2SecurityGroup],
                                "a security group",
                            );
                        }
                    }
                }
            }
            Spec::EcrRepository(_)
            | Spec::EcrExistingRepository(_)
            | Spec::IamPolicy(_)
            | Spec::IamExistingRole(_)
            | Spec::Ec2DefaultVpc(_)
            | Spec::Ec2ExistingVpc(_)
            | Spec::Elbv2TargetGroup(_)
            | Spec::EcsCluster(_)
            | Spec::LogsLogGroup(_) => {}
        }
    }

    fn service(&mut self, r: &Resource) {
        let Spec::EcsService(svc) = &r.spec else {
            return;
        };
        let td = match self.target(&svc.task_definition).map(|t| &t.spec) {
            Some(Spec::EcsTaskDefinition(td)) => Some(td.clone()),
            _ => None,
        };
        let Some(td) = td else { return };
        let td_name = ref_resource(&svc.task_definition).unwrap_or("").to_string();
        if td.network_mode == NetworkMode::Awsvpc && svc.network.is_none() {
            self.checker(r)
                .error("moor::service-network", &[], "a service of an awsvpc task definition needs `network`", "no network block")
                .help = Some("add `network: { subnets: ${net.subnet_ids}, security_groups: [\"${svc_sg.id}\"], assign_public_ip: true }`".into());
        }
        for (i, lb) in svc.load_balancers.iter().enumerate() {
            let idx = i.to_string();
            match td.containers.iter().find(|c| c.name == lb.container) {
                None => {
                    let names: Vec<&str> = td.containers.iter().map(|c| c.name.as_str()).collect();
                    let help = crate::diag::did_you_mean(&lb.container, &names, "container");
                    self.checker(r)
                        .error(
                            "moor::service-container",
                            &["load_balancers", &idx, "container"],
                            format!("task definition `{td_name}` has no container `{}`", lb.container),
                            "unknown container",
                        )
                        .help = Some(help);
                }
                Some(c) => {
                    if !c.port_mappings.iter().any(|p| p.container_port == lb.port) {
                        let ports: Vec<String> = c.port_mappings.iter().map(|p| p.container_port.to_string()).collect();
                        let help = if ports.is_empty() {
                            format!(
                                "add `port_mappings: [{{ container_port: {} }}]` to container `{}`",
                                lb.port, c.name
                            )
                        } else {
                            format!("container `{}` maps port(s) {}", c.name, ports.join(", "))
                        };
                        self.checker(r)
                            .error(
                                "moor::service-port",
                                &["load_balancers", &idx, "port"],
                                format!("container `{}` has no port mapping for {}", c.name, lb.port),
                                "port not mapped",
                            )
                            .help = Some(help);
                    }
                }
            }
            // Fargate / awsvpc tasks register by IP.
            if td.network_mode == NetworkMode::Awsvpc {
                if let Some(tg) = self.target(&lb.target_group) {
                    if let Spec::Elbv2TargetGroup(g) = &tg.spec {
                        if g.target_type != TargetType::Ip {
                            let tg_name = tg.name.clone();
                            let tg_res = tg.clone();
                            self.checker(&tg_res)
                                .error("moor::target-type", &["target_type"], format!("target group `{tg_name}` must have target type `ip`: service `{}` runs awsvpc tasks", r.name), "must be `ip`")
                                .help = Some("awsvpc (and so Fargate) tasks register by IP address; set `target_type: ip`".into());
                        }
                    }
                }
            }
        }
    }

    fn target_groups(&mut self) {
        // target group → listeners (with their load balancer) that forward to it
        let mut forwards: HashMap<&str, Vec<(&Resource, Option<&str>)>> = HashMap::new();
        for r in &self.stack.resources {
            if let Spec::Elbv2Listener(l) = &r.spec {
                if let Action::Forward(tg) = &l.default_action {
                    if let Some(t) = ref_resource(tg) {
                        forwards.entry(t).or_default().push((r, ref_resource(&l.load_balancer)));
                    }
                }
            }
        }
        for r in &self.stack.resources {
            let Spec::EcsService(svc) = &r.spec else {
                continue;
            };
            for (i, lb) in svc.load_balancers.iter().enumerate() {
                let Some(tg) = ref_resource(&lb.target_group) else {
                    continue;
                };
                if self.stack.resource(tg).is_some_and(|t| t.kind() == Kind::Elbv2TargetGroup)
                    && !forwards.contains_key(tg)
                {
                    let r = r.clone();
                    self.checker(&r)
                        .error("moor::target-group-unattached", &["load_balancers", &i.to_string(), "target_group"], format!("no listener forwards to target group `{tg}`"), "not attached to a load balancer")
                        .help = Some("ECS refuses a target group without a load balancer; add an elbv2/listener with `default_action: { forward: \"${".to_string() + tg + ".arn}\" }`");
                }
            }
        }
        for (tg, listeners) in &forwards {
            let lbs: Vec<&str> = listeners.iter().filter_map(|(_, lb)| *lb).collect();
            if let Some(other) = lbs.iter().find(|l| **l != lbs[0]) {
                // `other` and `lbs[0]` were taken from `listeners`.
                let (second, _) = listeners.iter().find(|(_, lb)| lb == &Some(*other)).expect("found above");
                let (first, _) = listeners.iter().find(|(_, lb)| lb == &Some(lbs[0])).expect("found above");
                let first_span =
                    self.tree.path(&["resources", &first.name, "default_action", "forward"]).map(|n| n.span);
                let second = (*second).clone();
                let first_lb = lbs[0].to_string();
                let mut c = self.checker(&second);
                let d = c.error(
                    "moor::target-group-shared",
                    &["default_action", "forward"],
                    format!("target group `{tg}` is used by load balancers `{first_lb}` and `{other}`"),
                    format!("forwards from `{other}`"),
                );
                if let Some(span) = first_span {
                    d.labels.push(Label { span, text: format!("forwards from `{first_lb}`") });
                }
                d.help =
                    Some("a target group belongs to one load balancer; make a target group per load balancer".into());
            }
        }
    }

    fn listener_ports(&mut self) {
        let mut seen: HashMap<(String, u32), String> = HashMap::new();
        for r in &self.stack.resources {
            let Spec::Elbv2Listener(l) = &r.spec else {
                continue;
            };
            let key = (l.load_balancer.clone(), l.port);
            if let Some(first) = seen.get(&key) {
                let first = first.clone();
                let first_span = self.tree.path(&["resources", &first, "port"]).map(|n| n.span);
                let r = r.clone();
                let mut c = self.checker(&r);
                let d = c.error(
                    "moor::listener-port",
                    &["port"],
                    format!("listeners `{first}` and `{}` both use port {} of one load balancer", r.name, l.port),
                    "second listener on this port",
                );
                if let Some(span) = first_span {
                    d.labels.push(Label { span, text: "first listener on this port".into() });
                }
                d.help = Some("a load balancer has one listener per port; give one of them another `port`".into());
            } else {
                seen.insert(key, r.name.clone());
            }
        }
    }

    /// Names that AWS requires to be unique: per kind (and per cluster for
    /// services). Names with `${…}` are only known at apply.
    fn unique_names(&mut self) {
        let mut seen: HashMap<(Kind, String, String), (String, Span)> = HashMap::new();
        for r in &self.stack.resources {
            if r.kind().is_lookup() || r.kind() == Kind::EcsTaskDefinition {
                continue;
            }
            let Some(name) = &r.physical_name else {
                continue;
            };
            if name.contains("${") {
                continue;
            }
            let scope = match &r.spec {
                Spec::EcsService(s) => s.cluster.clone(),
                _ => String::new(),
            };
            let node = self.tree.path(&["resources", &r.name]);
            let span = node.and_then(|n| n.get("name")).map_or(r.key_span, |n| n.span);
            let key = (r.kind(), name.clone(), scope);
            if let Some((first, first_span)) = seen.get(&key) {
                let mut d = Diag::error(
                    "moor::duplicate-name",
                    format!("`{}` and `{first}` are both {} `{name}`", r.name, r.kind()),
                )
                .in_file(&self.stack.file)
                .label(span, "second use of the name")
                .help("AWS requires this name to be unique; give one of them another `name`");
                d.labels.push(Label { span: *first_span, text: "first use".into() });
                self.diags.push(d);
            } else {
                seen.insert(key, (r.name.clone(), span));
            }
        }
    }
}
