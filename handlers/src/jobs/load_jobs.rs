//! Load-generation jobs: each a run of `generate` in the background, publishing to the
//! bus, with its progress readable while it runs and after. Running jobs and the
//! newest finished ones are kept; older finished ones are forgotten, so that a
//! long-running alert-producer does not keep every job it ever ran.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Instant,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::generate::{self, GeneratePlan, Progress};
use crate::{backpressure::BackPressure, events::AlertEvent, ports::Bus};

struct Job {
    id: Uuid,
    seed: u64,
    target: u64,
    started: Instant,
    started_at: DateTime<Utc>,
    progress: Arc<Progress>,
    finished: Mutex<Option<(DateTime<Utc>, f64)>>,
}

/// A load-generation job's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub job_id: Uuid,
    /// running, completed or cancelled.
    pub status: &'static str,
    /// Alerts the bus acknowledged.
    pub sent: u64,
    /// Alerts that failed to send.
    pub errors: u64,
    /// Alerts the job sends in all.
    pub target: u64,
    /// Achieved alerts per second.
    pub rate: f64,
    /// Replays the same sequence of severity, source and name.
    pub seed: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    fn status(&self) -> JobStatus {
        let sent = self.progress.sent.load(Ordering::Relaxed);
        let errors = self.progress.errors.load(Ordering::Relaxed);
        let finished = *self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = finished
            .map(|(_, secs)| secs)
            .unwrap_or_else(|| self.started.elapsed().as_secs_f64());
        let status = match (finished, self.progress.is_cancelled()) {
            (None, _) => "running",
            (Some(_), true) => "cancelled",
            (Some(_), false) => "completed",
        };
        JobStatus {
            job_id: self.id,
            status,
            sent,
            errors,
            target: self.target,
            rate: if elapsed > 0.0 {
                (sent as f64 / elapsed * 10.0).round() / 10.0
            } else {
                0.0
            },
            seed: self.seed,
            started_at: self.started_at,
            finished_at: finished.map(|(at, _)| at),
        }
    }
}

/// Finished jobs whose progress can still be read.
const FINISHED_JOBS_KEPT: usize = 100;

/// The jobs of one alert-producer.
#[derive(Default)]
pub struct LoadJobs {
    jobs: Mutex<HashMap<Uuid, Arc<Job>>>,
}

impl LoadJobs {
    /// Starts `plan` in the background, publishing to `bus` (each batch once the
    /// pipeline has room, when held back); returns its first status.
    pub fn start(
        &self,
        plan: GeneratePlan,
        bus: Arc<dyn Bus>,
        backpressure: Option<BackPressure>,
    ) -> JobStatus {
        let job = Arc::new(Job {
            id: Uuid::new_v4(),
            seed: plan.seed,
            target: plan.pace.total(),
            started: Instant::now(),
            started_at: Utc::now(),
            progress: Arc::default(),
            finished: Mutex::new(None),
        });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            forget_old_jobs(&mut jobs, FINISHED_JOBS_KEPT);
            jobs.insert(job.id, job.clone());
        }
        let running = job.clone();
        tokio::spawn(async move {
            tracing::info!(job_id = %running.id, target = running.target, seed = running.seed, "load generation started");
            generate::run(plan, running.progress.clone(), |alerts| {
                let (bus, backpressure) = (bus.clone(), backpressure.clone());
                async move {
                    if let Some(pressure) = backpressure {
                        pressure.until_room().await;
                    }
                    bus.publish(alerts.iter().map(AlertEvent::message).collect())
                        .await
                }
            })
            .await;
            *running.finished.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Utc::now(), running.started.elapsed().as_secs_f64()));
            let status = running.status();
            tracing::info!(job_id = %running.id, status = status.status, sent = status.sent, errors = status.errors, rate = status.rate, "load generation finished");
        });
        job.status()
    }

    /// A job's progress, if it is known.
    pub fn status(&self, id: Uuid) -> Option<JobStatus> {
        self.find(id).map(|job| job.status())
    }

    /// Cancels a job (what was sent stays sent); its progress, if it is known.
    pub fn cancel(&self, id: Uuid) -> Option<JobStatus> {
        self.find(id).map(|job| {
            job.progress.cancel();
            job.status()
        })
    }

    fn find(&self, id: Uuid) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

/// Keeps every running job and the `keep` most recently finished.
fn forget_old_jobs(jobs: &mut HashMap<Uuid, Arc<Job>>, keep: usize) {
    let mut finished: Vec<(DateTime<Utc>, Uuid)> = jobs
        .values()
        .filter_map(|job| {
            let finished = *job.finished.lock().unwrap_or_else(|e| e.into_inner());
            finished.map(|(at, _)| (at, job.id))
        })
        .collect();
    if finished.len() <= keep {
        return;
    }
    finished.sort_unstable();
    for (_, id) in &finished[..finished.len() - keep] {
        jobs.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(finished_seconds_ago: Option<i64>) -> Arc<Job> {
        Arc::new(Job {
            id: Uuid::new_v4(),
            seed: 1,
            target: 10,
            started: Instant::now(),
            started_at: Utc::now(),
            progress: Arc::default(),
            finished: Mutex::new(
                finished_seconds_ago.map(|ago| (Utc::now() - chrono::TimeDelta::seconds(ago), 1.0)),
            ),
        })
    }

    #[test]
    fn running_jobs_and_the_newest_finished_ones_are_kept() {
        let running = job(None);
        let newest = job(Some(1));
        let middle = job(Some(60));
        let oldest = job(Some(3_600));
        let mut jobs: HashMap<Uuid, Arc<Job>> = [&running, &oldest, &newest, &middle]
            .into_iter()
            .map(|job| (job.id, job.clone()))
            .collect();

        forget_old_jobs(&mut jobs, 3);
        assert_eq!(jobs.len(), 4, "nothing to forget yet");

        forget_old_jobs(&mut jobs, 2);
        assert!(jobs.contains_key(&running.id));
        assert!(jobs.contains_key(&newest.id));
        assert!(jobs.contains_key(&middle.id));
        assert!(!jobs.contains_key(&oldest.id));

        forget_old_jobs(&mut jobs, 0);
        assert_eq!(jobs.keys().collect::<Vec<_>>(), vec![&running.id]);
    }
}
