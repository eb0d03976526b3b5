@silences
Feature: A silence keeps a known problem quiet, on the record
  While a silence applies, a matching alert still makes a notification: it is recorded
  as SILENCED, with the silence's id, and delivered to no one, so the record answers
  "why wasn't I paged". Alerts it does not match go out as usual. A new or expired
  silence takes effect within 2 seconds.

  Background:
    Given the platform is running

  Scenario: Silenced, then expired
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the admin silences the source "db" for "acme" for an hour
    And 2 seconds pass
    And the alert "s1" arrives with severity "HIGH", source "db" and name "slow queries"
    And the alert "o1" arrives with severity "HIGH", source "web" and name "errors"
    Then the webhook "hook" receives the alerts "o1"
    And the notification of "s1" for "acme" is silenced by that silence
    When the admin expires that silence
    And 2 seconds pass
    And the alert "s2" arrives with severity "HIGH", source "db" and name "slow queries"
    Then the webhook "hook" receives the alerts "o1, s2"
