//! The daemon's client of systemd's manager API (`org.freedesktop.systemd1`) on the system bus.

#![forbid(unsafe_code)]

use zbus::OwnedObjectPath;

/// The part of `org.freedesktop.systemd1.Manager` that oneagent uses.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    /// Queues a restart job for `name`; `mode` is usually `replace`.
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
}

/// Checks a unit name and adds `.service` when no unit type is given.
pub fn normalise_unit(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the unit name is empty");
    }
    if name.len() > 255 {
        return Err("the unit name is longer than 255 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'\\' | b'@' | b'-'))
    {
        return Err("unit names hold only letters, digits and : _ . \\ @ -");
    }
    const TYPES: &[&str] = &[
        ".service",
        ".socket",
        ".target",
        ".timer",
        ".mount",
        ".path",
        ".slice",
        ".scope",
        ".device",
        ".swap",
        ".automount",
    ];
    if TYPES.iter().any(|t| name.ends_with(t)) {
        Ok(name.to_owned())
    } else {
        Ok(format!("{name}.service"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(
            normalise_unit("payments").as_deref(),
            Ok("payments.service")
        );
        assert_eq!(
            normalise_unit("worker@3.service").as_deref(),
            Ok("worker@3.service")
        );
        assert_eq!(normalise_unit("x.timer").as_deref(), Ok("x.timer"));
        assert!(normalise_unit("").is_err());
        assert!(normalise_unit("a b").is_err());
        assert!(normalise_unit("../etc").is_err());
    }
}
