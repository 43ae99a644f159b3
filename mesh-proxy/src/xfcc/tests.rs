#![allow(clippy::unwrap_used)]

use rustls::ProtocolVersion;
use rustls_pki_types::CertificateDer;

use super::*;

const TD: &str = "11111111-2222-3333-4444-555555555555.consul";

fn peer(subject: &str) -> PeerIdentity {
    PeerIdentity {
        identity: ServiceIdentity::new(TD, "default", "dc1", "web"),
        leaf_der: CertificateDer::from(b"not really DER, only hashed".to_vec()),
        subject: subject.to_owned(),
        alpn: None,
        tls_version: ProtocolVersion::TLSv1_3,
        resumed: false,
    }
}

fn by() -> ServiceIdentity {
    ServiceIdentity::new(TD, "default", "dc1", "authentication")
}

#[test]
fn the_element_has_by_hash_subject_and_uri_in_envoys_order() {
    let element = xfcc_element(&by(), &peer("")).unwrap();
    // sha256("not really DER, only hashed"), computed with `printf %s ... | sha256sum`.
    assert_eq!(
        element.to_str().unwrap(),
        format!(
            "By=spiffe://{TD}/ns/default/dc/dc1/svc/authentication;\
             Hash=d8befe311f58318051d90d5e643fce1f528b26d2c1058047f4e385edf81b32cb;\
             Subject=\"\";URI=spiffe://{TD}/ns/default/dc/dc1/svc/web"
        )
    );
}

#[test]
fn quotes_in_the_subject_are_escaped() {
    let element = xfcc_element(&by(), &peer("CN=a\"b,O=x")).unwrap();
    assert!(
        element
            .to_str()
            .unwrap()
            .contains(r#"Subject="CN=a\"b,O=x""#),
        "{element:?}"
    );
    // Already escaped by RFC 2253: not escaped twice.
    let element = xfcc_element(&by(), &peer(r#"CN=a\"b"#)).unwrap();
    assert!(
        element.to_str().unwrap().contains(r#"Subject="CN=a\"b""#),
        "{element:?}"
    );
}

#[test]
fn a_uri_with_a_separator_is_quoted() {
    let mut p = peer("");
    p.identity = ServiceIdentity::new(TD, "a;b", "dc1", "web");
    let element = xfcc_element(&by(), &p).unwrap();
    assert!(
        element
            .to_str()
            .unwrap()
            .ends_with(&format!(";URI=\"spiffe://{TD}/ns/a;b/dc/dc1/svc/web\"")),
        "{element:?}"
    );
}

#[test]
fn sanitize_set_drops_every_spoofed_value() {
    let mut headers = HeaderMap::new();
    headers.append(
        &XFCC_HEADER,
        HeaderValue::from_static("By=spoof;URI=spiffe://evil"),
    );
    headers.append(&XFCC_HEADER, HeaderValue::from_static("By=spoof2"));
    let ours = xfcc_element(&by(), &peer("")).unwrap();
    apply_xfcc(&mut headers, XfccMode::SanitizeSet, &ours);
    let values: Vec<_> = headers.get_all(&XFCC_HEADER).iter().collect();
    assert_eq!(values, vec![&ours]);
}

#[test]
fn sanitize_set_sets_ours_without_a_client_value() {
    let mut headers = HeaderMap::new();
    let ours = xfcc_element(&by(), &peer("")).unwrap();
    apply_xfcc(&mut headers, XfccMode::SanitizeSet, &ours);
    assert_eq!(headers.get(&XFCC_HEADER), Some(&ours));
}

#[test]
fn sanitize_removes_every_value_and_sets_none() {
    let mut headers = HeaderMap::new();
    headers.append(&XFCC_HEADER, HeaderValue::from_static("By=spoof"));
    headers.append(&XFCC_HEADER, HeaderValue::from_static("By=spoof2"));
    let ours = xfcc_element(&by(), &peer("")).unwrap();
    apply_xfcc(&mut headers, XfccMode::Sanitize, &ours);
    assert_eq!(headers.get_all(&XFCC_HEADER).iter().count(), 0);
}

#[test]
fn append_forward_keeps_the_clients_and_appends_ours() {
    let mut headers = HeaderMap::new();
    headers.append(&XFCC_HEADER, HeaderValue::from_static("By=first"));
    headers.append(&XFCC_HEADER, HeaderValue::from_static(" By=second "));
    let ours = xfcc_element(&by(), &peer("")).unwrap();
    apply_xfcc(&mut headers, XfccMode::AppendForward, &ours);
    let values: Vec<_> = headers.get_all(&XFCC_HEADER).iter().collect();
    assert_eq!(values.len(), 1);
    assert_eq!(
        values[0].to_str().unwrap(),
        format!("By=first,By=second,{}", ours.to_str().unwrap())
    );
}

#[test]
fn append_forward_without_a_client_value_is_ours_alone() {
    let mut headers = HeaderMap::new();
    let ours = xfcc_element(&by(), &peer("")).unwrap();
    apply_xfcc(&mut headers, XfccMode::AppendForward, &ours);
    assert_eq!(headers.get(&XFCC_HEADER), Some(&ours));
}

#[test]
fn modes_parse_from_their_config_names() {
    assert_eq!("sanitize_set".parse(), Ok(XfccMode::SanitizeSet));
    assert_eq!("append_forward".parse(), Ok(XfccMode::AppendForward));
    assert_eq!("sanitize".parse(), Ok(XfccMode::Sanitize));
    assert!("forward_only".parse::<XfccMode>().is_err());
    assert_eq!(XfccMode::default(), XfccMode::SanitizeSet);
}
