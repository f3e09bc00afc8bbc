"""The two roles: the REST handler's Lambda execution role and the automation role.

Both carry managed policies rendered by :mod:`permissions` (one per AWS service, so each
stays under IAM's 6,144-character limit): the automation role every action the core
sends, the Lambda role only those its routes reach.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from . import permissions


class AccessRoles(pulumi.ComponentResource):
    def __init__(self, name, *, settings, partition, account, table_arn, function_log_group_arn, opts=None):
        super().__init__("drs-orchestration:iam:AccessRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def scope(table, log_group=None, *, api=False):
            return permissions.Scope(
                partition=partition,
                account=account,
                regions=settings.allowed_regions,
                table_arn=table,
                # The API runs the first install document only and sends no output bucket.
                install_documents=settings.install_documents[:1] if api else settings.install_documents,
                recovery_instance_roles=settings.recovery_instance_roles,
                install_instance_tag=settings.install_instance_tag,
                function_log_group_arn=log_group,
                install_output_buckets=() if api else settings.install_output_buckets,
            )

        self.lambda_role = aws.iam.Role(
            f"{name}-api",
            name=settings.resource_name("api"),
            description="REST API handler (Lambda): the AWS calls its routes make, nothing more.",
            assume_role_policy=json.dumps(permissions.trust_policy_for_service("lambda.amazonaws.com", account)),
            tags=settings.tags,
            opts=child,
        )
        self.automation_role = aws.iam.Role(
            f"{name}-automation",
            name=settings.resource_name("automation"),
            description="AWX / playbooks running drs.orchestration: the AWS calls its modules make.",
            assume_role_policy=json.dumps(
                permissions.trust_policy_for_principals(settings.automation_principals, settings.automation_external_id)
            ),
            max_session_duration=43200,  # long recoveries and failbacks outlast the 1 h default
            tags=settings.tags,
            opts=child,
        )
        api_documents = pulumi.Output.all(table_arn, function_log_group_arn).apply(
            lambda args: permissions.policy_documents(permissions.api_actions(), scope(*args, api=True))
        )
        automation_documents = pulumi.Output.from_input(table_arn).apply(
            lambda table: permissions.policy_documents(permissions.automation_actions(), scope(table))
        )
        self.api_policies = self._attach(
            f"{name}-api", self.lambda_role, api_documents, permissions.api_actions(), settings, "api"
        )
        self.automation_policies = self._attach(
            f"{name}-automation",
            self.automation_role,
            automation_documents,
            permissions.automation_actions(),
            settings,
            "automation",
        )
        self.register_outputs(
            {"lambda_role_arn": self.lambda_role.arn, "automation_role_arn": self.automation_role.arn}
        )

    def _attach(self, name, role, documents, actions, settings, what):
        """One managed policy per service of ``actions``, attached to ``role``."""
        policies = {}
        for service in permissions.services(actions):
            policy = aws.iam.Policy(
                f"{name}-{service}",
                name=settings.resource_name(f"{what}-{service}"),
                description=f"drs.orchestration {what}: {service} actions",
                policy=documents.apply(lambda docs, service=service: json.dumps(docs[service], indent=2)),
                tags=settings.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-{service}",
                role=role.name,
                policy_arn=policy.arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            policies[service] = policy
        return policies
