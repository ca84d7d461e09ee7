"""Data in, before any network: datasets, users' CSVs, the AI-Feynman table (``feynman.yaml``, ``signed.yaml``),
the data transform (paper III-G) and the task specs a params.yaml ``tasks`` section names."""
