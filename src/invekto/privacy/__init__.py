"""Data protection (KVKK): a contact's personal data exported or erased on request, and the
company's retention policy applied every night."""
