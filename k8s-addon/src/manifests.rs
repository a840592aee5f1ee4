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

fn webhook(image: &str) -> Vec<Value> {
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
                            "args": ["webhook", "--listen", "0.0.0.0:8443",
                                     "--tls-cert", "/etc/oneagent-k8s/tls/tls.crt",
                                     "--tls-key", "/etc/oneagent-k8s/tls/tls.key"],
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
                            "args": ["controller"],
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

/// oneagentd's configuration on a node: the containers' snapshot in the node agent directory.
pub fn node_config() -> String {
    format!(
        "# oneagentd in the DaemonSet oneagent-node (see oneagent.toml(5)).\n\
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
                            "command": ["/usr/sbin/oneagentd"],
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
                                {"name": "varlog", "mountPath": "/var/log", "readOnly": true},
                            ],
                        },
                        {
                            "name": "device-plugin",
                            "image": image,
                            "args": ["device-plugin", "--node-name", "$(NODE_NAME)",
                                     "--agent-dir", NODE_AGENT_DIR],
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
                                {"name": "dbus", "mountPath": "/run/dbus", "readOnly": true},
                            ],
                        },
                    ],
                    "volumes": [
                        host("agents", NODE_AGENT_DIR, "DirectoryOrCreate"),
                        host("state", "/var/lib/oneagent", "DirectoryOrCreate"),
                        host("run", "/run/oneagent", "DirectoryOrCreate"),
                        {"name": "config", "configMap": {"name": NODE_CONFIG}},
                        host("dbus", "/run/dbus", "Directory"),
                        host("dbus-policy", "/etc/dbus-1/system.d", "DirectoryOrCreate"),
                        host("varlog", "/var/log", "Directory"),
                        host("device-plugins", "/var/lib/kubelet/device-plugins", "Directory"),
                    ],
                },
            },
        },
    })]
}

/// The files of `packaging/k8s/` and their contents.
pub fn render(images: &Images) -> Vec<(&'static str, String)> {
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
            )) + &crate::yaml::documents(&webhook(image)),
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
    ]
}

/// Every manifest document as JSON (tests).
pub fn documents(images: &Images) -> Vec<Value> {
    let (image, node_image) = (images.addon.as_str(), images.node.as_str());
    let mut all = namespace();
    all.extend(rbac());
    all.extend(webhook(image));
    all.extend(webhook_configuration());
    all.extend(node_configmap());
    all.extend(node(image, node_image));
    all
}
