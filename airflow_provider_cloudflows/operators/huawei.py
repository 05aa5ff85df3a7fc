"""Huawei Cloud DWS operators: create a snapshot, scale a cluster out (resize), restore a snapshot.

None of these calls is idempotent (no client token): an ambiguous failure (5xx, timeout) is not repeated and
the task fails asking to check the console; a throttled call is retried (it was refused before processing).
DWS has no API to cancel them, so ``cancel_on_kill=True`` is refused at construction and nothing is stopped
on kill or timeout. Waits:

- snapshot / resize: the cluster's SNAPSHOTTING / GROWING action (the DWS cluster-task wait, which decides an
  end only from evidence and hands its memory back across triggerer restarts);
- restore: the job API (``GET /v1.0/{project_id}/job/{job_id}``) when DWS answers a ``job_id``, else the new
  cluster's RESTORING action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.operators.base import CloudExecutionOperator
from airflow_provider_cloudflows.operators.links import HuaweiDwsClusterLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class _DwsOperator(CloudExecutionOperator):
    conn_id_param = "huaweicloud_conn_id"
    hook_override_fields = ("region", "project_id")
    operator_extra_links = (HuaweiDwsClusterLink(),)

    def __init__(
        self,
        *,
        project_id: str | None = None,
        huaweicloud_conn_id: str = HuaweiCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=huaweicloud_conn_id, **kwargs)
        self.project_id = project_id


class HuaweiDwsCreateSnapshotOperator(_DwsOperator):
    """Create a manual DWS snapshot (``POST /v1.0/{project_id}/snapshots``) and wait for SNAPSHOTTING to end.

    Returns the wait's final state plus ``snapshot_id`` (for a later restore) and ``snapshot_name``.

    :param cluster_id: the cluster to snapshot (templated).
    :param snapshot_name: the snapshot's name (templated; 4-64 characters, starting with a letter).
    :param description: the snapshot's description (templated).
    :param project_id: overrides the connection's project id.
    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "huawei_dws_create_snapshot"
    template_fields: Sequence[str] = (
        "cluster_id",
        "snapshot_name",
        "description",
        "region",
        "project_id",
        "huaweicloud_conn_id",
    )

    def __init__(self, *, cluster_id: str, snapshot_name: str, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.snapshot_name = snapshot_name
        self.description = description

    def start_params(self, context: Context) -> dict[str, Any]:
        """The cluster, the snapshot's name and description."""
        return {"cluster_id": self.cluster_id, "name": self.snapshot_name, "description": self.description}


class HuaweiDwsResizeClusterOperator(_DwsOperator):
    """Scale a DWS cluster out (``POST /v1.0/{project_id}/clusters/{cluster_id}/resize``) and wait for GROWING.

    :param cluster_id: the cluster (templated).
    :param node_count: nodes to add (``scale_out.count``, templated).
    :param request: further ``ResizeClusterRequestBody`` fields (``auto_redistribute``, ``mode``,
        ``scale_out.subnet_id``...), merged last (templated).
    :param project_id: overrides the connection's project id.
    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "huawei_dws_resize_cluster"
    template_fields: Sequence[str] = (
        "cluster_id",
        "node_count",
        "request",
        "region",
        "project_id",
        "huaweicloud_conn_id",
    )
    template_fields_renderers = {"request": "json"}

    def __init__(
        self, *, cluster_id: str, node_count: int | str, request: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.node_count = node_count
        self.request = request or {}

    def start_params(self, context: Context) -> dict[str, Any]:
        """``{"scale_out": {"count": n}}`` merged with ``request`` (its ``scale_out`` keys included)."""
        extra = dict(self.request)
        scale_out = {"count": int(self.node_count), **dict(extra.pop("scale_out", None) or {})}
        return {"cluster_id": self.cluster_id, "request": {"scale_out": scale_out, **extra}}


class HuaweiDwsRestoreClusterOperator(_DwsOperator):
    """Restore a DWS snapshot to a new cluster (``POST /v1.0/{project_id}/snapshots/{snapshot_id}/actions``)
    and wait for it: on the job API when DWS answers a ``job_id``, else on the new cluster's RESTORING.

    Returns the final state plus the new ``cluster_id`` and the ``job_id``.

    :param snapshot_id: the snapshot to restore (templated).
    :param restore: the ``Restore`` structure: ``name`` (the new cluster's), and optionally ``subnet_id``,
        ``security_group_id``, ``vpc_id``, ``availability_zone``, ``port``, ``public_ip``... (templated).
    :param project_id: overrides the connection's project id.
    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "huawei_dws_restore_cluster"
    template_fields: Sequence[str] = ("snapshot_id", "restore", "region", "project_id", "huaweicloud_conn_id")
    template_fields_renderers = {"restore": "json"}

    def __init__(self, *, snapshot_id: str, restore: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot_id = snapshot_id
        self.restore = restore

    def start_params(self, context: Context) -> dict[str, Any]:
        """The snapshot and the ``restore`` structure."""
        if not isinstance(self.restore, Mapping) or not self.restore.get("name"):
            raise ValueError("restore must be a mapping with at least the new cluster's 'name'")
        return {"snapshot_id": self.snapshot_id, "restore": dict(self.restore)}
