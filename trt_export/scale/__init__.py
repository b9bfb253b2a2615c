"""Scale-out of a sweep: shards, devices, executors (local lanes, Ray) and merging reports."""
