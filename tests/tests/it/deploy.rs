//! The Kubernetes manifests under `deploy/k8s/` hang together: the kinds a rollout needs, one
//! set of labels that every selector matches, probes on the API's health endpoints, each database
//! URL where it belongs, and requests and limits on every container.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// The label every object carries and every selector matches.
const APP: &str = "digital-asset-inventory";

/// The API's port (LISTEN_ADDR in the Deployment).
const PORT: u64 = 8000;

/// The highest RSS of the API measured so far, in MiB (docs/BENCHMARKS.md, "Abuse: one tenant
/// under attack by others"): its memory limit must stay above it.
const WORST_MEASURED_RSS_MIB: f64 = 155.3;

/// Every YAML document under `deploy/k8s/`, as (file name, document).
fn manifests() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut documents = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document).unwrap_or_else(|e| panic!("{name}: {e}"));
            // An empty document (a trailing `---`) is no object.
            if !value.is_null() {
                documents.push((name.clone(), value));
            }
        }
    }
    documents
}

/// The one document of `kind`.
fn one(kind: &str) -> Value {
    let mut found: Vec<Value> = manifests()
        .into_iter()
        .filter(|(_, m)| m["kind"] == kind)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} under deploy/k8s");
    found.remove(0)
}

/// The container `name` of the Deployment's pod, among `list` (`containers` or
/// `initContainers`).
fn container<'a>(deployment: &'a Value, list: &str, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"][list]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} entry named {name} in the Deployment"))
}

/// Every container of the Deployment's pod, init containers included.
fn all_containers(deployment: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| deployment["spec"]["template"]["spec"][*list].as_array())
        .flatten()
        .collect()
}

/// The `valueFrom.secretKeyRef` of the environment variable `name` of `container`.
fn secret_of<'a>(container: &'a Value, name: &str) -> &'a Value {
    let var = container["env"]
        .as_array()
        .and_then(|env| env.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("container {} has no {name}", container["name"]));
    let secret = &var["valueFrom"]["secretKeyRef"];
    assert!(
        secret["name"].is_string() && secret["key"].is_string(),
        "{name} of container {} comes from a secret: {var}",
        container["name"]
    );
    secret
}

/// Whether `selector` (a map of labels) is not empty and every label of it is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k] == *v))
}

/// Whether `port` (a number, or the name of a container port) is the API's port on `api`.
fn is_api_port(api: &Value, port: &Value) -> bool {
    if port.as_u64() == Some(PORT) {
        return true;
    }
    port.as_str().is_some_and(|name| {
        api["ports"].as_array().is_some_and(|ports| {
            ports
                .iter()
                .any(|p| p["name"] == name && p["containerPort"].as_u64() == Some(PORT))
        })
    })
}

/// A CPU quantity (`500m`, `2`, `"1.5"`) in millicores.
fn millicores(quantity: &Value) -> f64 {
    match quantity {
        Value::Number(n) => n.as_f64().unwrap() * 1000.0,
        Value::String(s) => match s.strip_suffix('m') {
            Some(milli) => milli.parse().unwrap(),
            None => s.parse::<f64>().unwrap() * 1000.0,
        },
        other => panic!("not a CPU quantity: {other}"),
    }
}

/// A memory quantity (`128Mi`, `1Gi`, `500M`, `1048576`) in MiB.
fn mebibytes(quantity: &Value) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    let text = match quantity {
        Value::Number(n) => return n.as_f64().unwrap() / MIB,
        Value::String(s) => s.as_str(),
        other => panic!("not a memory quantity: {other}"),
    };
    let units = [
        ("Ki", 1024.0),
        ("Mi", MIB),
        ("Gi", 1024.0 * MIB),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
    ];
    for (suffix, factor) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().unwrap() * factor / MIB;
        }
    }
    text.parse::<f64>().unwrap() / MIB
}

/// A deployment needs its Deployment, a Service in front of it, a disruption budget and an
/// autoscaler; every object carries the app's label.
#[test]
fn the_manifests_hold_a_deployment_a_service_a_disruption_budget_and_an_autoscaler() {
    let documents = manifests();
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ] {
        let files: Vec<&str> = documents
            .iter()
            .filter(|(_, m)| m["kind"] == kind)
            .map(|(file, _)| file.as_str())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "one {kind} under deploy/k8s, found in {files:?}"
        );
    }
    for (file, m) in &documents {
        assert_eq!(
            m["metadata"]["labels"]["app"], APP,
            "{file}: {} {} is labelled app: {APP}",
            m["kind"], m["metadata"]["name"]
        );
    }
}

/// The Deployment's, the Service's and the disruption budget's selectors all match the labels
/// of the pods the Deployment creates.
#[test]
fn every_selector_matches_the_pods_labels() {
    let deployment = one("Deployment");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], APP, "the pods are labelled app: {APP}");
    let (service, pdb) = (one("Service"), one("PodDisruptionBudget"));
    let selectors = [
        ("Deployment", &deployment["spec"]["selector"]["matchLabels"]),
        ("Service", &service["spec"]["selector"]),
        (
            "PodDisruptionBudget",
            &pdb["spec"]["selector"]["matchLabels"],
        ),
    ];
    for (kind, selector) in selectors {
        assert!(
            selects(selector, labels),
            "the {kind}'s selector {selector} matches the pods' labels {labels}"
        );
    }
}

/// The Service sends its traffic to the API's port.
#[test]
fn the_service_sends_traffic_to_the_api_port() {
    let deployment = one("Deployment");
    let api = container(&deployment, "containers", "api");
    let service = one("Service");
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert!(!ports.is_empty(), "the Service has a port");
    for port in ports {
        // Without targetPort, Kubernetes sends to `port` itself.
        let target = match &port["targetPort"] {
            Value::Null => &port["port"],
            target => target,
        };
        assert!(
            is_api_port(api, target),
            "the Service's port {port} reaches {PORT}"
        );
    }
}

/// A replica gets traffic only once `/readyz` answers (database reachable, no migration
/// pending), and is restarted only when `/healthz` does not (the process is stuck): a database
/// outage must not restart every replica.
#[test]
fn the_api_is_ready_on_readyz_and_alive_on_healthz() {
    let deployment = one("Deployment");
    let api = container(&deployment, "containers", "api");
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &api[probe]["httpGet"];
        assert_eq!(
            get["path"], path,
            "the API's {probe} asks {path}: {}",
            api[probe]
        );
        assert!(
            is_api_port(api, &get["port"]),
            "the API's {probe} asks port {PORT}: {}",
            api[probe]
        );
    }
}

/// The migration runs over its own direct connection (MIGRATION_DATABASE_URL, never the pooled
/// URL the API writes through); the API gets DATABASE_URL, the optional read replica's
/// DATABASE_READ_URL and AUTH_JWT_SECRET, each from a secret, and DATABASE_POOLER=transaction
/// for the pooler DATABASE_URL may lead to.
#[test]
fn the_migration_and_the_api_each_get_their_database_urls_from_secrets() {
    let deployment = one("Deployment");
    let migrate = container(&deployment, "initContainers", "migrate");
    let api = container(&deployment, "containers", "api");

    let direct = secret_of(migrate, "MIGRATION_DATABASE_URL");
    assert_ne!(
        direct["optional"], true,
        "the migration cannot run without its URL"
    );
    let pooled = secret_of(api, "DATABASE_URL");
    assert_ne!(
        (&direct["name"], &direct["key"]),
        (&pooled["name"], &pooled["key"]),
        "the migration's URL is not the one the API writes through (a transaction-mode pooler \
         does not keep the runner's session and advisory lock)"
    );
    assert_eq!(
        secret_of(api, "DATABASE_READ_URL")["optional"],
        true,
        "without a read replica the API reads DATABASE_URL: the key is optional"
    );
    let pooler = api["env"]
        .as_array()
        .and_then(|env| env.iter().find(|v| v["name"] == "DATABASE_POOLER"))
        .map(|v| &v["value"]);
    assert_eq!(
        pooler,
        Some(&Value::from("transaction")),
        "DATABASE_URL may lead to a transaction-mode pooler: the API must know it"
    );
    for required in ["DATABASE_URL", "AUTH_JWT_SECRET"] {
        assert_ne!(
            secret_of(api, required)["optional"],
            true,
            "the API cannot start without {required}"
        );
    }
}

/// Every container, the init container included, requests CPU and memory and is limited to at
/// most a bit more; the API's memory limit stays above the worst RSS measured.
#[test]
fn every_container_requests_and_limits_cpu_and_memory() {
    let deployment = one("Deployment");
    let containers = all_containers(&deployment);
    assert!(containers.len() >= 2, "an init container and the API");
    for c in containers {
        let (requests, limits) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        for resource in ["cpu", "memory"] {
            assert!(
                !requests[resource].is_null() && !limits[resource].is_null(),
                "container {} requests and limits {resource}: {}",
                c["name"],
                c["resources"]
            );
        }
        assert!(
            millicores(&requests["cpu"]) <= millicores(&limits["cpu"]),
            "container {}: CPU request within its limit",
            c["name"]
        );
        assert!(
            mebibytes(&requests["memory"]) <= mebibytes(&limits["memory"]),
            "container {}: memory request within its limit",
            c["name"]
        );
    }
    let api = container(&deployment, "containers", "api");
    let limit = mebibytes(&api["resources"]["limits"]["memory"]);
    assert!(
        limit > WORST_MEASURED_RSS_MIB,
        "the API's memory limit ({limit} MiB) leaves room above the worst RSS measured \
         ({WORST_MEASURED_RSS_MIB} MiB)"
    );
}

/// The autoscaler (autoscaling/v2) scales the Deployment by name, on CPU utilization, never
/// below three replicas.
#[test]
fn the_autoscaler_scales_the_deployment_on_cpu_from_three_replicas() {
    let deployment = one("Deployment");
    let hpa = one("HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["apiVersion"], "apps/v1");
    assert_eq!(
        target["name"], deployment["metadata"]["name"],
        "the autoscaler targets the Deployment by its name"
    );
    let min = hpa["spec"]["minReplicas"].as_u64().unwrap_or(1);
    let max = hpa["spec"]["maxReplicas"].as_u64().unwrap();
    assert!(min >= 3, "at least 3 replicas, found {min}");
    assert!(max >= min, "maxReplicas {max} below minReplicas {min}");
    let on_cpu = hpa["spec"]["metrics"].as_array().is_some_and(|metrics| {
        metrics.iter().any(|m| {
            m["type"] == "Resource"
                && m["resource"]["name"] == "cpu"
                && m["resource"]["target"]["type"] == "Utilization"
                && m["resource"]["target"]["averageUtilization"].is_u64()
        })
    });
    assert!(
        on_cpu,
        "the autoscaler targets CPU utilization: {}",
        hpa["spec"]
    );
}

/// A drain or an upgrade takes at most one replica at a time: of three, two keep serving.
#[test]
fn the_disruption_budget_keeps_two_of_three_replicas_serving() {
    let pdb = one("PodDisruptionBudget");
    let spec = &pdb["spec"];
    let keeps_two = spec["maxUnavailable"].as_u64() == Some(1)
        || spec["minAvailable"].as_u64().is_some_and(|n| n >= 2);
    assert!(
        keeps_two,
        "maxUnavailable: 1 or minAvailable: 2 or more: {spec}"
    );
    assert!(
        selects(
            &spec["selector"]["matchLabels"],
            &one("Deployment")["spec"]["template"]["metadata"]["labels"]
        ),
        "the budget covers the Deployment's pods"
    );
}
