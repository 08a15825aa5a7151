// StatsD ingest: written by the statsd helper
