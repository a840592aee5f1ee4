//! One pass over the environment, keeping the variables the decision needs.

pub use crate::bytes::is_false;
use crate::bytes::split_once;
use crate::list::ByteList;

/// At most this many environment entries are looked at.
pub const MAX_ENV: usize = 4096;

/// The variables [`decide`](crate::decide) reads; the first occurrence of a key wins (like
/// `getenv`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EnvView<'a> {
    pub otel_service_name: Option<&'a [u8]>,
    pub otel_resource_attributes: Option<&'a [u8]>,
    pub sw_agent_name: Option<&'a [u8]>,
    pub spring_application_name: Option<&'a [u8]>,
    pub java_tool_options: Option<&'a [u8]>,
    pub jdk_java_options: Option<&'a [u8]>,
    pub underscore_java_options: Option<&'a [u8]>,
    pub node_options: Option<&'a [u8]>,
    pub pythonpath: Option<&'a [u8]>,
    pub coreclr_enable_profiling: Option<&'a [u8]>,
    pub coreclr_profiler: Option<&'a [u8]>,
    pub coreclr_profiler_path: Option<&'a [u8]>,
    pub coreclr_profiler_path_64: Option<&'a [u8]>,
    pub flask_app: Option<&'a [u8]>,
    pub django_settings_module: Option<&'a [u8]>,
    pub pm2_name: Option<&'a [u8]>,
    pub pm_exec_path: Option<&'a [u8]>,
    pub otel_dotnet_auto_home: Option<&'a [u8]>,
    pub ld_preload: Option<&'a [u8]>,
    /// [`KILL_SWITCH`]'s value.
    pub kill_switch: Option<&'a [u8]>,
    /// The runtimes' own version variables, as official container images set them.
    pub java_version: Option<&'a [u8]>,
    pub node_version: Option<&'a [u8]>,
    pub python_version: Option<&'a [u8]>,
    pub dotnet_version: Option<&'a [u8]>,
    pub ruby_version: Option<&'a [u8]>,
    pub php_version: Option<&'a [u8]>,
    /// The first documented variable of another vendor's agent (see [`crate::vendor`]) whose
    /// vendor has not switched its agent off: `(name, vendor)`.
    pub vendor_env: Option<(&'a [u8], &'static [u8])>,
    /// What an injected ancestor set ([`INJECTED_MARKER`]).
    pub inherited: Inherited<'a>,
}

/// The per-process kill switch: set to a true value, the preload library does nothing at all in
/// that process (and `decide` says `opted-out`). See [`kill_switch_on`].
pub const KILL_SWITCH: &str = "ONEAGENT_PRELOAD_DISABLE";

/// Whether a value of [`KILL_SWITCH`] turns the library off. Unset, empty or blank, and the
/// false spellings `0`, `false`, `no`, `off`, `n`, `f` (ASCII case and surrounding whitespace
/// ignored) leave it on; every other value (`1`, `true`, `yes`, `on`, and anything unrecognised,
/// since a kill switch must fail safe) turns it off.
pub fn kill_switch_on(value: Option<&[u8]>) -> bool {
    value.is_some_and(|v| !v.trim_ascii().is_empty() && !is_false(v))
}

/// The variable the preload library sets beside the `OTEL_*` ones it chose for a process, naming
/// the values it chose: `service.name=<name>,service.instance.id=<id>` (each only when set). A
/// child process inherits the environment; with the marker it can tell our values from the user's
/// and choose its own name and instance id. Names are sanitized (`[a-z0-9._-]`) and instance ids
/// percent-encoded, so neither contains `,` or `=`.
pub const INJECTED_MARKER: &str = "ONEAGENT_INJECTED";

/// The values an injected ancestor chose, from [`INJECTED_MARKER`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inherited<'a> {
    /// The `OTEL_SERVICE_NAME` it set.
    pub service_name: Option<&'a [u8]>,
    /// The `service.instance.id` it added to `OTEL_RESOURCE_ATTRIBUTES` (as written there).
    pub instance_id: Option<&'a [u8]>,
}

impl<'a> Inherited<'a> {
    /// Parses the marker's value; unknown keys and malformed pairs are ignored.
    pub fn parse(marker: &'a [u8]) -> Self {
        let mut out = Self::default();
        for pair in marker.split(|&b| b == b',').take(8) {
            match split_once(pair, b'=') {
                Some((b"service.name", v)) if !v.is_empty() => out.service_name = Some(v),
                Some((b"service.instance.id", v)) if !v.is_empty() => out.instance_id = Some(v),
                _ => {}
            }
        }
        out
    }

    /// Whether `value` of `OTEL_SERVICE_NAME` is the one an injected ancestor set.
    pub fn is_inherited_name(&self, value: &[u8]) -> bool {
        self.service_name == Some(value)
    }
}

/// Vendors whose off switch is set (at most 8 remembered; more is no realistic environment).
#[derive(Default)]
struct OffSwitches {
    vendors: [&'static [u8]; 8],
    len: usize,
}

impl OffSwitches {
    fn push(&mut self, vendor: &'static [u8]) {
        if let Some(slot) = self.vendors.get_mut(self.len) {
            *slot = vendor;
            self.len = self.len.saturating_add(1);
        }
    }

    fn contains(&self, vendor: &[u8]) -> bool {
        self.vendors.iter().take(self.len).any(|v| *v == vendor)
    }
}

fn set<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

impl<'a> EnvView<'a> {
    pub(crate) fn scan(env: ByteList<'a>) -> Self {
        let mut v = Self::default();
        let mut marker = None;
        let mut off = OffSwitches::default();
        for entry in env.iter().take(MAX_ENV) {
            let Some((key, value)) = split_once(entry, b'=') else {
                continue;
            };
            let slot = match key {
                b"OTEL_SERVICE_NAME" => &mut v.otel_service_name,
                b"OTEL_RESOURCE_ATTRIBUTES" => &mut v.otel_resource_attributes,
                b"SW_AGENT_NAME" => &mut v.sw_agent_name,
                b"SPRING_APPLICATION_NAME" => &mut v.spring_application_name,
                b"JAVA_TOOL_OPTIONS" => &mut v.java_tool_options,
                b"JDK_JAVA_OPTIONS" => &mut v.jdk_java_options,
                b"_JAVA_OPTIONS" => &mut v.underscore_java_options,
                b"NODE_OPTIONS" => &mut v.node_options,
                b"PYTHONPATH" => &mut v.pythonpath,
                b"CORECLR_ENABLE_PROFILING" => &mut v.coreclr_enable_profiling,
                b"CORECLR_PROFILER" => &mut v.coreclr_profiler,
                b"CORECLR_PROFILER_PATH" => &mut v.coreclr_profiler_path,
                b"CORECLR_PROFILER_PATH_64" => &mut v.coreclr_profiler_path_64,
                b"FLASK_APP" => &mut v.flask_app,
                b"DJANGO_SETTINGS_MODULE" => &mut v.django_settings_module,
                b"name" => &mut v.pm2_name,
                b"pm_exec_path" => &mut v.pm_exec_path,
                b"ONEAGENT_INJECTED" => &mut marker,
                b"OTEL_DOTNET_AUTO_HOME" => &mut v.otel_dotnet_auto_home,
                b"LD_PRELOAD" => &mut v.ld_preload,
                b"ONEAGENT_PRELOAD_DISABLE" => &mut v.kill_switch,
                b"JAVA_VERSION" => &mut v.java_version,
                b"NODE_VERSION" => &mut v.node_version,
                b"PYTHON_VERSION" => &mut v.python_version,
                b"DOTNET_VERSION" => &mut v.dotnet_version,
                b"RUBY_VERSION" => &mut v.ruby_version,
                b"PHP_VERSION" => &mut v.php_version,
                _ if !crate::vendor::may_be_vendor_key(key) => continue,
                _ => {
                    if let Some(vendor) = crate::vendor::off_switch(key, value) {
                        off.push(vendor);
                    } else if v.vendor_env.is_none()
                        && !value.trim_ascii().is_empty()
                        && let Some(vendor) = crate::vendor::env_signal(key)
                    {
                        v.vendor_env = Some((key, vendor));
                    }
                    continue;
                }
            };
            set(slot, value);
        }
        if let Some((_, vendor)) = v.vendor_env
            && off.contains(vendor)
        {
            // Rare: that vendor switched its agent off. Look for another vendor's signal.
            v.vendor_env = env.iter().take(MAX_ENV).find_map(|entry| {
                let (key, value) = split_once(entry, b'=')?;
                let vendor = crate::vendor::env_signal(key)?;
                (!value.trim_ascii().is_empty()
                    && crate::vendor::off_switch(key, value).is_none()
                    && !off.contains(vendor))
                .then_some((key, vendor))
            });
        }
        if let Some(marker) = marker {
            v.inherited = Inherited::parse(marker);
            // Our choice for an ancestor is not the user's choice for this process.
            if v.otel_service_name
                .is_some_and(|n| v.inherited.is_inherited_name(n))
            {
                v.otel_service_name = None;
            }
        }
        v
    }

    /// `service.name` from `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k=v`).
    pub(crate) fn resource_service_name(&self) -> Option<&'a [u8]> {
        self.otel_resource_attributes?
            .split(|&b| b == b',')
            .take(64)
            .find_map(|pair| {
                let (k, v) = split_once(pair, b'=')?;
                (k.trim_ascii() == b"service.name").then(|| v.trim_ascii())
            })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{Policy, ProcessInput, ServiceNameSource, decide};
    use std::string::String;

    #[test]
    fn marker_parsing() {
        assert_eq!(
            Inherited::parse(b"service.name=app,service.instance.id=web-01-7"),
            Inherited {
                service_name: Some(b"app"),
                instance_id: Some(b"web-01-7"),
            }
        );
        assert_eq!(
            Inherited::parse(b"service.instance.id=h-1"),
            Inherited {
                service_name: None,
                instance_id: Some(b"h-1"),
            }
        );
        for junk in [
            &b""[..],
            b",,,",
            b"service.name=",
            b"x=y,service.name",
            b"\xff=\xfe",
        ] {
            assert_eq!(Inherited::parse(junk), Inherited::default(), "{junk:?}");
        }
        // `EnvView::scan` matches the marker by a literal: it must be the public name.
        let env: &[&[u8]] = &[b"ONEAGENT_INJECTED=service.name=a"];
        let v = EnvView::scan(ByteList::slices(env));
        assert_eq!(INJECTED_MARKER.as_bytes(), b"ONEAGENT_INJECTED");
        assert_eq!(v.inherited.service_name, Some(&b"a"[..]));
    }

    /// A child of an injected process names itself: the inherited `OTEL_SERVICE_NAME` is ours,
    /// not the user's, when the marker says so.
    #[test]
    fn inherited_service_name_is_not_explicit() {
        let argv: &[&[u8]] = &[b"python3", b"worker.py"];
        let name = |env: &[&[u8]]| {
            let input = ProcessInput::new(ByteList::slices(argv), ByteList::slices(env));
            let d = decide(&input, &Policy::DEFAULT);
            (String::from(d.service_name.as_str()), d.service_name_source)
        };
        assert_eq!(
            name(&[
                b"OTEL_SERVICE_NAME=app",
                b"ONEAGENT_INJECTED=service.name=app"
            ]),
            (String::from("worker"), ServiceNameSource::Script)
        );
        assert_eq!(
            name(&[
                b"OTEL_SERVICE_NAME=billing",
                b"ONEAGENT_INJECTED=service.name=app"
            ]),
            (
                String::from("billing"),
                ServiceNameSource::EnvOtelServiceName
            )
        );
        assert_eq!(
            name(&[b"OTEL_SERVICE_NAME=app"]),
            (String::from("app"), ServiceNameSource::EnvOtelServiceName)
        );
    }
}
