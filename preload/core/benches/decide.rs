//! Micro-benchmark of `decide()` (`harness = false`, std only):
//! `CARGO_TARGET_DIR=/tmp/core-target cargo bench -p oneagent-preload-core`.

use std::hint::black_box;
use std::time::Instant;

use oneagent_preload_core::{ByteList, ExeFacts, Policy, ProcessInput, decide, image_language};

const ENV: &[u8] = b"HOSTNAME=web-1\0HOME=/root\0PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0\
LANG=C.UTF-8\0TERM=xterm\0SHLVL=1\0PWD=/srv/app\0LOGNAME=app\0USER=app\0SHELL=/bin/bash\0\
INVOCATION_ID=0f3b2c1d4e5f60718293a4b5c6d7e8f9\0JOURNAL_STREAM=8:12345\0\
SYSTEMD_EXEC_PID=1234\0MEMORY_PRESSURE_WATCH=/sys/fs/cgroup/system.slice/app.service/memory.pressure\0\
XDG_RUNTIME_DIR=/run/user/1000\0TZ=UTC\0LC_ALL=C.UTF-8\0APP_ENV=production\0DB_HOST=db\0DB_PORT=5432\0";

struct Case {
    name: &'static str,
    argv: &'static [u8],
    exe: &'static [u8],
    libs: &'static [u8],
    cgroup: &'static [u8],
    env_extra: &'static [u8],
}

const CASES: &[Case] = &[
    Case {
        name: "tomcat (catalina.sh java line)",
        argv: b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java\0-Djava.util.logging.config.file=/opt/tomcat/conf/logging.properties\0-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager\0-Djdk.tls.ephemeralDHKeySize=2048\0-Djava.protocol.handler.pkgs=org.apache.catalina.webresources\0-Dorg.apache.catalina.security.SecurityListener.UMASK=0027\0--add-opens=java.base/java.lang=ALL-UNNAMED\0--add-opens=java.base/java.io=ALL-UNNAMED\0--add-opens=java.base/java.util=ALL-UNNAMED\0-classpath\0/opt/tomcat/bin/bootstrap.jar:/opt/tomcat/bin/tomcat-juli.jar\0-Dcatalina.base=/opt/tomcat\0-Dcatalina.home=/opt/tomcat\0-Djava.io.tmpdir=/opt/tomcat/temp\0org.apache.catalina.startup.Bootstrap\0start\0",
        exe: b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
        libs: b"libjli.so\0libz.so.1\0libc.so.6\0",
        cgroup: b"0::/system.slice/tomcat9.service\n",
        env_extra: b"JAVA_TOOL_OPTIONS=-Xmx1g\0",
    },
    Case {
        name: "spring boot -jar",
        argv: b"java\0-Xms512m\0-Xmx1g\0-jar\0/opt/orders/order-service-1.4.2.jar\0--server.port=8080\0",
        exe: b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
        libs: b"",
        cgroup: b"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f1c2d3e_1a2b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n",
        env_extra: b"",
    },
    Case {
        name: "gunicorn via shebang",
        argv: b"/usr/bin/python3\0/usr/local/bin/gunicorn\0--workers\x004\0--bind\x000.0.0.0:8000\0myproj.wsgi:application\0",
        exe: b"/usr/bin/python3.11",
        libs: b"libpython3.11.so.1.0\0libc.so.6\0",
        cgroup: b"0::/system.slice/shop.service\n",
        env_extra: b"PYTHONPATH=/srv/app\0",
    },
    Case {
        name: "node server.js",
        argv: b"node\0--max-old-space-size=4096\0dist/server.js\0",
        exe: b"/usr/bin/node",
        libs: b"libnode.so.108\0libc.so.6\0",
        cgroup: b"0::/user.slice/user-1000.slice/session-3.scope\n",
        env_extra: b"NODE_OPTIONS=--enable-source-maps\0",
    },
    Case {
        name: "dotnet app.dll",
        argv: b"dotnet\0/app/Orders.Api.dll\0--urls\0http://+:8080\0",
        exe: b"/usr/share/dotnet/dotnet",
        libs: b"/usr/share/dotnet/host/fxr/8.0.1/libhostfxr.so\0",
        cgroup: b"0::/\n",
        env_extra: b"ASPNETCORE_URLS=http://+:8080\0DOTNET_RUNNING_IN_CONTAINER=true\0",
    },
    Case {
        name: "bash -c (not a runtime)",
        argv: b"bash\0-c\0python app.py\0",
        exe: b"/usr/bin/bash",
        libs: b"libtinfo.so.6\0libc.so.6\0",
        cgroup: b"0::/user.slice/user-1000.slice/session-3.scope\n",
        env_extra: b"",
    },
];

fn main() {
    const ITERS: u32 = 200_000;
    println!("decide(): {ITERS} calls per case");
    for case in CASES {
        let mut env = Vec::from(case.env_extra);
        env.extend_from_slice(ENV);
        let input = ProcessInput {
            argv: ByteList::nul(case.argv),
            env: ByteList::nul(&env),
            exe: ExeFacts {
                path: case.exe,
                libraries: ByteList::nul(case.libs),
                ..ExeFacts::EMPTY
            },
            cgroup: case.cgroup,
            cwd: b"/srv/app",
        };
        let policy = Policy::DEFAULT;
        for _ in 0..10_000 {
            black_box(decide(black_box(&input), black_box(&policy)));
        }
        let start = Instant::now();
        for _ in 0..ITERS {
            black_box(decide(black_box(&input), black_box(&policy)));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(ITERS);
        let d = decide(&input, &policy);
        println!(
            "{:<32} {:>8.0} ns/call   -> {} {} ({}), service {} [{}]",
            case.name,
            ns,
            d.language.map_or("-", |l| l.as_str()),
            d.action,
            d.reason.code(),
            d.service_name,
            d.service_name_source
        );
    }
    // The preload library's early exit for non-runtimes: `image_language` on the executable
    // alone. This is the whole decision a coreutils or shell process pays for.
    const QUICK: u32 = 2_000_000;
    println!("image_language(): {QUICK} calls per executable");
    for (exe, libs) in [
        (&b"/usr/bin/true"[..], &b"libc.so.6\0"[..]),
        (b"/usr/bin/bash", b"libtinfo.so.6\0libc.so.6\0"),
        (b"/usr/bin/ls", b"libselinux.so.1\0libc.so.6\0"),
        (
            b"/usr/lib/systemd/systemd-journald",
            b"libsystemd-shared-252.so\0libc.so.6\0",
        ),
        (b"/usr/bin/python3.11", b"libc.so.6\0"),
    ] {
        let facts = ExeFacts {
            path: exe,
            libraries: ByteList::nul(libs),
            ..ExeFacts::EMPTY
        };
        for _ in 0..100_000 {
            black_box(image_language(black_box(&facts)));
        }
        let start = Instant::now();
        for _ in 0..QUICK {
            black_box(image_language(black_box(&facts)));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(QUICK);
        println!(
            "{:<40} {:>6.1} ns/call   -> {:?}",
            String::from_utf8_lossy(exe),
            ns,
            image_language(&facts)
        );
    }
}
