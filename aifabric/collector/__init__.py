"""The Data Collector: collection requests become scheduled jobs on shared, reference-counted
streams (one upstream subscription and one Kafka topic each), run by a long-lived collector."""
