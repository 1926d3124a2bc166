"""Patrols (巡逻): routes of printed, signed checkpoint codes scanned in order inside a nightly window.

A complete round earns the route's activity once per member, route and night, through the same
approval path as every award (``points.contributions.settle_contribution``).
"""
