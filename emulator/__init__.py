"""A local AWS endpoint for the services drs.orchestration calls.

The emulator speaks the real wire protocols (rest-json for DRS, JSON 1.1 for SSM,
EC2 query, STS query, DynamoDB via moto) so unmodified boto3 clients and amazon.aws
modules work against it with ``endpoint_url``. Each service keeps its state machine in
``emulator/services/<service>.py``; the wire protocols live in ``emulator/protocols``;
the clock, fault injection and the call log are shared (``emulator/world.py``).

See ``emulator/README.md`` for what is emulated and the AWS sources it follows.
"""

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_PORT = 4566
ADMIN_PREFIX = "/_emulator"
