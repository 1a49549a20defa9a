"""The embedded local model: SmolLM2-135M-Instruct served by llama.cpp on loopback."""
