//! The image loop: `moor ecr login`, the Docker credential helper
//! (`moor ecr credential-helper`, or moor run as `docker-credential-moor`),
//! and `moor push`.
//!
//! `moor ecr login [FILE]` does what `aws ecr get-login-password | docker
//! login` does, for the registries of the stack's repositories (without a
//! file: the credentials' own registry in the region). It writes the login
//! where Docker will look for it, in `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`), keeping every other key of that file, through
//! a temporary file renamed into place, mode 0600:
//!
//! - a `credHelpers` entry for the registry wins over everything else in
//!   Docker: one naming moor is left as it is (moor hands out fresh tokens);
//!   one naming another helper is reported and left alone (`--helper`
//!   replaces it with moor's);
//! - with a `credsStore` (Docker Desktop's `desktop`, `osxkeychain`, `pass`)
//!   Docker ignores the file's `auths` secrets, so the login is handed to
//!   `docker-credential-<store> store`, as `docker login` does, and the file
//!   gets the empty `auths` entry Docker writes beside it;
//! - otherwise the token goes into `auths` (`{"auth": base64("AWS:…")}`).
//!
//! `--helper` writes `credHelpers: {host: "moor"}` instead: Docker then
//! runs `docker-credential-moor get` at every pull and push and never
//! stores a token. The token itself is never printed.
//!
//! `moor push FILE --resource LOGICAL` tags a local image with the
//! repository's URI and pushes it, after the login, with `docker` (or
//! `podman` when there is no `docker`). Without a Docker engine it says
//! what to do instead and pushes nothing.

use crate::expr::{Piece, Target};
use crate::load::LoadOptions;
use crate::model::{Kind, Spec, Stack};
use crate::provider::aws::{sdk_err, AwsProvider};
use crate::provider::{ErrorKind, ProviderError, ProviderOptions};
use crate::render::Style;
use crate::run::{out, Failure, Outcome, RunOptions, Success};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The name of moor's credential helper in `credHelpers`: Docker runs
/// `docker-credential-moor`.
pub const HELPER: &str = "moor";

/// What Docker's credential helpers answer when they have nothing for a
/// server; Docker then goes on without credentials.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// How long an ECR token lasts.
const TOKEN_HOURS: u32 = 12;

/// The longest `docker info` (or a credential store) may take to answer.
const ENGINE_DEADLINE: Duration = Duration::from_secs(30);

// ---- registries and tokens -------------------------------------------------------------

/// The host and region of an ECR registry, from a server URL as Docker
/// gives it (`https://host`, `host`, `host:443/v2/`):
/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, or the
/// dual-stack `<account>.dkr-ecr[-fips].<region>.on.aws`.
pub fn registry_of(server: &str) -> Option<(String, String)> {
    let s = server.trim().to_ascii_lowercase();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(&s);
    let host = s.split('/').next()?.split(':').next()?.to_string();
    let labels: Vec<&str> = host.split('.').collect();
    let account = labels.first()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let region = match labels.as_slice() {
        [_, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com"]
        | [_, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com", "cn"]
        | [_, "dkr-ecr" | "dkr-ecr-fips", region, "on", "aws"] => *region,
        _ => return None,
    };
    let shaped =
        !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    shaped.then(|| (host.clone(), region.to_string()))
}

/// The host of a repository URI (`<host>/<name>`).
fn host_of_uri(uri: &str) -> Option<String> {
    registry_of(uri).map(|(host, _)| host)
}

/// An ECR login: never shown, never in a `Debug` print.
pub struct Token {
    /// `base64("AWS:<password>")`, as `auths` holds it.
    auth: String,
    user: String,
    password: String,
    /// The host of the credentials' own registry.
    own_host: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("own_host", &self.own_host).finish_non_exhaustive()
    }
}

/// `ecr:GetAuthorizationToken`: one token for every registry the
/// credentials may use in the provider's region.
async fn token(p: &AwsProvider) -> Result<Token, ProviderError> {
    const OP: &str = "ecr:GetAuthorizationToken";
    let answer = p.ecr.get_authorization_token().send().await.map_err(|e| sdk_err(OP, e))?;
    let bad = |why: &str| ProviderError::new(ErrorKind::Rejected, OP, why.to_string());
    let data = answer.authorization_data().first().ok_or_else(|| bad("the answer holds no authorization data"))?;
    let auth = data.authorization_token().ok_or_else(|| bad("the answer holds no token"))?.to_string();
    let decoded = aws_smithy_types::base64::decode(&auth).map_err(|_| bad("the token is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("the token is not text"))?;
    let (user, password) = text.split_once(':').ok_or_else(|| bad("the token is not `user:password`"))?;
    Ok(Token {
        user: user.to_string(),
        password: password.to_string(),
        own_host: data.proxy_endpoint().and_then(host_of_uri),
        auth,
    })
}

/// The live repository's URI, `None` when it does not exist.
async fn repository_uri(p: &AwsProvider, name: &str) -> Result<Option<String>, ProviderError> {
    let answer = crate::provider::aws::found(
        p.ecr
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| sdk_err("ecr:DescribeRepositories", e)),
    )?;
    Ok(answer.and_then(|a| {
        a.repositories()
            .iter()
            .find(|r| r.repository_name() == Some(name))
            .and_then(|r| r.repository_uri().map(str::to_string))
    }))
}

/// Whether a resource is an ECR repository, made or looked up.
fn is_repository(r: &crate::model::Resource) -> bool {
    matches!(r.kind(), Kind::EcrRepository | Kind::EcrExistingRepository)
}

/// The ECR repositories of a stack: (logical, name).
fn repositories(stack: &Stack) -> Vec<(String, String)> {
    stack
        .resources
        .iter()
        .filter(|r| is_repository(r))
        .filter_map(|r| r.physical_name.clone().map(|n| (r.name.clone(), n)))
        .collect()
}

fn connect_failure(e: ProviderError) -> Failure {
    Failure::Error(e.to_string())
}

async fn connect(region: Option<String>) -> Result<AwsProvider, Failure> {
    AwsProvider::connect(region, ProviderOptions::default()).await.map_err(connect_failure)
}

/// `work` beside moor's first check of the credentials
/// ([`crate::preflight`]): when the check finds that nothing can work (no
/// credentials, no endpoint), its one or two lines replace whatever the
/// work failed with. Work that succeeds does not wait for the check.
async fn checked<T>(
    p: &AwsProvider,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    use crate::preflight::Verdict;
    let mut check = std::pin::pin!(crate::preflight::check(p));
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        verdict = &mut check => match verdict {
            Verdict::Fatal(m) => Err(Failure::Error(m)),
            Verdict::Account(_) | Verdict::Unknown(_) => work.await,
        },
        done = &mut work => match done {
            Ok(v) => Ok(v),
            Err(e) => match check.await {
                Verdict::Fatal(m) => Err(Failure::Error(m)),
                Verdict::Account(_) | Verdict::Unknown(_) => Err(e),
            },
        },
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Error(format!("cannot start the async runtime: {e}")))
}

// ---- the Docker configuration ------------------------------------------------------------

/// Docker's configuration file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".docker").join("config.json")),
        None => Err("neither DOCKER_CONFIG nor HOME is set: cannot tell where Docker's config.json is".into()),
    }
}

/// The configuration as a JSON object; an absent or empty file is `{}`.
fn read_config(path: &Path) -> Result<Map<String, Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{} is not a JSON object; it was left as it is", path.display())),
        Err(e) => Err(format!("{} is not valid JSON ({e}); it was left as it is", path.display())),
    }
}

/// Writes the configuration through a temporary file renamed into place,
/// mode 0600; a symbolic link is written through (its target is replaced).
fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(config).map_err(|e| format!("cannot write JSON: {e}"))?;
    text.push('\n');
    let tmp = dir.join(format!(".config.json.moor-{}.tmp", std::process::id()));
    // Left by a run of the same process id that was killed: ours to replace.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", target.display())
    })
}

/// Where Docker will find the login of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The token in `auths`.
    Auths,
    /// The configuration's `credsStore` keeps it.
    Store(String),
    /// `credHelpers` names moor for the host: Docker asks moor each time.
    Helper,
    /// `credHelpers` names another helper for the host: Docker asks it,
    /// whatever moor writes.
    OtherHelper(String),
}

fn object_at<'a>(config: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Map<String, Value>>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(format!("`{key}` of the Docker config is not an object")),
    }
}

/// Where the login of `host` goes: `--helper` makes it moor's helper;
/// otherwise a `credHelpers` entry, then a `credsStore`, decide, as they do
/// for Docker.
pub fn route(config: &Map<String, Value>, host: &str, helper: bool) -> Result<Route, String> {
    if helper {
        return Ok(Route::Helper);
    }
    if let Some(named) = object_at(config, "credHelpers")?.and_then(|h| h.get(host)).and_then(Value::as_str) {
        return Ok(if named == HELPER { Route::Helper } else { Route::OtherHelper(named.to_string()) });
    }
    match config.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(store) => Ok(Route::Store(store.to_string())),
        None => Ok(Route::Auths),
    }
}

fn object_mut<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("an object was just put there")
}

/// The configuration after the login of `host` went its `route`; only
/// `auths` and `credHelpers` entries of that host change.
pub fn record(config: &mut Map<String, Value>, host: &str, auth: &str, route: &Route) {
    match route {
        Route::Auths => {
            object_mut(config, "auths").insert(host.to_string(), json!({ "auth": auth }));
        }
        // As `docker login` leaves it: the secret is in the store.
        Route::Store(_) => {
            object_mut(config, "auths").insert(host.to_string(), json!({}));
        }
        Route::Helper => {
            object_mut(config, "credHelpers").insert(host.to_string(), json!(HELPER));
            // A token left in `auths` is ignored from now on: it goes.
            if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
                auths.remove(host);
            }
        }
        Route::OtherHelper(_) => {}
    }
}

/// Runs a program, feeding `input` to it, and waits at most `deadline`
/// for it (it is killed then). Its output is captured.
fn run_captured(cmd: &mut Command, input: Option<&[u8]>, deadline: Duration) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(1 << 20).read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = reader(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        let _ = stdin.write_all(input);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", deadline.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The first line a program said, on stdout or stderr, without secrets.
fn first_line(o: &std::process::Output) -> String {
    let said = [&o.stderr, &o.stdout]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let line = said.lines().next().unwrap_or_default().to_string();
    crate::secret::redact(&crate::text::abbreviate(&line))
}

/// Hands the login to `docker-credential-<store> store`, as `docker login` does.
fn store_in(store: &str, host: &str, token: &Token) -> Result<(), String> {
    let program = format!("docker-credential-{store}");
    let input = json!({ "ServerURL": host, "Username": token.user, "Secret": token.password }).to_string();
    let outcome = run_captured(Command::new(&program).arg("store"), Some(input.as_bytes()), ENGINE_DEADLINE);
    let why = match outcome {
        Ok(o) if o.status.success() => return Ok(()),
        Ok(o) => format!("it failed ({}): {}", o.status, first_line(&o)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("`{program}` is not on PATH"),
        Err(e) => format!("`{program}` did not run: {e}"),
    };
    Err(why)
}

/// Whether a program of this name is on PATH, and where.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Logs in to each of `hosts` in the Docker configuration at `path`, one
/// line on stderr per host. The configuration is written once, after every
/// credential store took its login.
fn login_hosts(path: &Path, hosts: &BTreeSet<String>, token: &Token, helper: bool, s: Style) -> Result<(), Failure> {
    let mut config = read_config(path).map_err(Failure::Error)?;
    let mut changed = false;
    let shown = path.display();
    let mut lines = Vec::new();
    for host in hosts {
        let route = route(&config, host, helper).map_err(|e| Failure::Error(format!("{e} ({shown})")))?;
        match &route {
            Route::Auths => lines.push(format!(
                "{} {host} (written to {shown}; the token lasts {TOKEN_HOURS} hours)",
                s.green("Login Succeeded:")
            )),
            Route::Store(store) => {
                store_in(store, host, token).map_err(|why| {
                    Failure::Error(format!(
                        "{shown} keeps logins in the credential store `{store}` (credsStore), which did not take the login of {host}: {why}; \
                         `moor ecr login --helper` makes Docker ask moor for a token instead"
                    ))
                })?;
                lines.push(format!(
                    "{} {host} (kept by docker-credential-{store}, the credsStore of {shown}; the token lasts {TOKEN_HOURS} hours)",
                    s.green("Login Succeeded:")
                ));
            }
            Route::Helper => {
                let already = !helper
                    || config.get("credHelpers").and_then(|h| h.get(host)).and_then(Value::as_str) == Some(HELPER);
                lines.push(format!(
                    "{} {host}: Docker asks docker-credential-{HELPER} for a fresh token at each pull and push (credHelpers of {shown}{})",
                    s.green("Login Succeeded:"),
                    if already { "" } else { ", written now" }
                ));
                if on_path(&format!("docker-credential-{HELPER}")).is_none() {
                    lines.push(format!(
                        "{} docker-credential-{HELPER} is not on PATH: Docker needs it to use this entry; link it to moor \
                         (`ln -s \"$(command -v moor)\" ~/.local/bin/docker-credential-{HELPER}`, see README.md)",
                        s.yellow("warning:")
                    ));
                }
            }
            Route::OtherHelper(other) => lines.push(format!(
                "{} {shown} names the credential helper `{other}` for {host} (credHelpers), and Docker asks only \
                 docker-credential-{other} there, so nothing was written for it; remove that entry, or run \
                 `moor ecr login --helper` to make it moor's",
                s.yellow("warning:")
            )),
        }
        let before = config.clone();
        record(&mut config, host, &token.auth, &route);
        changed |= before != config;
    }
    if changed {
        write_config(path, &config).map_err(Failure::Error)?;
    }
    for l in lines {
        eprintln!("{l}");
    }
    Ok(())
}

/// `moor ecr login [FILE]`.
pub fn login_cmd(file: Option<&Path>, helper: bool, o: &RunOptions) -> Outcome {
    let stack = file.map(|f| crate::run::load(f, o)).transpose()?.map(|(s, _)| s);
    let repos = stack.as_ref().map(repositories).unwrap_or_default();
    if let (Some(f), true) = (file, repos.is_empty()) {
        return Err(Failure::Error(format!(
            "{} has no ECR repository (made or looked up), so there is no registry to log in to; \
             `moor ecr login` without a file logs in to the registry of your own account",
            f.display()
        )));
    }
    let region = stack.as_ref().and_then(|s| s.region.clone()).or_else(|| o.load.region.clone());
    let path = docker_config_path().map_err(Failure::Error)?;
    let s = Style { color: o.color };
    runtime()?.block_on(async {
        let p = connect(region).await?;
        let (uris, token) = checked(&p, async {
            let uris = futures::future::join_all(repos.iter().map(|(_, name)| repository_uri(&p, name))).await;
            let token = token(&p).await.map_err(|e| Failure::Error(e.to_string()))?;
            Ok((uris, token))
        })
        .await?;
        let mut hosts = BTreeSet::new();
        let mut own = repos.is_empty();
        for ((logical, name), uri) in repos.iter().zip(uris) {
            match uri.map_err(|e| Failure::Error(format!("reading repository `{logical}` ({name}): {e}")))? {
                Some(u) => hosts.extend(host_of_uri(&u)),
                // Not made yet: it will be in the credentials' own registry.
                None => own = true,
            }
        }
        if own {
            let host = token.own_host.clone().ok_or_else(|| {
                Failure::Error("ecr:GetAuthorizationToken named no registry (proxyEndpoint) to log in to".into())
            })?;
            hosts.insert(host);
        }
        login_hosts(&path, &hosts, &token, helper, s)
    })?;
    Ok(Success::Done)
}

// ---- the credential helper ---------------------------------------------------------------

/// What Docker asks a credential helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HelperAction {
    /// The login of the server URL on stdin, as JSON on stdout.
    Get,
    /// Nothing to keep: ECR tokens are made afresh at each `get`.
    Store,
    /// Nothing to forget.
    Erase,
    /// `{}`: moor keeps no logins.
    List,
}

impl HelperAction {
    pub fn parse(s: &str) -> Option<HelperAction> {
        <HelperAction as clap::ValueEnum>::from_str(s, false).ok()
    }
}

/// stdin, at most 64 KiB of it.
fn read_stdin() -> String {
    let mut text = String::new();
    let _ = std::io::stdin().lock().take(64 * 1024).read_to_string(&mut text);
    text
}

/// `moor ecr credential-helper ACTION`: Docker's credential helper
/// protocol. A failure goes to stderr and to stdout (where Docker reads a
/// helper's error), never with a token; exit 1.
pub fn credential_helper_cmd(action: HelperAction) -> Outcome {
    match action {
        HelperAction::Store | HelperAction::Erase => {
            read_stdin();
            Ok(Success::Done)
        }
        HelperAction::List => {
            out("{}\n")?;
            Ok(Success::Done)
        }
        HelperAction::Get => {
            let server = read_stdin().trim().to_string();
            let Some((_, region)) = registry_of(&server) else {
                out(&format!("{NOT_FOUND}\n"))?;
                return Err(Failure::Error(format!(
                    "`{}` is not an ECR registry: moor has no credentials for it",
                    crate::text::abbreviate(&server)
                )));
            };
            let got = runtime()?.block_on(async {
                let p = connect(Some(region)).await?;
                checked(&p, async { token(&p).await.map_err(|e| Failure::Error(e.to_string())) }).await
            });
            match got {
                Ok(t) => {
                    let answer = json!({ "ServerURL": server, "Username": t.user, "Secret": t.password });
                    out(&format!("{answer}\n"))?;
                    Ok(Success::Done)
                }
                Err(Failure::Error(m)) => {
                    out(&format!("{m}\n"))?;
                    Err(Failure::Error(m))
                }
                Err(other) => Err(other),
            }
        }
    }
}

// ---- moor push -----------------------------------------------------------------------------

/// What `moor push` is told.
#[derive(Debug)]
pub struct Push<'a> {
    pub file: &'a Path,
    /// The repository's logical name; `None` when the stack has only one.
    pub resource: Option<&'a str>,
    pub image: Option<&'a str>,
    pub tag: Option<&'a str>,
}

/// The repository `logical` names in the stack (without it, the stack's
/// only one): its logical name, its name, and whether moor makes it (else
/// it is looked up).
fn repository<'a>(stack: &'a Stack, logical: Option<&'a str>) -> Result<(&'a str, &'a str, bool), Failure> {
    let file = &stack.file.name;
    let repos: Vec<&str> = stack.resources.iter().filter(|r| is_repository(r)).map(|r| r.name.as_str()).collect();
    let names = repos.clone();
    let listed = || match names.len() {
        0 => "it has none".to_string(),
        _ => format!("its repositories: {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    };
    let logical = match (logical, repos.as_slice()) {
        (Some(l), _) => l,
        (None, [only]) => only,
        (None, []) => return Err(Failure::Error(format!("{file} has no ECR repository to push to"))),
        (None, _) => {
            return Err(Failure::Error(format!("which repository? give --resource LOGICAL; {file}: {}", listed())))
        }
    };
    let Some(r) = stack.resource(logical) else {
        let hint = if names.is_empty() { listed() } else { crate::diag::did_you_mean(logical, &names, "repository") };
        return Err(Failure::Error(format!("no resource `{logical}` in {file}; {hint}")));
    };
    let (line, col) = stack.file.line_col(r.key_span.start);
    let made = match r.kind() {
        Kind::EcrRepository => true,
        Kind::EcrExistingRepository => false,
        other => {
            return Err(Failure::Error(format!(
                "{file}:{line}:{col}: `{logical}` is {} {other}, not an ECR repository; {}",
                crate::text::article(other.as_str()),
                listed()
            )))
        }
    };
    let name = r.physical_name.as_deref().ok_or_else(|| {
        Failure::Error(format!("{file}:{line}:{col}: the name of repository `{logical}` is not known before apply"))
    })?;
    Ok((logical, name, made))
}

/// The tag the stack's task definitions give the repository's image
/// (`image: ${repo.uri}:v1`), the first one in file order, and every
/// other one they give; `latest` when none names one.
fn stack_tag(stack: &Stack, logical: &str) -> (String, Vec<String>) {
    let mut tags: Vec<String> = Vec::new();
    for r in &stack.resources {
        let Spec::EcsTaskDefinition(td) = &r.spec else { continue };
        for c in &td.containers {
            let Ok(pieces) = crate::expr::parse(&c.image) else { continue };
            let Some((Piece::Ref(first), rest)) = pieces.split_first() else { continue };
            let ours = matches!(&first.target, Target::Attr { resource, attribute, index: None } if resource == logical && attribute == "uri");
            let text: Option<String> =
                rest.iter().map(|p| if let Piece::Lit(l) = p { Some(l.as_str()) } else { None }).collect();
            let tag = match text.as_deref() {
                Some("") => "latest".to_string(),
                Some(t) => match t.strip_prefix(':') {
                    Some(tag) if !tag.is_empty() => tag.to_string(),
                    _ => continue,
                },
                None => continue,
            };
            if ours && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    match tags.split_first() {
        Some((first, others)) => (first.clone(), others.to_vec()),
        None => ("latest".to_string(), Vec::new()),
    }
}

/// `--tag` with its `${git.sha}`, `${git.short_sha}`, `${stack}`,
/// `${region}` and `${var.NAME}` filled in.
fn interpolate_tag(tag: &str, stack: &Stack, load: &LoadOptions) -> Result<String, Failure> {
    let bad = |why: String| Failure::Error(format!("--tag `{}`: {why}", crate::text::abbreviate(tag)));
    let pieces = crate::expr::parse(tag).map_err(|e| bad(e.message))?;
    let mut commit: Option<String> = None;
    let mut text = String::new();
    for piece in pieces {
        match piece {
            Piece::Lit(l) => text.push_str(&l),
            Piece::Ref(r) => match &r.target {
                Target::GitSha | Target::GitShortSha => {
                    if commit.is_none() {
                        let sha = crate::load::head_commit(load)
                            .map_err(|why| bad(format!("{} cannot be read: {why}", r.target)))?;
                        commit = Some(sha);
                    }
                    let sha = commit.as_deref().unwrap_or_default();
                    let short = sha.get(..7).unwrap_or(sha);
                    text.push_str(if r.target == Target::GitSha { sha } else { short });
                }
                Target::Stack => text.push_str(&stack.name),
                Target::Region => text.push_str(
                    stack.region.as_deref().ok_or_else(|| bad("`${region}` is used but no region is set".into()))?,
                ),
                Target::Partition => text.push_str(crate::expr::partition(
                    stack.region.as_deref().ok_or_else(|| bad("`${partition}` is used but no region is set".into()))?,
                )),
                Target::Var(v) => {
                    let value = stack.variables.iter().find(|x| &x.name == v).and_then(|x| x.value.as_text());
                    text.push_str(&value.ok_or_else(|| bad(format!("no variable `{v}` with a text value")))?);
                }
                Target::VarItem { name: v, index } => {
                    let value = stack.variables.iter().find(|x| &x.name == v);
                    let value = value.and_then(|x| x.value.item(*index).ok()).and_then(|x| x.as_text());
                    text.push_str(&value.ok_or_else(|| bad(format!("no variable `{v}` with a text value")))?);
                }
                Target::Attr { .. } | Target::AccountId => {
                    return Err(bad(format!(
                        "`{}` is not known here; a tag may use `${{git.sha}}`, `${{git.short_sha}}`, `${{stack}}`, `${{region}}` and `${{var.NAME}}`",
                        r.target
                    )))
                }
            },
        }
    }
    check_tag(&text).map_err(bad)?;
    Ok(text)
}

/// Docker's rule for a tag: 1-128 letters, digits, `_`, `.` and `-`, not
/// starting with `.` or `-`.
fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid image tag (1-128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)",
            crate::text::abbreviate(tag)
        ))
    }
}

/// The program that tags and pushes.
#[derive(Debug, Clone)]
struct Engine {
    name: &'static str,
    program: PathBuf,
}

/// What to do without a Docker engine: nothing was pushed.
fn no_engine(why: &str, todo: &str, local: &str, target: &str, file: &Path, s: Style) -> Failure {
    Failure::Message(format!(
        "{} cannot push: {why}\n\
         moor push tags and pushes the image with Docker (or Podman). Either\n  \
         - {todo}, then run this command again; or\n  \
         - build the image on a machine that has Docker, and push it there:\n      \
         moor ecr login {file}\n      \
         docker tag {local} {target}\n      \
         docker push {target}\n\
         Nothing was pushed.",
        s.red("error:"),
        file = file.display(),
    ))
}

/// `docker` (else `podman`) on PATH whose engine answers `info`.
fn engine(local: &str, target: &str, file: &Path, s: Style) -> Result<Engine, Failure> {
    let found = on_path("docker")
        .map(|p| Engine { name: "docker", program: p })
        .or_else(|| on_path("podman").map(|p| Engine { name: "podman", program: p }));
    let Some(e) = found else {
        return Err(no_engine(
            "no Docker engine (`docker` is not on PATH, nor `podman`)",
            "install Docker (https://docs.docker.com/get-docker/) or Podman and start it",
            local,
            target,
            file,
            s,
        ));
    };
    let answer = run_captured(Command::new(&e.program).args(["info", "--format", "{{json .}}"]), None, ENGINE_DEADLINE);
    let why = match answer {
        Ok(o) if o.status.success() => return Ok(e),
        Ok(o) => first_line(&o),
        Err(err) => err.to_string(),
    };
    Err(no_engine(
        &format!("the {} engine does not answer (`{} info` failed: {why})", e.name, e.name),
        "start it (Docker Desktop, `sudo systemctl start docker`, `colima start` or `podman machine start`)",
        local,
        target,
        file,
        s,
    ))
}

/// Runs `program args`, its output on stderr (stdout is moor's product).
fn run_shown(e: &Engine, args: &[&str]) -> Result<(), Failure> {
    let status = Command::new(&e.program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|err| Failure::Error(format!("`{} {}` did not run: {err}", e.name, args.join(" "))))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::Error(format!("`{} {}` failed ({status}); see its output above", e.name, args.join(" "))))
    }
}

/// `moor push FILE --resource LOGICAL [--image LOCAL] [--tag TAG]`: logs
/// in to the repository's registry, then `docker tag LOCAL URI:TAG` and
/// `docker push URI:TAG`; prints `URI:TAG` on stdout.
pub fn push_cmd(p: &Push, o: &RunOptions) -> Outcome {
    let s = Style { color: o.color };
    let (stack, _) = crate::run::load(p.file, o)?;
    let (logical, name, made) = repository(&stack, p.resource)?;
    let tag = match p.tag {
        Some(t) => interpolate_tag(t, &stack, &o.load)?,
        None => {
            let (tag, others) = stack_tag(&stack, logical);
            if !others.is_empty() {
                eprintln!(
                    "{} the task definitions use `{}` with the tags {tag}, {}: pushing {tag} (--tag chooses)",
                    s.yellow("note:"),
                    logical,
                    others.join(", ")
                );
            }
            check_tag(&tag).map_err(|why| {
                Failure::Error(format!("the tag of `{logical}`'s image in the task definition: {why} (--tag chooses)"))
            })?;
            tag
        }
    };
    let local = p.image.unwrap_or(name);
    let path = docker_config_path().map_err(Failure::Error)?;
    let region = stack.region.clone().or_else(|| o.load.region.clone());
    let target = runtime()?.block_on(async {
        let aws = connect(region).await?;
        let read = async {
            repository_uri(&aws, name)
                .await
                .map_err(|e| Failure::Error(format!("reading repository `{logical}` ({name}): {e}")))
        };
        let uri = checked(&aws, read).await?;
        let Some(uri) = uri else {
            let todo = if made {
                format!("`moor apply {}` creates it", p.file.display())
            } else {
                "it is looked up, not made by moor: create it, or correct its name".to_string()
            };
            return Err(Failure::Error(format!(
                "repository `{logical}` ({name}) does not exist in {}: {todo}",
                aws.region
            )));
        };
        let target = format!("{uri}:{tag}");
        let e = engine(local, &target, p.file, s)?;
        let token = token(&aws).await.map_err(|e| Failure::Error(e.to_string()))?;
        let hosts: BTreeSet<String> = host_of_uri(&uri).or(token.own_host.clone()).into_iter().collect();
        login_hosts(&path, &hosts, &token, false, s)?;
        Ok::<_, Failure>((target, e))
    });
    let (target, e) = target?;
    run_shown(&e, &["tag", local, &target])?;
    let mut push = vec!["push"];
    let config = path.display().to_string();
    // Podman reads Docker's logins only when told where they are.
    if e.name == "podman" {
        push.extend(["--authfile", &config]);
    }
    push.push(&target);
    run_shown(&e, &push)?;
    crate::trace::notice(&format!("{} {target}", s.green("Pushed:")));
    out(&format!("{target}\n"))?;
    Ok(Success::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_told_from_other_servers() {
        let host = "123456789012.dkr.ecr.eu-west-3.amazonaws.com";
        let want = Some((host.to_string(), "eu-west-3".to_string()));
        for server in [
            host,
            "https://123456789012.dkr.ecr.eu-west-3.amazonaws.com",
            &format!("{host}:443/v2/"),
            " HTTPS://123456789012.DKR.ECR.EU-WEST-3.AMAZONAWS.COM\n",
        ] {
            let got = registry_of(server);
            let server = server.to_ascii_lowercase();
            let server = server.trim();
            assert_eq!(got.as_ref().map(|g| g.1.as_str()), Some("eu-west-3"), "{server}");
            if server == host {
                assert_eq!(got, want);
            }
        }
        assert_eq!(registry_of("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").unwrap().1, "us-gov-west-1");
        assert_eq!(registry_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").unwrap().1, "cn-north-1");
        assert_eq!(registry_of("123456789012.dkr-ecr.us-east-1.on.aws").unwrap().1, "us-east-1");
        for other in [
            "https://index.docker.io/v1/",
            "ghcr.io",
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr..amazonaws.com",
            "",
        ] {
            assert_eq!(registry_of(other), None, "{other}");
        }
    }

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_login_goes_where_docker_looks_and_changes_nothing_else() {
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        // Plain: the token in `auths`, other keys and entries kept in order.
        let mut c =
            config(json!({"auths": {"ghcr.io": {"auth": "x"}}, "psFormat": "table", "currentContext": "colima"}));
        let r = route(&c, host, false).unwrap();
        assert_eq!(r, Route::Auths);
        record(&mut c, host, "QVdTOnNlY3JldA==", &r);
        assert_eq!(
            Value::Object(c),
            json!({"auths": {"ghcr.io": {"auth": "x"}, host: {"auth": "QVdTOnNlY3JldA=="}}, "psFormat": "table", "currentContext": "colima"})
        );
        // A credential store: Docker ignores `auths` secrets; the entry is left empty.
        let mut c = config(json!({"credsStore": "desktop", "auths": {host: {"auth": "old"}}}));
        let r = route(&c, host, false).unwrap();
        assert_eq!(r, Route::Store("desktop".into()));
        record(&mut c, host, "new", &r);
        assert_eq!(c["auths"][host], json!({}));
        // A helper for the host wins over the store; another one's entry is left alone.
        let c = config(json!({"credsStore": "desktop", "credHelpers": {host: "ecr-login"}}));
        assert_eq!(route(&c, host, false).unwrap(), Route::OtherHelper("ecr-login".into()));
        let c = config(json!({"credHelpers": {host: "moor"}}));
        assert_eq!(route(&c, host, false).unwrap(), Route::Helper);
        // --helper: moor's entry, and a stale token goes.
        let mut c =
            config(json!({"auths": {host: {"auth": "old"}, "ghcr.io": {}}, "credHelpers": {host: "ecr-login"}}));
        let r = route(&c, host, true).unwrap();
        record(&mut c, host, "new", &r);
        assert_eq!(Value::Object(c), json!({"auths": {"ghcr.io": {}}, "credHelpers": {host: "moor"}}));
        // A broken shape is refused, not overwritten.
        assert!(route(&config(json!({"credHelpers": []})), host, false).is_err());
    }

    #[test]
    fn tags_follow_dockers_rule() {
        for ok in ["latest", "v1.0.0-abc1234", "_x", "A.b-c_d"] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", "a b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    fn stack(text: &str) -> Stack {
        let opts =
            LoadOptions { git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()), ..Default::default() };
        let loaded = crate::load::load_str("stack.yaml", text, &opts);
        loaded.stack.unwrap_or_else(|| panic!("{:?}", loaded.diags))
    }

    const STACK: &str = "\
stack: img
region: eu-west-3
variables:
  image_tag: { default: v7 }
resources:
  repo:
    kind: ecr/repository
  other:
    kind: ecr/existing_repository
    name: shared/base
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${role.arn}
    containers:
      - name: web
        image: ${repo.uri}:${var.image_tag}
      - name: side
        image: ${other.uri}
  role:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
";

    #[test]
    fn the_default_tag_is_the_one_the_task_definition_uses() {
        let s = stack(STACK);
        assert_eq!(stack_tag(&s, "repo"), ("v7".to_string(), vec![]));
        assert_eq!(stack_tag(&s, "other").0, "latest");
        assert_eq!(stack_tag(&s, "cluster").0, "latest");
    }

    #[test]
    fn a_tag_may_name_the_commit_the_stack_and_variables() {
        let s = stack(STACK);
        let load = LoadOptions { git_sha: Some("0123456789abcdef".into()), ..Default::default() };
        let t = |tag: &str| interpolate_tag(tag, &s, &load);
        assert_eq!(t("v1.0.0-${git.short_sha}").unwrap(), "v1.0.0-0123456");
        assert_eq!(t("${git.sha}").unwrap(), "0123456789abcdef");
        assert_eq!(t("${stack}-${region}-${var.image_tag}").unwrap(), "img-eu-west-3-v7");
        let e = t("${repo.arn}").unwrap_err();
        assert!(matches!(&e, Failure::Error(m) if m.contains("${git.short_sha}")), "{e:?}");
        let e = t("v1/${git.short_sha}").unwrap_err();
        assert!(matches!(&e, Failure::Error(m) if m.contains("not a valid image tag")), "{e:?}");
    }

    #[test]
    fn a_resource_that_is_no_repository_is_named_with_its_line() {
        let s = stack(STACK);
        assert_eq!(repository(&s, Some("repo")).unwrap(), ("repo", "img/repo", true));
        assert_eq!(repository(&s, Some("other")).unwrap(), ("other", "shared/base", false));
        let Err(Failure::Error(m)) = repository(&s, Some("cluster")) else { panic!() };
        assert_eq!(
            m,
            "stack.yaml:11:3: `cluster` is an ecs/cluster, not an ECR repository; its repositories: `repo`, `other`"
        );
        let Err(Failure::Error(m)) = repository(&s, Some("rpeo")) else { panic!() };
        assert_eq!(m, "no resource `rpeo` in stack.yaml; did you mean `repo`?");
        // Without --resource: the only repository, else the question.
        let Err(Failure::Error(m)) = repository(&s, None) else { panic!() };
        assert_eq!(m, "which repository? give --resource LOGICAL; stack.yaml: its repositories: `repo`, `other`");
        let one = stack("stack: one\nregion: eu-west-3\nresources:\n  images:\n    kind: ecr/repository\n");
        assert_eq!(repository(&one, None).unwrap(), ("images", "one/images", true));
        let none = stack("stack: none\nregion: eu-west-3\nresources:\n  c:\n    kind: ecs/cluster\n");
        let Err(Failure::Error(m)) = repository(&none, None) else { panic!() };
        assert_eq!(m, "stack.yaml has no ECR repository to push to");
    }

    #[test]
    fn a_token_is_never_in_a_debug_print() {
        let t =
            Token { auth: "QVdTOnNlY3JldA==".into(), user: "AWS".into(), password: "secret".into(), own_host: None };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret") && !shown.contains("QVdT"), "{shown}");
    }
}
