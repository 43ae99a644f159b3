//! The `mesh` entry: what governs the gateway's listener, Consul's checks, rustls's limits.

use rustls::crypto::aws_lc_rs::cipher_suite as cs;
use rustls::NamedGroup;

use super::assert_error;
use crate::consul::{parse_entry_with_warnings, Entry, Mesh};
use crate::intentions::{EscapedSlashes, HeadersWithUnderscores};
use crate::listener::tls::policy::TlsVersion;

fn decode(text: &str) -> (Mesh, Vec<String>) {
    let parsed =
        parse_entry_with_warnings(text, "entries/web.hcl").unwrap_or_else(|e| panic!("{e}"));
    match parsed.entry {
        Entry::Mesh(mesh) => (mesh, parsed.warnings),
        other => panic!("{other:?}"),
    }
}

const FULL: &str = r#"
Kind = "mesh"
Meta { team = "platform" }
TransparentProxy { MeshDestinationsOnly = true }
AllowEnablingPermissiveMutualTLS = false
TLS {
  Incoming {
    TLSMinVersion = "TLSv1_2"
    TLSMaxVersion = "TLS_AUTO"
    CipherSuites  = ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]
    ECDHCurves    = ["P-384", "X25519", "P-521"]
  }
  Outgoing {
    TLSMinVersion = "TLSv1_3"
  }
}
HTTP {
  SanitizeXForwardedClientCert = true
  Incoming {
    RequestNormalization {
      InsecureDisablePathNormalization = false
      MergeSlashes                     = true
      PathWithEscapedSlashesAction     = "UNESCAPE_AND_FORWARD"
      HeadersWithUnderscoresAction     = "DROP_HEADER"
    }
  }
}
Peering { PeerThroughMeshGateways = false }
"#;

#[test]
fn every_block_that_governs_the_listener_is_read_in_order() {
    let (mesh, warnings) = decode(FULL);
    let tls = mesh.tls.expect("TLS.Incoming");
    assert_eq!(tls.line, 7);
    assert_eq!(
        (tls.value.min, tls.value.max),
        (TlsVersion::Tls12, TlsVersion::Tls13)
    );
    assert_eq!(
        tls.value.tls12_suites,
        [
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        ]
    );
    assert_eq!(
        tls.value.kx_groups,
        [NamedGroup::secp384r1, NamedGroup::X25519]
    );
    assert_eq!(
        mesh.sanitize_xfcc.map(|s| (s.value, s.line)),
        Some((true, 18))
    );
    let normalization = mesh.normalization.expect("RequestNormalization").value;
    assert!(normalization.path.merge_slashes);
    assert!(!normalization.path.insecure_disable_path_normalization);
    assert_eq!(
        normalization.path.path_with_escaped_slashes_action,
        EscapedSlashes::Unescape
    );
    assert_eq!(normalization.underscores, HeadersWithUnderscores::Drop);
    assert_eq!(
        warnings,
        ["entries/web.hcl:11: key `TLS.Incoming.ECDHCurves`: P-521 not offered: rustls has no P-521"]
    );
}

#[test]
fn a_block_left_out_leaves_mesh_proxy_in_charge_and_keys_left_out_are_consuls_zero_values() {
    let (mesh, warnings) =
        decode("Kind = \"mesh\"\nHTTP { Incoming { RequestNormalization { } } }\n");
    assert!(mesh.tls.is_none() && mesh.sanitize_xfcc.is_none());
    let normalization = mesh.normalization.unwrap().value;
    assert!(!normalization.path.merge_slashes);
    assert_eq!(
        normalization.path.path_with_escaped_slashes_action,
        EscapedSlashes::Keep
    );
    assert_eq!(normalization.underscores, HeadersWithUnderscores::Allow);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("MergeSlashes`: is false"),
        "{warnings:?}"
    );
}

#[test]
fn versions_below_tls12_and_suites_rustls_lacks() {
    let (mesh, warnings) = decode(
        "Kind = \"mesh\"\nTLS { Incoming {\nTLSMinVersion = \"TLSv1_0\"\nCipherSuites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n} }\n",
    );
    assert_eq!(mesh.tls.unwrap().value.min, TlsVersion::Tls12);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0]
        .starts_with("entries/web.hcl:3: key `TLS.Incoming.TLSMinVersion`: is below TLS 1.2"));
    assert!(warnings[1].contains("TLS_RSA_WITH_AES_128_CBC_SHA not offered"));
    let (mesh, _) = decode("Kind = \"mesh\"\nTLS { Incoming { TLSMinVersion = \"TLSv1_3\" } }\n");
    let tls = mesh.tls.unwrap().value;
    assert_eq!(tls.versions().len(), 1);
}

#[test]
fn consuls_checks_and_ours_are_errors_at_their_key() {
    let tls = |body: &str| format!("Kind = \"mesh\"\nTLS {{\n  Incoming {{\n{body}\n  }}\n}}\n");
    assert_error(
        &tls("TLSMinVersion = \"TLSv1_3\"\nTLSMaxVersion = \"TLSv1_2\""),
        5,
        "TLS.Incoming.TLSMaxVersion",
        "is below TLSMinVersion",
    );
    assert_error(
        &tls("TLSMinVersion = \"tls12\""),
        4,
        "TLS.Incoming.TLSMinVersion",
        "`tls12` is not a TLS version",
    );
    assert_error(
        &tls("CipherSuites = [\"TLS_AES_128_GCM_SHA256\"]"),
        4,
        "TLS.Incoming.CipherSuites",
        "not a cipher suite Consul accepts",
    );
    assert_error(
        &tls("CipherSuites = [\"TLS_RSA_WITH_AES_128_GCM_SHA256\"]"),
        4,
        "TLS.Incoming.CipherSuites",
        "none of TLS_RSA_WITH_AES_128_GCM_SHA256 is a suite rustls speaks",
    );
    assert_error(
        &tls("TLSMinVersion = \"TLSv1_1\"\nECDHCurves = [\"X25519\"]"),
        5,
        "TLS.Incoming.ECDHCurves",
        "TLSv1_2 or higher",
    );
    assert_error(
        &tls("ECDHCurves = [\"secp256r1\"]"),
        4,
        "TLS.Incoming.ECDHCurves",
        "`secp256r1` is not one of",
    );
    assert_error(
        &tls("TLSMaxVersion = \"TLSv1_3\"\nCompression = true"),
        5,
        "TLS.Incoming.Compression",
        "unknown key",
    );
    assert_error(
        "Kind = \"mesh\"\nName = \"global\"\n",
        2,
        "Name",
        "always `mesh`",
    );
    assert_error(
        "Kind = \"mesh\"\nNamespace = \"team\"\n",
        2,
        "Namespace",
        "default namespace",
    );
    assert_error(
        "Kind = \"mesh\"\nHTTP { SanitizeXForwardedClientCert = \"maybe\" }\n",
        2,
        "HTTP.SanitizeXForwardedClientCert",
        "expected true or false",
    );
}

#[test]
fn only_tls13_groups_with_tls12_allowed_is_a_warning() {
    let (_, warnings) =
        decode("Kind = \"mesh\"\nTLS { Incoming { ECDHCurves = [\"X25519MLKEM768\"] } }\n");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("TLS 1.3 only"), "{warnings:?}");
}
