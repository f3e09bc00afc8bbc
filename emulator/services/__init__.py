"""Service state machines. ``install`` wires each into the app with its protocol."""

from __future__ import annotations


def install(app) -> None:
    from . import drs, dynamodb, ec2, ssm, sts

    for module in (sts, drs, ssm, ec2):
        app.world.register(module.Backend_)
        app.add_service(module.Backend_.service)
    app.world.register(dynamodb.Backend_)  # resets moto's tables on start/reset
    app.add_delegate("dynamodb", dynamodb.delegate)
