"""The training and ratings demo: courses and sessions, quizzes and certificates, the 2014/2015
results, a rating round under way with activities, surveys and inspectors' scores.

Each part seeds itself once (fixed ids and op_ids); the order matters: certificates need the
sessions' attendance, metrics need activities and surveys, inspections need the round.
"""

from __future__ import annotations

from server.resources import Deps


async def seed_training_demo(deps: Deps) -> None:
    from server.activities.demo import seed_demo as seed_activities
    from training.certificates.demo import seed_demo as seed_certificates
    from training.courses.demo import seed_demo as seed_courses
    from training.ratings.demo import seed_demo as seed_ratings
    from training.ratings.inspections.demo import seed_demo as seed_inspections

    await seed_courses(deps)
    await seed_certificates(deps)
    await seed_activities(deps)
    await seed_ratings(deps)
    await seed_inspections(deps)
