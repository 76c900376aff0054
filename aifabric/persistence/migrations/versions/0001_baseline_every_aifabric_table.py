"""baseline: every aifabric table

Revision ID: 0001
Revises:
Create Date: 2026-11-27 00:50:41.665306
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "collection_streams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("adapter_type", sa.String(length=255), nullable=False),
        sa.Column("adapter_config", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("period_s", sa.Float(), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("upstream_ref", sa.Text(), nullable=True),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        sa.Column("records_published", sa.BigInteger(), nullable=False),
        sa.Column("dead_letters", sa.BigInteger(), nullable=False),
        sa.Column("upstream_calls", sa.BigInteger(), nullable=False),
        sa.Column("last_record_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("degraded_reason", sa.Text(), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("collection_streams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_streams_signature"), ["signature"], unique=True)
        batch_op.create_index(batch_op.f("ix_collection_streams_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_collection_streams_tenant"), ["tenant"], unique=False)

    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "name", name="uq_datasets_tenant_name"),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datasets_tenant"), ["tenant"], unique=False)

    op.create_table(
        "model_definitions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("class_path", sa.String(length=256), nullable=False),
        sa.Column("uri", sa.String(length=512), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "name", name="uq_model_definitions_tenant_name"),
    )
    with op.batch_alter_table("model_definitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_definitions_tenant"), ["tenant"], unique=False)

    op.create_table(
        "serving_deployments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested", sa.String(length=512), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("model_uri", sa.String(length=1024), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("results_topic", sa.String(length=249), nullable=False),
        sa.Column("group_id", sa.String(length=256), nullable=False),
        sa.Column("metric_ids", sa.JSON(), nullable=False),
        sa.Column("max_lateness_ms", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "name", name="uq_serving_deployment_name"),
    )
    with op.batch_alter_table("serving_deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serving_deployments_tenant"), ["tenant"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("runner", sa.String(length=16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("log_file", sa.String(length=512), nullable=False),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("mlflow_url", sa.String(length=512), nullable=True),
        sa.Column("kfp_run_id", sa.String(length=64), nullable=True),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.Column("bundle_uri", sa.String(length=512), nullable=True),
        sa.Column("alias", sa.String(length=64), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_runs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_runs_tenant"), ["tenant"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_tenant"), ["tenant"], unique=False)

    op.create_table(
        "collection_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("stream_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records_base", sa.BigInteger(), nullable=False),
        sa.Column("records_published", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["collection_streams.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("collection_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_collection_jobs_stream_id"), ["stream_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_collection_jobs_tenant"), ["tenant"], unique=False)

    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=512), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("labelled_rows", sa.BigInteger(), nullable=False),
        sa.Column("time_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slot_ms", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "checksum", name="uq_dataset_versions_checksum"),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_versions_checksum"), ["checksum"], unique=False)
        batch_op.create_index(batch_op.f("ix_dataset_versions_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dataset_versions_tenant"), ["tenant"], unique=False)

    op.create_table(
        "serving_components",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("component", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["serving_deployments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deployment_id", "component", name="uq_serving_component"),
    )
    with op.batch_alter_table("serving_components", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_serving_components_deployment_id"), ["deployment_id"], unique=False
        )

    op.create_table(
        "serving_timings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("model_ms", sa.Float(), nullable=False),
        sa.Column("consumer_ms", sa.Float(), nullable=False),
        sa.Column("combined_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["serving_deployments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("serving_timings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serving_timings_deployment_id"), ["deployment_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("serving_timings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_timings_deployment_id"))

    op.drop_table("serving_timings")
    with op.batch_alter_table("serving_components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_components_deployment_id"))

    op.drop_table("serving_components")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_versions_tenant"))
        batch_op.drop_index(batch_op.f("ix_dataset_versions_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_dataset_versions_checksum"))

    op.drop_table("dataset_versions")
    with op.batch_alter_table("collection_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_jobs_tenant"))
        batch_op.drop_index(batch_op.f("ix_collection_jobs_stream_id"))
        batch_op.drop_index(batch_op.f("ix_collection_jobs_state"))

    op.drop_table("collection_jobs")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_tenant"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_runs_tenant"))
        batch_op.drop_index(batch_op.f("ix_training_runs_status"))

    op.drop_table("training_runs")
    op.drop_table("tenants")
    with op.batch_alter_table("serving_deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_deployments_tenant"))

    op.drop_table("serving_deployments")
    with op.batch_alter_table("model_definitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_definitions_tenant"))

    op.drop_table("model_definitions")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datasets_tenant"))

    op.drop_table("datasets")
    with op.batch_alter_table("collection_streams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_streams_tenant"))
        batch_op.drop_index(batch_op.f("ix_collection_streams_state"))
        batch_op.drop_index(batch_op.f("ix_collection_streams_signature"))

    op.drop_table("collection_streams")
