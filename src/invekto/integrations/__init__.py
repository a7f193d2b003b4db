"""Other systems a company connects: shops and marketplaces (order look-ups), CRMs (contact sync),
payment providers (payment links). Each provider is an adapter (``base.IntegrationAdapter``)
registered in ``registry``; ``service`` keeps a company's connections, ``orders`` and
``payments`` are what the rest of the product asks of them."""
