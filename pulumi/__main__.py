"""drs.orchestration environment: the tracking table, the IAM roles and the REST API.

    TrackingTable   DynamoDB <project>-agent-installations-<env> (installs sent via SSM)
    AccessRoles     Lambda execution role + automation role for AWX / the playbooks,
                    least privilege from the AWS calls the collection's core sends
    RestApi         Cognito user pool -> API Gateway (routes from openapi.yaml) -> Lambda
                    (pulumi/api handler + the core files it imports)

Configuration: Pulumi.yaml declares every key; Pulumi.example.yaml shows a stack;
docs/pulumi.md explains them, the outputs, and how to call the API.
"""

import pulumi
import pulumi_aws as aws
from components import AccessRoles, RestApi, TrackingTable, settings

config = settings.load()
account = aws.get_caller_identity().account_id
partition = aws.get_partition().partition
function_name = config.resource_name("api")
function_log_group = f"/aws/lambda/{function_name}"

table = TrackingTable(
    "tracking",
    table_name=config.table_name,
    deletion_protection=config.deletion_protection,
    tags=config.tags,
)

roles = AccessRoles(
    "roles",
    settings=config,
    partition=partition,
    account=account,
    table_arn=table.arn,
    function_log_group_arn=f"arn:{partition}:logs:{config.region}:{account}:log-group:{function_log_group}",
)

api = RestApi(
    "api",
    settings=config,
    partition=partition,
    account=account,
    lambda_role_arn=roles.lambda_role.arn,
    table_name=table.name,
    function_name=function_name,
    function_log_group_name=function_log_group,
    opts=pulumi.ResourceOptions(depends_on=[roles]),
)

pulumi.export("apiUrl", api.url)
pulumi.export("tableName", table.name)
pulumi.export("lambdaRoleArn", roles.lambda_role.arn)
pulumi.export("automationRoleArn", roles.automation_role.arn)
pulumi.export("userPoolId", api.user_pool_id)
pulumi.export("userPoolClientId", api.user_pool_client_id)
pulumi.export("allowedRegions", list(config.allowed_regions))
