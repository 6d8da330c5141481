"""Forecast a whole catalog on Ray Data (`shelfcast batch`): packing, the worker UDF, the resumable run.

Ray is an optional extra (`pip install -e '.[batch]'`); only `agent.batch.run`
imports it, when a run starts.
"""
