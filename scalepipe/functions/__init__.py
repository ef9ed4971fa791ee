"""Serverless handlers: AWS Lambda (`aws_lambda.handler`) and Cloud Functions (`gcp.predict`)."""
