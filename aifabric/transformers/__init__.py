"""The Data Consumer: a Kafka-fed KServe transformer (windows, preprocessing, results)."""
