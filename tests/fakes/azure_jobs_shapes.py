"""Response bodies of the fake Azure ML job system (`azure_jobs.py`), shaped after azure-ai-ml 1.35's REST
models: Workspace/WorkspaceProperties, ComputeResource/AmlCompute/AmlComputeProperties,
AmlComputeNodesInformation, VirtualMachineSizeListResult (`_restclient/arm_ml_service/models/_models.py`) and
RunDetails/RunHistoryErrorResponse (`_restclient/runhistory/models/_models.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.azure_ml import _system_data

if TYPE_CHECKING:
    from tests.fakes.azure_jobs import FakeAzureJobs

# name -> (family, vCPUs, GPUs, memory GB), as Azure lists them
VM_SIZES: dict[str, tuple[str, int, int, float]] = {
    "Standard_NC24ads_A100_v4": ("StandardNCADSA100v4Family", 24, 1, 220.0),
    "Standard_NC48ads_A100_v4": ("StandardNCADSA100v4Family", 48, 2, 440.0),
    "Standard_NC96ads_A100_v4": ("StandardNCADSA100v4Family", 96, 4, 880.0),
    "Standard_NV36ads_A10_v5": ("StandardNVADSA10v5Family", 36, 1, 440.0),
    "Standard_NC4as_T4_v3": ("standardNCASv3_T4Family", 4, 1, 28.0),
    "Standard_D4s_v3": ("standardDSv3Family", 4, 0, 16.0),
    "Standard_DS3_v2": ("standardDSv2Family", 4, 0, 14.0),
    "Standard_D13_v2": ("standardDv2Family", 8, 0, 56.0),
}


def discovery_body(location: str) -> dict[str, str]:
    """The workspace's discovery document (`WorkspaceDiscoveryUrlKey`): the SDK takes "api" for run history."""
    api = f"https://{location}.api.azureml.ms"
    return {"api": api, "catalog": "https://catalog.cortanaanalytics.com",
            "experimentation": f"https://{location}.experiments.azureml.net", "history": api,
            "hyperdrive": f"https://{location}.experiments.azureml.net", "labeling": api,
            "modelmanagement": f"https://{location}.modelmanagement.azureml.net",
            "pipelines": f"https://{location}.aether.ms",
            "studiocoreservices": f"https://{location}.studioservice.azureml.com"}  # fmt: skip


def workspace_body(fake: FakeAzureJobs) -> dict[str, Any]:
    rg = f"/subscriptions/{fake.subscription}/resourceGroups/{fake.resource_group}/providers"
    return {
        "id": fake.ws_path, "name": fake.workspace, "type": "Microsoft.MachineLearningServices/workspaces",
        "location": fake.location, "kind": "Default", "tags": {}, "sku": {"name": "Basic", "tier": "Basic"},
        "identity": {"type": "SystemAssigned", "principalId": "00000000-0000-0000-0000-0000000000aa",
                     "tenantId": fake.tenant},
        "properties": {
            "friendlyName": fake.workspace, "description": "", "provisioningState": "Succeeded",
            "storageAccount": f"{rg}/Microsoft.Storage/storageAccounts/{fake.account_name}",
            "keyVault": f"{rg}/Microsoft.Keyvault/vaults/kv-{fake.workspace}",
            "applicationInsights": f"{rg}/Microsoft.insights/components/ai-{fake.workspace}",
            "containerRegistry": None, "hbiWorkspace": False, "publicNetworkAccess": "Enabled",
            "discoveryUrl": f"https://{fake.location}.api.azureml.ms/discovery",
            "mlFlowTrackingUri": f"azureml://{fake.location}.api.azureml.ms/mlflow/v1.0{fake.ws_path}",
            "workspaceId": "0ddba11a-0000-4000-8000-000000000001", "tenantId": fake.tenant,
            "v1LegacyMode": False, "storageHnsEnabled": False, "enableDataIsolation": False,
        },
        "systemData": _system_data(),
    }  # fmt: skip


def _size(name: str) -> tuple[str, int, int, float]:
    # A size this table does not know: a CPU size ("D-series"), 4 vCPUs
    return VM_SIZES.get(name) or ("standardDSv3Family", 4, 0, 16.0)


def vm_sizes_body(computes: list[dict[str, Any]]) -> dict[str, Any]:
    names = list(VM_SIZES) + [c["size"] for c in computes if c.get("size") and c["size"] not in VM_SIZES]
    value = []
    for name in names:
        family, vcpus, gpus, memory = _size(name)
        value.append({"name": name, "family": family, "vCPUs": vcpus, "gpus": gpus, "osVhdSizeMB": 1047552,
                      "maxResourceVolumeMB": 65536 * max(1, vcpus // 4), "memoryGB": memory,
                      "lowPriorityCapable": True, "premiumIO": True, "estimatedVMPrices": None,
                      "supportedComputeTypes": ["ComputeInstance", "AmlCompute"]})  # fmt: skip
    return {"value": value}


def _node_count(compute: dict[str, Any], active: list[str]) -> int:
    return min(int(compute.get("max", 1)), max(int(compute.get("nodes", 0)), len(active)))


def compute_body(fake: FakeAzureJobs, compute: dict[str, Any], active: list[str]) -> dict[str, Any]:
    nodes = _node_count(compute, active)
    running = min(nodes, len(active))
    return {
        "id": f"{fake.ws_path}/computes/{compute['name']}", "name": compute["name"],
        "type": "Microsoft.MachineLearningServices/workspaces/computes", "location": fake.location, "tags": {},
        "properties": {
            "computeType": "AmlCompute", "computeLocation": fake.location, "provisioningState": "Succeeded",
            "description": None, "createdOn": "2026-11-01T09:00:00.000000+00:00",
            "modifiedOn": "2026-11-01T09:00:00.000000+00:00", "resourceId": None, "provisioningErrors": None,
            "isAttachedCompute": False, "disableLocalAuth": True,
            "properties": {
                "osType": "Linux", "vmSize": compute["size"], "vmPriority": "Dedicated",
                "virtualMachineImage": None, "isolatedNetwork": False,
                "scaleSettings": {"maxNodeCount": int(compute.get("max", 1)),
                                  "minNodeCount": int(compute.get("min", 0)), "nodeIdleTimeBeforeScaleDown": "PT2M"},
                "remoteLoginPortPublicAccess": "Disabled", "allocationState": "Steady",
                "allocationStateTransitionTime": "2026-12-01T10:00:00.000000+00:00", "errors": None,
                "currentNodeCount": nodes, "targetNodeCount": nodes,
                "nodeStateCounts": {"idleNodeCount": nodes - running, "runningNodeCount": running,
                                    "preparingNodeCount": 0, "unusableNodeCount": 0, "leavingNodeCount": 0,
                                    "preemptedNodeCount": 0},
                "enableNodePublicIp": True, "propertyBag": None,
            },
        },
        "systemData": _system_data(),
    }  # fmt: skip


def node_list_body(compute: dict[str, Any], active: list[str]) -> dict[str, Any]:
    nodes = []
    for i in range(_node_count(compute, active)):
        run = active[i] if i < len(active) else None
        nodes.append({"nodeId": f"tvmps_{i:04d}abcdef_d", "privateIpAddress": f"10.0.0.{4 + i}",
                      "publicIpAddress": f"20.0.0.{4 + i}", "port": 50000 + i,
                      "nodeState": "running" if run else "idle", "runId": run})  # fmt: skip
    return {"nodes": nodes, "nextLink": None}


def run_details_body(fake: FakeAzureJobs, job: dict[str, Any], log_files: dict[str, str]) -> dict[str, Any]:
    body = job["body"]
    error = None
    if job.get("error"):
        error = {
            "error": {"code": job["error"]["code"], "severity": None, "message": job["error"]["message"],
                      "messageFormat": job["error"].get("format"), "messageParameters": job["error"].get("parameters"),
                      "referenceCode": None, "detailsUri": None, "target": None, "details": [], "innerError": None,
                      "additionalInfo": None},
            "correlation": {"operation": None, "request": "00000000-fake"}, "environment": fake.location,
            "location": fake.location, "time": job.get("end"), "componentName": "CommonRuntime",
        }  # fmt: skip
    return {
        "runId": job["name"], "runUuid": job["run_uuid"], "parentRunUuid": None, "rootRunUuid": job["run_uuid"],
        "target": job["compute"], "status": job["status"], "parentRunId": None,
        "createdTimeUtc": job["created"], "startTimeUtc": job.get("start"), "endTimeUtc": job.get("end"),
        "error": error, "warnings": None, "tags": body.get("tags") or {}, "properties": body.get("properties") or {},
        "parameters": {}, "services": {}, "inputDatasets": [], "outputDatasets": [], "logFiles": log_files,
    }  # fmt: skip


def usages_body(fake: Any, location: str) -> dict[str, Any]:
    """The region's quota per VM family (`Usage` of the REST models): dedicated vCPUs in use and the limit."""
    families = sorted({_size(c["size"])[0] for c in fake.computes if c.get("size")} | set(fake.quota))
    value = []
    for family in families:
        current, limit = fake.quota.get(family, [0, 96])
        value.append({"id": f"/subscriptions/{fake.subscription}/providers/Microsoft.MachineLearningServices/locations/"
                      f"{location}/usages/{family}", "amlWorkspaceLocation": location,
                      "type": "Microsoft.MachineLearningServices/vmFamily/usages", "unit": "Count",
                      "currentValue": current, "limit": limit,
                      "name": {"value": family, "localizedValue": f"{family} Cluster Dedicated vCPUs"}})  # fmt: skip
    return {"value": value, "nextLink": None}
