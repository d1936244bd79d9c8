"""Reader notifications: subscribe-message credits, the sender the arq worker runs, reminders."""
