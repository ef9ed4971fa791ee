"""The HTTP request layer that the model server and the function handlers share: one
request shape, one route table, API keys, the OpenAPI document."""
