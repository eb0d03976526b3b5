//! Steps of `features/deduplication.feature`: how many notifications a client has
//! (matching.feature counts them too). Its other steps are the shared ones in mod.rs.

use cucumber::then;

use super::Alerting;

#[then(expr = "{string} has {int} notification(s)")]
async fn notification_count(w: &mut Alerting, client: String, count: usize) {
    w.settled(&client, count).await;
}
