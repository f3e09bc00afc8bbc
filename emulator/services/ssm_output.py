"""What an invocation prints: the output of the AWS DRS install document's steps, and SSM's truncation.

The texts follow what the published ``AWSDisasterRecovery-InstallDRAgentOnInstance``
script does on the instance (see ssm_documents.py):

* Linux: ``curl -o`` writes its progress meter to stderr for both downloads, ``which
  python3`` prints the interpreter path, and the installer runs through
  ``subprocess.check_output`` -- so its stdout is swallowed, a failure prints the
  ``CalledProcessError`` and exits 1, and the installer's own stderr passes through;
* Windows: ``$process.Start()`` prints ``True``; failures go through ``Write-Error``.

The installer's own error sentences are not documented by AWS; the ones below are
illustrative (they name the cause so a test or a person can tell the cases apart).
SSM agent conventions (``failed to run commands: exit status N``, the ERROR separator,
truncation markers, exit code 137 / -1 for a killed step) follow amazon-ssm-agent.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_SEPARATOR = "\n----------ERROR-------\n"
OUTPUT_TRUNCATED = "\n---Output truncated---"
ERROR_TRUNCATED = "\n---Error truncated----"

# CommandPlugin.Output (2,500), GetCommandInvocation StandardOutputContent (24,000) and
# StandardErrorContent (8,000): the botocore ssm model's limits for these members.
PLUGIN_OUTPUT_LIMIT = 2500
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000

# Exit code of a step the agent stops (timeout, cancel): amazon-ssm-agent appconfig.
KILLED_EXIT_CODE = {"Windows": -1, "Linux": 137, "MacOS": 137}

_CURL_METER = (
    "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
    "                                 Dload  Upload   Total   Spent    Left  Speed\n"
    "100 {size:>5}  100 {size:>5}    0     0  {rate:>5}      0 --:--:-- --:--:-- --:--:--  {rate:>5}\n"
)


@dataclass
class StepResult:
    """The outcome of one step: exit code and what it wrote."""

    code: int
    stdout: str = ""
    stderr: str = ""


def combined_output(stdout: str, stderr: str, capacity: int = PLUGIN_OUTPUT_LIMIT) -> str:
    """stdout, then the ERROR separator and stderr, cut to ``capacity`` with the agent's markers."""
    full = stdout + (ERROR_SEPARATOR + stderr if stderr else "")
    if len(full) <= capacity:
        return full
    if not stderr:
        return stdout[: capacity - len(OUTPUT_TRUNCATED)] + OUTPUT_TRUNCATED
    if not stdout:
        room = capacity - len(ERROR_SEPARATOR) - len(ERROR_TRUNCATED)
        return ERROR_SEPARATOR + stderr[:room] + ERROR_TRUNCATED
    room = capacity - len(ERROR_SEPARATOR)
    half = room // 2
    if len(stdout) <= half:
        out_room, err_room = len(stdout), room - len(stdout)
    elif len(stderr) <= half:
        out_room, err_room = room - len(stderr), len(stderr)
    else:
        out_room, err_room = half, room - half
    out_part = stdout if len(stdout) <= out_room else stdout[: out_room - len(OUTPUT_TRUNCATED)] + OUTPUT_TRUNCATED
    err_part = stderr if len(stderr) <= err_room else stderr[: err_room - len(ERROR_TRUNCATED)] + ERROR_TRUNCATED
    return out_part + ERROR_SEPARATOR + err_part


def _downloads(count: int = 2) -> str:
    return "".join(_CURL_METER.format(size=size, rate=rate) for size, rate in [(128, 1523), (34567, 41230)][:count])


def _installer_argv(region: str, tags: dict[str, str], account_id: str | None) -> list[str]:
    argv = ["./aws-replication-installer-init", "--no-prompt", "--region", region]
    if account_id:
        argv += ["--account-id", account_id]
    if tags:
        argv += ["--tags", *[f"{k}={v}" for k, v in tags.items()]]
    return argv


def install_success(platform: str) -> StepResult:
    if platform == "Windows":
        return StepResult(0, "True\r\n")
    return StepResult(0, "/usr/bin/python3\n", _downloads())


def install_failure(
    platform: str, region: str, tags: dict[str, str], account_id: str | None, installer_error: str, step: str
) -> StepResult:
    """The installer ran and exited 1 after printing ``installer_error`` on stderr."""
    if platform == "Windows":
        return StepResult(1, "True\r\n", installer_error + "\n" + _write_error("Installation failed", step) + _exit(1))
    argv = _installer_argv(region, tags, account_id)
    stdout = f"/usr/bin/python3\nCommand '{argv!r}' returned non-zero exit status 1.\n"
    return StepResult(1, stdout, _downloads() + installer_error + "\n" + _exit(1))


def download_failure(platform: str, region: str, step: str) -> StepResult:
    """The Region has no DRS installer bucket: both download URLs fail to resolve."""
    if platform == "Windows":
        message = "Failed while trying to download the AWS Elastic Disaster Recovery client from both URLs"
        return StepResult(
            1,
            "WARNING: Primary download failed, trying fallback URLs\r\n",
            _write_error(message, step) + _exit(1),
        )
    hosts = [
        f"aws-elastic-disaster-recovery-hashes-{region}.s3.dualstack.{region}.amazonaws.com",
        f"aws-elastic-disaster-recovery-hashes-{region}.s3.{region}.amazonaws.com",
        f"aws-elastic-disaster-recovery-{region}.s3.dualstack.{region}.amazonaws.com",
        f"aws-elastic-disaster-recovery-{region}.s3.{region}.amazonaws.com",
    ]
    stderr = "".join(f"curl: (6) Could not resolve host: {h}\n" for h in hosts)
    stderr += "cat: ./aws-installer.sha512: No such file or directory\n"
    stderr += "sha512sum: ./aws-replication-installer-init: No such file or directory\n"
    stdout = "/usr/bin/python3\n[Errno 2] No such file or directory: './aws-replication-installer-init'\n"
    return StepResult(1, stdout, stderr + _exit(1))


def generic_success() -> StepResult:
    return StepResult(0, "")


def generic_failure() -> StepResult:
    return StepResult(1, "", _exit(1))


def _exit(code: int) -> str:
    return f"failed to run commands: exit status {code}"


def _write_error(message: str, step: str) -> str:
    return (
        f"{step}\\_script.ps1 : {message}\n"
        "    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\n"
        "    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException,_script.ps1\n \n"
    )


def skipped_output(platform: str, step: str) -> str:
    """What the agent reports for a step whose platformType precondition does not hold."""
    condition = f'"StringEquals": [platformType, {platform}]'
    return f"Step execution skipped due to unsatisfied preconditions: '{condition}'. Step name: {step}"


FAIL_REASONS = {
    "fail": "Failed to install the AWS Replication Agent: the source server could not reach the AWS Elastic "
    "Disaster Recovery service endpoint in {region} on TCP port 443.",
    "uninitialized": "Failed to install the AWS Replication Agent: AWS Elastic Disaster Recovery is not initialized "
    "in {region}. Initialize the service in this Region before installing agents.",
}
