//! The container and Kubernetes manifests agree with the binary: every
//! argument they give `serve` is one it accepts, and the ports, socket and
//! grace period line up with the probes, the annotations and the gateway.

use clap::Parser;
use policy_host::cli::serve_args::ServeArgs;
use policy_host::cli::{Cli, Command};
use serde::Deserialize;
use serde_norway::Value;

use crate::harness::project_root;

/// `serve`'s arguments as `policy-host` would parse `args` (no program name).
fn parse_serve(args: &[String]) -> ServeArgs {
    let line = std::iter::once("policy-host".to_string()).chain(args.iter().cloned());
    match Cli::try_parse_from(line) {
        Ok(Cli {
            command: Command::Serve(serve),
            ..
        }) => serve,
        Ok(other) => panic!("not a serve command: {:?}", other.command),
        Err(error) => panic!("policy-host rejects {args:?}: {error}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("not a list: {value:?}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn documents(file: &str) -> Vec<Value> {
    let path = project_root().join("deploy/kubernetes").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn mount_path(container: &Value, volume: &str) -> String {
    container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some(volume))
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("{volume} not mounted"))
        .to_string()
}

#[test]
fn the_sidecar_runs_serve_with_flags_it_accepts_and_wired_to_its_pod() {
    let deployment = documents("gateway.yaml")
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("a Deployment");
    let template = &deployment["spec"]["template"];
    let pod = &template["spec"];
    let host = container(pod, "policy-host");
    let serve = parse_serve(&strings(&host["args"]));
    let health = serve.health_listen.expect("--health-listen for the probes");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            host[probe]["grpc"]["port"].as_u64(),
            Some(u64::from(health.port())),
            "{probe}"
        );
    }
    let metrics = serve.operator.metrics_listen.expect("--metrics-listen");
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(metrics.port().to_string().as_str())
    );
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    let grace_s = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace_s * 1000 >= serve.grace_ms,
        "the pod is killed before the host drains"
    );
    let socket_dir = serve.socket.parent().unwrap().to_str().unwrap().to_string();
    let gateway = container(pod, "gateway");
    assert_eq!(mount_path(host, "executor-socket"), socket_dir);
    assert_eq!(mount_path(gateway, "executor-socket"), socket_dir);
    let env = gateway["env"].as_sequence().unwrap();
    let socket_env = env
        .iter()
        .find(|e| e["name"].as_str() == Some("PYTHON_EXECUTOR_SOCKET"))
        .and_then(|e| e["value"].as_str());
    assert_eq!(socket_env, serve.socket.to_str());
    assert!(host["resources"]["limits"]["memory"].as_str().is_some());
    assert!(host["resources"]["requests"]["cpu"].as_str().is_some());
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
}

#[test]
fn the_image_runs_serve_as_a_non_root_user_with_flags_it_accepts() {
    let dockerfile = std::fs::read_to_string(project_root().join("deploy/Dockerfile")).unwrap();
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    let serve = parse_serve(&args);
    assert!(serve.health_listen.is_some() && serve.operator.metrics_listen.is_some());
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
}

#[test]
fn the_autoscaler_scales_the_gateway_on_a_metric_the_host_exports() {
    let hpa = documents("hpa.yaml").remove(0);
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        Some("api-gateway")
    );
    let metrics = hpa["spec"]["metrics"].as_sequence().unwrap();
    let pods_metric = metrics
        .iter()
        .find_map(|m| m["pods"]["metric"]["name"].as_str())
        .expect("a pods metric");
    let exported = policy_host::dispatch::Metrics::new().encode();
    assert!(
        exported
            .lines()
            .any(|l| l.starts_with(&format!("# TYPE {pods_metric} "))),
        "{pods_metric} is not exported"
    );
}
