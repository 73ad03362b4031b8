"""What a build writes: the feed files, planned incrementally from the cache."""
