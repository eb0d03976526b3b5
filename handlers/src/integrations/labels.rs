//! Label sets, as Prometheus, Alertmanager and Grafana send them: which severity a
//! `severity` label means (or the labels a client names instead), the fingerprint that names the label set (Prometheus's own,
//! so it equals the `fingerprint` Alertmanager shows), and the context of an alert.

use std::collections::BTreeMap;

use crate::domain::Severity;

/// The severity a label value names, any case: the usual words (`critical`, `warning`,
/// `info`), PagerDuty's and syslog's, and P0–P5 / SEV0–SEV5. `None` for any other
/// value.
pub fn severity(value: &str) -> Option<Severity> {
    let severity = match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "fatal" | "emergency" | "emerg" | "alert" | "p0" | "p1"
        | "sev0" | "sev1" | "sev-0" | "sev-1" | "disaster" => Severity::Critical,
        "high" | "error" | "err" | "major" | "p2" | "sev2" | "sev-2" => Severity::High,
        "medium" | "warning" | "warn" | "minor" | "average" | "p3" | "sev3" | "sev-3" => {
            Severity::Medium
        }
        "low" | "info" | "informational" | "notice" | "debug" | "none" | "ok" | "ticket" | "p4"
        | "p5" | "sev4" | "sev5" | "sev-4" | "sev-5" => Severity::Low,
        _ => return None,
    };
    Some(severity)
}

/// A label set's severity: that of the first of `names` (a client's
/// [`crate::domain::LabelMapping`]; `severity` by default) whose value names one, or
/// HIGH when none does (the label itself stays in the context).
/// Somebody wrote a rule for the alert; refusing it would drop every alert sent with
/// it, and the sender does not send them again.
pub fn severity_of(labels: &BTreeMap<String, String>, names: &[String]) -> Severity {
    // The first that means a severity: `priority=urgent` does not hide `severity=critical`.
    names
        .iter()
        .find_map(|name| labels.get(name).and_then(|value| severity(value)))
        .unwrap_or(Severity::High)
}

/// The value of the first of `names` the label set holds, not empty.
pub fn first<'a>(labels: &'a BTreeMap<String, String>, names: &[String]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| labels.get(name).filter(|value| !value.is_empty()))
        .map(String::as_str)
}

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
    fn severity_words_map_to_ours_and_anything_else_is_high() {
        let of = |value: Option<&str>| {
            let labels: BTreeMap<String, String> = value
                .map(|v| ("severity".to_owned(), v.to_owned()))
                .into_iter()
                .collect();
            severity_of(&labels, &["severity".to_owned()])
        };
        assert_eq!(of(Some("critical")), Severity::Critical);
        assert_eq!(of(Some("Warning")), Severity::Medium);
        assert_eq!(of(Some("P2")), Severity::High);
        assert_eq!(of(Some("info")), Severity::Low);
        assert_eq!(of(None), Severity::High);
        assert_eq!(of(Some("purple")), Severity::High);
        assert_eq!(severity("purple"), None);
    }
}
