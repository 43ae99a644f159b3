use super::*;

/// Consul's documented Lambda walkthrough: `api` calls `authentication` on port 2345.
const API_HCL: &str = r#"service {
  name = "api"
  port = 9090
  check {
    id       = "api-check"
    http     = "http://localhost:9090/health"
    interval = "10s"
  }
  connect {
    sidecar_service {
      proxy {
        upstreams {
          destination_name = "authentication"
          local_bind_port  = 2345
        }
        upstreams {
          destination_name     = "billing"
          local_bind_address   = "127.0.0.2"
          local_bind_port      = "2346"
          datacenter           = "dc2"
          destination_namespace = "payments"
        }
      }
    }
  }
}
"#;

#[test]
fn the_walkthroughs_service_file_gives_its_upstreams() {
    let services = parse(API_HCL, "api.hcl").unwrap();
    assert_eq!(services.len(), 1);
    let api = &services[0];
    assert_eq!(api.name, "api");
    assert_eq!(api.upstreams.len(), 2);
    let auth = &api.upstreams[0];
    assert_eq!(auth.destination_name, "authentication");
    assert_eq!(auth.local_bind_port, 2345);
    assert_eq!(auth.local_bind_address, None);
    assert_eq!(auth.file, "api.hcl");
    assert_eq!(auth.line, 12);
    assert_eq!(
        auth.key,
        "service.connect.sidecar_service.proxy.upstreams[0]"
    );
    let billing = &api.upstreams[1];
    assert_eq!(billing.local_bind_port, 2346);
    assert_eq!(billing.local_bind_address.as_deref(), Some("127.0.0.2"));
    assert_eq!(billing.datacenter.as_deref(), Some("dc2"));
    assert_eq!(billing.destination_namespace.as_deref(), Some("payments"));
}

#[test]
fn json_with_consuls_capitalisation_and_a_services_list() {
    let json = r#"{
  "Service": {
    "Name": "api",
    "Connect": {"SidecarService": {"Proxy": {"Upstreams": [
      {"DestinationName": "authentication", "LocalBindPort": 2345}
    ]}}}
  }
}"#;
    let services = parse(json, "api.json").unwrap();
    assert_eq!(services[0].upstreams[0].destination_name, "authentication");
    assert_eq!(services[0].upstreams[0].line, 5);

    let list = r#"{"services": [
  {"name": "a", "connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "x", "local_bind_port": 1}]}}}},
  {"name": "b", "connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "y", "local_bind_port": 2}]}}}}
]}"#;
    let services = parse(list, "both.json").unwrap();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        services[1].upstreams[0].key,
        "services[1].connect.sidecar_service.proxy.upstreams[0]"
    );
}

#[test]
fn a_connect_proxy_registration_names_its_service() {
    let hcl = r#"service {
  kind = "connect-proxy"
  name = "api-sidecar-proxy"
  port = 21000
  proxy {
    destination_service_name = "api"
    upstreams = [{ destination_name = "authentication", local_bind_port = 2345 }]
  }
}
"#;
    let services = parse(hcl, "proxy.hcl").unwrap();
    assert_eq!(services[0].name, "api");
    assert_eq!(services[0].upstreams[0].local_bind_port, 2345);
}

#[test]
fn other_agent_keys_beside_the_service_are_the_agents() {
    let hcl = "datacenter = \"dc1\"\nservice {\n  name = \"api\"\n  connect { sidecar_service { proxy { upstreams { destination_name = \"a\"\n local_bind_port = 1 } } } }\n}\n";
    assert_eq!(parse(hcl, "agent.hcl").unwrap()[0].name, "api");
}

/// The error's `file:line: key `…`: message` text.
fn error(text: &str) -> String {
    parse(text, "api.hcl").unwrap_err().to_string()
}

#[test]
fn a_broken_service_file_is_named_by_file_line_and_key() {
    let typo = API_HCL.replace("local_bind_port  = 2345", "local_bind_prot  = 2345");
    assert_eq!(
        error(&typo),
        "api.hcl:14: key `service.connect.sidecar_service.proxy.upstreams[0].local_bind_prot`: unknown key (Consul rejects it as an invalid config key)"
    );
    let no_port = API_HCL.replace("local_bind_port  = 2345", "");
    assert_eq!(
        error(&no_port),
        "api.hcl:12: key `service.connect.sidecar_service.proxy.upstreams[0].local_bind_port`: is required (the port the upstream listens on)"
    );
    let big = API_HCL.replace("2345", "70000");
    assert!(
        error(&big).ends_with("upstreams[0].local_bind_port`: must be a port number 0–65535"),
        "{}",
        error(&big)
    );
    let query = API_HCL.replace(
        "destination_name = \"authentication\"",
        "destination_name = \"authentication\"\n          destination_type = \"prepared_query\"",
    );
    assert!(
        error(&query).starts_with("api.hcl:14: key `service.connect.sidecar_service.proxy.upstreams[0].destination_type`: a prepared_query upstream is not supported"),
        "{}",
        error(&query)
    );
    let peer = API_HCL.replace(
        "destination_name = \"authentication\"",
        "destination_name = \"authentication\"\n          destination_peer = \"other\"",
    );
    assert!(
        error(&peer).contains(
            "upstreams[0].destination_peer`: cluster-peering upstreams are not supported"
        ),
        "{}",
        error(&peer)
    );
    assert_eq!(
        error("service {\n  name = \"api\"\n}\n"),
        "api.hcl:1: key `service.connect.sidecar_service.proxy.upstreams`: service `api` declares no upstreams: nothing for mesh-proxy to serve"
    );
    assert_eq!(
        error("datacenter = \"dc1\"\n"),
        "api.hcl:1: key `service`: no service definition (`service { … }` or `services = [ … ]`)"
    );
    assert!(
        error("service {\n  name = \"api\"\n  port = \n}\n").starts_with("api.hcl:4"),
        "{}",
        error("service {\n  name = \"api\"\n  port = \n}\n")
    );
    let gateway = "service {\n  kind = \"terminating-gateway\"\n  name = \"gw\"\n}\n";
    assert!(
        error(gateway).starts_with(
            "api.hcl:2: key `service.kind`: a `terminating-gateway` registration has no upstreams"
        ),
        "{}",
        error(gateway)
    );
}
