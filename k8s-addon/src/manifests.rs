//! The Kubernetes manifests in `packaging/k8s/`, generated from code (`oneagent-k8s manifests
//! --out packaging/k8s`); a test fails when the committed files drift from this source.
use serde_json::{Value, json};

use crate::{LABEL_ENABLED, RESOURCE_NAME};

/// The add-on's namespace.
pub const NAMESPACE: &str = "oneagent";
/// The webhook's Service (and the certificate's DNS name).
pub const WEBHOOK_SERVICE: &str = "oneagent-webhook";
/// The Secret holding the webhook's serving certificate.
pub const TLS_SECRET: &str = "oneagent-webhook-tls";
/// The MutatingWebhookConfiguration's name.
pub const WEBHOOK_CONFIG: &str = "oneagent-webhook";
/// Default registry (repository prefix) of the images built by `packaging/k8s/build-images`.
pub const REGISTRY: &str = "oneagent";
/// Default image tag: this version.
pub const TAG: &str = env!("CARGO_PKG_VERSION");

/// The images the manifests run (`packaging/k8s/Containerfile` builds both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// `oneagent-k8s`: webhook, controller, device plugin.
    pub addon: String,
    /// `oneagentd`: the node agent, with the preload library and agents.
    pub node: String,
}

impl Images {
    /// `<registry>/oneagent-k8s:<tag>` and `<registry>/oneagentd:<tag>`.
    pub fn new(registry: &str, tag: &str) -> Self {
        let registry = registry.trim_end_matches('/');
        Self {
            addon: format!("{registry}/oneagent-k8s:{tag}"),
            node: format!("{registry}/oneagentd:{tag}"),
        }
    }
}

impl Default for Images {
    fn default() -> Self {
        Self::new(REGISTRY, TAG)
    }
}

/// The upstream OpenTelemetry Collector image of the node collector (the contrib distribution:
/// it has the `skywalking` receiver and the `k8sattributes` processor).
pub const COLLECTOR_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.161.0";
/// The node collector's DaemonSet, ServiceAccount and ConfigMap.
pub const COLLECTOR: &str = "oneagent-collector";
/// OTLP/gRPC on every node (the collector's `otlp` receiver).
pub const OTLP_GRPC_PORT: u16 = 4317;
/// OTLP/HTTP on every node (the collector's `otlp` receiver).
pub const OTLP_HTTP_PORT: u16 = 4318;
/// SkyWalking's native gRPC on every node (the collector's `skywalking` receiver).
pub const SKYWALKING_PORT: u16 = 11800;
/// The variable holding the node's address (`status.hostIP`) in the collector and oneagentd.
pub const NODE_IP_ENV: &str = "ONEAGENT_NODE_IP";

/// Where the node collector sends: an OTLP/HTTP backend, or nowhere (`debug` exporter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backend {
    /// The backend's OTLP/HTTP base URL (`otlphttp` exporter `endpoint`).
    pub url: String,
    /// Headers sent with every export (`K`, `V`), e.g. an API key.
    pub headers: Vec<(String, String)>,
}

/// Everything the generated manifests depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The add-on's and the node agent's images.
    pub images: Images,
    /// The node collector's image.
    pub collector_image: String,
    /// The node collector's exporter; `None`: the `debug` exporter.
    pub backend: Option<Backend>,
    /// The webhook instruments every namespace not labelled `false` (`webhook --cluster-wide`).
    pub cluster_wide: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            images: Images::default(),
            collector_image: COLLECTOR_IMAGE.into(),
            backend: None,
            cluster_wide: false,
        }
    }
}

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": "oneagent", "app.kubernetes.io/component": component})
}

fn meta(name: &str, component: &str) -> Value {
    json!({"name": name, "namespace": NAMESPACE, "labels": labels(component)})
}

fn restricted() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn namespace() -> Vec<Value> {
    vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {LABEL_ENABLED: "false",
            "pod-security.kubernetes.io/enforce": "privileged"}},
    })]
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn rbac() -> Vec<Value> {
    let read = ["get", "list", "watch"];
    let mut docs = Vec::new();
    for (sa, rules) in [
        (
            "oneagent-webhook",
            vec![
                rule(&[""], &["namespaces"], &read),
                rule(
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets", "daemonsets"],
                    &read,
                ),
                rule(&["batch"], &["jobs", "cronjobs"], &read),
            ],
        ),
        (
            "oneagent-controller",
            vec![
                rule(&[""], &["namespaces"], &read),
                rule(&[""], &["pods"], &["list"]),
                rule(
                    &["apps"],
                    &["deployments", "statefulsets", "daemonsets"],
                    &["get", "list", "watch", "patch"],
                ),
                rule(
                    &["batch"],
                    &["cronjobs"],
                    &["get", "list", "watch", "patch"],
                ),
            ],
        ),
        (
            "oneagent-node",
            vec![
                rule(&[""], &["pods"], &["list"]),
                rule(&["apps"], &["replicasets"], &["get"]),
                rule(&["batch"], &["jobs"], &["get"]),
                rule(
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets", "daemonsets"],
                    &["patch"],
                ),
                rule(&["batch"], &["jobs", "cronjobs"], &["patch"]),
            ],
        ),
        (
            // k8sattributes: pods and namespaces, and replicasets for the deployment's name.
            COLLECTOR,
            vec![
                rule(&[""], &["pods", "namespaces"], &read),
                rule(&["apps"], &["replicasets"], &read),
            ],
        ),
    ] {
        docs.push(json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa, sa),
        }));
        docs.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": sa, "labels": labels(sa)},
            "rules": rules,
        }));
        docs.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": sa, "labels": labels(sa)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
        }));
    }
    docs
}

fn webhook(image: &str, cluster_wide: bool) -> Vec<Value> {
    let mut args = vec![
        "webhook",
        "--listen",
        "0.0.0.0:8443",
        "--tls-cert",
        "/etc/oneagent-k8s/tls/tls.crt",
        "--tls-key",
        "/etc/oneagent-k8s/tls/tls.key",
    ];
    let mut controller_args = vec!["controller"];
    if cluster_wide {
        args.push("--cluster-wide");
        controller_args.push("--cluster-wide");
    }
    let probe = |path: &str| {
        json!({"httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
        "periodSeconds": 10})
    };
    vec![
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta("oneagent-webhook", "webhook"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels("webhook")},
                "template": {
                    "metadata": {"labels": labels("webhook")},
                    "spec": {
                        "serviceAccountName": "oneagent-webhook",
                        "containers": [{
                            "name": "webhook",
                            "image": image,
                            "args": args,
                            "ports": [{"name": "https", "containerPort": 8443}],
                            "readinessProbe": probe("/readyz"),
                            "livenessProbe": probe("/healthz"),
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"memory": "256Mi"}},
                            "securityContext": restricted(),
                            "volumeMounts": [{"name": "tls", "mountPath": "/etc/oneagent-k8s/tls",
                                              "readOnly": true}],
                        }],
                        "volumes": [{"name": "tls", "secret": {"secretName": TLS_SECRET}}],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": meta(WEBHOOK_SERVICE, "webhook"),
            "spec": {
                "selector": labels("webhook"),
                "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
            },
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta("oneagent-controller", "controller"),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels("controller")},
                "template": {
                    "metadata": {"labels": labels("controller")},
                    "spec": {
                        "serviceAccountName": "oneagent-controller",
                        "containers": [{
                            "name": "controller",
                            "image": image,
                            "args": controller_args,
                            "resources": {"requests": {"cpu": "20m", "memory": "64Mi"},
                                          "limits": {"memory": "256Mi"}},
                            "securityContext": restricted(),
                        }],
                    },
                },
            },
        }),
    ]
}

fn webhook_configuration() -> Vec<Value> {
    vec![json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIG, "labels": labels("webhook")},
        "webhooks": [{
            "name": "pods.instrumentation.oneagent.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "timeoutSeconds": 5,
            "matchPolicy": "Equivalent",
            "reinvocationPolicy": "Never",
            // caBundle: added at install time from `oneagent-k8s certs` (see README).
            "clientConfig": {"service": {"name": WEBHOOK_SERVICE, "namespace": NAMESPACE,
                                         "path": "/mutate", "port": 443}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": ["kube-system", NAMESPACE]}]},
        }],
    })]
}

/// The node agent directory on every node: the preload library, `agents/` and the containers'
/// snapshot, mounted read-only at `/var/oneagent` in instrumented containers.
pub const NODE_AGENT_DIR: &str = "/usr/lib/oneagent";
/// Where the node image keeps the script that installs its library and agents on the node.
pub const INSTALL_SCRIPT: &str = "/usr/libexec/oneagent/install-node-agents";
/// The node agent's ConfigMap (its `oneagent.toml`).
pub const NODE_CONFIG: &str = "oneagent-node-config";
/// oneagentd's peer-to-peer D-Bus socket in the node agent's pod (an `emptyDir` shared by its
/// containers): control and the detections publisher work on nodes without a system bus.
pub const PEER_SOCKET: &str = "/run/oneagent-bus/agent.sock";

/// oneagentd's configuration on a node: the containers' snapshot in the node agent directory,
/// every sender pointed at the node collector (`${{env:ONEAGENT_NODE_IP}}` is the node's address,
/// `status.hostIP`, expanded by oneagentd when it loads the file).
pub fn node_config() -> String {
    format!(
        "# oneagentd in the DaemonSet oneagent-node (see oneagent.toml(5)).\n\
         [exporter]\n\
         # The node collector (DaemonSet {COLLECTOR}) on this node's address: oneagentd's logs,\n\
         # and the SkyWalking agent of instrumented containers.\n\
         otlp_endpoint = \"http://${{env:{NODE_IP_ENV}}}:{OTLP_HTTP_PORT}\"\n\
         skywalking_backend = \"${{env:{NODE_IP_ENV}}}:{SKYWALKING_PORT}\"\n\
         \n\
         [kubernetes]\n\
         # The device plugin mounts this directory read-only at /var/oneagent in instrumented\n\
         # containers; oneagentd writes the containers' preload.snapshot into it.\n\
         node_agent_dir = \"{NODE_AGENT_DIR}\"\n\
         \n\
         [injection]\n\
         # Host processes: the DaemonSet does not manage the node's /etc/ld.so.preload (install\n\
         # the package on the node for that). Pods are opted in by the webhook.\n\
         enabled = false\n"
    )
}

fn node_configmap() -> Vec<Value> {
    vec![json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(NODE_CONFIG, "node"),
        "data": {"oneagent.toml": node_config()},
    })]
}

fn node_ip_env() -> Value {
    json!({"name": NODE_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}})
}

fn yaml_quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The node collector's configuration (`config.yaml` of the ConfigMap oneagent-collector): OTLP
/// gRPC/HTTP and SkyWalking on the node's address, `memory_limiter`, `k8sattributes` (pods of
/// this node only), `batch`, and the backend's `otlphttp` exporter or else `debug`.
pub fn collector_config(backend: Option<&Backend>) -> String {
    let node = format!("${{env:{NODE_IP_ENV}}}");
    let exporter = match backend {
        Some(b) => {
            let mut e = format!(
                "  # The backend (`oneagent-k8s manifests --backend URL --backend-header K=V`).\n\
                 \x20 otlphttp:\n    endpoint: {}\n",
                yaml_quote(&b.url)
            );
            if !b.headers.is_empty() {
                e.push_str("    headers:\n");
                for (k, v) in &b.headers {
                    e.push_str(&format!("      {}: {}\n", yaml_quote(k), yaml_quote(v)));
                }
            }
            e
        }
        None => "  # NO BACKEND CONFIGURED: telemetry is only summarized in the collector's own log\n\
                 \x20 # (`kubectl logs -n oneagent ds/oneagent-collector`) and then dropped. Regenerate with\n\
                 \x20 # `oneagent-k8s manifests --backend URL [--backend-header K=V]...` to export it.\n\
                 \x20 debug:\n    verbosity: basic\n"
            .to_owned(),
    };
    let name = if backend.is_some() {
        "otlphttp"
    } else {
        "debug"
    };
    format!(
        "# The node collector (DaemonSet {COLLECTOR}, host network): instrumented pods and oneagentd\n\
         # on this node send to the node's address ({NODE_IP_ENV}, status.hostIP).\n\
         receivers:\n\
         \x20 otlp:\n\
         \x20   protocols:\n\
         \x20     grpc:\n\
         \x20       endpoint: {node}:{OTLP_GRPC_PORT}\n\
         \x20     http:\n\
         \x20       endpoint: {node}:{OTLP_HTTP_PORT}\n\
         \x20 # SkyWalking agents (SW_AGENT_COLLECTOR_BACKEND_SERVICES=<node>:{SKYWALKING_PORT}).\n\
         \x20 skywalking:\n\
         \x20   protocols:\n\
         \x20     grpc:\n\
         \x20       endpoint: {node}:{SKYWALKING_PORT}\n\
         processors:\n\
         \x20 memory_limiter:\n\
         \x20   check_interval: 1s\n\
         \x20   limit_percentage: 80\n\
         \x20   spike_limit_percentage: 20\n\
         \x20 # Pod uid (set by the webhook), pod IP or the connection's source address -> namespace,\n\
         \x20 # pod, workload, node. Watches only this node's pods (RBAC: ClusterRole {COLLECTOR}).\n\
         \x20 k8sattributes:\n\
         \x20   auth_type: serviceAccount\n\
         \x20   filter:\n\
         \x20     node_from_env_var: K8S_NODE_NAME\n\
         \x20   pod_association:\n\
         \x20   - sources:\n\
         \x20     - from: resource_attribute\n\
         \x20       name: k8s.pod.uid\n\
         \x20   - sources:\n\
         \x20     - from: resource_attribute\n\
         \x20       name: k8s.pod.ip\n\
         \x20   - sources:\n\
         \x20     - from: connection\n\
         \x20   extract:\n\
         \x20     metadata:\n\
         \x20     - k8s.namespace.name\n\
         \x20     - k8s.pod.name\n\
         \x20     - k8s.pod.uid\n\
         \x20     - k8s.node.name\n\
         \x20     - k8s.deployment.name\n\
         \x20     - k8s.replicaset.name\n\
         \x20     - k8s.statefulset.name\n\
         \x20     - k8s.daemonset.name\n\
         \x20     - k8s.job.name\n\
         \x20     - k8s.cronjob.name\n\
         \x20 batch: {{}}\n\
         exporters:\n\
         {exporter}\
         service:\n\
         \x20 pipelines:\n\
         \x20   traces:\n\
         \x20     receivers: [otlp, skywalking]\n\
         \x20     processors: [memory_limiter, k8sattributes, batch]\n\
         \x20     exporters: [{name}]\n\
         \x20   metrics:\n\
         \x20     receivers: [otlp, skywalking]\n\
         \x20     processors: [memory_limiter, k8sattributes, batch]\n\
         \x20     exporters: [{name}]\n\
         \x20   logs:\n\
         \x20     receivers: [otlp]\n\
         \x20     processors: [memory_limiter, k8sattributes, batch]\n\
         \x20     exporters: [{name}]\n"
    )
}

/// The node collector: host network, so pods reach it on the node's address without the CNI's
/// portmap plugin, and it sees their own source addresses (k8sattributes' `connection` source).
fn collector(options: &Options) -> Vec<Value> {
    let port = |name: &str, port: u16| json!({"name": name, "containerPort": port, "hostPort": port, "protocol": "TCP"});
    vec![
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(COLLECTOR, "collector"),
            "data": {"config.yaml": collector_config(options.backend.as_ref())},
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": meta(COLLECTOR, "collector"),
            "spec": {
                "selector": {"matchLabels": labels("collector")},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": labels("collector")},
                    "spec": {
                        "serviceAccountName": COLLECTOR,
                        "hostNetwork": true,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{
                            "name": "otelcol",
                            "image": options.collector_image,
                            "args": ["--config=/etc/otelcol/config.yaml"],
                            "env": [
                                node_ip_env(),
                                {"name": "K8S_NODE_NAME",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                            ],
                            "ports": [port("otlp-grpc", OTLP_GRPC_PORT),
                                      port("otlp-http", OTLP_HTTP_PORT),
                                      port("skywalking", SKYWALKING_PORT)],
                            // memory_limiter keeps the collector's heap under 80 % of this.
                            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                          "limits": {"memory": "512Mi"}},
                            "securityContext": restricted(),
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/otelcol",
                                              "readOnly": true}],
                        }],
                        "volumes": [{"name": "config", "configMap": {"name": COLLECTOR}}],
                    },
                },
            },
        }),
    ]
}

fn node(image: &str, node_image: &str) -> Vec<Value> {
    let host = |name: &str, path: &str, kind: &str| json!({"name": name, "hostPath": {"path": path, "type": kind}});
    vec![json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": meta("oneagent-node", "node"),
        "spec": {
            "selector": {"matchLabels": labels("node")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels("node")},
                "spec": {
                    "serviceAccountName": "oneagent-node",
                    "hostPID": true,
                    "tolerations": [{"operator": "Exists"}],
                    // The library and agents of the node image, installed into the node agent
                    // directory by rename (running containers keep the files they mapped), and
                    // the D-Bus policy that lets oneagentd own its name on the host's bus.
                    "initContainers": [{
                        "name": "install-agents",
                        "image": node_image,
                        "command": [INSTALL_SCRIPT, "/host-agents", "/host-dbus-policy"],
                        "securityContext": {"allowPrivilegeEscalation": false,
                                            "runAsUser": 0,
                                            "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "agents", "mountPath": "/host-agents"},
                                         {"name": "dbus-policy", "mountPath": "/host-dbus-policy"}],
                    }],
                    "containers": [
                        {
                            "name": "oneagentd",
                            "image": node_image,
                            "command": ["/usr/sbin/oneagentd", "--peer-socket", PEER_SOCKET],
                            // The node collector's address, expanded in oneagent.toml; and
                            // `kubectl exec … oneagentctl` talks to the socket (no host bus needed).
                            "env": [node_ip_env(), {"name": "ONEAGENT_PEER_SOCKET", "value": PEER_SOCKET}],
                            // fanotify, the process events connector and /proc of every process.
                            "securityContext": {"privileged": true},
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"memory": "512Mi"}},
                            "volumeMounts": [
                                {"name": "agents", "mountPath": NODE_AGENT_DIR},
                                {"name": "state", "mountPath": "/var/lib/oneagent"},
                                {"name": "run", "mountPath": "/run/oneagent"},
                                {"name": "config", "mountPath": "/etc/oneagent", "readOnly": true},
                                {"name": "dbus", "mountPath": "/run/dbus"},
                                {"name": "agent-bus", "mountPath": "/run/oneagent-bus"},
                                {"name": "varlog", "mountPath": "/var/log", "readOnly": true},
                            ],
                        },
                        {
                            "name": "device-plugin",
                            "image": image,
                            "args": ["device-plugin", "--node-name", "$(NODE_NAME)",
                                     "--agent-dir", NODE_AGENT_DIR,
                                     "--peer-socket", PEER_SOCKET],
                            "env": [{"name": "NODE_NAME",
                                     "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                          "limits": {"memory": "128Mi"}},
                            // Root: the kubelet's socket directory is root-owned.
                            "securityContext": {"allowPrivilegeEscalation": false,
                                                "runAsUser": 0,
                                                "readOnlyRootFilesystem": true,
                                                "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [
                                {"name": "device-plugins",
                                 "mountPath": "/var/lib/kubelet/device-plugins"},
                                {"name": "agent-bus", "mountPath": "/run/oneagent-bus"},
                            ],
                        },
                    ],
                    "volumes": [
                        host("agents", NODE_AGENT_DIR, "DirectoryOrCreate"),
                        host("state", "/var/lib/oneagent", "DirectoryOrCreate"),
                        host("run", "/run/oneagent", "DirectoryOrCreate"),
                        {"name": "config", "configMap": {"name": NODE_CONFIG}},
                        // Created empty where the node has no system bus (Talos,
                        // Bottlerocket): oneagentd then serves only the pod's socket.
                        host("dbus", "/run/dbus", "DirectoryOrCreate"),
                        {"name": "agent-bus", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                        host("dbus-policy", "/etc/dbus-1/system.d", "DirectoryOrCreate"),
                        host("varlog", "/var/log", "Directory"),
                        host("device-plugins", "/var/lib/kubelet/device-plugins", "Directory"),
                    ],
                },
            },
        },
    })]
}

/// The files of `packaging/k8s/` and their contents, with the default options but `images`.
pub fn render(images: &Images) -> Vec<(&'static str, String)> {
    render_with(&Options {
        images: images.clone(),
        ..Options::default()
    })
}

/// The files of `packaging/k8s/` and their contents.
pub fn render_with(options: &Options) -> Vec<(&'static str, String)> {
    let images = &options.images;
    let (image, node_image) = (images.addon.as_str(), images.node.as_str());
    let header = |what: &str| {
        format!(
            "# Generated by `oneagent-k8s manifests --out packaging/k8s`: do not edit.\n# {what}\n"
        )
    };
    vec![
        (
            "00-namespace.yaml",
            header("The add-on's namespace (never instrumented itself).")
                + &crate::yaml::documents(&namespace()),
        ),
        (
            "10-rbac.yaml",
            header("Least-privilege service accounts for the webhook, the controller and nodes.")
                + &crate::yaml::documents(&rbac()),
        ),
        (
            "20-webhook.yaml",
            header(&format!(
                "Webhook and controller. Needs the Secret {TLS_SECRET} (see k8s-addon/README.md)."
            )) + &crate::yaml::documents(&webhook(image, options.cluster_wide)),
        ),
        (
            "30-mutatingwebhook.yaml",
            header(
                "Add clientConfig.caBundle from `oneagent-k8s certs` (see k8s-addon/README.md).",
            ) + &crate::yaml::documents(&webhook_configuration()),
        ),
        (
            "40-node.yaml",
            header(&format!(
                "oneagentd and the device plugin ({RESOURCE_NAME}) on every node."
            )) + &crate::yaml::documents(&[node_configmap(), node(image, node_image)].concat()),
        ),
        (
            "50-collector.yaml",
            header(&format!(
                "The node collector (upstream OpenTelemetry Collector) on every node: OTLP \
                 {OTLP_GRPC_PORT}/{OTLP_HTTP_PORT}, SkyWalking {SKYWALKING_PORT}."
            )) + &crate::yaml::documents(&collector(options)),
        ),
    ]
}

/// Every manifest document as JSON (tests), with the default options but `images`.
pub fn documents(images: &Images) -> Vec<Value> {
    documents_with(&Options {
        images: images.clone(),
        ..Options::default()
    })
}

/// Every manifest document as JSON (tests).
pub fn documents_with(options: &Options) -> Vec<Value> {
    let images = &options.images;
    let (image, node_image) = (images.addon.as_str(), images.node.as_str());
    let mut all = namespace();
    all.extend(rbac());
    all.extend(webhook(image, options.cluster_wide));
    all.extend(webhook_configuration());
    all.extend(node_configmap());
    all.extend(node(image, node_image));
    all.extend(collector(options));
    all
}
