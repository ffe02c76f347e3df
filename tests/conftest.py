# Shared settings for the whole suite: hypothesis runs are bounded so CI stays fast and steady.
from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.load_profile("ci")
