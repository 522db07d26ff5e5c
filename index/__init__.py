"""Everything up to a saved index: ingest -> chunk -> embed -> store."""
