"""Dataset and model cards: stats, funnel, plots, provenance."""

from data_cards.citation import CITATION
from data_cards.dataset_card import render_dataset_card, size_category, yaml_header
from data_cards.model_card import render_model_card
from data_cards.plots import score_bars

__all__ = ["render_dataset_card", "render_model_card", "score_bars", "size_category", "yaml_header", "CITATION"]
