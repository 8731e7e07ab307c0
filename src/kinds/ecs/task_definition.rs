//! `ecs/task_definition`.

use super::*;
use crate::kinds::{path, Attr, Kind, KindSpec, Naming, RefRule, SecretPlace};
use crate::model::check::{alnum_hyphen_underscore, Checker, NameRule};
use crate::model::common::{Size, Tags};
use crate::secret::Leaf;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// An ECS task definition. Every change registers a new revision.
///
/// `moor import` takes the ARN of a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDefinition {
    /// Family name; defaults to `<stack>-<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Task CPU: units (256, 512, 1024, …) or a string like `"0.5 vCPU"`.
    /// Required on Fargate; optional on EC2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Size>,
    /// Task memory: MiB or a string like `"1 GB"`; must suit `cpu` on Fargate.
    /// Required on Fargate; optional on EC2, where every container then sets
    /// its `memory` or `memory_reservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Size>,
    /// `fargate` (the default) or `ec2`.
    #[serde(default)]
    pub launch_type: LaunchType,
    /// `awsvpc` (the default, required by Fargate), `bridge` or `host`.
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// `x86_64` (the default) or `arm64` (Graviton); the same as
    /// `runtime_platform.cpu_architecture`, which says it with the OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// The operating system and CPU architecture the task runs on (Linux
    /// on x86_64 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// Ephemeral storage of a Fargate task in GiB, 21–200 (Fargate gives
    /// 20 GiB when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<u32>,
    /// Role the ECS agent uses to pull images and write logs: `${exec_role.arn}`.
    /// Required on Fargate to pull from ECR or send logs; required with
    /// `secrets` on either launch type (on EC2 the instance's role pulls
    /// images and sends logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role: Option<String>,
    /// Role the application's own code runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role: Option<String>,
    /// Volumes the containers mount with `mount_points`: a bind mount of a
    /// host path (EC2), an EFS file system, or, with neither, a scratch
    /// volume the task's containers share while it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// The name the containers' `mount_points` give as `source_volume`.
    pub name: String,
    /// A directory of the container instance (EC2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolume>,
    /// An Amazon EFS file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs: Option<EfsVolume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostVolume {
    /// The path on the container instance, e.g. `/var/lib/data`.
    pub source_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EfsVolume {
    /// The file system's id, `fs-…`.
    pub file_system_id: String,
    /// The directory of the file system mounted as the volume's root (`/`
    /// when not given); with an access point, the access point's root is
    /// used and this must be absent or `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// `ENABLED` encrypts the traffic to the file system (`DISABLED` when
    /// not given); required with an access point or IAM authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<Toggle>,
    /// The port of the encrypted traffic (the EFS mount helper's choice
    /// when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorization>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EfsAuthorization {
    /// An EFS access point, `fsap-…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// `ENABLED` mounts with the task role's IAM identity (`DISABLED` when
    /// not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<Toggle>,
}

/// AWS's spelling (`ENABLED`, `DISABLED`); lower case is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Toggle {
    #[serde(rename = "ENABLED", alias = "enabled")]
    Enabled,
    #[serde(rename = "DISABLED", alias = "disabled")]
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MountPoint {
    /// The `name` of one of the task's `volumes`.
    pub source_volume: String,
    /// Where the volume appears in the container, e.g. `/data`.
    pub container_path: String,
    /// Mount it read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeFrom {
    /// Another container of this task, whose volumes this one mounts.
    pub source_container: String,
    /// Mount them read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinuxParameters {
    /// Run an init process that forwards signals and reaps zombies
    /// (`docker run --init`; default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    /// Linux capabilities added to or dropped from Docker's defaults; on
    /// Fargate only `SYS_PTRACE` may be added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Size of `/dev/shm` in MiB (EC2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<u32>,
    /// tmpfs mounts (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<Tmpfs>,
    /// Host devices exposed to the container (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// Swap the container may use in MiB; 0 for none (EC2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<u32>,
    /// How readily the container's memory is swapped, 0–100 (EC2 only;
    /// 60 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Capabilities added, e.g. `[SYS_PTRACE]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Capabilities dropped, e.g. `[NET_RAW]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tmpfs {
    pub container_path: String,
    /// Size in MiB.
    pub size: u32,
    /// Mount options such as `noexec`, `nosuid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The device on the host, e.g. `/dev/fuse`.
    pub host_path: String,
    /// Where it appears in the container (the host path when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// `read`, `write`, `mknod` (all three when not given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<DevicePermission>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DevicePermission {
    Read,
    Write,
    Mknod,
}

/// The Linux capabilities ECS takes in `KernelCapabilities` (ECS API
/// Reference, KernelCapabilities).
pub const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    #[default]
    Awsvpc,
    Bridge,
    Host,
}

/// AWS's spelling (`X86_64`, `ARM64`) is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CpuArchitecture {
    #[serde(alias = "X86_64")]
    X86_64,
    #[serde(alias = "ARM64")]
    Arm64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimePlatform {
    /// `LINUX` (the default) or a Windows Server family:
    /// `WINDOWS_SERVER_2019_FULL`, `WINDOWS_SERVER_2019_CORE`,
    /// `WINDOWS_SERVER_2022_FULL`, `WINDOWS_SERVER_2022_CORE` (these four
    /// also on Fargate), `WINDOWS_SERVER_2025_FULL`,
    /// `WINDOWS_SERVER_2025_CORE`, `WINDOWS_SERVER_2016_FULL`,
    /// `WINDOWS_SERVER_2004_CORE`, `WINDOWS_SERVER_20H2_CORE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<OsFamily>,
    /// `x86_64` (the default) or `arm64` (Graviton, Linux only); AWS's
    /// `X86_64` and `ARM64` are accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
}

/// ECS's operating system families, in AWS's spelling (lower case accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OsFamily {
    #[serde(rename = "LINUX", alias = "linux")]
    Linux,
    #[serde(rename = "WINDOWS_SERVER_2019_FULL", alias = "windows_server_2019_full")]
    WindowsServer2019Full,
    #[serde(rename = "WINDOWS_SERVER_2019_CORE", alias = "windows_server_2019_core")]
    WindowsServer2019Core,
    #[serde(rename = "WINDOWS_SERVER_2022_FULL", alias = "windows_server_2022_full")]
    WindowsServer2022Full,
    #[serde(rename = "WINDOWS_SERVER_2022_CORE", alias = "windows_server_2022_core")]
    WindowsServer2022Core,
    #[serde(rename = "WINDOWS_SERVER_2025_FULL", alias = "windows_server_2025_full")]
    WindowsServer2025Full,
    #[serde(rename = "WINDOWS_SERVER_2025_CORE", alias = "windows_server_2025_core")]
    WindowsServer2025Core,
    #[serde(rename = "WINDOWS_SERVER_2016_FULL", alias = "windows_server_2016_full")]
    WindowsServer2016Full,
    #[serde(rename = "WINDOWS_SERVER_2004_CORE", alias = "windows_server_2004_core")]
    WindowsServer2004Core,
    #[serde(rename = "WINDOWS_SERVER_20H2_CORE", alias = "windows_server_20h2_core")]
    WindowsServer20H2Core,
}

impl OsFamily {
    pub fn is_windows(self) -> bool {
        self != OsFamily::Linux
    }

    /// The families Fargate runs: Linux, and Windows Server 2019 and 2022.
    pub fn on_fargate(self) -> bool {
        matches!(
            self,
            OsFamily::Linux
                | OsFamily::WindowsServer2019Full
                | OsFamily::WindowsServer2019Core
                | OsFamily::WindowsServer2022Full
                | OsFamily::WindowsServer2022Core
        )
    }
}

impl TaskDefinition {
    /// The CPU architecture, from `runtime_platform` or `cpu_architecture`.
    pub fn architecture(&self) -> Option<CpuArchitecture> {
        self.runtime_platform.as_ref().and_then(|r| r.cpu_architecture).or(self.cpu_architecture)
    }

    /// The operating system family, when the file gives one.
    pub fn os_family(&self) -> Option<OsFamily> {
        self.runtime_platform.as_ref().and_then(|r| r.operating_system_family)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Container name, referred to by the service's `load_balancers`.
    pub name: String,
    /// Image, e.g. `${repo.uri}:${var.image_tag}`.
    pub image: String,
    /// How an ECR image of this account and region is registered: `digest`
    /// (the default) resolves its tag when planning and registers
    /// `repo@sha256:…`, so a tag that moves is a change the plan shows and
    /// what was reviewed is what runs; `tag` registers the tag as written.
    /// Other images are registered as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pinning: Option<ImagePinning>,
    /// Whether the task stops when this container stops (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Names of `environment` entries whose values moor never shows or
    /// stores (plans print `(sensitive)`, the state record keeps a hash).
    /// Entries whose name or value looks like a secret are sensitive anyway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Secrets by name: the ARN of a Secrets Manager secret or SSM parameter,
    /// or the name of an SSM parameter in the stack's region
    /// (`/app/db_password`). Only the ARN or name is in the file; the value
    /// is never read by moor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheck>,
    /// The user the container's processes run as: `user`, `uid`,
    /// `user:group`, `uid:gid`, … (the image's user when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Containers of this task that must reach a condition before this
    /// one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// Mount the container's root filesystem read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// Resource limits of the container's processes, e.g.
    /// `{ name: nofile, soft: 65536, hard: 65536 }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// The task's `volumes` this container mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// Other containers of the task whose volumes this one mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<VolumeFrom>,
    /// Linux settings: an init process, capabilities, and (on EC2) shared
    /// memory, tmpfs, devices and swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    /// Send output to CloudWatch Logs (the `awslogs` driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImagePinning {
    /// Registered by the digest the tag points at when planning.
    #[default]
    Digest,
    /// Registered by tag, as written.
    Tag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    pub container_port: u32,
    /// With awsvpc, equal to `container_port` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u32>,
    /// `tcp` (the default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// A name for Service Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application protocol, for Service Connect: `http`, `http2` or `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppProtocol {
    Http,
    Http2,
    Grpc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    pub name: UlimitName,
    /// The soft limit, at most `hard`.
    pub soft: u32,
    pub hard: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UlimitName {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerDependency {
    /// Name of another container of this task.
    pub container: String,
    /// What it must reach: `start`, `complete` (exited), `success`
    /// (exited with status 0) or `healthy` (its `health_check` passes);
    /// AWS's spelling (`START`, …) is accepted too.
    pub condition: DependencyCondition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    #[serde(alias = "START")]
    Start,
    #[serde(alias = "COMPLETE")]
    Complete,
    #[serde(alias = "SUCCESS")]
    Success,
    #[serde(alias = "HEALTHY")]
    Healthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportProtocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheck {
    /// `["CMD-SHELL", "curl -f http://localhost/ || exit 1"]` or `["CMD", …]`.
    pub command: Vec<String>,
    /// Seconds, 5–300 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Seconds, 2–60 (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// 1–10 (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds of grace after start, 0–300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Log group name, e.g. `/ecs/${stack}`.
    pub group: String,
    /// Prefix of each stream, typically the app name. Required on Fargate;
    /// optional on EC2, where streams are then named by container id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_prefix: Option<String>,
    /// Region of the log group; the stack's region when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Let the awslogs driver create the group (needs logs:CreateLogGroup).
    #[serde(default)]
    pub create_group: bool,
    /// `blocking` (the container waits while logs cannot be sent) or
    /// `non-blocking` (lines go to a buffer, and are lost when it is full);
    /// the account's default when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LogMode>,
    /// Size of the `non-blocking` buffer, e.g. `"25m"` (Docker's default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_buffer_size: Option<String>,
    /// A `strftime` format that starts each multi-line message, e.g.
    /// `"%Y-%m-%d %H:%M:%S"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime_format: Option<String>,
    /// A regular expression that starts each multi-line message; not with
    /// `datetime_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiline_pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogMode {
    Blocking,
    NonBlocking,
}

/// A size Docker's `max-buffer-size` takes: a number with an optional unit
/// (`k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`).
pub fn buffer_size(v: &str) -> bool {
    let v = v.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (num, unit) = v.split_at(digits);
    let num_ok = !num.is_empty()
        && !num.starts_with('.')
        && !num.ends_with('.')
        && !num.contains("..")
        && num.parse::<f64>().is_ok_and(|n| n > 0.0);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit_ok = matches!(
        unit.as_str(),
        "" | "b"
            | "k"
            | "kb"
            | "kib"
            | "m"
            | "mb"
            | "mib"
            | "g"
            | "gb"
            | "gib"
            | "t"
            | "tb"
            | "tib"
            | "p"
            | "pb"
            | "pib"
    );
    num_ok && unit_ok
}

pub const FAMILY: NameRule = NameRule {
    what: "task definition family",
    max: 255,
    charset: alnum_hyphen_underscore,
    charset_text: "letters, digits, hyphens and underscores",
    extra: None,
};

/// The task memory sizes Fargate accepts for a task CPU size.
pub fn fargate_memory(cpu: u32) -> Option<Vec<u32>> {
    let r = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect::<Vec<_>>();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => r(1024, 4096, 1024),
        1024 => r(2048, 8192, 1024),
        2048 => r(4096, 16384, 1024),
        4096 => r(8192, 30720, 1024),
        8192 => r(16384, 61440, 4096),
        16384 => r(32768, 122880, 8192),
        _ => return None,
    })
}

fn describe_sizes(v: &[u32]) -> String {
    if v.len() <= 4 {
        v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    } else {
        format!("{}–{} in steps of {}", v[0], v[v.len() - 1], v[1] - v[0])
    }
}

impl TaskDefinition {
    /// CPU units and memory MiB, each when given and readable.
    pub fn sizes(&self) -> (Option<u32>, Option<u32>) {
        (self.cpu.as_ref().and_then(Size::cpu_units), self.memory.as_ref().and_then(Size::memory_mib))
    }

    fn check(&self, c: &mut Checker) {
        if let Some(f) = &self.family {
            FAMILY.check(c, &["family"], f);
        }
        let (cpu, mem) = self.sizes();
        let fargate = self.launch_type == LaunchType::Fargate;
        for (field, given) in [("cpu", self.cpu.is_some()), ("memory", self.memory.is_some())] {
            if fargate && !given {
                c.error(
                    "moor::task-size",
                    &[],
                    format!("a Fargate task definition needs a task-level `{field}`"),
                    format!("no `{field}`"),
                )
                .help = Some(format!("set `{field}`, or `launch_type: ec2` where it is optional"));
            }
        }
        if self.cpu.is_some() && cpu.is_none() {
            c.error(
                "moor::task-size",
                &["cpu"],
                "task cpu is not a size",
                "expected CPU units like 256, or a string like \"0.5 vCPU\"",
            );
        }
        if self.memory.is_some() && mem.is_none() {
            c.error(
                "moor::task-size",
                &["memory"],
                "task memory is not a size",
                "expected MiB like 512, or a string like \"1 GB\"",
            );
        }
        if let (LaunchType::Fargate, Some(cpu), Some(mem)) = (self.launch_type, cpu, mem) {
            match fargate_memory(cpu) {
                None => {
                    c.error(
                        "moor::fargate-size",
                        &["cpu"],
                        format!("Fargate has no task size with {cpu} CPU units"),
                        "not a Fargate CPU size",
                    )
                    .help = Some("Fargate CPU sizes: 256, 512, 1024, 2048, 4096, 8192, 16384".into());
                }
                Some(allowed) if !allowed.contains(&mem) => {
                    c.error(
                        "moor::fargate-size",
                        &["memory"],
                        format!("Fargate does not offer {mem} MiB of memory with {cpu} CPU units"),
                        "invalid cpu/memory pair",
                    )
                    .help = Some(format!("with cpu {cpu}, memory may be {}", describe_sizes(&allowed)));
                }
                Some(_) => {}
            }
        }
        if self.launch_type == LaunchType::Fargate && self.network_mode != NetworkMode::Awsvpc {
            c.error("moor::fargate-network", &["network_mode"], "Fargate tasks need network mode awsvpc", "not awsvpc");
        }
        if self.containers.is_empty() {
            c.error(
                "moor::task-containers",
                &["containers"],
                "a task definition needs at least one container",
                "no containers",
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, ct) in self.containers.iter().enumerate() {
            let idx = i.to_string();
            if names.contains(&ct.name.as_str()) {
                c.error(
                    "moor::task-containers",
                    &["containers", &idx, "name"],
                    format!("two containers are named `{}`", ct.name),
                    "duplicate container name",
                );
            }
            names.push(&ct.name);
            if ct.image.trim().is_empty() {
                c.error(
                    "moor::container-image",
                    &["containers", &idx, "image"],
                    "container image is empty",
                    "needs an image",
                );
            }
            for (j, pm) in ct.port_mappings.iter().enumerate() {
                let jdx = j.to_string();
                c.port(&["containers", &idx, "port_mappings", &jdx, "container_port"], pm.container_port);
                if let Some(h) = pm.host_port {
                    // 0 asks for a dynamic host port (bridge mode).
                    if !(h == 0 && self.network_mode == NetworkMode::Bridge) {
                        c.port(&["containers", &idx, "port_mappings", &jdx, "host_port"], h);
                    }
                    if self.network_mode == NetworkMode::Awsvpc && h != pm.container_port {
                        c.error(
                            "moor::port-mapping",
                            &["containers", &idx, "port_mappings", &jdx, "host_port"],
                            "with awsvpc, host_port must equal container_port",
                            "differs from container_port",
                        );
                    }
                }
            }
            if let Some(h) = &ct.health_check {
                let hp = ["containers", idx.as_str(), "health_check"];
                if !matches!(h.command.first().map(String::as_str), Some("CMD" | "CMD-SHELL" | "NONE")) {
                    c.error(
                        "moor::container-health-check",
                        &[hp[0], hp[1], hp[2], "command"],
                        "a container health check command starts with `CMD` or `CMD-SHELL`",
                        "missing CMD / CMD-SHELL",
                    )
                    .help =
                        Some("for example [\"CMD-SHELL\", \"curl -f http://localhost:5000/health || exit 1\"]".into());
                }
                for (f, v, lo, hi) in [
                    ("interval", h.interval, 5, 300),
                    ("timeout", h.timeout, 2, 60),
                    ("retries", h.retries, 1, 10),
                    ("start_period", h.start_period, 0, 300),
                ] {
                    if let Some(v) = v {
                        c.range(&[hp[0], hp[1], hp[2], f], f, v.into(), lo, hi);
                    }
                }
            }
            for (j, u) in ct.ulimits.iter().enumerate() {
                let jdx = j.to_string();
                let name =
                    serde_json::to_value(u.name).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                if ct.ulimits[..j].iter().any(|o| o.name == u.name) {
                    c.error(
                        "moor::container-ulimit",
                        &["containers", &idx, "ulimits", &jdx, "name"],
                        format!("container `{}` sets ulimit `{name}` twice", ct.name),
                        "set again",
                    );
                }
                for (f, v) in [("soft", u.soft), ("hard", u.hard)] {
                    c.range(&["containers", &idx, "ulimits", &jdx, f], f, v.into(), 0, i32::MAX as u64);
                }
                if u.soft > u.hard {
                    c.error(
                        "moor::container-ulimit",
                        &["containers", &idx, "ulimits", &jdx, "soft"],
                        format!(
                            "ulimit `{name}` of container `{}` has a soft limit of {} above its hard limit of {}",
                            ct.name, u.soft, u.hard
                        ),
                        "above `hard`",
                    );
                }
            }
            for (name, arn) in &ct.secrets {
                if !arn.contains("${")
                    && !(arn.starts_with("arn:") && (arn.contains(":secretsmanager:") || arn.contains(":ssm:")))
                    && !ssm_parameter_name(arn)
                {
                    c.error(
                        "moor::container-secret",
                        &["containers", &idx, "secrets", name],
                        format!("secret `{name}` is not a Secrets Manager or SSM parameter ARN, nor an SSM parameter name"),
                        "expected arn:aws:secretsmanager:…, arn:aws:ssm:… or a parameter name",
                    )
                    .help = Some(
                        "put the secret itself in Secrets Manager or SSM; the stack file holds only its ARN, or the name of an SSM parameter in the stack's region (`/app/db_password`)".into(),
                    );
                }
            }
            if !fargate && self.memory.is_none() && ct.memory.is_none() && ct.memory_reservation.is_none() {
                c.error(
                    "moor::container-memory",
                    &["containers", &idx],
                    format!(
                        "container `{}` needs `memory` or `memory_reservation`, as the task sets no `memory`",
                        ct.name
                    ),
                    "no memory limit",
                )
                .help = Some(
                    "set the container's `memory` (hard limit) or `memory_reservation`, or the task's `memory`".into(),
                );
            }
            if let Some(l) = &ct.logs {
                check_logs(c, &["containers", &idx, "logs"], &format!("container `{}`", ct.name), l);
            }
            if fargate && ct.logs.as_ref().is_some_and(|l| l.stream_prefix.is_none()) {
                c.error(
                    "moor::container-logs",
                    &["containers", &idx, "logs"],
                    format!("container `{}` sends logs from Fargate without a `stream_prefix`", ct.name),
                    "no `stream_prefix`",
                )
                .help = Some("Fargate's awslogs driver needs `stream_prefix`, typically the app name".into());
            }
            let flagged = crate::secret::flagged(ct.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for (key, why) in &flagged {
                // The label points at the entry; the value is masked in the
                // snippet and named nowhere.
                c.warning(
                    "moor::secret-in-environment",
                    &["containers", &idx, "environment", key],
                    format!("environment variable `{key}` looks like a secret: {}", why.describe()),
                    "plain text in the task definition",
                )
                .help = Some("move it to `secrets:` as a Secrets Manager or SSM parameter ARN; until then moor shows and stores it only as (sensitive)".into());
            }
            for (j, name) in ct.sensitive.iter().enumerate() {
                if !ct.environment.contains_key(name) {
                    let names: Vec<&str> = ct.environment.keys().map(String::as_str).collect();
                    c.error(
                        "moor::sensitive-unknown",
                        &["containers", &idx, "sensitive", &j.to_string()],
                        format!("`{name}` is not an environment variable of container `{}`", ct.name),
                        "not in `environment`",
                    )
                    .help = Some(crate::diag::did_you_mean(name, &names, "environment variable"));
                }
            }
        }
        self.check_dependencies(c);
        self.check_volumes(c);
        self.check_mounts(c);
        self.check_runtime_platform(c, cpu);
        if let Some(gib) = self.ephemeral_storage {
            c.range(&["ephemeral_storage"], "ephemeral_storage", gib.into(), 21, 200);
            if self.launch_type != LaunchType::Fargate {
                c.error(
                    "moor::ephemeral-storage",
                    &["ephemeral_storage"],
                    "ephemeral_storage is for Fargate tasks only",
                    "not a Fargate task",
                )
                .help = Some("on EC2 the task's storage is the instance's; remove `ephemeral_storage`".into());
            }
        }
        self.check_sizes(c, cpu, mem);
        if self.execution_role.is_none() && self.needs_execution_role() {
            needs_execution_role_error(c, fargate);
        }
    }
}

/// A task definition without the execution role it needs.
fn needs_execution_role_error(c: &mut Checker, fargate: bool) {
    let what = if fargate { "pulls from ECR, sends logs or reads secrets" } else { "reads secrets" };
    c.error("moor::execution-role", &[], "this task definition needs an `execution_role`", what).help = Some(
        "add an iam/role assumed by ecs-tasks.amazonaws.com with AmazonECSTaskExecutionRolePolicy, and set `execution_role: ${exec_role.arn}`".into(),
    );
}

impl TaskDefinition {
    /// Whether the file alone shows the task needs an execution role: on
    /// EC2 the container instance's role pulls images and sends logs, and
    /// secrets take the execution role on either launch type. An image of
    /// a private repository of the file (`${repo.uri}`) is found by
    /// `cross_check`, which knows the kind it names: a public image needs
    /// no role to be pulled.
    fn needs_execution_role(&self) -> bool {
        let fargate = self.launch_type == LaunchType::Fargate;
        self.containers
            .iter()
            .any(|ct| !ct.secrets.is_empty() || (fargate && (ct.logs.is_some() || ct.image.contains(".dkr.ecr."))))
    }

    /// Whether a container's image names a private ECR repository of the
    /// file (`${repo.uri}:tag`, `${existing.uri}@sha256:…`).
    fn pulls_from_a_private_repository_of(&self, stack: &crate::model::Stack) -> bool {
        self.containers.iter().any(|ct| {
            ct.image.match_indices("${").any(|(at, _)| {
                let name = ct.image[at + 2..].split(['.', '}', '[']).next().unwrap_or("");
                stack
                    .resource(name)
                    .is_some_and(|t| matches!(t.kind(), Kind::EcrRepository | Kind::EcrExistingRepository))
            })
        })
    }

    /// The architecture given once; ARM64 only with Linux, as
    /// RegisterTaskDefinition requires; on Fargate only the families it
    /// runs, and Windows with at least 1 vCPU (Fargate has no Windows
    /// task of 0.25 or 0.5 vCPU).
    fn check_runtime_platform(&self, c: &mut Checker, cpu: Option<u32>) {
        let Some(rp) = &self.runtime_platform else { return };
        if let (Some(_), Some(_)) = (rp.cpu_architecture, self.cpu_architecture) {
            c.error(
                "moor::runtime-platform",
                &["runtime_platform", "cpu_architecture"],
                "the CPU architecture is given twice: in `cpu_architecture` and in `runtime_platform`",
                "given again",
            )
            .help = Some("keep one of them; `runtime_platform.cpu_architecture` says it beside the OS".into());
        }
        let Some(os) = rp.operating_system_family else { return };
        let os_name = serde_name_of(&os);
        if os.is_windows() && self.architecture() == Some(CpuArchitecture::Arm64) {
            c.error(
                "moor::runtime-platform",
                &["runtime_platform", "operating_system_family"],
                format!("{os_name} does not run on ARM64: ECS runs ARM64 tasks on Linux only"),
                "Windows with ARM64",
            )
            .help = Some("use `cpu_architecture: X86_64` with Windows, or `operating_system_family: LINUX`".into());
        }
        if self.launch_type != LaunchType::Fargate || !os.is_windows() {
            return;
        }
        if !os.on_fargate() {
            c.error(
                "moor::runtime-platform",
                &["runtime_platform", "operating_system_family"],
                format!("Fargate does not run {os_name}"),
                "not a Fargate OS family",
            )
            .help = Some("on Fargate: LINUX, WINDOWS_SERVER_2019_FULL, WINDOWS_SERVER_2019_CORE, WINDOWS_SERVER_2022_FULL or WINDOWS_SERVER_2022_CORE; or `launch_type: ec2`".into());
        }
        if let Some(units) = cpu.filter(|u| *u < 1024) {
            c.error(
                "moor::fargate-size",
                &["cpu"],
                format!("Windows tasks on Fargate need at least 1 vCPU (1024 units), not {units}"),
                "too small for Windows on Fargate",
            )
            .help = Some("give the task `cpu: 1024` or more, with memory to suit".into());
        }
    }

    /// Volumes as RegisterTaskDefinition takes them: names unique, of up to
    /// 255 letters, digits, hyphens and underscores; a host path or an
    /// EFS file system, not both; a host path on EC2 only (Fargate tasks
    /// have no host to bind); EFS with an access point or IAM
    /// authorization only with transit encryption, and an access point
    /// only at the file system's root (the access point sets the root).
    fn check_volumes(&self, c: &mut Checker) {
        const VOLUME: NameRule = NameRule {
            what: "volume name",
            max: 255,
            charset: alnum_hyphen_underscore,
            charset_text: "letters, digits, hyphens and underscores",
            extra: None,
        };
        let fargate = self.launch_type == LaunchType::Fargate;
        for (i, v) in self.volumes.iter().enumerate() {
            let idx = i.to_string();
            VOLUME.check(c, &["volumes", &idx, "name"], &v.name);
            if self.volumes[..i].iter().any(|o| o.name == v.name) {
                c.error(
                    "moor::task-volume",
                    &["volumes", &idx, "name"],
                    format!("two volumes are named `{}`", v.name),
                    "duplicate volume name",
                );
            }
            if v.host.is_some() && v.efs.is_some() {
                c.error(
                    "moor::task-volume",
                    &["volumes", &idx, "efs"],
                    format!("volume `{}` gives both `host` and `efs`; a volume is one or the other", v.name),
                    "with `host`",
                );
            }
            if fargate && v.host.is_some() {
                c.error(
                    "moor::task-volume",
                    &["volumes", &idx, "host", "source_path"],
                    format!("volume `{}` binds a host path, which Fargate tasks cannot", v.name),
                    "EC2 only",
                )
                .help = Some(
                    "remove `host` for a scratch volume the task's containers share, use `efs`, or `launch_type: ec2`"
                        .into(),
                );
            }
            let Some(efs) = &v.efs else { continue };
            let at = |f: &'static str| ["volumes", idx.as_str(), "efs", f];
            if efs.file_system_id.trim().is_empty() {
                c.error("moor::task-volume", &at("file_system_id"), "`file_system_id` is empty", "empty");
            }
            if let Some(port) = efs.transit_encryption_port {
                c.port(&at("transit_encryption_port"), port);
            }
            let encrypted = efs.transit_encryption == Some(Toggle::Enabled);
            let auth = efs.authorization_config.as_ref();
            if let Some(ap) = auth.and_then(|a| a.access_point_id.as_deref()) {
                if !encrypted {
                    c.error(
                        "moor::task-volume-efs",
                        &["volumes", &idx, "efs", "authorization_config", "access_point_id"],
                        format!("volume `{}` uses EFS access point `{ap}` without transit encryption", v.name),
                        "needs `transit_encryption: ENABLED`",
                    )
                    .help = Some("set `transit_encryption: ENABLED`: ECS mounts access points over TLS only".into());
                }
                if efs.root_directory.as_deref().is_some_and(|r| r != "/") {
                    c.error(
                        "moor::task-volume-efs",
                        &at("root_directory"),
                        format!(
                            "volume `{}` gives a root directory and an access point; the access point sets the root",
                            v.name
                        ),
                        "must be absent or `/` with an access point",
                    )
                    .help = Some(
                        "set the directory as the access point's root directory, and remove `root_directory`".into(),
                    );
                }
            }
            if auth.and_then(|a| a.iam) == Some(Toggle::Enabled) && !encrypted {
                c.error(
                    "moor::task-volume-efs",
                    &["volumes", &idx, "efs", "authorization_config", "iam"],
                    format!("volume `{}` uses IAM authorization without transit encryption", v.name),
                    "needs `transit_encryption: ENABLED`",
                )
                .help = Some("set `transit_encryption: ENABLED`".into());
            }
        }
    }

    /// Each container's `mount_points` name a volume of the task,
    /// `volumes_from` another container of it, and `linux_parameters`
    /// keep within what the launch type runs.
    fn check_mounts(&self, c: &mut Checker) {
        let volumes: Vec<&str> = self.volumes.iter().map(|v| v.name.as_str()).collect();
        for (i, ct) in self.containers.iter().enumerate() {
            let idx = i.to_string();
            for (j, mp) in ct.mount_points.iter().enumerate() {
                let jdx = j.to_string();
                let at = |f: &'static str| ["containers", idx.as_str(), "mount_points", jdx.as_str(), f];
                if !volumes.contains(&mp.source_volume.as_str()) {
                    c.error(
                        "moor::container-mount",
                        &at("source_volume"),
                        format!(
                            "container `{}` mounts `{}`, which is not a volume of this task",
                            ct.name, mp.source_volume
                        ),
                        "no such volume",
                    )
                    .help = Some(crate::diag::did_you_mean(&mp.source_volume, &volumes, "volume"));
                }
                if !mp.container_path.starts_with('/') && !mp.container_path.contains(":\\") {
                    c.error(
                        "moor::container-mount",
                        &at("container_path"),
                        format!("`{}` is not an absolute path", mp.container_path),
                        "expected a path like /data",
                    );
                }
                if ct.mount_points[..j].iter().any(|o| o.container_path == mp.container_path) {
                    c.error(
                        "moor::container-mount",
                        &at("container_path"),
                        format!("container `{}` mounts two volumes at `{}`", ct.name, mp.container_path),
                        "mounted here already",
                    );
                }
            }
            for (j, vf) in ct.volumes_from.iter().enumerate() {
                let jdx = j.to_string();
                let at = ["containers", idx.as_str(), "volumes_from", jdx.as_str(), "source_container"];
                if vf.source_container == ct.name {
                    c.error(
                        "moor::container-volumes-from",
                        &at,
                        format!("container `{}` takes volumes from itself", ct.name),
                        "the container itself",
                    );
                } else if !self.containers.iter().any(|t| t.name == vf.source_container) {
                    let names: Vec<&str> =
                        self.containers.iter().map(|t| t.name.as_str()).filter(|n| *n != ct.name).collect();
                    c.error(
                        "moor::container-volumes-from",
                        &at,
                        format!(
                            "container `{}` takes volumes from `{}`, which is not a container of this task",
                            ct.name, vf.source_container
                        ),
                        "no such container",
                    )
                    .help = Some(crate::diag::did_you_mean(&vf.source_container, &names, "container"));
                }
            }
            if let Some(lp) = &ct.linux_parameters {
                self.check_linux_parameters(c, &idx, &ct.name, lp);
            }
        }
    }

    /// Capabilities ECS knows, and Fargate's limits. From the ECS API
    /// Reference, `LinuxParameters` and `KernelCapabilities`
    /// (docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinuxParameters.html,
    /// …/API_KernelCapabilities.html): "Tasks launched on AWS Fargate only
    /// support adding the SYS_PTRACE kernel capability"; `devices`,
    /// `sharedMemorySize`, `tmpfs`, `maxSwap` and `swappiness` are "not
    /// supported" for tasks that use the Fargate launch type; `swappiness`
    /// is 0–100.
    fn check_linux_parameters(&self, c: &mut Checker, idx: &str, container: &str, lp: &LinuxParameters) {
        let fargate = self.launch_type == LaunchType::Fargate;
        let base = ["containers", idx, "linux_parameters"];
        if let Some(caps) = &lp.capabilities {
            for (list, names) in [("add", &caps.add), ("drop", &caps.drop)] {
                for (k, cap) in names.iter().enumerate() {
                    let kdx = k.to_string();
                    let at = [base[0], base[1], base[2], "capabilities", list, kdx.as_str()];
                    if !CAPABILITIES.contains(&cap.as_str()) {
                        c.error(
                            "moor::container-linux-parameters",
                            &at,
                            format!("`{cap}` is not a Linux capability ECS knows"),
                            "unknown capability",
                        )
                        .help = Some(crate::diag::did_you_mean(cap, CAPABILITIES, "capability"));
                    } else if fargate && list == "add" && cap != "SYS_PTRACE" {
                        c.error(
                            "moor::container-linux-parameters",
                            &at,
                            format!("container `{container}` adds capability `{cap}`; Fargate tasks may add only SYS_PTRACE"),
                            "not on Fargate",
                        )
                        .help = Some("remove it, or run the task with `launch_type: ec2`".into());
                    }
                }
            }
        }
        let ec2_only = [
            ("shared_memory_size", lp.shared_memory_size.is_some()),
            ("tmpfs", !lp.tmpfs.is_empty()),
            ("devices", !lp.devices.is_empty()),
            ("max_swap", lp.max_swap.is_some()),
            ("swappiness", lp.swappiness.is_some()),
        ];
        for (field, given) in ec2_only {
            if fargate && given {
                c.error(
                    "moor::container-linux-parameters",
                    &[base[0], base[1], base[2], field],
                    format!("container `{container}` sets `{field}`, which Fargate tasks do not support"),
                    "EC2 only",
                )
                .help = Some(format!("remove `{field}`, or run the task with `launch_type: ec2`"));
            }
        }
        if let Some(s) = lp.swappiness {
            c.range(&[base[0], base[1], base[2], "swappiness"], "swappiness", s.into(), 0, 100);
        }
        for (k, t) in lp.tmpfs.iter().enumerate() {
            if t.size == 0 {
                c.error(
                    "moor::container-linux-parameters",
                    &[base[0], base[1], base[2], "tmpfs", &k.to_string(), "size"],
                    "a tmpfs mount needs a size above 0 MiB",
                    "0",
                );
            }
        }
    }

    /// Each container's `depends_on` names another container of the task;
    /// `healthy` needs a `health_check` on that container, and `complete`
    /// or `success` a container that is not essential (ECS refuses both
    /// when it registers the task definition).
    fn check_dependencies(&self, c: &mut Checker) {
        for (i, ct) in self.containers.iter().enumerate() {
            let idx = i.to_string();
            for (j, dep) in ct.depends_on.iter().enumerate() {
                let jdx = j.to_string();
                let at = ["containers", idx.as_str(), "depends_on", jdx.as_str()];
                let Some(target) = self.containers.iter().find(|t| t.name == dep.container) else {
                    let names: Vec<&str> =
                        self.containers.iter().map(|t| t.name.as_str()).filter(|n| *n != ct.name).collect();
                    c.error(
                        "moor::container-depends-on",
                        &[at[0], at[1], at[2], at[3], "container"],
                        format!(
                            "container `{}` depends on `{}`, which is not a container of this task",
                            ct.name, dep.container
                        ),
                        "no such container",
                    )
                    .help = Some(crate::diag::did_you_mean(&dep.container, &names, "container"));
                    continue;
                };
                if target.name == ct.name {
                    c.error(
                        "moor::container-depends-on",
                        &[at[0], at[1], at[2], at[3], "container"],
                        format!("container `{}` depends on itself", ct.name),
                        "the container itself",
                    );
                    continue;
                }
                match dep.condition {
                    DependencyCondition::Healthy if target.health_check.is_none() => {
                        c.error(
                            "moor::container-depends-on",
                            &[at[0], at[1], at[2], at[3], "condition"],
                            format!(
                                "container `{}` waits for `{}` to be healthy, but `{}` has no health_check",
                                ct.name, target.name, target.name
                            ),
                            "needs a health check on that container",
                        )
                        .help = Some(format!("give container `{}` a `health_check`, or wait for `start`", target.name));
                    }
                    DependencyCondition::Complete | DependencyCondition::Success
                        if target.essential.unwrap_or(true) =>
                    {
                        c.error(
                            "moor::container-depends-on",
                            &[at[0], at[1], at[2], at[3], "condition"],
                            format!(
                                "container `{}` waits for `{}` to exit, but `{}` is essential: its exit stops the task",
                                ct.name, target.name, target.name
                            ),
                            "needs a container that is not essential",
                        )
                        .help = Some(format!("set `essential: false` on container `{}`", target.name));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The containers' memory and CPU fit the task's, as ECS requires when
    /// it registers the task definition: no container's hard limit or
    /// reservation above the task's memory, a reservation below its own hard
    /// limit, the hard limits together, and the reservations together (a
    /// container's hard limit where it has none), within the task's memory,
    /// and the containers' CPU units together within the task's.
    fn check_sizes(&self, c: &mut Checker, cpu: Option<u32>, mem: Option<u32>) {
        for (i, ct) in self.containers.iter().enumerate() {
            let idx = i.to_string();
            let name = &ct.name;
            if let (Some(m), Some(task)) = (ct.memory, mem) {
                if m > task {
                    c.error(
                        "moor::container-memory",
                        &["containers", &idx, "memory"],
                        format!("container `{name}` has a hard memory limit of {m} MiB, above the task's {task} MiB"),
                        "more than the task has",
                    )
                    .help = Some(format!("lower it to at most {task}, or give the task more `memory`"));
                }
            }
            if let (Some(r), Some(task)) = (ct.memory_reservation, mem) {
                if r > task {
                    c.error(
                        "moor::container-memory",
                        &["containers", &idx, "memory_reservation"],
                        format!("container `{name}` reserves {r} MiB of memory, above the task's {task} MiB"),
                        "more than the task has",
                    )
                    .help = Some(format!("lower it to at most {task}, or give the task more `memory`"));
                }
            }
            if let (Some(r), Some(m)) = (ct.memory_reservation, ct.memory) {
                if r >= m {
                    c.error(
                        "moor::container-memory",
                        &["containers", &idx, "memory_reservation"],
                        format!("container `{name}` reserves {r} MiB, not less than its hard limit of {m} MiB"),
                        "must be less than `memory`",
                    )
                    .help = Some("the reservation (soft limit) must be lower than `memory` (the hard limit)".into());
                }
            }
        }
        let Some(task) = mem else { return };
        let sum = |f: &dyn Fn(&Container) -> Option<u32>| -> (u64, usize) {
            let vals: Vec<u32> = self.containers.iter().filter_map(f).collect();
            (vals.iter().map(|v| u64::from(*v)).sum(), vals.len())
        };
        let (hard, n) = sum(&|ct| ct.memory);
        if n > 1 && hard > u64::from(task) {
            c.error(
                "moor::task-memory",
                &["memory"],
                format!("the containers' hard memory limits add up to {hard} MiB, above the task's {task} MiB"),
                "less than the containers need",
            )
            .help = Some(format!("give the task at least {hard} MiB, or lower the containers' `memory`"));
        }
        let (soft, n) = sum(&|ct| ct.memory_reservation.or(ct.memory));
        if n > 1 && soft > u64::from(task) && soft != hard {
            c.error(
                "moor::task-memory",
                &["memory"],
                format!("the containers' memory reservations add up to {soft} MiB, above the task's {task} MiB"),
                "less than the containers reserve",
            )
            .help = Some(format!("give the task at least {soft} MiB, or lower the containers' `memory_reservation`"));
        }
        if let Some(task_cpu) = cpu {
            let (units, n) = sum(&|ct| ct.cpu);
            if n > 0 && units > u64::from(task_cpu) {
                let path: Vec<String> = if n == 1 {
                    let i = self.containers.iter().position(|ct| ct.cpu.is_some()).unwrap_or(0);
                    vec!["containers".into(), i.to_string(), "cpu".into()]
                } else {
                    vec!["cpu".into()]
                };
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                c.error(
                    "moor::task-cpu",
                    &path,
                    format!("the containers' CPU units add up to {units}, above the task's {task_cpu}"),
                    "more CPU than the task has",
                )
                .help = Some(format!("give the task at least {units} CPU units, or lower the containers' `cpu`"));
            }
        }
    }
}

impl KindSpec for TaskDefinition {
    /// The size of each task, its architecture, and the log groups its
    /// containers write to.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        Some(crate::cost::Billing::TaskSize {
            cpu_units: self.cpu.as_ref().and_then(|c| c.cpu_units()),
            memory_mib: self.memory.as_ref().and_then(|m| m.memory_mib()),
            arm: self.architecture() == Some(CpuArchitecture::Arm64),
            log_groups: self.containers.iter().filter_map(|c| c.logs.as_ref().map(|l| l.group.as_str())).collect(),
        })
    }

    const KIND: &'static str = "ecs/task_definition";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("arn", "ARN of the current revision"),
        Attr::string("family", "family name"),
        Attr::integer("revision", "current revision number"),
    ];
    const NAMING: Option<Naming> = Some(Naming::NAMED);
    const NAME_FIELD: &'static str = "family";
    const DELETE_RANK: u8 = 1;
    const VERSIONED: bool = true;
    /// A container's command and entry point, and its health check's command.
    const ORDERED_LISTS: &'static [&'static str] = &["command", "entry_point"];
    /// A container's `secrets:` take ARNs; its `environment` entries are
    /// secrets when flagged or listed in its `sensitive`.
    const SECRETS_IN_FILE: &'static [SecretPlace] = &[
        SecretPlace::Arns { at: &["containers", "*", "secrets"] },
        SecretPlace::Entries { at: &["containers", "*", "environment"], marked: "sensitive" },
    ];

    fn given_name(&self) -> Option<&str> {
        self.family.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        self.check(c)
    }

    /// Every environment entry of every container in `containers`, named
    /// `containers.<container>.environment.<NAME>` and salted with the
    /// container's and the entry's names; sensitive when the file marks or
    /// flags it for that container, or its value (on either side) looks
    /// like a credential.
    fn secret_leaves(&self, field: &str, value: &Value) -> Vec<Leaf> {
        let mut out = Vec::new();
        if field != "containers" {
            return out;
        }
        let sensitive = sensitive_env(self);
        for (i, c) in value.as_array().into_iter().flatten().enumerate() {
            let Some(obj) = c.as_object() else { continue };
            let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
            let Some(env) = obj.get("environment").and_then(Value::as_object) else { continue };
            let mut set = sensitive.get(name).cloned().unwrap_or_default();
            let entries: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect();
            set.extend(crate::secret::flagged(entries.iter().copied()).into_keys());
            for k in env.keys() {
                out.push(Leaf {
                    at: vec![field.to_string(), i.to_string(), "environment".into(), k.clone()],
                    name: format!("containers.{name}.environment.{k}"),
                    salt: format!("{name}/{k}"),
                    sensitive: set.contains(k),
                });
            }
        }
        out
    }

    /// Which environment entries are sensitive, and how images are pinned,
    /// is moor's business, not AWS's.
    fn strip_moor_only(&self, fields: &mut crate::provider::Fields) {
        if let Some(serde_json::Value::Array(containers)) = fields.get_mut("containers") {
            for c in containers.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                c.remove("sensitive");
                c.remove("image_pinning");
            }
        }
    }

    /// Each container's image; pinned unless its `image_pinning` is `tag`.
    fn images(&self) -> Vec<crate::images::ImageUse> {
        self.containers
            .iter()
            .enumerate()
            .map(|(i, c)| crate::images::ImageUse {
                at: vec!["containers".into(), i.to_string(), "image".into()],
                image: c.image.clone(),
                pin: c.image_pinning.unwrap_or_default() == ImagePinning::Digest,
                what: format!("container `{}`", c.name),
            })
            .collect()
    }

    /// Its roles may be assumed by ECS tasks, when they are roles of the file.
    fn cross_check(&self, r: &crate::model::Resource, x: &mut crate::validate::Cross<'_>) {
        if self.execution_role.is_none()
            && self.launch_type == LaunchType::Fargate
            && !self.needs_execution_role()
            && self.pulls_from_a_private_repository_of(x.stack)
        {
            needs_execution_role_error(&mut x.checker(r), true);
        }
        for (field, value) in self.roles() {
            let Some(t) = x.target(value) else { continue };
            let crate::kinds::Spec::IamRole(role) = &t.spec else { continue };
            if trusts_ecs_tasks(&role.assumed_by.services) != Some(false) {
                continue;
            }
            let (role_name, second) = (t.name.clone(), x.span_of(&t.name, &["assumed_by"]));
            let mut c = x.checker(r);
            let d = c.error(
                "moor::role-not-assumable",
                &[field],
                format!("role `{role_name}` cannot be assumed by ECS tasks: its `assumed_by` lacks {ECS_TASKS}"),
                "ECS cannot use this role",
            );
            d.help = Some(format!("add `{ECS_TASKS}` to `assumed_by.services` of role `{role_name}`"));
            if let Some(span) = second {
                d.labels.push(crate::diag::Label { span, text: format!("who may assume `{role_name}`") });
            }
        }
    }

    /// The roles it names by ARN, read to check who may assume them.
    fn live_reads(&self) -> Vec<(Kind, &str)> {
        self.roles().into_iter().filter(|(_, v)| role_arn(v)).map(|(_, v)| (Kind::IamExistingRole, v)).collect()
    }

    /// Its roles that exist already (by ARN, or an `iam/existing_role`) may
    /// be assumed by ECS tasks.
    fn live_check(&self, r: &crate::model::Resource, x: &mut crate::checks::LiveCross<'_>) {
        use crate::checks::Answer;
        for (field, value) in self.roles() {
            let (shown, live) = if role_arn(value) {
                let name = value.rsplit('/').next().unwrap_or(value).to_string();
                match x.read(Kind::IamExistingRole, value) {
                    Answer::Found(l) => (name, l),
                    Answer::Missing => {
                        x.error(
                            r,
                            &[field],
                            format!("role `{name}` does not exist (iam:GetRole found no `{value}`)"),
                            "create the role, or name one that exists in this account",
                        );
                        continue;
                    }
                    Answer::Unknown => {
                        if let Some(e) = x.read_error(Kind::IamExistingRole, value) {
                            x.unchecked(
                                r,
                                &[field],
                                format!("could not check who may assume role `{name}`: {e}"),
                                "allow iam:GetRole to have moor check it before the apply",
                            );
                        }
                        continue;
                    }
                }
            } else {
                let Some(t) = x.target(value).filter(|t| t.kind() == Kind::IamExistingRole) else { continue };
                let Some(l) = x.live(&t.name) else { continue };
                (t.spec.given_name().unwrap_or(&t.name).to_string(), l)
            };
            // No `services` in a trust that was read: none.
            let Some(trust) = live.fields.get("assumed_by") else { continue };
            let services = trust.get("services").and_then(|s| s.as_array()).into_iter().flatten();
            let services: Vec<String> = services.filter_map(|s| s.as_str().map(str::to_string)).collect();
            if trusts_ecs_tasks(&services) == Some(false) {
                let now = if services.is_empty() { "no service".to_string() } else { services.join(", ") };
                x.error(
                    r,
                    &[field],
                    format!("role `{shown}` cannot be assumed by ECS tasks: its trust policy allows sts:AssumeRole to {now}, not {ECS_TASKS}"),
                    format!("add {ECS_TASKS} as a principal of sts:AssumeRole in the trust policy of role `{shown}`, or use another role"),
                );
            }
        }
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        const ROLES: &[Kind] = &[Kind::IamRole, Kind::IamExistingRole];
        let roles = [("execution_role", &self.execution_role), ("task_role", &self.task_role)];
        roles
            .into_iter()
            .filter_map(|(field, v)| {
                let value = v.as_deref()?;
                Some(RefRule::Kind { path: path(&[field]), value, kinds: ROLES, what: "a role" })
            })
            .collect()
    }
}

/// The service principal of ECS tasks, which a task's roles must trust.
pub const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

/// Whether a trust's services let ECS tasks assume the role; `None` when a
/// service is known only at apply.
fn trusts_ecs_tasks(services: &[String]) -> Option<bool> {
    if services.iter().any(|s| s == ECS_TASKS) {
        Some(true)
    } else if services.iter().any(|s| s.contains("${")) {
        None
    } else {
        Some(false)
    }
}

/// A name SSM Parameter Store accepts, which ECS takes in `valueFrom` for a
/// parameter in the task's region: letters, digits, `.`, `-`, `_` and `/`;
/// with a `/`, fully qualified (a leading `/`), at most 15 levels; no
/// `aws` or `ssm` prefix of any case, which no one may create (AWS's own
/// public parameters under `/aws/` may be read); at most 1011 characters.
pub fn ssm_parameter_name(v: &str) -> bool {
    let chars = !v.is_empty() && v.len() <= 1011 && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if !chars || (v.contains('/') && !v.starts_with('/')) || v.ends_with('/') {
        return false;
    }
    let levels: Vec<&str> = v.trim_start_matches('/').split('/').collect();
    let reserved = |l: &str| {
        let l = l.to_ascii_lowercase();
        (l.starts_with("aws") && !(l == "aws" && v.starts_with("/aws/"))) || l.starts_with("ssm")
    };
    levels.len() <= 15 && levels.iter().all(|l| !l.is_empty()) && !reserved(levels[0])
}

/// A role written as its ARN, not a reference.
fn role_arn(value: &str) -> bool {
    !value.contains("${") && value.starts_with("arn:") && value.contains(":role/")
}

impl TaskDefinition {
    /// Its role fields that are set: `execution_role`, `task_role`.
    fn roles(&self) -> Vec<(&'static str, &str)> {
        [("execution_role", &self.execution_role), ("task_role", &self.task_role)]
            .into_iter()
            .filter_map(|(f, v)| Some((f, v.as_deref()?)))
            .collect()
    }
}

/// The awslogs options Docker accepts together: a buffer size only in
/// non-blocking mode, and a size it reads; a date-time format or a
/// multi-line pattern, not both (the awslogs driver refuses both). `under`
/// is the path of the `logs` mapping, `who` what logs ("container `web`").
pub(crate) fn check_logs(c: &mut Checker, under: &[&str], who: &str, l: &Logs) {
    let at = |f: &'static str| {
        let mut p = under.to_vec();
        p.push(f);
        p
    };
    if let Some(size) = &l.max_buffer_size {
        if l.mode != Some(LogMode::NonBlocking) {
            c.error(
                "moor::container-logs",
                &at("max_buffer_size"),
                format!("{who} sets a log buffer size, which only `mode: non-blocking` has"),
                "no buffer in blocking mode",
            )
            .help = Some("add `mode: non-blocking`, or remove `max_buffer_size`".into());
        } else if !buffer_size(size) {
            c.error(
                "moor::container-logs",
                &at("max_buffer_size"),
                format!("`{size}` is not a buffer size"),
                "expected a size like \"25m\"",
            )
            .help = Some("a number with an optional unit: k, m or g (\"512k\", \"25m\", \"1g\")".into());
        }
    }
    if l.datetime_format.is_some() && l.multiline_pattern.is_some() {
        c.error(
            "moor::container-logs",
            &at("multiline_pattern"),
            format!("{who} gives both `datetime_format` and `multiline_pattern`; the awslogs driver takes one"),
            "with `datetime_format`",
        )
        .help = Some("keep one: both say where a multi-line message starts".into());
    }
    for (f, v) in [("datetime_format", &l.datetime_format), ("multiline_pattern", &l.multiline_pattern)] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            c.error("moor::container-logs", &at(f), format!("`{f}` is empty"), "empty");
        }
    }
}

/// A value's name as the file writes it.
fn serde_name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Sensitive environment entries: container name → entry names.
pub type Sensitive = BTreeMap<String, BTreeSet<String>>;

/// The sensitive entries of a task definition: marked, or flagged.
pub fn sensitive_env(td: &TaskDefinition) -> Sensitive {
    let mut out = Sensitive::new();
    for c in &td.containers {
        let mut set: BTreeSet<String> = c.sensitive.iter().cloned().collect();
        set.extend(crate::secret::flagged(c.environment.iter().map(|(k, v)| (k.as_str(), v.as_str()))).into_keys());
        if !set.is_empty() {
            out.insert(c.name.clone(), set);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_errors(value_from: &str) -> usize {
        let text = format!("stack: s\nresources:\n  t:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    execution_role: arn:aws:iam::123456789012:role/x\n    containers:\n      - name: web\n        image: nginx\n        secrets:\n          DB: \"{value_from}\"\n");
        let l = crate::load::load_str("t.yaml", &text, &Default::default());
        l.diags.iter().filter(|d| d.code == "moor::container-secret").count()
    }

    #[test]
    fn secrets_take_ssm_parameter_names_of_the_region() {
        for ok in [
            "/app/db_password",
            "app_db",
            "app.db-1",
            "/aws/reference/secretsmanager/db",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
        ] {
            assert_eq!(secret_errors(ok), 0, "{ok} is a parameter name or an ARN");
        }
        let long = format!("/{}", "a/".repeat(15) + "b");
        for bad in
            ["app/db", "/app/db/", "/app//db", "p@ss word!", "hunter 22", "awsdb", "/ssm/db", "/Aws2/x", "", &long]
        {
            assert_eq!(secret_errors(bad), 1, "{bad:?} is neither an SSM parameter name nor an ARN");
        }
    }

    fn codes(launch: &str, task: &str, container: &str) -> Vec<&'static str> {
        let text = format!("stack: s\nresources:\n  t:\n    kind: ecs/task_definition\n    launch_type: {launch}\n    network_mode: bridge\n{task}    containers:\n      - name: web\n        image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1\n{container}        logs:\n          group: /ecs/web\n");
        let l = crate::load::load_str("t.yaml", &text, &Default::default());
        let mut codes: Vec<&'static str> = l.diags.iter().map(|d| d.code).collect();
        codes.sort();
        codes
    }

    #[test]
    fn on_ec2_task_sizes_stream_prefix_and_execution_role_are_optional() {
        assert_eq!(codes("ec2", "", "        memory: 256\n"), Vec::<&str>::new());
        assert_eq!(codes("ec2", "", "        memory_reservation: 128\n"), Vec::<&str>::new());
        assert_eq!(codes("ec2", "    memory: 512\n", ""), Vec::<&str>::new(), "the task's memory is enough");
        assert_eq!(codes("ec2", "", ""), ["moor::container-memory"], "a container needs a memory limit somewhere");
        let secrets = "        memory: 256\n        secrets: { DB: /app/db }\n";
        assert_eq!(codes("ec2", "", secrets), ["moor::execution-role"], "secrets take the execution role on EC2 too");
        let role = "    execution_role: arn:aws:iam::123456789012:role/exec\n";
        assert_eq!(codes("ec2", role, secrets), Vec::<&str>::new());
    }

    #[test]
    fn on_fargate_task_sizes_stream_prefix_and_execution_role_stay_required() {
        assert_eq!(
            codes("fargate", "", "        memory: 256\n"),
            [
                "moor::container-logs",
                "moor::execution-role",
                "moor::fargate-network",
                "moor::task-size",
                "moor::task-size"
            ]
        );
    }

    fn volume_codes(launch: &str, volumes: &str, container: &str) -> Vec<&'static str> {
        let text = format!("stack: s\nresources:\n  t:\n    kind: ecs/task_definition\n    launch_type: {launch}\n    cpu: 256\n    memory: 512\n    volumes:\n{volumes}    containers:\n      - name: web\n        image: nginx\n{container}      - name: side\n        image: busybox\n");
        let l = crate::load::load_str("t.yaml", &text, &Default::default());
        let mut codes: Vec<&'static str> = l.diags.iter().map(|d| d.code).collect();
        codes.sort();
        codes
    }

    #[test]
    fn volumes_and_mounts_take_what_aws_takes() {
        let efs = |extra: &str| format!("      - name: shared\n        efs:\n          file_system_id: fs-1\n{extra}");
        let ap = "          authorization_config: { access_point_id: fsap-1, iam: ENABLED }\n";
        let none: Vec<&str> = Vec::new();
        let enc = format!("          transit_encryption: ENABLED\n{ap}");
        assert_eq!(volume_codes("fargate", &efs(&enc), ""), none);
        let root = format!("          transit_encryption: ENABLED\n          root_directory: /\n{ap}");
        assert_eq!(volume_codes("fargate", &efs(&root), ""), none, "`/` is the access point's root");
        assert_eq!(
            volume_codes("fargate", &efs(ap), ""),
            ["moor::task-volume-efs", "moor::task-volume-efs"],
            "the access point and IAM both need transit encryption"
        );
        let host = "      - name: logs\n        host: { source_path: /var/log }\n";
        assert_eq!(volume_codes("ec2", host, ""), none);
        assert_eq!(volume_codes("fargate", host, ""), ["moor::task-volume"]);
        let both = "      - name: x\n        host: { source_path: /x }\n        efs: { file_system_id: fs-1 }\n";
        assert_eq!(volume_codes("ec2", both, ""), ["moor::task-volume"]);
        let mounts = "        mount_points: [{ source_volume: logs, container_path: /logs, read_only: true }]\n        volumes_from: [{ source_container: side }]\n";
        assert_eq!(volume_codes("ec2", host, mounts), none);
        let relative = "        mount_points: [{ source_volume: logs, container_path: logs }]\n";
        assert_eq!(volume_codes("ec2", host, relative), ["moor::container-mount"]);
        let twice = "        mount_points: [{ source_volume: logs, container_path: /l }, { source_volume: logs, container_path: /l }]\n";
        assert_eq!(volume_codes("ec2", host, twice), ["moor::container-mount"]);
        let itself = "        volumes_from: [{ source_container: web }]\n";
        assert_eq!(volume_codes("ec2", host, itself), ["moor::container-volumes-from"]);
    }

    #[test]
    fn linux_parameters_keep_to_fargates_limits() {
        let none: Vec<&str> = Vec::new();
        let lp = |p: &str| format!("        linux_parameters:\n{p}");
        let v = "      - name: v\n";
        let ec2_only = "          shared_memory_size: 64\n          tmpfs: [{ container_path: /run, size: 64 }]\n          devices: [{ host_path: /dev/fuse, permissions: [read] }]\n          max_swap: 0\n          swappiness: 10\n          capabilities: { add: [NET_ADMIN, SYS_ADMIN] }\n";
        assert_eq!(volume_codes("ec2", v, &lp(ec2_only)), none, "EC2 takes all of it");
        assert_eq!(volume_codes("fargate", v, &lp(ec2_only)).len(), 7, "five EC2-only fields and two capabilities");
        let fargate =
            "          init_process_enabled: true\n          capabilities: { add: [SYS_PTRACE], drop: [ALL] }\n";
        assert_eq!(volume_codes("fargate", v, &lp(fargate)), none);
        let unknown = "          capabilities: { drop: [NET_RAWW] }\n";
        assert_eq!(volume_codes("ec2", v, &lp(unknown)), ["moor::container-linux-parameters"]);
        let swappy = "          swappiness: 101\n";
        assert_eq!(volume_codes("ec2", v, &lp(swappy)), ["moor::out-of-range"]);
    }

    #[test]
    fn buffer_sizes_are_what_docker_reads() {
        for ok in ["25m", "1g", "512k", "1024", "1.5m", "4 MB", "2MiB", "100kb"] {
            assert!(buffer_size(ok), "{ok}");
        }
        for bad in ["", "m", "lots", "25q", "-1m", "0", "1..5m", ".5m", "25m!"] {
            assert!(!buffer_size(bad), "{bad}");
        }
    }

    #[test]
    fn sensitive_entries_are_the_marked_and_the_flagged() {
        let text = "stack: s\nresources:\n  t:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    containers:\n      - name: web\n        image: nginx\n        sensitive: [PLAIN]\n        environment:\n          PLAIN: x\n          DB_PASSWORD: y\n          MODE: prod\n      - name: side\n        image: nginx\n        environment:\n          MODE: prod\n";
        let l = crate::load::load_str("t.yaml", text, &Default::default());
        let stack = l.stack.expect("loads");
        let crate::kinds::Spec::EcsTaskDefinition(td) = &stack.resources[0].spec else { panic!("a task definition") };
        let s = sensitive_env(td);
        let web: BTreeSet<String> = ["DB_PASSWORD".to_string(), "PLAIN".to_string()].into();
        assert_eq!(s, Sensitive::from([("web".to_string(), web)]), "no entry for a container without any");
    }

    fn task(marked: &str) -> TaskDefinition {
        let text = format!("stack: s\nresources:\n  t:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    containers:\n      - name: web\n        image: nginx\n        sensitive: [{marked}]\n        environment:\n          DB: x\n          MODE: prod\n          URL: https://u:p@h\n");
        let stack = crate::load::load_str("t.yaml", &text, &Default::default()).stack.expect("loads");
        let crate::kinds::Spec::EcsTaskDefinition(td) = &stack.resources[0].spec else { panic!("a task definition") };
        td.clone()
    }

    fn containers(db: &str) -> Value {
        serde_json::json!([{ "name": "web", "environment": { "DB": db, "MODE": "prod", "URL": "https://u:p@h" } }])
    }

    #[test]
    fn the_engine_masks_names_and_hashes_the_marked_and_flagged_entries() {
        let td = task("DB");
        let leaves = |f: &str, v: &Value| td.secret_leaves(f, v);
        let mut v = containers("plain-secret");
        crate::secret::mask("containers", &mut v, &leaves);
        let m = crate::secret::MASK;
        assert_eq!(v, serde_json::json!([{ "name": "web", "environment": { "DB": m, "MODE": "prod", "URL": m } }]));
        let (a, b) = (containers("one"), containers("two"));
        assert_eq!(
            crate::secret::changed("containers", Some(&a), Some(&b), &leaves),
            ["containers.web.environment.DB"]
        );
        assert!(td.secret_leaves("family", &a).is_empty(), "only containers hold secrets");
        let desired: crate::provider::Fields = [("containers".to_string(), a.clone())].into_iter().collect();
        let mut rec = desired.clone();
        crate::secret::hash_fields(&mut rec, &leaves, "st", "task");
        // The salt is the one records have always used: stack, resource, container, entry.
        let db = crate::secret::hash("moor/st/task/web/DB", "one");
        assert_eq!(rec["containers"][0]["environment"]["DB"], Value::String(db));
        assert!(rec["containers"][0]["environment"]["URL"].as_str().is_some_and(|u| u.starts_with("sha256:")));
        assert_eq!(crate::secret::unhash_fields(&rec, &desired, &leaves, "st", "task"), desired);
        // Unmarked, DB is plain.
        let td = task("URL");
        let mut v = containers("plain-secret");
        crate::secret::mask("containers", &mut v, &|f, v| td.secret_leaves(f, v));
        assert_eq!(v["environment"], Value::Null);
        assert_eq!(v[0]["environment"]["DB"], "plain-secret");
    }

    #[test]
    fn source_masking_finds_the_places_in_every_resource_whatever_its_kind() {
        let text = "stack: s\nresources:\n  t:\n    kind: ecs/task_defintion\n    containers:\n      - name: web\n        secrets: { K: raw-secret-value, A: \"arn:aws:ssm:r:1:parameter/p\" }\n        environment: { DB_PASSWORD: hunter22, MODE: prod }\n  u:\n    containers:\n      - environment: API_TOKEN=token-value\n      - environment: [\"KEY=list-value\"]\n";
        let root = crate::yaml::parse(text, crate::yaml::Limits::default()).unwrap();
        let (m, _) = crate::secret::mask_source(text, Some(&root)).expect("secrets to mask");
        for v in ["raw-secret-value", "hunter22", "token-value", "list-value"] {
            assert!(!m.contains(v), "{v}: {m}");
        }
        assert!(m.contains("arn:aws:ssm:r:1:parameter/p") && m.contains("MODE: prod"), "{m}");
    }

    #[test]
    fn source_masking_keeps_offsets_and_hides_values() {
        let text = "stack: s\nvariables:\n  sig: { default: sig-value }\n  other: { default: open }\nresources:\n  t:\n    kind: ecs/task_definition\n    containers:\n      - name: web\n        sensitive: [PLAIN, SIG]\n        environment:\n          PLAIN: \"not-a-pattern\"\n          SIG: ${var.sig}\n          OPEN: ${var.other}\n          DB_PASSWORD: hunter22\n          LINK: mysql://a:b@c\n          MODE: prod\n";
        let root = crate::yaml::parse(text, crate::yaml::Limits::default()).unwrap();
        let (m, hidden) = crate::secret::mask_source(text, Some(&root)).unwrap();
        assert!(
            hidden.contains(&"hunter22".to_string()) && hidden.contains(&"not-a-pattern".to_string()),
            "{hidden:?}"
        );
        assert_eq!(crate::secret::scrub_text("found string \"x hunter22\"", &hidden), "found string \"x ***\"");
        assert_eq!(m.len(), text.len());
        assert!(!m.contains("not-a-pattern") && !m.contains("hunter22") && !m.contains("a:b@"), "{m}");
        assert!(!m.contains("sig-value"), "the default of a variable that fills a sensitive entry: {m}");
        assert!(m.contains("MODE: prod") && m.contains("PLAIN: \"*") && m.contains("LINK: ****"), "{m}");
        assert!(m.contains("default: open") && m.contains("OPEN: ${var.other}"), "{m}");
        assert_eq!(crate::secret::mask_source("stack: s\n", None), None);
    }
}
