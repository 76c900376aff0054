"""Datasets: the Milan loader and generator, CSV/Parquet/record onboarding, versions in S3 + SQL."""
