//! `l2tpgw pki`: a small certificate authority for certificate authentication.
//!
//! * [`create_ca`] writes `ca.pem` and `ca.key.pem`: a self-signed CA (basicConstraints
//!   CA with path length 0, keyCertSign and cRLSign).
//! * [`create_server`] writes `NAME.pem` and `NAME.key.pem`, signed by that CA: EKUs
//!   serverAuth and IP security IKE intermediate (1.3.6.1.5.5.8.2.2), which Windows and
//!   macOS look for in an IKE server's certificate, and a subjectAltName for the name (an
//!   IP address SAN when the name is an address, else a DNS name).
//! * [`create_client`] writes `NAME.pem`, `NAME.key.pem` and `NAME.p12`: EKUs clientAuth
//!   and IKE intermediate, a DNS (or e-mail, for a name with `@`) subjectAltName, and a
//!   PKCS#12 file holding the key, the certificate and the CA for Windows, macOS, iOS and
//!   Android to import.
//!
//! Certificates are built with rcgen, RSA keys (2048 bits by default) are generated with
//! the `rsa` crate, ECDSA keys by rcgen; the PKCS#12 file is written by `p12-keystore`
//! (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC; `legacy` gives
//! 3DES and an HMAC-SHA1 MAC for Windows before 10 1709 and older Apple systems).
//! Nothing here writes DER by hand. Files that hold a private key are written mode 0600;
//! existing files are never overwritten unless `force` is set.

use core::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use zeroize::Zeroizing;

/// The IP security IKE intermediate extended key usage (RFC 4945 §5.1.3.12 mentions it;
/// Windows and macOS want it on an IKE server certificate).
pub const EKU_IKE_INTERMEDIATE: [u64; 9] = [1, 3, 6, 1, 5, 5, 8, 2, 2];

/// The CA certificate's file name in the directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA key's file name in the directory.
pub const CA_KEY: &str = "ca.key.pem";

/// Which key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyType {
    /// RSA, 2048 bits, signing with SHA-256 (every client imports it).
    #[default]
    Rsa,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
}

/// What every `pki` command shares.
#[derive(Clone, Debug)]
pub struct Options {
    /// The directory the files go to (created mode 0700 if missing).
    pub dir: PathBuf,
    /// The key type of the new key.
    pub key_type: KeyType,
    /// Validity in days from now (the certificate also starts an hour before now, for
    /// clocks that lag).
    pub days: u32,
    /// Overwrite existing files.
    pub force: bool,
    /// The time "now" (the caller reads the clock).
    pub now: SystemTime,
}

/// What `client` produced.
#[derive(Debug)]
pub struct ClientFiles {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The PKCS#12 password when it was generated (print it once).
    pub generated_password: Option<Zeroizing<String>>,
}

/// Why a `pki` command failed.
#[derive(Debug)]
pub struct PkiError(String);

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PkiError {}

fn err(what: impl fmt::Display) -> PkiError {
    PkiError(what.to_string())
}

/// Creates the CA: `ca.pem` and `ca.key.pem`. `name` is its common name.
pub fn create_ca(opts: &Options, name: &str) -> Result<Vec<PathBuf>, PkiError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(err(format!("{name:?} is not a usable CA name")));
    }
    let cert_path = opts.dir.join(CA_CERT);
    let key_path = opts.dir.join(CA_KEY);
    check_free(&[&cert_path, &key_path], opts.force)?;
    let key = generate_key(opts.key_type)?;
    let mut params = base_params(opts, name)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(|e| err(format!("cannot sign the CA certificate: {e}")))?;
    prepare_dir(&opts.dir)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true, opts.force)?;
    write_file(&cert_path, cert.pem().as_bytes(), false, opts.force)?;
    Ok(vec![cert_path, key_path])
}

/// Creates a server certificate for `name` (a DNS name or an IP address) signed by the
/// CA in the directory: `NAME.pem` and `NAME.key.pem`.
pub fn create_server(opts: &Options, name: &str) -> Result<Vec<PathBuf>, PkiError> {
    check_name(name)?;
    let cert_path = opts.dir.join(format!("{name}.pem"));
    let key_path = opts.dir.join(format!("{name}.key.pem"));
    check_free(&[&cert_path, &key_path], opts.force)?;
    let (_, issuer) = load_ca(&opts.dir)?;
    let key = generate_key(opts.key_type)?;
    let mut params = base_params(opts, name)?;
    params.subject_alt_names = vec![san(name)?];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::Other(EKU_IKE_INTERMEDIATE.to_vec()),
    ];
    leaf(&mut params, opts.key_type);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| err(format!("cannot sign the server certificate: {e}")))?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true, opts.force)?;
    write_file(&cert_path, cert.pem().as_bytes(), false, opts.force)?;
    Ok(vec![cert_path, key_path])
}

/// Creates a client certificate for `name` signed by the CA in the directory:
/// `NAME.pem`, `NAME.key.pem` and `NAME.p12` (the key, the certificate and the CA,
/// encrypted with `password`, or with a generated one that is returned). `legacy`
/// writes the PKCS#12 file with 3DES and an HMAC-SHA1 MAC instead of AES-256 and
/// HMAC-SHA256.
pub fn create_client(
    opts: &Options,
    name: &str,
    password: Option<&str>,
    legacy: bool,
) -> Result<ClientFiles, PkiError> {
    check_name(name)?;
    let cert_path = opts.dir.join(format!("{name}.pem"));
    let key_path = opts.dir.join(format!("{name}.key.pem"));
    let p12_path = opts.dir.join(format!("{name}.p12"));
    check_free(&[&cert_path, &key_path, &p12_path], opts.force)?;
    let (ca_pem, issuer) = load_ca(&opts.dir)?;
    let key = generate_key(opts.key_type)?;
    let mut params = base_params(opts, name)?;
    params.subject_alt_names = vec![if name.contains('@') {
        SanType::Rfc822Name(
            name.try_into()
                .map_err(|e| err(format!("{name:?} is not an e-mail address: {e}")))?,
        )
    } else {
        san(name)?
    }];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::Other(EKU_IKE_INTERMEDIATE.to_vec()),
    ];
    leaf(&mut params, opts.key_type);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| err(format!("cannot sign the client certificate: {e}")))?;
    let (password, generated_password) = match password {
        Some(p) if !p.is_empty() => (Zeroizing::new(p.to_owned()), None),
        Some(_) => return Err(err("the PKCS#12 password must not be empty")),
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let ca_der = pem_der(&ca_pem)?;
    let key_der = Zeroizing::new(key.serialize_der());
    let p12 = pkcs12(
        name,
        &key_der,
        cert.der().as_ref(),
        &ca_der,
        &password,
        legacy,
    )?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true, opts.force)?;
    write_file(&cert_path, cert.pem().as_bytes(), false, opts.force)?;
    write_file(&p12_path, &p12, true, opts.force)?;
    Ok(ClientFiles {
        files: vec![cert_path, key_path, p12_path],
        generated_password,
    })
}

/// A PKCS#12 file with one key, its certificate and the CA certificate.
pub fn pkcs12(
    alias: &str,
    key_pkcs8_der: &[u8],
    cert_der: &[u8],
    ca_der: &[u8],
    password: &str,
    legacy: bool,
) -> Result<Vec<u8>, PkiError> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let key = PrivateKey::from_der(key_pkcs8_der).map_err(|e| err(format!("PKCS#12: {e}")))?;
    let certs = [cert_der, ca_der]
        .into_iter()
        .map(Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("PKCS#12: {e}")))?;
    // The local key ID ties the key to its certificate: the certificate's SHA-1, as
    // OpenSSL and Windows write it.
    let key_id = {
        use sha1::Digest;
        sha1::Sha1::digest(cert_der).to_vec()
    };
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id, key, certs)),
    );
    let writer = store.writer(password);
    let writer = if legacy {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
    } else {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
    };
    writer
        .write()
        .map_err(|e| err(format!("cannot write the PKCS#12 file: {e}")))
}

/// Names become file names and certificate names: no path separators, no leading dot,
/// printable ASCII letters, digits and `.-_@:` only.
fn check_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "{name:?} is not a usable name (letters, digits and .-_@: only, not starting with a dot)"
        )))
    }
}

fn san(name: &str) -> Result<SanType, PkiError> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.try_into()
                .map_err(|e| err(format!("{name:?} is not a DNS name: {e}")))?,
        ),
    })
}

fn base_params(opts: &Options, name: &str) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let start = opts
        .now
        .checked_sub(Duration::from_secs(3600))
        .unwrap_or(opts.now);
    let end = opts
        .now
        .checked_add(Duration::from_secs(u64::from(opts.days) * 86_400))
        .ok_or_else(|| err("--days is too large"))?;
    params.not_before = time::OffsetDateTime::from(start);
    params.not_after = time::OffsetDateTime::from(end);
    let mut serial = [0u8; 16];
    wire::random::SecureRandom::fill(&mut crate::random::OsRandom, &mut serial);
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and 16 bytes long
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

/// End-entity settings: not a CA, the key usages for IKE signatures, an authority key
/// identifier for chain building.
fn leaf(params: &mut CertificateParams, key_type: KeyType) {
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key_type == KeyType::Rsa {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.use_authority_key_identifier_extension = true;
}

fn generate_key(key_type: KeyType) -> Result<KeyPair, PkiError> {
    match key_type {
        KeyType::Rsa => {
            use rsa::pkcs8::EncodePrivateKey as _;
            let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .map_err(|e| err(format!("cannot generate an RSA key: {e}")))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| err(format!("cannot encode the RSA key: {e}")))?;
            KeyPair::try_from(der.as_bytes())
                .map_err(|e| err(format!("cannot use the RSA key: {e}")))
        }
        KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| err(format!("cannot generate a P-256 key: {e}"))),
        KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .map_err(|e| err(format!("cannot generate a P-384 key: {e}"))),
    }
}

/// Reads the CA of `dir`: its PEM and an issuer with its key.
fn load_ca(dir: &Path) -> Result<(String, Issuer<'static, KeyPair>), PkiError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let read = |p: &Path| {
        fs::read_to_string(p).map_err(|e| {
            err(format!(
                "cannot read {} ({e}); create the CA first with `l2tpgw pki ca --dir {}`",
                p.display(),
                dir.display()
            ))
        })
    };
    let ca_pem = read(&cert_path)?;
    let key_pem = Zeroizing::new(read(&key_path)?);
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| err(format!("{}: not a usable key: {e}", key_path.display())))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
        .map_err(|e| err(format!("{}: not a usable CA: {e}", cert_path.display())))?;
    Ok((ca_pem, issuer))
}

/// The DER of the first certificate in a PEM text.
fn pem_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| err(format!("cannot read the CA certificate: {e}")))?;
    Ok(p.contents)
}

/// 20 characters from an alphabet without look-alikes (about 113 bits).
fn generate_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = Zeroizing::new(String::with_capacity(20));
    let mut rng = crate::random::OsRandom;
    while out.len() < 20 {
        let mut b = [0u8; 1];
        wire::random::SecureRandom::fill(&mut rng, &mut b);
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(b[0]) < limit
            && let Some(c) = ALPHABET.get(usize::from(b[0]) % ALPHABET.len())
        {
            out.push(char::from(*c));
        }
    }
    out
}

fn check_free(paths: &[&Path], force: bool) -> Result<(), PkiError> {
    if force {
        return Ok(());
    }
    for p in paths {
        if p.exists() {
            return Err(err(format!(
                "{} exists; not overwritten (use --force to replace it)",
                p.display()
            )));
        }
    }
    Ok(())
}

fn prepare_dir(dir: &Path) -> Result<(), PkiError> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| err(format!("cannot set the mode of {}: {e}", dir.display())))?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], private: bool, force: bool) -> Result<(), PkiError> {
    let mode = if private { 0o600 } else { 0o644 };
    let mut o = OpenOptions::new();
    o.write(true).mode(mode);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let mut f = o
        .open(path)
        .map_err(|e| err(format!("cannot create {}: {e}", path.display())))?;
    // An existing file replaced with --force keeps its mode unless it is set again.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .map_err(|e| err(format!("cannot write {}: {e}", path.display())))
}
