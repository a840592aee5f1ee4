//! `oneagent-k8s(8)`, generated from the CLI definition (committed as `man/oneagent-k8s.8`; a
//! test fails when it drifts).
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Escapes text for roff: backslashes, hyphens, and a leading `.` or `'`.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// One `.TP` entry per option of `cmd`: flag, value name, default, help.
fn options(cmd: &clap::Command, out: &mut String) {
    for a in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
    {
        let Some(long) = a.get_long() else { continue };
        let mut head = format!("\\fB\\-\\-{}\\fR", roff(long));
        if a.get_action().takes_values() {
            let value = a
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string());
            head.push_str(&format!(" \\fI{}\\fR", roff(&value)));
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| roff(&v.to_string_lossy()))
            .collect();
        if !defaults.is_empty() {
            head.push_str(&format!(" [default: {}]", defaults.join(", ")));
        }
        if a.is_required_set() {
            head.push_str(" (required)");
        }
        let help = a
            .get_long_help()
            .or(a.get_help())
            .map(|h| roff(&h.to_string()))
            .unwrap_or_default();
        out.push_str(&format!(".TP\n{head}\n{help}\n"));
    }
}

const EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success; for the servers, a clean stop on SIGTERM or SIGINT.
.TP
.B 1
Failure, with one line on standard error naming what failed (a file, the API server, the
kubelet, the bus).
.TP
.B 2
Invalid command line.
.SH ENVIRONMENT
.TP
.B RUST_LOG
Log filter (default
.BR info );
logs go to standard error.
.TP
.B KUBECONFIG
Which cluster to talk to outside a pod; inside a pod the service account is used.
.TP
.B DBUS_SYSTEM_BUS_ADDRESS
The system bus on which
.B device\-plugin
reads oneagentd's detections, unless
.B \-\-peer\-socket
names oneagentd's peer\-to\-peer socket (the generated DaemonSet shares it in an emptyDir at
.IR /run/oneagent\-bus/agent.sock ,
so nodes without a system bus work; the publisher reconnects when oneagentd restarts).
.SH ANNOTATIONS
.TP
.B instrumentation.oneagent.io/detected
On a workload, written by each node\*(Aqs
.BR device\-plugin :
container name to what oneagentd detected in it, for example
.BR {"app":{"language":"dotnet","libc":"musl"}} .
.B libc
is
.B glibc
or
.B musl
(from the program interpreter, PT_INTERP, of the container\*(Aqs runtime process) and absent
when unknown; a bare language string, as earlier versions wrote, is still read.
.TP
.B instrumentation.oneagent.io/intent
On a workload, written by the
.BR controller :
for example
.BR {"version":1,"agent":"opentelemetry","service":"shop","containers":{"app":"dotnet"},"libc":{"app":"musl"}} .
In direct mode (a container that sets
.B LD_PRELOAD
itself or may gain privileges at exec) the webhook sets the runtime\*(Aqs variables in the pod
spec; for .NET,
.B libc
picks the agent\*(Aqs linux\-musl\-* build over linux\-* (glibc, also for a container it does
not name). A C library other than glibc or musl makes the intent invalid (the pod is admitted
with
.BR "skipped: unknown C library ..." ).
.TP
.B instrumentation.oneagent.io/status
On a pod, written by the webhook:
.B injected
or
.BR "skipped: <reason>" .
.SH FILES
.TP
.I /etc/oneagent\-k8s/tls/tls.crt\fR, \fI/etc/oneagent\-k8s/tls/tls.key
The webhook's serving certificate and key, reloaded when they change.
.TP
.I /var/lib/kubelet/device\-plugins/kubelet.sock
The kubelet's device plugin registration socket.
.TP
.I /usr/lib/oneagent
The node agent directory (preload library, agents, the containers' preload.snapshot), mounted
read\-only at
.I /var/oneagent
in instrumented containers.
.SH EXAMPLES
Generate certificates for one install and print the caBundle:
.PP
.EX
oneagent\-k8s certs \-\-out ./oneagent\-certs
.EE
.PP
Restart the opted\-in workloads of a namespace, two at a time:
.PP
.EX
oneagent\-k8s rollout \-\-namespace shop \-\-max\-concurrent 2
.EE
.PP
Manifests for images built and pushed with
.B packaging/k8s/build\-images
to your registry:
.PP
.EX
oneagent\-k8s manifests \-\-out k8s/ \-\-registry registry.example.com/oneagent \-\-tag 0.1.0
.EE
.PP
Manifests whose node collector (the DaemonSet oneagent\-collector, the upstream OpenTelemetry
Collector on every node: OTLP gRPC 4317, OTLP/HTTP 4318 and SkyWalking 11800 on the node's address)
exports to an OTLP/HTTP backend with an API key; without
.B \-\-backend
it only logs a summary of what it receives (the
.B debug
exporter):
.PP
.EX
oneagent\-k8s manifests \-\-out k8s/ \-\-backend https://otlp.example.com:4318 \e
    \-\-backend\-header "Authorization=Bearer KEY"
.EE
.PP
Instrument every namespace but kube\-system, the add\-on's own and those labelled
instrumentation.oneagent.io/enabled=false:
.PP
.EX
oneagent\-k8s manifests \-\-out k8s/ \-\-cluster\-wide
.EE
.SH "SEE ALSO"
.BR oneagentd (8),
.BR oneagent.toml (5),
.BR oneagent\-preload (8),
.BR kubectl (1)
"#;

/// The man page, as committed in `man/oneagent-k8s.8`.
pub fn man_page() -> Vec<u8> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .source(format!("oneagent {}", env!("CARGO_PKG_VERSION")))
        .manual("oneagent");
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let mut text = String::from(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        text.push_str(&format!(".SS \"{}\"\n", roff(sub.get_name())));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            text.push_str(&format!("{}\n", roff(&about.to_string())));
        }
        options(sub, &mut text);
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(EXTRA.as_bytes());
    out
}
