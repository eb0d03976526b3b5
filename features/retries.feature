@retries
Feature: Retries, final statuses and redrive
  A failing endpoint is retried with backoff; a notification ends SENT, PARTIAL or
  FAILED; a failed one can be tried again once the receiver has recovered.

  Background:
    Given the platform is running

  Scenario: An endpoint that keeps failing, then recovers
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "flaky"
    And the webhook "flaky" answers "500, then a timeout, then 429 after 1 s"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the notification of "a1" for "acme" is FAILED after 3 attempts to "flaky"
    When I retry the notification of "a1" for "acme"
    Then the notification of "a1" for "acme" is SENT after 4 attempts to "flaky"
    And the webhook "flaky" saw 4 requests with one idempotency key

  Scenario: A receiver that refuses is not retried
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "refusing"
    And the webhook "refusing" answers "400"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the notification of "a1" for "acme" is FAILED after 1 attempt to "refusing"

  Scenario: One endpoint refuses, the other takes it
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "good"
    And the rule "all" sends to the webhook "gone"
    And the webhook "gone" answers "410"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the notification of "a1" for "acme" is PARTIAL after 1 attempt to "gone"
    And the webhook "good" receives the alerts "a1"

  Scenario: A rule with nowhere to send
    Given the client "acme" with a rule "quiet" for severity "*", source "*" and name "*"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the notification of "a1" for "acme" is NO_ENDPOINTS
