//! A `function` key as Lambda's Invoke API takes it: a function name, `name:qualifier`, or a
//! function ARN, checked part by part so that `--check` refuses what Lambda would refuse.

use super::ConfigError;

/// Longest function name (Lambda API reference, CreateFunction `FunctionName`: 1–64 characters).
pub const MAX_FUNCTION_NAME: usize = 64;
/// Longest qualifier (Lambda API reference, Invoke `Qualifier`: 1–128 characters).
pub const MAX_QUALIFIER: usize = 128;
/// Digits in an account ID (AWS account identifiers are 12 digits).
const ACCOUNT_DIGITS: usize = 12;
/// The partitions Lambda runs in (AWS General Reference, "Amazon Resource Names").
const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
];
/// The direction word of a region code (`us-east-1`, `ap-southeast-5`, `il-central-1`).
const DIRECTIONS: &[&str] = &[
    "north",
    "south",
    "east",
    "west",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];
/// The shape of a function ARN, for error messages.
const ARN_SHAPE: &str = "arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]";

/// A checked `function`: the name or the ARN without its qualifier, the ARN's region, and the
/// qualifier written after the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub function: String,
    pub region: Option<String>,
    pub qualifier: Option<String>,
}

/// Parse a `function` value. The error says which part is wrong and why.
pub(super) fn parse_function(value: &str) -> Result<Target, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must name a function or an ARN".into());
    }
    if !value.starts_with("arn:") {
        let (name, qualifier) = match value.split_once(':') {
            Some((name, qualifier)) => (name, Some(qualifier)),
            None => (value, None),
        };
        check_name(name)
            .map_err(|why| format!("`{value}` is not a function name or ARN: {why}"))?;
        if let Some(qualifier) = qualifier {
            check_qualifier(qualifier).map_err(|why| format!("`{value}`: {why}"))?;
        }
        return Ok(Target {
            function: name.to_owned(),
            region: None,
            qualifier: qualifier.map(str::to_owned),
        });
    }
    let parts: Vec<&str> = value.split(':').collect();
    if !(7..=8).contains(&parts.len()) || parts[2] != "lambda" || parts[5] != "function" {
        return Err(format!(
            "`{value}` is not a Lambda function ARN ({ARN_SHAPE})"
        ));
    }
    let wrong = |why: String| format!("`{value}`: {why}");
    let (partition, region, account, name) = (parts[1], parts[3], parts[4], parts[6]);
    if !PARTITIONS.contains(&partition) {
        return Err(wrong(format!(
            "partition `{partition}` is not one of {}",
            PARTITIONS.join(", ")
        )));
    }
    if !is_region(region) {
        return Err(wrong(format!(
            "region `{region}` is not an AWS region code (like us-east-1 or us-gov-west-1)"
        )));
    }
    if account.len() != ACCOUNT_DIGITS || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong(format!(
            "account `{account}` is not {ACCOUNT_DIGITS} digits"
        )));
    }
    check_name(name).map_err(wrong)?;
    let qualifier = parts.get(7).copied();
    if let Some(qualifier) = qualifier {
        check_qualifier(qualifier).map_err(wrong)?;
    }
    Ok(Target {
        function: parts[..7].join(":"),
        region: Some(region.to_owned()),
        qualifier: qualifier.map(str::to_owned),
    })
}

/// A function ARN checked as [`parse_function`] checks one (a bare name is refused): the error
/// says which part is wrong.
pub(crate) fn check_function_arn(arn: &str) -> Result<(), String> {
    if !arn.trim().starts_with("arn:") {
        return Err(format!(
            "`{arn}` is not a Lambda function ARN ({ARN_SHAPE})"
        ));
    }
    parse_function(arn).map(|_| ())
}

/// A function name: 1–64 of `[a-zA-Z0-9-_]`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(is_name_char) {
        return Err(format!(
            "function name `{name}` must be letters, digits, `-` or `_`"
        ));
    }
    if name.len() > MAX_FUNCTION_NAME {
        return Err(format!(
            "function name `{name}` is {} characters, more than {MAX_FUNCTION_NAME}",
            name.len()
        ));
    }
    Ok(())
}

/// A qualifier: `$LATEST`, a version (digits) or an alias, 1–128 of `[a-zA-Z0-9-_]`.
pub(super) fn check_qualifier(qualifier: &str) -> Result<(), String> {
    if qualifier == "$LATEST" {
        return Ok(());
    }
    if qualifier.is_empty() || !qualifier.chars().all(is_name_char) {
        return Err(format!(
            "qualifier `{qualifier}` is not a version or alias (letters, digits, `-` or `_`, or `$LATEST`)"
        ));
    }
    if qualifier.len() > MAX_QUALIFIER {
        return Err(format!(
            "qualifier `{qualifier}` is {} characters, more than {MAX_QUALIFIER}",
            qualifier.len()
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

/// The shape of a region code: a two-letter area, an optional group (`gov`, `iso`, `isob`), a
/// direction word and a number: `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`.
pub(super) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [area, groups @ .., direction, number] = parts.as_slice() else {
        return false;
    };
    let letters = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    area.len() == 2
        && letters(area)
        && groups.len() <= 1
        && groups.iter().all(|g| letters(g))
        && DIRECTIONS.contains(direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `a` and `b` are one edit apart (Levenshtein distance 1: one character inserted,
/// removed or replaced).
pub(super) fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => short.iter().zip(&long).filter(|(x, y)| x != y).count() == 1,
        1 => {
            let prefix = short.iter().zip(&long).take_while(|(x, y)| x == y).count();
            short[prefix..] == long[prefix + 1..]
        }
        _ => false,
    }
}

/// Where bare function names go: the local `[[function]]`s' names. Collects a warning for a name
/// one edit away from a local function, and for each bare name that is not local the error to
/// give when no region can be found for it.
pub(super) struct Targets {
    local: Vec<String>,
    /// Near misses, each naming its file, line and key.
    pub warnings: Vec<String>,
    /// One error per bare name AWS Lambda would be called with, blamed on its `function` key.
    pub regionless: Vec<ConfigError>,
}

impl Targets {
    /// Targets beside the local functions `local`.
    pub fn new(local: impl IntoIterator<Item = String>) -> Targets {
        Targets {
            local: local.into_iter().collect(),
            warnings: Vec::new(),
            regionless: Vec::new(),
        }
    }

    /// Note a checked target; `err` blames a key of the upstream it belongs to.
    pub fn note(&mut self, target: &Target, err: &dyn Fn(&str, &str) -> ConfigError) {
        let name = &target.function;
        if target.region.is_some() || self.local.contains(name) {
            return;
        }
        let near = self.local.iter().find(|local| one_edit_apart(local, name));
        if let Some(near) = near {
            let message = format!(
                "`{name}` is not a local [[function]], so AWS Lambda is called; did you mean `{near}`?"
            );
            self.warnings.push(err("function", &message).to_string());
        }
        let hint = near
            .map(|near| format!(" (did you mean the local function `{near}`?)"))
            .unwrap_or_default();
        let message = format!(
            "`{name}` names no local [[function]], so AWS Lambda would be called, but there is no region: set [aws] region (or MESH_PROXY_AWS_REGION, --aws-region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region), or use a function ARN{hint}"
        );
        self.regionless.push(err("function", &message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_have_the_aws_shape() {
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "eu-central-2",
            "il-central-1",
            "ap-southeast-5",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "ca-west-1",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "mars-1",
            "us-east",
            "US-EAST-1",
            "us-middle-1",
            "useast-1",
            "us-east-one",
            "us-east-123",
            "u-east-1",
            "us-a-b-east-1",
            "",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn one_edit_is_an_insertion_a_removal_or_a_replacement() {
        assert!(one_edit_apart("helo", "hello"));
        assert!(one_edit_apart("hello", "helo"));
        assert!(one_edit_apart("hallo", "hello"));
        assert!(one_edit_apart("hello", "hellos"));
        assert!(one_edit_apart("x", ""));
        assert!(!one_edit_apart("hello", "hello"));
        assert!(
            !one_edit_apart("hlelo", "hello"),
            "a transposition is two edits"
        );
        assert!(!one_edit_apart("he", "hello"));
    }

    #[test]
    fn names_and_qualifiers_follow_lambdas_api() {
        let long = "f".repeat(MAX_FUNCTION_NAME);
        assert_eq!(parse_function(&long).unwrap().function, long);
        let too_long = parse_function(&format!("{long}f")).unwrap_err();
        assert!(too_long.contains("65 characters"), "{too_long}");
        assert!(parse_function("fn$1").is_err());
        assert_eq!(
            parse_function("fn:$LATEST").unwrap().qualifier.as_deref(),
            Some("$LATEST")
        );
        let alias = "a".repeat(MAX_QUALIFIER);
        assert!(parse_function(&format!("fn:{alias}")).is_ok());
        assert!(parse_function(&format!("fn:{alias}a")).is_err());
        assert!(parse_function("fn:a:b").is_err());
    }
}
