"""Guest clusters as AWS CloudFormation stacks."""
