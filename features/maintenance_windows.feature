@maintenance_windows
Feature: A maintenance window silences on a weekly schedule, in its time zone
  A maintenance window is a silence that recurs: on some days of the week, from a local
  start time, for a duration, in an IANA time zone (daylight-saving changes included).
  Matching alerts are recorded as SILENCED while one of its windows is open, and
  delivered as usual while none is.

  Background:
    Given the platform is running

  Scenario: Inside the window, silenced; outside it, delivered
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    And a maintenance window for "acme" on the source "backup", opening in two hours in "America/New_York"
    And a maintenance window for "acme" on the source "batch", open now in "Europe/Berlin"
    When 2 seconds pass
    And the alert "b1" arrives with severity "LOW", source "batch" and name "job late"
    And the alert "k1" arrives with severity "LOW", source "backup" and name "job late"
    Then the webhook "hook" receives the alerts "k1"
    And the notification of "b1" for "acme" is silenced by that window
