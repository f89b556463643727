"""Dataset and model cards: stats, funnel, plots, provenance."""

from data_cards.dataset_card import render_dataset_card, size_category, yaml_header

__all__ = ["render_dataset_card", "size_category", "yaml_header"]
