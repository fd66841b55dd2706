"""Stories stage: every kept article joins the story (one news event, across outlets and
days) it belongs to, or starts one.

``features`` (an article as weighted terms and names), ``assign`` (the single pass, pure),
``index`` (earlier stories looked up from the lake by language and time), ``stories`` (the
Beam transform, and the same assignment for a streaming pane's commit).
"""
from transforms.stories.assign import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD
from transforms.stories.stories import AssignStories

__all__ = ["AssignStories", "DEFAULT_HORIZON_DAYS", "DEFAULT_THRESHOLD"]
