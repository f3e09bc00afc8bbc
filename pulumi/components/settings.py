"""The stack configuration, read once and checked before any resource is declared.

Every key is declared (type, default, description) in ``Pulumi.yaml`` and shown in
``Pulumi.example.yaml``; ``docs/pulumi.md`` documents them. A wrong value stops
``pulumi up`` with a message naming the key and the expected form, before anything is
created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_INSTALL_DOCUMENT = "AWSDisasterRecovery-InstallDRAgentOnInstance"
# The roles a recovery passes to EC2 (all created when DRS is initialized): the instance
# profiles of recovery instances and of the conversion servers DRS launches for a
# recovery. The caller of StartRecovery needs iam:PassRole on them (AWS's managed policy
# AWSElasticDisasterRecoveryConsoleFullAccess grants it on the conversion server role too).
DEFAULT_RECOVERY_INSTANCE_ROLES = (
    "service-role/AWSElasticDisasterRecoveryConversionServerRole",
    "service-role/AWSElasticDisasterRecoveryRecoveryInstanceRole",
    "service-role/AWSElasticDisasterRecoveryRecoveryInstanceWithLaunchActionsRole",
)
# Lambda runtimes this program accepts; the tests run the handler on 3.13.
LAMBDA_RUNTIMES = ("python3.12", "python3.13", "python3.14")

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/-]+$")
_ROLE_PATH_NAME = re.compile(r"^[A-Za-z0-9+=,.@_/-]{1,512}$")
_USER_POOL_ARN = re.compile(r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9a-zA-Z]+$")
_DOCUMENT = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")
_TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A browser's Origin header: scheme://host[:port], lowercase, no path (RFC 6454 serialization).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(rf"^(?P<scheme>https?)://{_LABEL}(\.{_LABEL})*(:(?P<port>[0-9]{{1,5}}))?$")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class Settings:
    project: str
    environment: str
    name_prefix: str
    region: str
    allowed_regions: tuple[str, ...]
    automation_principals: tuple[str, ...]
    automation_external_id: str | None = None
    install_documents: tuple[str, ...] = (DEFAULT_INSTALL_DOCUMENT,)
    install_instance_tag: tuple[str, str] | None = None
    install_output_buckets: tuple[str, ...] = ()
    recovery_instance_roles: tuple[str, ...] = DEFAULT_RECOVERY_INSTANCE_ROLES
    deletion_protection: bool = True
    install_ttl_days: int = 90
    user_pool_arn: str | None = None
    stage_name: str = "v1"
    log_retention_days: int = 90
    lambda_runtime: str = "python3.13"
    lambda_memory_mb: int = 1769  # one full vCPU: summaries of large fleets are CPU-bound
    lambda_timeout_seconds: int = 29
    manage_api_gateway_account: bool = True
    throttle_rate_limit: int = 20
    throttle_burst_limit: int = 40
    cors_allowed_origins: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def table_name(self) -> str:
        """``<project>-agent-installations-<env>`` (brief, Phase 5.1)."""
        return f"{self.name_prefix}-agent-installations-{self.environment}"

    def resource_name(self, what: str) -> str:
        return f"{self.name_prefix}-{what}-{self.environment}"


# CloudWatch Logs accepts only these retention values (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
LOG_RETENTION_DAYS += (2192, 2557, 2922, 3288, 3653)


def _list(value, key):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} must be a list of non-empty strings, got {value!r}.")
    return value


def _int(value, key, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer between {low} and {high}, got {value!r}.")
    return value


def _bool(value, key):
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}.")
    return value


def _origins(value):
    """``corsAllowedOrigins``: origins exactly as a browser sends them in ``Origin``, or ``*`` alone."""
    key = "corsAllowedOrigins"
    origins = _list(value, key) or []
    if "*" in origins:
        if len(origins) > 1:
            raise ConfigError(f"{key}: '*' (any origin) stands alone; give either ['*'] or a list of origins.")
        return ("*",)
    for origin in origins:
        match = _ORIGIN.match(origin)
        if not match or int(match["port"] or 1) > 65535:
            raise ConfigError(
                f"{key}: {origin!r} is not an origin. Give scheme://host[:port] as the browser sends it in "
                "its Origin header, lowercase, without path or trailing slash, e.g. https://dr.example.com "
                "or http://localhost:3000 (or '*' alone for any origin)."
            )
        if (match["scheme"], match["port"]) in (("https", "443"), ("http", "80")):
            raise ConfigError(
                f"{key}: {origin!r} names its scheme's default port, which browsers leave out of the "
                f"Origin header; write {origin.rsplit(':', 1)[0]!r}."
            )
    return tuple(dict.fromkeys(origins))


def parse(values: dict, *, project: str, stack: str, region: str | None) -> Settings:
    """Settings from the stack's config values (``{key: value}``, keys without namespace).

    Values arrive as Pulumi gives them to ``Config.get_object``: strings, numbers,
    booleans and lists, already parsed from YAML.
    """
    known = set(KEYS)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}.")
    if not region:
        raise ConfigError("aws:region is not set: run `pulumi config set aws:region <region>`.")

    environment = values.get("environment", stack)
    name_prefix = values.get("namePrefix", project)
    for key, value in (("environment", environment), ("namePrefix", name_prefix)):
        if not isinstance(value, str) or not _NAME.match(value):
            raise ConfigError(f"{key} must be lowercase letters, digits and '-', at most 41 characters; got {value!r}.")

    allowed = _list(values.get("allowedRegions"), "allowedRegions") or [region]
    bad = [r for r in allowed if not _REGION.match(r)]
    if bad:
        raise ConfigError(f"allowedRegions: {bad!r} are not AWS region names like us-east-1.")
    if region not in allowed:
        allowed = [region, *allowed]

    principals = _list(values.get("automationPrincipalArns"), "automationPrincipalArns")
    if not principals:
        raise ConfigError(
            "automationPrincipalArns is required: the IAM role or user ARNs allowed to assume the "
            "automation role (for example AWX's instance role), e.g. "
            "`pulumi config set --path 'automationPrincipalArns[0]' arn:aws:iam::123456789012:role/awx`."
        )
    bad = [p for p in principals if not _PRINCIPAL.match(p)]
    if bad:
        raise ConfigError(
            f"automationPrincipalArns: {bad!r} are not IAM principal ARNs (arn:aws:iam::<account>:role/<name>)."
        )

    documents = _list(values.get("installDocumentNames"), "installDocumentNames") or [DEFAULT_INSTALL_DOCUMENT]
    bad = [d for d in documents if not _DOCUMENT.match(d)]
    if bad:
        raise ConfigError(f"installDocumentNames: {bad!r} are not SSM document names.")

    tag = None
    tag_key, tag_value = values.get("installInstanceTagKey"), values.get("installInstanceTagValue")
    if (tag_key is None) != (tag_value is None):
        raise ConfigError("installInstanceTagKey and installInstanceTagValue go together: set both or neither.")
    if tag_key is not None:
        if not isinstance(tag_key, str) or not _TAG_KEY.match(tag_key) or not isinstance(tag_value, str):
            raise ConfigError(
                f"installInstanceTagKey/Value must be a tag key and value, got {tag_key!r}={tag_value!r}."
            )
        tag = (tag_key, tag_value)

    buckets = _list(values.get("installOutputBuckets"), "installOutputBuckets") or []
    bad = [b for b in buckets if not _BUCKET.match(b)]
    if bad:
        raise ConfigError(
            f"installOutputBuckets: {bad!r} are not S3 bucket names (3-63 lowercase letters, digits, '.', '-')."
        )

    roles = _list(values.get("recoveryInstanceRoleNames"), "recoveryInstanceRoleNames")
    roles = roles or list(DEFAULT_RECOVERY_INSTANCE_ROLES)
    bad = [r for r in roles if not _ROLE_PATH_NAME.match(r) or r.startswith("/") or "*" in r]
    if bad:
        raise ConfigError(
            f"recoveryInstanceRoleNames: {bad!r} must be role names with their path, like service-role/Name."
        )

    pool = values.get("cognitoUserPoolArn")
    if pool is not None and (not isinstance(pool, str) or not _USER_POOL_ARN.match(pool)):
        raise ConfigError(
            f"cognitoUserPoolArn: {pool!r} is not a user pool ARN "
            "(arn:aws:cognito-idp:<region>:<account>:userpool/<region>_<id>); leave it unset to create a pool."
        )

    retention = values.get("logRetentionDays", 90)
    if retention not in LOG_RETENTION_DAYS or isinstance(retention, bool):
        raise ConfigError(f"logRetentionDays must be one of {LOG_RETENTION_DAYS}, got {retention!r}.")

    runtime = values.get("lambdaRuntime", "python3.13")
    if runtime not in LAMBDA_RUNTIMES:
        raise ConfigError(f"lambdaRuntime must be one of {', '.join(LAMBDA_RUNTIMES)}, got {runtime!r}.")

    stage = values.get("stageName", "v1")
    if not isinstance(stage, str) or not re.match(r"^[A-Za-z0-9_]{1,128}$", stage):
        raise ConfigError(f"stageName must be letters, digits or '_', got {stage!r}.")

    external_id = values.get("automationExternalId")
    if external_id is not None and (not isinstance(external_id, str) or not 2 <= len(external_id) <= 1224):
        raise ConfigError("automationExternalId must be a string of 2 to 1224 characters.")

    return Settings(
        project=project,
        environment=environment,
        name_prefix=name_prefix,
        region=region,
        allowed_regions=tuple(dict.fromkeys(allowed)),
        automation_principals=tuple(principals),
        automation_external_id=external_id,
        install_documents=tuple(dict.fromkeys(documents)),
        install_instance_tag=tag,
        install_output_buckets=tuple(dict.fromkeys(buckets)),
        recovery_instance_roles=tuple(dict.fromkeys(roles)),
        deletion_protection=_bool(values.get("deletionProtection", True), "deletionProtection"),
        install_ttl_days=_int(values.get("installTtlDays", 90), "installTtlDays", 1, 3650),
        user_pool_arn=pool,
        stage_name=stage,
        log_retention_days=retention,
        lambda_runtime=runtime,
        lambda_memory_mb=_int(values.get("lambdaMemoryMb", 1769), "lambdaMemoryMb", 128, 10240),
        lambda_timeout_seconds=_int(values.get("lambdaTimeoutSeconds", 29), "lambdaTimeoutSeconds", 3, 29),
        manage_api_gateway_account=_bool(values.get("manageApiGatewayAccount", True), "manageApiGatewayAccount"),
        throttle_rate_limit=_int(values.get("throttleRateLimit", 20), "throttleRateLimit", 1, 10000),
        throttle_burst_limit=_int(values.get("throttleBurstLimit", 40), "throttleBurstLimit", 1, 5000),
        cors_allowed_origins=_origins(values.get("corsAllowedOrigins")),
        # More tags for every resource: the provider's aws:defaultTags (see docs/pulumi.md).
        tags={"Project": name_prefix, "Environment": environment, "ManagedBy": "pulumi"},
    )


# Every key the program reads, with its type (Pulumi.yaml declares the same; a test keeps them equal).
KEYS = {
    "environment": str,
    "namePrefix": str,
    "allowedRegions": list,
    "automationPrincipalArns": list,
    "automationExternalId": str,
    "installDocumentNames": list,
    "installInstanceTagKey": str,
    "installInstanceTagValue": str,
    "installOutputBuckets": list,
    "recoveryInstanceRoleNames": list,
    "deletionProtection": bool,
    "installTtlDays": int,
    "cognitoUserPoolArn": str,
    "stageName": str,
    "logRetentionDays": int,
    "lambdaRuntime": str,
    "lambdaMemoryMb": int,
    "lambdaTimeoutSeconds": int,
    "manageApiGatewayAccount": bool,
    "throttleRateLimit": int,
    "throttleBurstLimit": int,
    "corsAllowedOrigins": list,
}


def load() -> Settings:
    """Read the current stack's config through the Pulumi SDK.

    Every key set in the project's namespace is passed on, so a misspelt key (say
    ``allowedRegion``) stops the deployment instead of being silently ignored.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config

    project = pulumi.get_project()
    prefix = f"{project}:"
    present = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    names = {key[len(prefix) :] for key in present if key.startswith(prefix)}
    config = pulumi.Config()
    getters = {str: config.get, int: config.get_int, bool: config.get_bool, list: config.get_object}
    values = {name: getters[KEYS.get(name, str)](name) for name in sorted(names)}
    region = pulumi.Config("aws").get("region")
    return parse(values, project=project, stack=pulumi.get_stack(), region=region)
