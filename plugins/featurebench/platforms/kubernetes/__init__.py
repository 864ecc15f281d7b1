"""The Kubernetes platform, one job per module: the API client and readiness rules (`client`), manifests as sent
and the probe Job (`manifests`), Job progress (`jobs`), the results store between Airflow and the load pods
(`artifacts`), the deferrable waits (`triggers`), GPU pools as Airflow pools (`pools`), and the platform that
ties them together (`platform`).

The names below are the ones the single module had. ArmReadyTrigger and LoadJobTrigger must stay importable
from here: a task deferred before the split stored the classpath featurebench.platforms.kubernetes.<Trigger>,
and the triggerer resumes it by that path.
"""

from featurebench.errors import ForeignObjectError, KubernetesError
from featurebench.platforms.kubernetes.artifacts import READY_MARKER, check_artifacts, download, publish_traffic
from featurebench.platforms.kubernetes.jobs import DEFAULT_LOAD_TIMEOUT_S, job_status
from featurebench.platforms.kubernetes.manifests import (
    PROBE_IMAGE,
    PROBE_SCRIPT,
    PROBE_TIMEOUT_S,
    probe_job,
    served_model,
    stamp,
)
from featurebench.platforms.kubernetes.platform import KubernetesPlatform
from featurebench.platforms.kubernetes.pools import main, pool_for, pools_json
from featurebench.platforms.kubernetes.triggers import (
    LOAD_TRIGGER_CLASSPATH,
    TRIGGER_CLASSPATH,
    ArmReadyTrigger,
    LoadJobTrigger,
)

__all__ = [
    "DEFAULT_LOAD_TIMEOUT_S", "LOAD_TRIGGER_CLASSPATH", "PROBE_IMAGE", "PROBE_SCRIPT", "PROBE_TIMEOUT_S",
    "READY_MARKER", "TRIGGER_CLASSPATH", "ArmReadyTrigger", "ForeignObjectError", "KubernetesError",
    "KubernetesPlatform", "LoadJobTrigger", "check_artifacts", "download", "job_status",
    "main", "pool_for", "pools_json", "probe_job", "publish_traffic", "served_model", "stamp",
]
