"""Every repository's index declarations, created at start-up."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from distribution.plans import repo as dist_plans_repo
from distribution.routes import repo as dist_routes_repo
from distribution.shipments import repo as dist_shipments_repo
from miniprogram_api.accounts import repo as mp_accounts_repo
from miniprogram_api.books import suggestions_repo as mp_suggestions_repo
from miniprogram_api.challenges import repo as mp_challenges_repo
from miniprogram_api.contest import repo as mp_contest_repo
from miniprogram_api.notify import credits as mp_credits
from miniprogram_api.roomcodes import repo as roomcodes_repo
from miniprogram_api.surveys import repo as surveys_repo
from server import idempotency, outbox
from server.activities import repo as activities_repo
from server.audit import repo as audit_repo
from server.catalog import repo as catalog_repo
from server.circulation import offline_repo
from server.circulation import repo as circulation_repo
from server.readers import repo as readers_repo
from server.rooms import repo as rooms_repo
from server.staff import repo as staff_repo
from server.stats import readers_stats, roomstats
from server.stock import repo as stock_repo
from server.stock import stocktake, targets, transfers
from server.storage import ensure_indexes
from training.certificates import repo as training_certificates_repo
from training.courses import repo as training_courses_repo
from training.quizzes import repo as training_quizzes_repo
from training.ratings import repo as ratings_repo
from training.ratings.inspections import repo as inspections_repo

ALL_INDEXES = (audit_repo.INDEXES, rooms_repo.INDEXES, staff_repo.INDEXES, idempotency.INDEXES, stock_repo.INDEXES,
               transfers.INDEXES, stocktake.INDEXES, targets.INDEXES,
               readers_repo.INDEXES, circulation_repo.INDEXES, offline_repo.INDEXES, catalog_repo.INDEXES,
               outbox.INDEXES, mp_accounts_repo.INDEXES, mp_suggestions_repo.INDEXES, mp_credits.INDEXES, roomcodes_repo.INDEXES,
               mp_contest_repo.INDEXES, mp_challenges_repo.INDEXES, dist_plans_repo.INDEXES,
               dist_shipments_repo.INDEXES, dist_routes_repo.INDEXES, activities_repo.INDEXES, surveys_repo.INDEXES,
               inspections_repo.INDEXES, training_courses_repo.INDEXES, ratings_repo.INDEXES,
               training_quizzes_repo.INDEXES, training_certificates_repo.INDEXES, readers_stats.INDEXES,
               roomstats.INDEXES)


async def ensure_all_indexes(db: AsyncDatabase) -> None:
    await ensure_indexes(db, *ALL_INDEXES)
