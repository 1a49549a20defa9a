"""Choosing a model: what the user has (detect, local), pulling a GGUF (pull), the first-run
choice (choose), and `localgpt models` (manage). See README, "Choosing a model"."""
