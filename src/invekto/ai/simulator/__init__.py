"""Stand-ins for LLM providers' HTTP APIs (Anthropic Messages, OpenAI chat and embeddings), for
tests and local development."""
