//! The monthly cost of a stack: what each resource is billed for, priced
//! from the table in `data/prices.json` (AWS's public price list files, with
//! the date they were read and where each figure came from).
//!
//! Each kind says what it is billed for by its own fields
//! ([`crate::kinds::KindSpec::billing`]): a service runs so many tasks of a
//! task definition, a task definition sizes each task and names its log
//! groups, a scaler keeps at least so many tasks, a load balancer runs by
//! the hour in its zones, and so on. This module joins those facts across
//! references (a service's `${task.arn}`, or in the live form the task
//! definition's ARN) and prices them for 730 hours a month.
//!
//! What the file cannot say (traffic through a load balancer, log volume,
//! image sizes, data through a NAT gateway, the zones of a subnet list only
//! known once applied) is an [`Assumptions`] value: every one used is
//! printed with the flag that changes it. A plan's cost line reads what the
//! stack's existing ECR repositories hold instead of assuming it
//! ([`plan_delta_reading`]): one listing of each repository's images, made
//! only when the line is shown. A figure the table lacks for the
//! region is reported as missing, and the total says it leaves it out: it is
//! never counted as zero.

use crate::kinds::{Kind, Spec};
use crate::model::common::{ref_resource, StrList};
use crate::model::Stack;
use crate::plan::{Action, Plan};
use crate::resolve::Known;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Hours in the month of every estimate (AWS's pricing pages use 730).
pub const HOURS: f64 = 730.0;

/// Bytes in the GB of a storage figure (2^30).
pub const GB_BYTES: f64 = 1_073_741_824.0;

/// The price table moor ships.
pub const PRICES: &str = include_str!("../data/prices.json");

/// What a resource is billed for, by its own fields. References are as
/// the file (or the live form) writes them: `${task.arn}` or an ARN.
#[derive(Debug, Clone, PartialEq)]
pub enum Billing<'a> {
    /// Keeps `count` tasks of `task_definition` running; each has a public
    /// IPv4 address when `public_ip`. `on` says where they run when that is
    /// not Fargate on demand (`EC2`, `FARGATE_SPOT`).
    Tasks { task_definition: &'a str, count: u32, public_ip: bool, on: Option<&'a str> },
    /// What each task of this task definition is billed for.
    TaskSize { cpu_units: Option<u32>, memory_mib: Option<u32>, arm: bool, log_groups: Vec<&'a str> },
    /// Keeps the task count of `target` (a service) at `min` or more;
    /// `lowest` is the lowest `min` its schedules set, when one is lower.
    Scales { target: &'a str, min: u32, lowest: Option<u32> },
    /// A load balancer: by the hour, by capacity unit, and one public IPv4
    /// address per zone (subnet) when internet-facing.
    LoadBalancer { public: bool, subnets: &'a StrList },
    /// Holds container images.
    Registry,
    /// Receives and keeps log events (its writers name it by reference or
    /// by its physical name).
    LogGroup { retention_days: Option<u32> },
    /// A NAT gateway: by the hour, by GB processed, and its Elastic IP when public.
    NatGateway { public: bool },
}

/// One figure of the table: a price, or why there is none.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Figure {
    pub price: Option<f64>,
    /// Where the figure came from (or where it was looked for).
    pub from: String,
}

/// The price table: per region, per [`Price`] key.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PriceTable {
    /// When the figures were read.
    pub date: String,
    pub currency: String,
    pub source: String,
    pub regions: BTreeMap<String, BTreeMap<String, Figure>>,
}

impl PriceTable {
    /// The table moor ships.
    pub fn shipped() -> PriceTable {
        PriceTable::parse(PRICES).expect("data/prices.json is a valid price table")
    }

    pub fn parse(text: &str) -> Result<PriceTable, String> {
        serde_json::from_str(text).map_err(|e| format!("price table: {e}"))
    }

    /// The price of `p` in `region`, or why there is none.
    pub fn price(&self, region: &str, p: Price) -> Result<f64, String> {
        let Some(r) = self.regions.get(region) else {
            return Err(format!("the price table has no figures for region {region}"));
        };
        match r.get(p.key()) {
            Some(Figure { price: Some(v), .. }) => Ok(*v),
            Some(Figure { price: None, from }) => Err(format!("no {} price for {region}: {from}", p.what())),
            None => Err(format!("no {} price for {region} in the table", p.what())),
        }
    }
}

/// The figures the table holds for each region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Price {
    FargateVcpuX86,
    FargateGbX86,
    FargateVcpuArm,
    FargateGbArm,
    AlbHour,
    AlbLcuHour,
    EcrGbMonth,
    LogsIngestGb,
    LogsStorageGbMonth,
    NatHour,
    NatGb,
    PublicIpv4Hour,
}

impl Price {
    pub const ALL: [Price; 12] = [
        Price::FargateVcpuX86,
        Price::FargateGbX86,
        Price::FargateVcpuArm,
        Price::FargateGbArm,
        Price::AlbHour,
        Price::AlbLcuHour,
        Price::EcrGbMonth,
        Price::LogsIngestGb,
        Price::LogsStorageGbMonth,
        Price::NatHour,
        Price::NatGb,
        Price::PublicIpv4Hour,
    ];

    /// Its key in `data/prices.json`.
    pub fn key(self) -> &'static str {
        match self {
            Price::FargateVcpuX86 => "fargate_vcpu_hour_x86",
            Price::FargateGbX86 => "fargate_gb_hour_x86",
            Price::FargateVcpuArm => "fargate_vcpu_hour_arm",
            Price::FargateGbArm => "fargate_gb_hour_arm",
            Price::AlbHour => "alb_hour",
            Price::AlbLcuHour => "alb_lcu_hour",
            Price::EcrGbMonth => "ecr_gb_month",
            Price::LogsIngestGb => "logs_ingest_gb",
            Price::LogsStorageGbMonth => "logs_storage_gb_month",
            Price::NatHour => "nat_hour",
            Price::NatGb => "nat_gb",
            Price::PublicIpv4Hour => "public_ipv4_hour",
        }
    }

    /// What it prices, in words.
    pub fn what(self) -> &'static str {
        match self {
            Price::FargateVcpuX86 => "Fargate x86 vCPU-hour",
            Price::FargateGbX86 => "Fargate x86 GB-hour",
            Price::FargateVcpuArm => "Fargate ARM vCPU-hour",
            Price::FargateGbArm => "Fargate ARM GB-hour",
            Price::AlbHour => "load balancer hour",
            Price::AlbLcuHour => "load balancer LCU-hour",
            Price::EcrGbMonth => "ECR storage GB-month",
            Price::LogsIngestGb => "CloudWatch Logs ingestion GB",
            Price::LogsStorageGbMonth => "CloudWatch Logs storage GB-month",
            Price::NatHour => "NAT gateway hour",
            Price::NatGb => "NAT gateway GB processed",
            Price::PublicIpv4Hour => "public IPv4 address-hour",
        }
    }

    /// The unit a quantity of it is counted in.
    pub fn unit(self) -> &'static str {
        match self {
            Price::FargateVcpuX86 | Price::FargateVcpuArm => "vCPU-h",
            Price::FargateGbX86 | Price::FargateGbArm => "GB-h",
            Price::AlbHour | Price::NatHour => "h",
            Price::AlbLcuHour => "LCU-h",
            Price::EcrGbMonth | Price::LogsStorageGbMonth => "GB-mo",
            Price::LogsIngestGb | Price::NatGb => "GB",
            Price::PublicIpv4Hour => "IP-h",
        }
    }
}

/// What the file cannot say, and the estimate assumes. Each is printed
/// with the flag that changes it whenever it is used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assumptions {
    /// Load balancer capacity units in use on average, per load balancer.
    pub lcu: f64,
    /// Log events written per task per month, in GB.
    pub log_gb_per_task: f64,
    /// Images stored per repository, in GB.
    pub ecr_gb: f64,
    /// Data processed per NAT gateway per month, in GB.
    pub nat_gb: f64,
    /// Zones of a load balancer whose subnet list is not known yet.
    pub lb_zones: u32,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions { lcu: 1.0, log_gb_per_task: 1.0, ecr_gb: 1.0, nat_gb: 10.0, lb_zones: 2 }
    }
}

/// What an ECR repository holds, as ECR reports it (DescribeImages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    /// The repository's name.
    pub repository: String,
    /// The sum of its images' `imageSizeInBytes`: each image's layers as
    /// pushed (compressed), which is what ECR bills; a layer several images
    /// share is counted with each of them.
    pub bytes: u64,
    pub images: u32,
}

/// What an estimate knows of what a repository (by logical name) holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Holding {
    /// Read from ECR.
    Reported(Stored),
    /// The plan creates the repository: nothing is stored yet.
    Created,
    /// The plan replaces the repository: the new one starts empty.
    Replaced,
    /// ECR did not list its images: why, naming the call and its answer.
    Unread(String),
}

/// One priced quantity of one resource.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub resource: String,
    pub kind: String,
    /// What is counted, in words ("2 tasks × 0.25 vCPU × 730 h").
    pub item: String,
    pub price_key: &'static str,
    pub quantity: f64,
    pub unit: &'static str,
    /// `None` when the table has no figure: see [`Estimate::missing`].
    pub unit_price: Option<f64>,
    pub monthly: Option<f64>,
}

/// The monthly estimate of a stack in one region.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub region: String,
    pub currency: String,
    pub prices_date: String,
    pub hours: f64,
    pub lines: Vec<Line>,
    /// The sum of the priced lines.
    pub total: f64,
    /// Whether every line has a price (otherwise `total` leaves some out).
    pub complete: bool,
    /// Each price the table lacks, and why.
    pub missing: Vec<String>,
    /// Each assumption the estimate made, with the flag that changes it.
    pub assumptions: Vec<String>,
    /// What was read from AWS instead of assumed ("2.5 GB stored in app
    /// (3 images, as ECR reports)").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<String>,
    /// Whatever else the reader should know (tasks on EC2 not priced, …).
    pub notes: Vec<String>,
}

/// A resource to price: its logical name, kind, billing, and (for the live
/// form) its physical id, so that references by ARN find it.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub logical: &'a str,
    pub kind: &'a str,
    pub billing: Option<Billing<'a>>,
    pub id: Option<&'a str>,
    pub physical_name: Option<&'a str>,
}

/// The items of a stack as its file says.
pub fn items(stack: &Stack) -> Vec<Item<'_>> {
    stack
        .resources
        .iter()
        .map(|r| Item {
            logical: &r.name,
            kind: r.spec.kind().as_str(),
            billing: r.spec.as_dyn().billing(),
            id: None,
            physical_name: r.physical_name.as_deref(),
        })
        .collect()
}

/// The monthly estimate of the stack as its file says, in `region`.
pub fn estimate(stack: &Stack, region: &str, table: &PriceTable, a: &Assumptions) -> Estimate {
    estimate_items(&items(stack), region, table, a, None, &BTreeMap::new())
}

/// Whether `reference` (a `${res.attr}` or a physical id or name) names `item`.
fn names(reference: &str, item: &Item) -> bool {
    match ref_resource(reference) {
        Some(r) => r == item.logical,
        None => Some(reference) == item.id || Some(reference) == item.physical_name,
    }
}

struct Pricer<'t> {
    region: String,
    table: &'t PriceTable,
    lines: Vec<Line>,
    missing: Vec<String>,
}

impl Pricer<'_> {
    fn line(&mut self, it: &Item, item: String, p: Price, quantity: f64) {
        let price = self.table.price(&self.region, p);
        let (unit_price, monthly) = match price {
            Ok(v) => (Some(v), Some(v * quantity)),
            Err(why) => {
                if !self.missing.contains(&why) {
                    self.missing.push(why);
                }
                (None, None)
            }
        };
        self.lines.push(Line {
            resource: it.logical.to_string(),
            kind: it.kind.to_string(),
            item,
            price_key: p.key(),
            quantity,
            unit: p.unit(),
            unit_price,
            monthly,
        });
    }
}

/// A number without needless decimals: `2`, `0.25`, `0.5`.
pub fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The monthly estimate of `items` in `region`. `known` resolves a subnet
/// list given by reference, when the plan read it; `holdings` says what
/// repositories hold, by logical name (the others are assumed to hold
/// [`Assumptions::ecr_gb`]).
pub fn estimate_items(
    items: &[Item],
    region: &str,
    table: &PriceTable,
    a: &Assumptions,
    known: Option<&Known>,
    holdings: &BTreeMap<String, Holding>,
) -> Estimate {
    let mut p = Pricer { region: region.to_string(), table, lines: Vec::new(), missing: Vec::new() };
    let mut assumptions: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    let mut assume = |s: String| {
        if !assumptions.contains(&s) {
            assumptions.push(s);
        }
    };
    // Tasks running per task definition (logical name), for log volume.
    let mut tasks_of: BTreeMap<&str, u32> = BTreeMap::new();
    for it in items {
        let Some(Billing::Tasks { task_definition, count, public_ip, on }) = &it.billing else { continue };
        let scaler = items.iter().find_map(|s| match &s.billing {
            Some(Billing::Scales { target, min, lowest }) if names(target, it) => Some((s.logical, *min, *lowest)),
            _ => None,
        });
        let tasks = match scaler {
            Some((scaler, min, lowest)) => {
                let schedules = match lowest {
                    Some(low) => format!("; its schedules lower that minimum to {low} at times"),
                    None => String::new(),
                };
                assume(format!(
                    "{}: {min} task(s), the minimum of its scaler `{scaler}` (it may run up to its maximum{schedules})",
                    it.logical
                ));
                min
            }
            None => *count,
        };
        let td =
            items.iter().find(|t| matches!(t.billing, Some(Billing::TaskSize { .. })) && names(task_definition, t));
        let Some(Item { billing: Some(Billing::TaskSize { cpu_units, memory_mib, arm, .. }), logical, .. }) = td else {
            notes.push(format!(
                "{}: its task definition `{task_definition}` is not in the stack, so its tasks are not priced",
                it.logical
            ));
            continue;
        };
        *tasks_of.entry(*logical).or_default() += tasks;
        if let Some(on) = on {
            if on.eq_ignore_ascii_case("ec2") {
                notes.push(format!("{}: its tasks run on EC2 capacity, which moor does not price", it.logical));
                continue;
            }
            assume(format!("{}: priced at Fargate on-demand prices, though its tasks may run on {on}", it.logical));
        }
        let (Some(cpu), Some(mem)) = (cpu_units, memory_mib) else {
            notes.push(format!(
                "{}: task definition `{logical}` sets no task-level cpu and memory, so its tasks are not priced",
                it.logical
            ));
            continue;
        };
        let vcpu = *cpu as f64 / 1024.0;
        let gb = *mem as f64 / 1024.0;
        let t = tasks as f64;
        let (pv, pg, arch) = if *arm {
            (Price::FargateVcpuArm, Price::FargateGbArm, "ARM")
        } else {
            (Price::FargateVcpuX86, Price::FargateGbX86, "x86")
        };
        p.line(it, format!("{tasks} task(s) × {} vCPU × {} h ({arch})", num(vcpu), num(HOURS)), pv, t * vcpu * HOURS);
        p.line(it, format!("{tasks} task(s) × {} GB × {} h ({arch})", num(gb), num(HOURS)), pg, t * gb * HOURS);
        if *public_ip {
            p.line(it, format!("{tasks} public IPv4 address(es) × {} h", num(HOURS)), Price::PublicIpv4Hour, t * HOURS);
        }
    }
    for it in items {
        match &it.billing {
            Some(Billing::LoadBalancer { public, subnets }) => {
                p.line(it, format!("{} h", num(HOURS)), Price::AlbHour, HOURS);
                p.line(it, format!("{} LCU × {} h", num(a.lcu), num(HOURS)), Price::AlbLcuHour, a.lcu * HOURS);
                assume(format!("{}: {} LCU on average (--lcu)", it.logical, num(a.lcu)));
                if *public {
                    let zones = match subnets {
                        StrList::Items(v) => Some(v.len()),
                        StrList::Ref(r) => known.and_then(|k| match crate::resolve::resolve_str(r, k) {
                            (serde_json::Value::Array(v), false) => Some(v.len()),
                            _ => None,
                        }),
                    };
                    let zones = zones.unwrap_or_else(|| {
                        assume(format!(
                            "{}: {} zones, as its subnets are known only once applied (--lb-zones)",
                            it.logical, a.lb_zones
                        ));
                        a.lb_zones as usize
                    });
                    p.line(
                        it,
                        format!("{zones} public IPv4 address(es), one per zone, × {} h", num(HOURS)),
                        Price::PublicIpv4Hour,
                        zones as f64 * HOURS,
                    );
                }
            }
            Some(Billing::Registry) => match holdings.get(it.logical) {
                Some(Holding::Reported(s)) => {
                    let gb = s.bytes as f64 / GB_BYTES;
                    let said = format!(
                        "{} GB stored in {} ({} image{}, as ECR reports)",
                        num(gb),
                        s.repository,
                        s.images,
                        if s.images == 1 { "" } else { "s" }
                    );
                    p.line(it, said.clone(), Price::EcrGbMonth, gb);
                    if !reported.contains(&said) {
                        reported.push(said);
                    }
                }
                h => {
                    p.line(it, format!("{} GB stored", num(a.ecr_gb)), Price::EcrGbMonth, a.ecr_gb);
                    let why = match h {
                        Some(Holding::Created) => ", as its repository does not exist yet".to_string(),
                        Some(Holding::Replaced) => ", as the plan replaces its repository".to_string(),
                        Some(Holding::Unread(e)) => format!(", as {e}"),
                        Some(Holding::Reported(_)) | None => String::new(),
                    };
                    assume(format!("{}: {} GB of images stored (--ecr-gb){why}", it.logical, num(a.ecr_gb)));
                }
            },
            Some(Billing::LogGroup { retention_days, .. }) => {
                let writers: u32 = items
                    .iter()
                    .filter_map(|t| match &t.billing {
                        Some(Billing::TaskSize { log_groups, .. }) if log_groups.iter().any(|g| names(g, it)) => {
                            tasks_of.get(t.logical).copied()
                        }
                        _ => None,
                    })
                    .sum();
                let ingest = writers as f64 * a.log_gb_per_task;
                assume(format!("{} GB of logs per task per month (--log-gb-per-task)", num(a.log_gb_per_task)));
                p.line(
                    it,
                    format!("{writers} task(s) × {} GB written", num(a.log_gb_per_task)),
                    Price::LogsIngestGb,
                    ingest,
                );
                let (months, said) = match retention_days {
                    Some(d) => (*d as f64 / 30.0, format!("kept {d} days")),
                    None => {
                        assume(format!(
                            "{}: never expires, so its storage is shown after 12 months of writing",
                            it.logical
                        ));
                        (12.0, "never expires: after 12 months".to_string())
                    }
                };
                p.line(
                    it,
                    format!("{} GB stored ({said})", num(ingest * months)),
                    Price::LogsStorageGbMonth,
                    ingest * months,
                );
            }
            Some(Billing::NatGateway { public }) => {
                p.line(it, format!("{} h", num(HOURS)), Price::NatHour, HOURS);
                p.line(it, format!("{} GB processed", num(a.nat_gb)), Price::NatGb, a.nat_gb);
                assume(format!("{}: {} GB processed per month (--nat-gb)", it.logical, num(a.nat_gb)));
                if *public {
                    p.line(it, format!("1 Elastic IP × {} h", num(HOURS)), Price::PublicIpv4Hour, HOURS);
                }
            }
            _ => {}
        }
    }
    // In the file's order, each resource's lines together.
    let order: BTreeMap<&str, usize> = items.iter().enumerate().map(|(i, it)| (it.logical, i)).collect();
    let mut lines = p.lines;
    lines.sort_by_key(|l| order.get(l.resource.as_str()).copied().unwrap_or(usize::MAX));
    let total = lines.iter().filter_map(|l| l.monthly).sum();
    let complete = lines.iter().all(|l| l.monthly.is_some());
    Estimate {
        region: region.to_string(),
        currency: table.currency.clone(),
        prices_date: table.date.clone(),
        hours: HOURS,
        lines,
        total,
        complete,
        missing: p.missing,
        assumptions,
        reported,
        notes,
    }
}

/// `$12.34`.
pub fn money(v: f64) -> String {
    // Less than half a cent either way is zero, never `$-0.00`.
    let v = if v.abs() < 0.005 { 0.0 } else { v };
    format!("${v:.2}")
}

impl Estimate {
    /// The total, said with what it leaves out: `$56.01` or `$50.20 + ?`.
    pub fn total_text(&self) -> String {
        if self.complete {
            money(self.total)
        } else {
            format!("{} + ? (some prices missing)", money(self.total))
        }
    }

    /// Each resource's monthly cost, in the estimate's order: `None` when a
    /// line of it has no price.
    pub fn per_resource(&self) -> Vec<(String, String, Option<f64>)> {
        let mut out: Vec<(String, String, Option<f64>)> = Vec::new();
        for l in &self.lines {
            match out.last_mut() {
                Some((r, _, sum)) if *r == l.resource => {
                    *sum = sum.and_then(|s| l.monthly.map(|m| s + m));
                }
                _ => out.push((l.resource.clone(), l.kind.clone(), l.monthly)),
            }
        }
        out
    }
}

/// The estimate as text: one row per priced quantity, the total, then
/// every assumption, missing price and note.
pub fn render(e: &Estimate, stack: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Monthly cost of stack {stack} in {} ({} hours; {} list prices of {}):",
        e.region,
        num(e.hours),
        e.currency,
        e.prices_date
    );
    let _ = writeln!(out);
    let rw = e.lines.iter().map(|l| l.resource.len()).max().unwrap_or(0).max(5);
    let kw = e.lines.iter().map(|l| l.kind.len()).max().unwrap_or(0);
    let iw = e.lines.iter().map(|l| l.item.chars().count()).max().unwrap_or(0);
    let mut last = "";
    for l in &e.lines {
        let (r, k) = if l.resource == last { ("", "") } else { (l.resource.as_str(), l.kind.as_str()) };
        last = l.resource.as_str();
        let priced = match (l.unit_price, l.monthly) {
            (Some(up), Some(m)) => format!("{} {} × ${} = {:>9}", num(l.quantity), l.unit, up, money(m)),
            _ => format!("{} {} × price missing", num(l.quantity), l.unit),
        };
        let pad = iw - l.item.chars().count();
        let _ = writeln!(out, "  {r:<rw$}  {k:<kw$}  {}{}  {priced}", l.item, " ".repeat(pad));
    }
    if e.lines.is_empty() {
        let _ = writeln!(out, "  nothing in the stack is billed by the hour or the GB");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  Total: {} per month", e.total_text());
    section(&mut out, "Read from AWS", &e.reported);
    section(&mut out, "Assumptions (change them with the flags named)", &e.assumptions);
    section(&mut out, "Missing prices (left out of the total, not counted as zero)", &e.missing);
    section(&mut out, "Notes", &e.notes);
    out
}

fn section(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for i in items {
        let _ = writeln!(out, "  - {i}");
    }
}

/// The same stack in several regions, side by side: per resource, then the
/// total; `n/a` where a price is missing.
pub fn render_compare(estimates: &[Estimate], stack: &str) -> String {
    let mut out = String::new();
    let Some(first) = estimates.first() else { return out };
    let _ = writeln!(
        out,
        "Monthly cost of stack {stack} by region ({} hours; {} list prices of {}):",
        num(first.hours),
        first.currency,
        first.prices_date
    );
    let _ = writeln!(out);
    let rows = first.per_resource();
    let rw = rows.iter().map(|(r, _, _)| r.len()).max().unwrap_or(0).max(5);
    let cw = estimates.iter().map(|e| e.region.len()).max().unwrap_or(0).max(10);
    let _ = write!(out, "  {:<rw$}", "");
    for e in estimates {
        let _ = write!(out, "  {:>cw$}", e.region);
    }
    let _ = writeln!(out);
    let cell = |v: Option<f64>| v.map_or("n/a".to_string(), money);
    for (r, _, _) in &rows {
        let _ = write!(out, "  {r:<rw$}");
        for e in estimates {
            let v = e.per_resource().into_iter().find(|(x, _, _)| x == r).and_then(|(_, _, v)| v);
            let _ = write!(out, "  {:>cw$}", cell(v));
        }
        let _ = writeln!(out);
    }
    let _ = write!(out, "  {:<rw$}", "Total");
    for e in estimates {
        let _ = write!(out, "  {:>cw$}", if e.complete { money(e.total) } else { format!("{}+?", money(e.total)) });
    }
    let _ = writeln!(out);
    section(&mut out, "Assumptions (change them with the flags named)", &first.assumptions);
    let missing: Vec<String> = estimates.iter().flat_map(|e| e.missing.clone()).collect();
    section(&mut out, "Missing prices (n/a above; left out of the totals, not counted as zero)", &missing);
    section(&mut out, "Notes", &first.notes);
    out
}

/// What a plan does to the monthly cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Delta {
    pub before: Estimate,
    pub after: Estimate,
}

impl Delta {
    /// Whether the plan creates, changes or deletes something billed.
    pub fn billable_change(&self) -> bool {
        self.before.lines != self.after.lines
    }

    /// One line for the plan: before → after (difference), and what the
    /// figures rest on.
    pub fn line(&self) -> String {
        let diff = self.after.total - self.before.total;
        let sign = if diff < 0.0 { "-" } else { "+" };
        let mut s = format!(
            "Cost: {} → {} per month ({sign}{}) in {}, at {} list prices of {}",
            self.before.total_text(),
            self.after.total_text(),
            money(diff.abs()),
            self.after.region,
            self.after.currency,
            self.after.prices_date
        );
        let mut reported = self.after.reported.clone();
        for r in &self.before.reported {
            if !reported.contains(r) {
                reported.push(r.clone());
            }
        }
        if !reported.is_empty() {
            let _ = write!(s, "; {}", reported.join("; "));
        }
        let mut assumed = self.after.assumptions.clone();
        for a in &self.before.assumptions {
            if !assumed.contains(a) {
                assumed.push(a.clone());
            }
        }
        if !assumed.is_empty() {
            let _ = write!(s, "; assuming {}", assumed.join("; "));
        }
        let mut missing = self.after.missing.clone();
        for m in &self.before.missing {
            if !missing.contains(m) {
                missing.push(m.clone());
            }
        }
        if !missing.is_empty() {
            let _ = write!(s, "; missing: {}", missing.join("; "));
        }
        s.push_str(". `moor cost` itemizes it.");
        s
    }
}

/// A resource's spec as it stands, for the estimate before a plan: the
/// file's spec with the live fields over it (what AWS has now), or the live
/// fields alone for a resource no longer in the file.
fn live_spec(kind: Kind, desired: Option<&Spec>, live: &crate::provider::Live) -> Option<Spec> {
    if let Some(d) = desired {
        if let Ok(serde_json::Value::Object(mut m)) = serde_json::to_value(d) {
            for (k, v) in &live.fields {
                m.insert(k.clone(), v.clone());
            }
            if let Ok(s) = kind.spec_from_json(serde_json::Value::Object(m)) {
                return Some(s);
            }
        }
    }
    kind.spec_from_json(serde_json::Value::Object(live.fields.clone())).ok()
}

/// What `plan` does to the monthly cost of `stack`: the estimate of what
/// exists now (from what the plan observed) and of what the plan leaves.
/// Repositories are assumed to hold [`Assumptions::ecr_gb`].
pub fn plan_delta(stack: &Stack, plan: &Plan, region: &str, table: &PriceTable, a: &Assumptions) -> Delta {
    plan_delta_with(stack, plan, region, table, a, &BTreeMap::new())
}

/// The stack's ECR repositories that exist (their logical name and ARN),
/// whose contents [`plan_delta_reading`] reads.
pub fn existing_repositories(plan: &Plan) -> Vec<(String, String)> {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::EcrRepository && !c.deposed && c.action != Action::Create)
        .filter_map(|c| c.live.as_ref().map(|l| (c.resource.clone(), l.id.clone())))
        .filter(|(_, arn)| !arn.is_empty())
        .collect()
}

/// [`plan_delta`] with what the stack's existing ECR repositories hold as
/// ECR reports it: one listing of each one's images (one DescribeImages,
/// paginated), all at once. A repository ECR does not list keeps the
/// assumption, with the reason.
pub async fn plan_delta_reading<P: crate::provider::Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    plan: &Plan,
    region: &str,
    table: &PriceTable,
    a: &Assumptions,
) -> Delta {
    let repos = existing_repositories(plan);
    let arns: Vec<String> = repos.iter().map(|(_, arn)| arn.clone()).collect();
    let got = if arns.is_empty() { BTreeMap::new() } else { p.repository_storage(&arns).await };
    let read = repos
        .into_iter()
        .filter_map(|(logical, arn)| {
            got.get(&arn).map(|r| (logical, r.clone().map_err(|e| format!("ECR did not list its images ({e})"))))
        })
        .collect();
    plan_delta_with(stack, plan, region, table, a, &read)
}

/// [`plan_delta`], given what existing repositories hold (by logical
/// name), or why it could not be read.
pub fn plan_delta_with(
    stack: &Stack,
    plan: &Plan,
    region: &str,
    table: &PriceTable,
    a: &Assumptions,
    read: &BTreeMap<String, Result<Stored, String>>,
) -> Delta {
    let change = |name: &str| plan.changes.iter().find(|c| c.resource == name && !c.deposed);
    let held = |r: &Result<Stored, String>| match r {
        Ok(s) => Holding::Reported(s.clone()),
        Err(e) => Holding::Unread(e.clone()),
    };
    let before_holdings: BTreeMap<String, Holding> = read.iter().map(|(k, r)| (k.clone(), held(r))).collect();
    let mut after_holdings = before_holdings.clone();
    for c in plan.changes.iter().filter(|c| c.kind == Kind::EcrRepository && !c.deposed) {
        match c.action {
            Action::Create => {
                after_holdings.insert(c.resource.clone(), Holding::Created);
            }
            Action::Replace => {
                after_holdings.insert(c.resource.clone(), Holding::Replaced);
            }
            _ => {}
        }
    }
    // After: every resource of the file the plan does not delete.
    let after_items: Vec<Item> =
        items(stack).into_iter().filter(|it| !change(it.logical).is_some_and(|c| c.action == Action::Delete)).collect();
    // Before: every resource that exists, as it stands.
    struct Now {
        logical: String,
        kind: Kind,
        spec: Spec,
        id: String,
        physical: Option<String>,
        /// Read from the live fields (else the file's spec stands in).
        as_live: bool,
    }
    let mut now: Vec<Now> = Vec::new();
    for c in &plan.changes {
        let Some(live) = &c.live else { continue };
        if c.action == Action::Create || c.deposed {
            continue;
        }
        let desired = stack.resource(&c.resource);
        let (spec, as_live) = match (live_spec(c.kind, desired.map(|r| &r.spec), live), desired) {
            (Some(s), _) => (s, true),
            (None, Some(r)) => (r.spec.clone(), false),
            (None, None) => continue,
        };
        let physical = desired.and_then(|r| r.physical_name.clone()).or_else(|| c.name.clone());
        now.push(Now { logical: c.resource.clone(), kind: c.kind, spec, id: live.id.clone(), physical, as_live });
    }
    let before_items: Vec<Item> = now
        .iter()
        .map(|n| Item {
            logical: &n.logical,
            kind: n.kind.as_str(),
            billing: n.spec.as_dyn().billing(),
            id: Some(&n.id),
            physical_name: n.physical.as_deref(),
        })
        .collect();
    let mut before = estimate_items(&before_items, region, table, a, Some(&plan.known), &before_holdings);
    for n in now.iter().filter(|n| !n.as_live) {
        if before.lines.iter().any(|l| l.resource == n.logical) {
            before.notes.push(format!("{}: what exists now is priced as the file says it", n.logical));
        }
    }
    let after = estimate_items(&after_items, region, table, a, Some(&plan.known), &after_holdings);
    Delta { before, after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_every_figure_says_where_it_came_from() {
        let t = PriceTable::shipped();
        for r in ["us-east-1", "us-east-2", "sa-east-1", "eu-west-1", "ap-southeast-1"] {
            let figures = t.regions.get(r).unwrap_or_else(|| panic!("{r} is in the table"));
            for p in Price::ALL {
                let f = figures.get(p.key()).unwrap_or_else(|| panic!("{r} has a {} entry", p.key()));
                assert!(!f.from.trim().is_empty(), "{r} {} says where it came from", p.key());
            }
        }
        assert!(!t.date.is_empty() && !t.source.is_empty());
    }

    #[test]
    fn a_missing_figure_is_an_error_naming_it() {
        let t = PriceTable::parse(
            r#"{"date":"d","currency":"USD","source":"s","regions":{"xx-1":{"nat_hour":{"price":null,"from":"not published"}}}}"#,
        )
        .unwrap();
        let e = t.price("xx-1", Price::NatHour).unwrap_err();
        assert!(e.contains("NAT gateway hour") && e.contains("not published"), "{e}");
        assert!(t.price("xx-1", Price::NatGb).is_err());
        assert!(t.price("yy-2", Price::NatGb).unwrap_err().contains("no figures for region yy-2"));
    }

    #[test]
    fn numbers_lose_needless_decimals() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(730.0), "730");
        assert_eq!(money(56.01305), "$56.01");
        assert_eq!(money(-0.0), "$0.00");
        assert_eq!(money(-1e-12), "$0.00");
    }
}
