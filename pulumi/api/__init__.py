"""The REST API's Lambda handler: API Gateway proxy events <-> the collection's core.

``handler.handle`` is the Lambda entry point; ``routes`` translates each route's
request into a core call and the core's snake_case records into the brief's camelCase
shapes; ``proxy`` reads events and writes responses.
"""
