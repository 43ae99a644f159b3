//! Entry kinds, formats, service-defaults and terminating-gateway.
#![allow(clippy::unwrap_used)]

use super::entries::LinkedService;
use super::{parse_entry, parse_entry_with_warnings, Entry, EntryError};
use crate::config::InvocationMode;

fn parsed(text: &str) -> (Entry, Vec<String>) {
    let p = parse_entry_with_warnings(text, "e.hcl").unwrap_or_else(|e| panic!("{text}\n{e}"));
    (p.entry, p.warnings)
}

fn error(text: &str) -> EntryError {
    parse_entry(text, "e.hcl").expect_err(text)
}

/// A service-defaults entry with the lambda extension (line 14: `InvocationMode`).
pub(super) const LAMBDA: &str = r#"
Kind     = "service-defaults"
Name     = "orders"
Protocol = "HTTP"
EnvoyExtensions = [
  {
    Name = "builtin/aws/lambda"
    Required = true
    ConsulVersion = ">= 1.15"
    EnvoyVersion = ">= 1.24"
    Arguments = {
      ARN                = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live"
      PayloadPassthrough = true
      InvocationMode     = "asynchronous"
    }
  },
  { Name = "builtin/lua", Arguments = { Script = "x" } },
]
"#;

#[test]
fn service_defaults_with_the_lambda_extension() {
    let (Entry::ServiceDefaults(d), warnings) = parsed(LAMBDA) else {
        panic!()
    };
    assert_eq!(
        (d.name.as_str(), d.protocol.as_deref(), d.file.as_str()),
        ("orders", Some("http"), "e.hcl")
    );
    let lambda = d.lambda.unwrap();
    assert_eq!(
        lambda.arn,
        "arn:aws:lambda:eu-west-1:123456789012:function:orders:live"
    );
    assert!(lambda.payload_passthrough);
    assert_eq!(lambda.invocation_mode, InvocationMode::Asynchronous);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn lambda_arguments_default_and_are_case_insensitive() {
    let doc = "Kind = \"service-defaults\"\nName = \"o\"\nEnvoyExtensions { Name = \"builtin/aws/lambda\"\nArguments { arn = \"arn:aws:lambda:us-east-1:123456789012:function:f\" } }";
    let (Entry::ServiceDefaults(d), _) = parsed(doc) else {
        panic!()
    };
    let lambda = d.lambda.unwrap();
    assert!(!lambda.payload_passthrough);
    assert_eq!(lambda.invocation_mode, InvocationMode::Synchronous);
    let sync = LAMBDA
        .replace("\"asynchronous\"", "\"synchronous\"")
        .replace("PayloadPassthrough", "payload_passthrough");
    let (Entry::ServiceDefaults(d), _) = parsed(&sync) else {
        panic!()
    };
    assert_eq!(
        d.lambda.unwrap().invocation_mode,
        InvocationMode::Synchronous
    );
}

#[test]
fn uppercase_asynchronous_is_asynchronous_with_a_warning() {
    let (Entry::ServiceDefaults(d), warnings) =
        parsed(&LAMBDA.replace("\"asynchronous\"", "\"ASYNCHRONOUS\""))
    else {
        panic!()
    };
    assert_eq!(
        d.lambda.unwrap().invocation_mode,
        InvocationMode::Asynchronous
    );
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("e.hcl:14: key `EnvoyExtensions[0].Arguments.InvocationMode`"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("would invoke synchronously"));
}

#[test]
fn lambda_argument_errors() {
    let e = error(&LAMBDA.replace("\"asynchronous\"", "\"later\""));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (
            Some(14),
            Some("EnvoyExtensions[0].Arguments.InvocationMode")
        )
    );
    let e = error(&LAMBDA.replace(":function:orders:live", ":layer:orders"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(12), Some("EnvoyExtensions[0].Arguments.ARN"))
    );
    assert!(e.message.contains("is not a Lambda function ARN"), "{e}");
    // Checked as strictly as a `function` key, at the entry's own line (issue 16, defect 6).
    let e = error(&LAMBDA.replace(":123456789012:", ":12345:"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(12), Some("EnvoyExtensions[0].Arguments.ARN"))
    );
    assert!(
        e.message.contains("account `12345` is not 12 digits"),
        "{e}"
    );
    let e = error(&LAMBDA.replace(":function:orders:live", ":function:ord*ers:live"));
    assert_eq!(e.line, Some(12), "{e}");
    let no_arn = LAMBDA.replace("ARN                =", "Other =");
    let e = error(&no_arn);
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(11), Some("EnvoyExtensions[0].Arguments.ARN"))
    );
    let e = error(&LAMBDA.replace("PayloadPassthrough = true", "PayloadPassthrough = \"yes\""));
    assert_eq!(
        e.key.as_deref(),
        Some("EnvoyExtensions[0].Arguments.PayloadPassthrough")
    );
}

#[test]
fn unknown_lambda_arguments_warn() {
    let (_, warnings) =
        parsed(&LAMBDA.replace("PayloadPassthrough = true", "PayloadPassthru = true"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("Arguments.PayloadPassthru`: unknown argument"),
        "{}",
        warnings[0]
    );
}

#[test]
fn service_defaults_accept_every_consul_key() {
    let doc = r#"
Kind = "service-defaults"
Name = "web"
Namespace = "ns"
Partition = "ap"
Meta = { a = "b" }
Mode = "transparent"
TransparentProxy { OutboundListenerPort = 15001, DialedDirectly = true }
mutual_tls_mode = "strict"
MeshGateway = { Mode = "local" }
Expose { Checks = true }
ExternalSNI = "x.example"
UpstreamConfig { Defaults { ConnectTimeoutMs = 500 } }
Destination { Addresses = ["a.example"], Port = 443 }
MaxInboundConnections = 10
LocalConnectTimeoutMs = 100
local_request_timeout_ms = 200
BalanceInboundConnections = "exact_balance"
RateLimits { InstanceLevel { RequestsPerSecond = 5 } }
CreateIndex = 1
ModifyIndex = 2
"#;
    let (Entry::ServiceDefaults(d), _) = parsed(doc) else {
        panic!()
    };
    assert_eq!(
        (d.namespace.as_deref(), d.partition.as_deref(), d.lambda),
        (Some("ns"), Some("ap"), None)
    );
    let e = error(&doc.replace("Mode = \"transparent\"", "Mood = \"transparent\""));
    assert_eq!((e.line, e.key.as_deref()), (Some(7), Some("Mood")));
}

#[test]
fn terminating_gateway_services() {
    let doc = r#"
Kind = "terminating-gateway"
Name = "lambda-gateway"
Services = [
  { Name = "orders", Namespace = "shop", DisableAutoHostRewrite = true },
  { Name = "*", CAFile = "/ca.pem", SNI = "x" },
]
"#;
    let (Entry::TerminatingGateway(g), warnings) = parsed(doc) else {
        panic!()
    };
    assert_eq!(g.name, "lambda-gateway");
    let orders = LinkedService {
        name: "orders".into(),
        namespace: Some("shop".into()),
        partition: None,
    };
    let star = LinkedService {
        name: "*".into(),
        namespace: None,
        partition: None,
    };
    assert_eq!(g.services, [orders, star]);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("e.hcl:6: key `Services[1].CAFile`: TLS from the gateway"),
        "{}",
        warnings[0]
    );
    assert!(warnings[1].contains("Services[1].SNI"));
    let e = error(&doc.replace("Name = \"orders\",", ""));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(5), Some("Services[0].Name"))
    );
    let e = error(&doc.replace("CAFile =", "CertFile ="));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(6), Some("Services[1].CertFile"))
    );
    let e = error(&doc.replace("\"shop\"", "\"*\""));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(5), Some("Services[0].Namespace"))
    );
    let e = error(&doc.replace("Name = \"*\"", "Name = \"orders\", Namespace = \"shop\""));
    assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("Services[1]")));
    let e = error(&doc.replace("SNI =", "Sni2 ="));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(6), Some("Services[1].Sni2"))
    );
}

#[test]
fn kind_is_required_and_known() {
    let e = error("Name = \"x\"");
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("Kind")));
    let e = error("# nothing but a comment\n\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("Kind")));
    let e = error("\n\nName = \"x\"");
    assert_eq!(e.line, Some(3), "the entry starts at its first key");
    let e = error("Kind = \"proxy-defaults\"\nName = \"global\"");
    assert_eq!(
        e.to_string(),
        "e.hcl:1: key `Kind`: kind `proxy-defaults` is not read by mesh-proxy"
    );
    let e = error("\nKind = \"service-default\"");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("Kind")));
    assert!(e.message.contains("not a Consul config entry kind"));
}

#[test]
fn format_by_extension_or_first_character() {
    let json =
        "{\"Kind\": \"terminating-gateway\", \"Name\": \"g\", \"Services\": [{\"Name\": \"a\"}]}";
    assert!(matches!(
        parse_entry(json, "entries/g.json"),
        Ok(Entry::TerminatingGateway(_))
    ));
    assert!(matches!(
        parse_entry(json, "from-the-api"),
        Ok(Entry::TerminatingGateway(_))
    ));
    let e = parse_entry(json, "entries/g.hcl").unwrap_err();
    assert!(e.message.contains("is JSON, not HCL"), "{e}");
    let hcl = "Kind = \"terminating-gateway\"\nName = \"g\"";
    assert!(matches!(
        parse_entry(hcl, "stdin"),
        Ok(Entry::TerminatingGateway(_))
    ));
    let e = parse_entry(hcl, "g.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "g.json:1: a JSON config entry must be an object (`{ … }`)"
    );
}

#[test]
fn json_syntax_errors_name_the_line() {
    let cases = [
        ("{\n\"Kind\": \"x\",\n}", 3, "expected a quoted key"),
        ("{\n\"Kind\" \"x\"}", 2, "expected `:`"),
        ("{\"a\": [1 2]}", 1, "expected `,` or `]`"),
        ("{\"a\": null}", 1, "`null`"),
        ("{\"a\": \"x\n\"}", 1, "not closed"),
        ("{\"a\": 1} x", 1, "after the end"),
        ("{\"a\": -}", 1, "invalid JSON number"),
    ];
    for (text, line, message) in cases {
        let e = parse_entry(text, "x.json").unwrap_err();
        assert_eq!(e.line, Some(line), "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
}

#[test]
fn error_display_names_file_line_and_key() {
    let e = EntryError {
        file: "entries/x.hcl".into(),
        line: Some(12),
        key: Some("Sources[1].Action".into()),
        message: "bad".into(),
    };
    assert_eq!(
        e.to_string(),
        "entries/x.hcl:12: key `Sources[1].Action`: bad"
    );
    let e = EntryError {
        file: "x".into(),
        line: None,
        key: None,
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "x: bad");
}

#[test]
fn meta_is_a_map_of_strings_within_consuls_limit() {
    let base = "Kind = \"terminating-gateway\"\nName = \"g\"\n";
    let e = error(&format!("{base}Meta = {{\n  a = {{ b = 1 }}\n}}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("Meta.a")));
    let pairs: String = (0..65).map(|i| format!("k{i} = \"v\"\n")).collect();
    let e = error(&format!("{base}Meta {{\n{pairs}}}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("Meta")));
    let (Entry::TerminatingGateway(g), _) = parsed(&format!("{base}Meta = {{ n = 1, b = true }}"))
    else {
        panic!()
    };
    assert!(g.services.is_empty());
}

/// A service-defaults entry registering its function the Consul 1.12–1.14 way (line 6:
/// `enabled`, 7: `arn`, 8: `payload-passthrough`, 9: `region`, 10: `invocation-mode`).
const LEGACY: &str = r#"
Kind     = "service-defaults"
Name     = "orders"
Protocol = "http"
Meta = {
  "serverless.consul.hashicorp.com/v1alpha1/lambda/enabled"             = "true"
  "serverless.consul.hashicorp.com/v1alpha1/lambda/arn"                 = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
  "serverless.consul.hashicorp.com/v1alpha1/lambda/payload-passthrough" = "true"
  "serverless.consul.hashicorp.com/v1alpha1/lambda/region"              = "eu-west-1"
  "serverless.consul.hashicorp.com/v1alpha1/lambda/invocation-mode"     = "asynchronous"
  team = "payments"
}
"#;

fn legacy_lambda(text: &str) -> (Option<super::LambdaPatch>, Vec<String>) {
    let (Entry::ServiceDefaults(d), warnings) = parsed(text) else {
        panic!("{text}")
    };
    (d.lambda, warnings)
}

#[test]
fn legacy_meta_keys_register_a_lambda_service() {
    let (lambda, warnings) = legacy_lambda(LEGACY);
    let lambda = lambda.expect("a function");
    assert_eq!(
        lambda.arn,
        "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    );
    assert!(lambda.payload_passthrough);
    assert_eq!(lambda.invocation_mode, InvocationMode::Asynchronous);
    assert!(warnings.is_empty(), "{warnings:?}");
    // Consul 1.12's own spelling of passthrough counts too; without either, an event is sent.
    let misspelt = LEGACY.replace("payload-passthrough\"", "payload-passhthrough\"");
    assert!(legacy_lambda(&misspelt).0.unwrap().payload_passthrough);
    let without = LEGACY.replace("payload-passthrough\"", "other-key\"");
    let (lambda, warnings) = legacy_lambda(&without);
    assert!(!lambda.unwrap().payload_passthrough);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("e.hcl:8: key `Meta.serverless.consul.hashicorp.com/v1alpha1/lambda/other-key`: not one of Consul's Lambda keys"), "{}", warnings[0]);
    // No invocation-mode: synchronous. JSON works the same.
    let sync = LEGACY.replace("\"asynchronous\"", "\"\"");
    assert_eq!(
        legacy_lambda(&sync).0.unwrap().invocation_mode,
        InvocationMode::Synchronous
    );
    let json = r#"{"Kind": "service-defaults", "Name": "orders", "Meta": {
        "serverless.consul.hashicorp.com/v1alpha1/lambda/enabled": "true",
        "serverless.consul.hashicorp.com/v1alpha1/lambda/arn": "arn:aws:lambda:us-east-1:123456789012:function:f:live",
        "serverless.consul.hashicorp.com/v1alpha1/lambda/region": "us-east-1"}}"#;
    let p = super::parse_entry_with_warnings(json, "e.json").unwrap();
    let Entry::ServiceDefaults(d) = p.entry else {
        panic!()
    };
    let lambda = d.lambda.unwrap();
    assert_eq!(
        (lambda.arn.as_str(), lambda.payload_passthrough),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f:live",
            false
        )
    );
}

#[test]
fn legacy_enabled_and_passthrough_are_the_exact_string_true() {
    // Anything but "true" leaves the service a plain service, as Consul does; the near misses
    // that look on are warned about at their key.
    for (value, warns) in [
        ("\"True\"", true),
        ("\"TRUE\"", true),
        ("\"1\"", true),
        ("true", true),
        ("\"yes\"", true),
        ("\"false\"", false),
        ("\"\"", false),
    ] {
        let text = LEGACY.replacen("= \"true\"", &format!("= {value}"), 1);
        let (lambda, warnings) = legacy_lambda(&text);
        assert_eq!(lambda, None, "{value}");
        assert_eq!(warnings.len(), usize::from(warns), "{value}: {warnings:?}");
        if warns {
            assert!(
                warnings[0].starts_with(
                    "e.hcl:6: key `Meta.serverless.consul.hashicorp.com/v1alpha1/lambda/enabled`"
                ),
                "{}",
                warnings[0]
            );
            assert!(
                warnings[0].contains("only for the exact string \"true\""),
                "{}",
                warnings[0]
            );
        }
    }
    // The HCL boolean is "1" after Consul's decoder: off, and the warning says why.
    let (_, warnings) = legacy_lambda(&LEGACY.replacen("= \"true\"", "= true", 1));
    assert!(warnings[0].contains("the boolean true"), "{}", warnings[0]);
    // A passthrough near miss: the function is there, sent an event, with a warning.
    let text = LEGACY.replace(
        "payload-passthrough\" = \"true\"",
        "payload-passthrough\" = \"True\"",
    );
    let (lambda, warnings) = legacy_lambda(&text);
    assert!(!lambda.unwrap().payload_passthrough);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("e.hcl:8: "), "{}", warnings[0]);
    // Keys are case-sensitive: a capitalised prefix is ignored, with a warning.
    let text = LEGACY.replace(
        "\"serverless.consul.hashicorp.com/v1alpha1/lambda/enabled\"",
        "\"Serverless.consul.hashicorp.com/v1alpha1/lambda/enabled\"",
    );
    let (lambda, warnings) = legacy_lambda(&text);
    assert_eq!(lambda, None);
    assert!(warnings[0].contains("case-sensitively"), "{warnings:?}");
    // A differently cased invocation mode: async, as on the extension path, with a warning.
    let (lambda, warnings) = legacy_lambda(&LEGACY.replace("\"asynchronous\"", "\"Asynchronous\""));
    assert_eq!(
        lambda.unwrap().invocation_mode,
        InvocationMode::Asynchronous
    );
    assert!(warnings[0].starts_with("e.hcl:10: "), "{warnings:?}");
    assert!(
        warnings[0].contains("would invoke synchronously"),
        "{warnings:?}"
    );
    // An unknown mode: synchronous, as Consul, with a warning.
    let (lambda, warnings) = legacy_lambda(&LEGACY.replace("\"asynchronous\"", "\"later\""));
    assert_eq!(lambda.unwrap().invocation_mode, InvocationMode::Synchronous);
    assert!(
        warnings[0].contains("invoking synchronously"),
        "{warnings:?}"
    );
}

#[test]
fn legacy_registration_errors_name_the_meta_key() {
    let key = |name: &str| format!("Meta.serverless.consul.hashicorp.com/v1alpha1/lambda/{name}");
    // arn and region are required once enabled: the error is at `enabled`.
    for name in ["arn", "region"] {
        let text = LEGACY.replace(&format!("lambda/{name}\""), "lambda/ignored\"");
        let e = error(&text);
        assert_eq!(
            (e.line, e.key.clone()),
            (Some(6), Some(key(name))),
            "{name}"
        );
        assert!(e.message.contains("is required when"), "{e}");
    }
    // An empty value is as good as none.
    let e = error(&LEGACY.replace("= \"eu-west-1\"", "= \"\""));
    assert_eq!((e.line, e.key.clone()), (Some(6), Some(key("region"))));
    let e = error(&LEGACY.replace(":function:orders\"", ":layer:orders\""));
    assert_eq!((e.line, e.key.clone()), (Some(7), Some(key("arn"))));
    assert!(e.message.contains("is not a Lambda function ARN"), "{e}");
    let e = error(&LEGACY.replace(":123456789012:", ":12345:"));
    assert_eq!((e.line, e.key.clone()), (Some(7), Some(key("arn"))));
    assert!(
        e.message.contains("account `12345` is not 12 digits"),
        "{e}"
    );
    let e = error(&LEGACY.replace("= \"eu-west-1\"", "= \"us-east-1\""));
    assert_eq!((e.line, e.key.clone()), (Some(9), Some(key("region"))));
    assert!(e.message.contains("cannot invoke it"), "{e}");
    // Not enabled: nothing is required.
    let off = LEGACY
        .replacen("= \"true\"", "= \"false\"", 1)
        .replace("lambda/arn\"", "lambda/ignored\"");
    assert_eq!(legacy_lambda(&off).0, None);
}

#[test]
fn the_extension_wins_over_legacy_meta_keys_with_a_warning() {
    let both = LAMBDA.replace(
        "Protocol = \"HTTP\"",
        "Protocol = \"HTTP\"\nMeta = {\n  \"serverless.consul.hashicorp.com/v1alpha1/lambda/enabled\" = \"true\"\n  \"serverless.consul.hashicorp.com/v1alpha1/lambda/arn\" = \"arn:aws:lambda:us-east-1:123456789012:function:other\"\n  \"serverless.consul.hashicorp.com/v1alpha1/lambda/region\" = \"us-east-1\"\n}",
    );
    let (lambda, warnings) = legacy_lambda(&both);
    assert_eq!(
        lambda.unwrap().arn,
        "arn:aws:lambda:eu-west-1:123456789012:function:orders:live"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("e.hcl:5: key `Meta`")
            && warnings[0].contains("the extension is used"),
        "{}",
        warnings[0]
    );
}
