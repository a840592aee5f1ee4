//! Command-line interface of `oneagent-k8s` and what each subcommand runs.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::decide::{self, InjectConfig};
use crate::deviceplugin::PluginConfig;
use crate::metrics::Metrics;
use crate::webhook::{AppState, TlsFiles};
use crate::{Error, cache, certs, controller, detections, deviceplugin, manifests, webhook};

/// oneagent's Kubernetes add-on: mutating webhook, intent controller, device plugin.
///
/// Opted-in pods (label instrumentation.oneagent.io/enabled=true on the namespace or the
/// workload) get tracing with no change to their image or manifests: the webhook computes a
/// JSONPatch from the pod being created and its workload's intent, the device plugin mounts the
/// node agent directory read-only at /var/oneagent, and the controller keeps the intent on the
/// workloads without restarting anything. The webhook never denies a pod.
#[derive(Debug, Parser)]
#[command(name = "oneagent-k8s", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the mutating admission webhook over HTTPS.
    Webhook(WebhookArgs),
    /// Run the intent controller.
    Controller {
        /// Controller settings.
        #[command(flatten)]
        args: ControllerArgs,
        /// Treat workloads as opted in unless labelled false, except in kube-system and the
        /// add-on's namespace (as the webhook's --cluster-wide).
        #[arg(long)]
        cluster_wide: bool,
    },
    /// Run the webhook and the controller in one process.
    Run {
        /// Webhook settings.
        #[command(flatten)]
        webhook: WebhookArgs,
        /// Controller settings.
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Run the device plugin (and the detections publisher) on this node.
    DevicePlugin(DevicePluginArgs),
    /// Generate a CA and a serving certificate for the webhook; print the caBundle.
    Certs {
        /// The webhook's Service name.
        #[arg(long, value_name = "NAME", default_value = manifests::WEBHOOK_SERVICE)]
        service: String,
        /// The Service's namespace.
        #[arg(long, value_name = "NAMESPACE", default_value = manifests::NAMESPACE)]
        namespace: String,
        /// Output directory (ca.crt, ca.key, tls.crt, tls.key).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Restart the opted-in workloads of a namespace a few at a time.
    Rollout {
        /// The namespace.
        #[arg(long, value_name = "NAMESPACE")]
        namespace: String,
        /// Workloads restarting at once; the next starts when one has rolled out.
        #[arg(long, value_name = "N", default_value_t = 2)]
        max_concurrent: usize,
        /// Seconds to wait for one workload to roll out.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Write the Kubernetes manifests (packaging/k8s).
    Manifests {
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Registry (repository prefix) of the images: REGISTRY/oneagent-k8s:TAG and
        /// REGISTRY/oneagentd:TAG, as packaging/k8s/build-images builds them.
        #[arg(long, value_name = "REGISTRY", default_value = manifests::REGISTRY)]
        registry: String,
        /// Tag of the images.
        #[arg(long, value_name = "TAG", default_value = manifests::TAG)]
        tag: String,
        /// The add-on image, instead of REGISTRY/oneagent-k8s:TAG.
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// The node agent (oneagentd) image, instead of REGISTRY/oneagentd:TAG.
        #[arg(long, value_name = "IMAGE")]
        node_image: Option<String>,
        /// The node collector's image (the upstream OpenTelemetry Collector, contrib
        /// distribution).
        #[arg(long, value_name = "IMAGE", default_value = manifests::COLLECTOR_IMAGE)]
        collector_image: String,
        /// The backend's OTLP/HTTP URL the node collector exports to; without it, the collector's
        /// `debug` exporter only logs a summary of what it receives.
        #[arg(long, value_name = "URL", value_parser = parse_backend)]
        backend: Option<String>,
        /// A header sent to the backend with every export (repeatable; needs --backend).
        #[arg(long = "backend-header", value_name = "K=V", requires = "backend",
              value_parser = parse_header)]
        backend_headers: Vec<(String, String)>,
        /// Instrument every namespace not labelled instrumentation.oneagent.io/enabled=false
        /// (but kube-system and the add-on's own): `--cluster-wide` for the webhook and controller.
        #[arg(long)]
        cluster_wide: bool,
    },
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not K=V with a non-empty header name K")),
    }
}

fn parse_backend(s: &str) -> Result<String, String> {
    let ok =
        (s.starts_with("http://") || s.starts_with("https://")) && !s.contains(char::is_whitespace);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an http:// or https:// URL without spaces"
        ))
    }
}

/// Webhook flags.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate (reloaded when it changes).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/oneagent-k8s/tls/tls.crt"
    )]
    pub tls_cert: PathBuf,
    /// PEM private key (reloaded when it changes).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/oneagent-k8s/tls/tls.key"
    )]
    pub tls_key: PathBuf,
    /// Seconds between checks of the TLS files.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub tls_poll_secs: u64,
    /// OTEL_EXPORTER_OTLP_ENDPOINT given to instrumented containers.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://$(ONEAGENT_K8S_NODE_IP):4318"
    )]
    pub otlp_endpoint: String,
    /// Extra JVM option for Java containers in direct mode, after -javaagent in
    /// JAVA_TOOL_OPTIONS unless the container sets the same option (repeatable; as
    /// `[injection] java_options` on hosts).
    #[arg(long = "java-option", value_name = "OPT", allow_hyphen_values = true, value_parser = decide::parse_java_option)]
    pub java_options: Vec<String>,
    /// Extra variable for a runtime's agent in direct mode, set unless the container sets it
    /// (repeatable; RUNTIME is java, python, nodejs or dotnet; as `[injection.environment]` on
    /// hosts).
    #[arg(long = "agent-env", value_name = "RUNTIME:NAME=VALUE", value_parser = decide::parse_agent_env)]
    pub environment: Vec<String>,
    /// Instrument every namespace not labelled instrumentation.oneagent.io/enabled=false, except
    /// kube-system and the add-on's own; the namespace's and workload's labels still win.
    #[arg(long)]
    pub cluster_wide: bool,
}

/// Controller flags.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Java agent kind written into intents (`opentelemetry` or `skywalking`).
    #[arg(long, value_name = "KIND", default_value = "opentelemetry")]
    pub agent: String,
    /// Seconds between crash-loop checks of an opted-in workload.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub recheck_secs: u64,
}

/// Device plugin flags.
#[derive(Debug, Args)]
pub struct DevicePluginArgs {
    /// The kubelet's device plugin directory.
    #[arg(long, value_name = "DIR", default_value = deviceplugin::DEFAULT_DIR)]
    pub plugin_dir: PathBuf,
    /// The node's agent directory, mounted read-only at /var/oneagent.
    #[arg(long, value_name = "DIR", default_value = manifests::NODE_AGENT_DIR)]
    pub agent_dir: PathBuf,
    /// Virtual devices advertised (instrumented containers per node).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub devices: usize,
    /// This node's name (enables publishing detections from oneagentd over D-Bus).
    #[arg(long, value_name = "NODE")]
    pub node_name: Option<String>,
    /// Seconds between reads of oneagentd's detections.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub detections_interval_secs: u64,
    /// At most this many detection patches a second (across workloads).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub detections_max_patches_per_sec: u32,
    /// Read detections from oneagentd's peer-to-peer socket (`oneagentd --peer-socket`, shared
    /// in the node agent's pod) instead of the system bus.
    #[arg(long, value_name = "PATH")]
    pub peer_socket: Option<PathBuf>,
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

async fn client() -> Result<kube::Client, Error> {
    webhook::install_crypto_provider();
    Ok(kube::Client::try_default().await?)
}

async fn run_webhook(args: WebhookArgs, cache: cache::ClusterCache) -> Result<(), Error> {
    let ready = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let cache = cache.clone();
        let ready = ready.clone();
        async move { cache.wait_ready(ready).await }
    });
    let state = AppState {
        lookup: Arc::new(cache),
        config: Arc::new(InjectConfig {
            otlp_endpoint: args.otlp_endpoint,
            cluster_wide: args.cluster_wide,
            java_options: args.java_options,
            environment: args.environment,
            ..InjectConfig::default()
        }),
        metrics: Arc::new(Metrics::default()),
        ready,
    };
    let files = TlsFiles {
        cert: args.tls_cert,
        key: args.tls_key,
        poll: Duration::from_secs(args.tls_poll_secs.max(1)),
    };
    tracing::info!(listen = %args.listen, "Serving the webhook");
    webhook::serve(webhook::bind(args.listen)?, files, state, shutdown_signal()).await
}

fn controller_context(
    client: kube::Client,
    args: &ControllerArgs,
    cluster_wide: bool,
    lookup: Arc<dyn crate::owner::OwnerLookup + Send + Sync>,
) -> Arc<controller::Context> {
    Arc::new(controller::Context {
        client,
        lookup,
        agent: args.agent.clone(),
        recheck: Duration::from_secs(args.recheck_secs.max(5)),
        cluster_wide,
    })
}

/// Runs one subcommand.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Webhook(args) => {
            let client = client().await?;
            run_webhook(args, cache::ClusterCache::start(&client)).await
        }
        Command::Controller { args, cluster_wide } => {
            let client = client().await?;
            let namespaces = Arc::new(cache::NamespaceCache::start(&client));
            let ctx = controller_context(client, &args, cluster_wide, namespaces);
            tokio::select! {
                () = controller::run(ctx) => {}
                () = shutdown_signal() => {}
            }
            Ok(())
        }
        Command::Run {
            webhook,
            controller: args,
        } => {
            let client = client().await?;
            let cache = cache::ClusterCache::start(&client);
            let ctx =
                controller_context(client, &args, webhook.cluster_wide, Arc::new(cache.clone()));
            tokio::spawn(controller::run(ctx));
            run_webhook(webhook, cache).await
        }
        Command::DevicePlugin(args) => {
            let config = PluginConfig {
                dir: args.plugin_dir,
                host_agent_dir: args.agent_dir,
                devices: args.devices,
                ..PluginConfig::default()
            };
            if let Some(node) = args.node_name {
                let settings = detections::PublishSettings {
                    interval: Duration::from_secs(args.detections_interval_secs.max(5)),
                    max_patches_per_sec: args.detections_max_patches_per_sec.max(1),
                };
                let bus = detections::AgentBus::from_peer_socket(args.peer_socket);
                tokio::spawn(async move {
                    let result =
                        async { detections::run(client().await?, bus, node, settings).await }.await;
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "Detections publisher stopped");
                    }
                });
            }
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            });
            deviceplugin::run(config, rx).await
        }
        Command::Certs {
            service,
            namespace,
            out,
        } => {
            let bundle = certs::generate(&certs::service_dns_names(&service, &namespace))?;
            let files = certs::write(&bundle, &out)?;
            eprintln!(
                "wrote {}, {} and {} (keep the keys out of version control)",
                files.ca_cert.display(),
                files.cert.display(),
                files.key.display()
            );
            println!("{}", bundle.ca_bundle());
            Ok(())
        }
        Command::Rollout {
            namespace,
            max_concurrent,
            timeout_secs,
        } => {
            let client = client().await?;
            let options = controller::RolloutOptions {
                max_concurrent,
                timeout: Duration::from_secs(timeout_secs),
                ..controller::RolloutOptions::default()
            };
            let done = controller::rollout(&client, &namespace, &options).await?;
            for name in done {
                println!("restarted {namespace}/{name}");
            }
            Ok(())
        }
        Command::Manifests {
            out,
            registry,
            tag,
            image,
            node_image,
            collector_image,
            backend,
            backend_headers,
            cluster_wide,
        } => {
            let defaults = manifests::Images::new(&registry, &tag);
            let options = manifests::Options {
                images: manifests::Images {
                    addon: image.unwrap_or(defaults.addon),
                    node: node_image.unwrap_or(defaults.node),
                },
                collector_image,
                backend: backend.map(|url| manifests::Backend {
                    url,
                    headers: backend_headers,
                }),
                cluster_wide,
            };
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            for (name, contents) in manifests::render_with(&options) {
                let path = out.join(name);
                std::fs::write(&path, contents).map_err(|e| Error::io(&path, e))?;
            }
            Ok(())
        }
    }
}
