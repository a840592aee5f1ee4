//! One pass over the environment, keeping the variables the decision needs.

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
}

fn set<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

impl<'a> EnvView<'a> {
    pub(crate) fn scan(env: ByteList<'a>) -> Self {
        let mut v = Self::default();
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
                _ => continue,
            };
            set(slot, value);
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
