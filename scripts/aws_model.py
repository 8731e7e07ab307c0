"""AWS as it really behaves, played by scripts/latency-proxy --aws-model in
front of the emulator, which answers everything at once.

Every figure comes from scripts/aws-timings (with its source); every
duration is multiplied by the time scale (1 realistic, 0.05 in tests). The
model keeps what it learns from the requests and answers that pass through
(what was created when) and rewrites the emulator's answers, JSON and XML:

- a new load balancer is `provisioning` for lb.provisioning, then `active`
  (DescribeLoadBalancers);
- a service deployment (CreateService, or UpdateService with a new task
  definition or forceNewDeployment) starts its tasks one by one between
  service.first_task and service.all_tasks: runningCount goes from 0 to the
  desired count and the rollout from IN_PROGRESS to COMPLETED, the old
  deployment staying ACTIVE until then. A deployment whose task definition
  uses an image marked unhealthy (--unhealthy-image, or the control endpoint)
  never runs a task: its failed tasks reach the circuit breaker's threshold
  by service.all_tasks, its rollout is FAILED, and the previous deployment
  (if any) takes over again, as the rollback does;
- tasks that stop (a scale-down, DeleteService) stay registered as
  `draining` targets (DescribeTargetHealth) for the target group's
  deregistration delay; a deleted service is DRAINING that long, then
  INACTIVE; the stopped tasks' network interfaces then linger for
  eni.linger.min..max, and DeleteSecurityGroup of a group they use answers
  DependencyViolation until they are gone;
- a new IAM role is not assumable for role.propagation.min..max:
  CreateService, UpdateService and RegisterTaskDefinition naming it answer
  AWS's InvalidParameterException "ECS was unable to assume the role ...";
- each operation draws from a token bucket (bucket.<op pattern>), and a
  request that finds its bucket empty is throttled.

The model also records each wait no tool can avoid (the load balancer's
provisioning, a deployment, a drain, the interfaces' lingering) with its
start and end, for scripts/bench's critical path: GET /__proxy__/model.
It notes (does not refuse) a DeleteListener, DeleteTargetGroup or
DeleteLoadBalancer while targets drain: AWS allows it and cuts their
connections, so a test can tell a destroy that did not wait for them.
"""
import fnmatch
import json
import random
import re
import sys
import urllib.parse

ASSUME_ROLE = ("ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the "
               "role being passed has the proper trust relationship and permissions and that your IAM user has "
               "permissions to pass this role.")


def read_timings(path):
    """{name: value} of a timings file (value: float, or (capacity, refill) for buckets)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise ValueError(f"{path}:{n}: expected `name value source`, got {line!r}")
            name, value = parts[0], parts[1]
            try:
                if name.startswith("bucket."):
                    cap, _, refill = value.partition("/")
                    out[name] = (float(cap), float(refill))
                else:
                    out[name] = float(value)
            except ValueError:
                raise ValueError(f"{path}:{n}: {name}: not a number: {value!r}") from None
    for need in ("lb.provisioning", "service.first_task", "service.all_tasks", "target.deregistration_delay",
                 "eni.linger.min", "eni.linger.max", "role.propagation.min", "role.propagation.max"):
        if need not in out:
            raise ValueError(f"{path}: no figure for {need}")
    return out


def last(part):
    """The name at the end of an ARN or a name."""
    return (part or "").rsplit("/", 1)[-1]


def xml_error(code, message, service):
    rid = f"model-{random.getrandbits(64):016x}"
    if service == "ec2":
        return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()


class Deployment:
    def __init__(self, dep_id, td, desired, start, model, failing, template, tgs=()):
        self.id, self.td, self.start, self.failing = dep_id, td, start, failing
        self.tgs = list(tgs)  # the target groups its tasks register with
        self.template = dict(template or {})
        # When each task runs (failing deployments never run one).
        self.tasks = [model.task_ready(start, i, desired) for i in range(1, desired + 1)]
        self.completed = None if desired else start
        self.failed_at = start + model.s(model.t["service.all_tasks"]) if failing else None

    def running(self, now):
        return 0 if self.failing else sum(1 for t in self.tasks if t <= now)


# Deletes that cut the connections of targets still draining.
LB_DELETES = ("elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteListener",
              "elasticloadbalancing:DeleteTargetGroup")


class Service:
    def __init__(self, key, tgs, sgs):
        self.key, self.tgs, self.sgs = key, tgs, sgs
        self.deployments = []  # newest first
        self.deleted = None  # (when, drain end)


class Model:
    def __init__(self, timings, scale, seed=0, unhealthy=()):
        self.t = timings
        self.scale = scale
        self.rng = random.Random(seed)
        self.lbs = {}  # arn -> active at
        self.roles = {}  # arn -> assumable at
        self.images = {}  # task definition arn -> [image]
        self.services = {}  # (cluster, name) -> Service
        self.tg_delay = {}  # target group arn -> deregistration delay (AWS seconds)
        self.draining = {}  # target group arn -> [(count, until)]
        self.enis = {}  # security group id -> lingering until
        self.unhealthy = list(unhealthy)
        self.buckets = {}  # op -> (tokens, last refill)
        self.bucket_overrides = []  # [(op pattern, (capacity, refill))], tried first
        self.events = {}  # "what op" -> n
        self.waits = []  # [{"what", "start", "end", "after", "blocking"}]
        self.role_waits = {}  # role arn -> index of its propagation wait
        self.td_roles = {}  # task definition arn -> role arns it names
        self.seq = 0

    # -- time ---------------------------------------------------------------
    def s(self, seconds):
        """Real seconds of `seconds` of AWS time."""
        return seconds * self.scale

    def task_ready(self, start, i, n):
        first, every = self.t["service.first_task"], self.t["service.all_tasks"]
        return start + self.s(first + (every - first) * i / n)

    def between(self, lo, hi):
        return self.s(self.rng.uniform(self.t[lo], self.t[hi]))

    def note(self, what):
        self.events[what] = self.events.get(what, 0) + 1

    def wait(self, what, start, end, after=None, blocking=True, holds=False):
        """Records a wait of AWS's; its index. `after`: the index of the wait
        it cannot start before the end of; `blocking`: whether a tool has
        to wait for it (a drain after a scale-down does not hold anything);
        `holds`: whether, even so, it holds something a later delete needs
        (the interfaces of tasks stopped by an update hold their security
        group, which a destroy soon after cannot delete before they go)."""
        self.waits.append({"what": what, "start": start, "end": end, "after": after, "blocking": blocking,
                           "holds": holds})
        return len(self.waits) - 1

    def delay_of(self, tg):
        return self.tg_delay.get(tg, self.t["target.deregistration_delay"])

    # -- before forwarding ---------------------------------------------------
    def before(self, op, body, now):
        """An answer (status, [(name, value)], body) instead of forwarding, or None."""
        service = op.split(":", 1)[0]
        if self.throttled(op, now):
            self.note(f"throttled {op}")
            return "throttle"
        if op in ("ecs:CreateService", "ecs:UpdateService", "ecs:RegisterTaskDefinition"):
            text = body.decode("utf-8", "replace")
            named = set(re.findall(r"arn:aws[a-z-]*:iam::\d+:role/[\w+=,.@/-]+", text))
            for arn, at in self.roles.items():
                if now < at and arn in named:
                    self.note(f"unable to assume role {op}")
                    msg = json.dumps({"__type": "InvalidParameterException",
                                      "message": ASSUME_ROLE.format(arn=arn)}).encode()
                    return ("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                                ("x-amzn-ErrorType", "InvalidParameterException")], msg)
        if op in LB_DELETES and any(until > now for drains in self.draining.values() for _, until in drains):
            # AWS lets it happen and cuts the draining connections: noted,
            # so that a test can tell a destroy that did not wait for them.
            self.note(f"{op} while targets drain")
        if op == "ec2:DeleteSecurityGroup":
            gid = form(body).get("GroupId", [""])[0]
            if self.enis.get(gid, 0) > now:
                self.note("DependencyViolation ec2:DeleteSecurityGroup")
                return ("400 Bad Request", [("Content-Type", "text/xml;charset=UTF-8")],
                        xml_error("DependencyViolation", f"resource {gid} has a dependent object", service))
        return None

    def throttled(self, op, now):
        spec = next((v for pattern, v in self.bucket_overrides if fnmatch.fnmatchcase(op, pattern)), None)
        for name, value in ([] if spec else self.t.items()):
            if name.startswith("bucket.") and fnmatch.fnmatchcase(op, name[len("bucket."):]):
                spec = value
                break
        if spec is None:
            return False
        cap, refill = spec
        tokens, then = self.buckets.get(op, (cap, now))
        tokens = min(cap, tokens + (now - then) * refill)
        if tokens < 1:
            self.buckets[op] = (tokens, now)
            return True
        self.buckets[op] = (tokens - 1, now)
        return False

    # -- after the emulator answered ----------------------------------------
    def after(self, op, body, status, answer, now):
        """The answer as the model says AWS gives it."""
        handler = {
            "elasticloadbalancing:CreateLoadBalancer": self.created_lb,
            "elasticloadbalancing:DescribeLoadBalancers": self.describe_lbs,
            "elasticloadbalancing:ModifyTargetGroupAttributes": self.tg_attributes,
            "elasticloadbalancing:DescribeTargetHealth": self.target_health,
            "iam:CreateRole": self.created_role,
            "ecs:RegisterTaskDefinition": self.registered,
            "ecs:CreateService": self.created_service,
            "ecs:UpdateService": self.updated_service,
            "ecs:DeleteService": self.deleted_service,
            "ecs:DescribeServices": self.describe_services,
        }.get(op)
        if handler is None or not status.startswith("2"):
            return answer
        try:
            return handler(body, answer, now)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            print(f"latency-proxy: aws model: {op}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return answer

    def created_lb(self, body, answer, now):
        for arn in re.findall(rb"<LoadBalancerArn>([^<]+)</LoadBalancerArn>", answer):
            at = now + self.s(self.t["lb.provisioning"])
            self.lbs[arn.decode()] = at
            self.wait("load balancer provisioning", now, at)
        return self.describe_lbs(body, answer, now)

    def describe_lbs(self, body, answer, now):
        text = answer.decode("utf-8")
        out, pos = [], 0
        for m in re.finditer(r"<LoadBalancerArn>([^<]+)</LoadBalancerArn>", text):
            at = self.lbs.get(m.group(1))
            nxt = text.find("<LoadBalancerArn>", m.end())
            state = re.compile(r"(<State>\s*<Code>)(\w+)(</Code>)")
            s = state.search(text, m.end(), nxt if nxt >= 0 else len(text))
            if at is None or s is None:
                continue
            out.append(text[pos:s.start(2)])
            out.append("provisioning" if now < at else "active")
            pos = s.end(2)
        out.append(text[pos:])
        return "".join(out).encode("utf-8")

    def tg_attributes(self, body, answer, now):
        f = form(body)
        arn = f.get("TargetGroupArn", [None])[0]
        if arn is None:
            m = re.search(rb"<TargetGroupArn>([^<]+)</TargetGroupArn>", answer)
            arn = m.group(1).decode() if m else None
        for k, v in f.items():
            if k.startswith("Attributes.member.") and k.endswith(".Key") and v[0] == "deregistration_delay.timeout_seconds":
                value = f.get(k[:-len("Key")] + "Value", ["300"])[0]
                if arn:
                    self.tg_delay[arn] = float(value)
        return answer

    def target_health(self, body, answer, now):
        arn = form(body).get("TargetGroupArn", [""])[0]
        users = [s for s in self.services.values() if not s.deleted and any(arn in d.tgs for d in s.deployments)]
        drains = [(n, until) for n, until in self.draining.get(arn, []) if until > now]
        if not users and not drains:
            return answer
        members = []
        ip = [0]

        def member(state, reason=""):
            ip[0] += 1
            health = f"<State>{state}</State>"
            if reason:
                health += f"<Reason>{reason}</Reason>"
            members.append(f"<member><Target><Id>10.0.{ip[0] // 250}.{ip[0] % 250 + 1}</Id><Port>80</Port></Target>"
                           f"<TargetHealth>{health}</TargetHealth></member>")
        for s in users:
            for d in s.deployments:
                if not d.failing and arn in d.tgs:
                    for t in d.tasks:
                        member("healthy") if t <= now else member("initial", "Elb.RegistrationInProgress")
        for n, _ in drains:
            for _ in range(n):
                member("draining", "Target.DeregistrationInProgress")
        return ("<DescribeTargetHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
                f"<DescribeTargetHealthResult><TargetHealthDescriptions>{''.join(members)}</TargetHealthDescriptions>"
                "</DescribeTargetHealthResult><ResponseMetadata><RequestId>model</RequestId></ResponseMetadata>"
                "</DescribeTargetHealthResponse>").encode()

    def created_role(self, body, answer, now):
        m = re.search(rb"<Arn>([^<]+)</Arn>", answer)
        if m:
            arn = m.group(1).decode()
            self.roles[arn] = now + self.between("role.propagation.min", "role.propagation.max")
            self.role_waits[arn] = self.wait("role propagation", now, self.roles[arn])
        return answer

    def registered(self, body, answer, now):
        req = json.loads(body or b"{}")
        out = json.loads(answer)
        arn = out.get("taskDefinition", {}).get("taskDefinitionArn")
        if arn:
            self.images[arn] = [c.get("image", "") for c in req.get("containerDefinitions", [])]
            self.td_roles[arn] = [req[k] for k in ("executionRoleArn", "taskRoleArn") if req.get(k)]
        return answer

    def failing(self, td):
        return any(mark in image for image in self.images.get(td, []) for mark in self.unhealthy)

    def new_deployment(self, svc, td, desired, now, template):
        self.seq += 1
        dep = Deployment(f"ecs-svc/model{self.seq:016d}", td, desired, now, self, self.failing(td), template, svc.tgs)
        end = dep.failed_at if dep.failing else (max(dep.tasks) if dep.tasks else now)
        # Its tasks need the task definition's roles: after their propagation.
        roles = [self.role_waits[r] for r in self.td_roles.get(td, []) if r in self.role_waits]
        after = max(roles, key=lambda i: self.waits[i]["end"], default=None)
        self.wait("service deployment", now, end, after=after)
        svc.deployments.insert(0, dep)
        return dep

    def created_service(self, body, answer, now):
        req = json.loads(body or b"{}")
        out = json.loads(answer)
        s = out.get("service") or {}
        key = (last(s.get("clusterArn") or req.get("cluster") or "default"), s.get("serviceName"))
        tgs = [lb.get("targetGroupArn") for lb in req.get("loadBalancers", []) if lb.get("targetGroupArn")]
        sgs = (req.get("networkConfiguration") or {}).get("awsvpcConfiguration", {}).get("securityGroups", [])
        svc = Service(key, tgs, sgs)
        self.services[key] = svc
        template = (s.get("deployments") or [{}])[0]
        self.new_deployment(svc, s.get("taskDefinition") or req.get("taskDefinition"), int(req.get("desiredCount", 0)),
                            now, template)
        out["service"] = self.render(s, now)
        return json.dumps(out).encode()

    def stop_tasks(self, svc, n, now, tgs=None, blocking=False):
        """`n` running tasks of `svc` (registered with `tgs`, by default the
        service's groups) stop at `now`: they drain, then their interfaces
        linger; when the draining ends."""
        if n <= 0:
            return now
        tgs = svc.tgs if tgs is None else tgs
        delay = max([self.delay_of(tg) for tg in tgs] or [0])
        end = now + self.s(delay)
        for tg in tgs:
            self.draining.setdefault(tg, []).append((n, now + self.s(self.delay_of(tg))))
        drain = self.wait("targets draining", now, end, blocking=blocking) if tgs else None
        gone = end + self.between("eni.linger.min", "eni.linger.max")
        for sg in svc.sgs:
            self.enis[sg] = max(self.enis.get(sg, 0), gone)
        self.wait("task network interfaces lingering", end, gone, after=drain, blocking=blocking, holds=True)
        return end

    def updated_service(self, body, answer, now):
        req = json.loads(body or b"{}")
        out = json.loads(answer)
        s = out.get("service") or {}
        key = (last(s.get("clusterArn") or req.get("cluster") or "default"), s.get("serviceName"))
        svc = self.services.get(key)
        if svc is None or not svc.deployments:
            return answer
        self.settle(svc, now)
        primary = svc.deployments[0]
        desired = int(req.get("desiredCount", len(primary.tasks)))
        td = s.get("taskDefinition") or req.get("taskDefinition")
        moved = False
        if "loadBalancers" in req:
            tgs = [lb.get("targetGroupArn") for lb in req["loadBalancers"] or [] if lb.get("targetGroupArn")]
            moved, svc.tgs = sorted(tgs) != sorted(svc.tgs), tgs
        if (req.get("taskDefinition") and last(td) != last(primary.td)) or req.get("forceNewDeployment") or moved:
            self.new_deployment(svc, td, desired, now, primary.template)
        elif desired < len(primary.tasks):
            stopped = sum(1 for t in primary.tasks[desired:] if t <= now)
            del primary.tasks[desired:]
            self.stop_tasks(svc, stopped, now)
        elif desired > len(primary.tasks):
            have = len(primary.tasks)
            primary.tasks += [self.task_ready(now, i, desired - have) for i in range(1, desired - have + 1)]
            self.wait("service scaling up", now, max(primary.tasks))
        out["service"] = self.render(s, now)
        return json.dumps(out).encode()

    def deleted_service(self, body, answer, now):
        out = json.loads(answer)
        s = out.get("service") or {}
        key = (last(s.get("clusterArn") or "default"), s.get("serviceName"))
        svc = self.services.get(key)
        if svc is None or svc.deleted:
            return answer
        self.settle(svc, now)
        end = now
        for d in svc.deployments:
            end = max(end, self.stop_tasks(svc, d.running(now), now, d.tgs, blocking=True))
        svc.deleted = (now, end)
        out["service"] = self.render(s, now)
        return json.dumps(out).encode()

    def describe_services(self, body, answer, now):
        out = json.loads(answer)
        out["services"] = [self.render(s, now) for s in out.get("services", [])]
        return json.dumps(out).encode()

    # -- a service as the model sees it ---------------------------------------
    def settle(self, svc, now):
        """Rollbacks and finished deployments, up to `now`."""
        primary = svc.deployments[0]
        if primary.failing and primary.failed_at <= now and len(svc.deployments) > 1 \
                and not getattr(primary, "rolled_back", False):
            previous = svc.deployments[1]
            primary.rolled_back = True
            self.seq += 1
            back = Deployment(f"ecs-svc/model{self.seq:016d}", previous.td, 0, primary.failed_at, self, False,
                              previous.template, previous.tgs)
            back.tasks = list(previous.tasks)
            back.completed = primary.failed_at
            back.restores = previous  # the same tasks, still running
            back.reason = f"ECS deployment circuit breaker: rolling back to deploymentId {previous.id}."
            svc.deployments = [back, primary] + svc.deployments[2:]
            self.note("circuit breaker rollback")
            primary = back
        if not primary.failing and primary.completed is None and primary.tasks and max(primary.tasks) <= now:
            primary.completed = max(primary.tasks)
        if primary.completed is not None and primary.completed <= now and len(svc.deployments) > 1:
            # The old deployments' tasks stop once the new one is done.
            for old in svc.deployments[1:]:
                if not old.failing and old is not getattr(primary, "restores", None):
                    self.stop_tasks(svc, old.running(primary.completed), primary.completed, old.tgs)
            svc.deployments = [primary] + [d for d in svc.deployments[1:] if d.failing and d.failed_at > now - 1]

    def render(self, s, now):
        if not isinstance(s, dict):
            return s
        key = (last(s.get("clusterArn") or "default"), s.get("serviceName"))
        svc = self.services.get(key)
        if svc is None or not svc.deployments:
            return s
        if svc.deleted:
            _, end = svc.deleted
            draining = now < end
            s["status"] = "DRAINING" if draining else "INACTIVE"
            s["runningCount"] = sum(d.running(now) for d in svc.deployments) if draining else 0
            s["desiredCount"] = 0
            return s
        self.settle(svc, now)
        deps = []
        for i, d in enumerate(svc.deployments):
            x = dict(d.template)
            running = d.running(now)
            x.update({"id": d.id, "taskDefinition": d.td, "desiredCount": len(d.tasks), "runningCount": running,
                      "pendingCount": 0 if d.failing else len(d.tasks) - running})
            x["status"] = "PRIMARY" if i == 0 else "ACTIVE"
            if d.failing:
                first = d.start + self.s(self.t["service.first_task"])
                threshold = max(3, min(200, (len(d.tasks) + 1) // 2))
                span = max(d.failed_at - first, 1e-9)
                # The breaker trips when the count reaches its threshold:
                # below it until then.
                failed = 0 if now < first else min(threshold - 1, 1 + int((now - first) / span * threshold))
                x["failedTasks"] = threshold if now >= d.failed_at else failed
                if now >= d.failed_at:
                    x["rolloutState"] = "FAILED"
                    x["rolloutStateReason"] = ("ECS deployment circuit breaker: tasks failed to start. "
                                               "Health checks failed for the target group.")
                else:
                    x["rolloutState"] = "IN_PROGRESS"
                    x["rolloutStateReason"] = "ECS deployment in progress."
            else:
                x["failedTasks"] = 0
                done = d.completed is not None and d.completed <= now
                x["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
                x["rolloutStateReason"] = getattr(d, "reason", None) or (
                    "ECS deployment completed." if done else "ECS deployment in progress.")
            deps.append(x)
        s["deployments"] = deps
        s["taskDefinition"] = svc.deployments[0].td
        s["runningCount"] = sum(d.running(now) for d in svc.deployments)
        s["pendingCount"] = sum(x["pendingCount"] for x in deps)
        s["desiredCount"] = len(svc.deployments[0].tasks)
        return s

    # -- control ---------------------------------------------------------------
    def control(self, path, body):
        """(status, JSON answer) of a control request under /__proxy__/model."""
        if path == "/__proxy__/model":
            return "200 OK", self.state()
        spec = json.loads(body or b"{}")
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        if path == "/__proxy__/model/unhealthy":
            image = spec.get("image")
            if not isinstance(image, str) or not image:
                raise ValueError("give the image (a part of its name) whose tasks fail health checks")
            self.unhealthy.append(image)
            return "200 OK", {}
        if path == "/__proxy__/model/bucket":
            op, cap, refill = spec.get("op"), spec.get("capacity"), spec.get("refill")
            if not isinstance(op, str) or not all(isinstance(x, (int, float)) and x >= 0 for x in (cap, refill)):
                raise ValueError("give op (a pattern), capacity and refill (numbers)")
            self.bucket_overrides.insert(0, (op, (float(cap), float(refill))))
            self.buckets.clear()
            return "200 OK", {}
        return "404 Not Found", {"error": "not found"}

    def state(self):
        return {"events": self.events, "waits": self.waits, "scale": self.scale}


def critical_path(waits, since, until):
    """The longest chain of blocking waits that started in [since, until]:
    (seconds, [what]), each wait counted whole and a chain following the
    `after` links (a wait that cannot start before another ended). A wait
    an earlier phase left behind (not blocking it) that holds something this
    one must delete (`holds`: the interfaces of tasks an update stopped hold
    their security group) counts from `since` to its end."""
    inside = {i for i, w in enumerate(waits) if w["blocking"] and since <= w["start"] <= until}
    memo = {}

    def length(i):
        if i not in memo:
            w = waits[i]
            before = (0.0, [])
            if w["after"] is not None and (w["after"] in inside or waits[w["after"]]["end"] > since):
                j = w["after"]
                before = length(j) if j in inside else (max(0.0, waits[j]["end"] - since), [waits[j]["what"]])
            memo[i] = (before[0] + w["end"] - w["start"], before[1] + [w["what"]])
        return memo[i]
    def began(w):
        return waits[w["after"]]["start"] if w["after"] is not None else w["start"]
    held = [(w["end"] - since, [f'{w["what"]} (from before)'])
            for w in waits if w.get("holds") and not w["blocking"] and began(w) < since < w["end"]]
    return max([length(i) for i in inside] + held, default=(0.0, []))


def form(body):
    try:
        return urllib.parse.parse_qs((body or b"").decode("utf-8", "replace"))
    except ValueError:
        return {}
