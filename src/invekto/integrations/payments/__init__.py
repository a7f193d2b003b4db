"""Payment links (iyzico, PayTR): made from a conversation, sent in it, settled by the
provider's verified callback. ``service`` holds the rules; the providers are adapters."""
