//! The platform under test: `up`, or every service on its own, as child processes of
//! the bench, started on a fresh database and stopped after the run.

use std::{path::PathBuf, time::Duration};

use super::BenchArgs;
use super::processes::{Service, Usage, address_after};
use anyhow::{Context, anyhow, bail};
use sea_orm::ConnectionTrait;

/// The platform under test.
pub(super) struct Platform {
    pub(super) services: Vec<Service>,
    pub(super) rule_service: String,
    pub(super) alert_producers: Vec<String>,
    pub(super) database: Option<(String, String)>,
    pub(super) dir: PathBuf,
}

pub(super) const START_PATIENCE: Duration = Duration::from_secs(120);

pub(super) fn http_url(line: &str, marker: &str) -> anyhow::Result<String> {
    address_after(line, marker)
        .map(|address| format!("http://{address}"))
        .ok_or_else(|| anyhow!("no address in {line:?}"))
}

impl Platform {
    pub(super) async fn embedded(dir: PathBuf) -> anyhow::Result<Self> {
        let env = vec![
            (
                "DATA_DIR".to_owned(),
                dir.join("data").display().to_string(),
            ),
            ("RULE_SERVICE_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("ALERT_PRODUCER_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        let mut up = Service::start("up (embedded)", &["up"], &env, &dir)?;
        let line = up
            .wait_for_line("alert-producer on http://", START_PATIENCE)
            .await
            .map_err(|e| anyhow!(e))?;
        Ok(Self {
            rule_service: http_url(&line, "rule-service on http://")?,
            alert_producers: vec![http_url(&line, "alert-producer on http://")?],
            services: vec![up],
            database: None,
            dir,
        })
    }

    pub(super) async fn kafka(args: &BenchArgs, run: &str, dir: PathBuf) -> anyhow::Result<Self> {
        let brokers = args.kafka_brokers.clone().ok_or_else(|| {
            anyhow!(
                "--mode kafka needs KAFKA_BROKERS (or --kafka-brokers); for a local broker: \
                 KAFKA_BROKERS=$(scripts/test-broker start) alerting bench --mode kafka"
            )
        })?;
        let name = format!("alerting_bench_{run}");
        let mut url = url::Url::parse(&args.postgres_url).context("--postgres-url")?;
        let admin = crate::db::connect_url(&args.postgres_url, 1)
            .await
            .with_context(|| format!("connecting to {}", args.postgres_url))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        url.set_path(&format!("/{name}"));
        let mut platform = Self {
            services: Vec::new(),
            rule_service: String::new(),
            alert_producers: Vec::new(),
            database: Some((args.postgres_url.clone(), name)),
            dir,
        };
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", url.to_string()),
            ("KAFKA_BROKERS", brokers),
            ("KAFKA_TOPIC_PREFIX", format!("bench-{run}.")),
            ("KAFKA_CONSUMER_GROUP_PREFIX", format!("bench-{run}-")),
            ("KAFKA_SESSION_TIMEOUT", "6s".to_owned()),
            (
                "KAFKA_TOPIC_PARTITIONS",
                args.flow.topic_partitions.to_string(),
            ),
            (
                "KAFKA_FETCH_WAIT_MAX",
                crate::config::describe(args.flow.fetch_wait_max),
            ),
            ("KAFKA_LINGER", crate::config::describe(args.flow.linger)),
            ("REDIS_URL", args.redis_url.clone()),
            ("REDIS_KEY_PREFIX", format!("bench-{run}")),
            ("RULE_SERVICE_ADDR", "127.0.0.1:0".to_owned()),
            ("ALERT_PRODUCER_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for args in [&["migrate"][..], &["topics", "create"]] {
            let mut one_off = Service::start(&args.join(" "), args, &env, &platform.dir)?;
            one_off
                .wait_for_exit(START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        let instances = args.instances as usize;
        let mut start = |name: String, args: &[&str]| -> anyhow::Result<usize> {
            platform
                .services
                .push(Service::start(&name, args, &env, &platform.dir)?);
            Ok(platform.services.len() - 1)
        };
        let rule_service = start("rule-service".into(), &["serve", "rule-service"])?;
        let mut producers = Vec::new();
        for n in 1..=instances {
            producers.push(start(
                format!("alert-producer {n}"),
                &["serve", "alert-producer"],
            )?);
        }
        let mut consumers = vec![(
            start("rule-updater".into(), &["run", "rule-updater"])?,
            "rule-updater started",
        )];
        for (service, ready) in [
            ("evaluator", "evaluator started"),
            ("aggregator", "aggregator started"),
            ("sender", "sender started"),
        ] {
            for n in 1..=instances {
                consumers.push((start(format!("{service} {n}"), &["run", service])?, ready));
            }
        }
        let line = platform.services[rule_service]
            .wait_for_line("rule-service on http://", START_PATIENCE)
            .await
            .map_err(|e| anyhow!(e))?;
        platform.rule_service = http_url(&line, "rule-service on http://")?;
        for index in producers {
            let line = platform.services[index]
                .wait_for_line("alert-producer on http://", START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
            platform
                .alert_producers
                .push(http_url(&line, "alert-producer on http://")?);
        }
        for (index, ready) in consumers {
            platform.services[index]
                .wait_for_line(ready, START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        Ok(platform)
    }

    pub(super) fn usages(&self) -> Vec<Usage> {
        self.services.iter().map(Service::usage).collect()
    }

    pub(super) async fn check_running(&mut self) -> anyhow::Result<()> {
        for service in &mut self.services {
            if !service.running() {
                bail!("{} stopped:\n{}", service.name, service.tail(30));
            }
        }
        Ok(())
    }

    pub(super) async fn stop(self) {
        for service in self.services {
            service.stop().await;
        }
        if let Some((admin_url, name)) = self.database {
            match crate::db::connect_url(&admin_url, 1).await {
                Ok(admin) => {
                    if let Err(err) = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                    {
                        eprintln!("could not drop database {name}: {err}");
                    }
                }
                Err(err) => eprintln!("could not drop database {name}: {err}"),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The admin token of the platform the bench starts, made for this run.
pub(crate) static ADMIN_TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    alerting_handlers::http::auth::new_secret(alerting_handlers::http::auth::ADMIN_TOKEN_PREFIX)
});
