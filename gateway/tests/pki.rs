//! `l2tpgw pki`: the generated certificates have the extensions clients need, chain to
//! the CA (by x509-parser, by ike's own verifier, and by `openssl verify` when openssl is
//! installed), private keys are mode 0600, nothing is overwritten without --force, and
//! the PKCS#12 file opens (with p12-keystore, and `openssl pkcs12` when available).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "test code"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod require;

use gateway::pki::{self, KeyType, Options};
use ike::msgs::{IdPayload, IdType};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

fn opts(dir: &Path, key_type: KeyType) -> Options {
    Options {
        dir: dir.to_path_buf(),
        key_type,
        days: 825,
        force: false,
        // A fixed time: 2026-01-01.
        now: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    }
}

fn der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    p.contents
}

struct Ext {
    ca: Option<(bool, Option<u32>)>,
    eku_server: bool,
    eku_client: bool,
    eku_ike: bool,
    ku_sign: bool,
    ku_cert_sign: bool,
    sans: Vec<String>,
}

fn ext(der: &[u8]) -> Ext {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    let mut e = Ext {
        ca: None,
        eku_server: false,
        eku_client: false,
        eku_ike: false,
        ku_sign: false,
        ku_cert_sign: false,
        sans: Vec::new(),
    };
    for x in c.extensions() {
        match x.parsed_extension() {
            ParsedExtension::BasicConstraints(b) => e.ca = Some((b.ca, b.path_len_constraint)),
            ParsedExtension::ExtendedKeyUsage(k) => {
                e.eku_server = k.server_auth;
                e.eku_client = k.client_auth;
                e.eku_ike = k
                    .other
                    .iter()
                    .any(|o| o.to_id_string() == "1.3.6.1.5.5.8.2.2");
            }
            ParsedExtension::KeyUsage(k) => {
                e.ku_sign = k.digital_signature();
                e.ku_cert_sign = k.key_cert_sign();
            }
            ParsedExtension::SubjectAlternativeName(s) => {
                for n in &s.general_names {
                    e.sans.push(match n {
                        GeneralName::DNSName(d) => format!("dns:{d}"),
                        GeneralName::IPAddress(b) => format!("ip:{b:?}"),
                        GeneralName::RFC822Name(m) => format!("email:{m}"),
                        other => format!("{other:?}"),
                    });
                }
            }
            _ => {}
        }
    }
    e
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn check_set(key_type: KeyType) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let o = opts(&dir, key_type);
    pki::create_ca(&o, "Test CA").unwrap();
    pki::create_server(&o, "vpn.example.com").unwrap();
    pki::create_server(&o, "198.51.100.1").unwrap();
    let client = pki::create_client(&o, "alice", Some("correct horse"), false).unwrap();
    assert!(client.generated_password.is_none());
    assert_eq!(mode(&dir), 0o700);

    let ca = der(&dir.join("ca.pem"));
    let e = ext(&ca);
    assert_eq!(e.ca, Some((true, Some(0))));
    assert!(e.ku_cert_sign);

    let server = der(&dir.join("vpn.example.com.pem"));
    let e = ext(&server);
    assert_eq!(e.ca, Some((false, None)));
    assert!(e.eku_server && e.eku_ike && !e.eku_client);
    assert!(e.ku_sign && !e.ku_cert_sign);
    assert_eq!(e.sans, ["dns:vpn.example.com"]);
    assert_eq!(
        ext(&der(&dir.join("198.51.100.1.pem"))).sans,
        ["ip:[198, 51, 100, 1]"]
    );

    let alice = der(&dir.join("alice.pem"));
    let e = ext(&alice);
    assert!(e.eku_client && e.eku_ike && !e.eku_server);
    assert!(e.ku_sign);
    assert_eq!(e.sans, ["dns:alice"]);

    // Every certificate is signed by the CA's key (x509-parser's verifier), within
    // its validity at the given time.
    let (_, ca_cert) = X509Certificate::from_der(&ca).unwrap();
    for leaf in [&server, &alice] {
        let (_, c) = X509Certificate::from_der(leaf).unwrap();
        c.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(c.issuer(), ca_cert.subject());
        let start = c.validity().not_before.timestamp();
        let end = c.validity().not_after.timestamp();
        assert_eq!(end - start, 825 * 86_400 + 3600);
    }

    // Private keys 0600, certificates 0644.
    for f in [
        "ca.key.pem",
        "vpn.example.com.key.pem",
        "alice.key.pem",
        "alice.p12",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    for f in ["ca.pem", "vpn.example.com.pem", "alice.pem"] {
        assert_eq!(mode(&dir.join(f)), 0o644, "{f}");
    }

    // The gateway's own certificate code takes the server identity and accepts the
    // client certificate for its name, at a time inside its validity.
    let server_id = ike::Identity::from_pem(
        &std::fs::read(dir.join("vpn.example.com.pem")).unwrap(),
        &std::fs::read(dir.join("vpn.example.com.key.pem")).unwrap(),
    )
    .unwrap();
    let _ = server_id;
    let mut trust = ike::Certificates::new();
    trust
        .add_ca_pem(&std::fs::read(dir.join("ca.pem")).unwrap())
        .unwrap();
    let id = IdPayload {
        id_type: IdType::Fqdn,
        protocol: 0,
        port: 0,
        data: b"alice".to_vec(),
    };
    let at = 1_767_225_600 + 86_400;
    trust.verify_peer(&[&alice], &id, at).unwrap();
    let mallory = IdPayload {
        data: b"mallory".to_vec(),
        ..id.clone()
    };
    assert!(trust.verify_peer(&[&alice], &mallory, at).is_err());

    // The PKCS#12 file: the key, the client certificate and the CA.
    let p12 = std::fs::read(dir.join("alice.p12")).unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(
        &p12,
        "correct horse",
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert_eq!(chain.certs().len(), 2);
    assert_eq!(chain.certs()[0].as_der(), alice.as_slice());
    assert_eq!(chain.certs()[1].as_der(), ca.as_slice());
    let key_pem = std::fs::read_to_string(dir.join("alice.key.pem")).unwrap();
    let (_, key_der) = x509_parser::pem::parse_x509_pem(key_pem.as_bytes()).unwrap();
    assert_eq!(chain.key().as_der(), key_der.contents.as_slice());
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &p12,
            "wrong",
            p12_keystore::Pkcs12ImportPolicy::Strict
        )
        .is_err()
    );

    if !openssl() {
        require::skip(&format!(
            "openssl checks in check_set({key_type:?}): openssl is not on PATH"
        ));
        return;
    }
    let out = Command::new("openssl")
        .args(["verify", "-attime", &at.to_string(), "-CAfile"])
        .arg(dir.join("ca.pem"))
        .arg(dir.join("vpn.example.com.pem"))
        .arg(dir.join("198.51.100.1.pem"))
        .arg(dir.join("alice.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("openssl")
        .args([
            "pkcs12",
            "-info",
            "-noout",
            "-passin",
            "pass:correct horse",
            "-in",
        ])
        .arg(dir.join("alice.p12"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "openssl pkcs12: {text}");
    assert!(
        text.contains("AES-256-CBC") && text.contains("MAC: sha256"),
        "{text}"
    );
}

#[test]
fn rsa_ca_server_and_client() {
    check_set(KeyType::Rsa);
}

#[test]
fn ecdsa_p256_ca_server_and_client() {
    check_set(KeyType::EcdsaP256);
}

#[test]
fn ecdsa_p384_ca_server_and_client() {
    check_set(KeyType::EcdsaP384);
}

#[test]
fn nothing_is_overwritten_without_force_and_force_keeps_keys_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let mut o = opts(&dir, KeyType::EcdsaP256);
    // Without a CA, server and client refuse and write nothing.
    let e = pki::create_server(&o, "vpn.example.com").unwrap_err();
    assert!(e.to_string().contains("pki ca"), "{e}");
    assert!(!dir.exists());
    pki::create_ca(&o, "Test CA").unwrap();
    let ca_before = std::fs::read(dir.join("ca.pem")).unwrap();
    let e = pki::create_ca(&o, "Test CA").unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");
    assert_eq!(std::fs::read(dir.join("ca.pem")).unwrap(), ca_before);

    let c = pki::create_client(&o, "bob@example.com", None, false).unwrap();
    let password = c.generated_password.unwrap();
    assert_eq!(password.len(), 20);
    assert_eq!(
        ext(&der(&dir.join("bob@example.com.pem"))).sans,
        ["email:bob@example.com"]
    );
    let p12 = std::fs::read(dir.join("bob@example.com.p12")).unwrap();
    p12_keystore::KeyStore::from_pkcs12(&p12, &password, p12_keystore::Pkcs12ImportPolicy::Strict)
        .unwrap();
    // A second client of that name is refused before anything is written.
    assert!(pki::create_client(&o, "bob@example.com", Some("x"), false).is_err());
    assert_eq!(std::fs::read(dir.join("bob@example.com.p12")).unwrap(), p12);

    // --force replaces, and a key file made world-readable meanwhile is 0600 again.
    std::fs::set_permissions(
        dir.join("bob@example.com.key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    o.force = true;
    pki::create_client(&o, "bob@example.com", Some("x"), true).unwrap();
    assert_ne!(std::fs::read(dir.join("bob@example.com.p12")).unwrap(), p12);
    assert_eq!(mode(&dir.join("bob@example.com.key.pem")), 0o600);
    assert_eq!(mode(&dir.join("bob@example.com.p12")), 0o600);

    // Unusable names never become paths.
    for bad in ["../evil", "a/b", ".hidden", "", "sp ace"] {
        assert!(
            pki::create_client(&o, bad, Some("x"), false).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn legacy_pkcs12_uses_3des_and_sha1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let o = opts(&dir, KeyType::EcdsaP256);
    pki::create_ca(&o, "Test CA").unwrap();
    pki::create_client(&o, "carol", Some("pw"), true).unwrap();
    let p12 = std::fs::read(dir.join("carol.p12")).unwrap();
    p12_keystore::KeyStore::from_pkcs12(&p12, "pw", p12_keystore::Pkcs12ImportPolicy::Strict)
        .unwrap();
    if !openssl() {
        require::skip("legacy_pkcs12_uses_3des_and_sha1 (openssl part): openssl is not on PATH");
        return;
    }
    let out = Command::new("openssl")
        .args(["pkcs12", "-info", "-noout", "-passin", "pass:pw", "-in"])
        .arg(dir.join("carol.p12"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // OpenSSL 3 reads 3DES without the legacy provider; only RC2/RC4 need it.
    assert!(out.status.success(), "openssl pkcs12: {text}");
    assert!(
        text.contains("MAC: sha1") && text.contains("TripleDES"),
        "{text}"
    );
}

#[test]
fn the_clock_sets_the_validity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    #[allow(clippy::disallowed_methods, reason = "compares with the real clock")]
    let now = SystemTime::now();
    let o = Options {
        now,
        days: 10,
        ..opts(&dir, KeyType::EcdsaP256)
    };
    pki::create_ca(&o, "Test CA").unwrap();
    let ca = der(&dir.join("ca.pem"));
    let (_, c) = X509Certificate::from_der(&ca).unwrap();
    let unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(c.validity().not_before.timestamp() <= unix - 3599);
    assert!(c.validity().not_after.timestamp() >= unix + 10 * 86_400 - 1);
}
