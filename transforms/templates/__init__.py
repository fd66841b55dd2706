"""Site templates: lines that a site repeats on most of its pages (bios, prompts, legal
footers inside the article's container) taken out of its articles, a batch at a time.

``lines.py`` decides (pure functions), ``remove.py`` is the PTransform around them.
"""
from transforms.templates.lines import DEFAULT_MIN_PAGES, DEFAULT_MIN_SHARE
from transforms.templates.remove import RemoveSiteTemplates, trim_article

__all__ = ["DEFAULT_MIN_PAGES", "DEFAULT_MIN_SHARE", "RemoveSiteTemplates", "trim_article"]
