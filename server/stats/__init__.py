"""District statistics: per-room monthly figures kept apart from loan histories, the plan's
indicators against their targets, the console dashboard, the annual report and the exports."""
