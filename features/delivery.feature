@delivery
Feature: Delivery over every channel
  Notifications reach webhooks (signed when the endpoint has a secret), Slack
  channels and email addresses.

  Background:
    Given the platform is running

  Scenario: A signed webhook, a Slack channel and an email address
    Given the client "acme" with a rule "payments" for severity "*", source "payments" and name "*"
    And the rule "payments" sends to the webhook "signed" signed with "s3cret-s3cret-s3cret"
    And the rule "payments" sends to the Slack channel "team"
    And the rule "payments" sends email to "oncall@acme.test"
    And the rules are in effect
    When the alert "a1" arrives with severity "CRITICAL", source "payments" and name "declined"
    Then the webhook "signed" receives the alerts "a1"
    And every delivery to "signed" is signed with "s3cret-s3cret-s3cret"
    And the Slack channel "team" gets a message about "[CRITICAL] payments: declined"
    And "oncall@acme.test" gets an email about "[CRITICAL] payments: declined"
