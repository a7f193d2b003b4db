"""Where text generation and embeddings come from: the builtin offline model, or a tenant's
LLM (Anthropic, any OpenAI-compatible endpoint). One interface each (``base``)."""
