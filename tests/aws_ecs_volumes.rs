//! Task volumes (scratch, EFS, host paths) and the containers' mount
//! points, volumes_from and Linux parameters against the moto emulator:
//! apply, check what ECS holds, plan again (no change, though moto fills
//! in empty lists and an EFS root directory), change a field (a new
//! revision) and destroy. Each test has its own stack name.

mod support;

use aws_sdk_ecs::types as et;
use moor::plan::Action;
use serde_json::{json, Value};
use support::{
    action, active_revisions, apply_clean, changed_fields, describe_td, destroy_all, empty, id, load, make_plan,
    provider,
};

/// The task definition as moor reads it (the plan's live fields): the
/// file's form, whatever ECS adds that is empty or its default left out.
async fn read(p: &moor::provider::aws::AwsProvider, stack: &moor::model::Stack, state: &moor::state::State) -> Value {
    let pl = make_plan(p, stack, state, false, false).await;
    let live = pl.change("task").and_then(|c| c.live.clone()).expect("the task is read");
    Value::Object(live.fields.into_iter().collect())
}

fn fargate_task(volumes: &str, web: &str) -> String {
    format!(
        "stack: ecs-volumes-fargate
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    volumes:
{volumes}    containers:
      - name: web
        image: nginx:1.27
{web}      - name: sidecar
        image: busybox:1.36
        essential: false
        mount_points:
          - source_volume: scratch
            container_path: /scratch
"
    )
}

const VOLUMES: &str = "      - name: scratch
      - name: shared
        efs:
          file_system_id: fs-0123456789abcdef0
          transit_encryption: ENABLED
          authorization_config:
            access_point_id: fsap-0123456789abcdef0
            iam: ENABLED
";

const WEB: &str = "        mount_points:
          - source_volume: shared
            container_path: /srv/shared
            read_only: true
          - source_volume: scratch
            container_path: /scratch
            read_only: false
        volumes_from:
          - source_container: sidecar
        linux_parameters:
          init_process_enabled: true
          capabilities:
            add: [SYS_PTRACE]
            drop: [NET_RAW]
";

#[tokio::test]
async fn fargate_volumes_mounts_and_linux_parameters_apply_plan_clean_change_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&fargate_task(VOLUMES, WEB), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    let vols = td.volumes();
    assert_eq!(vols.len(), 2, "{vols:?}");
    assert_eq!(vols[0].name(), Some("scratch"));
    assert!(vols[0].efs_volume_configuration().is_none() && vols[0].host().and_then(|h| h.source_path()).is_none());
    let efs = vols[1].efs_volume_configuration().expect("an EFS volume");
    assert_eq!(efs.file_system_id(), "fs-0123456789abcdef0");
    assert_eq!(efs.transit_encryption(), Some(&et::EfsTransitEncryption::Enabled));
    let auth = efs.authorization_config().unwrap();
    assert_eq!(auth.access_point_id(), Some("fsap-0123456789abcdef0"));
    assert_eq!(auth.iam(), Some(&et::EfsAuthorizationConfigIam::Enabled));
    // What moto fills in, which the read must not show as a change.
    assert_eq!(efs.root_directory(), Some("/"), "moto gives EFS volumes a root directory");
    let web = &td.container_definitions()[0];
    assert_eq!(web.mount_points().len(), 2);
    assert_eq!(web.mount_points()[0].source_volume(), Some("shared"));
    assert_eq!(web.mount_points()[0].read_only(), Some(true));
    assert_eq!(web.volumes_from()[0].source_container(), Some("sidecar"));
    let lp = web.linux_parameters().expect("linux parameters");
    assert_eq!(lp.init_process_enabled(), Some(true));
    assert_eq!(lp.capabilities().unwrap().add(), ["SYS_PTRACE"]);
    assert_eq!(lp.capabilities().unwrap().drop(), ["NET_RAW"]);
    assert!(td.container_definitions()[1].volumes_from().is_empty());
    // Read back as the file has them: no EFS root `/`, no `read_only:
    // false`, and the sidecar (which ECS gives an empty `volumesFrom`)
    // without one.
    let live = read(&p, &stack, &state).await;
    let efs = json!({
        "file_system_id": "fs-0123456789abcdef0",
        "transit_encryption": "ENABLED",
        "authorization_config": { "access_point_id": "fsap-0123456789abcdef0", "iam": "ENABLED" },
    });
    assert_eq!(live["volumes"], json!([{ "name": "scratch" }, { "name": "shared", "efs": efs }]));
    let (web, sidecar) = (&live["containers"][0], &live["containers"][1]);
    assert_eq!(web["mount_points"][1], json!({ "source_volume": "scratch", "container_path": "/scratch" }));
    assert_eq!(
        web["linux_parameters"],
        json!({ "init_process_enabled": true, "capabilities": { "add": ["SYS_PTRACE"], "drop": ["NET_RAW"] } })
    );
    assert_eq!(sidecar.get("volumes_from"), None, "{sidecar}");
    assert_eq!(sidecar.get("linux_parameters"), None, "{sidecar}");

    // Another mount path and no init process: a new revision.
    let web2 =
        WEB.replace("/srv/shared", "/srv/data").replace("init_process_enabled: true", "init_process_enabled: false");
    let changed = load(&fargate_task(VOLUMES, &web2), &[]);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    let state = apply_clean(&p, &changed, state).await;
    let new = id(&state, "task");
    assert!(new.ends_with("ecs-volumes-fargate-task:2"), "{new}");
    let web = describe_td(&p, &new).await.container_definitions()[0].clone();
    assert_eq!(web.mount_points()[0].container_path(), Some("/srv/data"));
    assert_eq!(web.linux_parameters().unwrap().init_process_enabled(), Some(false));

    // A volume removed, and web without mounts or Linux parameters: a
    // change of both fields.
    let one = "      - name: scratch\n";
    let fewer = load(&fargate_task(one, ""), &[]);
    let pl = make_plan(p.as_ref(), &fewer, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["containers", "volumes"]);
    let state = apply_clean(&p, &fewer, state).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    assert_eq!(td.volumes().len(), 1);
    assert!(td.container_definitions()[0].linux_parameters().is_none());
    // ECS gives web empty `mountPoints` and `volumesFrom`: read as none.
    let web = read(&p, &fewer, &state).await["containers"][0].clone();
    for field in ["mount_points", "volumes_from", "linux_parameters"] {
        assert_eq!(web.get(field), None, "{field} in {web}");
    }

    destroy_all(&p, &fewer, state).await;
    assert!(active_revisions(&p, "ecs-volumes-fargate-task").await.is_empty());
}

fn ec2_task(root: &str, linux: &str) -> String {
    format!(
        "stack: ecs-volumes-ec2
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    launch_type: ec2
    network_mode: bridge
    volumes:
      - name: logs
        host:
          source_path: /var/log/app
      - name: assets
        efs:
          file_system_id: fs-0123456789abcdef0
{root}    containers:
      - name: web
        image: nginx:1.27
        memory: 256
        mount_points:
          - source_volume: logs
            container_path: /var/log/nginx
          - source_volume: assets
            container_path: /usr/share/nginx/html
            read_only: true
        linux_parameters:
{linux}"
    )
}

const EC2_LINUX: &str = "          capabilities:
            add: [NET_ADMIN]
          shared_memory_size: 128
          tmpfs:
            - container_path: /run
              size: 64
              mount_options: [noexec, nosuid]
          devices:
            - host_path: /dev/fuse
              permissions: [read, write]
          max_swap: 512
          swappiness: 10
";

#[tokio::test]
async fn ec2_host_volumes_and_linux_parameters_apply_plan_clean_change_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&ec2_task("", EC2_LINUX), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    assert_eq!(td.volumes()[0].host().and_then(|h| h.source_path()), Some("/var/log/app"));
    assert_eq!(td.volumes()[1].efs_volume_configuration().unwrap().root_directory(), Some("/"));
    let lp = td.container_definitions()[0].linux_parameters().cloned().unwrap();
    assert_eq!(lp.shared_memory_size(), Some(128));
    assert_eq!(lp.tmpfs()[0].mount_options(), ["noexec", "nosuid"]);
    assert_eq!(lp.devices()[0].host_path(), "/dev/fuse");
    assert_eq!(lp.devices()[0].permissions(), [et::DeviceCgroupPermission::Read, et::DeviceCgroupPermission::Write]);
    assert_eq!((lp.max_swap(), lp.swappiness()), (Some(512), Some(10)));
    // Read back as the file has them: no EFS root `/` nor transit
    // encryption `DISABLED`, no empty `drop` list.
    let live = read(&p, &stack, &state).await;
    assert_eq!(
        live["volumes"],
        json!([
            { "name": "logs", "host": { "source_path": "/var/log/app" } },
            { "name": "assets", "efs": { "file_system_id": "fs-0123456789abcdef0" } },
        ])
    );
    assert_eq!(
        live["containers"][0]["linux_parameters"],
        json!({
            "capabilities": { "add": ["NET_ADMIN"] },
            "shared_memory_size": 128,
            "tmpfs": [{ "container_path": "/run", "size": 64, "mount_options": ["noexec", "nosuid"] }],
            "devices": [{ "host_path": "/dev/fuse", "permissions": ["read", "write"] }],
            "max_swap": 512,
            "swappiness": 10,
        })
    );

    // An EFS root directory of its own, and more swap: a new revision.
    let root = "          root_directory: /assets\n";
    let changed = load(&ec2_task(root, &EC2_LINUX.replace("max_swap: 512", "max_swap: 1024")), &[]);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["containers", "volumes"]);
    let state = apply_clean(&p, &changed, state).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    assert_eq!(td.volumes()[1].efs_volume_configuration().unwrap().root_directory(), Some("/assets"));
    assert_eq!(td.container_definitions()[0].linux_parameters().unwrap().max_swap(), Some(1024));

    // Back to the file system's root, written out as `/` (AWS's default,
    // which reads back as the file says).
    let slash = load(&ec2_task("          root_directory: /\n", EC2_LINUX), &[]);
    let pl = make_plan(p.as_ref(), &slash, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["containers", "volumes"]);
    let state = apply_clean(&p, &slash, state).await;

    destroy_all(&p, &slash, state).await;
    assert!(active_revisions(&p, "ecs-volumes-ec2-task").await.is_empty());
}
