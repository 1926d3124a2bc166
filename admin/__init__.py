"""The organisers' console: pages over the points and rewards services; owns no tables."""

from admin import imports_views, reports_views  # noqa: E402,F401 - their pages join the console's blueprint
