//! Ingestion and load-generation jobs over HTTP (embedded: the bus is not what these
//! tests are about).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, PATIENCE, Pipeline};

async fn post(p: &Pipeline, path: &str, body: Value) -> (u16, Value) {
    p.call(
        Method::POST,
        format!("{}{path}", p.alert_producer),
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_accepts_one_or_many_and_refuses_bad_batches_whole() {
    let mut p = Pipeline::start(Mode::Embedded).await;
    p.client("acme").await;
    p.rule("acme", "*", "*", "*").await;
    p.wait_for_rules(1).await;

    let (status, body) = post(
        &p,
        "/api/v1/alerts",
        json!({"severity": "high", "source": "s", "name": "n", "context": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    let generated = body["alert_ids"][0].as_str().expect("id").to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());

    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"alert_id": format!("b-{i}"), "severity": "LOW", "source": "s", "name": "n", "event_ts": "2026-11-27T10:00:00Z"}))
        .collect();
    let (status, body) = post(&p, "/api/v1/alerts", Value::Array(batch)).await;
    assert_eq!((status, body["accepted"].clone()), (202, json!(1000)));

    let matches = p.matches(1001).await;
    assert_eq!(matches[0].alert.alert_id, generated);
    assert_eq!(
        matches[0].alert.context.get("k").map(String::as_str),
        Some("v")
    );

    let (status, body) = post(
        &p,
        "/api/v1/alerts",
        json!([
            {"severity": "LOW", "source": "s", "name": "n"},
            {"severity": "LOUD", "source": "", "name": "n"},
            {"severity": "LOW", "source": "s"},
            {"severity": "LOW", "source": "s", "name": "n", "event_ts": "yesterday", "color": "red"},
        ]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let items: Vec<(u64, String)> = body["error"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["index"].as_u64().unwrap_or(99),
                i["field"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (1, "severity".to_owned()),
            (1, "source".to_owned()),
            (2, "name".to_owned()),
            (3, "color".to_owned())
        ]
    );

    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"severity": "LOW", "source": "s", "name": "n"}))
        .collect();
    let (status, body) = post(&p, "/api/v1/alerts", Value::Array(too_many)).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("body"))
    );
    let (status, _) = post(&p, "/api/v1/alerts", json!([])).await;
    assert_eq!(status, 422);
    let big = json!({"severity": "LOW", "source": "s", "name": "n", "context": {"k": "v".repeat(20_000)}});
    let (status, body) = post(&p, "/api/v1/alerts", big).await;
    assert_eq!(
        (status, body["error"]["items"][0]["field"].clone()),
        (422, json!("context"))
    );
    let huge = alerting_test_support::http()
        .post(format!("{}/api/v1/alerts", p.alert_producer))
        .header("content-type", "application/json")
        .body(format!("[{}]", "1,".repeat(600_000)))
        .send()
        .await
        .expect("sent");
    assert_eq!(huge.status().as_u16(), 413);
    let broken = alerting_test_support::http()
        .post(format!("{}/api/v1/alerts", p.alert_producer))
        .header("content-type", "application/json")
        .body("[{")
        .send()
        .await
        .expect("sent");
    assert_eq!(broken.status().as_u16(), 400);

    // None of the refused alerts reached the bus.
    p.assert_no_other_matches(0).await;
}

async fn wait_for_status(p: &Pipeline, job_id: &str, wanted: &str) -> Value {
    let url = format!("{}/api/v1/alerts/generate/{job_id}", p.alert_producer);
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let (status, body) = p.call(Method::GET, url.clone(), None).await;
            assert_eq!(status, 200, "{body}");
            if body["status"] == wanted {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("job {job_id} never became {wanted}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generation_jobs_report_progress_and_can_be_cancelled() {
    let mut p = Pipeline::start(Mode::Embedded).await;
    p.client("acme").await;
    p.rule("acme", "*", "*", "*").await;
    p.wait_for_rules(1).await;

    let (status, job) = post(
        &p,
        "/api/v1/alerts/generate",
        json!({"count": 2500, "seed": 42, "severities": {"HIGH": 1}}),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(
        (job["target"].clone(), job["seed"].clone()),
        (json!(2500), json!(42))
    );
    let done = wait_for_status(&p, job["job_id"].as_str().expect("id"), "completed").await;
    assert_eq!(
        (done["sent"].clone(), done["errors"].clone()),
        (json!(2500), json!(0))
    );
    assert!(done["finished_at"].is_string());
    let matches = p.matches(2500).await;
    assert!(matches.iter().all(|m| m.alert.severity == "HIGH"));

    let (status, job) = post(
        &p,
        "/api/v1/alerts/generate",
        json!({"rate": 50, "duration": 600}),
    )
    .await;
    assert_eq!((status, job["target"].clone()), (202, json!(30_000)));
    let job_id = job["job_id"].as_str().expect("id").to_owned();
    let (status, cancelled) = p
        .call(
            Method::DELETE,
            format!("{}/api/v1/alerts/generate/{job_id}", p.alert_producer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let stopped = wait_for_status(&p, &job_id, "cancelled").await;
    assert!(
        stopped["sent"].as_u64().unwrap_or(u64::MAX) < 30_000,
        "{stopped}"
    );

    for bad in [
        json!({}),
        json!({"rate": 10}),
        json!({"count": 0}),
        json!({"count": 5, "names": {"x": 0}}),
        json!({"count": 5, "speed": 1}),
    ] {
        let (status, body) = post(&p, "/api/v1/alerts/generate", bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["error"]["field"].is_string(), "{body}");
    }
    let missing = uuid::Uuid::new_v4();
    let (status, _) = p
        .call(
            Method::GET,
            format!("{}/api/v1/alerts/generate/{missing}", p.alert_producer),
            None,
        )
        .await;
    assert_eq!(status, 404);
}
