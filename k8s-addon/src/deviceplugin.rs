//! The device plugin: advertises `oneagent.io/agents` to the kubelet (API v1beta1 over unix
//! sockets) and, on Allocate, mounts the node's agent directory read-only into the container.
//!
//! Lifecycle: bind our socket in the device plugin directory, serve, register with the kubelet
//! on `kubelet.sock`; then watch the directory. When the kubelet restarts it removes every socket
//! in the directory and recreates its own: when `kubelet.sock` changes identity (inode) or our
//! socket disappears, the plugin stops serving, rebinds and registers again.
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::{UnixListenerStream, WatchStream};
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};

use crate::Error;

/// The generated v1beta1 API (from `proto/deviceplugin.proto`; committed, so that building needs
/// no `protoc`; the test `generated_grpc_code_matches_the_proto` regenerates it and fails on drift).
#[allow(
    missing_docs,
    clippy::all,
    unused_qualifications,
    missing_debug_implementations
)]
pub mod pb {
    include!("generated/v1beta1.rs");
}

use pb::device_plugin_server::{DevicePlugin, DevicePluginServer};
use pb::registration_client::RegistrationClient;

/// The API version we implement.
pub const VERSION: &str = "v1beta1";
/// The kubelet's registration socket name.
pub const KUBELET_SOCKET: &str = "kubelet.sock";
/// The kubelet's device plugin directory.
pub const DEFAULT_DIR: &str = "/var/lib/kubelet/device-plugins/";
/// `Device.health` of a usable device.
pub const HEALTHY: &str = "Healthy";

/// Device plugin settings.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// The kubelet's device plugin directory (holds `kubelet.sock` and our socket).
    pub dir: PathBuf,
    /// Our socket's file name in `dir`.
    pub socket_name: String,
    /// The extended resource name.
    pub resource_name: String,
    /// How many virtual devices to advertise (pods per node that can be instrumented at once).
    pub devices: usize,
    /// The node's agent directory, mounted into containers.
    pub host_agent_dir: PathBuf,
    /// Where it is mounted.
    pub container_agent_dir: String,
    /// How often to look at the directory for kubelet restarts.
    pub poll: Duration,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            dir: DEFAULT_DIR.into(),
            socket_name: "oneagent.sock".into(),
            resource_name: crate::RESOURCE_NAME.into(),
            devices: 100,
            host_agent_dir: "/usr/lib/oneagent".into(),
            container_agent_dir: crate::CONTAINER_AGENT_DIR.into(),
            poll: Duration::from_secs(1),
        }
    }
}

/// The gRPC service.
#[derive(Debug)]
pub struct Plugin {
    config: PluginConfig,
    devices: watch::Receiver<Vec<pb::Device>>,
    stop: watch::Receiver<bool>,
}

/// The fixed pool of healthy virtual devices.
pub fn device_pool(n: usize) -> Vec<pb::Device> {
    (0..n)
        .map(|i| pb::Device {
            id: format!("oneagent-{i}"),
            health: HEALTHY.into(),
            topology: None,
        })
        .collect()
}

impl Plugin {
    /// A plugin serving `devices`; its ListAndWatch streams end when `stop` becomes true.
    pub fn new(
        config: PluginConfig,
        devices: watch::Receiver<Vec<pb::Device>>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            config,
            devices,
            stop,
        }
    }

    /// The Allocate answer for one container.
    pub fn container_response(&self) -> pb::ContainerAllocateResponse {
        pb::ContainerAllocateResponse {
            envs: HashMap::new(),
            mounts: vec![pb::Mount {
                container_path: self.config.container_agent_dir.clone(),
                host_path: self.config.host_agent_dir.display().to_string(),
                read_only: true,
            }],
            devices: Vec::new(),
            annotations: HashMap::new(),
            cdi_devices: Vec::new(),
        }
    }
}

type DeviceStream = Pin<Box<dyn Stream<Item = Result<pb::ListAndWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DevicePlugin for Plugin {
    async fn get_device_plugin_options(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::DevicePluginOptions>, Status> {
        Ok(Response::new(options()))
    }

    type ListAndWatchStream = DeviceStream;

    async fn list_and_watch(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        // The current list at once, then every change, until the server stops (a graceful
        // shutdown waits for open streams, so they must end).
        let mut stop = self.stop.clone();
        let stream = futures_util::StreamExt::take_until(
            WatchStream::new(self.devices.clone())
                .map(|devices| Ok(pb::ListAndWatchResponse { devices })),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_preferred_allocation(
        &self,
        request: Request<pb::PreferredAllocationRequest>,
    ) -> Result<Response<pb::PreferredAllocationResponse>, Status> {
        // Every device is the same: the ones that must be included, then the first available.
        let container_responses = request
            .into_inner()
            .container_requests
            .into_iter()
            .map(|c| {
                let size = usize::try_from(c.allocation_size).unwrap_or_default();
                let mut ids = c.must_include_device_i_ds;
                for id in c.available_device_i_ds {
                    if ids.len() >= size {
                        break;
                    }
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                pb::ContainerPreferredAllocationResponse { device_i_ds: ids }
            })
            .collect();
        Ok(Response::new(pb::PreferredAllocationResponse {
            container_responses,
        }))
    }

    async fn allocate(
        &self,
        request: Request<pb::AllocateRequest>,
    ) -> Result<Response<pb::AllocateResponse>, Status> {
        let container_responses = request
            .into_inner()
            .container_requests
            .iter()
            .map(|_| self.container_response())
            .collect();
        Ok(Response::new(pb::AllocateResponse {
            container_responses,
        }))
    }

    async fn pre_start_container(
        &self,
        _: Request<pb::PreStartContainerRequest>,
    ) -> Result<Response<pb::PreStartContainerResponse>, Status> {
        Ok(Response::new(pb::PreStartContainerResponse {}))
    }
}

/// Our options: nothing needed before container start, no preferred allocation logic.
pub fn options() -> pb::DevicePluginOptions {
    pb::DevicePluginOptions {
        pre_start_required: false,
        get_preferred_allocation_available: true,
    }
}

/// A gRPC channel over a unix socket.
pub async fn unix_channel(path: &Path) -> Result<tonic::transport::Channel, Error> {
    let path = path.to_owned();
    // The URI is required by the API but unused: the connector dials the socket.
    Ok(Endpoint::try_from("http://[::1]:1")?
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?)
}

/// Registers with the kubelet.
pub async fn register(config: &PluginConfig) -> Result<(), Error> {
    let channel = unix_channel(&config.dir.join(KUBELET_SOCKET)).await?;
    RegistrationClient::new(channel)
        .register(pb::RegisterRequest {
            version: VERSION.into(),
            endpoint: config.socket_name.clone(),
            resource_name: config.resource_name.clone(),
            options: Some(options()),
        })
        .await?;
    Ok(())
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Runs the plugin until `shutdown` fires: serve, register, re-register after kubelet restarts.
pub async fn run(config: PluginConfig, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let (_devices_tx, devices) = watch::channel(device_pool(config.devices));
    let ours = config.dir.join(&config.socket_name);
    let kubelet = config.dir.join(KUBELET_SOCKET);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        // Wait for the kubelet's socket.
        let Some(kubelet_inode) = inode(&kubelet) else {
            tokio::select! {
                () = tokio::time::sleep(config.poll) => continue,
                _ = shutdown.changed() => return Ok(()),
            }
        };
        match std::fs::remove_file(&ours) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&ours, e)),
        }
        let listener = UnixListener::bind(&ours).map_err(|e| Error::io(&ours, e))?;
        let our_inode = inode(&ours);
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let service = DevicePluginServer::new(Plugin::new(
            config.clone(),
            devices.clone(),
            stop_rx.clone(),
        ));
        let server = tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                    let _ = stop_rx.changed().await;
                }),
        );
        let registered = register(&config).await;
        match &registered {
            Ok(()) => tracing::info!(
                resource = %config.resource_name,
                socket = %ours.display(),
                "Registered with the kubelet"
            ),
            Err(e) => tracing::warn!(error = %e, "Registration with the kubelet failed; retrying"),
        }
        // Watch for a kubelet restart (new kubelet.sock) or our socket being removed.
        let mut stop = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => { stop = true; break; }
            }
            if registered.is_err() {
                break;
            }
            if inode(&kubelet) != Some(kubelet_inode) || inode(&ours) != our_inode {
                tracing::info!("The kubelet restarted; registering again");
                break;
            }
        }
        let _ = stop_tx.send(true);
        let _ = server.await;
        if stop {
            let _ = std::fs::remove_file(&ours);
            return Ok(());
        }
    }
}
