"""`make eval-ai`: the AI layer measured on a Turkish data set written for it (``data/``).

``data/{clinic,hotel,ecommerce}.json``: 40 FAQ pairs each, 160 customer questions labelled with
the FAQ that answers them (paraphrases, typos, missing Turkish letters, colloquial and long
messages), 48 questions the FAQ does not answer (near topics, other services, off topic,
greetings); each item is in the ``dev`` or the ``test`` split. ``data/labels.json``: tagged
conversations, sentiment and purchase intent. Calibration (``calibrate.py``) reads only dev;
the reported numbers (``run.py``) are on test.
"""
