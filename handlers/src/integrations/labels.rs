//! Label sets, as Prometheus, Alertmanager and Grafana send them: which severity a
//! `severity` label means, the fingerprint that names the label set (Prometheus's own,
//! so it equals the `fingerprint` Alertmanager shows), and the context of an alert.

use std::collections::BTreeMap;

use crate::domain::Severity;

/// The severity a label value names, any case: the usual words (`critical`, `warning`,
/// `info`), PagerDuty's and syslog's, and P1–P5 / SEV1–SEV5. A missing label is HIGH:
/// somebody wrote a rule for it. `None` for a value nobody would mean as one of ours.
pub fn severity(value: Option<&str>) -> Option<Severity> {
    let Some(value) = value else {
        return Some(Severity::High);
    };
    let severity = match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "fatal" | "emergency" | "emerg" | "alert" | "p1"
        | "sev1" | "sev-1" | "disaster" => Severity::Critical,
        "high" | "error" | "err" | "major" | "p2" | "sev2" | "sev-2" => Severity::High,
        "medium" | "warning" | "warn" | "minor" | "average" | "p3" | "sev3" | "sev-3" => {
            Severity::Medium
        }
        "low" | "info" | "informational" | "notice" | "debug" | "none" | "ok" | "p4" | "p5"
        | "sev4" | "sev5" | "sev-4" | "sev-5" => Severity::Low,
        _ => return None,
    };
    Some(severity)
}

/// What [`severity`] takes, for an error message.
pub const SEVERITY_WORDS: &str =
    "critical, high, error, warning, medium, low, info (or P1–P5, SEV1–SEV5), any case";

/// The label set's fingerprint, as Prometheus computes it (`model.LabelSet.Fingerprint`):
/// FNV-1a over the names in order, each name and value followed by the byte 255, in 16
/// hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 255;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    format!("{hash:016x}")
}

/// An alert's context from its labels (by name) and annotations (`annotations.<name>`),
/// and anything else worth keeping (`extra`: a generator URL, a dashboard).
pub fn context(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    extra: impl IntoIterator<Item = (&'static str, String)>,
) -> BTreeMap<String, String> {
    let mut context = labels.clone();
    for (name, value) in annotations {
        context.insert(format!("annotations.{name}"), value.clone());
    }
    for (name, value) in extra {
        if !value.is_empty() {
            context.insert(name.to_owned(), value);
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_prometheus_own() {
        // Both computed by github.com/prometheus/common/model v0.48.0.
        let labels = BTreeMap::from(
            [
                ("alertname", "DiskFull"),
                ("job", "node"),
                ("severity", "critical"),
                ("instance", "db1:9100"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        assert_eq!(fingerprint(&labels), "1751650d45bf7d6b");
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
    }

    #[test]
    fn severity_words_map_to_ours_and_nonsense_does_not() {
        assert_eq!(severity(Some("critical")), Some(Severity::Critical));
        assert_eq!(severity(Some("Warning")), Some(Severity::Medium));
        assert_eq!(severity(Some("P2")), Some(Severity::High));
        assert_eq!(severity(Some("info")), Some(Severity::Low));
        assert_eq!(severity(None), Some(Severity::High));
        assert_eq!(severity(Some("purple")), None);
    }
}
