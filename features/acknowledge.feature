@acknowledge
Feature: A person acknowledges a notification
  Whoever takes a notification acknowledges it: the record says who and when, the first
  acknowledgement stands, and the open notifications are those nobody has taken.

  Background:
    Given the platform is running

  Scenario: One acknowledged by the admin, the other still open
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    And the alert "a2" arrives with severity "HIGH", source "db" and name "slow"
    Then the webhook "hook" receives the alerts "a1, a2"
    When the admin acknowledges the notification of "a1" for "acme"
    Then the notification of "a1" for "acme" is acknowledged by "admin"
    And "acme" has 1 open notification
