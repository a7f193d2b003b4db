"""AI help: the knowledge base, reply suggestions, summaries, tagging, auto-answer and chat
analysis. Works offline by default (``providers.builtin``); a tenant may turn on an LLM."""
