"""The platform: config, extensions, errors, API conventions, identity, audit, QR codes.

Nothing in ``core`` imports a domain package (``points``, ``rewards``, ``admin``).
"""
