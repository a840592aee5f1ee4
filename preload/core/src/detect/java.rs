//! Java: `java [options] class [args]`, `java [options] -jar file [args]`,
//! `java [options] -m module[/class] [args]`, `java [options] File.java [args]`.

use super::{Analysis, Args, Ctx};
use crate::bytes::{
    Pairs, Words, basename, before, contains, pairs, strip_suffix_ci, tokens, words,
};
use crate::model::{Language, Reason};
use crate::name::ServiceNameSource;

/// Options that take their value as the next argument.
const VALUE_OPTIONS: Words = words![
    b"-cp",
    b"-classpath",
    b"--class-path",
    b"-p",
    b"--module-path",
    b"--upgrade-module-path",
    b"--add-modules",
    b"--add-opens",
    b"--add-exports",
    b"--add-reads",
    b"--patch-module",
    b"--limit-modules",
    b"--enable-native-access",
    b"--source",
    b"--sun-misc-unsafe-memory-access",
];

/// Options that print something and exit.
const EXIT_OPTIONS: Words = words![
    b"-version",
    b"--version",
    b"-fullversion",
    b"--full-version",
    b"-help",
    b"--help",
    b"-h",
    b"-?",
    b"-X",
    b"--help-extra",
    b"--list-modules",
    b"--validate-modules",
    b"--dry-run",
    b"-d",
    b"--describe-module",
    b"--print-dev-version",
];

/// Main classes (prefixes) of build tools and compilers.
const BUILD_MAIN_PREFIXES: Pairs = pairs![
    (b"org.gradle.", b"gradle"),
    (b"org.codehaus.plexus.classworlds.", b"maven"),
    (b"org.apache.maven.", b"maven"),
    (b"org.apache.tools.ant.", b"ant"),
    (b"xsbt.boot.", b"sbt"),
    (b"sbt.", b"sbt"),
    (b"org.jetbrains.kotlin.", b"kotlin"),
    (b"com.sun.tools.javac.", b"javac"),
    (b"jdk.compiler/", b"javac"),
    (b"com.google.devtools.build.", b"bazel"),
    (b"leiningen.", b"leiningen"),
];

/// Jar names (prefixes) of build tools.
const BUILD_JAR_PREFIXES: Pairs = pairs![
    (b"gradle-wrapper", b"gradle"),
    (b"gradle-launcher", b"gradle"),
    (b"maven-wrapper", b"maven"),
    (b"surefirebooter", b"maven"),
    (b"plexus-classworlds", b"maven"),
    (b"sbt-launch", b"sbt"),
    (b"ant-launcher", b"ant"),
    (b"kotlin-compiler", b"kotlin"),
    (b"A-server", b"bazel"),
];

/// Well-known main classes and the service they are.
const WELL_KNOWN_MAIN: Pairs = pairs![
    (b"org.apache.catalina.startup.Bootstrap", b"tomcat"),
    (b"kafka.Kafka", b"kafka"),
    (
        b"org.apache.zookeeper.server.quorum.QuorumPeerMain",
        b"zookeeper",
    ),
    (
        b"org.apache.zookeeper.server.ZooKeeperServerMain",
        b"zookeeper",
    ),
    (b"org.eclipse.jetty.start.Main", b"jetty"),
    (
        b"org.elasticsearch.bootstrap.Elasticsearch",
        b"elasticsearch",
    ),
    (b"org.opensearch.bootstrap.OpenSearch", b"opensearch"),
    (
        b"org.apache.cassandra.service.CassandraDaemon",
        b"cassandra",
    ),
    (
        b"org.apache.kafka.connect.cli.ConnectDistributed",
        b"kafka-connect",
    ),
    (
        b"org.apache.kafka.connect.cli.ConnectStandalone",
        b"kafka-connect",
    ),
    (
        b"io.confluent.kafka.schemaregistry.rest.SchemaRegistryMain",
        b"schema-registry",
    ),
    (
        b"org.apache.rocketmq.broker.BrokerStartup",
        b"rocketmq-broker",
    ),
    (
        b"org.apache.rocketmq.namesrv.NamesrvStartup",
        b"rocketmq-namesrv",
    ),
    (b"org.apache.activemq.console.Main", b"activemq"),
    (b"org.jboss.modules.Main", b"wildfly"),
    (b"org.apache.nifi.NiFi", b"nifi"),
    (b"org.sonar.application.App", b"sonarqube"),
];

/// Generic launchers whose class name says nothing about the application.
const GENERIC_MAIN: Words = words![
    b"org.springframework.boot.loader.JarLauncher",
    b"org.springframework.boot.loader.WarLauncher",
    b"org.springframework.boot.loader.PropertiesLauncher",
    b"org.springframework.boot.loader.launch.JarLauncher",
    b"org.springframework.boot.loader.launch.WarLauncher",
    b"org.springframework.boot.loader.launch.PropertiesLauncher",
];

/// Well-known jars and the service they are.
const WELL_KNOWN_JAR: Pairs = pairs![(b"start", b"jetty"), (b"jboss-modules", b"wildfly")];

/// Agent libraries that coexist with ours (metrics exporters, not tracers).
const BENIGN_AGENTS: Words = words![b"jmx_prometheus_javaagent", b"jolokia"];

/// Looks at one JVM option for agents and user-chosen names.
fn option<'a>(
    tok: &'a [u8],
    place: &'static str,
    ctx: &Ctx<'a, '_>,
    a: &mut Analysis<'a>,
    spring: &mut Option<&'a [u8]>,
) {
    if let Some(rest) = tok.strip_prefix(b"-D") {
        if let Some(v) = rest.strip_prefix(b"spring.application.name=") {
            spring.get_or_insert(v);
        } else if let Some(v) = rest
            .strip_prefix(b"otel.service.name=")
            .or_else(|| rest.strip_prefix(b"skywalking.agent.service_name="))
        {
            a.user_name
                .get_or_insert((v, ServiceNameSource::SystemProperty));
        }
        return;
    }
    let path = if let Some(v) = tok.strip_prefix(b"-javaagent:") {
        before(v, b'=')
    } else if let Some(v) = tok.strip_prefix(b"-agentpath:") {
        before(v, b'=')
    } else if let Some(v) = tok.strip_prefix(b"-agentlib:") {
        let lib = before(v, b'=');
        if matches!(lib, b"jdwp" | b"hprof") {
            return;
        }
        lib
    } else {
        return;
    };
    if ctx.own.java(path) {
        a.ours = true;
    } else if !BENIGN_AGENTS.iter().any(|b| contains(basename(path), b)) {
        a.set_foreign(tok, place);
    }
}

/// The JVM's option variables: `JAVA_TOOL_OPTIONS` (every JVM), `JDK_JAVA_OPTIONS` (the `java`
/// launcher) and `_JAVA_OPTIONS`.
pub(crate) fn env_options<'a>(
    ctx: &Ctx<'a, '_>,
    a: &mut Analysis<'a>,
    spring: &mut Option<&'a [u8]>,
) {
    let vars: [(Option<&'a [u8]>, &'static str); 3] = [
        (ctx.env.java_tool_options, " in JAVA_TOOL_OPTIONS"),
        (ctx.env.jdk_java_options, " in JDK_JAVA_OPTIONS"),
        (ctx.env.underscore_java_options, " in _JAVA_OPTIONS"),
    ];
    for (value, place) in vars {
        for tok in tokens(value.unwrap_or_default()) {
            option(tok, place, ctx, a, spring);
        }
    }
}

enum Target<'a> {
    Class(&'a [u8]),
    Jar(&'a [u8]),
    Module(&'a [u8]),
}

/// `order-service-1.4.2.jar` → `order-service`; `app-2.0.0-RELEASE.jar` → `app`;
/// `app-SNAPSHOT.jar` → `app`.
pub(crate) fn jar_stem(path: &[u8]) -> &[u8] {
    let base = basename(path);
    let stem = strip_suffix_ci(base, b".jar")
        .or_else(|| strip_suffix_ci(base, b".war"))
        .unwrap_or(base);
    let mut cut = stem;
    let mut rest = stem;
    let mut offset = 0usize;
    while let Some(i) = rest.iter().position(|&b| b == b'-' || b == b'_') {
        let at = offset.saturating_add(i);
        let next = stem.get(at.saturating_add(1)..).unwrap_or_default();
        if next.first().is_some_and(u8::is_ascii_digit)
            || [&b"SNAPSHOT"[..], b"RELEASE", b"FINAL"]
                .iter()
                .any(|s| next.eq_ignore_ascii_case(s))
        {
            cut = stem.get(..at).unwrap_or(stem);
            break;
        }
        offset = at.saturating_add(1);
        rest = next;
    }
    cut
}

fn main_class_name(class: &[u8]) -> Option<&[u8]> {
    if let Some((_, name)) = WELL_KNOWN_MAIN.iter().find(|(c, _)| *c == class) {
        return Some(name);
    }
    if GENERIC_MAIN.contains(&class) {
        return None;
    }
    class.rsplit(|&b| b == b'.').next()
}

fn build_tool_class(class: &[u8]) -> Option<&'static [u8]> {
    BUILD_MAIN_PREFIXES
        .iter()
        .find(|(p, _)| class.starts_with(p))
        .map(|(_, name)| name)
}

/// Analyses `java` arguments (after `argv[0]`).
pub(crate) fn analyze<'a>(mut args: Args<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    let mut a = Analysis::new(Some(Language::Java));
    let mut spring_prop = None;
    let mut spring_tool_options = None;
    env_options(ctx, &mut a, &mut spring_tool_options);
    let mut target = None;
    let mut show_version = false;
    let mut argfile = false;
    while let Some(arg) = args.next() {
        if !arg.starts_with(b"-") {
            if arg.starts_with(b"@") {
                argfile = true;
                continue;
            }
            target = Some(Target::Class(arg));
            break;
        }
        if arg == b"-jar" {
            target = args.next().map(Target::Jar);
            break;
        }
        if arg == b"-m" || arg == b"--module" {
            target = args.next().map(Target::Module);
            break;
        }
        if let Some(m) = arg.strip_prefix(b"--module=") {
            target = Some(Target::Module(m));
            break;
        }
        if VALUE_OPTIONS.contains(&arg) {
            args.next();
        } else if EXIT_OPTIONS.contains(&arg) {
            a.set_skip(Reason::NotLongRunning {
                program: "java",
                arg,
            });
            return a;
        } else if arg == b"-showversion" || arg == b"--show-version" {
            show_version = true;
        } else {
            option(arg, "", ctx, &mut a, &mut spring_prop);
        }
    }
    // Application arguments: Spring's `--spring.application.name=` beats its system property.
    let spring_arg = args
        .clone()
        .find_map(|arg| arg.strip_prefix(b"--spring.application.name="));
    let spring = spring_arg
        .or(spring_prop)
        .or(spring_tool_options)
        .or(ctx.env.spring_application_name);
    a.names
        .push_opt(spring, ServiceNameSource::SpringApplicationName);
    match target {
        None if argfile => {}
        None => a.set_skip(Reason::NotLongRunning {
            program: if show_version {
                "java -showversion"
            } else {
                "java without a main class"
            },
            arg: b"",
        }),
        Some(Target::Jar(path)) => {
            let stem = jar_stem(path);
            if let Some((_, tool)) = BUILD_JAR_PREFIXES.iter().find(|(p, _)| stem.starts_with(p)) {
                a.set_skip(Reason::BuildTool(tool));
            }
            let name = WELL_KNOWN_JAR
                .iter()
                .find(|(j, _)| *j == stem)
                .map_or(stem, |(_, n)| n);
            if name == stem && super::is_generic_entry(stem) {
                // `java -jar /opt/shop/app.jar` → `shop` (not a well-known jar like Jetty's).
                a.names.push_opt(
                    super::entry_dir_name(path, ctx.cwd),
                    ServiceNameSource::Directory,
                );
            }
            a.names.push(name, ServiceNameSource::Jar);
        }
        Some(Target::Class(class)) => {
            if let Some(tool) = build_tool_class(class) {
                a.set_skip(Reason::BuildTool(tool));
            } else if let Some(file) = strip_suffix_ci(class, b".java") {
                a.names.push(basename(file), ServiceNameSource::Script);
            } else {
                a.names
                    .push_opt(main_class_name(class), ServiceNameSource::MainClass);
            }
        }
        Some(Target::Module(spec)) => {
            if let Some(tool) = build_tool_class(spec) {
                a.set_skip(Reason::BuildTool(tool));
            }
            let (module, class) = match crate::bytes::split_once(spec, b'/') {
                Some((m, c)) => (m, Some(c)),
                None => (spec, None),
            };
            let name = match class {
                Some(c) => main_class_name(c),
                None => module.rsplit(|&b| b == b'.').next(),
            };
            a.names.push_opt(name, ServiceNameSource::MainClass);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_stems() {
        assert_eq!(
            jar_stem(b"/opt/app/order-service-1.4.2.jar"),
            b"order-service"
        );
        assert_eq!(jar_stem(b"app-2.0.0-RELEASE.jar"), b"app");
        assert_eq!(jar_stem(b"my-app-SNAPSHOT.jar"), b"my-app");
        assert_eq!(jar_stem(b"billing_2.13-0.1.jar"), b"billing");
        assert_eq!(jar_stem(b"app.jar"), b"app");
        assert_eq!(jar_stem(b"jenkins.war"), b"jenkins");
        assert_eq!(jar_stem(b"x-y-z"), b"x-y-z");
        assert_eq!(jar_stem(b"-1.jar"), b"");
    }
}
