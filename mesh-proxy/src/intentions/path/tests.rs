#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn normalized(raw: &str) -> Result<String, PathError> {
    normalize_path(raw, &PathNormalization::default())
}

fn with(escaped: EscapedSlashes) -> PathNormalization {
    PathNormalization {
        path_with_escaped_slashes_action: escaped,
        ..PathNormalization::default()
    }
}

#[test]
fn bypass_attempts_normalize_to_the_path_they_reach() {
    for raw in [
        "/public/../admin",
        "//admin",
        "/%61dmin",
        "/%61%64%6D%69%6e",
        "/admin/.",
        "/./admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin",
        "/public/.%2e/admin",
        "/../admin",
        "/public/x/../../admin",
        "///admin",
        "/public//../admin",
    ] {
        let path = normalized(raw).unwrap();
        assert!(
            path == "/admin" || path == "/admin/",
            "{raw} normalized to {path}"
        );
    }
}

#[test]
fn already_normal_paths_are_unchanged() {
    for raw in [
        "/",
        "/admin",
        "/admin/",
        "/a/b/c",
        "/v1/users/42/orders",
        "/a-b_c.d~e",
        "/a%20b",
        "/caf%C3%A9",
        "/a;b=c,d:e@f!$&'()*+",
        "/%25",
        "/...",
        "/.well-known/x",
    ] {
        assert_eq!(normalized(raw).unwrap(), raw);
    }
}

#[test]
fn escapes_of_unreserved_characters_are_decoded_and_others_uppercased() {
    assert_eq!(normalized("/%7euser/%2d%5f").unwrap(), "/~user/-_");
    assert_eq!(normalized("/a%3bb/%c3%a9").unwrap(), "/a%3Bb/%C3%A9");
    assert_eq!(
        normalized("/%252e%252e/admin").unwrap(),
        "/%252e%252e/admin",
        "decoded once, not twice"
    );
}

#[test]
fn characters_a_path_may_not_hold_raw_are_escaped() {
    assert_eq!(normalized("/a b").unwrap(), "/a%20b");
    assert_eq!(
        normalized("/\"<>{}|^`[]").unwrap(),
        "/%22%3C%3E%7B%7D%7C%5E%60%5B%5D"
    );
    assert_eq!(normalized("/café").unwrap(), "/caf%C3%A9");
}

#[test]
fn dot_segments_are_removed_as_rfc_3986_says() {
    assert_eq!(normalized("/a/b/../c").unwrap(), "/a/c");
    assert_eq!(normalized("/a/./b/.").unwrap(), "/a/b/");
    assert_eq!(normalized("/a/b/..").unwrap(), "/a/");
    assert_eq!(normalized("/..").unwrap(), "/");
    assert_eq!(normalized("/../..").unwrap(), "/");
    assert_eq!(normalized("/a..b/.c/..d").unwrap(), "/a..b/.c/..d");
}

#[test]
fn slashes_are_merged_by_default_but_not_when_disabled() {
    assert_eq!(normalized("//a///b//").unwrap(), "/a/b/");
    let keep = PathNormalization {
        merge_slashes: false,
        ..PathNormalization::default()
    };
    assert_eq!(normalize_path("//a///b", &keep).unwrap(), "//a///b");
    assert_eq!(normalize_path("/a//../b", &keep).unwrap(), "/a/b");
}

#[test]
fn encoded_slashes_and_backslashes_are_rejected_by_default() {
    assert_eq!(normalized("/admin%2Fx"), Err(PathError::EncodedSlash));
    assert_eq!(
        normalized("/public%2f..%2fadmin"),
        Err(PathError::EncodedSlash)
    );
    assert_eq!(normalized("/admin%5Cx"), Err(PathError::EncodedBackslash));
    assert_eq!(normalized("/admin%5cx"), Err(PathError::EncodedBackslash));
    assert_eq!(normalized("/public\\..\\admin"), Err(PathError::Backslash));
    assert_eq!(
        PathError::EncodedSlash.to_string(),
        "path contains an encoded slash (%2F)"
    );
}

#[test]
fn kept_escaped_slashes_stay_inside_their_segment() {
    let keep = with(EscapedSlashes::Keep);
    assert_eq!(normalize_path("/a%2fb", &keep).unwrap(), "/a%2Fb");
    assert_eq!(
        normalize_path("/public/..%2Fadmin", &keep).unwrap(),
        "/public/..%2Fadmin"
    );
    assert_eq!(normalize_path("/a%5cb", &keep).unwrap(), "/a%5Cb");
    assert_eq!(
        normalize_path("/public\\..\\admin", &keep).unwrap(),
        "/admin",
        "a raw backslash is a separator, as in Envoy"
    );
}

#[test]
fn unescaped_slashes_become_separators() {
    let unescape = with(EscapedSlashes::Unescape);
    assert_eq!(
        normalize_path("/public%2F..%2Fadmin", &unescape).unwrap(),
        "/admin"
    );
    assert_eq!(
        normalize_path("/public%5C..%5Cadmin", &unescape).unwrap(),
        "/admin"
    );
    assert_eq!(normalize_path("/a%2F%2Fb", &unescape).unwrap(), "/a/b");
}

#[test]
fn disabled_normalization_leaves_the_path_alone_but_still_merges_and_guards_slashes() {
    let insecure = PathNormalization {
        insecure_disable_path_normalization: true,
        ..PathNormalization::default()
    };
    assert_eq!(
        normalize_path("/public/../%61dmin", &insecure).unwrap(),
        "/public/../%61dmin"
    );
    assert_eq!(normalize_path("//a//b", &insecure).unwrap(), "/a/b");
    assert_eq!(
        normalize_path("/a%2Fb", &insecure),
        Err(PathError::EncodedSlash)
    );
}

#[test]
fn targets_that_are_not_paths_are_refused() {
    assert_eq!(normalized("*"), Err(PathError::NotAPath));
    assert_eq!(
        normalized("http://example.com/admin"),
        Err(PathError::NotAPath)
    );
    assert_eq!(normalized("admin"), Err(PathError::NotAPath));
    assert_eq!(normalized(""), Ok("/".to_owned()));
    assert_eq!(normalized("/a?b=1"), Err(PathError::NotOnlyAPath('?')));
    assert_eq!(normalized("/a#b"), Err(PathError::NotOnlyAPath('#')));
}

#[test]
fn bad_escapes_and_control_characters_are_refused() {
    assert_eq!(normalized("/a%"), Err(PathError::BadPercentEncoding));
    assert_eq!(normalized("/a%4"), Err(PathError::BadPercentEncoding));
    assert_eq!(normalized("/a%zz"), Err(PathError::BadPercentEncoding));
    assert_eq!(normalized("/a%%41"), Err(PathError::BadPercentEncoding));
    assert_eq!(normalized("/a\u{0}b"), Err(PathError::ControlCharacter));
    assert_eq!(normalized("/a\nb"), Err(PathError::ControlCharacter));
    assert_eq!(normalized("/a\u{7f}"), Err(PathError::ControlCharacter));
}

#[test]
fn consul_action_names_map_to_actions() {
    assert_eq!(
        EscapedSlashes::from_consul("REJECT_REQUEST"),
        Some(EscapedSlashes::Reject)
    );
    assert_eq!(
        EscapedSlashes::from_consul("KEEP_UNCHANGED"),
        Some(EscapedSlashes::Keep)
    );
    assert_eq!(EscapedSlashes::from_consul(""), Some(EscapedSlashes::Keep));
    assert_eq!(
        EscapedSlashes::from_consul("UNESCAPE_AND_FORWARD"),
        Some(EscapedSlashes::Unescape)
    );
    assert_eq!(EscapedSlashes::from_consul("reject"), None);
    assert_eq!(EscapedSlashes::default(), EscapedSlashes::Reject);
}

/// Paths built from the pieces that matter: separators, dot segments (raw and escaped),
/// escapes, letters and characters that must be escaped.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "//", ".", "..", "%2e", "%2E%2e", "a", "b", "%61", "%7E", "%3b", "%3B", "~", ";", " ",
        "é", "%25", "%2F", "%5c", "\\",
    ]);
    prop::collection::vec(piece, 0..12).prop_map(|pieces| format!("/{}", pieces.concat()))
}

fn options_strategy() -> impl Strategy<Value = PathNormalization> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            EscapedSlashes::Reject,
            EscapedSlashes::Keep,
            EscapedSlashes::Unescape,
        ]),
    )
        .prop_map(|(merge_slashes, escaped)| PathNormalization {
            insecure_disable_path_normalization: false,
            merge_slashes,
            path_with_escaped_slashes_action: escaped,
        })
}

proptest! {
    #[test]
    fn normalization_is_idempotent_and_leaves_no_dot_segments(
        raw in path_strategy(),
        options in options_strategy(),
    ) {
        if let Ok(once) = normalize_path(&raw, &options) {
            let twice = normalize_path(&once, &options);
            prop_assert_eq!(twice.as_deref(), Ok(once.as_str()), "from {:?}", raw);
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.contains("/../"), "{:?} -> {:?}", raw, once);
            prop_assert!(!once.contains("/./"), "{:?} -> {:?}", raw, once);
            prop_assert!(!once.ends_with("/.."), "{:?} -> {:?}", raw, once);
            prop_assert!(!once.ends_with("/."), "{:?} -> {:?}", raw, once);
            if options.merge_slashes {
                prop_assert!(!once.contains("//"), "{:?} -> {:?}", raw, once);
            }
        }
    }

    #[test]
    fn the_default_options_accept_every_path_without_escaped_slashes(raw in path_strategy()) {
        let has_slash_escape = raw.contains('\\')
            || raw.to_ascii_lowercase().contains("%2f")
            || raw.to_ascii_lowercase().contains("%5c");
        prop_assert_eq!(normalized(&raw).is_ok(), !has_slash_escape, "{:?}", raw);
    }
}
