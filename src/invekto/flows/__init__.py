"""Chatbot flows: a visual graph of steps, versioned, run per conversation."""
