//! ACM certificates and Route 53 records against the moto emulator: in a
//! hosted zone the test makes, a certificate is requested, validated
//! through the records moor writes, and issued before the HTTPS listener
//! that uses it is made; an alias record points at the load balancer. The
//! stack applies clean, a record's name and TTL and a certificate's tags
//! change in place, and destroy leaves no record and no certificate. An
//! existing certificate is found by its domain, the newest one issued.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use std::collections::BTreeSet;
use support::{apply_clean, converge, empty, load, make_plan, provider};

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan: {:#?}", pl.changes)).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

/// A new public hosted zone; its id without `/hostedzone/`.
async fn make_zone(p: &AwsProvider, name: &str) -> String {
    let out = p
        .route53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("{name}-{}", std::process::id()))
        .send()
        .await
        .expect("create zone");
    out.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_string()
}

/// The record sets of a zone other than its own SOA and NS: (name, type).
async fn record_sets(p: &AwsProvider, zone: &str) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    let out = p.route53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("list");
    out.resource_record_sets().iter().filter(|s| !matches!(s.r#type().as_str(), "SOA" | "NS")).cloned().collect()
}

fn names(sets: &[aws_sdk_route53::types::ResourceRecordSet]) -> BTreeSet<(String, String)> {
    sets.iter().map(|s| (s.name().trim_end_matches('.').to_string(), s.r#type().as_str().to_string())).collect()
}

async fn certificate(p: &AwsProvider, arn: &str) -> Option<aws_sdk_acm::types::CertificateDetail> {
    let out = p.acm.describe_certificate().certificate_arn(arn).send().await.ok()?;
    out.certificate().cloned()
}

const STACK: &str = r#"
stack: t-dns
resources:
  zone:
    kind: route53/existing_zone
    name: t-dns.example.com
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: 8000
    target_type: ip
    vpc: ${net.vpc_id}
  cert:
    kind: acm/certificate
    domain: app.t-dns.example.com
    subject_alternative_names: [www.t-dns.example.com]
    validation: dns
    zone: ${zone.id}
    tags: { team: @TEAM@ }
  https:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 443
    protocol: HTTPS
    certificate: ${cert.arn}
    default_action:
      forward: ${web.arn}
  app:
    kind: route53/record
    zone: ${zone.id}
    name: @NAME@
    type: A
    alias:
      name: ${lb.dns_name}
      zone_id: ${lb.zone_id}
  txt:
    kind: route53/record
    zone: ${zone.id}
    name: txt.t-dns.example.com
    type: TXT
    values: ['say "hi"', v=spf1 -all]
    ttl: @TTL@
"#;

fn stack(name: &str, ttl: u32, team: &str) -> String {
    STACK.replace("@NAME@", name).replace("@TTL@", &ttl.to_string()).replace("@TEAM@", team)
}

#[tokio::test]
async fn a_certificate_listener_and_alias_apply_clean_change_in_place_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let zone = make_zone(&p, "t-dns.example.com").await;
    let v1 = load(&stack("app.t-dns.example.com", 300, "web"), &[]);

    // The listener waits for the certificate, which waits for its records.
    let pl = make_plan(p.as_ref(), &v1, &empty(&v1), false, false).await;
    assert_eq!(action(&pl, "cert"), Action::Create);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    let arn = state.resources["cert"].id.clone();
    let c = certificate(&p, &arn).await.expect("requested");
    assert_eq!(c.status().map(|s| s.as_str()), Some("ISSUED"), "waited until issued");
    assert_eq!(state.resources["cert"].attrs["zone_id"], zone.as_str());
    let tags = p.acm.list_tags_for_certificate().certificate_arn(&arn).send().await.unwrap();
    let tags: BTreeSet<(String, String)> =
        tags.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
    for t in [("moor:stack", "t-dns"), ("moor:resource", "cert"), ("team", "web")] {
        assert!(tags.contains(&(t.0.to_string(), t.1.to_string())), "{t:?} in {tags:?}");
    }
    let listener = p.elb.describe_listeners().listener_arns(&state.resources["https"].id).send().await.unwrap();
    let certs = listener.listeners()[0].certificates();
    assert_eq!(certs[0].certificate_arn(), Some(arn.as_str()));

    // The validation records, the alias and the TXT record are in the zone.
    let validation: BTreeSet<(String, String)> = c
        .domain_validation_options()
        .iter()
        .map(|v| {
            let r = v.resource_record().expect("a record");
            (r.name().trim_end_matches('.').to_string(), "CNAME".to_string())
        })
        .collect();
    assert!(!validation.is_empty());
    let sets = record_sets(&p, &zone).await;
    let mut want: BTreeSet<(String, String)> = validation.clone();
    want.insert(("app.t-dns.example.com".into(), "A".into()));
    want.insert(("txt.t-dns.example.com".into(), "TXT".into()));
    assert_eq!(names(&sets), want);
    let lb = p.elb.describe_load_balancers().load_balancer_arns(&state.resources["lb"].id).send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let alias = sets.iter().find(|s| s.r#type().as_str() == "A").unwrap().alias_target().expect("an alias");
    assert_eq!(
        alias.dns_name().trim_end_matches('.').to_ascii_lowercase(),
        lb.dns_name().unwrap().to_ascii_lowercase()
    );
    assert_eq!(alias.hosted_zone_id(), lb.canonical_hosted_zone_id().unwrap());
    assert_eq!(state.resources["app"].id, format!("{zone}/app.t-dns.example.com/A"));

    // A new name and TTL, and new tags: in place, the old name gone.
    let v2 = load(&stack("api.t-dns.example.com", 60, "api"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::Update);
    assert_eq!(changed(&pl, "app"), BTreeSet::from(["name".to_string()]));
    assert_eq!(action(&pl, "txt"), Action::Update);
    assert_eq!(changed(&pl, "txt"), BTreeSet::from(["ttl".to_string()]));
    assert_eq!(action(&pl, "cert"), Action::Update);
    assert_eq!(changed(&pl, "cert"), BTreeSet::from(["tags".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["cert"].id, arn, "the same certificate");
    let sets = record_sets(&p, &zone).await;
    let got = names(&sets);
    assert!(got.contains(&("api.t-dns.example.com".into(), "A".into())), "{got:?}");
    assert!(!got.contains(&("app.t-dns.example.com".into(), "A".into())), "{got:?}");
    let txt = sets.iter().find(|s| s.r#type().as_str() == "TXT").unwrap();
    assert_eq!(txt.ttl(), Some(60));
    assert_eq!(state.resources["app"].id, format!("{zone}/api.t-dns.example.com/A"));

    // Destroy: the listener before the certificate, then nothing is left.
    let (pl, summary, state) = converge(&p, &v2, state, true).await;
    assert_eq!(action(&pl, "cert"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    assert!(certificate(&p, &arn).await.is_none(), "the certificate is deleted");
    assert_eq!(names(&record_sets(&p, &zone).await), BTreeSet::new(), "no record is left");
}

#[tokio::test]
async fn a_record_someone_else_made_is_not_taken_over() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let zone = make_zone(&p, "t-dns-theirs.example.com").await;
    let text = "stack: t-dns-theirs\nresources:\n  zone:\n    kind: route53/existing_zone\n    name: t-dns-theirs.example.com\n  www:\n    kind: route53/record\n    zone: ${zone.id}\n    name: www.t-dns-theirs.example.com\n    type: CNAME\n    values: [example.org]\n";
    let s = load(text, &[]);
    // Someone made the record by hand.
    let set = aws_sdk_route53::types::ResourceRecordSet::builder()
        .name("www.t-dns-theirs.example.com")
        .r#type(aws_sdk_route53::types::RrType::Cname)
        .ttl(300)
        .resource_records(
            aws_sdk_route53::types::ResourceRecord::builder().value("theirs.example.net").build().unwrap(),
        )
        .build()
        .unwrap();
    let change = aws_sdk_route53::types::Change::builder()
        .action(aws_sdk_route53::types::ChangeAction::Create)
        .resource_record_set(set)
        .build()
        .unwrap();
    p.route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(aws_sdk_route53::types::ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("made by hand");
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(action(&pl, "www"), Action::NoOp);
    let problem = pl.problems.iter().find(|x| x.resource == "www").expect("refused");
    assert!(problem.message.contains("belongs to nothing moor manages"), "{}", problem.message);
    assert!(problem.help.contains("moor import www"), "{}", problem.help);

    // Destroy leaves it alone.
    let pl = make_plan(p.as_ref(), &s, &empty(&s), true, false).await;
    assert!(!pl.changes.iter().any(|c| c.resource == "www" && c.action == Action::Delete), "{:#?}", pl.changes);
    let sets = record_sets(&p, &zone).await;
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].resource_records()[0].value(), "theirs.example.net", "untouched");

    // `moor import` records it; then it is the stack's: changed, then deleted.
    let d = support::workdir("dns-import", text);
    let o = support::moor_in(&d, &["plan", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "refused: {}", support::text(&o));
    let id = format!("{zone}/www.t-dns-theirs.example.com/CNAME");
    let o = support::moor_in(&d, &["import", "www", &id, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let sets = record_sets(&p, &zone).await;
    assert_eq!(sets[0].resource_records()[0].value(), "example.org", "changed once imported");
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(record_sets(&p, &zone).await.is_empty(), "deleted");
}

#[tokio::test]
async fn an_existing_certificate_is_the_newest_issued_for_its_domain() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let domain = "t-dns-lookup.example.com";
    let mut arns = Vec::new();
    for _ in 0..2 {
        let out = p
            .acm
            .request_certificate()
            .domain_name(domain)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send()
            .await
            .expect("request");
        arns.push(out.certificate_arn().unwrap().to_string());
        // Issued later than the one before.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    // Another domain's certificate is not it.
    p.acm.request_certificate().domain_name("other.t-dns-lookup.example.com").send().await.expect("request");
    // Both issued (moto issues them 2 s after their request).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let text = format!(
        "stack: t-dns-lookup\nresources:\n  cert:\n    kind: acm/existing_certificate\n    domain: {domain}\n  gone:\n    kind: acm/existing_certificate\n    domain: nothing.t-dns-lookup.example.com\n"
    );
    let s = load(&text, &[]);
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    let live = pl.change("cert").and_then(|c| c.live.clone()).expect("found");
    assert_eq!(live.attrs["arn"], arns[1].as_str(), "the newest of {arns:?}");
    // One that is not there is a problem of the plan, located in the file.
    let problem = pl.problems.iter().find(|x| x.resource == "gone").expect("not found");
    assert!(problem.message.contains("stack.yaml:"), "{}", problem.message);
    assert!(problem.message.contains("was not found"), "{}", problem.message);
    assert!(!pl.problems.iter().any(|x| x.resource == "cert"), "{:?}", pl.problems);
}

/// A new `zone` moves the validation records in place: written in the new
/// zone, removed from the old one; the certificate stays.
#[tokio::test]
async fn a_certificates_new_zone_gets_its_validation_records() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let one = make_zone(&p, "sub.t-dns-move.example.com").await;
    // The parent zone can hold the same names.
    let two = make_zone(&p, "t-dns-move.example.com").await;
    let text = |zone: &str| {
        format!(
            "stack: t-dns-move\nresources:\n  one:\n    kind: route53/existing_zone\n    name: sub.t-dns-move.example.com\n  two:\n    kind: route53/existing_zone\n    name: t-dns-move.example.com\n  cert:\n    kind: acm/certificate\n    domain: sub.t-dns-move.example.com\n    zone: ${{{zone}.id}}\n"
        )
    };
    let v1 = load(&text("one"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let arn = state.resources["cert"].id.clone();
    assert_eq!(record_sets(&p, &one).await.len(), 1, "its validation record");
    assert!(record_sets(&p, &two).await.is_empty());

    let v2 = load(&text("two"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "cert"), Action::Update);
    assert_eq!(changed(&pl, "cert"), BTreeSet::from(["zone".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["cert"].id, arn, "the same certificate");
    assert_eq!(state.resources["cert"].attrs["zone_id"], two.as_str());
    assert!(record_sets(&p, &one).await.is_empty(), "moved out");
    assert_eq!(record_sets(&p, &two).await.len(), 1, "moved in");

    let (_, summary, _) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(record_sets(&p, &two).await.is_empty());
    assert!(certificate(&p, &arn).await.is_none());
}

/// A certificate requested by hand is adopted with `moor import`: tagged as
/// the stack's (keeping its own tags) and recorded in the zone of the file's
/// lookup, so the plan right after shows no change; destroy deletes it.
#[tokio::test]
async fn a_certificate_requested_by_hand_is_adopted_by_moor_import() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let domain = "t-dns-import.example.com";
    let zone = make_zone(&p, domain).await;
    let out = p
        .acm
        .request_certificate()
        .domain_name(domain)
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .tags(aws_sdk_acm::types::Tag::builder().key("owner").value("ops").build().unwrap())
        .send()
        .await
        .expect("request");
    let arn = out.certificate_arn().unwrap().to_string();
    let text = format!(
        "stack: t-dns-import\nresources:\n  zone:\n    kind: route53/existing_zone\n    name: {domain}\n  cert:\n    kind: acm/certificate\n    domain: {domain}\n    zone: ${{zone.id}}\n    tags: {{ owner: ops }}\n"
    );
    let d = support::workdir("cert-import", &text);
    let o = support::moor_in(&d, &["import", "cert", &arn, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let out = p.acm.list_tags_for_certificate().certificate_arn(&arn).send().await.expect("tags");
    let tags: BTreeSet<(String, String)> =
        out.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
    for (k, v) in [("moor:stack", "t-dns-import"), ("moor:resource", "cert"), ("owner", "ops")] {
        assert!(tags.contains(&(k.to_string(), v.to_string())), "{k} in {tags:?}");
    }
    // The import reads the lookup `zone` and records the certificate in
    // the zone the file names: the plan right after it is clean.
    let record = std::fs::read_to_string(d.join("state/t-dns-import.state.json")).expect("the record");
    let record: serde_json::Value = serde_json::from_str(&record).expect("JSON");
    let attrs = &record["resources"]["cert"]["attrs"];
    assert_eq!(attrs.get("zone_id").and_then(|z| z.as_str()), Some(zone.as_str()), "{attrs}");
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(certificate(&p, &arn).await.is_none(), "deleted");
    assert!(record_sets(&p, &zone).await.is_empty(), "its validation record deleted");
}
