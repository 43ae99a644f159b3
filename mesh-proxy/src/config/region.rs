//! The region a bare function name would be invoked in: the sources aws-config's default region
//! chain reads that can be read without the network (`[aws] region` and its overrides,
//! `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in the shared config and
//! credentials files). Instance metadata (IMDS) is not asked: the config check makes no calls.

use std::path::PathBuf;

use super::AwsSettings;

/// The region, when one of the sources gives it. `lookup` reads the environment.
pub(super) fn ambient(
    aws: &AwsSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(region) = &aws.region {
        return Some(region.clone());
    }
    if let Some(region) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        return Some(region);
    }
    let profile = aws
        .profile
        .clone()
        .or_else(|| get("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_owned());
    let home = get("HOME").or_else(|| get("USERPROFILE"));
    let file = |variable: &str, default: &str| -> Option<PathBuf> {
        match get(variable) {
            Some(path) => Some(match (path.strip_prefix("~/"), &home) {
                (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
                _ => PathBuf::from(path),
            }),
            None => home
                .as_ref()
                .map(|h| PathBuf::from(h).join(".aws").join(default)),
        }
    };
    let read = |path: Option<PathBuf>| path.and_then(|p| std::fs::read_to_string(p).ok());
    read(file("AWS_CONFIG_FILE", "config"))
        .and_then(|text| profile_region(&text, &profile, true))
        .or_else(|| {
            read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))
                .and_then(|text| profile_region(&text, &profile, false))
        })
}

/// `region` in `profile`'s section of a shared config file (`[default]`, `[profile NAME]`) or a
/// credentials file (`[NAME]`).
fn profile_region(text: &str, profile: &str, config_file: bool) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let words: Vec<&str> = section.split_whitespace().collect();
            inside = match words.as_slice() {
                [name] => *name == profile && (!config_file || profile == "default"),
                ["profile", name] => config_file && *name == profile,
                _ => false,
            };
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim();
            if key.trim().eq_ignore_ascii_case("region") && !value.is_empty() {
                return Some(value.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn region(aws: &AwsSettings, env: &[(&str, &str)]) -> Option<String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ambient(aws, &|name| env.get(name).cloned())
    }

    #[test]
    fn the_config_then_the_environment_give_the_region() {
        let configured = AwsSettings {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let env = [
            ("AWS_REGION", "us-east-2"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
        ];
        assert_eq!(region(&configured, &env).as_deref(), Some("eu-west-1"));
        let none = AwsSettings::default();
        assert_eq!(region(&none, &env).as_deref(), Some("us-east-2"));
        assert_eq!(
            region(&none, &env[1..]).as_deref(),
            Some("us-west-2"),
            "AWS_DEFAULT_REGION"
        );
        assert_eq!(region(&none, &[("AWS_REGION", " ")]), None);
        assert_eq!(region(&none, &[]), None);
    }

    #[test]
    fn the_profiles_region_counts() {
        let dir = tempfile::tempdir().unwrap();
        let aws = dir.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\noutput = json\n\n[profile ops]\n# region = nope\nregion = ap-south-1\n",
        )
        .unwrap();
        std::fs::write(aws.join("credentials"), "[dev]\nregion = sa-east-1\n").unwrap();
        let home = dir.path().to_str().unwrap();
        let none = AwsSettings::default();
        assert_eq!(region(&none, &[("HOME", home)]), None, "default has none");
        let env = [("HOME", home), ("AWS_PROFILE", "ops")];
        assert_eq!(region(&none, &env).as_deref(), Some("ap-south-1"));
        let dev = AwsSettings {
            profile: Some("dev".into()),
            ..Default::default()
        };
        assert_eq!(
            region(&dev, &env).as_deref(),
            Some("sa-east-1"),
            "[aws] profile, from the credentials file"
        );
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "[default]\nregion = eu-north-1\n").unwrap();
        let env = [("AWS_CONFIG_FILE", elsewhere.to_str().unwrap())];
        assert_eq!(region(&none, &env).as_deref(), Some("eu-north-1"));
    }
}
