#![allow(clippy::unwrap_used)]

use super::*;

const TD: &str = "11111111-2222-3333-4444-555555555555.consul";

// The cases of Consul's `agent/connect/uri_test.go` (TestParseCertURIFromString).

#[test]
fn parses_a_basic_service_id() {
    let id = ServiceIdentity::parse("spiffe://1234.consul/ns/default/dc/dc01/svc/web").unwrap();
    assert_eq!(id.trust_domain(), "1234.consul");
    assert_eq!(id.partition(), "default");
    assert_eq!(id.namespace(), "default");
    assert_eq!(id.datacenter(), "dc01");
    assert_eq!(id.service(), "web");
    assert_eq!(
        id,
        ServiceIdentity::new("1234.consul", "default", "dc01", "web")
    );
}

#[test]
fn parses_a_service_id_with_a_partition() {
    let id = ServiceIdentity::parse("spiffe://1234.consul/ap/bizdev/ns/default/dc/dc01/svc/web")
        .unwrap();
    assert_eq!(id.partition(), "bizdev");
    assert_eq!(id.service(), "web");
}

#[test]
fn decodes_percent_encoded_segments_as_consul_does() {
    let id = ServiceIdentity::parse(
        "spiffe://1234.consul/ap/biz%2Fdev/ns/foo%2Fbar/dc/bar%2Fbaz/svc/baz%2Fqux",
    )
    .unwrap();
    assert_eq!(id.partition(), "biz/dev");
    assert_eq!(id.namespace(), "foo/bar");
    assert_eq!(id.datacenter(), "bar/baz");
    assert_eq!(id.service(), "baz/qux");
}

#[test]
fn formats_back_exactly() {
    for uri in [
        "spiffe://1234.consul/ns/default/dc/dc01/svc/web",
        "spiffe://1234.consul/ap/bizdev/ns/default/dc/dc01/svc/web",
        "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/team-a/dc/us_east.1/svc/api~v2",
        "spiffe://1234.consul/ap/biz%2Fdev/ns/foo%2Fbar/dc/bar%2Fbaz/svc/baz%2Fqux",
        "spiffe://1234.consul/ns/a%20b/dc/dc1/svc/c%25d",
    ] {
        assert_eq!(ServiceIdentity::parse(uri).unwrap().to_string(), uri);
    }
}

#[test]
fn an_explicit_default_partition_formats_without_ap() {
    // Consul's uriPath() writes /ap/ only for non-default partitions.
    let id = ServiceIdentity::parse("spiffe://1234.consul/ap/default/ns/default/dc/dc1/svc/web")
        .unwrap();
    assert_eq!(
        id.to_string(),
        "spiffe://1234.consul/ns/default/dc/dc1/svc/web"
    );
    let built = ServiceIdentity::new("1234.consul", "default", "dc1", "web").with_partition("");
    assert_eq!(built.partition(), "default");
}

#[test]
fn refuses_other_schemes() {
    let err = ServiceIdentity::parse("http://google.com/").unwrap_err();
    assert!(matches!(err, IdentityError::NotSpiffe { .. }), "{err}");
    assert!(err.to_string().contains("scheme"), "{err}");
}

#[test]
fn accepts_the_scheme_in_any_case() {
    let id = ServiceIdentity::parse("SPIFFE://1234.consul/ns/default/dc/dc1/svc/web").unwrap();
    assert_eq!(id.service(), "web");
}

#[test]
fn refuses_agent_server_gateway_and_signing_ids_naming_what_they_are() {
    for (uri, kind) in [
        ("spiffe://1234.consul/agent/client/dc/dc1/id/uuid", "agent"),
        (
            "spiffe://1234.consul/ap/bizdev/agent/client/dc/dc1/id/uuid",
            "agent",
        ),
        ("spiffe://1234.consul/agent/server/dc/dc1", "server"),
        ("spiffe://1234.consul/gateway/mesh/dc/dc1", "mesh gateway"),
        (
            "spiffe://1234.consul/ap/bizdev/gateway/mesh/dc/dc1",
            "mesh gateway",
        ),
        ("spiffe://1234.consul", "signing (CA)"),
    ] {
        match ServiceIdentity::parse(uri) {
            Err(IdentityError::NotAService { kind: got, .. }) => assert_eq!(got, kind, "{uri}"),
            other => panic!("{uri}: {other:?}"),
        }
    }
}

#[test]
fn refuses_malformed_paths() {
    for uri in [
        "spiffe://1234.consul/ns/default/dc/dc1",
        "spiffe://1234.consul/ns/default/dc/dc1/svc/",
        "spiffe://1234.consul/ns//dc/dc1/svc/web",
        "spiffe://1234.consul/ns/default/dc/dc1/svc/web/extra",
        "spiffe://1234.consul/ap//ns/default/dc/dc1/svc/web",
        "spiffe://1234.consul/svc/web",
        "spiffe://1234.consul/workload/web",
    ] {
        let err = ServiceIdentity::parse(uri).unwrap_err();
        assert!(
            matches!(err, IdentityError::BadFormat { .. }),
            "{uri}: {err:?}"
        );
    }
}

#[test]
fn refuses_bad_percent_encoding_naming_the_segment() {
    for (uri, segment) in [
        (
            "spiffe://1234.consul/ns/default/dc/dc1/svc/we%zz",
            "service",
        ),
        ("spiffe://1234.consul/ns/de%2/dc/dc1/svc/web", "namespace"),
        (
            "spiffe://1234.consul/ns/default/dc/%+1/svc/web",
            "datacenter",
        ),
        (
            "spiffe://1234.consul/ap/%ff/ns/default/dc/dc1/svc/web",
            "partition",
        ),
    ] {
        match ServiceIdentity::parse(uri) {
            Err(IdentityError::BadEncoding { segment: got, .. }) => {
                assert_eq!(got, segment, "{uri}")
            }
            other => panic!("{uri}: {other:?}"),
        }
    }
}

#[test]
fn refuses_query_fragment_port_userinfo_and_empty_host() {
    for uri in [
        "spiffe://1234.consul/ns/default/dc/dc1/svc/web?x=1",
        "spiffe://1234.consul/ns/default/dc/dc1/svc/web#f",
        "spiffe://1234.consul:8443/ns/default/dc/dc1/svc/web",
        "spiffe://u@1234.consul/ns/default/dc/dc1/svc/web",
        "spiffe:///ns/default/dc/dc1/svc/web",
        "spiffe://1234.consul/ns/default/dc/dc1/svc/we b",
    ] {
        let err = ServiceIdentity::parse(uri).unwrap_err();
        assert!(
            matches!(err, IdentityError::BadUri { .. }),
            "{uri}: {err:?}"
        );
    }
}

#[test]
fn a_long_uri_is_shortened_in_the_error() {
    let uri = format!("spiffe://1234.consul/{}", "x".repeat(10_000));
    let err = ServiceIdentity::parse(&uri).unwrap_err();
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
}

// The cases of Consul's `agent/connect/sni_test.go` (ServiceSNI without a subset).

#[test]
fn sni_in_the_default_partition() {
    let id = ServiceIdentity::new(TD, "default", "dc1", "db");
    assert_eq!(
        id.sni(),
        "db.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul"
    );
    let ns = ServiceIdentity::new(TD, "neighbor", "dc2", "db");
    assert_eq!(
        ns.sni(),
        "db.neighbor.dc2.internal.11111111-2222-3333-4444-555555555555.consul"
    );
}

#[test]
fn sni_outside_the_default_partition_uses_internal_v1() {
    let id = ServiceIdentity::new(TD, "default", "dc1", "db").with_partition("part1");
    assert_eq!(
        id.sni(),
        "db.default.part1.dc1.internal-v1.11111111-2222-3333-4444-555555555555.consul"
    );
}

#[test]
fn sni_is_lowercase() {
    let id = ServiceIdentity::new("ABCD.consul", "Default", "DC1", "Web");
    assert_eq!(id.sni(), "web.default.dc1.internal.abcd.consul");
}

#[test]
fn trust_domains_compare_case_insensitively() {
    let id = ServiceIdentity::parse("spiffe://ABCD.consul/ns/default/dc/dc1/svc/web").unwrap();
    assert!(id.in_trust_domain("abcd.consul"));
    assert!(!id.in_trust_domain("abce.consul"));
}
