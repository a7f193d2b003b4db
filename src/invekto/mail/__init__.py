"""E-mail from the company's own mail server (SMTP): a test message, and the weekly summary of
the reports sent to the people the company lists."""
