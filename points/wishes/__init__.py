"""Micro-wishes (微心愿), the 四单制 volunteer task flow: 居民点单 → 网格交单 → 共同体下单 → 成员认领接单.

A resident posts a small wish; a grid worker vets it; an organiser publishes it with points and a
due date; a volunteer takes it and does it; the resident confirms, and the volunteer's points are
an approved contribution of the built-in activity ``wish``, posted through the ledger.
"""
