//! Generates the kubelet device plugin v1beta1 gRPC code from `proto/deviceplugin.proto`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/deviceplugin.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/deviceplugin.proto"], &["proto"])?;
    Ok(())
}
