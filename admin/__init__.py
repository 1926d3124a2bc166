"""The organisers' console: pages over the points and rewards services; owns no tables."""
