//! Listener rules and load balancer attributes against the moto emulator:
//! one load balancer, a listener and two target groups, with rules by path
//! (one forwarding to a group, one weighted 80/20 between both), a redirect
//! and a fixed response. Apply, then a plan shows no change; a condition,
//! an action and a priority change in place; the load balancer's
//! attributes round trip and change in place; `moor import` adopts a rule
//! made by hand; destroy leaves nothing. A target group's stickiness round
//! trips too.

mod support;

use moor::plan::Action;
use moor::provider::aws::AwsProvider;
use moor::provider::Provider;
use moor::state::State;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::{apply_clean, converge, empty, load, make_plan, provider};

const STACK: &str = r#"stack: @NAME@
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
    idle_timeout: @IDLE@
    http2: false
    drop_invalid_header_fields: true
    access_logs:
      bucket: @NAME@-logs
      prefix: web
  api:
    kind: elbv2/target_group
    port: 8000
    vpc: ${net.vpc_id}
    stickiness: @STICKY@
  beta:
    kind: elbv2/target_group
    port: 8001
    vpc: ${net.vpc_id}
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      fixed_response:
        status_code: 404
  api_rule:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: @API_PRIORITY@
    conditions:
      path_patterns: [@API_PATHS@]
    action:
      forward: ${api.arn}
    tags:
      route: api
  beta_rule:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: 20
    conditions:
      path_patterns: ["/beta/*"]
      http_headers:
        - name: X-Env
          values: [beta, canary]
    action:
      forward:
        - target_group: ${api.arn}
          weight: @API_WEIGHT@
        - target_group: ${beta.arn}
          weight: 20
  old_rule:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: 30
    conditions:
      host_headers: [old.example.com]
      query_strings: [{key: v, value: "1"}]
    action:
      redirect:
        host: new.example.com
        status_code: 301
  down_rule:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: 40
    conditions:
      path_patterns: ["/maintenance/*"]
      http_methods: [GET, HEAD]
      source_ips: [10.0.0.0/8]
    action:
      fixed_response:
        status_code: 503
        content_type: text/plain
        message_body: down for maintenance
"#;

struct V<'a> {
    idle: &'a str,
    api_priority: &'a str,
    api_paths: &'a str,
    api_weight: &'a str,
    sticky: &'a str,
}

const V1: V =
    V { idle: "120", api_priority: "10", api_paths: r#""/api/*""#, api_weight: "80", sticky: "{ duration: 3600 }" };

fn stack(name: &str, v: &V) -> moor::model::Stack {
    load(&text_of(name, v), &[])
}

fn text_of(name: &str, v: &V) -> String {
    STACK
        .replace("@NAME@", name)
        .replace("@IDLE@", v.idle)
        .replace("@API_PRIORITY@", v.api_priority)
        .replace("@API_PATHS@", v.api_paths)
        .replace("@API_WEIGHT@", v.api_weight)
        .replace("@STICKY@", v.sticky)
}

fn changing(pl: &moor::plan::Plan) -> BTreeMap<String, (Action, BTreeSet<String>)> {
    pl.changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .map(|c| (c.resource.clone(), (c.action, c.diffs.iter().map(|d| d.field.clone()).collect())))
        .collect()
}

/// The rules of a listener that are not its default rule, by priority.
async fn rules(p: &AwsProvider, listener: &str) -> BTreeMap<String, aws_sdk_elasticloadbalancingv2::types::Rule> {
    let out = p.elb.describe_rules().listener_arn(listener).send().await.expect("describe rules");
    out.rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| (r.priority().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

async fn lb_attrs(p: &AwsProvider, arn: &str) -> BTreeMap<String, String> {
    let out = p.elb.describe_load_balancer_attributes().load_balancer_arn(arn).send().await.expect("attributes");
    out.attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
        .collect()
}

async fn tags_of(p: &AwsProvider, arn: &str) -> BTreeMap<String, String> {
    let out = p.elb.describe_tags().resource_arns(arn).send().await.expect("tags");
    out.tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Plans `s`, checks that exactly `expected` change in place, each in the
/// fields given, applies (the plan after is empty) and checks that the
/// ids stayed.
async fn in_place(p: &Arc<AwsProvider>, s: &moor::model::Stack, state: State, expected: &[(&str, &[&str])]) -> State {
    let pl = make_plan(p.as_ref(), s, &state, false, false).await;
    let want: BTreeMap<String, (Action, BTreeSet<String>)> = expected
        .iter()
        .map(|(r, fields)| (r.to_string(), (Action::Update, fields.iter().map(|f| f.to_string()).collect())))
        .collect();
    assert_eq!(changing(&pl), want);
    let ids = |s: &State| s.resources.iter().map(|(k, e)| (k.clone(), e.id.clone())).collect::<Vec<_>>();
    let before = ids(&state);
    let state = apply_clean(p, s, state).await;
    assert_eq!(ids(&state), before, "in place: the same ids");
    state
}

#[tokio::test]
async fn listener_rules_and_load_balancer_attributes_apply_clean_change_in_place_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-rules-life";
    let v1 = stack(name, &V1);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // The rules AWS holds.
    let listener = state.resources["http"].id.clone();
    let (api_tg, beta_tg) = (state.resources["api"].id.clone(), state.resources["beta"].id.clone());
    let live = rules(&p, &listener).await;
    assert_eq!(live.keys().collect::<Vec<_>>(), ["10", "20", "30", "40"]);
    let api_rule = &state.resources["api_rule"];
    assert_eq!(live["10"].rule_arn(), Some(api_rule.id.as_str()));
    assert_eq!(api_rule.attrs["arn"], serde_json::json!(api_rule.id));
    assert_eq!(live["10"].actions()[0].target_group_arn(), Some(api_tg.as_str()));
    let weighted = live["20"].actions()[0].forward_config().expect("a forward config");
    let weights: BTreeMap<&str, i32> = weighted
        .target_groups()
        .iter()
        .map(|t| (t.target_group_arn().unwrap(), t.weight().unwrap_or_default()))
        .collect();
    assert_eq!(weights, BTreeMap::from([(api_tg.as_str(), 80), (beta_tg.as_str(), 20)]));
    assert_eq!(live["30"].actions()[0].redirect_config().and_then(|r| r.host()), Some("new.example.com"));
    assert_eq!(live["40"].actions()[0].fixed_response_config().and_then(|f| f.status_code()), Some("503"));
    let t = tags_of(&p, &api_rule.id).await;
    for (k, v) in [("moor:stack", name), ("moor:resource", "api_rule"), ("route", "api")] {
        assert_eq!(t.get(k).map(String::as_str), Some(v), "{k} in {t:?}");
    }

    // The load balancer's attributes.
    let lb = state.resources["lb"].id.clone();
    let a = lb_attrs(&p, &lb).await;
    for (k, v) in [
        ("idle_timeout.timeout_seconds", "120"),
        ("routing.http2.enabled", "false"),
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("access_logs.s3.enabled", "true"),
        ("access_logs.s3.bucket", "t-rules-life-logs"),
        ("access_logs.s3.prefix", "web"),
    ] {
        assert_eq!(a.get(k).map(String::as_str), Some(v), "{k} in {a:?}");
    }

    // The target group's stickiness: a load balancer cookie.
    let tg_attrs = |arn: String| {
        let p = p.clone();
        async move {
            let out = p.elb.describe_target_group_attributes().target_group_arn(arn).send().await.expect("attributes");
            out.attributes()
                .iter()
                .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
                .collect::<BTreeMap<String, String>>()
        }
    };
    let a = tg_attrs(api_tg.clone()).await;
    for (k, v) in [
        ("stickiness.enabled", "true"),
        ("stickiness.type", "lb_cookie"),
        ("stickiness.lb_cookie.duration_seconds", "3600"),
    ] {
        assert_eq!(a.get(k).map(String::as_str), Some(v), "{k} in {a:?}");
    }

    // A condition and a weight change in place (ModifyRule); so do the
    // idle timeout and the stickiness, now by the application's cookie.
    let v2 = V {
        api_paths: r#""/api/*", "/v2/*""#,
        api_weight: "50",
        idle: "300",
        sticky: "{ cookie_name: SESSION, duration: 600 }",
        ..V1
    };
    let state = in_place(
        &p,
        &stack(name, &v2),
        state,
        &[
            ("api", &["stickiness"]),
            ("api_rule", &["conditions"]),
            ("beta_rule", &["action"]),
            ("lb", &["idle_timeout"]),
        ],
    )
    .await;
    let a = tg_attrs(api_tg.clone()).await;
    for (k, v) in [
        ("stickiness.type", "app_cookie"),
        ("stickiness.app_cookie.cookie_name", "SESSION"),
        ("stickiness.app_cookie.duration_seconds", "600"),
    ] {
        assert_eq!(a.get(k).map(String::as_str), Some(v), "{k} in {a:?}");
    }
    let live = rules(&p, &listener).await;
    let paths: BTreeSet<&str> =
        live["10"].conditions()[0].path_pattern_config().unwrap().values().iter().map(String::as_str).collect();
    assert_eq!(paths, BTreeSet::from(["/api/*", "/v2/*"]));
    let w = live["20"].actions()[0].forward_config().unwrap().target_groups();
    assert!(w.iter().all(|t| t.weight() == Some(if t.target_group_arn() == Some(&api_tg) { 50 } else { 20 })));
    assert_eq!(lb_attrs(&p, &lb).await["idle_timeout.timeout_seconds"], "300");

    // A priority changes in place (SetRulePriorities): the same rule.
    let v3 = V { api_priority: "15", ..v2 };
    let state = in_place(&p, &stack(name, &v3), state, &[("api_rule", &["priority"])]).await;
    let live = rules(&p, &listener).await;
    assert_eq!(live.keys().collect::<Vec<_>>(), ["15", "20", "30", "40"]);
    assert_eq!(live["15"].rule_arn(), Some(state.resources["api_rule"].id.as_str()));

    // Destroy: rules before their listener and target groups; nothing left.
    let (pl, summary, state) = converge(&p, &stack(name, &v3), state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    for r in ["api_rule", "beta_rule", "old_rule", "down_rule", "http", "api", "beta", "lb"] {
        assert_eq!(pl.change(r).map(|c| c.action), Some(Action::Delete), "{r}");
    }
    let lbs = p.elb.describe_load_balancers().names(format!("{name}-lb")).send().await;
    assert!(lbs.map(|o| o.load_balancers().is_empty()).unwrap_or(true), "the load balancer is gone");
    let tgs = p.elb.describe_target_groups().target_group_arns(&api_tg).send().await;
    assert!(tgs.map(|o| o.target_groups().is_empty()).unwrap_or(true), "the target group is gone");
}

#[tokio::test]
async fn a_rule_made_by_hand_is_refused_until_imported_then_managed() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-rules-import";
    let full = stack(name, &V1);
    // Everything but the api rule.
    let text = text_of(name, &V1);
    let (head, rest) = text.split_once("  api_rule:\n").unwrap();
    let without = load(&format!("{head}{}", &rest[rest.find("  beta_rule:").unwrap()..]), &[]);
    assert!(without.resource("api_rule").is_none());
    let state = apply_clean(&p, &without, empty(&without)).await;
    let listener = state.resources["http"].id.clone();

    // Someone adds the rule by hand, at the file's priority.
    let cond = aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            aws_sdk_elasticloadbalancingv2::types::PathPatternConditionConfig::builder().values("/api/*").build(),
        )
        .build();
    let action = aws_sdk_elasticloadbalancingv2::types::Action::builder()
        .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
        .target_group_arn(&state.resources["beta"].id)
        .build();
    let made = p
        .elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(cond)
        .actions(action)
        .send()
        .await
        .expect("made by hand");
    let arn = made.rules()[0].rule_arn().unwrap().to_string();

    // Found by its listener and priority: not moor's, so refused.
    let pl = make_plan(p.as_ref(), &full, &state, false, false).await;
    let problem = pl.problems.iter().find(|x| x.resource == "api_rule").expect("refused");
    assert!(problem.help.contains("moor import api_rule"), "{}", problem.help);

    // `moor import` adopts it by its ARN (with the file's tags); the plan
    // then changes its action in place.
    let t = moor::plan::target(&full, "api_rule", &Default::default(), &state).0;
    let t = moor::provider::Target { id: Some(arn.clone()), ..t };
    let live = p.read(&t).await.expect("read").expect("found");
    let adopted = p.adopt(&t, &live).await.expect("adopted");
    assert_eq!(adopted.id, arn);
    assert_eq!(tags_of(&p, &arn).await.get("moor:resource").map(String::as_str), Some("api_rule"));
    let mut state = state;
    let (graph, _) = moor::graph::build(&full);
    state.resources.insert(
        "api_rule".into(),
        moor::apply::entry_of(&full, &graph, "api_rule", moor::model::Kind::Elbv2ListenerRule, &adopted),
    );
    let pl = make_plan(p.as_ref(), &full, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(
        changing(&pl),
        BTreeMap::from([("api_rule".to_string(), (Action::Update, BTreeSet::from(["action".to_string()])))])
    );
    let state = apply_clean(&p, &full, state).await;
    assert_eq!(state.resources["api_rule"].id, arn, "the imported rule, changed in place");

    let (_, summary, state) = converge(&p, &full, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

/// A target group that only a rule forwards to is attached all the same:
/// a service may use it, and is made after the rule.
#[test]
fn a_target_group_a_rule_forwards_to_serves_a_service() {
    let text = text_of("t-rules-svc", &V1);
    // `beta` is forwarded to only by `beta_rule`.
    let text = format!(
        "{text}  cluster:\n    kind: ecs/cluster\n  task:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: nginx:1.27\n        port_mappings:\n          - container_port: 8001\n  svc:\n    kind: ecs/service\n    cluster: ${{cluster.arn}}\n    task_definition: ${{task.arn}}\n    network:\n      subnets: ${{net.subnet_ids}}\n    load_balancers:\n      - target_group: ${{beta.arn}}\n        container: app\n        port: 8001\n"
    );
    let s = load(&text, &[]);
    let (graph, diags) = moor::graph::build(&s);
    assert!(diags.iter().all(|d| !d.is_error()), "{:?}", diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let deps = graph.dependencies("svc");
    assert!(deps.contains(&"beta_rule"), "the service waits for the rule that attaches its group: {deps:?}");
}

const SWAP: &str = r#"stack: @NAME@
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: 8000
    vpc: ${net.vpc_id}
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${web.arn}
  a:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: @A@
    conditions:
      path_patterns: ["/a/*"]
    action:
      forward: ${web.arn}
  b:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: @B@
    conditions:
      path_patterns: ["/b/*"]
    action:
      forward: ${web.arn}
@B_AFTER@  c:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: @C@
    conditions:
      path_patterns: ["/c/*"]
    action:
      forward: ${web.arn}
@D@"#;

/// The rule `d` at priority 2, made before `b` (whose tags name it).
const D: &str = r#"  d:
    kind: elbv2/listener_rule
    listener: ${http.arn}
    priority: 2
    conditions:
      path_patterns: ["/d/*"]
    action:
      fixed_response:
        status_code: 418
"#;

fn swap_stack(name: &str, [a, b, c]: [u32; 3], d: bool) -> moor::model::Stack {
    let text = SWAP
        .replace("@NAME@", name)
        .replace("@A@", &a.to_string())
        .replace("@B@", &b.to_string())
        .replace("@C@", &c.to_string())
        .replace("@B_AFTER@", if d { "    tags:\n      after: ${d.arn}\n" } else { "" })
        .replace("@D@", if d { D } else { "" });
    load(&text, &[])
}

/// Which rule holds which priority, by logical name.
async fn priorities(p: &AwsProvider, state: &State) -> BTreeMap<String, String> {
    let live = rules(p, &state.resources["http"].id).await;
    live.iter()
        .map(|(priority, r)| {
            let arn = r.rule_arn().unwrap_or_default();
            let who = state.resources.iter().find(|(_, e)| e.id == arn).map(|(k, _)| k.clone());
            (who.unwrap_or_else(|| arn.to_string()), priority.clone())
        })
        .collect()
}

fn named(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Priorities that collide with other rules' current ones change in one
/// apply: two rules swap, three rotate, and a new rule takes a priority
/// that a rule it is made before leaves. The rules keep their ARNs.
#[tokio::test]
async fn rules_swap_and_rotate_priorities_in_one_apply() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-rules-swap";
    let s = swap_stack(name, [1, 2, 3], false);
    let state = apply_clean(&p, &s, empty(&s)).await;
    assert_eq!(priorities(&p, &state).await, named(&[("a", "1"), ("b", "2"), ("c", "3")]));

    // a and b swap.
    let state =
        in_place(&p, &swap_stack(name, [2, 1, 3], false), state, &[("a", &["priority"]), ("b", &["priority"])]).await;
    assert_eq!(priorities(&p, &state).await, named(&[("a", "2"), ("b", "1"), ("c", "3")]));

    // Each takes the next one's priority.
    let rotate = [("a", &["priority"][..]), ("b", &["priority"]), ("c", &["priority"])];
    let state = in_place(&p, &swap_stack(name, [3, 2, 1], false), state, &rotate).await;
    assert_eq!(priorities(&p, &state).await, named(&[("a", "3"), ("b", "2"), ("c", "1")]));

    // A new rule takes b's priority, and is made before b (which names it)
    // moves to another.
    let s = swap_stack(name, [3, 5, 1], true);
    let state = apply_clean(&p, &s, state).await;
    assert_eq!(priorities(&p, &state).await, named(&[("a", "3"), ("b", "5"), ("c", "1"), ("d", "2")]));

    let (_, summary, state) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

/// A priority held by a rule the stack does not manage is refused, naming
/// that rule; it is not moved.
#[tokio::test]
async fn a_priority_held_by_a_rule_not_of_the_stack_is_refused_naming_it() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-rules-foreign";
    let s = swap_stack(name, [1, 2, 3], false);
    let state = apply_clean(&p, &s, empty(&s)).await;
    let listener = state.resources["http"].id.clone();
    let cond = aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            aws_sdk_elasticloadbalancingv2::types::PathPatternConditionConfig::builder().values("/x/*").build(),
        )
        .build();
    let action = aws_sdk_elasticloadbalancingv2::types::Action::builder()
        .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
        .target_group_arn(&state.resources["web"].id)
        .build();
    let made = p.elb.create_rule().listener_arn(&listener).priority(7).conditions(cond).actions(action).send().await;
    let foreign = made.expect("made by hand").rules()[0].rule_arn().unwrap().to_string();

    let (_, summary, state) = converge(&p, &swap_stack(name, [7, 2, 3], false), state, false).await;
    assert!(!summary.ok());
    let text = format!("{summary:?}");
    assert!(text.contains(&foreign) && text.contains("priority 7"), "{text}");
    let live = priorities(&p, &state).await;
    assert_eq!(live.get(&foreign).map(String::as_str), Some("7"), "the hand-made rule stays: {live:?}");

    p.elb.delete_rule().rule_arn(&foreign).send().await.expect("delete the hand-made rule");
    let (_, summary, state) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

/// Access logs removed from the file after an apply are turned off: the
/// plan shows the change, apply sets `access_logs.s3.enabled` to false,
/// and the plan after is clean.
#[tokio::test]
async fn access_logs_removed_from_the_file_are_turned_off() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-rules-logs-off";
    let with = format!(
        "stack: {name}\nresources:\n  net:\n    kind: ec2/default_vpc\n  lb:\n    kind: elbv2/load_balancer\n    subnets: ${{net.subnet_ids}}\n    access_logs:\n      bucket: {name}-logs\n      prefix: web\n"
    );
    let with = load(&with, &[]);
    let state = apply_clean(&p, &with, empty(&with)).await;
    let lb = state.resources["lb"].id.clone();
    assert_eq!(lb_attrs(&p, &lb).await["access_logs.s3.enabled"], "true");

    let text = format!(
        "stack: {name}\nresources:\n  net:\n    kind: ec2/default_vpc\n  lb:\n    kind: elbv2/load_balancer\n    subnets: ${{net.subnet_ids}}\n"
    );
    let without = load(&text, &[]);
    let state = in_place(&p, &without, state, &[("lb", &["access_logs"])]).await;
    assert_eq!(lb_attrs(&p, &lb).await["access_logs.s3.enabled"], "false");

    let (_, summary, state) = converge(&p, &without, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}
