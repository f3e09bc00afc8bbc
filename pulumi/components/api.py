"""The REST API: Cognito, the handler Lambda, API Gateway built from ``openapi.yaml``.

Routes are not declared here one by one: API Gateway imports the OpenAPI document
(the published contract) with the Lambda proxy integration and the Cognito authorizer
added to every operation (:func:`openapi.for_api_gateway`). A new route in the document
is a new route in the API, with the same authorizer and a matching Lambda permission.
With ``corsAllowedOrigins`` set, browsers on those origins may call it: API Gateway
answers the preflights and the handler names the origin in its answers.
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_aws as aws

from . import lambda_package, openapi

# Access log record (API Gateway $context variables), one JSON object per request.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "user": "$context.authorizer.claims.sub",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integration.error",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)


def _pool_id_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


class RestApi(pulumi.ComponentResource):
    def __init__(
        self,
        name,
        *,
        settings,
        partition,
        account,
        lambda_role_arn,
        table_name,
        function_name,
        function_log_group_name,
        document=None,
        archive_files=None,
        opts=None,
    ):
        super().__init__("drs-orchestration:api:RestApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        document = document if document is not None else openapi.load()
        self.routes = openapi.routes(document)

        self._user_pool(name, settings, child)

        function_logs = aws.cloudwatch.LogGroup(
            f"{name}-function",
            name=function_log_group_name,
            retention_in_days=settings.log_retention_days,
            tags=settings.tags,
            opts=child,
        )
        files = archive_files if archive_files is not None else lambda_package.archive_files()
        self.archive_paths = sorted(files)
        self.function = aws.lambda_.Function(
            f"{name}-handler",
            name=function_name,
            description="drs.orchestration REST API: HTTP <-> the collection's core",
            runtime=settings.lambda_runtime,
            architectures=["arm64"],
            handler=lambda_package.HANDLER,
            code=lambda_package.asset_archive(files),
            role=lambda_role_arn,
            memory_size=settings.lambda_memory_mb,
            timeout=settings.lambda_timeout_seconds,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "AGENT_INSTALLATIONS_TABLE": table_name,
                    "ALLOWED_REGIONS": ",".join(settings.allowed_regions),
                    "INSTALL_TTL_DAYS": str(settings.install_ttl_days),
                    "INSTALL_DOCUMENT_NAME": settings.install_documents[0],
                    # GET .../status reports the commands of these documents only (and recorded ones).
                    "INSTALL_DOCUMENT_NAMES": ",".join(settings.install_documents),
                    # The role's SendCommand tag condition, for the 403 a refused install gets.
                    **(
                        {
                            "INSTALL_INSTANCE_TAG_KEY": settings.install_instance_tag[0],
                            "INSTALL_INSTANCE_TAG_VALUE": settings.install_instance_tag[1],
                        }
                        if settings.install_instance_tag
                        else {}
                    ),
                    # corsAllowedOrigins: the handler's answers name the caller's origin when it is one of these.
                    **(
                        {"CORS_ALLOWED_ORIGINS": ",".join(settings.cors_allowed_origins)}
                        if settings.cors_allowed_origins
                        else {}
                    ),
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=function_logs.name),
            tags=settings.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[function_logs]),
        )

        self.body = pulumi.Output.all(self.function.invoke_arn, self.user_pool_arn).apply(
            lambda args: json.dumps(
                openapi.for_api_gateway(
                    document,
                    lambda_invoke_arn=args[0],
                    user_pool_arns=[args[1]],
                    cors_origins=settings.cors_allowed_origins,
                ),
                sort_keys=True,
            )
        )
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-rest",
            name=settings.resource_name("api"),
            description="drs.orchestration: agent installation, replication, failback",
            body=self.body,
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            fail_on_warnings=False,  # import warnings (ignored OpenAPI fields) must not block a deployment
            tags=settings.tags,
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            description="Redeployed whenever the OpenAPI body changes",
            triggers={"body": self.body.apply(lambda body: hashlib.sha256(body.encode()).hexdigest())},
            opts=child,
        )

        stage_dependencies = (
            [self._account_logging(name, settings, partition, child)] if (settings.manage_api_gateway_account) else []
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access",
            name=f"/aws/apigateway/{settings.resource_name('api')}/access",
            retention_in_days=settings.log_retention_days,
            tags=settings.tags,
            opts=child,
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=settings.stage_name,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            tags=settings.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=stage_dependencies),
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                metrics_enabled=True,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
            ),
            opts=child,
        )
        self.permissions = [
            aws.lambda_.Permission(
                f"{name}-invoke-{method.lower()}{path.replace('/', '-').replace('{', '').replace('}', '')}",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="apigateway.amazonaws.com",
                source_account=account,
                source_arn=pulumi.Output.concat(
                    self.rest_api.execution_arn, f"/{settings.stage_name}/{method}", openapi.source_arn_path(path)
                ),
                opts=child,
            )
            for method, path in self.routes
        ]
        self.url = self.stage.invoke_url
        self.register_outputs(
            {
                "url": self.url,
                "user_pool_id": self.user_pool_id,
                "function_name": self.function.name,
            }
        )

    def _user_pool(self, name, settings, child):
        """Use the pool named in config, or create one (admin-created users only) and an app client."""
        self.user_pool_client_id = None
        if settings.user_pool_arn:
            self.user_pool_arn = pulumi.Output.from_input(settings.user_pool_arn)
            self.user_pool_id = pulumi.Output.from_input(_pool_id_from_arn(settings.user_pool_arn))
            return
        pool = aws.cognito.UserPool(
            f"{name}-users",
            name=settings.resource_name("users"),
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(allow_admin_create_user_only=True),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                temporary_password_validity_days=3,
            ),
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(name="verified_email", priority=1)
                ]
            ),
            deletion_protection="ACTIVE" if settings.deletion_protection else "INACTIVE",
            tags=settings.tags,
            opts=child,
        )
        client = aws.cognito.UserPoolClient(
            f"{name}-client",
            name=settings.resource_name("api-client"),
            user_pool_id=pool.id,
            generate_secret=False,
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            id_token_validity=60,
            access_token_validity=60,
            refresh_token_validity=12,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                id_token="minutes", access_token="minutes", refresh_token="hours"
            ),
            opts=child,
        )
        self.user_pool_arn = pool.arn
        self.user_pool_id = pool.id
        self.user_pool_client_id = client.id

    def _account_logging(self, name, settings, partition, child):
        """The region's API Gateway account setting: the role it writes CloudWatch logs with."""
        role = aws.iam.Role(
            f"{name}-cloudwatch",
            name=settings.resource_name("apigw-logs"),
            description="API Gateway (account setting) writes access logs to CloudWatch Logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=settings.tags,
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cloudwatch",
            role=role.name,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=child,
        )
        return aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
