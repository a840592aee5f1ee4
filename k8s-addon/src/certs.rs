//! Per-install certificates: a CA and a serving certificate for the webhook's Service.
//!
//! `oneagent-k8s certs --service NAME --namespace NS --out DIR` writes `ca.crt`, `ca.key`,
//! `tls.crt` and `tls.key` (keys mode 0600) and prints the `caBundle` (base64 of the CA's PEM) for
//! the MutatingWebhookConfiguration. Nothing here is ever committed: every install makes its own.
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// A generated CA and serving certificate, PEM-encoded.
#[derive(Clone)]
pub struct Bundle {
    /// The CA certificate.
    pub ca_cert: String,
    /// The CA private key.
    pub ca_key: String,
    /// The serving certificate.
    pub cert: String,
    /// The serving private key.
    pub key: String,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").finish_non_exhaustive()
    }
}

impl Bundle {
    /// The `caBundle` value: base64 of the CA certificate's PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_cert.as_bytes())
    }
}

/// The DNS names the API server uses for a Service.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn validity(params: &mut CertificateParams, years: i32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    // Whole days are enough: the start is yesterday (clock skew), the end `years` later.
    let days = i64::try_from(now / 86_400).unwrap_or_default() - 1;
    let (y, m, d) = civil(days);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub(crate) fn civil(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        i32::try_from(y).unwrap_or(1970),
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

/// Generates a CA (10 years) and a serving certificate for `dns_names` (2 years), ECDSA P-256.
pub fn generate(dns_names: &[String]) -> Result<Bundle, Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "oneagent-k8s webhook CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca_params, 10);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(dns_names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        dns_names.first().cloned().unwrap_or_default(),
    );
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, 2);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Bundle {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key_pem,
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Paths of the files [`write`] creates.
#[derive(Clone, Debug)]
pub struct Files {
    /// `ca.crt`
    pub ca_cert: PathBuf,
    /// `tls.crt`
    pub cert: PathBuf,
    /// `tls.key`
    pub key: PathBuf,
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), Error> {
    // Write to a temporary name and rename, so a watcher never sees half a file.
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes a bundle into `dir` (created if missing).
pub fn write(bundle: &Bundle, dir: &Path) -> Result<Files, Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let files = Files {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    write_file(&files.ca_cert, &bundle.ca_cert, 0o644)?;
    write_file(&dir.join("ca.key"), &bundle.ca_key, 0o600)?;
    write_file(&files.key, &bundle.key, 0o600)?;
    write_file(&files.cert, &bundle.cert, 0o644)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn generates_pem() {
        let b = generate(&service_dns_names("svc", "ns")).unwrap();
        assert!(b.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(b.key.contains("PRIVATE KEY"));
        assert!(!b.ca_bundle().is_empty());
    }
}
