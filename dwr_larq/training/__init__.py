"""Training with plain Keras ``fit``: data, recipes, one training loop, run folders,
distillation, train, finetune, evaluate and publishing weights."""
