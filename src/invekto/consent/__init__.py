"""Marketing consent: its history per contact, keywords, imports and İYS synchronisation."""
