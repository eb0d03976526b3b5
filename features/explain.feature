@explain
Feature: Explain says what an alert would do, and why
  Before sending anything, an operator asks what an alert would do for a client: which
  rules match it and, for each that does not, the first field that did not; which
  silence would keep it quiet; which open notification it would fold into; which
  endpoints it would reach. Nothing is sent or stored.

  Background:
    Given the platform is running

  Scenario: Matched by one rule, missed by another, then silenced
    Given the client "acme" with a rule "db" for severity "HIGH", source "db" and name "*"
    And "acme" has a rule "web" for severity "*", source "web" and name "*"
    And the rule "db" sends to the webhook "hook"
    When the admin explains the alert with severity "HIGH", source "db" and name "disk full" for "acme"
    Then the explanation says "new notification"
    And the rule "db" matched and the rule "web" did not, at its "source"
    And the explanation names 1 endpoint
    When the admin silences the source "db" for "acme" for an hour
    And the admin explains the alert with severity "HIGH", source "db" and name "disk full" for "acme"
    Then the explanation says "silenced"
    And nothing was sent to the webhook "hook"
