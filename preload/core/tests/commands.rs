//! A table of real-world command lines: each row asserts language, action, reason code, service
//! name and its source.

use oneagent_preload_core::{
    ByteList, ExeFacts, JavaAgentKind, Language, LanguageSet, Policy, ProcessInput,
    ServiceNameSource, decide,
};

#[derive(Clone, Copy, Debug)]
enum Pol {
    Default,
    GlobalOff,
    GlobalOffEnabled(&'static [&'static str]),
    Disabled(&'static [&'static str]),
    Agents(LanguageSet),
    SkyWalking,
    SkipExe(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
struct Row {
    argv: &'static [&'static str],
    env: &'static [&'static str],
    exe: &'static str,
    libs: &'static [&'static str],
    go: Option<&'static str>,
    apphost: bool,
    pkg: Option<(&'static str, ServiceNameSource)>,
    cgroup: &'static str,
    cwd: &'static str,
    policy: Pol,
    lang: &'static str,
    action: &'static str,
    code: &'static str,
    service: &'static str,
    source: &'static str,
    text: Option<&'static str>,
    version: Option<&'static str>,
    already: bool,
    tfm: Option<&'static str>,
    otel_deps: bool,
}

/// `argv`, expected language (`-` for none), action, reason code, service name, name source.
const fn r(
    argv: &'static [&'static str],
    lang: &'static str,
    action: &'static str,
    code: &'static str,
    service: &'static str,
    source: &'static str,
) -> Row {
    Row {
        argv,
        env: &[],
        exe: "",
        libs: &[],
        go: None,
        apphost: false,
        pkg: None,
        cgroup: "",
        cwd: "",
        policy: Pol::Default,
        lang,
        action,
        code,
        service,
        source,
        text: None,
        version: None,
        already: false,
        tfm: None,
        otel_deps: false,
    }
}

impl Row {
    const fn exe(self, exe: &'static str) -> Self {
        Row { exe, ..self }
    }
    const fn env(self, env: &'static [&'static str]) -> Self {
        Row { env, ..self }
    }
    const fn libs(self, libs: &'static [&'static str]) -> Self {
        Row { libs, ..self }
    }
    const fn go(self, version: &'static str) -> Self {
        Row {
            go: Some(version),
            ..self
        }
    }
    const fn apphost(self) -> Self {
        Row {
            apphost: true,
            ..self
        }
    }
    const fn pkg(self, name: &'static str) -> Self {
        self.declared(name, ServiceNameSource::PackageJson)
    }
    /// A name the project declares (the caller read it from `package.json`, `pyproject.toml`, …).
    const fn declared(self, name: &'static str, source: ServiceNameSource) -> Self {
        Row {
            pkg: Some((name, source)),
            ..self
        }
    }
    const fn cg(self, cgroup: &'static str) -> Self {
        Row { cgroup, ..self }
    }
    const fn cwd(self, cwd: &'static str) -> Self {
        Row { cwd, ..self }
    }
    const fn pol(self, policy: Pol) -> Self {
        Row { policy, ..self }
    }
    const fn text(self, text: &'static str) -> Self {
        Row {
            text: Some(text),
            ..self
        }
    }
    const fn ver(self, version: &'static str) -> Self {
        Row {
            version: Some(version),
            ..self
        }
    }
    const fn already(self) -> Self {
        Row {
            already: true,
            ..self
        }
    }
    const fn tfm(self, tfm: &'static str) -> Self {
        Row {
            tfm: Some(tfm),
            ..self
        }
    }
    const fn otel_deps(self) -> Self {
        Row {
            otel_deps: true,
            ..self
        }
    }
}

const JAVA: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
const JAVAC: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/javac";
const PY: &str = "/usr/bin/python3.11";
const NODE: &str = "/usr/bin/node";
const DOTNET: &str = "/usr/share/dotnet/dotnet";
const CORECLR: &str = "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.1/libcoreclr.so";
const KUBEPODS: &str = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f1c2d3e_1a2b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope";

const TOMCAT: &[&str] = &[
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    "-Djava.util.logging.config.file=/opt/tomcat/conf/logging.properties",
    "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djava.protocol.handler.pkgs=org.apache.catalina.webresources",
    "-Dorg.apache.catalina.security.SecurityListener.UMASK=0027",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
    "-classpath",
    "/opt/tomcat/bin/bootstrap.jar:/opt/tomcat/bin/tomcat-juli.jar",
    "-Dcatalina.base=/opt/tomcat",
    "-Dcatalina.home=/opt/tomcat",
    "-Djava.io.tmpdir=/opt/tomcat/temp",
    "org.apache.catalina.startup.Bootstrap",
    "start",
];

const KAFKA: &[&str] = &[
    "java",
    "-Xmx1G",
    "-Xms1G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
    "-Xlog:gc*:file=/opt/kafka/bin/../logs/kafkaServer-gc.log:time,tags:filecount=10,filesize=100M",
    "-Dcom.sun.management.jmxremote",
    "-Dcom.sun.management.jmxremote.authenticate=false",
    "-Dcom.sun.management.jmxremote.ssl=false",
    "-Dkafka.logs.dir=/opt/kafka/bin/../logs",
    "-Dlog4j.configuration=file:/opt/kafka/bin/../config/log4j.properties",
    "-cp",
    "/opt/kafka/bin/../libs/activation-1.1.1.jar:/opt/kafka/bin/../libs/kafka_2.13-3.6.1.jar",
    "kafka.Kafka",
    "/opt/kafka/config/server.properties",
];

const MAVEN: &[&str] = &[
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    "-classpath",
    "/usr/share/maven/boot/plexus-classworlds-2.x.jar",
    "-Dclassworlds.conf=/usr/share/maven/bin/m2.conf",
    "-Dmaven.home=/usr/share/maven",
    "-Dmaven.multiModuleProjectDirectory=/src",
    "org.codehaus.plexus.classworlds.launcher.Launcher",
    "package",
];

const GRADLE_DAEMON: &[&str] = &[
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    "-XX:MaxMetaspaceSize=384m",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-Xms256m",
    "-Xmx512m",
    "-Dfile.encoding=UTF-8",
    "-Duser.country=US",
    "-cp",
    "/root/.gradle/wrapper/dists/gradle-8.5-bin/x/gradle-8.5/lib/gradle-launcher-8.5.jar",
    "-javaagent:/root/.gradle/wrapper/dists/gradle-8.5-bin/x/gradle-8.5/lib/agents/gradle-instrumentation-agent-8.5.jar",
    "org.gradle.launcher.daemon.bootstrap.GradleDaemon",
    "8.5",
];

const ES8: &[&str] = &[
    "/usr/share/elasticsearch/jdk/bin/java",
    "-Xms4g",
    "-Xmx4g",
    "-XX:+UseG1GC",
    "-Des.path.home=/usr/share/elasticsearch",
    "-Des.distribution.type=deb",
    "--module-path",
    "/usr/share/elasticsearch/lib",
    "--add-modules=jdk.net",
    "-m",
    "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch",
];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // ---- Java servers
    r(TOMCAT, "java", "inject", "instrumentable", "tomcat", "main-class").exe(JAVA).ver("17")
        .text("instrumentable java application"),
    r(TOMCAT, "java", "inject", "instrumentable", "tomcat9", "systemd-unit").exe(JAVA)
        .cg("0::/system.slice/tomcat9.service"),
    r(&["java", "-Xms512m", "-Xmx1g", "-jar", "/opt/orders/order-service-1.4.2.jar", "--server.port=8080"],
        "java", "inject", "instrumentable", "order-service", "jar").exe(JAVA),
    r(&["java", "-Dspring.application.name=payments", "-jar", "app.jar"],
        "java", "inject", "instrumentable", "payments", "spring.application.name").exe(JAVA),
    r(&["java", "-Dspring.application.name=payments", "-jar", "app.jar", "--spring.application.name=billing"],
        "java", "inject", "instrumentable", "billing", "spring.application.name").exe(JAVA),
    r(&["java", "-jar", "app-2.0.0-RELEASE.jar"], "java", "inject", "instrumentable", "inventory", "spring.application.name")
        .exe(JAVA).env(&["SPRING_APPLICATION_NAME=inventory"]),
    r(&["java", "-jar", "app-2.0.0-RELEASE.jar"], "java", "inject", "instrumentable", "app", "jar").exe(JAVA),
    r(&["java", "-jar", "target/demo-0.0.1-SNAPSHOT.jar"], "java", "inject", "instrumentable", "demo", "jar").exe(JAVA),
    r(&["java", "-jar", "/srv/jenkins/jenkins.war", "--httpPort=8080"], "java", "inject", "instrumentable", "jenkins", "jar").exe(JAVA),
    r(&["java", "org.springframework.boot.loader.launch.JarLauncher"], "java", "inject", "instrumentable", "java", "executable").exe(JAVA),
    r(&["java", "-Djetty.home=/opt/jetty", "-Djetty.base=/var/lib/jetty", "-jar", "/opt/jetty/start.jar", "jetty.http.port=8080"],
        "java", "inject", "instrumentable", "jetty", "jar").exe(JAVA),
    r(&["java", "-cp", "/opt/jetty/lib/*", "org.eclipse.jetty.start.Main"], "java", "inject", "instrumentable", "jetty", "main-class").exe(JAVA),
    r(KAFKA, "java", "inject", "instrumentable", "kafka", "main-class").exe(JAVA),
    r(&["java", "-Dzookeeper.log.dir=/var/log/zookeeper", "-cp", "/opt/zk/lib/*", "-Xmx1000m",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain", "/opt/zk/conf/zoo.cfg"],
        "java", "inject", "instrumentable", "zookeeper", "main-class").exe(JAVA),
    r(ES8, "java", "inject", "instrumentable", "elasticsearch", "main-class").exe("/usr/share/elasticsearch/jdk/bin/java"),
    r(&["java", "-Xms1g", "-cp", "/usr/share/elasticsearch/lib/*", "org.elasticsearch.bootstrap.Elasticsearch", "-p", "/run/es.pid", "--quiet"],
        "java", "inject", "instrumentable", "elasticsearch", "main-class").exe(JAVA),
    r(&["java", "-cp", "app.jar", "com.example.OrderServiceApplication"],
        "java", "inject", "instrumentable", "orderserviceapplication", "main-class").exe(JAVA),
    r(&["java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-p", "mods", "-m", "com.acme.shop/com.acme.shop.Main"],
        "java", "inject", "instrumentable", "main", "main-class").exe(JAVA),
    r(&["java", "Hello.java"], "java", "inject", "instrumentable", "hello", "script").exe(JAVA),
    r(&["java", "@/etc/app/jvm.args"], "java", "inject", "instrumentable", "java", "executable").exe(JAVA),
    r(&["java", "-showversion", "-jar", "app.jar"], "java", "inject", "instrumentable", "app", "jar").exe(JAVA),
    // ---- Java: not long-running, JDK tools, build tools
    r(&["java", "-version"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA)
        .text("java -version: not a long-running application"),
    r(&["java", "--version"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA),
    r(&["java", "-showversion"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA),
    r(&["java", "-X"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA),
    r(&["java", "-help"], "java", "skip", "not-long-running", "java", "executable"),
    r(&["java"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA),
    r(&["java", "-Xmx1g", "-jar"], "java", "skip", "not-long-running", "java", "executable").exe(JAVA),
    r(&["javac", "-d", "out", "Main.java"], "java", "skip", "build-tool", "javac", "executable").exe(JAVAC),
    r(&["jar", "cf", "app.jar", "-C", "out", "."], "java", "skip", "build-tool", "jar", "executable"),
    r(&["jshell"], "java", "skip", "interactive", "jshell", "executable"),
    r(&["keytool", "-list", "-keystore", "ks.p12"], "java", "skip", "tool", "keytool", "executable"),
    r(&["jcmd", "1234", "Thread.print"], "java", "skip", "tool", "jcmd", "executable"),
    r(MAVEN, "java", "skip", "build-tool", "java", "executable").exe(JAVA).text("build tool: maven"),
    r(GRADLE_DAEMON, "java", "skip", "build-tool", "java", "executable").exe(JAVA).text("build tool: gradle"),
    r(&["java", "-Xmx64m", "-classpath", "/src/gradle/wrapper/gradle-wrapper.jar", "org.gradle.wrapper.GradleWrapperMain", "build"],
        "java", "skip", "build-tool", "java", "executable").exe(JAVA),
    r(&["java", "-Xms1024m", "-jar", "/usr/share/sbt/bin/sbt-launch.jar"], "java", "skip", "build-tool", "sbt-launch", "jar").exe(JAVA),
    r(&["java", "-jar", "/tmp/surefire123/surefirebooter456.jar", "/tmp/surefire123", "x.tmp"],
        "java", "skip", "build-tool", "surefirebooter456", "jar").exe(JAVA),
    r(&["mvn", "package"], "-", "skip", "build-tool", "mvn", "executable"),
    r(&["./gradlew", "build"], "-", "skip", "build-tool", "gradlew", "executable"),
    r(&["cargo", "build", "--release"], "-", "skip", "build-tool", "cargo", "executable").exe("/root/.cargo/bin/cargo"),
    r(&["gcc", "-O2", "-o", "app", "app.c"], "-", "skip", "build-tool", "gcc", "executable").exe("/usr/bin/gcc"),
    r(&["go", "build", "./..."], "go", "skip", "build-tool", "go", "executable").exe("/usr/lib/go-1.22/bin/go").go("go1.22.3"),
    // ---- Java: agents and names
    r(&["java", "-javaagent:/opt/dd-java-agent.jar", "-jar", "app.jar"], "java", "skip", "other-agent", "app", "jar").exe(JAVA)
        .text("other agent present: Datadog: -javaagent:/opt/dd-java-agent.jar"),
    r(&["java", "-jar", "app.jar"], "java", "skip", "other-agent", "app", "jar").exe(JAVA)
        .env(&["JAVA_TOOL_OPTIONS=-Xmx1g -javaagent:/opt/newrelic/newrelic.jar"])
        .text("other agent present: New Relic: -javaagent:/opt/newrelic/newrelic.jar in JAVA_TOOL_OPTIONS"),
    r(&["java", "-agentpath:/opt/yjp/bin/linux-x86-64/libyjpagent.so=port=10001", "-jar", "app.jar"],
        "java", "skip", "other-agent", "app", "jar").exe(JAVA),
    r(&["java", "-agentpath:/opt/dynatrace/oneagent/agent/lib64/liboneagentloader.so", "-jar", "app.jar"],
        "java", "skip", "other-agent", "app", "jar").exe(JAVA),
    r(&["java", "-jar", "app.jar"], "java", "skip", "other-agent", "app", "jar").exe(JAVA)
        .env(&["JDK_JAVA_OPTIONS=-javaagent:/opt/elastic-apm-agent.jar"]),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "app", "jar").exe(JAVA)
        .env(&["JAVA_TOOL_OPTIONS=-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar"]).already()
        .text("instrumentable java application (our agent is already configured)"),
    r(&["java", "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005", "-jar", "app.jar"],
        "java", "inject", "instrumentable", "app", "jar").exe(JAVA),
    r(&["java", "-javaagent:/opt/jmx_prometheus_javaagent-0.20.0.jar=9404:/opt/config.yml", "-jar", "broker.jar"],
        "java", "inject", "instrumentable", "broker", "jar").exe(JAVA),
    r(&["java", "-Dotel.service.name=checkout", "-jar", "app.jar"], "java", "inject", "instrumentable", "checkout", "system-property")
        .exe(JAVA).cg("0::/system.slice/shop.service"),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "checkout-api", "env:OTEL_SERVICE_NAME").exe(JAVA)
        .env(&["OTEL_SERVICE_NAME=Checkout API"]).cg("0::/system.slice/shop.service"),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "cart", "env:OTEL_RESOURCE_ATTRIBUTES").exe(JAVA)
        .env(&["OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, service.name=cart"]),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "sw-orders", "env:SW_AGENT_NAME").exe(JAVA)
        .env(&["OTEL_SERVICE_NAME=otel-orders", "SW_AGENT_NAME=sw-orders"]).pol(Pol::SkyWalking),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "sw-orders", "env:SW_AGENT_NAME").exe(JAVA)
        .env(&["SW_AGENT_NAME=sw-orders"]),
    // ---- policy
    r(&["java", "-jar", "payments-1.0.jar"], "java", "skip", "disabled-service", "payments", "jar").exe(JAVA)
        .pol(Pol::Disabled(&["Payments"])).text("injection disabled for service payments"),
    r(&["java", "-jar", "app.jar"], "java", "skip", "disabled-global", "app", "jar").exe(JAVA).pol(Pol::GlobalOff)
        .text("injection disabled globally"),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "orders", "systemd-unit").exe(JAVA)
        .cg("0::/system.slice/orders.service").pol(Pol::GlobalOffEnabled(&["orders"])),
    r(&["java", "-jar", "app.jar"], "java", "skip", "no-agent", "app", "jar").exe(JAVA)
        .pol(Pol::Agents(LanguageSet::INJECTABLE.without(Language::Java))).text("no agent available for java"),
    r(&["java", "-jar", "app.jar"], "java", "skip", "skip-executable", "app", "jar").exe(JAVA).pol(Pol::SkipExe(&[JAVA])),
    // ---- Python servers and scripts
    r(&["/usr/bin/python3", "/usr/local/bin/gunicorn", "--workers", "4", "--bind", "0.0.0.0:8000", "myproj.wsgi:application"],
        "python", "inject", "instrumentable", "myproj", "python-app").exe(PY).ver("3.11"),
    r(&["gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "--log-level", "info", "main:app"],
        "python", "inject", "instrumentable", "main", "python-app").exe(PY),
    r(&["gunicorn", "app:app"], "python", "inject", "instrumentable", "app", "python-app"),
    r(&["gunicorn: master [shop.wsgi:application]"], "python", "inject", "instrumentable", "shop", "python-app").exe(PY),
    r(&["gunicorn", "-c", "/etc/gunicorn.conf.py"], "python", "inject", "instrumentable", "gunicorn", "script").exe(PY),
    r(&["/usr/bin/python3", "/usr/local/bin/uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"],
        "python", "inject", "instrumentable", "main", "python-app").exe(PY),
    r(&["uvicorn", "app.main:app", "--reload"], "python", "inject", "instrumentable", "app", "python-app").exe(PY),
    r(&["python", "-m", "uvicorn", "api.server:app"], "python", "inject", "instrumentable", "api", "python-app").exe(PY),
    r(&["hypercorn", "--bind", "0.0.0.0:8000", "asgi:application"], "python", "inject", "instrumentable", "asgi", "python-app").exe(PY),
    r(&["daphne", "-b", "0.0.0.0", "-p", "8001", "chat.asgi:application"], "python", "inject", "instrumentable", "chat", "python-app").exe(PY),
    r(&["/usr/bin/python3", "/usr/local/bin/celery", "-A", "proj", "worker", "--loglevel=INFO"],
        "python", "inject", "instrumentable", "proj", "python-app").exe(PY),
    r(&["celery", "--app=tasks.celery:app", "beat"], "python", "inject", "instrumentable", "tasks", "python-app").exe(PY),
    r(&["celery", "worker", "-A", "billing", "-c", "4"], "python", "inject", "instrumentable", "billing", "python-app").exe(PY),
    r(&["celery", "-A", "proj", "inspect", "active"], "python", "skip", "not-long-running", "proj", "python-app").exe(PY),
    r(&["python3", "manage.py", "runserver", "0.0.0.0:8000"], "python", "inject", "instrumentable", "shop", "python-app")
        .exe(PY).cwd("/srv/shop"),
    r(&["python3", "/srv/blog/manage.py", "runserver"], "python", "inject", "instrumentable", "blog", "python-app").exe(PY),
    // Generic entry points: the directory they live in (skipping src/, dist/, target/…), else
    // the working directory's; without either, the stem.
    r(&["node", "index.js"], "nodejs", "inject", "instrumentable", "shop", "directory").exe(NODE).cwd("/srv/shop"),
    r(&["node", "server.js"], "nodejs", "inject", "instrumentable", "cart", "directory").exe(NODE).cwd("/home/ann/cart"),
    r(&["node", "/opt/billing/dist/index.js"], "nodejs", "inject", "instrumentable", "billing", "directory").exe(NODE).cwd("/"),
    r(&["node", "../index.js"], "nodejs", "inject", "instrumentable", "index", "script").exe(NODE).cwd("/srv/shop/sub"),
    r(&["node", "/app/index.js"], "nodejs", "inject", "instrumentable", "index", "script").exe(NODE).cwd("/app"),
    r(&["node", "checkout.js"], "nodejs", "inject", "instrumentable", "checkout", "script").exe(NODE).cwd("/srv/shop"),
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "shop", "directory").exe(PY).cwd("/srv/shop"),
    r(&["python3", "src/main.py"], "python", "inject", "instrumentable", "inventory", "directory").exe(PY).cwd("/srv/inventory"),
    r(&["python3", "/srv/blog/main.py"], "python", "inject", "instrumentable", "blog", "directory").exe(PY).cwd("/"),
    r(&["python3", "worker.py"], "python", "inject", "instrumentable", "worker", "script").exe(PY).cwd("/srv/shop"),
    // A generic entry point's project declares its name (the caller read the manifest).
    r(&["node", "index.js"], "nodejs", "inject", "instrumentable", "storefront", "package.json").exe(NODE).cwd("/srv/shop").pkg("storefront"),
    r(&["node", "server.js"], "nodejs", "inject", "instrumentable", "acme-cart", "package.json").exe(NODE).cwd("/srv/cart").pkg("@acme/cart"),
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "ledger", "pyproject.toml")
        .exe(PY).cwd("/srv/shop").declared("ledger", ServiceNameSource::PyProject),
    r(&["python3", "src/main.py"], "python", "inject", "instrumentable", "stock", "setup.cfg")
        .exe(PY).cwd("/srv/inventory").declared("stock", ServiceNameSource::SetupCfg),
    r(&["python3", "manage.py", "runserver"], "python", "inject", "instrumentable", "cms", "pyproject.toml")
        .exe(PY).cwd("/srv/blog").declared("cms", ServiceNameSource::PyProject),
    // Only generic entry points take a Python project's name; a package.json names no Python
    // script, a pyproject.toml no Node script.
    r(&["python3", "worker.py"], "python", "inject", "instrumentable", "worker", "script")
        .exe(PY).cwd("/srv/shop").declared("ledger", ServiceNameSource::PyProject),
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "shop", "directory").exe(PY).cwd("/srv/shop").pkg("storefront"),
    r(&["node", "index.js"], "nodejs", "inject", "instrumentable", "shop", "directory")
        .exe(NODE).cwd("/srv/shop").declared("ledger", ServiceNameSource::PyProject),
    // An explicit name still wins.
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "mine", "env:OTEL_SERVICE_NAME")
        .exe(PY).cwd("/srv/shop").env(&["OTEL_SERVICE_NAME=mine"]).declared("ledger", ServiceNameSource::PyProject),
    r(&["java", "-jar", "app.jar"], "java", "inject", "instrumentable", "orders", "directory").exe(JAVA).cwd("/srv/orders"),
    r(&["java", "-jar", "target/app-1.0.jar"], "java", "inject", "instrumentable", "orders", "directory").exe(JAVA).cwd("/srv/orders"),
    r(&["java", "-jar", "/opt/payments/app.jar"], "java", "inject", "instrumentable", "payments", "directory").exe(JAVA).cwd("/"),
    r(&["java", "-jar", "shop.jar"], "java", "inject", "instrumentable", "shop", "jar").exe(JAVA).cwd("/srv/orders"),
    r(&["python3", "manage.py", "runserver"], "python", "inject", "instrumentable", "manage", "script").exe(PY),
    r(&["python", "manage.py", "migrate"], "python", "skip", "not-long-running", "shop", "python-app").exe(PY).cwd("/srv/shop"),
    r(&["python", "manage.py", "shell"], "python", "skip", "interactive", "manage", "script").exe(PY),
    r(&["django-admin", "runserver", "--settings=mysite.settings"], "python", "inject", "instrumentable", "mysite", "python-app").exe(PY),
    r(&["/usr/bin/python3", "/usr/local/bin/flask", "--app", "hello", "run", "--host=0.0.0.0"],
        "python", "inject", "instrumentable", "hello", "python-app").exe(PY),
    r(&["flask", "run"], "python", "inject", "instrumentable", "app", "python-app").exe(PY).env(&["FLASK_APP=src/app.py"]),
    r(&["flask", "routes"], "python", "skip", "not-long-running", "flask", "script").exe(PY),
    r(&["python3", "-m", "http.server", "8000"], "python", "inject", "instrumentable", "http.server", "python-module").exe(PY),
    r(&["python3", "-m", "myapp.server"], "python", "inject", "instrumentable", "myapp.server", "python-module").exe(PY),
    r(&["python3", "-mmyapp"], "python", "inject", "instrumentable", "myapp", "python-module").exe(PY),
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "app", "script").exe(PY),
    r(&["python3", "-u", "-W", "ignore", "/opt/worker/run_worker.py", "--queue", "default"],
        "python", "inject", "instrumentable", "run_worker", "script").exe(PY),
    r(&["python3", "myapp/__main__.py"], "python", "inject", "instrumentable", "myapp", "script").exe(PY),
    r(&["pypy3", "app.py"], "python", "inject", "instrumentable", "app", "script").exe("/usr/bin/pypy3").ver("3"),
    r(&["/usr/bin/uwsgi", "--ini", "/etc/uwsgi/app.ini"], "python", "inject", "instrumentable", "uwsgi", "executable")
        .exe("/usr/bin/uwsgi").libs(&["libpcre2-8.so.0", "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"]).ver("3.11"),
    r(&["python3", "/opt/bot/bot.py"], "python", "inject", "instrumentable", "telegram-bot", "systemd-unit").exe(PY)
        .cg("0::/system.slice/telegram-bot.service"),
    r(&["python3", "/opt/jobs/cleanup.py"], "python", "inject", "instrumentable", "cleanup", "script").exe(PY)
        .cg("0::/system.slice/cron.service"),
    // ---- Python: not worth it, other agents
    r(&["python3"], "python", "skip", "interactive", "python3.11", "executable").exe(PY)
        .text("interactive python without a script"),
    r(&["python3", "-i"], "python", "skip", "interactive", "python3", "executable"),
    r(&["python3", "-c", "import sys; print(sys.path)"], "python", "skip", "not-long-running", "python3.11", "executable").exe(PY)
        .text("inline code (-c): not a long-running application"),
    r(&["python3", "-V"], "python", "skip", "not-long-running", "python3.11", "executable").exe(PY),
    r(&["/usr/bin/python3", "/usr/bin/pip", "install", "requests"], "python", "skip", "package-manager", "python3.11", "executable")
        .exe(PY).text("package manager: pip"),
    r(&["pip3", "install", "-r", "requirements.txt"], "python", "skip", "package-manager", "pip3", "executable"),
    r(&["python", "-m", "pip", "install", "-r", "requirements.txt"], "python", "skip", "package-manager", "python3.11", "executable").exe(PY),
    r(&["python3", "-m", "venv", ".venv"], "python", "skip", "package-manager", "python3.11", "executable").exe(PY),
    r(&["/usr/bin/python3", "/usr/local/bin/pytest", "-q"], "python", "skip", "build-tool", "python3.11", "executable").exe(PY),
    r(&["/usr/bin/python3", "/usr/local/bin/ddtrace-run", "gunicorn", "app:app"], "python", "skip", "other-agent", "ddtrace-run", "script").exe(PY),
    r(&["python3", "app.py"], "python", "skip", "other-agent", "app", "script").exe(PY)
        .env(&["PYTHONPATH=/srv/lib:/usr/local/lib/python3.11/site-packages/ddtrace/bootstrap"])
        .text("other agent present: Datadog: /usr/local/lib/python3.11/site-packages/ddtrace/bootstrap in PYTHONPATH"),
    r(&["python3", "app.py"], "python", "skip", "other-agent", "app", "script").exe(PY)
        .env(&["PYTHONPATH=/usr/local/lib/python3.11/site-packages/opentelemetry/instrumentation/auto_instrumentation"]),
    r(&["/usr/bin/python3", "/usr/local/bin/opentelemetry-instrument", "python", "app.py"],
        "python", "skip", "other-agent", "opentelemetry-instrument", "script").exe(PY),
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "app", "script").exe(PY)
        .env(&["PYTHONPATH=/usr/lib/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation:/usr/lib/oneagent/agents/python"]).already(),
    // The agent directory alone does not load the agent (its sitecustomize directory does): not
    // "already configured", the plan adds the entry.
    r(&["python3", "app.py"], "python", "inject", "instrumentable", "app", "script").exe(PY)
        .env(&["PYTHONPATH=/usr/lib/oneagent/agents/python"]),
    // ---- Node.js
    r(&["node", "server.js"], "nodejs", "inject", "instrumentable", "server", "script").exe(NODE)
        .text("instrumentable nodejs application"),
    r(&["node", "dist/main.js"], "nodejs", "inject", "instrumentable", "acme-orders-api", "package.json").exe(NODE).pkg("@acme/orders-api"),
    r(&["node", "dist/main.js"], "nodejs", "inject", "instrumentable", "main", "script").exe(NODE),
    r(&["node", "--max-old-space-size=4096", "-r", "dotenv/config", "build/index.js"],
        "nodejs", "inject", "instrumentable", "index", "script").exe(NODE),
    r(&["node", "--title", "api", "--enable-source-maps", "app.mjs"], "nodejs", "inject", "instrumentable", "app", "script").exe(NODE),
    r(&["nodejs", "app.js"], "nodejs", "inject", "instrumentable", "app", "script").exe("/usr/bin/nodejs"),
    r(&["node20", "app.js"], "nodejs", "inject", "instrumentable", "app", "script").exe("/usr/local/bin/node20").ver("20"),
    r(&["node", "-v"], "nodejs", "skip", "not-long-running", "node", "executable").exe(NODE),
    r(&["node"], "nodejs", "skip", "interactive", "node", "executable").exe(NODE),
    r(&["node", "-e", "console.log(1)"], "nodejs", "skip", "not-long-running", "node", "executable").exe(NODE),
    r(&["node", "/usr/bin/npm", "start"], "nodejs", "skip", "launcher", "node", "executable").exe(NODE),
    r(&["npm", "start"], "nodejs", "skip", "launcher", "node", "executable").exe(NODE),
    r(&["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "install"], "nodejs", "skip", "package-manager", "node", "executable")
        .exe(NODE).text("package manager: npm"),
    r(&["npm", "ci"], "nodejs", "skip", "package-manager", "npm", "executable"),
    r(&["node", "/usr/lib/node_modules/npm/bin/npx-cli.js", "next", "start"], "nodejs", "skip", "launcher", "node", "executable").exe(NODE),
    r(&["node", "/usr/local/bin/yarn", "install"], "nodejs", "skip", "package-manager", "node", "executable").exe(NODE),
    r(&["node", "/app/node_modules/.bin/next", "start"], "nodejs", "inject", "instrumentable", "storefront", "package.json")
        .exe(NODE).pkg("storefront"),
    r(&["node", "/app/node_modules/.bin/next", "build"], "nodejs", "skip", "build-tool", "storefront", "package.json")
        .exe(NODE).pkg("storefront"),
    r(&["PM2 v5.3.0: God Daemon (/root/.pm2)"], "nodejs", "skip", "launcher", "node", "executable").exe(NODE),
    r(&["pm2", "start", "app.js"], "nodejs", "skip", "launcher", "pm2", "executable"),
    r(&["node", "/usr/lib/node_modules/pm2/lib/ProcessContainerFork.js"], "nodejs", "inject", "instrumentable", "api-gateway", "pm2")
        .exe(NODE).env(&["pm_id=0", "name=api-gateway", "pm_exec_path=/srv/gw/index.js"]),
    r(&["node", "app.js"], "nodejs", "skip", "other-agent", "app", "script").exe(NODE)
        .env(&["NODE_OPTIONS=--require dd-trace/init"]).text("other agent present: Datadog: dd-trace/init in NODE_OPTIONS"),
    r(&["node", "--import", "@opentelemetry/auto-instrumentations-node/register", "app.js"],
        "nodejs", "skip", "other-agent", "app", "script").exe(NODE),
    r(&["node", "app.js"], "nodejs", "skip", "other-agent", "app", "script").exe(NODE).env(&["NODE_OPTIONS=-r newrelic"]),
    r(&["node", "app.js"], "nodejs", "inject", "instrumentable", "app", "script").exe(NODE)
        .env(&["NODE_OPTIONS=--require /usr/lib/oneagent/agents/nodejs/register.js"]).already(),
    r(&["node", "/app/node_modules/.bin/tsc", "-p", "."], "nodejs", "skip", "build-tool", "node", "executable").exe(NODE),
    r(&["node", "/app/node_modules/.bin/ts-node", "src/index.ts"], "nodejs", "inject", "instrumentable", "index", "script").exe(NODE),
    r(&["node", "server.js"], "nodejs", "inject", "instrumentable", "notes", "systemd-unit").exe(NODE)
        .cg("0::/user.slice/user-1000.slice/user@1000.service/app.slice/notes.service"),
    r(&["node", "server.js"], "nodejs", "inject", "instrumentable", "server", "script").exe(NODE).cg(KUBEPODS),
    // ---- .NET
    r(&["dotnet", "Orders.Api.dll"], "dotnet", "inject", "instrumentable", "orders.api", "dll").exe(DOTNET),
    r(&["dotnet", "/app/Orders.Api.dll", "--urls", "http://+:8080"], "dotnet", "inject", "instrumentable", "orders.api", "dll")
        .exe(DOTNET).libs(&[CORECLR]).ver("8.0.1"),
    r(&["dotnet", "exec", "--runtimeconfig", "x.json", "Billing.dll"], "dotnet", "inject", "instrumentable", "billing", "dll").exe(DOTNET),
    r(&["dotnet", "--info"], "dotnet", "skip", "not-long-running", "dotnet", "executable").exe(DOTNET),
    r(&["dotnet", "build"], "dotnet", "skip", "build-tool", "dotnet", "executable").exe(DOTNET),
    r(&["dotnet", "run", "--project", "src/Api"], "dotnet", "skip", "build-tool", "dotnet", "executable").exe(DOTNET),
    r(&["dotnet", "restore"], "dotnet", "skip", "package-manager", "dotnet", "executable").exe(DOTNET),
    r(&["/app/MyApi"], "dotnet", "inject", "instrumentable", "myapi", "executable").exe("/app/MyApi")
        .libs(&["libstdc++.so.6", "/usr/share/dotnet/host/fxr/8.0.1/libhostfxr.so"]).ver("8.0.1"),
    r(&["./MyApi", "--urls", "http://+:80"], "dotnet", "inject", "instrumentable", "myapi", "executable").exe("/app/MyApi").apphost(),
    r(&["dotnet", "Orders.Api.dll"], "dotnet", "skip", "other-agent", "orders.api", "dll").exe(DOTNET)
        .env(&["CORECLR_ENABLE_PROFILING=1", "CORECLR_PROFILER={846F5F1C-F9AE-4B07-969E-05C26BC060D8}",
               "CORECLR_PROFILER_PATH=/opt/datadog/Datadog.Trace.ClrProfiler.Native.so"])
        .text("other agent present: Datadog: {846F5F1C-F9AE-4B07-969E-05C26BC060D8} in CORECLR_PROFILER"),
    r(&["dotnet", "Orders.Api.dll"], "dotnet", "inject", "instrumentable", "orders.api", "dll").exe(DOTNET)
        .env(&["CORECLR_ENABLE_PROFILING=1", "CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
               "CORECLR_PROFILER_PATH_64=/usr/lib/oneagent/agents/dotnet/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so"])
        .already(),
    r(&["dotnet", "/app/Legacy.dll"], "dotnet", "skip", "unsupported-runtime", "legacy", "dll").exe(DOTNET).tfm("net6.0")
        .text("dotnet net6.0: not supported by our agent (.NET 8 or later)"),
    r(&["dotnet", "/app/Orders.Api.dll"], "dotnet", "inject", "instrumentable", "orders.api", "dll").exe(DOTNET).tfm("net8.0"),
    r(&["/app/Traced"], "dotnet", "skip", "other-agent", "traced", "executable").exe("/app/Traced").apphost().otel_deps(),
    r(&["pwsh"], "-", "skip", "not-runtime", "pwsh", "executable").exe("/opt/microsoft/powershell/7/pwsh")
        .libs(&["/opt/microsoft/powershell/7/libhostfxr.so"]),
    r(&["bash"], "-", "skip", "not-runtime", "bash", "executable").exe("/usr/bin/bash")
        .env(&["ASPNETCORE_URLS=http://+:80", "DOTNET_RUNNING_IN_CONTAINER=true"]),
    // ---- Go, Ruby, PHP: report only
    r(&["/usr/local/bin/prometheus", "--config.file=/etc/prometheus.yml"], "go", "skip", "report-only", "prometheus", "executable")
        .exe("/usr/local/bin/prometheus").go("go1.22.3").ver("1.22.3").text("go: no injection (report only)"),
    r(&["/usr/local/bin/gateway"], "go", "skip", "report-only", "api-gateway", "systemd-unit")
        .exe("/usr/local/bin/gateway").go("go1.21.0").cg("0::/system.slice/api-gateway.service"),
    r(&["/usr/bin/ruby3.1", "/usr/local/bin/puma", "-C", "config/puma.rb"], "ruby", "skip", "report-only", "puma", "script")
        .exe("/usr/bin/ruby3.1").ver("3.1"),
    r(&["ruby", "bin/rails", "server"], "ruby", "skip", "report-only", "rails", "script").exe("/usr/bin/ruby3.1"),
    r(&["ruby", "/usr/local/bin/bundle", "exec", "puma", "-p", "3000"], "ruby", "skip", "report-only", "puma", "script")
        .exe("/usr/bin/ruby3.1"),
    r(&["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"], "php", "skip", "report-only", "php-fpm8.2", "executable")
        .exe("/usr/sbin/php-fpm8.2").ver("8.2"),
    r(&["php", "artisan", "serve"], "php", "skip", "report-only", "artisan", "script").exe("/usr/bin/php8.2"),
    // ---- shells and tools that mention runtimes
    r(&["grep", "java"], "-", "skip", "not-runtime", "grep", "executable").exe("/usr/bin/grep")
        .text("not a recognised runtime"),
    r(&["grep", "java"], "-", "skip", "not-runtime", "grep", "executable"),
    r(&["bash", "-c", "python app.py"], "-", "skip", "not-runtime", "bash", "executable").exe("/usr/bin/bash"),
    r(&["vim", "app.py"], "-", "skip", "not-runtime", "vim.basic", "executable").exe("/usr/bin/vim.basic"),
    r(&["cat", "server.js"], "-", "skip", "not-runtime", "cat", "executable").exe("/usr/bin/cat"),
    r(&["man", "python"], "-", "skip", "not-runtime", "man", "executable").exe("/usr/bin/man"),
    r(&["/bin/sh", "/opt/tomcat/bin/catalina.sh", "run"], "-", "skip", "not-runtime", "dash", "executable").exe("/usr/bin/dash"),
    r(&["/bin/bash", "/opt/kafka/bin/kafka-run-class.sh", "kafka.Kafka", "config/server.properties"],
        "-", "skip", "not-runtime", "bash", "executable").exe("/usr/bin/bash"),
    r(&["-bash"], "-", "skip", "not-runtime", "bash", "executable").exe("/usr/bin/bash"),
    r(&["java", "-jar", "app.jar"], "-", "skip", "not-runtime", "sleep", "executable").exe("/usr/bin/sleep"),
    r(&["apt-get", "install", "-y", "openjdk-17-jre"], "-", "skip", "package-manager", "apt-get", "executable").exe("/usr/bin/apt-get"),
    r(&["sh"], "-", "skip", "not-runtime", "dash", "executable").exe("/usr/bin/dash").cg(KUBEPODS),
    r(&["/usr/bin/python3", "/usr/bin/env", "x"], "-", "skip", "not-runtime", "payments", "systemd-unit").exe("/usr/bin/env")
        .cg("0::/system.slice/payments.service"),
    // ---- systemd units
    r(&["python3", "worker.py"], "python", "inject", "instrumentable", "worker", "systemd-unit").exe(PY)
        .cg("0::/system.slice/system-worker.slice/worker@3.service"),
    r(&["python3", "worker.py"], "python", "inject", "instrumentable", "worker", "script").exe(PY)
        .cg("0::/user.slice/user-1000.slice/session-3.scope"),
    r(&["node", "app.js"], "nodejs", "inject", "instrumentable", "app", "script").exe(NODE)
        .cg("12:pids:/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n"),
    // ---- degenerate input
    r(&[], "-", "skip", "unknown-input", "unknown_service", "default"),
    r(&[""], "-", "skip", "unknown-input", "unknown_service", "default"),
    r(&["", "x"], "java", "inject", "instrumentable", "x", "main-class").exe(JAVA),
];

fn bytes_list(v: &[&'static str]) -> Vec<&'static [u8]> {
    v.iter().map(|s| s.as_bytes()).collect()
}

fn check(row: &Row) -> Result<(), String> {
    let argv = bytes_list(row.argv);
    let env = bytes_list(row.env);
    let libs = bytes_list(row.libs);
    let lists: Vec<&'static [u8]>;
    let mut policy = Policy::DEFAULT;
    match row.policy {
        Pol::Default => {}
        Pol::GlobalOff => policy.enabled = false,
        Pol::GlobalOffEnabled(names) => {
            policy.enabled = false;
            lists = bytes_list(names);
            policy.enabled_services = ByteList::slices(&lists);
        }
        Pol::Disabled(names) => {
            lists = bytes_list(names);
            policy.disabled_services = ByteList::slices(&lists);
        }
        Pol::Agents(set) => policy.agents = set,
        Pol::SkyWalking => policy.java_agent = JavaAgentKind::SkyWalking,
        Pol::SkipExe(paths) => {
            lists = bytes_list(paths);
            policy.skip_executables = ByteList::slices(&lists);
        }
    }
    let input = ProcessInput {
        argv: ByteList::slices(&argv),
        env: ByteList::slices(&env),
        exe: ExeFacts {
            path: row.exe.as_bytes(),
            libraries: ByteList::slices(&libs),
            go_build_info: row.go.is_some(),
            go_version: row.go.map(str::as_bytes),
            dotnet_apphost: row.apphost,
            declared_name: row.pkg.map(|(n, s)| (n.as_bytes(), s)),
            dotnet_target: row.tfm.map(str::as_bytes),
            dotnet_references_otel: row.otel_deps,
        },
        cgroup: row.cgroup.as_bytes(),
        cwd: row.cwd.as_bytes(),
    };
    let d = decide(&input, &policy);
    let got = (
        d.language.map_or("-", |l| l.as_str()),
        d.action.as_str(),
        d.reason.code(),
        d.service_name.as_str(),
        d.service_name_source.as_str(),
    );
    let want = (row.lang, row.action, row.code, row.service, row.source);
    let text = d.reason.to_string();
    let mut problems = Vec::new();
    if got != want {
        problems.push(format!("got {got:?}, want {want:?}"));
    }
    if let Some(t) = row.text
        && t != text
    {
        problems.push(format!("reason text {text:?}, want {t:?}"));
    }
    if let Some(v) = row.version
        && d.runtime_version != Some(v.as_bytes())
    {
        problems.push(format!(
            "version {:?}, want {v:?}",
            d.runtime_version.map(String::from_utf8_lossy)
        ));
    }
    if row.already != d.already_injected {
        problems.push(format!("already_injected {}", d.already_injected));
    }
    if d.action.as_str() == "inject" && d.reason.code() != "instrumentable" {
        problems.push("inject without instrumentable".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{:?}: {} [{text}]", row.argv, problems.join("; ")))
    }
}

#[test]
fn command_table() {
    assert!(ROWS.len() >= 90, "only {} rows", ROWS.len());
    let failures: Vec<String> = ROWS.iter().filter_map(|r| check(r).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn proc_shaped_input() {
    let cmdline =
        b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java\0-jar\0/srv/order-service-1.4.2.jar\0";
    let environ = b"HOME=/root\0OTEL_SERVICE_NAME=\0PATH=/usr/bin\0JAVA_TOOL_OPTIONS=-Xmx1g";
    let mut input = ProcessInput::new(ByteList::nul(cmdline), ByteList::nul(environ));
    input.exe.path = b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java (deleted)";
    input.cgroup = b"0::/system.slice/orders.service\n";
    let d = decide(&input, &Policy::DEFAULT);
    assert_eq!(d.language, Some(Language::Java));
    assert!(d.is_inject());
    // An empty OTEL_SERVICE_NAME is no name: the unit names the service.
    assert_eq!(d.service_name.as_str(), "orders");
    assert_eq!(d.runtime_version, Some(&b"17"[..]));
}

#[test]
fn non_utf8_input() {
    let argv: &[&[u8]] = &[b"/usr/bin/python3", b"/srv/\xff\xfeapp/caf\xc3\xa9.py"];
    let mut input = ProcessInput::new(ByteList::slices(argv), ByteList::nul(b"A=\xff\0\xfe"));
    input.exe.path = b"/usr/bin/python3.11";
    let d = decide(&input, &Policy::DEFAULT);
    assert_eq!(d.language, Some(Language::Python));
    assert_eq!(d.service_name.as_str(), "caf");
    let argv: &[&[u8]] = &[b"java", b"-javaagent:/opt/\xff.jar", b"-jar", b"a.jar"];
    let input = ProcessInput::new(ByteList::slices(argv), ByteList::EMPTY);
    let d = decide(&input, &Policy::DEFAULT);
    assert_eq!(d.reason.code(), "other-agent");
    assert_eq!(
        d.reason.to_string(),
        "other agent present: -javaagent:/opt/\u{FFFD}.jar"
    );
}

#[test]
fn reason_codes_are_listed() {
    for row in ROWS {
        assert!(
            oneagent_preload_core::Reason::CODES.contains(&row.code),
            "{}",
            row.code
        );
    }
}
