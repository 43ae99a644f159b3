//! Targets that cannot work are refused by `--check` (issue 16, defect 6), and the config's own
//! errors say what a person reads.

use super::*;

/// One upstream invoking `function`, and a local function `hello` (its `code` a real directory).
fn with_function(function: &str, extra: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{extra}\n[[upstream]]\ndestination_name = \"greeter\"\nlocal_bind_port = 0\nfunction = \"{function}\"\n\n[[function]]\nname = \"hello\"\ncode = \"code\"\n"
    );
    (dir, text)
}

/// `Config::from_toml_str` with `dir` as the base.
fn parse_in(dir: &tempfile::TempDir, text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "mesh.toml", dir.path())
}

/// `Config::load` of `text` written to `dir/mesh.toml`, the environment exactly `env`.
fn load(dir: &tempfile::TempDir, text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, text).unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::load(&path, &Overrides::default(), |name| env.get(name).cloned()).map_err(|e| {
        e.to_string()
            .replace(&path.display().to_string(), "mesh.toml")
    })
}

#[test]
fn arns_lambda_would_refuse_are_errors_naming_the_part() {
    for (arn, why) in [
        (
            "arn:aws:lambda:us-east-1:12345:function:hello",
            "account `12345` is not 12 digits",
        ),
        (
            "arn:aws:lambda:us-east-1:1234567890123:function:hello",
            "account `1234567890123` is not 12 digits",
        ),
        (
            "arn:aws:lambda:mars-1:123456789012:function:hello",
            "region `mars-1` is not an AWS region code",
        ),
        (
            "arn:aws-mars:lambda:us-east-1:123456789012:function:hello",
            "partition `aws-mars` is not one of aws, aws-cn, aws-us-gov",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:hel.lo",
            "function name `hel.lo` must be letters, digits, `-` or `_`",
        ),
        (
            &format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                "f".repeat(65)
            ),
            "is 65 characters, more than 64",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:hello:li ve",
            "qualifier `li ve` is not a version or alias",
        ),
    ] {
        let (dir, text) = with_function(arn, "");
        let message = parse_in(&dir, &text).unwrap_err().to_string();
        assert!(
            message.starts_with("mesh.toml:7: key `upstream[0].function`: "),
            "{arn}: {message}"
        );
        assert!(message.contains(why), "{arn}: {message}");
    }
}

#[test]
fn arns_in_every_partition_and_region_shape_pass() {
    for arn in [
        "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:il-central-1:123456789012:function:hello:live",
        "arn:aws:lambda:ap-southeast-5:123456789012:function:hello:7",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:hello",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:hello",
        "arn:aws-iso:lambda:us-iso-east-1:123456789012:function:hello",
        "arn:aws-iso-b:lambda:us-isob-east-1:123456789012:function:hello:$LATEST",
    ] {
        let (dir, text) = with_function(arn, "");
        let config = parse_in(&dir, &text).unwrap_or_else(|e| panic!("{arn}: {e}"));
        assert!(config.upstreams[0].arn_region.is_some(), "{arn}");
        assert!(config.warnings.is_empty(), "{arn}: {:?}", config.warnings);
    }
}

#[test]
fn a_bad_qualifier_key_is_refused() {
    let (dir, text) = with_function("hello", "");
    let text = text.replace(
        "function = \"hello\"",
        "function = \"hello\"\nqualifier = \"v 1\"",
    );
    let message = parse_in(&dir, &text).unwrap_err().to_string();
    assert!(
        message.starts_with("mesh.toml:8: key `upstream[0].qualifier`: qualifier `v 1`"),
        "{message}"
    );
}

#[test]
fn a_name_one_edit_from_a_local_function_is_warned_about() {
    let (dir, text) = with_function("helo", "[aws]\nregion = \"eu-west-1\"\n");
    let config = parse_in(&dir, &text).unwrap();
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    let warning = &config.warnings[0];
    assert!(
        warning.starts_with("mesh.toml:9: key `upstream[0].function`: `helo`"),
        "{warning}"
    );
    assert!(warning.contains("did you mean `hello`?"), "{warning}");

    for quiet in ["hello", "goodbye", "hlelo"] {
        let (dir, text) = with_function(quiet, "[aws]\nregion = \"eu-west-1\"\n");
        let config = parse_in(&dir, &text).unwrap();
        assert!(config.warnings.is_empty(), "{quiet}: {:?}", config.warnings);
    }
}

#[test]
fn a_bare_name_for_aws_without_a_region_is_an_error() {
    let (dir, text) = with_function("helo", "");
    let message = load(&dir, &text, &[]).unwrap_err();
    assert!(
        message.starts_with("mesh.toml:7: key `upstream[0].function`: `helo` names no local"),
        "{message}"
    );
    assert!(message.contains("no region"), "{message}");
    assert!(
        message.contains("did you mean the local function `hello`?"),
        "{message}"
    );
    // The check is on load; parsing text reads no environment.
    assert!(parse_in(&dir, &text).is_ok());
}

#[test]
fn any_region_source_satisfies_a_bare_name() {
    let (dir, text) = with_function("goodbye", "");
    for env in [
        [("AWS_REGION", "eu-west-1")],
        [("AWS_DEFAULT_REGION", "eu-west-1")],
        [("MESH_PROXY_AWS_REGION", "eu-west-1")],
    ] {
        assert!(load(&dir, &text, &env).is_ok(), "{env:?}");
    }
    let (dir, configured) = with_function("goodbye", "[aws]\nregion = \"eu-west-1\"\n");
    assert!(load(&dir, &configured, &[]).is_ok());
    let profile = dir.path().join("aws-config");
    std::fs::write(&profile, "[profile ops]\nregion = eu-west-1\n").unwrap();
    let env = [
        ("AWS_CONFIG_FILE", profile.to_str().unwrap()),
        ("AWS_PROFILE", "ops"),
    ];
    assert!(load(&dir, &text, &env).is_ok());
    // A local function or an ARN needs none.
    let (dir, local) = with_function("hello", "");
    assert!(load(&dir, &local, &[]).is_ok());
    let (dir, arn) = with_function("arn:aws:lambda:us-east-1:123456789012:function:goodbye", "");
    assert!(load(&dir, &arn, &[]).is_ok());
}

#[test]
fn port_errors_say_a_port_number() {
    for (port, found) in [
        ("70000", "invalid value: integer `70000`"),
        ("-1", "invalid value: integer `-1`"),
        ("\"80\"", "invalid type: string \"80\""),
    ] {
        let text = GOOD.replace(
            "local_bind_port = 8081",
            &format!("local_bind_port = {port}"),
        );
        let message = message(&text);
        assert!(
            message.starts_with("mesh.toml:20: key `upstream[1].local_bind_port`: "),
            "{port}: {message}"
        );
        assert!(
            message.contains(&format!("{found}, expected a port number 1–65535")),
            "{port}: {message}"
        );
        assert!(!message.contains("u16"), "{port}: {message}");
    }
}
