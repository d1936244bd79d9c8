"""Yearly replenishment plans: settings, the recommended list, rule checks, demand-led picks, history."""
