"""povqa indexer: documents into chunks, vectors and an index."""
