@load_generation
Feature: Load generation jobs
  An operator generates a reproducible load and follows the job to its end.

  Background:
    Given the platform is running

  Scenario: A job sends exactly what it promised
    Given the client "acme" with a rule "generated" for severity "*", source "loadgen" and name "*"
    And the rule "generated" sends to the webhook "hook"
    And the rules are in effect
    When I start a load generation job of 300 alerts from "loadgen" with seed 7
    Then the job completes having sent 300 alerts
    And the webhook "hook" receives 300 notifications from the job
