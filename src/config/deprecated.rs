//! Setting names that still work for one release with a warning: the durations that
//! once took a bare number of milliseconds (`DELIVERY_TIMEOUT_MS=10000`) and now take a
//! duration under a name without the unit (`DELIVERY_TIMEOUT=10s`). An old name is
//! translated to the new one before the settings are read, so everything after sees
//! one name; the warning names the new setting.

use std::ffi::OsString;

/// (old variable, new variable, old flag, new flag), each old value in milliseconds.
const RENAMED: [(&str, &str, &str, &str); 6] = [
    (
        "KAFKA_SESSION_TIMEOUT_MS",
        "KAFKA_SESSION_TIMEOUT",
        "--session-timeout-ms",
        "--session-timeout",
    ),
    (
        "KAFKA_FETCH_WAIT_MAX_MS",
        "KAFKA_FETCH_WAIT_MAX",
        "--fetch-wait-max-ms",
        "--fetch-wait-max",
    ),
    (
        "KAFKA_MESSAGE_TIMEOUT_MS",
        "KAFKA_MESSAGE_TIMEOUT",
        "--message-timeout-ms",
        "--message-timeout",
    ),
    (
        "DELIVERY_TIMEOUT_MS",
        "DELIVERY_TIMEOUT",
        "--delivery-timeout-ms",
        "--delivery-timeout",
    ),
    (
        "DELIVERY_BACKOFF_MS",
        "DELIVERY_BACKOFF",
        "--delivery-backoff-ms",
        "--delivery-backoff",
    ),
    (
        "DELIVERY_MAX_BACKOFF_MS",
        "DELIVERY_MAX_BACKOFF",
        "--delivery-max-backoff-ms",
        "--delivery-max-backoff",
    ),
];

/// What to change before the settings are read: variables to set, and the warnings to
/// log once logging is up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Translation {
    pub variables: Vec<(&'static str, String)>,
    pub args: Vec<OsString>,
    pub warnings: Vec<String>,
}

/// Translates old names in the environment (read through `var`) and in `args`.
pub fn translate(var: impl Fn(&str) -> Option<String>, args: Vec<OsString>) -> Translation {
    let mut translation = Translation::default();
    for (old, new, _, _) in RENAMED {
        let Some(value) = var(old) else { continue };
        if var(new).is_some() {
            translation
                .warnings
                .push(format!("{old} is ignored: {new} is set (remove {old})"));
            continue;
        }
        translation
            .warnings
            .push(format!("{old} is deprecated and goes in the next release: set {new}={}ms instead (it takes a duration such as 500ms or 10s)", value.trim()));
        translation
            .variables
            .push((new, format!("{}ms", value.trim())));
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let renamed = RENAMED.iter().find_map(|(_, _, old, new)| {
            if text == *old {
                Some((*old, *new, None))
            } else {
                text.strip_prefix(old)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(|value| (*old, *new, Some(value.to_owned())))
            }
        });
        match renamed {
            None => translation.args.push(arg),
            Some((old, new, value)) => {
                let value = value.or_else(|| args.next().map(|v| v.to_string_lossy().into_owned()));
                translation
                    .warnings
                    .push(format!("{old} is deprecated and goes in the next release: use {new} (it takes a duration such as 500ms or 10s)"));
                translation.args.push(new.into());
                if let Some(value) = value {
                    translation.args.push(format!("{}ms", value.trim()).into());
                }
            }
        }
    }
    translation
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn an_old_variable_becomes_the_new_one_in_milliseconds() {
        let translation = translate(
            |name| (name == "DELIVERY_TIMEOUT_MS").then(|| "2500".to_owned()),
            args(&["alerting", "up"]),
        );
        assert_eq!(
            translation.variables,
            [("DELIVERY_TIMEOUT", "2500ms".to_owned())]
        );
        assert_eq!(translation.args, args(&["alerting", "up"]));
        assert!(
            translation.warnings[0].contains("set DELIVERY_TIMEOUT=2500ms"),
            "{:?}",
            translation.warnings
        );
    }

    #[test]
    fn the_new_name_wins_over_the_old() {
        let translation = translate(
            |name| match name {
                "DELIVERY_BACKOFF_MS" => Some("50".to_owned()),
                "DELIVERY_BACKOFF" => Some("1s".to_owned()),
                _ => None,
            },
            Vec::new(),
        );
        assert!(translation.variables.is_empty());
        assert!(translation.warnings[0].contains("DELIVERY_BACKOFF_MS is ignored"));
    }

    #[test]
    fn old_flags_become_the_new_ones() {
        let translation = translate(
            |_| None,
            args(&[
                "alerting",
                "run",
                "sender",
                "--delivery-timeout-ms",
                "3000",
                "--delivery-backoff-ms=20",
            ]),
        );
        assert_eq!(
            translation.args,
            args(&[
                "alerting",
                "run",
                "sender",
                "--delivery-timeout",
                "3000ms",
                "--delivery-backoff",
                "20ms",
            ])
        );
        assert_eq!(translation.warnings.len(), 2);
    }
}
