//! The deployables under `deploy/` (the container image, Kubernetes, Azure Functions) and
//! the scenarios that drive them. None of them can run on this machine (no Docker engine,
//! no cluster, no Azure), so these tests hold their files to what matters: each JSON and
//! YAML file parses and has the keys a platform reads, the files agree with each other
//! (ports, labels, names, the schedule's period) and with the real `testfn` binary (every
//! route the function app sends requests to is served), and every script is strict bash.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::testfn;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn azure() -> PathBuf {
    deploy().join("azure-functions")
}

fn k8s() -> PathBuf {
    deploy().join("k8s")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one YAML document in `path`.
fn yaml(path: &Path) -> Yaml {
    yaml_str(&read(path), &path.display().to_string())
}

fn yaml_str(text: &str, what: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(docs.len(), 1, "{what}: one YAML document");
    docs.remove(0)
}

fn scenario(name: &str) -> toml::Table {
    let path = repo().join("scenarios").join(format!("{name}.toml"));
    read(&path)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn toml_str<'a>(table: &'a toml::Table, section: &str, key: &str) -> &'a str {
    table[section][key]
        .as_str()
        .unwrap_or_else(|| panic!("[{section}].{key} is a string"))
}

/// Seconds of a scenario duration such as "10s", "120.5s" or "500ms".
fn seconds(span: &str) -> f64 {
    let (number, scale) = if let Some(n) = span.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = span.strip_suffix('s') {
        (n, 1.0)
    } else {
        panic!("{span}: a duration in s or ms")
    };
    number.parse::<f64>().expect("a number") * scale
}

/// The host and port of an `http://HOST:PORT` URL.
fn host_port(url: &str) -> (String, u16) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let authority = rest.split('/').next().unwrap();
    let (host, port) = authority.rsplit_once(':').expect("HOST:PORT");
    (host.to_owned(), port.parse().expect("a port"))
}

// --- Azure Functions ---

/// The function app's functions: one folder with a function.json each.
const FUNCTIONS: [&str; 3] = ["api-tick", "ping", "tick"];

fn bindings(function: &str) -> Vec<Value> {
    let path = azure().join(function).join("function.json");
    json(&path)["bindings"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: a bindings array", path.display()))
        .clone()
}

/// The HTTP functions: (folder, method, route), read from their function.json.
fn http_functions() -> Vec<(String, String, String)> {
    FUNCTIONS
        .iter()
        .filter(|f| bindings(f)[0]["type"] == "httpTrigger")
        .map(|f| {
            let all = bindings(f);
            let trigger = &all[0];
            let methods = trigger["methods"].as_array().expect("methods");
            assert_eq!(methods.len(), 1, "{f}: one method");
            (
                f.to_string(),
                methods[0].as_str().unwrap().to_owned(),
                trigger["route"].as_str().expect("a route").to_owned(),
            )
        })
        .collect()
}

#[test]
fn azure_host_json_runs_harness_testfn_as_a_custom_handler() {
    let host = json(&azure().join("host.json"));
    assert_eq!(host["version"], "2.0");
    let handler = &host["customHandler"];
    assert_eq!(
        handler["description"]["defaultExecutablePath"], "harness",
        "the binary deploy.sh ships at the package's root"
    );
    let args: Vec<&str> = handler["description"]["arguments"]
        .as_array()
        .expect("customHandler.description.arguments")
        .iter()
        .map(|a| a.as_str().expect("string arguments"))
        .collect();
    assert_eq!(args.first(), Some(&"testfn"), "{args:?}");
    for arg in &args {
        // The host expands %VAR% against its own environment and removes unknown ones
        // before it adds FUNCTIONS_CUSTOMHANDLER_PORT to the handler's: the port cannot be
        // passed here, the app has to read it.
        assert!(
            !arg.contains("FUNCTIONS_CUSTOMHANDLER_PORT") && !arg.starts_with("--listen"),
            "{arg}"
        );
    }
    assert_eq!(
        handler["enableForwardingHttpRequest"], true,
        "HTTP functions reach the app as the original requests, at their own paths"
    );
    let prefix = &host["extensions"]["http"]["routePrefix"];
    assert!(prefix.is_null() || prefix == "api", "{prefix}");
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");

    let script = read(&azure().join("deploy.sh"));
    assert!(
        script.contains("\"$pkg/harness\""),
        "deploy.sh puts the binary where host.json runs it"
    );
}

/// The app settings `deploy.sh` writes for these work flags: `deploy.sh settings`.
fn azure_settings(work_args: &str) -> Vec<(String, String)> {
    let out = Command::new("bash")
        .arg(azure().join("deploy.sh"))
        .arg("settings")
        .env("HARNESS_SINK_URL", "http://192.0.2.1:4000")
        .env("HARNESS_SINK_TOKEN", "t")
        .env("HARNESS_WORK_ARGS", work_args)
        .env("HARNESS_TIMER_EPOCH_NS", "1760000000000000000")
        .env("HARNESS_TIMER_PERIOD_NS", "10000000000")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect("NAME=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn azure_settings_keep_the_apps_own_timer_off_under_the_functions_host() {
    // With driver "app" the harness's work flags carry the app's own timer; under the
    // Functions host the timer trigger is the timer, so the flags become numbering settings.
    let settings = azure_settings(
        "--items 10 --item-delay-ns 1000000000 --timer-epoch-ns 1760000000000000000 \
         --timer-period-ns 10000000000 --timer-first 6 --timer-until 42 --lease tick \
         --lease-ttl-ms 3000 --on-cancel abandon",
    );
    let get = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} in {settings:?}"))
    };
    assert_eq!(
        get("TESTFN_WORK_ARGS"),
        "--items 10 --item-delay-ns 1000000000 --on-cancel abandon"
    );
    assert_eq!(get("HARNESS_TIMER_EPOCH_NS"), "1760000000000000000");
    assert_eq!(get("HARNESS_TIMER_PERIOD_NS"), "10000000000");
    assert_eq!(get("HARNESS_TIMER_FIRST"), "6");
    assert_eq!(get("HARNESS_TIMER_UNTIL"), "42");
    assert_eq!(get("TESTFN_SINK"), "http://192.0.2.1:4000");
    for (key, _) in &settings {
        assert!(
            !key.starts_with("TESTFN_TIMER_") && !key.starts_with("TESTFN_LEASE"),
            "{key} would start the app's own timer"
        );
    }
    let plain = azure_settings("--items 3");
    assert!(plain.contains(&("TESTFN_WORK_ARGS".into(), "--items 3".into())));
}

#[test]
fn azure_functions_are_the_seed_timer_and_two_forwarded_http_functions() {
    let found: BTreeSet<String> = std::fs::read_dir(azure())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("function.json").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.to_string()).collect();
    assert_eq!(found, expected);

    let tick = bindings("tick");
    assert_eq!(tick.len(), 1, "the timer has its trigger only: {tick:?}");
    let timer = &tick[0];
    assert_eq!(timer["type"], "timerTrigger");
    assert_eq!(timer["direction"], "in");
    assert!(timer["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(timer["useMonitor"], false, "as the seed post");
    assert!(timer["runOnStartup"].is_null() || timer["runOnStartup"] == false);
    let schedule = timer["schedule"].as_str().expect("a schedule");
    let fields = ncrontab(schedule).unwrap_or_else(|e| panic!("{schedule}: {e}"));
    let period = period_secs(&fields).expect("fires every N seconds");
    assert_eq!(period, 10, "the seed workload's period");
    for name in ["azure-slot-swap", "azure-flex-rolling"] {
        let s = scenario(name);
        assert_eq!(seconds(toml_str(&s, "workload", "period")), period as f64);
        assert_eq!(
            toml_str(&s, "workload", "driver"),
            "app",
            "{name}: the Functions timer starts the work"
        );
    }

    let http = http_functions();
    assert_eq!(http.len(), 2, "{http:?}");
    for (function, method, _) in &http {
        let b = bindings(function);
        assert_eq!(
            b.len(),
            2,
            "{function}: exactly an httpTrigger and an http output"
        );
        assert_eq!(b[0]["type"], "httpTrigger");
        assert_eq!(b[0]["direction"], "in");
        assert_eq!(b[0]["authLevel"], "anonymous", "the probes carry no key");
        assert!(method == "get" || method == "post", "{function}: {method}");
        assert_eq!(b[1]["type"], "http");
        assert_eq!(b[1]["direction"], "out");
        assert!(b[1]["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
}

#[test]
fn azure_local_settings_example_is_a_custom_handler_app() {
    let settings = json(&azure().join("local.settings.json.example"));
    assert_eq!(settings["IsEncrypted"], false);
    let values = settings["Values"].as_object().expect("Values");
    assert!(values["FUNCTIONS_WORKER_RUNTIME"]
        .as_str()
        .is_some_and(|r| r.eq_ignore_ascii_case("custom")));
    for key in ["AzureWebJobsStorage", "TESTFN_VERSION", "TESTFN_SINK"] {
        assert!(values.contains_key(key), "{key}");
    }
    assert!(
        !azure().join("local.settings.json").exists(),
        "local.settings.json holds secrets: only the .example is kept"
    );
}

/// The sets of values an NCRONTAB expression's six fields allow:
/// `{second} {minute} {hour} {day} {month} {day-of-week}`.
fn ncrontab(expr: &str) -> Result<Vec<BTreeSet<u32>>, String> {
    const RANGES: [(u32, u32); 6] = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)];
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!("{} fields, NCRONTAB has 6", fields.len()));
    }
    let mut sets = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let (lo, hi) = RANGES[i];
        let number = |s: &str| -> Result<u32, String> {
            let upper = s.to_ascii_uppercase();
            let named = match i {
                4 => MONTHS
                    .iter()
                    .position(|m| *m == upper)
                    .map(|p| p as u32 + 1),
                5 => DAYS.iter().position(|d| *d == upper).map(|p| p as u32),
                _ => None,
            };
            let n = match named {
                Some(n) => n,
                None => s.parse().map_err(|_| format!("{s:?} in field {}", i + 1))?,
            };
            if (lo..=hi).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{n} outside {lo}-{hi} in field {}", i + 1))
            }
        };
        let mut set = BTreeSet::new();
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("step {s:?}"))?),
                None => (part, 1),
            };
            if step == 0 {
                return Err(format!("step 0 in {part:?}"));
            }
            let (from, to) = if range == "*" {
                (lo, hi)
            } else if let Some((a, b)) = range.split_once('-') {
                (number(a)?, number(b)?)
            } else if part.contains('/') {
                (number(range)?, hi)
            } else {
                let n = number(range)?;
                (n, n)
            };
            if from > to {
                return Err(format!("empty range {part:?}"));
            }
            set.extend((from..=to).step_by(step as usize));
        }
        sets.push(set);
    }
    Ok(sets)
}

/// The period in seconds of a schedule that fires every N seconds of every minute, hour and
/// day: its seconds evenly spaced, dividing the minute, and every other field unrestricted.
fn period_secs(fields: &[BTreeSet<u32>]) -> Option<u32> {
    let full = [60, 24, 31, 12, 7];
    if fields[1..].iter().zip(full).any(|(set, n)| set.len() != n) {
        return None;
    }
    let seconds: Vec<u32> = fields[0].iter().copied().collect();
    let step = if seconds.len() == 1 {
        60
    } else {
        seconds[1] - seconds[0]
    };
    let even = seconds.windows(2).all(|w| w[1] - w[0] == step);
    (even && 60 % step == 0 && seconds.len() as u32 * step == 60).then_some(step)
}

#[test]
fn the_schedule_check_rejects_what_the_host_would() {
    assert!(ncrontab("*/10 * * * *").is_err(), "5-field cron");
    assert!(ncrontab("*/0 * * * * *").is_err());
    assert!(ncrontab("61 * * * * *").is_err());
    assert!(ncrontab("* * * 0 * *").is_err(), "days start at 1");
    assert!(ncrontab("0 0 9 * * MON-FRI").is_ok());
    assert_eq!(period_secs(&ncrontab("0,30 * * * * *").unwrap()), Some(30));
    assert_eq!(period_secs(&ncrontab("0 * * * * *").unwrap()), Some(60));
    assert_eq!(period_secs(&ncrontab("*/7 * * * * *").unwrap()), None);
    assert_eq!(period_secs(&ncrontab("*/10 * 9 * * *").unwrap()), None);
}

/// The standalone `testfn`, killed on drop.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_testfn() -> Running {
    // A sink address where nothing listens: nothing these requests start can submit.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(testfn())
        .args(["--listen", "127.0.0.1:0", "--version", "A", "--instance"])
        .args(["deployables-0", "--sink", sink.as_str()])
        .args(["--items", "1", "--item-delay-ns", "1000000"])
        .args(["--submit-timeout-ms", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("testfn starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().to_owned();
    assert!(!addr.is_empty(), "testfn prints its address first");
    Running {
        child,
        base: format!("http://{addr}"),
    }
}

#[tokio::test]
async fn every_route_the_function_app_sends_to_is_served_by_testfn() {
    let app = start_testfn();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // HTTP functions are forwarded at /api/<route> (enableForwardingHttpRequest); the timer
    // is a POST to /<function name>. An empty JSON object is no valid invocation, so nothing
    // runs: the route only has to exist for the method (not 404, not 405).
    let mut requests: Vec<(String, String, String)> = http_functions()
        .into_iter()
        .map(|(function, method, route)| (function, method, format!("/api/{route}")))
        .collect();
    requests.push(("tick".into(), "post".into(), "/tick".into()));
    for (function, method, path) in requests {
        let url = format!("{}{path}", app.base);
        let request = match method.as_str() {
            "get" => client.get(url.as_str()),
            "post" => client
                .post(url.as_str())
                .header("content-type", "application/json")
                .body("{}"),
            other => panic!("{function}: method {other}"),
        };
        let status = request.send().await.expect("testfn answers").status();
        assert!(
            status != reqwest::StatusCode::NOT_FOUND
                && status != reqwest::StatusCode::METHOD_NOT_ALLOWED,
            "{function}/function.json sends {} {path}: testfn answers {status}",
            method.to_uppercase()
        );
    }
    let ping: Value = client
        .get(format!("{}/api/ping", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("/api/ping answers JSON");
    assert_eq!(ping["version"], "A", "{ping}");
    assert_eq!(ping["instance"], "deployables-0", "{ping}");
    assert!(ping["slot"].is_string(), "{ping}");
}

// --- Kubernetes ---

fn container(deployment: &Yaml) -> &Yaml {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container port a Service's or probe's `port` names: a number, or a port's name.
fn resolve_port(container: &Yaml, port: &Yaml) -> i64 {
    let ports = container["ports"].as_vec().expect("container ports");
    match port {
        Yaml::Integer(n) => {
            assert!(ports
                .iter()
                .any(|p| p["containerPort"].as_i64() == Some(*n)));
            *n
        }
        Yaml::String(name) => ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .and_then(|p| p["containerPort"].as_i64())
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("a port: {other:?}"),
    }
}

fn env_var<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    container["env"]
        .as_vec()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("env {name}"))
}

/// Seconds the preStop hook sleeps: the `sleep` action, or an `exec` of sleep.
fn pre_stop_sleep(container: &Yaml) -> i64 {
    let hook = &container["lifecycle"]["preStop"];
    assert!(!hook.is_badvalue(), "a preStop hook");
    if let Some(s) = hook["sleep"]["seconds"].as_i64() {
        return s;
    }
    let command: Vec<&str> = hook["exec"]["command"]
        .as_vec()
        .expect("preStop sleep or exec")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let words: Vec<&str> = command.last().unwrap().split_whitespace().collect();
    match (command.as_slice(), words.as_slice()) {
        (["sleep", n], _) | ([_, "-c", _], ["sleep", n]) => n.parse().expect("seconds"),
        _ => panic!("preStop exec is not a sleep: {command:?}"),
    }
}

fn labels(map: &Yaml) -> Vec<(String, String)> {
    map.as_hash()
        .expect("a label map")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn k8s_deployment_and_service_fit_together_and_drain_before_sigterm() {
    let d = yaml(&k8s().join("deployment.yaml"));
    let s = yaml(&k8s().join("service.yaml"));
    assert_eq!(d["apiVersion"].as_str(), Some("apps/v1"));
    assert_eq!(d["kind"].as_str(), Some("Deployment"));
    assert_eq!(s["apiVersion"].as_str(), Some("v1"));
    assert_eq!(s["kind"].as_str(), Some("Service"));
    // platform.sh names both `testfn`, and the container too.
    assert_eq!(d["metadata"]["name"].as_str(), Some("testfn"));
    assert_eq!(s["metadata"]["name"].as_str(), Some("testfn"));

    let pod_labels = labels(&d["spec"]["template"]["metadata"]["labels"]);
    let selector = labels(&d["spec"]["selector"]["matchLabels"]);
    assert!(!selector.is_empty());
    for label in &selector {
        assert!(
            pod_labels.contains(label),
            "the selector matches the pods: {label:?}"
        );
    }
    assert_eq!(
        labels(&s["spec"]["selector"]),
        selector,
        "the Service selects exactly the Deployment's pods"
    );

    let c = container(&d);
    assert_eq!(c["name"].as_str(), Some("testfn"));
    let service_ports = s["spec"]["ports"].as_vec().expect("service ports");
    assert_eq!(service_ports.len(), 1);
    let target = resolve_port(c, &service_ports[0]["targetPort"]);
    assert_eq!(target, i64::from(dockerfile_facts().expose));
    let probe = &c["readinessProbe"]["httpGet"];
    assert_eq!(probe["path"].as_str(), Some("/health"));
    assert_eq!(resolve_port(c, &probe["port"]), target);

    let spec = &d["spec"]["template"]["spec"];
    let grace = spec["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds");
    let sleep = pre_stop_sleep(c);
    let k = scenario("k8s-rolling");
    let items = k["workload"]["items"].as_integer().expect("items");
    let run = items as f64 * seconds(toml_str(&k, "workload", "item_delay"));
    assert!(
        grace as f64 > sleep as f64 + run,
        "the grace period ({grace} s) counts the preStop sleep ({sleep} s) and must leave \
         one whole run ({run} s) after it"
    );

    let strategy = &d["spec"]["strategy"];
    assert_eq!(strategy["type"].as_str(), Some("RollingUpdate"));
    let zero = |v: &Yaml| v.as_i64() == Some(0) || v.as_str() == Some("0%");
    let (surge, unavailable) = (
        &strategy["rollingUpdate"]["maxSurge"],
        &strategy["rollingUpdate"]["maxUnavailable"],
    );
    assert!(!surge.is_badvalue() && !unavailable.is_badvalue());
    assert!(
        !(zero(surge) && zero(unavailable)),
        "a rollout must be able to move"
    );

    assert_eq!(
        env_var(c, "TESTFN_INSTANCE")["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.name")
    );
    assert!(env_var(c, "TESTFN_VERSION")["value"].as_str().is_some());
    let sources: Vec<&str> = c["envFrom"]
        .as_vec()
        .expect("envFrom")
        .iter()
        .map(|e| {
            e["configMapRef"]["name"]
                .as_str()
                .or_else(|| e["secretRef"]["name"].as_str())
                .unwrap()
        })
        .collect();
    let script = read(&k8s().join("platform.sh"));
    for name in sources {
        assert!(
            script.contains(&format!("create configmap {name}"))
                || script.contains(&format!("create secret generic {name}")),
            "platform.sh writes {name}"
        );
    }
    assert!(script.contains("--containers=testfn") && script.contains(r#"\"name\":\"testfn\""#));

    assert_eq!(
        spec["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    assert_eq!(
        spec["securityContext"]["runAsUser"].as_i64(),
        Some(i64::from(dockerfile_facts().uid)),
        "the image's USER"
    );
}

#[test]
fn k8s_render_sets_exactly_the_marked_lines() {
    let original = yaml(&k8s().join("deployment.yaml"));
    let render = |envs: &[(&str, &str)]| -> Yaml {
        let out = Command::new("bash")
            .arg(k8s().join("platform.sh"))
            .arg("render")
            .env_remove("HARNESS_WORK_ARGS")
            .env_remove("K8S_IMAGE")
            .envs(envs.iter().copied())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        yaml_str(
            &String::from_utf8(out.stdout).unwrap(),
            "platform.sh render",
        )
    };

    let rendered = render(&[
        ("HARNESS_FROM", "B\"q"),
        ("HARNESS_INSTANCES", "5"),
        ("K8S_IMAGE", "registry.example/testfn:1"),
        ("HARNESS_WORK_ARGS", "--items 7  --item-delay-ns 5"),
    ]);
    let mut expected = original.clone();
    expected["spec"]["replicas"] = Yaml::Integer(5);
    let c = &mut expected["spec"]["template"]["spec"]["containers"][0];
    c["image"] = Yaml::String("registry.example/testfn:1".into());
    c["args"] = Yaml::Array(
        ["--items", "7", "--item-delay-ns", "5"]
            .map(|a| Yaml::String(a.into()))
            .to_vec(),
    );
    c["env"][0]["value"] = Yaml::String("B\"q".into());
    assert_eq!(rendered, expected);

    let plain = render(&[("HARNESS_FROM", "A"), ("HARNESS_INSTANCES", "3")]);
    assert_eq!(plain, original, "the file's own values are the defaults");
}

#[test]
fn k8s_kind_cluster_publishes_the_node_port_at_the_scenario_url() {
    let kind = yaml(&k8s().join("kind-cluster.yaml"));
    let service = yaml(&k8s().join("service.yaml"));
    let mapping = &kind["nodes"][0]["extraPortMappings"][0];
    assert_eq!(
        mapping["containerPort"].as_i64(),
        service["spec"]["ports"][0]["nodePort"].as_i64()
    );
    let (host, port) = host_port(toml_str(&scenario("k8s-rolling"), "platform", "url"));
    assert_eq!(mapping["hostPort"].as_i64(), Some(i64::from(port)));
    assert_eq!(mapping["listenAddress"].as_str(), Some(host.as_str()));
}

// --- The container image ---

/// One build stage: its base image, its name, and its instructions (keyword, arguments)
/// with comments dropped and continuation lines joined.
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

fn dockerfile_stages() -> Vec<Stage> {
    let text = read(&deploy().join("Dockerfile"));
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in logical {
        let (keyword, args) = instruction
            .split_once(' ')
            .unwrap_or((instruction.as_str(), ""));
        let (keyword, args) = (keyword.to_ascii_uppercase(), args.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                other => panic!("FROM {other:?}"),
            };
            stages.push(Stage {
                base: words[0].to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("FROM first")
                .instructions
                .push((keyword, args));
        }
    }
    stages
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions
            .iter()
            .filter(move |(k, _)| k == keyword)
            .map(|(_, a)| a.as_str())
    }

    /// Each COPY's (--from stage, sources, destination).
    fn copies(&self) -> Vec<(Option<String>, Vec<String>, String)> {
        self.all("COPY")
            .map(|args| {
                let mut from = None;
                let mut paths = Vec::new();
                for word in args.split_whitespace() {
                    if let Some(f) = word.strip_prefix("--from=") {
                        from = Some(f.to_owned());
                    } else if !word.starts_with("--") {
                        paths.push(word.to_owned());
                    }
                }
                let dest = paths.pop().expect("a destination");
                (from, paths, dest)
            })
            .collect()
    }
}

/// What other files must agree with: the runtime's user id and exposed port.
struct DockerFacts {
    uid: u32,
    expose: u16,
}

fn dockerfile_facts() -> DockerFacts {
    let stages = dockerfile_stages();
    let runtime = stages.last().unwrap();
    let user = runtime
        .all("USER")
        .last()
        .expect("a USER in the runtime stage");
    let uid = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER (runAsNonRoot can only check numbers)");
    let expose: Vec<&str> = runtime.all("EXPOSE").collect();
    assert_eq!(expose.len(), 1, "one EXPOSE: {expose:?}");
    DockerFacts {
        uid,
        expose: expose[0].trim_end_matches("/tcp").parse().expect("a port"),
    }
}

#[test]
fn dockerfile_builds_both_binaries_and_runs_them_as_non_root_elsewhere() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a builder and a runtime stage");
    let builder = stages
        .iter()
        .find(|s| s.name.as_deref() == Some("builder"))
        .expect("a stage named builder");
    let tag = builder
        .base
        .strip_prefix("rust:")
        .expect("the builder is a rust image");
    let workspace: toml::Table = read(&repo().join("Cargo.toml")).parse().unwrap();
    let msrv = workspace["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let tag_version = tag.split('-').next().unwrap();
    assert!(
        tag_version == "1" || tag_version == "latest" || version(tag_version) >= version(msrv),
        "rust:{tag} is older than the workspace's rust-version {msrv}"
    );

    let build = builder
        .all("RUN")
        .filter(|r| r.contains("cargo build"))
        .last()
        .expect("a cargo build");
    for flag in ["--release", "--locked", "-p harness", "-p sink"] {
        assert!(build.contains(flag), "{flag} in: {build}");
    }
    for binary in ["target/release/harness", "target/release/sink"] {
        assert!(build.contains(binary), "{binary} kept from: {build}");
    }
    // Cargo reads the whole workspace before it builds a package: every member's manifest
    // has to be in the dependency layer.
    let copied: Vec<String> = builder
        .copies()
        .into_iter()
        .flat_map(|(_, sources, _)| sources)
        .collect();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    for member in members {
        let manifest = format!("{}/Cargo.toml", member.as_str().unwrap());
        assert!(copied.contains(&manifest), "{manifest} is copied");
    }
    assert!(copied.iter().any(|c| c == "Cargo.lock"));

    let runtime = stages.last().unwrap();
    let earlier: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
    assert!(
        !runtime.base.starts_with("rust") && !earlier.contains(&runtime.base.as_str()),
        "the runtime is not the builder image: {}",
        runtime.base
    );
    assert_eq!(runtime.base, "debian:bookworm-slim");
    let from_builder: Vec<String> = runtime
        .copies()
        .into_iter()
        .filter(|(from, _, _)| from.as_deref() == Some("builder"))
        .flat_map(|(_, sources, _)| sources)
        .collect();
    for binary in ["harness", "sink"] {
        assert!(
            from_builder
                .iter()
                .any(|s| s.ends_with(&format!("/{binary}"))),
            "{binary} copied from the builder: {from_builder:?}"
        );
    }

    let facts = dockerfile_facts();
    assert_ne!(facts.uid, 0, "not root");
    let entrypoint: Vec<String> = serde_json::from_str(
        runtime
            .all("ENTRYPOINT")
            .last()
            .expect("an ENTRYPOINT (exec form)"),
    )
    .expect("ENTRYPOINT in exec form");
    let (_, sources, _) = runtime
        .copies()
        .into_iter()
        .find(|(from, _, dest)| from.is_none() && *dest == entrypoint[0])
        .expect("the entrypoint script is copied in");
    let script = read(&repo().join(&sources[0]));
    assert!(script.contains("harness testfn --listen"), "{script}");
    assert!(script.contains(&format!(":-0.0.0.0:{}", facts.expose)));
    for var in ["TESTFN_VERSION", "TESTFN_INSTANCE", "TESTFN_SINK"] {
        assert!(script.contains(var), "the entrypoint handles {var}");
    }
}

#[test]
fn the_dockerignore_sits_where_buildkit_reads_it_and_keeps_the_build_inputs() {
    // BuildKit reads <Dockerfile>.dockerignore for `docker build -f deploy/Dockerfile .`; a
    // .dockerignore inside deploy/ would never be read (the context is the repository).
    assert!(!deploy().join(".dockerignore").exists());
    let patterns: Vec<String> = read(&deploy().join("Dockerfile.dockerignore"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for needed in ["target", "runs"] {
        assert!(patterns.iter().any(|p| p == needed), "{needed} ignored");
    }
    let ignored = |path: &str| {
        patterns.iter().any(|p| {
            let p = p.trim_start_matches("**/");
            path == p || path.starts_with(&format!("{p}/")) || path.contains(&format!("/{p}/"))
        })
    };
    for stage in dockerfile_stages() {
        for (from, sources, _) in stage.copies() {
            if from.is_none() {
                for source in sources {
                    assert!(!ignored(source.as_str()), "{source} is COPY'd but ignored");
                }
            }
        }
    }
}

// --- Scripts and scenarios ---

fn scripts(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scripts(&path, found);
        } else if path.extension().is_some_and(|e| e == "sh") {
            found.push(path);
        }
    }
}

#[test]
fn every_deploy_script_is_strict_executable_bash() {
    let mut found = Vec::new();
    scripts(&deploy(), &mut found);
    for known in [
        "docker-entrypoint.sh",
        "k8s/platform.sh",
        "azure-functions/deploy.sh",
    ] {
        assert!(found.contains(&deploy().join(known)), "{known}");
    }
    for path in found {
        let name = path.display();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name} is executable: {mode:o}");
        let text = read(&path);
        assert_eq!(text.lines().next(), Some("#!/usr/bin/env bash"), "{name}");
        let first_command = text
            .lines()
            .skip(1)
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        assert_eq!(first_command, Some("set -euo pipefail"), "{name}");
        let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            check.status.success(),
            "bash -n {name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// The labels of a script's `case` branches: `deploy)`, `swap:update | flex:update)`.
fn case_labels(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .map(str::trim)
        .filter_map(|l| l.split_once(')').map(|(label, _)| label))
        .filter(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " |:-_*".contains(c))
        })
        .flat_map(|label| label.split('|').map(|l| l.trim().to_owned()))
        .collect()
}

#[test]
fn deploy_scenarios_are_marked_not_run_and_call_commands_that_exist() {
    for name in ["k8s-rolling", "azure-slot-swap", "azure-flex-rolling"] {
        let path = repo().join("scenarios").join(format!("{name}.toml"));
        let text = read(&path);
        assert!(
            text.starts_with("# NOT RUN on this project's CI machine"),
            "{name}: the first line says it is not run on CI"
        );
        let s = scenario(name);
        assert_eq!(s["name"].as_str(), Some(name));
        assert_eq!(toml_str(&s, "platform", "kind"), "command");
        let url = toml_str(&s, "platform", "url");
        assert!(
            url.starts_with("http://"),
            "{name}: the probe client has no TLS"
        );
        assert!(toml_str(&s, "sink", "url").starts_with("http://"));
        assert_eq!(toml_str(&s, "sink", "token"), "env:HARNESS_SINK_TOKEN");
        let platform = s["platform"].as_table().unwrap();
        for command in ["deploy", "update", "status", "teardown"] {
            let Some(argv) = platform.get(command) else {
                assert_eq!(command, "status", "{name}: {command} is required");
                continue;
            };
            let argv: Vec<&str> = argv
                .as_array()
                .expect("an argv array")
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let script = path.parent().unwrap().join(argv[0]);
            assert!(
                script
                    .canonicalize()
                    .unwrap()
                    .starts_with(deploy().canonicalize().unwrap()),
                "{name}: {command} runs a script under deploy/"
            );
            let mode = std::fs::metadata(&script).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{}", script.display());
            let label = argv[1..].join(":");
            assert!(
                case_labels(&read(&script)).contains(&label),
                "{name}: {} handles {label}",
                argv[0]
            );
        }
    }
    assert!(
        scenario("azure-flex-rolling")["platform"]
            .get("status")
            .is_none(),
        "a Flex rolling update gives no completion signal"
    );
}

/// deploy/build-image-here.sh builds deploy/Dockerfile's image from this machine's own
/// files (no registry): it runs the test function through the same entrypoint script,
/// as the same user.
#[test]
fn the_image_builds_here_from_the_machines_own_files_and_runs_the_entrypoint() {
    let tag = format!("update-harness/deploy-test:{}", std::process::id());
    // Removed whatever the test's outcome.
    struct Image(String);
    impl Drop for Image {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &self.0])
                .output();
        }
    }
    let _image = Image(tag.clone());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_harness")).parent().unwrap();
    let built = std::process::Command::new("bash")
        .arg(deploy().join("build-image-here.sh"))
        .args([&tag, bin_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "none"])
        .args(["--label", "io.update-harness.image=deploy-test"])
        .args([
            "-e",
            "TESTFN_VERSION=A",
            "-e",
            "TESTFN_SINK=http://127.0.0.1:9",
        ])
        .args([&tag, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(
        help.contains("--sink"),
        "{help}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The user is deploy/Dockerfile's numeric one.
    let user = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Config.User}}", &tag])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001:10001");
    // And the script is told which machine files it needs: it fails, saying so, without a
    // harness binary.
    let empty = tempfile::tempdir().unwrap();
    let refused = std::process::Command::new("bash")
        .arg(deploy().join("build-image-here.sh"))
        .args([&tag, empty.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cargo build --release"));
}
