"""Zoo cards: one JSON file per model. Shipped as the package ``dwr_larq.zoo_cards``."""
