"""The national contest 我的书屋·我的梦 (DOMAIN.md "Summer reading"): editions opened by the
district library, entries sent from the mini-program (essays checked by WeChat, pictures
uploaded as images), staff moderation and judging, awards within quotas, the upward
report and certificates for authors and instructing teachers.

Modules: ``rules`` (pure: categories, groups, limits, quotas, ranking), ``files`` (image
checks and storage), ``repo`` (collections and indexes), ``service`` (contests and
entries), ``views`` (documents as API answers), ``judging`` (scores, awards, results, the
Excel report), ``certificates`` (PDF), ``privacy`` (export and erasure), ``handlers`` (the HTTP routes).
"""
