"""jobfleet's side-by-side benchmark against RQ, Celery, Dramatiq and arq (``python -m bench``)."""
