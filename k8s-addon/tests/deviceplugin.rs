//! The device plugin against a fake kubelet on unix sockets in a temporary directory.
use std::path::Path;
use std::time::Duration;

use oneagent_k8s::deviceplugin::pb::device_plugin_client::DevicePluginClient;
use oneagent_k8s::deviceplugin::pb::registration_server::{Registration, RegistrationServer};
use oneagent_k8s::deviceplugin::{self, PluginConfig, pb};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

struct FakeKubelet {
    registered: mpsc::UnboundedSender<pb::RegisterRequest>,
}

#[tonic::async_trait]
impl Registration for FakeKubelet {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let _ = self.registered.send(request.into_inner());
        Ok(Response::new(pb::Empty {}))
    }
}

/// Starts a fake kubelet on `dir/kubelet.sock`; dropping the sender stops it.
fn kubelet(dir: &Path, tx: mpsc::UnboundedSender<pb::RegisterRequest>) -> oneshot::Sender<()> {
    let path = dir.join("kubelet.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RegistrationServer::new(FakeKubelet { registered: tx }))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stop_rx.await;
            }),
    );
    stop_tx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<pb::RegisterRequest>) -> pb::RegisterRequest {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no registration within 10 s")
        .unwrap()
}

#[tokio::test]
async fn registers_serves_and_reregisters_after_kubelet_restart() {
    let dir = tempfile::tempdir().unwrap();
    let agents = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop_kubelet = kubelet(dir.path(), tx.clone());
    let config = PluginConfig {
        dir: dir.path().to_owned(),
        host_agent_dir: agents.path().to_owned(),
        devices: 100,
        poll: Duration::from_millis(100),
        ..PluginConfig::default()
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let plugin = tokio::spawn(deviceplugin::run(config, shutdown_rx));

    let reg = next(&mut rx).await;
    assert_eq!(reg.version, "v1beta1");
    assert_eq!(reg.endpoint, "oneagent.sock");
    assert_eq!(reg.resource_name, "oneagent.io/agents");
    assert!(reg.options.is_some());

    // The kubelet dials the endpoint relative to the directory.
    let channel = deviceplugin::unix_channel(&dir.path().join(&reg.endpoint))
        .await
        .unwrap();
    let mut client = DevicePluginClient::new(channel);
    let opts = client
        .get_device_plugin_options(pb::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert!(!opts.pre_start_required);

    let mut stream = client
        .list_and_watch(pb::Empty {})
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.devices.len(), 100);
    assert!(first.devices.iter().all(|d| d.health == "Healthy"));
    let mut ids: Vec<_> = first.devices.iter().map(|d| d.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 100);

    let alloc = client
        .allocate(pb::AllocateRequest {
            container_requests: vec![
                pb::ContainerAllocateRequest {
                    devices_ids: vec!["oneagent-0".into()],
                },
                pb::ContainerAllocateRequest {
                    devices_ids: vec!["oneagent-1".into()],
                },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alloc.container_responses.len(), 2);
    for r in &alloc.container_responses {
        assert_eq!(
            r.mounts,
            vec![pb::Mount {
                container_path: "/var/oneagent".into(),
                host_path: agents.path().display().to_string(),
                read_only: true,
            }]
        );
    }

    let preferred = client
        .get_preferred_allocation(pb::PreferredAllocationRequest {
            container_requests: vec![pb::ContainerPreferredAllocationRequest {
                available_device_i_ds: vec!["a".into(), "b".into(), "c".into()],
                must_include_device_i_ds: vec!["c".into()],
                allocation_size: 2,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preferred.container_responses[0].device_i_ds, vec!["c", "a"]);
    client
        .pre_start_container(pb::PreStartContainerRequest {
            devices_ids: vec!["oneagent-0".into()],
        })
        .await
        .unwrap();

    // Kubelet restart: it stops, its socket (and ours) are removed, a new one appears.
    drop(stop_kubelet);
    std::fs::remove_file(dir.path().join("kubelet.sock")).unwrap();
    let _ = std::fs::remove_file(dir.path().join("oneagent.sock"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _stop_kubelet = kubelet(dir.path(), tx);
    let again = next(&mut rx).await;
    assert_eq!(again.resource_name, "oneagent.io/agents");
    // Served again on a fresh socket.
    let channel = deviceplugin::unix_channel(&dir.path().join("oneagent.sock"))
        .await
        .unwrap();
    let mut client = DevicePluginClient::new(channel);
    let mut stream = client
        .list_and_watch(pb::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().devices.len(), 100);

    shutdown_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), plugin)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!dir.path().join("oneagent.sock").exists());
}

/// The committed gRPC code is what `tonic-prost-build` makes of `proto/deviceplugin.proto`
/// today (building needs no `protoc`; this test does). Regenerate with
/// `ONEAGENT_REGENERATE=1 cargo test -p oneagent-k8s --test tests generated_grpc_code`.
#[test]
fn generated_grpc_code_matches_the_proto() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out.path())
        .compile_protos(
            &[crate_dir.join("proto/deviceplugin.proto")],
            &[crate_dir.join("proto")],
        )
        .unwrap_or_else(|e| {
            panic!("generating from proto/deviceplugin.proto (needs protoc: Debian's protobuf-compiler): {e}")
        });
    let fresh = std::fs::read_to_string(out.path().join("v1beta1.rs")).unwrap();
    let committed_path = crate_dir.join("src/generated/v1beta1.rs");
    if std::env::var_os("ONEAGENT_REGENERATE").is_some() {
        std::fs::write(&committed_path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap();
    assert!(
        committed == fresh,
        "src/generated/v1beta1.rs is not what proto/deviceplugin.proto generates; regenerate with \
         ONEAGENT_REGENERATE=1 cargo test -p oneagent-k8s --test tests generated_grpc_code"
    );
}
