"""Earning points: activities, contributions, events, the ledger, leaderboards, gamification."""
