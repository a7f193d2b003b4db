"""Shopify: order look-ups over the GraphQL Admin API and verified order webhooks."""
