Feature: Rule changes take effect while alerts flow
  A rule created while alerts keep arriving matches every alert sent more than
  2 seconds later.

  Background:
    Given the platform is running

  Scenario: A new rule catches a running stream
    Given the client "acme"
    And alerts keep arriving from "checkout"
    When I give "acme" a rule "catch" for source "checkout" that sends to the webhook "hook"
    And 2 seconds pass
    Then every alert of the stream sent from then on reaches the webhook "hook"
