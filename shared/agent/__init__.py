"""The assistant: prompt assembly, the tool loop, sessions and providers (through litellm)."""
